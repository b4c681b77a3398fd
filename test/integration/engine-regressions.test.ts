/**
 * Named regression tests for the sync-engine defects of issue 8, each a scripted race against the
 * in-memory reference upstream (test/helpers/memory-upstream.ts): holds park an upstream call until
 * the test releases it, so the interleavings are exact, with no sleeps. Each failed on the engine
 * before the rewrite (see the issue for the original symptoms).
 */
import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { buildSync } from "../../src/main.ts";
import { openDb, tx, type Db } from "../../src/store/db.ts";
import { sameContent } from "../../src/ical/content.ts";
import { PreconditionFailed } from "../../src/dav/service.ts";
import { MemoryUpstream, idForName } from "../helpers/memory-upstream.ts";
import { modelConfig, OWNER, SOURCE } from "../model/calgate.ts";

const USER = { username: OWNER };
const CAL = "cal1";
const ev = (uid: string, summary: string): string =>
  `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250301T100000Z\r\nDTEND:20250301T110000Z\r\nSUMMARY:${summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
const summary = (ics: string | null | undefined): string | null => (ics ? (/^SUMMARY:(.*)$/m.exec(ics.replace(/\r\n/g, "\n"))?.[1] ?? null) : null);

let dir: string;
let db: Db;
let upstream: MemoryUpstream;
let sync: ReturnType<typeof buildSync>;

async function open(deadlineMs = 30): Promise<void> {
  const file = join(dir, "calgate.sqlite");
  db = await openDb(file);
  sync = buildSync(modelConfig(file, deadlineMs), db, pino({ level: "silent" }), { adapters: { caldav: () => upstream.adapter() } });
}
/** Writes whose outcome the test awaits need a deadline no loaded machine misses (holds need a short one). */
async function reopen(deadlineMs: number): Promise<void> {
  sync.engine.close();
  sync.writer.close();
  await sync.engine.idle();
  await sync.writer.idle();
  await db.destroy();
  await open(deadlineMs);
}
const PATIENT = 60_000;

async function calendar() {
  const c = (await sync.service.calendars(USER)).find((x) => x.sourceId === SOURCE);
  assert.ok(c, "the upstream calendar is in the cache");
  return c;
}
async function cached(name: string) {
  return (await sync.service.objects(await calendar(), [name])).get(name) ?? null;
}
async function syncNow(): Promise<void> {
  const r = await sync.engine.syncSource(OWNER, SOURCE, { reason: "test", waitForLease: true });
  assert.ok(r.ok, r.error);
}
async function pendingRows(): Promise<number> {
  return Number(((await db("outbox").where({ state: "pending" }).count({ n: "*" }).first()) as { n: number }).n);
}
/** Seeds one upstream item and imports it. */
async function seed(name = "a.ics", uid = "a", text = "v0"): Promise<void> {
  upstream.other.put(CAL, name, ev(uid, text));
  await syncNow();
  assert.equal(summary((await cached(name))?.ics), text);
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "calgate-engine-"));
  upstream = new MemoryUpstream();
  await open();
});
afterEach(async () => {
  upstream.releaseAll();
  sync.engine.close();
  sync.writer.close();
  await sync.engine.idle();
  await sync.writer.idle();
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe("engine regressions (issue 8)", () => {
  test("defect 1: a newer acknowledged write survives a 412 on the in-flight write before it", async () => {
    await seed();
    const held = upstream.hold("write");
    const cal = await calendar();
    const v1 = await sync.service.put(USER, cal, "a.ics", ev("a", "v1"), { ifMatch: [(await cached("a.ics"))!.etag], ifNoneMatch: null });
    await held.reached; // v1 is on its way (past the write deadline: the client got its 2xx)
    upstream.other.edit(CAL, idForName("a.ics"), ev("a", "edited upstream"));
    await sync.service.put(USER, cal, "a.ics", ev("a", "v2"), { ifMatch: [v1.etag], ifNoneMatch: null });
    held.release({ kind: "precondition" });
    await sync.writer.idle();
    assert.equal(await pendingRows(), 0, "no write left queued");
    const kept = await db("conflicts").select("ours", "theirs");
    assert.ok(kept.some((c: { ours: string | null }) => summary(c.ours) === "v2"), `v2 is kept in the conflict log: ${JSON.stringify(kept.map((c: { ours: string | null }) => summary(c.ours)))}`);
    assert.equal(summary((await cached("a.ics"))?.ics), "edited upstream");
    assert.equal(summary(upstream.itemByName(CAL, "a.ics")?.ics), "edited upstream");
  });

  test("defect 1: a refusal of the in-flight write does not roll back the newer write queued behind it", async () => {
    await seed();
    const held = upstream.hold("write");
    const cal = await calendar();
    const v1 = await sync.service.put(USER, cal, "a.ics", ev("a", "v1"), { ifMatch: null, ifNoneMatch: null });
    await held.reached;
    await sync.service.put(USER, cal, "a.ics", ev("a", "v2"), { ifMatch: [v1.etag], ifNoneMatch: null });
    held.release({ kind: "permanent", status: 403 });
    await sync.writer.idle();
    assert.equal(await pendingRows(), 0);
    assert.equal(summary(upstream.itemByName(CAL, "a.ics")?.ics), "v2", "v2 reached the upstream");
    assert.equal(summary((await cached("a.ics"))?.ics), "v2", "and the cache serves it");
  });

  test("defect 1: a rewritten confirmation of the in-flight write does not overwrite the newer queued version", async () => {
    await seed();
    const held = upstream.hold("write");
    const cal = await calendar();
    const v1 = await sync.service.put(USER, cal, "a.ics", ev("a", "v1, with Bob"), { ifMatch: null, ifNoneMatch: null });
    await held.reached;
    await sync.service.put(USER, cal, "a.ics", ev("a", "v2"), { ifMatch: [v1.etag], ifNoneMatch: null });
    assert.equal(summary((await cached("a.ics"))?.ics), "v2");
    held.release({ kind: "rewrite" });
    await sync.writer.idle();
    assert.equal(summary((await cached("a.ics"))?.ics), "v2");
    assert.equal(summary(upstream.itemByName(CAL, "a.ics")?.ics), "v2");
  });

  test("defect 2: a transaction that read before another connection committed still writes (BEGIN IMMEDIATE)", async () => {
    const other = await openDb(join(dir, "calgate.sqlite"));
    try {
      let reached!: () => void;
      const readDone = new Promise<void>((r) => (reached = r));
      let proceed!: () => void;
      const go = new Promise<void>((r) => (proceed = r));
      const mine = tx(db, async (trx) => {
        await trx("status_events").count({ n: "*" });
        reached();
        await go;
        await trx("status_events").insert({ owner: OWNER, type: "mine", payload: "{}", at: 1 });
      });
      await readDone;
      // The other connection must wait for our transaction (it holds the write lock from BEGIN on).
      const theirs = other("status_events").insert({ owner: OWNER, type: "theirs", payload: "{}", at: 2 });
      proceed();
      await Promise.all([mine, theirs]);
      assert.deepEqual((await db("status_events").orderBy("id").select("type")).map((r: { type: string }) => r.type), ["mine", "theirs"]);
    } finally {
      await other.destroy();
    }
  });

  test("defect 4: a page fetched before a write was confirmed is not applied over it (compare-and-set)", async () => {
    await reopen(PATIENT);
    await seed();
    upstream.other.edit(CAL, idForName("a.ics"), ev("a", "edited upstream"));
    const pull = upstream.hold("pull", { when: "after" });
    const syncing = sync.engine.syncSource(OWNER, SOURCE, { reason: "test" });
    await pull.reached; // the page holds "edited upstream"
    const cal = await calendar();
    // The client's first write meets the upstream edit (412): the cache takes it; the second lands.
    await assert.rejects(sync.service.put(USER, cal, "a.ics", ev("a", "v1"), { ifMatch: null, ifNoneMatch: null }), PreconditionFailed);
    await sync.service.put(USER, cal, "a.ics", ev("a", "v2"), { ifMatch: [(await cached("a.ics"))!.etag], ifNoneMatch: null });
    assert.equal(summary(upstream.itemByName(CAL, "a.ics")?.ics), "v2");
    pull.release();
    assert.ok((await syncing).ok);
    assert.equal(summary((await cached("a.ics"))?.ics), "v2", "the stale page did not overwrite the confirmed write");
    await syncNow();
    assert.equal(summary((await cached("a.ics"))?.ics), "v2");
    // The next edit goes through with the right If-Match, no spurious 412, nothing overwritten.
    await sync.service.put(USER, cal, "a.ics", ev("a", "v3"), { ifMatch: [(await cached("a.ics"))!.etag], ifNoneMatch: null });
    assert.equal(summary(upstream.itemByName(CAL, "a.ics")?.ics), "v3");
  });

  test("defect 5: a calendar missing from listings keeps its id and its queued writes; it goes only when clean, after three listings", async () => {
    upstream.addCalendar("cal2");
    await seed();
    const ids = async () => (await db("calendars").where({ owner: OWNER, source_id: SOURCE }).orderBy("id").select("id", "source_calendar_id")).map((r: { id: number; source_calendar_id: string }) => `${r.id}:${r.source_calendar_id}`);
    const before = await ids();
    assert.equal(before.length, 2);
    // A write queued for cal1 (upstream down), then cal1 is missing from several listings.
    upstream.fault({ op: "write", action: { kind: "transient" }, times: Infinity });
    const cal = await calendar();
    await sync.service.put(USER, cal, "a.ics", ev("a", "queued"), { ifMatch: null, ifNoneMatch: null });
    await sync.writer.idle();
    upstream.fault({ op: "listCalendars", action: { kind: "omit-calendar", calendar: CAL }, times: 5 });
    for (let i = 0; i < 5; i++) await syncNow();
    assert.deepEqual(await ids(), before, "kept, with the same id (clients' sync tokens stay valid)");
    assert.equal(await pendingRows(), 1, "the queued write is still there");
    upstream.clearFaults();
    await db("outbox").where({ state: "pending" }).update({ next_attempt_at: 0 });
    await syncNow();
    assert.equal(summary(upstream.itemByName(CAL, "a.ics")?.ics), "queued", "and reaches the upstream once it is listed again");
    // Clean now (no queued write, no kept version): three listings without it drop it.
    upstream.fault({ op: "listCalendars", action: { kind: "omit-calendar", calendar: CAL }, times: 3 });
    await syncNow();
    await syncNow();
    assert.equal((await ids()).length, 2, "two listings are not enough");
    await syncNow();
    assert.deepEqual(await ids(), [before[1]]);
  });

  test("defect 7: with no known upstream ETag, the writer looks before it writes (never a blind overwrite)", async () => {
    await reopen(PATIENT);
    await seed();
    await db("objects").update({ upstream_etag: null }); // e.g. after a failed read-back
    upstream.other.edit(CAL, idForName("a.ics"), ev("a", "edited upstream"));
    const cal = await calendar();
    await assert.rejects(sync.service.put(USER, cal, "a.ics", ev("a", "mine"), { ifMatch: null, ifNoneMatch: null }), PreconditionFailed);
    assert.equal(summary(upstream.itemByName(CAL, "a.ics")?.ics), "edited upstream", "the upstream edit was not overwritten");
    const kept = await db("conflicts").select("ours");
    assert.ok(kept.some((c: { ours: string | null }) => summary(c.ours) === "mine"), "ours is kept");
    // And when the upstream still holds the agreed version, the write goes through on the ETag it looked up.
    await db("objects").update({ upstream_etag: null });
    await sync.service.put(USER, cal, "a.ics", ev("a", "mine again"), { ifMatch: null, ifNoneMatch: null });
    assert.equal(summary(upstream.itemByName(CAL, "a.ics")?.ics), "mine again");
  });

  test("defect 8: calendars of a source that left the config are read-only, so nothing is edited that could never be pushed", async () => {
    await seed();
    const file = join(dir, "calgate.sqlite");
    sync.engine.close();
    sync.writer.close();
    await db.destroy();
    db = await openDb(file);
    const without = modelConfig(file, 30);
    without.users[0]!.sources.length = 0;
    sync = buildSync(without, db, pino({ level: "silent" }), { adapters: { caldav: () => upstream.adapter() } });
    const cal = await calendar();
    assert.equal(cal.writable, false, "read-only while its source is not configured");
    assert.equal(summary((await cached("a.ics"))?.ics), "v0", "still readable");
  });

  test("defect 15: a pulled change never resurrects an object whose DELETE is still queued", async () => {
    await seed();
    const held = upstream.hold("remove");
    const cal = await calendar();
    await sync.service.remove(USER, cal, "a.ics", { ifMatch: null, ifNoneMatch: null });
    await held.reached;
    upstream.other.edit(CAL, idForName("a.ics"), ev("a", "edited upstream"));
    await syncNow();
    assert.equal(await cached("a.ics"), null, "the acknowledged DELETE is still what clients see");
    held.release({ kind: "precondition" });
    await sync.writer.idle();
    // Edit against delete: the edit is kept (served), the deletion is in the conflict log; nothing queued.
    assert.equal(await pendingRows(), 0);
    assert.equal(summary((await cached("a.ics"))?.ics), "edited upstream");
    assert.ok((await db("conflicts").select("ours")).some((c: { ours: string | null }) => c.ours === null));
  });

  test("a page fetched before a DELETE was confirmed does not re-create the object (the cause of a spurious 412 in the crash test)", async () => {
    upstream.other.put(CAL, "seed.ics", ev("seed", "seed"));
    await syncNow();
    const cal = await calendar();
    await sync.service.put(USER, cal, "c.ics", ev("c", "v1"), { ifMatch: null, ifNoneMatch: null });
    await sync.writer.idle();
    upstream.other.put(CAL, "u.ics", ev("u", "upstream edit")); // the calendar's version moves
    const rm = upstream.hold("remove");
    await sync.service.remove(USER, cal, "c.ics", { ifMatch: null, ifNoneMatch: null });
    await rm.reached;
    const pull = upstream.hold("pull", { when: "after" }); // the page still holds c.ics
    const syncing = sync.engine.syncSource(OWNER, SOURCE, { reason: "test" });
    await pull.reached;
    rm.release();
    while ((await pendingRows()) > 0) await sync.writer.idle();
    pull.release();
    assert.ok((await syncing).ok);
    assert.equal(await cached("c.ics"), null, "the acknowledged DELETE stands");
    // The client that deleted it writes it again, unconditionally: a create, never a 412.
    const again = await sync.service.put(USER, cal, "c.ics", ev("c", "v2"), { ifMatch: null, ifNoneMatch: null });
    assert.equal(again.created, true);
    await sync.writer.idle();
    assert.equal(summary(upstream.itemByName(CAL, "c.ics")?.ics), "v2");
    assert.equal((await db("conflicts").count({ n: "*" }).first() as { n: number }).n, 0);
  });

  test("an attempt that lost its claim to another process stops instead of overwriting a newer confirmed write", async () => {
    await seed();
    const other = await openDb(join(dir, "calgate.sqlite"));
    const second = buildSync(modelConfig(join(dir, "calgate.sqlite"), 30), other, pino({ level: "silent" }), { adapters: { caldav: () => upstream.adapter() } });
    try {
      const held = upstream.hold("write");
      const cal = await calendar();
      await sync.service.put(USER, cal, "a.ics", ev("a", "v1"), { ifMatch: null, ifNoneMatch: null });
      await held.reached;
      await sync.service.put(USER, cal, "a.ics", ev("a", "v2"), { ifMatch: null, ifNoneMatch: null });
      // The first process stalls (its claim is live: the second must not take it), then its claim is given up.
      await second.writer.replay(null, null);
      await second.writer.idle();
      assert.equal(summary(upstream.itemByName(CAL, "a.ics")?.ics), "v0", "a live claim is respected");
      await db("outbox").where({ state: "pending" }).update({ claim_until: 0 }); // the claim expired
      await second.writer.replay(null, null);
      await second.writer.idle();
      assert.equal(summary(upstream.itemByName(CAL, "a.ics")?.ics), "v2");
      held.release(); // the stale attempt of v1 goes on: its 412 must not lead to an overwrite
      await sync.writer.idle();
      assert.equal(summary(upstream.itemByName(CAL, "a.ics")?.ics), "v2", "v2 stays upstream");
      assert.equal(summary((await cached("a.ics"))?.ics), "v2");
    } finally {
      second.engine.close();
      second.writer.close();
      await second.writer.idle();
      await other.destroy();
    }
  });

  test("a refusal whose upstream version cannot be read stays queued instead of restoring a version from before a confirmed write", async () => {
    await seed();
    const cal = await calendar();
    const h1 = upstream.hold("write");
    await sync.service.put(USER, cal, "a.ics", ev("a", "v1"), { ifMatch: null, ifNoneMatch: null });
    await h1.reached;
    const h2 = upstream.hold("write");
    await sync.service.put(USER, cal, "a.ics", ev("a", "v2"), { ifMatch: null, ifNoneMatch: null });
    h1.release();
    await h2.reached;
    await syncNow(); // passes v1's change upstream while v2 is queued
    upstream.next("get", { kind: "transient" });
    h2.release({ kind: "permanent", status: 403 });
    await sync.writer.idle();
    assert.equal(await pendingRows(), 1, "kept queued: what to roll back to is unknown");
    await db("outbox").where({ state: "pending" }).update({ next_attempt_at: 0 });
    upstream.next("write", { kind: "permanent", status: 403 });
    await sync.writer.replay(null, null);
    await sync.writer.idle();
    assert.equal(await pendingRows(), 0);
    assert.equal(summary((await cached("a.ics"))?.ics), "v1", "the cache serves what the upstream holds (v1), not v0");
    assert.equal(summary(upstream.itemByName(CAL, "a.ics")?.ics), "v1");
    assert.ok((await db("conflicts").select("ours")).some((c: { ours: string | null }) => summary(c.ours) === "v2"), "the refused v2 is kept");
  });

  test("an adapter's refused token refresh marks the source auth_required at once, with its message, announced once", async () => {
    sync.engine.close();
    sync.writer.close();
    await sync.engine.idle();
    await db.destroy();
    const file = join(dir, "calgate.sqlite");
    db = await openDb(file);
    // An adapter whose token refresh is refused for good (as google-auth-library's invalid_grant).
    const revoking = () => {
      const a = upstream.adapter();
      return Object.assign(Object.create(a) as typeof a, {
        listCalendars: async (ctx: Parameters<typeof a.listCalendars>[0]) => {
          await ctx.tokenRefreshed(false, "the refresh token was revoked; run: calgate auth google up");
          throw new (await import("../../src/sources/adapter.ts")).AuthRequired("invalid_grant", 400);
        },
      });
    };
    sync = buildSync(modelConfig(file, 30), db, pino({ level: "silent" }), { adapters: { caldav: revoking } });
    const r = await sync.engine.syncSource(OWNER, SOURCE, { reason: "test" });
    assert.equal(r.ok, false);
    assert.equal(r.retryInMs, null, "never retried in a loop");
    const row = await db("sources").where({ owner: OWNER, id: SOURCE }).first("status", "status_message");
    assert.equal(row.status, "auth_required");
    const statuses = (await db("status_events").where({ type: "source.status" }).select("payload")).map((e: { payload: string }) => JSON.parse(e.payload) as { status: string; message: string | null });
    assert.deepEqual(statuses.map((e) => e.status), ["auth_required"], "announced once");
    assert.match(String(statuses[0]!.message), /calgate auth google up/, "with the adapter's message naming the fix");
  });

  test("an adapter that stores a secret without secretKey configured gets an error naming the missing key, and nothing is stored", async () => {
    const ctx = sync.catalog.context(OWNER, SOURCE, new AbortController().signal);
    await assert.rejects(ctx.secrets.set("refresh_token", "t0ken"), /needs secretKey/);
    assert.equal(await ctx.secrets.get("refresh_token"), null);
    assert.equal((await db("secrets").count({ n: "*" }).first() as { n: number }).n, 0);
  });

  test("the store's change feed announces each committed change (client writes and pulls), after commit", async () => {
    const seen: { name: string; seq: number; deleted: boolean; committed: boolean }[] = [];
    const stop = sync.changes.subscribe((c) => {
      // Published after the commit: the change is already readable from another connection's view.
      void db("changes").where({ calendar_id: c.calendarId, name: c.name }).first("seq").then((r: { seq: number } | undefined) => {
        seen.push({ name: c.name, seq: c.seq, deleted: c.deleted, committed: Number(r?.seq) >= c.seq });
      });
    });
    try {
      await seed();
      const cal = await calendar();
      await sync.service.put(USER, cal, "b.ics", ev("b", "local"), { ifMatch: null, ifNoneMatch: "*" });
      await sync.service.remove(USER, cal, "a.ics", { ifMatch: null, ifNoneMatch: null });
      await sync.writer.idle();
      await db("changes").first(); // let the checks above run
      assert.deepEqual(seen.map((c) => [c.name, c.deleted]), [["a.ics", false], ["b.ics", false], ["a.ics", true]]);
      assert.ok(seen.every((c) => c.committed));
      assert.ok(seen[0]!.seq < seen[1]!.seq && seen[1]!.seq < seen[2]!.seq);
    } finally {
      stop();
    }
  });

  test("a write answered 2xx that the upstream rewrote is served as the upstream keeps it, and nothing is skipped later (defect 3)", async () => {
    await reopen(PATIENT);
    await seed();
    upstream.next("write", { kind: "rewrite" });
    const cal = await calendar();
    const r = await sync.service.put(USER, cal, "a.ics", ev("a", "Lunch, with Bob"), { ifMatch: null, ifNoneMatch: null });
    assert.equal(r.changed, true, "no ETag for the client (RFC 4791 5.3.4)");
    assert.equal(summary((await cached("a.ics"))?.ics), "Lunch");
    await syncNow();
    assert.ok(sameContent((await cached("a.ics"))!.ics, upstream.itemByName(CAL, "a.ics")!.ics));
  });
});
