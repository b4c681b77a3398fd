/**
 * Mirror rules against a real Radicale upstream, in a running calgate (in-process `startServer`, its
 * CalDAV source reaching Radicale through a TCP switch): busy blocks created, moved and deleted from a
 * local calendar into a Radicale-backed one (checked on Radicale itself), the window and free events,
 * a full copy, two rules feeding one calendar, the two-rule loop local ↔ Radicale (exact counts, none
 * re-mirrored, stable across syncs), the target offline (queued, then delivered), a rejected sync token
 * at the target (full resync) and restarts without duplicates, and a rule removed from the config.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { parseConfigText } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { buildSync, runSyncOnce, startServer } from "../../src/main.ts";
import { configuredAdapters } from "../../src/sources/registry.ts";
import { openDb } from "../../src/store/db.ts";
import { MIRROR_UID_SUFFIX } from "../../src/sync/mirror-copy.ts";
import { parseXml } from "../../src/xml/parse.ts";
import { child, elements, text } from "../../src/xml/tree.ts";
import { basicAuth, peerAvailable, startRadicale, type PeerServer } from "../helpers/peers.ts";
import { startSwitch, type TcpSwitch } from "../helpers/tcp-switch.ts";
import { col, objects, req, syncNow, unfold, uidOf, until, type World } from "../helpers/dav-world.ts";

const missing = peerAvailable("radicale");
const DAY = 86_400_000;
/** A UTC DATE-TIME `days` from now at `hour` o'clock (the rule's window is relative to now). */
const at = (days: number, hour: number): string => {
  const d = new Date(Math.floor(Date.now() / DAY) * DAY + days * DAY + hour * 3_600_000);
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
};
const ics = (uid: string, summary: string, lines: string[]): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate mirror test//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20260101T000000Z", ...lines, `SUMMARY:${summary}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");
const timed = (uid: string, summary: string, days: number, extra: string[] = []): string => ics(uid, summary, [`DTSTART:${at(days, 10)}`, `DTEND:${at(days, 11)}`, ...extra]);
const prop = (t: string, name: string): string[] => [...unfold(t).matchAll(new RegExp(`^${name}(?:;[^:\\r\\n]*)?:(.*)$`, "gm"))].map((m) => m[1]!.trim());

const RULES = {
  busy: "home/personal -> r/family",
  full: "home/work -> home/full",
  sharedWork: "home/work -> home/shared",
  sharedSide: "home/side -> home/shared",
  aToLoop: "home/a -> r/loop",
  loopToA: "r/loop -> home/a",
};
const MIRRORS = [
  "      - { from: home/personal, to: r/family, mode: busy, busyText: Blocked, window: { pastDays: 90, futureDays: 365 } }",
  "      - { from: home/work, to: home/full, mode: full }",
  "      - { from: home/work, to: home/shared, mode: busy }",
  "      - { from: home/side, to: home/shared, mode: busy }",
  "      - { from: home/a, to: r/loop, mode: busy }",
  "      - { from: r/loop, to: home/a, mode: busy }",
];

let radicale: PeerServer;
let sw: TcpSwitch;
let dir: string;
let w: World;
let config: Config;

function configText(mirrors: string[]): string {
  return `server: { host: 127.0.0.1, port: 0 }
storage: { client: sqlite, filename: ${join(dir, "db.sqlite")} }
sync: { schedule: "0 0 1 1 *", jitterSeconds: 0, writeDeadlineMs: 3000, timeoutMs: 3000 }
users:
  - username: alice
    password: secret-a
    sources:
      - id: home
        type: local
        calendars: [{ id: personal, name: Personal }, { id: work, name: Work }, { id: side, name: Side }, { id: full, name: Full copies }, { id: shared, name: Shared }, { id: a, name: A }]
      - { id: r, type: caldav, url: "${sw.url}/", username: alice, password: secret-a }
    mirrors:
${mirrors.join("\n")}
`;
}
async function start(mirrors = MIRRORS): Promise<void> {
  config = parseConfigText(configText(mirrors), "mirrors.yaml", {});
  const server = await startServer(config, { configPath: null, generatedPassword: null, logger: pino({ level: process.env.TEST_LOG ?? "silent" }) });
  w = { server, db: w?.db ?? (await openDb(join(dir, "db.sqlite"))), dir, base: server.url.replace(/\/$/, "") };
}

