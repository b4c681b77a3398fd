import ICAL from "ical.js";
import { generateEvents, expectedInRange, QUERY_MONTH } from "./generate.ts";
const evs = generateEvents(Number(process.argv[2] ?? 42), Number(process.argv[3] ?? 2000));
const { definite, ambiguous } = expectedInRange(evs, QUERY_MONTH.start, QUERY_MONTH.end);
let bad = 0;
for (const e of evs) {
  const comp = new ICAL.Component(ICAL.parse(e.ics));
  for (const tz of comp.getAllSubcomponents("vtimezone")) ICAL.TimezoneService.register(new ICAL.Timezone(tz));
  const vevents = comp.getAllSubcomponents("vevent");
  const master = new ICAL.Event(vevents.find((v) => !v.hasProperty("recurrence-id"))!);
  for (const v of vevents) if (v.hasProperty("recurrence-id")) master.relateException(new ICAL.Event(v));
  const it = master.iterator();
  let hit = false;
  const got: number[] = [];
  for (let n = it.next(), k = 0; n && k < 5000; n = it.next(), k++) {
    const d = master.getOccurrenceDetails(n);
    const s = d.startDate.toJSDate().getTime(), en = d.endDate.toJSDate().getTime();
    if (d.startDate.year >= 2031) break;
    got.push(s);
    if (s < QUERY_MONTH.end && en > QUERY_MONTH.start) hit = true;
  }
  const mine = e.instances.map((i) => i.start);
  const a = JSON.stringify([...got].sort()), b = JSON.stringify([...mine].sort());
  if (!e.instances[0]!.floating && a !== b) { bad++; if (bad < 4) console.log("instances differ", e.kind, e.name, got.length, mine.length, e.ics.match(/RRULE.*|DTSTART.*/g)); }
  if (hit !== definite.has(e.name) && !ambiguous.has(e.name)) { bad++; console.log("range differs", e.kind, e.name); }
}
console.log("checked", evs.length, "bad", bad, definite.size);
