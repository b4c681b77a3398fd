/**
 * Heartbeats (issue 16): a queued write claimed by an instance on another machine that stopped
 * beating is sent by this one within STALE_MS, not after the claim's 15 minutes; a claim whose holder
 * still beats is left alone (its send may be in flight). The same rule releases a sync lease.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { buildSync } from "../../src/main.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { InstanceStore } from "../../src/store/instances.ts";
import { Liveness, STALE_MS } from "../../src/sync/liveness.ts";
import { MemoryUpstream } from "../helpers/memory-upstream.ts";
import { modelConfig, OWNER, SOURCE } from "../model/calgate.ts";

const USER = { username: OWNER };
const REMOTE = "elsewhere.example:4242:deadbeef";
const ev = (uid: string, summary: string): string =>
  `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250301T100000Z\r\nDTEND:20250301T110000Z\r\nSUMMARY:${summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;

let dir: string;
let db: Db;
let sync: ReturnType<typeof buildSync>;
let upstreamRef: MemoryUpstream;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "calgate-liveness-"));
  const file = join(dir, "calgate.sqlite");
  db = await openDb(file);
  const upstream = new MemoryUpstream({ calendars: ["cal1"] });
  upstreamRef = upstream;
  sync = buildSync(modelConfig(file, 30), db, pino({ level: "silent" }), { adapters: { caldav: () => upstream.adapter() } });
  await sync.liveness.start();
});
after(async () => {
  sync.engine.close();
  sync.writer.close();
  await sync.engine.idle();
  await sync.writer.idle();
  await sync.liveness.stop();
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test("who is dead: a stale heartbeat on another machine, not a fresh one, an unknown holder or oneself", async () => {
  const store = new InstanceStore(db);
  const live = new Liveness(store, () => [], pino({ level: "silent" }));
  const self = sync.writer.holder;
  const now = Date.now();
  await store.beat(["far.example:1:0000aaaa"], now - 60_000, now - STALE_MS - 1_000);
  await store.beat(["far.example:2:0000bbbb"], now - 60_000, now - 1_000);
  assert.equal(await live.isDead("far.example:1:0000aaaa", self), true, "silent for longer than STALE_MS");
  assert.equal(await live.isDead("far.example:2:0000bbbb", self), false, "beat a second ago");
  assert.equal(await live.isDead("never.example:3:0000cccc", self), false, "no heartbeat row: its lease or claim runs out on its own");
  assert.equal(await live.isDead(self, self), false);
  assert.equal(await sync.liveness.othersAlive(), true, "far.example:2 beats: another instance is alive");
  await store.remove(["far.example:2:0000bbbb"]);
  assert.equal(await sync.liveness.othersAlive(), false, "only this process's own holders and a stale one are left");
  // This process's own rows are written at start and kept fresh.
  const mine = (await store.live(now - STALE_MS)).map((r) => r.holder);
  assert.ok(mine.includes(sync.engine.holder) && mine.includes(sync.writer.holder), JSON.stringify(mine));
});

test("a write claimed by a remote instance that stopped beating is sent at once; one still beating is left alone", async () => {
  const r = await sync.engine.syncSource(OWNER, SOURCE, { reason: "test", waitForLease: true });
  assert.ok(r.ok, r.error);
  const cal = (await sync.service.calendars(USER)).find((c) => c.sourceId === SOURCE)!;
  // The upstream is down when the client writes: the write is acknowledged from the outbox.
  upstreamRef.next("write", { kind: "transient" });
  await sync.service.put(USER, cal, "a.ics", ev("a", "queued"), { ifMatch: null, ifNoneMatch: "*" });
  await sync.writer.idle();
  const row = await db("outbox").where({ state: "pending", object_name: "a.ics" }).first();
  assert.ok(row, "the write is queued");
  // Another instance claimed it for its 15 minutes, then went quiet.
  const store = new InstanceStore(db);
  const claimUntil = Date.now() + 15 * 60_000;
  await db("outbox").where({ id: row.id }).update({ claim_holder: REMOTE, claim_until: claimUntil, next_attempt_at: 0 });
  await store.beat([REMOTE], Date.now() - 60_000, Date.now());
  await sync.writer.replay(null, null);
  await sync.writer.idle();
  let now = await db("outbox").where({ id: row.id }).first();
  assert.equal(now.state, "pending", "a claim whose holder beats is not taken");
  assert.equal(now.claim_holder, REMOTE);
  assert.equal(upstreamRef.itemByName("cal1", "a.ics"), null, "nothing was sent meanwhile");

  await store.beat([REMOTE], Date.now() - 60_000, Date.now() - STALE_MS - 1_000);
  await sync.writer.replay(null, null);
  await sync.writer.idle();
  now = await db("outbox").where({ id: row.id }).first();
  assert.equal(now.state, "done", `taken over and sent (${now.last_error ?? ""})`);
  assert.match(upstreamRef.itemByName("cal1", "a.ics")?.ics ?? "", /SUMMARY:queued/);
});

test("a sync lease of a remote instance that stopped beating is taken at once, long before it runs out", async () => {
  const store = new InstanceStore(db);
  await db("sources").where({ owner: OWNER, id: SOURCE }).update({ lease_holder: REMOTE, lease_until: Date.now() + 10 * 60_000 });
  await store.beat([REMOTE], Date.now() - 60_000, Date.now());
  const busy = await sync.engine.syncSource(OWNER, SOURCE, { reason: "test", waitForLease: false });
  assert.equal(busy.busy, true, "a beating holder keeps its lease");
  await store.beat([REMOTE], Date.now() - 60_000, Date.now() - STALE_MS - 1_000);
  const t0 = Date.now();
  const r = await sync.engine.syncSource(OWNER, SOURCE, { reason: "test", waitForLease: false });
  assert.ok(r.ok && !r.busy, JSON.stringify(r));
  assert.ok(Date.now() - t0 < 5_000);
});
