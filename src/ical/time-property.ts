/**
 * An iCalendar DATE / DATE-TIME property from its parts (the form the provider translations produce):
 * the text as written (yyyymmdd or yyyymmddThhmmss[Z]), its kind, and the TZID to carry.
 */
import ICAL from "ical.js";

export interface TimeOut {
  /** "date" | "utc" | "zoned" | "floating" */
  readonly kind: "date" | "utc" | "zoned" | "floating";
  readonly text: string;
  readonly tzid: string | null;
}

/** Sets an ICAL property from a TimeOut. */
export function timeProp(name: string, t: TimeOut): ICAL.Property {
  const p = new ICAL.Property(name.toLowerCase());
  p.resetType(t.kind === "date" ? "date" : "date-time");
  const v = t.text;
  const iso = t.kind === "date" ? `${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6, 8)}`
    : `${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6, 8)}T${v.slice(9, 11)}:${v.slice(11, 13)}:${v.slice(13, 15)}${t.kind === "utc" ? "Z" : ""}`;
  (p.jCal as unknown[])[3] = iso;
  if (t.tzid) p.setParameter("tzid", t.tzid);
  return p;
}
