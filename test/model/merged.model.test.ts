/**
 * Model-based test of merged calendars (issue 12): random writes to three included calendars and
 * through the merged calendar (creates, edits, deletes, duplicate UIDs across calendars, UID clashes),
 * restarts (fresh service objects over the same database), and clients that sync the merged
 * calendar from tokens of any earlier moment. After every step:
 * - the merged calendar holds exactly one member per UID present in an included calendar, showing
 *   the copy of the first included calendar that has it (no owner addresses here);
 * - a UID that stays present keeps its href;
 * - every client replica brought forward with changesSince from its token equals the listing
 *   (name → ETag), whatever moment its token is from;
 * - a write through the merged calendar lands in the owning calendar (a new one in writeTo).
 * MERGED_MODEL_RUNS (default 60) and MERGED_MODEL_SEED.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { openDb, type Db } from "../../src/store/db.ts";
import { CalendarStore } from "../../src/store/calendars.ts";
import { ObjectStore } from "../../src/store/objects.ts";
import { MergedStore } from "../../src/store/merged.ts";
import { StoreCalendarService } from "../../src/sync/service.ts";
import { MergedCalendarService } from "../../src/sync/merged.ts";
import type { Config } from "../../src/config/schema.ts";
import type { CalendarMeta, CalendarService } from "../../src/dav/service.ts";
import { changedHeads } from "../helpers/change-set.ts";

const USER = { username: "u" };
const CALS = ["a", "b", "c"] as const;
const NAMES = ["1.ics", "2.ics", "3.ics", "4.ics"];
const UIDS = ["U1", "U2", "U3", "U4", "U5"];
const config = { users: [{ username: "u", sources: [{ id: "home", type: "local" }], merged: [{ id: "m", name: "M", include: ["home/*"], writeTo: "home/a" }] }] } as unknown as Config;
const ics = (uid: string, summary: string): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//model//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20261201T000000Z", "DTSTART:20261210T100000Z", "DTEND:20261210T110000Z", `SUMMARY:${summary}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

type Op =
  | { kind: "put"; cal: number; name: string; uid: string; v: number }
  | { kind: "delete"; cal: number; name: string }
  | { kind: "mergedPut"; name: string; uid: string; v: number }
  | { kind: "mergedDelete"; name: string }
  | { kind: "restart" }
  | { kind: "newClient" };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("put" as const), cal: fc.nat(2), name: fc.constantFrom(...NAMES), uid: fc.constantFrom(...UIDS), v: fc.nat(99) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("delete" as const), cal: fc.nat(2), name: fc.constantFrom(...NAMES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("mergedPut" as const), name: fc.constantFrom(...NAMES, "new.ics"), uid: fc.constantFrom(...UIDS), v: fc.nat(99) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("mergedDelete" as const), name: fc.constantFrom(...NAMES) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "restart" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "newClient" as const }) },
);

interface World { db: Db; plain: StoreCalendarService; merged: MergedCalendarService; cals: CalendarMeta[] }
async function services(db: Db): Promise<World> {
  const calendars = new CalendarStore(db);
  const plain = new StoreCalendarService(calendars, new ObjectStore(db), { info: () => ({ type: "local", configured: true, synced: false }), defaultLocal: () => "home" });
  const merged = new MergedCalendarService(plain, calendars, new MergedStore(db), config);
  const all = await plain.calendars(USER);
  return { db, plain, merged, cals: CALS.map((c) => all.find((m) => m.name === `home-${c}`)!) };
}
async function attempt(f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    const name = (e as Error).constructor.name;
    if (!["UidConflict", "UidChanged", "PreconditionFailed", "ObjectNotFound", "NoWriteTarget"].includes(name)) throw e;
  }
}
async function uidsOf(svc: CalendarService, cal: CalendarMeta): Promise<Map<string, { name: string; etag: string }>> {
  const out = new Map<string, { name: string; etag: string }>();
  for await (const o of svc.query(cal, null, null)) out.set(o.uid, { name: o.name, etag: o.etag });
  return out;
}

test("merged calendars: union, dedupe, stable hrefs and sync tokens under random writes and restarts", async () => {
  const runs = Number(process.env.MERGED_MODEL_RUNS ?? 60);
  const seed = process.env.MERGED_MODEL_SEED ? Number(process.env.MERGED_MODEL_SEED) : undefined;
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
      const db = await openDb(":memory:");
      try {
        const calendars = new CalendarStore(db);
        for (const c of CALS) await calendars.create({ owner: "u", name: `home-${c}`, sourceId: "home", sourceCalendarId: c, components: ["VEVENT"] });
        let w = await services(db);
        const clients: { token: string; replica: Map<string, string> }[] = [];
        let lastNames = new Map<string, string>();
        for (const op of [...ops, { kind: "newClient" } as Op]) {
          const m = (await w.merged.calendar(USER, "m"))!;
          if (op.kind === "put") await attempt(() => w.plain.put(USER, w.cals[op.cal]!, op.name, ics(op.uid, `v${op.v}`), { ifMatch: null, ifNoneMatch: null }));
          else if (op.kind === "delete") await attempt(() => w.plain.remove(USER, w.cals[op.cal]!, op.name, { ifMatch: null, ifNoneMatch: null }));
          else if (op.kind === "mergedPut") {
            const member = (await w.merged.objects(m, [op.name])).get(op.name) ?? null;
            let landed = false;
            await attempt(async () => {
              await w.merged.put(USER, m, op.name, ics(op.uid, `m${op.v}`), { ifMatch: null, ifNoneMatch: null });
              landed = true;
            });
            if (landed) {
              const shown = (await w.merged.objects((await w.merged.calendar(USER, "m"))!, [op.name])).get(op.name);
              assert.ok(shown && shown.uid === op.uid && shown.ics.includes(`SUMMARY:m${op.v}`), `a write through the merged calendar shows at ${op.name}`);
              // A new member goes to writeTo (home/a); an edit to the calendar whose copy was shown.
              const owners = member ? CALS.map((_, i) => i) : [0];
              const held = await Promise.all(owners.map(async (i) => (await uidsOf(w.plain, w.cals[i]!)).get(op.uid)?.etag === shown.etag));
              assert.ok(held.some(Boolean), `the write landed in ${member ? "the owning calendar" : "writeTo"}`);
            }
          } else if (op.kind === "mergedDelete") await attempt(() => w.merged.remove(USER, m, op.name, { ifMatch: null, ifNoneMatch: null }));
          else if (op.kind === "restart") w = await services(db);
          else {
            const first = await w.merged.changesSince((await w.merged.calendar(USER, "m"))!, null);
            clients.push({ token: first.token, replica: new Map((await changedHeads(first)).map((h) => [h.name, h.etag])) });
          }

          // The expected union: per UID, the copy of the first included calendar that has it.
          const expected = new Map<string, string>();
          for (let i = CALS.length - 1; i >= 0; i--) for (const [uid, o] of await uidsOf(w.plain, w.cals[i]!)) expected.set(uid, o.etag);
          const cal = (await w.merged.calendar(USER, "m"))!;
          const shown = await uidsOf(w.merged, cal);
          assert.deepEqual(new Map([...shown].map(([u, o]) => [u, o.etag])), expected, "one member per UID, the first included calendar's copy");
          for (const [uid, o] of shown) if (lastNames.has(uid)) assert.equal(o.name, lastNames.get(uid), `UID ${uid} keeps its href`);
          lastNames = new Map([...shown].map(([u, o]) => [u, o.name]));
          const listing = new Map((await w.merged.heads(cal)).map((h) => [h.name, h.etag]));
          for (const c of clients) {
            const s = await w.merged.changesSince(cal, c.token);
            for (const n of s.removed) c.replica.delete(n);
            for (const h of await changedHeads(s)) c.replica.set(h.name, h.etag);
            c.token = s.token;
            assert.deepEqual(c.replica, listing, "a client synced from its token has what the listing has");
          }
        }
      } finally {
        await db.destroy();
      }
    }),
    { numRuns: runs, ...(seed !== undefined ? { seed } : {}) },
  );
});
