/** The zone that floating times are read in: from a CALDAV:timezone (VCALENDAR text) or the calendar's. */
export function floatingZoneOf(vcalendar: string | null): string | null {
  if (!vcalendar) return null;
  const m = /^TZID:(.+)$/m.exec(vcalendar.replace(/\r\n[ \t]/g, ""));
  return m ? m[1]!.trim() : null;
}
