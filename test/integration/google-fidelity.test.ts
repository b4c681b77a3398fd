/**
 * Fidelity of the Google translation over the real-world corpus: every VALID file with VEVENTs
 * (test/fixtures/corpus/ics/INDEX.tsv), split into one object per UID as an importing client does, goes
 * iCalendar → icsToPlan → a simulated Google storage (ids, etags, iCalUID, instances with recurringEventId,
 * dateTime rendered in a calendar zone different from the events' own, Google's defaults filled in, nulls
 * dropped) → groupToIcs, and is compared per component (master, each RECURRENCE-ID) and per property.
 * Every property must survive (the test fails on any loss); refused objects are counted and listed.
 * The table printed at the end is the one in docs/google-fidelity.md.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CORPUS_ICS_DIR } from "../helpers/fixtures.ts";
import { Fidelity, splitByUid, veventCorpusRows } from "../helpers/ical-fidelity.ts";
import { groupToIcs, icsToPlan, TranslateRefused, type GEvent, type GDateTime, type GoogleWritePlan } from "../../src/sources/google/translate.ts";

/** The simulated calendar's zone: not the zone of any corpus event, so a kept zone proves itself. */
const CAL_ZONE = "Asia/Tokyo";
const rows = veventCorpusRows();

// ---- the simulated Google storage ---------------------------------------------------------------------

let seq = 0;
function offsetIn(zone: string, ms: number): string {
  const n = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" }).formatToParts(ms).find((p) => p.type === "timeZoneName")!.value;
  return n === "GMT" ? "+00:00" : n.slice(3);
}
/** Google renders every dateTime in the calendar's zone (the event's timeZone field is kept as is). */
function render(g: GDateTime | undefined): GDateTime | undefined {
  if (!g || g.date || !g.dateTime) return g;
  const ms = Date.parse(g.dateTime);
  const off = offsetIn(CAL_ZONE, ms);
  const sign = off[0] === "-" ? -1 : 1;
  const local = new Date(ms + sign * (Number(off.slice(1, 3)) * 60 + Number(off.slice(4, 6))) * 60_000).toISOString().slice(0, 19);
  return { dateTime: `${local}${off}`, ...(g.timeZone ? { timeZone: g.timeZone } : {}) };
}
function stored(body: GEvent, extra: GEvent): GEvent {
  const ev: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0)) ev[k] = v;
  const e = ev as GEvent;
  seq++;
  return {
    kind: "calendar#event", etag: `"${3442020861934000 + seq}"`, status: "confirmed", created: "2024-07-16T08:27:40.000Z",
    updated: "2024-07-16T08:27:40.967Z", sequence: 0, eventType: "default", reminders: { useDefault: true },
    organizer: { email: "sim.calendar@example.com", self: true }, ...e, ...extra,
    start: render(e.start), end: render(e.end),
  };
}
function simulate(plan: GoogleWritePlan): { master: GEvent | null; instances: GEvent[] } {
  const id = `sim${String(seq).padStart(6, "0")}`;
  const master = plan.masterless ? null : stored(plan.master, { id, iCalUID: plan.uid });
  const instances = plan.overrides.map((o, i) => stored(o.body, {
    id: `${id}_${i}`, iCalUID: plan.uid, recurringEventId: id, originalStartTime: render(o.originalStartTime)!,
  }));
  return { master, instances };
}

// ---- the run ------------------------------------------------------------------------------------------

const fidelity = new Fidelity(CAL_ZONE);
const refused: string[] = [];
let objects = 0;

for (const row of rows) {
  const file = row[0]!;
  test(`google fidelity: ${file}`, () => {
    const text = readFileSync(join(CORPUS_ICS_DIR, file), "utf8");
    for (const [uid, obj] of splitByUid(text)) {
      objects++;
      let plan: GoogleWritePlan;
      try {
        plan = icsToPlan(obj, { calendarZone: CAL_ZONE });
      } catch (e) {
        if (e instanceof TranslateRefused) { refused.push(`${file} ${uid}: ${e.message}`); continue; }
        throw e;
      }
      const back = groupToIcs(simulate(plan), { calendarZone: CAL_ZONE });
      assert.equal(icsToPlan(back, { calendarZone: CAL_ZONE }).uid, plan.uid, "the result parses again");
      fidelity.compare(file, uid, obj, back);
    }
  });
}

test("google fidelity: every property survives; table", () => {
  const lines = fidelity.propertyTable();
  const { expected, losses } = fidelity;
  console.log(`\nGoogle fidelity over ${rows.length} files, ${objects} objects (${refused.length} refused), calendar zone ${CAL_ZONE}\n${lines.join("\n")}`);
  console.log(`\nRefused:\n${refused.map((r) => `- ${r}`).join("\n") || "(none)"}`);
  if (expected.length) console.log(`\nExpected (documented) losses:\n${expected.join("\n")}`);
  if (losses.length) console.log(`\nLost:\n${losses.join("\n")}`);
  assert.deepEqual(losses, [], "no property may be lost");
});
