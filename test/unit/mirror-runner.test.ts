/**
 * The mirror runner over a real store (SQLite in memory) without HTTP: runs driven by the change feed
 * (no timers: the test waits for the runner to be idle), and a "crash" between any two steps of a run
 * (before the copy is written, after it is written but before it is recorded, after the batch but
 * before the position moves): the next process's run completes the work without a duplicate.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import pino from "pino";
import { changeFeed, openDb, type Db } from "../../src/store/db.ts";
import { CalendarStore } from "../../src/store/calendars.ts";
import { ObjectStore } from "../../src/store/objects.ts";
import { MirrorStore } from "../../src/store/mirrors.ts";
import { StatusEventStore } from "../../src/store/status-events.ts";
import { StatusBus } from "../../src/status/bus.ts";
import { StoreCalendarService } from "../../src/sync/service.ts";
import { MirrorRunner } from "../../src/sync/mirrors.ts";
import type { MirrorRule } from "../../src/sync/mirror-rules.ts";
import { MIRROR_UID_SUFFIX } from "../../src/sync/mirror-copy.ts";
import type { CalendarService } from "../../src/dav/service.ts";

const log = pino({ level: "silent" });
const USER = { username: "alice" };
const rule = (from: string, to: string): MirrorRule => ({ owner: "alice", index: 0, key: `${from} -> ${to}`, from, to, mode: "busy", busyText: "Busy", includeFree: false, window: null });
const ev = (uid: string, hour: number): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20260101T000000Z", `DTSTART:20261210T${String(hour).padStart(2, "0")}0000Z`, "DURATION:PT1H", `SUMMARY:secret ${uid}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

interface Rig {
  db: Db;
  calendars: CalendarStore;
  objects: ObjectStore;
  service: StoreCalendarService;
  store: MirrorStore;
  bus: StatusBus;
  runner(rules: MirrorRule[], service?: CalendarService, store?: MirrorStore): MirrorRunner;
  names(cal: string): Promise<string[]>;
}
async function rig(): Promise<Rig> {
  const db = await openDb(":memory:");
  const calendars = new CalendarStore(db);
  const objects = new ObjectStore(db);
  for (const c of ["a", "b", "c"]) await calendars.create({ owner: "alice", name: `home-${c}`, sourceId: "home", sourceCalendarId: c, components: ["VEVENT"] });
  const service = new StoreCalendarService(calendars, objects, { info: () => ({ type: "local", configured: true, synced: false }), defaultLocal: () => "home" });
  const store = new MirrorStore(db);
  const bus = new StatusBus(new StatusEventStore(db), log);
  return {
    db, calendars, objects, service, store, bus,
    runner: (rules, svc = service, st = store) => new MirrorRunner({ rules, calendars, objects, service: svc, store: st, bus, log }),
    names: async (cal) => (await objects.heads((await calendars.get("alice", `home-${cal}`))!.id)).map((h) => h.name),
  };
}
const meta = async (r: Rig, cal: string) => (await r.service.calendar(USER, `home-${cal}`))!;
const uids = async (r: Rig, cal: string): Promise<string[]> => (await r.objects.links((await r.calendars.get("alice", `home-${cal}`))!.id)).map((l) => l.uid).sort();

describe("the mirror runner", () => {
  test("runs on committed changes of a from calendar (change feed), coalesced, and the two-rule loop settles", async () => {
    const r = await rig();
    const runner = r.runner([rule("home/a", "home/b"), rule("home/b", "home/a")]);
    await runner.trigger(); // start-up catch-up: resolves the calendars the feed is filtered by
    const unwatch = runner.watch(changeFeed(r.db));
    for (let i = 0; i < 5; i++) await r.service.put(USER, await meta(r, "a"), `a-${i}.ics`, ev(`a-${i}`, 8 + i), { ifMatch: null, ifNoneMatch: "*" });
    await r.service.put(USER, await meta(r, "b"), "b-0.ics", ev("b-0", 15), { ifMatch: null, ifNoneMatch: "*" });
    await runner.idle();
    const [a, b] = [await uids(r, "a"), await uids(r, "b")];
    assert.equal(a.filter((u) => u.endsWith(MIRROR_UID_SUFFIX)).length, 1, `home-a: ${a.join(", ")}`);
    assert.equal(b.filter((u) => u.endsWith(MIRROR_UID_SUFFIX)).length, 5, `home-b: ${b.join(", ")}`);
    assert.equal(a.length + b.length, 12);
    const state = await r.store.rules("alice");
    assert.deepEqual(state.map((s) => [s.rule_key, s.created, s.updated]), [["home/a -> home/b", 5, 0], ["home/b -> home/a", 1, 0]]);
    // More runs change nothing.
    await runner.trigger();
    await runner.idle();
    assert.deepEqual((await r.store.rules("alice")).map((s) => s.created + s.updated + s.deleted), [5, 1]);
    unwatch();
    await runner.close();
    await r.db.destroy();
  });

  for (const crash of ["before the copy is written", "after the copy is written, before it is recorded", "after the batch, before the position moves"] as const) {
    test(`a crash ${crash}: the next run completes it without a duplicate`, async () => {
      const r = await rig();
      const rules = [rule("home/a", "home/c")];
      for (let i = 0; i < 3; i++) await r.service.put(USER, await meta(r, "a"), `a-${i}.ics`, ev(`a-${i}`, 8 + i), { ifMatch: null, ifNoneMatch: "*" });
      const dying = new Error("process killed");
      // The first process: its service (or store) dies at the chosen step of the second object.
      let puts = 0;
      const service: CalendarService = Object.assign(Object.create(r.service) as StoreCalendarService, {
        put: async (...args: Parameters<CalendarService["put"]>) => {
          puts++;
          if (crash === "before the copy is written" && puts === 2) throw dying;
          const out = await r.service.put(...args);
          if (crash === "after the copy is written, before it is recorded" && puts === 2) throw dying;
          return out;
        },
      });
      const store: MirrorStore = Object.assign(Object.create(r.store) as MirrorStore, {
        finish: async () => {
          if (crash === "after the batch, before the position moves") throw dying;
        },
      });
      const first = r.runner(rules, service, crash === "after the batch, before the position moves" ? store : r.store);
      await first.trigger();
      await first.close();
      // The next process: a new runner (its first run is a full pass).
      const second = r.runner(rules);
      const results = await second.runAll();
      assert.equal(results[0]!.errors, 0, results[0]!.lastError ?? "");
      const c = await uids(r, "c");
      assert.equal(c.length, 3, `one copy per original in home-c: ${c.join(", ")}`);
      assert.equal(new Set(c).size, 3);
      assert.ok(c.every((u) => u.endsWith(MIRROR_UID_SUFFIX)));
      const rows = await r.store.copiesOfRule("alice", rules[0]!.key);
      assert.equal(rows.length, 3);
      assert.ok(rows.every((m) => m.original_etag !== null), "every mapping records the copied ETag");
      // And a third run writes nothing.
      const third = await r.runner(rules).runAll();
      assert.deepEqual([third[0]!.created, third[0]!.updated, third[0]!.deleted], [0, 0, 0]);
      await r.db.destroy();
    });
  }
});
