/**
 * The service's object cache (src/sync/object-cache.ts) over a real store (SQLite in memory): an
 * unchanged object is served without a query as the same instance; a write through the service, a
 * write that bypasses it (as another process on the same database does), a removal and a rename
 * are all seen by the next read; an older snapshot neither uses nor fills the cache; the byte
 * budget holds.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { openDb, tx, type Db } from "../../src/store/db.ts";
import { CalendarStore } from "../../src/store/calendars.ts";
import { ObjectStore } from "../../src/store/objects.ts";
import { StoreCalendarService } from "../../src/sync/service.ts";
import { ObjectCache } from "../../src/sync/object-cache.ts";
import { parseCalendarObject } from "../../src/ical/parse.ts";
import { objectWrite } from "../../src/sync/object-write.ts";
import type { StoredObject } from "../../src/dav/service.ts";

const USER = { username: "alice" };
const NONE = { ifMatch: null, ifNoneMatch: null };
const ev = (uid: string, summary: string): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20260101T000000Z", "DTSTART:20261210T100000Z", "DURATION:PT1H", `SUMMARY:${summary}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

/** Counts the queries on the objects table that read bodies (the ones the cache saves). */
function countBodyReads(db: Db): () => number {
  let n = 0;
  db.on("query", (q: { sql: string }) => {
    if (/^select \* from `objects`/.test(q.sql)) n++;
  });
  return () => n;
}

async function rig(cacheBytes?: number) {
  const db = await openDb(":memory:");
  const calendars = new CalendarStore(db);
  const objects = new ObjectStore(db);
  await calendars.create({ owner: "alice", name: "cal", sourceId: "home", components: ["VEVENT"] });
  const service = new StoreCalendarService(calendars, objects, { info: () => ({ type: "local", configured: true, synced: false }), defaultLocal: () => "home" }, null, cacheBytes);
  const meta = async () => (await service.calendar(USER, "cal"))!;
  const get = async (name: string): Promise<StoredObject | null> => (await service.objects(await meta(), [name])).get(name) ?? null;
  return { db, calendars, objects, service, meta, get, reads: countBodyReads(db) };
}

describe("the object cache", () => {
  test("an unchanged object is served from memory, the same instance, and every kind of change is seen at once", async () => {
    const r = await rig();
    await r.service.put(USER, await r.meta(), "a.ics", ev("a", "one"), NONE);
    await r.service.put(USER, await r.meta(), "b.ics", ev("b", "bee"), NONE);
    const first = await r.get("a.ics");
    const reads = r.reads();
    const again = await r.get("a.ics");
    assert.equal(again, first, "the same instance (dav/served.ts keeps its bytes beside it)");
    assert.equal(r.reads(), reads, "no query for a cached object");

    await r.service.put(USER, await r.meta(), "a.ics", ev("a", "two"), NONE);
    assert.match((await r.get("a.ics"))!.ics, /SUMMARY:two/, "a write through the service");

    // Another process writes the same database (calgate sync --once): only the change log tells.
    const cal = (await r.calendars.get("alice", "cal"))!;
    const other = new ObjectStore(r.db);
    const outcome = await other.put(cal.id, objectWrite("a.ics", parseCalendarObject(ev("a", "three"))), NONE);
    assert.ok(outcome.ok);
    assert.match((await r.get("a.ics"))!.ics, /SUMMARY:three/, "a write that bypassed the service");

    await r.get("b.ics");
    await other.remove(cal.id, "b.ics", NONE);
    assert.equal(await r.get("b.ics"), null, "a removal");

    await r.get("a.ics");
    await r.service.rename(USER, await r.meta(), "a.ics", "c.ics", { overwrite: false, cond: NONE });
    assert.equal(await r.get("a.ics"), null, "the old name of a renamed object");
    assert.match((await r.get("c.ics"))!.ics, /SUMMARY:three/);
    await r.db.destroy();
  });

  test("a snapshot older than the cache's entries reads the database and keeps nothing", async () => {
    const r = await rig();
    await r.service.put(USER, await r.meta(), "a.ics", ev("a", "one"), NONE);
    const old = await r.meta(); // read before the write below: its snapshot is older
    await r.service.put(USER, await r.meta(), "a.ics", ev("a", "two"), NONE);
    assert.match((await r.get("a.ics"))!.ics, /SUMMARY:two/);
    const reads = r.reads();
    assert.match((await r.service.objects(old, ["a.ics"])).get("a.ics")!.ics, /SUMMARY:two/, "the database's current row, as without the cache");
    assert.equal(r.reads(), reads + 1);
    assert.match((await r.get("a.ics"))!.ics, /SUMMARY:two/);
    await r.db.destroy();
  });

  test("more changes than it drops one by one, and the byte budget", async () => {
    const one = ObjectCache.cost({ name: "x0.ics", uid: "x0", component: "VEVENT", etag: "", ics: ev("x0", "s"), size: Buffer.byteLength(ev("x0", "s")), modifiedAt: 0 });
    const r = await rig(Math.floor(one * 8.5)); // room for eight objects (a single entry may take an eighth)
    for (let i = 0; i < 10; i++) await r.service.put(USER, await r.meta(), `x${i}.ics`, ev(`x${i}`, "s"), NONE);
    for (let i = 0; i < 10; i++) await r.get(`x${i}.ics`);
    const reads = r.reads();
    for (let i = 9; i >= 2; i--) await r.get(`x${i}.ics`);
    assert.equal(r.reads(), reads, "the eight most recent ones are kept");
    await r.get("x0.ics");
    assert.equal(r.reads(), reads + 1, "the least recently used went out");
    // 1,001 changes since the cache's sequence: it drops the calendar's entries instead of each name.
    const cal = (await r.calendars.get("alice", "cal"))!;
    await tx(r.db, async (trx) => {
      const inTx = new ObjectStore(trx);
      for (let i = 0; i < 1001; i++) await inTx.put(cal.id, objectWrite(`y${i}.ics`, parseCalendarObject(ev(`y${i}`, "y"))), NONE);
      await inTx.put(cal.id, objectWrite("x0.ics", parseCalendarObject(ev("x0", "changed"))), NONE);
    });
    assert.match((await r.get("x0.ics"))!.ics, /SUMMARY:changed/);
    await r.db.destroy();
  });
});
