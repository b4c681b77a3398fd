/** Series context shared by both directions: the zone a series lives in, its start, UNTIL form, occurrences. */
import { ianaZone, wallMs, wallOf, type Wall } from "../../ical/timezones.ts";
import type { Pattern, SeriesStart, UntilStyle } from "./translate-recur.ts";
import { occursOn } from "./translate-recur.ts";
import { graphZoneName, icsWall, parseWall, wallIn } from "./translate-zones.ts";

export interface Series extends SeriesStart {
  /** IANA zone (or "UTC") of the series; all-day series: the zone midnight is taken in. */
  readonly zone: string;
  readonly floating: boolean;
}

export function seriesOf(wall: Wall, date: boolean, zone: string, floating: boolean): Series {
  const z = zone === "UTC" ? null : ianaZone(zone);
  const toUtc = (w: Wall): number => (z ? z.toUtc(w) : wallMs(w));
  const wallOfMs = (ms: number): Wall => (zone === "UTC" ? wallOf(ms) : wallIn(zone, ms));
  const untilMs = (raw: string): number | null => {
    const w = parseWall(raw);
    if (!w || raw.replace(/[^0-9]/g, "").length === 8) return null;
    return /z$/i.test(raw) ? wallMs(w) : toUtc(w);
  };
  return { wall, date, zone, floating, toUtc, wallOfMs, untilMs, recurrenceTimeZone: graphZoneName(zone) };
}

/** UNTIL for Graph's inclusive end date: the end of that local day (UTC form; local form for floating series). */
export function untilStyleOf(s: Series): UntilStyle {
  return {
    date: s.date,
    endOfDay: (d: Wall) => {
      const w = { ...d, h: 23, mi: 59, s: 59 };
      return s.floating ? icsWall(w) : `${icsWall(wallOf(s.toUtc(w)))}Z`;
    },
  };
}

/** Instant of the occurrence on a local date (at the series' time of day). */
export const occurrenceMs = (s: Series, d: Wall): number => (s.date ? s.toUtc({ ...d, h: 0, mi: 0, s: 0 }) : s.toUtc({ ...d, h: s.wall.h, mi: s.wall.mi, s: s.wall.s }));

/** The local date of an excluded/overridden instant when it is an occurrence of the pattern, else null.
 *  A DATE value on a timed series matches the whole day (as ical.js expands it). */
export function occurrenceDate(s: Series, p: Pattern, t: { date: boolean; wall: Wall; ms: number }): Wall | null {
  const d = t.date ? { ...t.wall, h: 0, mi: 0, s: 0 } : { ...s.wallOfMs(t.ms), h: 0, mi: 0, s: 0 };
  if (!occursOn(p, s.wall, d)) return null;
  if (!t.date && !s.date && occurrenceMs(s, d) !== t.ms) return null;
  return d;
}
