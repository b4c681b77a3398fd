/**
 * The occurrence index through the store (shared by occurrence-index.test.ts on SQLite and
 * occurrence-index-postgres.test.ts): calgate's answer (index-decided objects plus evaluated
 * candidates) must equal full evaluation of every object, across writes, updates, renames, deletes,
 * migration 012 on a database holding objects, and the start-up pass.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { Knex } from "knex";
import { parseCalendarObject, type CalendarObject } from "../../src/ical/parse.ts";
import { matchesFilter } from "../../src/dav/filters/evaluate.ts";
import type { CompFilter, TimeRange } from "../../src/dav/filters/ast.ts";
import type { Db } from "../../src/store/db.ts";
import { CalendarStore } from "../../src/store/calendars.ts";
import { ObjectStore } from "../../src/store/objects.ts";
import { StoreCalendarService, objectWrite } from "../../src/sync/service.ts";
import { OccurrenceBackfill } from "../../src/sync/occurrence-backfill.ts";
import type { CalendarMeta } from "../../src/dav/service.ts";
import { migrations } from "../../migrations/index.ts";
import { recurringIcs, recurringObject, timeWindow } from "./recurring-ics.ts";
import { generateEvents, QUERY_MONTH } from "../../bench/generate.ts";

const NOW = Date.UTC(2026, 11, 1);
export const filterFor = (component: string, range: TimeRange): CompFilter => ({
  name: "VCALENDAR", isNotDefined: false, timeRange: null, propFilters: [], test: "anyof",
  compFilters: [{ name: component, isNotDefined: false, timeRange: range, propFilters: [], compFilters: [], test: "anyof" }],
});
export const evaluate = (ics: string | CalendarObject, component: string, range: TimeRange, zone: string | null): boolean =>
  matchesFilter(typeof ics === "string" ? parseCalendarObject(ics) : ics, filterFor(component, range), { floatingZone: zone, maxInstances: 1000 });

const USER = { username: "alice" };
const DIRECTORY = { info: () => ({ type: "local", configured: true, synced: false }), defaultLocal: () => "home" };

interface Fixture {
  db: Db;
  service: StoreCalendarService;
  objects: ObjectStore;
  cal: CalendarMeta;
  /** What the calendar holds, by name. */
  held: Map<string, CalendarObject>;
}

async function fixture(db: Db, name: string): Promise<Fixture> {
  const calendars = new CalendarStore(db);
  await calendars.create({ owner: USER.username, name, sourceId: "home", components: ["VEVENT", "VTODO"] });
  const objects = new ObjectStore(db);
  const service = new StoreCalendarService(calendars, objects, DIRECTORY);
  const cal = (await service.calendar(USER, name))!;
  return { db, service, objects, cal, held: new Map() };
}

/** The calendar-query answer as calgate computes it: index-decided objects plus evaluated candidates. */
async function indexedAnswer(f: Fixture, component: string, range: TimeRange, zone: string | null): Promise<{ names: Set<string>; evaluated: number }> {
  const names = new Set<string>();
  let evaluated = 0;
  const answer = await f.service.rangeQuery(f.cal, component, range, zone);
  for await (const page of answer.decided) for (const h of page) names.add(h.name);
  for await (const o of answer.undecided) {
    evaluated++;
    if (evaluate(o.ics, component, range, zone)) names.add(o.name);
  }
  return { names, evaluated };
}
function fullAnswer(f: Fixture, component: string, range: TimeRange, zone: string | null): Set<string> {
  return new Set([...f.held].filter(([, obj]) => obj.component === component && evaluate(obj, component, range, zone)).map(([n]) => n));
}
async function put(f: Fixture, name: string, ics: string): Promise<void> {
  const parsed = parseCalendarObject(ics);
  const r = await f.objects.put(f.cal.id, objectWrite(name, parsed), { ifMatch: null, ifNoneMatch: null });
  assert.ok(r.ok);
  f.held.set(name, parsed);
}

