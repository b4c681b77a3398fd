/**
 * applyPulled takes its actions a chunk at a time: the engine makes each prepared write (parsed text,
 * occurrence rows) only when the apply reaches it, so a page of thousands of upstream items never
 * holds all of its prepared writes at once (bench: the 10,000-event import under a bounded heap).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { openDb } from "../../src/store/db.ts";
import { CalendarStore } from "../../src/store/calendars.ts";
import { applyPulled, pullSnapshot, type PulledAction } from "../../src/store/pulled.ts";
import { objectWrite } from "../../src/sync/service.ts";
import { parseCalendarObject } from "../../src/ical/parse.ts";

const ics = (uid: string): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20260101T000000Z", "DTSTART:20260105T100000Z", "DTEND:20260105T110000Z", "SUMMARY:x", "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

test("a pulled page is prepared a chunk at a time, as the apply reaches it, and every item lands", async () => {
  const db = await openDb(":memory:");
  try {
    const calendars = new CalendarStore(db);
    await calendars.create({ owner: "alice", name: "up", sourceId: "src", components: ["VEVENT"] });
    const cal = (await calendars.get("alice", "up"))!;
    const snapshot = await pullSnapshot(db, cal.id);
    let inserted = 0;
    db.on("query", (q: { sql: string }) => {
      if (/^insert into `objects`/.test(q.sql)) inserted++;
    });
    // For each action: how many objects had been written when it was made.
    const writtenWhenMade: number[] = [];
    function* actions(): Generator<PulledAction> {
      for (let i = 0; i < 450; i++) {
        writtenWhenMade.push(inserted);
        const uid = `item-${i}`;
        const parsed = parseCalendarObject(ics(uid));
        yield { type: "create", write: { ...objectWrite(`${uid}.ics`, parsed), upstreamHref: `/cal/${uid}.ics`, upstreamEtag: `"e${i}"`, baseIcs: parsed.text } };
      }
    }
    const result = await applyPulled(db, cal.id, actions(), snapshot, 200);
    assert.deepEqual([writtenWhenMade[0], writtenWhenMade[199], writtenWhenMade[200], writtenWhenMade[399], writtenWhenMade[400], writtenWhenMade[449]], [0, 0, 200, 200, 400, 400], "chunk k+1 is made after chunk k is written");
    assert.equal(result.created, 450);
    assert.equal(Number(((await db("objects").where({ calendar_id: cal.id }).count({ n: "*" }).first()) as { n: number }).n), 450);
  } finally {
    await db.destroy();
  }
});