/** uid → text of every object in a Radicale calendar of alice. */
async function atRadicale(cal: string): Promise<Map<string, string>> {
  const r = await fetch(`${radicale.baseUrl}/alice/${cal}/`, {
    method: "REPORT", headers: { authorization: radicale.authHeader, depth: "1", "content-type": "application/xml" },
    body: `<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>`,
  });
  const body = await r.text();
  assert.equal(r.status, 207, body);
  const out = new Map<string, string>();
  for (const resp of elements(parseXml(body), "{DAV:}response")) {
    const ps = elements(resp, "{DAV:}propstat").find((x) => /200/.test(text(child(x, "{DAV:}status")!)));
    const data = ps ? child(child(ps, "{DAV:}prop")!, "{urn:ietf:params:xml:ns:caldav}calendar-data") : undefined;
    if (data) out.set(uidOf(text(data)), text(data));
  }
  return out;
}
/** uid → text of every object calgate serves in one of alice's calendars. */
async function atCalgate(name: string): Promise<Map<string, string>> {
  return new Map([...(await objects(col(w, name)))].map(([, v]) => [uidOf(v), v]));
}
const copies = (m: Map<string, string>): string[] => [...m.keys()].filter((u) => u.endsWith(MIRROR_UID_SUFFIX));
const originals = (m: Map<string, string>): string[] => [...m.keys()].filter((u) => !u.endsWith(MIRROR_UID_SUFFIX));
/** Copies whose original was itself a copy (X-CALGATE-MIRROR-OF naming a mirror UID): must stay 0. */
const remirrored = (m: Map<string, string>): number => [...m.values()].filter((t) => prop(t, "X-CALGATE-MIRROR-OF").some((o) => o.endsWith(MIRROR_UID_SUFFIX))).length;

async function put(cal: string, uid: string, body: string): Promise<void> {
  const r = await req(`${col(w, cal)}${uid}.ics`, "PUT", body);
  assert.ok(r.status === 201 || r.status === 204, `PUT ${cal}/${uid}: ${r.status} ${r.body}`);
}
async function del(cal: string, uid: string): Promise<void> {
  const r = await req(`${col(w, cal)}${uid}.ics`, "DELETE");
  assert.equal(r.status, 204, `DELETE ${cal}/${uid}: ${r.body}`);
}
async function ruleState(key: string): Promise<{ created: number; updated: number; deleted: number; errors: number; last_run_at: number | null }> {
  const r = await w.db("mirror_rules").where({ owner: "alice", rule_key: key }).first();
  return { created: Number(r?.created ?? 0), updated: Number(r?.updated ?? 0), deleted: Number(r?.deleted ?? 0), errors: Number(r?.errors ?? 0), last_run_at: r?.last_run_at == null ? null : Number(r.last_run_at) };
}
/** Syncs the Radicale source, then waits until the rules that read or write it ran after that sync. */
async function syncAndSettle(): Promise<void> {
  const mark = Number((await w.db("status_events").max({ m: "id" }).first())?.m ?? 0);
  await syncNow(w);
  const done = await w.db("status_events").where("id", ">", mark).where({ type: "sync.completed" }).orderBy("id", "desc").first();
  assert.ok(done, "the sync completed");
  const since = Date.parse(JSON.parse(done.payload).at as string);
  for (const key of [RULES.busy, RULES.aToLoop, RULES.loopToA]) {
    if (!(config.users[0]!.mirrors ?? []).some((m) => `${m.from} -> ${m.to}` === key)) continue;
    await until(`rule ${key} to run after the sync`, async () => ((await ruleState(key)).last_run_at ?? 0) >= since);
  }
}
async function appliedEvents(rule: string): Promise<{ created: number; updated: number; deleted: number; skipped: number; errors: number }[]> {
  const rows = await w.db("status_events").where({ type: "mirror.applied" }).orderBy("id");
  return rows.map((r) => JSON.parse(r.payload)).filter((p) => p.rule === rule);
}