export function storeSuite(label: string, open: (name: string, opts?: { migrate?: boolean }) => Promise<Db>): void {
  describe(`occurrence index in the store (${label})`, () => {
    test("answers equal full evaluation across writes, updates, renames, deletes and the start-up pass", async () => {
      const db = await open("props");
      try {
        const f = await fixture(db, "props");
        const specs = fc.sample(recurringObject, { numRuns: 45, seed: 7 });
        for (const [k, s] of specs.entries()) await put(f, `g${k}.ics`, recurringIcs(s, `g${k}`));
        for (const ev of generateEvents(42, 100)) await put(f, ev.name, ev.ics);
        const windows = fc.sample(timeWindow, { numRuns: 12, seed: 11 }).concat([QUERY_MONTH]);
        const zones = [null, "Europe/Berlin"];
        const check = async (why: string): Promise<number> => {
          let evaluated = 0;
          for (const w of windows) {
            for (const zone of zones) {
              for (const comp of ["VEVENT", "VTODO"]) {
                const got = await indexedAnswer(f, comp, w, zone);
                evaluated += got.evaluated;
                assert.deepEqual([...got.names].sort(), [...fullAnswer(f, comp, w, zone)].sort(), `${why}: ${comp} ${JSON.stringify(w)} zone ${zone}`);
              }
            }
          }
          return evaluated;
        };
        await check("after the writes");
        // The month query in UTC is decided without reading a single object.
        assert.equal((await indexedAnswer(f, "VEVENT", QUERY_MONTH, null)).evaluated, 0, "the month query evaluated objects");

        // Updates move events; renames keep the index (it is keyed by object); deletes drop it.
        for (const [k, s] of specs.slice(0, 15).entries()) await put(f, `g${k}.ics`, recurringIcs({ ...s, startDay: (s.startDay + 200) % 1400, freq: "WEEKLY", bound: "infinite" }, `g${k}`));
        assert.ok((await f.objects.rename(f.cal.id, "g20.ics", "renamed.ics", { ifMatch: null, ifNoneMatch: null })).ok);
        f.held.set("renamed.ics", f.held.get("g20.ics")!);
        f.held.delete("g20.ics");
        for (const n of ["g21.ics", "g22.ics"]) {
          assert.ok((await f.objects.remove(f.cal.id, n, { ifMatch: null, ifNoneMatch: null })).ok);
          f.held.delete(n);
        }
        await check("after updates, a rename and deletes");

        // Objects stored before the index existed (a pending set, as migration 012 leaves them): evaluated, until the start-up pass indexes them.
        await db("occurrence_sets").whereIn("object_id", db("objects").select("id").where("name", "like", "g3%")).update({ cover_from: 8.64e15, cover_to: -8.64e15, zone: "pending" });
        assert.ok((await check("without sets")) > 0, "objects without a set must be evaluated");
        const pass = new OccurrenceBackfill(db, f.objects, { info: () => undefined, warn: () => undefined });
        assert.ok((await pass.run(NOW)) > 0);
        assert.equal(await pass.run(NOW), 0, "a second pass finds nothing left to do");
        await check("after the start-up pass");
        const orphans = await db("occurrences").whereNotIn("object_id", db("objects").select("id")).count({ n: "*" });
        assert.equal(Number((orphans[0] as { n: unknown }).n), 0);
      } finally {
        await db.destroy();
      }
    });

    test("migration 012 on a database holding objects: pending sets, evaluated until the start-up pass indexes them", async () => {
      const db = await open("migrate", { migrate: false });
      try {
        const before = migrations.slice(0, migrations.findIndex(([n]) => n === "012_occurrences"));
        const source = (list: typeof migrations): Knex.MigrationSource<string> => ({
          getMigrations: async () => list.map(([n]) => n), getMigrationName: (n) => n, getMigration: async (n) => list.find(([m]) => m === n)![1],
        });
        await db.migrate.latest({ migrationSource: source(before) });
        const [{ id: calId }] = await db("calendars").insert({ owner: "alice", name: "old", source_id: "home", components: "VEVENT,VTODO", read_only: 0, created_at: 0, modified_at: 0, sync_seq: 0 }).returning("id");
        const events = generateEvents(42, 30);
        for (const ev of events) {
          const w = objectWrite(ev.name, parseCalendarObject(ev.ics));
          await db("objects").insert({ calendar_id: calId, name: w.name, uid: w.uid, component: w.component, etag: w.etag, ics: w.ics, size: w.ics.length, first_start: w.firstStart, last_end: w.lastEnd, modified_at: 0 });
        }
        await db.migrate.latest({ migrationSource: source(migrations) });
        assert.equal(Number((await db("occurrence_sets").where({ zone: "pending" }).count({ n: "*" }))[0]!.n), events.length);
        const calendars = new CalendarStore(db);
        const objects = new ObjectStore(db);
        const service = new StoreCalendarService(calendars, objects, DIRECTORY);
        const f: Fixture = { db, service, objects, cal: (await service.calendar(USER, "old"))!, held: new Map(events.map((e) => [e.name, parseCalendarObject(e.ics)])) };
        const expected = [...fullAnswer(f, "VEVENT", QUERY_MONTH, null)].sort();
        assert.ok(expected.length > 0);
        const pending = await indexedAnswer(f, "VEVENT", QUERY_MONTH, null);
        assert.deepEqual([...pending.names].sort(), expected);
        assert.ok(pending.evaluated >= expected.length, "pending objects are evaluated");
        assert.equal(await new OccurrenceBackfill(db, objects, { info: () => undefined, warn: () => undefined }).run(NOW), events.length);
        const indexed = await indexedAnswer(f, "VEVENT", QUERY_MONTH, null);
        assert.deepEqual([...indexed.names].sort(), expected);
        assert.equal(indexed.evaluated, 0, "after the start-up pass the index decides");
      } finally {
        await db.destroy();
      }
    });
  });
}

