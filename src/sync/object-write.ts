/** The store write for a parsed iCalendar object: served text, ETag, the indexed occurrence columns and index rows. */
import type { CalendarObject } from "../ical/parse.ts";
import { occurrenceBounds, exactInstance } from "../ical/bounds.ts";
import { etagOf } from "../ical/hash.ts";
import { occurrenceSet } from "../ical/occurrences.ts";
import type { ObjectWrite } from "../store/objects.ts";

export function objectWrite(name: string, parsed: CalendarObject): ObjectWrite {
  const bounds = occurrenceBounds(parsed);
  const exact = exactInstance(parsed);
  return { name, uid: parsed.uid, component: parsed.component, etag: etagOf(parsed.text), ics: parsed.text, firstStart: bounds.start, lastEnd: bounds.end, exactStart: exact?.start ?? null, exactEnd: exact?.end ?? null, occurrences: occurrenceSet(parsed) };
}