describe("mirror rules against Radicale", { skip: missing ?? false }, () => {
  before(async () => {
    radicale = await startRadicale({ users: [{ username: "alice", password: "secret-a" }], calendars: ["family", "loop"] });
    sw = await startSwitch(radicale.baseUrl);
    dir = mkdtempSync(join(tmpdir(), "calgate-mirrors-"));
    await start();
    await syncAndSettle();
    await until("the Radicale calendars in calgate", async () => (await w.db("calendars").whereIn("name", ["r-family", "r-loop"])).length === 2);
  });
  after(async () => {
    await w?.server.close();
    await w?.db.destroy();
    await sw?.down();
    await radicale?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("busy blocks reach Radicale stripped; free events and events outside the window are not copied", async () => {
    await put("home-personal", "p-meeting", timed("p-meeting", "Salary talk", 3, ["DESCRIPTION:about my raise", "LOCATION:HR office", "ATTENDEE;CN=Boss:mailto:boss@example.com", "ORGANIZER:mailto:me@example.com", "URL:https://meet.example.com/raise", "BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:raise!", "TRIGGER:-PT5M", "END:VALARM"]));
    await put("home-personal", "p-series", ics("p-series", "Therapy", [`DTSTART:${at(7, 9)}`, "DURATION:PT1H", "RRULE:FREQ=WEEKLY;COUNT=4", `EXDATE:${at(14, 9)}`]).replace("END:VEVENT\r\nEND:VCALENDAR", `END:VEVENT\r\nBEGIN:VEVENT\r\nUID:p-series\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:${at(21, 9)}\r\nDTSTART:${at(21, 15)}\r\nDURATION:PT1H\r\nSUMMARY:Therapy (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR`));
    await put("home-personal", "p-free", timed("p-free", "Lunch maybe", 4, ["TRANSP:TRANSPARENT"]));
    await put("home-personal", "p-far", timed("p-far", "Far away", 500));
    await put("home-personal", "p-past", timed("p-past", "Long ago", -200));
    const up = await until("two busy blocks at Radicale", async () => {
      const m = await atRadicale("family");
      return m.size === 2 && m;
    });
    for (const [uid, t] of up) {
      assert.ok(uid.endsWith(MIRROR_UID_SUFFIX), `copy UID ${uid}`);
      assert.deepEqual(prop(t, "SUMMARY").filter((s) => s !== "Blocked"), [], "every VEVENT is titled with busyText");
      assert.ok(prop(t, "CLASS").every((c) => c === "PRIVATE"));
      for (const gone of ["DESCRIPTION", "LOCATION", "ATTENDEE", "ORGANIZER", "URL"]) assert.deepEqual(prop(t, gone), [], `${gone} at Radicale`);
      assert.doesNotMatch(t, /VALARM|Salary|raise|Therapy|HR office|boss@/);
      assert.equal(prop(t, "X-CALGATE-MIRROR-OF").length >= 1, true, "X-CALGATE-MIRROR-OF survives Radicale");
    }
    const series = [...up.values()].find((t) => /RRULE/.test(t))!;
    assert.ok(series, "the series is copied as a series");
    assert.deepEqual(prop(series, "RRULE"), ["FREQ=WEEKLY;COUNT=4"]);
    assert.deepEqual(prop(series, "EXDATE"), [at(14, 9)]);
    assert.deepEqual(prop(series, "RECURRENCE-ID"), [at(21, 9)]);
    assert.deepEqual(prop(series, "X-CALGATE-MIRROR-OF"), ["home/personal/p-series", "home/personal/p-series"]);
    const gw = await atCalgate("r-family");
    assert.deepEqual([...gw.keys()].sort(), [...up.keys()].sort(), "calgate serves what Radicale holds");
    // The run publishes once its batch is done (after the copies were written).
    const ev = await until("mirror.applied events counting the two copies", async () => {
      const e = await appliedEvents(RULES.busy);
      return e.reduce((n, x) => n + x.created, 0) === 2 && e;
    });
    assert.equal(ev.reduce((n, e) => n + e.errors, 0), 0);
  });

  test("a moved event moves its busy block; a deleted one deletes it (at Radicale)", async () => {
    await put("home-personal", "p-meeting", timed("p-meeting", "Salary talk", 5));
    await until("the moved block at Radicale", async () => [...(await atRadicale("family")).values()].some((t) => prop(t, "DTSTART").includes(at(5, 10))));
    await del("home-personal", "p-series");
    const up = await until("the deleted block gone at Radicale", async () => {
      const m = await atRadicale("family");
      return m.size === 1 && m;
    });
    assert.deepEqual(prop([...up.values()][0]!, "DTSTART"), [at(5, 10)]);
    // Moving an event out of the window removes its block; making it free does too.
    await put("home-personal", "p-meeting", timed("p-meeting", "Salary talk", 5, ["TRANSP:TRANSPARENT"]));
    await until("the block of the now free event gone", async () => (await atRadicale("family")).size === 0);
    await put("home-personal", "p-meeting", timed("p-meeting", "Salary talk", 6));
    await until("the block back", async () => (await atRadicale("family")).size === 1);
    const totals = async (): Promise<string> => {
      const s = await ruleState(RULES.busy);
      return JSON.stringify({ created: s.created, updated: s.updated, deleted: s.deleted, errors: s.errors });
    };
    const want = JSON.stringify({ created: 3, updated: 1, deleted: 2, errors: 0 });
    await until(`the rule's totals to be ${want}`, async () => (await totals()) === want).catch(async (e: Error) => assert.fail(`${e.message}; they are ${await totals()}`));
  });

  test("full mode copies the details, without attendees, organizer and alarms", async () => {
    await put("home-work", "w-review", timed("w-review", "Design review", 2, ["DESCRIPTION:bring the mockups", "LOCATION:Room 4", "ATTENDEE;CN=Bob:mailto:bob@example.com", "BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:soon", "TRIGGER:-PT5M", "END:VALARM"]));
    const m = await until("the full copy", async () => {
      const x = await atCalgate("home-full");
      return x.size === 1 && x;
    });
    const t = [...m.values()][0]!;
    assert.deepEqual(prop(t, "SUMMARY"), ["Design review"]);
    assert.deepEqual(prop(t, "DESCRIPTION"), ["bring the mockups"]);
    assert.deepEqual(prop(t, "LOCATION"), ["Room 4"]);
    assert.deepEqual(prop(t, "ATTENDEE"), []);
    assert.doesNotMatch(t, /VALARM/);
  });

  test("a copy deleted in the target comes back only when its original changes; a copy edited there is overwritten then", async () => {
    const copy = await until("the full copy's name", async () => (await objects(col(w, "home-full"))).keys().next().value);
    assert.equal((await req(`${col(w, "home-full")}${copy}`, "DELETE")).status, 204);
    await put("home-work", "w-other", timed("w-other", "Unrelated", 3)); // a run of the rule that does not concern w-review
    await until("the other copy", async () => (await atCalgate("home-full")).size === 1);
    assert.ok(![...(await atCalgate("home-full")).values()].some((t) => prop(t, "SUMMARY").includes("Design review")), "the deleted copy is not recreated by runs that do not change its original");
    await put("home-work", "w-review", timed("w-review", "Design review v2", 2));
    await until("the copy recreated", async () => [...(await atCalgate("home-full")).values()].some((t) => prop(t, "SUMMARY").includes("Design review v2")));
    const [name, text] = [...(await objects(col(w, "home-full")))].find(([, t]) => prop(t, "SUMMARY").includes("Design review v2"))!;
    assert.equal((await req(`${col(w, "home-full")}${name}`, "PUT", text.replace("Design review v2", "my own title"))).status, 204);
    await put("home-work", "w-review", timed("w-review", "Design review v3", 2));
    await until("the edited copy overwritten", async () => [...(await atCalgate("home-full")).values()].some((t) => prop(t, "SUMMARY").includes("Design review v3")));
    await del("home-work", "w-other");
    await until("one copy again", async () => (await atCalgate("home-full")).size === 1);
  });

  test("two rules feeding one calendar with the same meeting make one copy; it goes when the last original does", async () => {
    await put("home-work", "m-1", timed("m-1", "All hands (work)", 8));
    await put("home-side", "m-1", timed("m-1", "All hands (side)", 8));
    await until("one copy of the shared meeting", async () => (await w.db("mirror_copies").where({ original_uid: "m-1" })).length === 3); // full copy + two rows for the shared copy
    const shared = await atCalgate("home-shared");
    assert.equal([...shared.values()].filter((t) => prop(t, "DTSTART").includes(at(8, 10))).length, 1, `one copy of m-1 in home/shared: ${[...shared.keys()].join(", ")}`);
    await del("home-work", "m-1");
    await until("the work original let go", async () => (await w.db("mirror_copies").where({ original_uid: "m-1", rule_key: RULES.sharedWork })).length === 0);
    assert.equal([...(await atCalgate("home-shared")).values()].filter((t) => prop(t, "DTSTART").includes(at(8, 10))).length, 1, "the copy stays while the side original exists");
    await del("home-side", "m-1");
    await until("the copy gone with the last original", async () => [...(await atCalgate("home-shared")).values()].every((t) => !prop(t, "DTSTART").includes(at(8, 10))));
  });

  test("two rules pointing at each other (local ↔ Radicale): N copies each way, none re-mirrored, stable", async () => {
    for (const i of [1, 2, 3]) await put("home-a", `a-${i}`, timed(`a-${i}`, `A event ${i}`, 10 + i));
    for (const i of [1, 2]) {
      const r = await fetch(`${radicale.baseUrl}/alice/loop/l-${i}.ics`, { method: "PUT", headers: { authorization: radicale.authHeader, "content-type": "text/calendar" }, body: timed(`l-${i}`, `Loop event ${i}`, 20 + i) });
      assert.equal(r.status, 201, await r.text());
    }
    await syncAndSettle();
    await until("both directions copied", async () => (await atCalgate("home-a")).size === 5 && (await atRadicale("loop")).size === 5);
    for (let round = 0; round < 3; round++) await syncAndSettle();
    const [a, loopGw, loopUp] = [await atCalgate("home-a"), await atCalgate("r-loop"), await atRadicale("loop")];
    const [toLoop, toA] = [await ruleState(RULES.aToLoop), await ruleState(RULES.loopToA)];
    console.log(`two-rule loop after 4 syncs: home/a ${originals(a).length} originals + ${copies(a).length} copies; r/loop (Radicale) ${originals(loopUp).length} originals + ${copies(loopUp).length} copies; copies written home/a -> r/loop ${toLoop.created}, r/loop -> home/a ${toA.created}; re-mirrored ${remirrored(a) + remirrored(loopUp)}`);
    assert.deepEqual(originals(a).sort(), ["a-1", "a-2", "a-3"]);
    assert.equal(copies(a).length, 2, "home/a holds one copy per Radicale original");
    assert.deepEqual(originals(loopUp).sort(), ["l-1", "l-2"]);
    assert.equal(copies(loopUp).length, 3, "Radicale holds one copy per home/a original");
    assert.deepEqual([...loopGw.keys()].sort(), [...loopUp.keys()].sort(), "calgate serves what Radicale holds");
    assert.equal(remirrored(a) + remirrored(loopUp), 0, "no copy of a copy");
    assert.deepEqual([toLoop.created, toLoop.updated, toLoop.deleted, toA.created, toA.updated, toA.deleted], [3, 0, 0, 2, 0, 0], "exactly N copies written each way, nothing rewritten by later runs");
  });

  test("the target offline: the copy is queued for Radicale and delivered when it is back", async () => {
    await sw.down();
    await put("home-personal", "p-offline", timed("p-offline", "Dentist", 9));
    await until("the copy queued for Radicale", async () => (await w.db("outbox").where({ state: "pending" })).length >= 1);
    assert.equal((await atCalgate("r-family")).size, 2, "calgate serves the queued copy at once");
    assert.equal((await atRadicale("family")).size, 1, "Radicale does not have it yet");
    const queued = await w.db("status_events").where({ type: "write.queued" }).orderBy("id", "desc").first();
    assert.equal(JSON.parse(queued.payload).calendar, "r-family", "the queued write is on the status feed");
    await sw.up();
    // The replay follows the write's backoff (a few seconds after the refused attempt): sync until it went.
    await until("the copy delivered to Radicale", async () => {
      await syncAndSettle();
      return (await atRadicale("family")).size === 2 && (await w.db("outbox").where({ state: "pending" })).length === 0;
    }, 45_000);
  });

  test("a rejected sync token at the target (full resync) makes no duplicate and no new copy", async () => {
    const before = await ruleState(RULES.busy);
    await w.db("calendars").where({ name: "r-family" }).update({ upstream_cursor: JSON.stringify({ mode: "sync", token: "http://radicale.org/ns/sync/0000000000000000000000000000000000000000000000000000000000000000" }), upstream_ctag: null });
    await syncAndSettle();
    const done = await w.db("status_events").where({ type: "sync.completed" }).orderBy("id", "desc").first();
    assert.match(String(JSON.parse(done.payload).note ?? ""), /valid-sync-token|full resync/);
    await syncAndSettle();
    assert.equal((await atRadicale("family")).size, 2);
    assert.equal((await atCalgate("r-family")).size, 2);
    const after = await ruleState(RULES.busy);
    assert.deepEqual([after.created, after.updated, after.deleted], [before.created, before.updated, before.deleted]);
  });

  test("restarts: catch-up of changes made meanwhile, no duplicates, no rewrites", async () => {
    const before = await Promise.all(Object.values(RULES).map(ruleState));
    await w.server.close();
    const r = await fetch(`${radicale.baseUrl}/alice/loop/l-3.ics`, { method: "PUT", headers: { authorization: radicale.authHeader, "content-type": "text/calendar" }, body: timed("l-3", "Loop event 3", 30) });
    assert.equal(r.status, 201);
    await start();
    await syncAndSettle();
    await until("the copy of the event added while calgate was down", async () => (await atCalgate("home-a")).size === 6);
    await w.server.close();
    await start();
    await syncAndSettle();
    const after = await Promise.all(Object.values(RULES).map(ruleState));
    const keys = Object.values(RULES);
    for (const [i, k] of keys.entries()) {
      const extra = k === RULES.loopToA ? 1 : 0;
      assert.deepEqual([after[i]!.created, after[i]!.updated, after[i]!.deleted], [before[i]!.created + extra, before[i]!.updated, before[i]!.deleted], `rule ${k} across two restarts`);
    }
    assert.equal((await atRadicale("loop")).size, 6);
    assert.equal((await atRadicale("family")).size, 2);
    assert.equal(copies(await atCalgate("home-a")).length, 3);
  });

  test("the status data names every rule with its copies and totals", async () => {
    const sync = buildSync(config, w.db, pino({ level: "silent" }), { adapters: await configuredAdapters(config) });
    const status = await sync.mirrors.status("alice");
    assert.deepEqual(status.map((s) => s.rule), Object.values(RULES));
    const busy = status.find((s) => s.rule === RULES.busy)!;
    assert.equal(busy.copies, 2);
    console.log(`status data: ${status.map((x) => `${x.rule} (${x.mode}): ${x.copies} copies, written ${JSON.stringify(x.written)}, errors ${x.errors}`).join("; ")}`);
    assert.equal(busy.mode, "busy");
    assert.ok(busy.lastRunAt !== null && Date.parse(busy.lastRunAt) > Date.now() - 60_000);
    assert.deepEqual(busy.written, { created: 4, updated: 1, deleted: 2 });
  });

  test("calgate sync --once applies the rules after syncing (beside no server)", async () => {
    await w.server.close();
    const r = await fetch(`${radicale.baseUrl}/alice/loop/l-4.ics`, { method: "PUT", headers: { authorization: radicale.authHeader, "content-type": "text/calendar" }, body: timed("l-4", "Loop event 4", 31) });
    assert.equal(r.status, 201);
    const before = await ruleState(RULES.loopToA);
    const res = await runSyncOnce(config, null, pino({ level: "silent" }), { username: null, configPath: null });
    assert.deepEqual(res, { ok: true });
    const after = await ruleState(RULES.loopToA);
    assert.equal(after.created, before.created + 1, "the copy of the new Radicale event was written by sync --once");
    const inA = await w.db("objects").join("calendars", "calendars.id", "objects.calendar_id").where("calendars.name", "home-a").select("objects.uid");
    assert.equal(inA.filter((o) => String(o.uid).endsWith(MIRROR_UID_SUFFIX)).length, 4);
    await start();
  });

  test("a rule removed from the config: its copies stay, and are no longer updated", async () => {
    await w.server.close();
    await start(MIRRORS.slice(1));
    await put("home-personal", "p-new", timed("p-new", "After removal", 12));
    await syncAndSettle();
    const up = await atRadicale("family");
    assert.equal(up.size, 2, "the copies stay at Radicale, and no new one is made");
    assert.ok([...up.values()].every((t) => !prop(t, "DTSTART").includes(at(12, 10))));
  });
});
