/**
 * Times between Google EventDateTime and iCalendar DATE / DATE-TIME values.
 * Rules (docs/google-fidelity.md): an event keeps ITS zone (Google `timeZone`), whatever zone Google rendered
 * `dateTime` in; UTC stays "Z"; all-day never passes through a zone; floating times are pinned to a zone on the
 * way to Google (Google has none) and come back floating when a marker says so; TZIDs that are not IANA names are
 * resolved through src/ical/timezones.ts and, when no IANA name exists, converted to UTC.
 */
import ICAL from "ical.js";
import { ianaNameFor, ianaZone, resolveTzid, wallMs, wallOf, type Wall } from "../../ical/timezones.ts";
import { TranslateRefused, type GDateTime } from "./translate-types.ts";

const UTC_NAMES = new Set(["UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu", "Etc/GMT0", "GMT0"]);
export const isUtcName = (z: string | null | undefined): boolean => !!z && UTC_NAMES.has(z);

/** Offset of an IANA zone at an instant, in minutes east of UTC (Node's Intl data). */
import { timeProp, type TimeOut } from "../../ical/time-property.ts";
export { timeProp };
import { offsetMinutes } from "../../ical/vtimezone.ts";
export { offsetMinutes };

/** Wall clock of an instant in an IANA zone. */
export const wallIn = (zone: string, ms: number): Wall => wallOf(ms + offsetMinutes(zone, ms) * 60_000);

const p2 = (n: number): string => String(n).padStart(2, "0");
const p4 = (n: number): string => String(n).padStart(4, "0");
export const isoDate = (w: Wall): string => `${p4(w.y)}-${p2(w.mo)}-${p2(w.d)}`;
const isoWall = (w: Wall): string => `${isoDate(w)}T${p2(w.h)}:${p2(w.mi)}:${p2(w.s)}`;
export const icsDate = (w: Wall): string => `${p4(w.y)}${p2(w.mo)}${p2(w.d)}`;
export const icsWall = (w: Wall): string => `${icsDate(w)}T${p2(w.h)}${p2(w.mi)}${p2(w.s)}`;

/** RFC 3339 text of an instant as seen in `zone` ("Z" for UTC). */
export function rfc3339(ms: number, zone: string): string {
  const off = offsetMinutes(zone, ms);
  if (off === 0 && isUtcName(zone)) return `${isoWall(wallOf(ms))}Z`;
  const a = Math.abs(Math.round(off));
  return `${isoWall(wallOf(ms + off * 60_000))}${off < 0 ? "-" : "+"}${p2(Math.floor(a / 60))}:${p2(a % 60)}`;
}

export function parseIsoDate(s: string): Wall {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(s.trim());
  if (!m) throw new TranslateRefused(`date '${s}' is not yyyy-mm-dd`);
  return { y: +m[1]!, mo: +m[2]!, d: +m[3]!, h: 0, mi: 0, s: 0 };
}

/** The instant of a Google dateTime; a dateTime without offset is read in its timeZone (or `fallback`). */
export function instantOf(g: GDateTime, fallback: string | null): number {
  const s = g.dateTime ?? "";
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(s.trim());
  if (!m) throw new TranslateRefused(`dateTime '${s}' is not RFC 3339`);
  const w: Wall = { y: +m[1]!, mo: +m[2]!, d: +m[3]!, h: +m[4]!, mi: +m[5]!, s: +(m[6] ?? 0) };
  if (m[7]) return Date.parse(`${isoWall(w)}${m[7].toUpperCase() === "Z" ? "Z" : m[7]}`);
  const z = ianaZone(g.timeZone ?? fallback ?? "UTC");
  return z ? z.toUtc(w) : wallMs(w);
}

export const addDaysIso = (w: Wall, n: number): Wall => wallOf(wallMs(w) + n * 86_400_000);

/** The zone an event's time is kept in: its own timeZone, else the calendar's, else UTC. */
export function eventZone(g: GDateTime, calendarZone: string | null): string {
  const z = g.timeZone || calendarZone || "UTC";
  return isUtcName(z) || !ianaZone(z) ? "UTC" : z;
}

/** Collects, per TZID written, the IANA zone behind it and the earliest year used (VTIMEZONE generation starts
 *  there). `aliases` maps an IANA zone to the client's original spelling of it (e.g. a Windows name), which is
 *  echoed back so Outlook-style TZIDs survive; the VTIMEZONE under that name carries the IANA rules. */
export class ZoneUse {
  readonly years = new Map<string, { zone: string; year: number }>();
  readonly aliases = new Map<string, string>();
  /** Notes a use of `zone`; returns the TZID to write. */
  note(zone: string, ms: number): string {
    const label = this.aliases.get(zone) ?? zone;
    const y = new Date(ms).getUTCFullYear();
    const prev = this.years.get(label);
    if (!prev || y < prev.year) this.years.set(label, { zone, year: y });
    return label;
  }
  addAliases(json: string | undefined): void {
    if (!json) return;
    try {
      const m = JSON.parse(json) as Record<string, unknown>;
      for (const [zone, label] of Object.entries(m)) if (typeof label === "string" && label && !this.aliases.has(zone)) this.aliases.set(zone, label);
    } catch {
      /* a damaged marker only loses the spelling */
    }
  }
}

export type { TimeOut } from "../../ical/time-property.ts";

/** A Google time as an iCalendar value rendered in `zone` (or floating in it when `floating`). */
export function gToIcs(g: GDateTime, zone: string, floating: boolean, use: ZoneUse): TimeOut {
  if (g.date) return { kind: "date", text: icsDate(parseIsoDate(g.date)), tzid: null };
  const ms = instantOf(g, zone);
  if (zone === "UTC") return floating ? { kind: "floating", text: icsWall(wallOf(ms)), tzid: null } : { kind: "utc", text: `${icsWall(wallOf(ms))}Z`, tzid: null };
  const text = icsWall(wallIn(zone, ms));
  if (floating) return { kind: "floating", text, tzid: null };
  return { kind: "zoned", text, tzid: use.note(zone, ms) };
}


/** One iCalendar time value read for Google. */
export interface IcsTime {
  /** The TZID as the client spelled it, when it differs from `zone` (an alias Google cannot store). */
  readonly alias?: string;
  readonly date: boolean;
  /** Wall clock (DATE: midnight). */
  readonly wall: Wall;
  /** Instant (DATE: wall as UTC; floating: in the pin zone). */
  readonly ms: number;
  /** IANA zone the value belongs to ("UTC" for Z and for converted non-IANA zones); DATE: null. */
  readonly zone: string | null;
  readonly floating: boolean;
}

function wallFromIso(raw: string): Wall | null {
  const d = raw.replace(/[^0-9]/g, "");
  if (d.length === 8) return { y: +d.slice(0, 4), mo: +d.slice(4, 6), d: +d.slice(6, 8), h: 0, mi: 0, s: 0 };
  if (d.length === 14) return { y: +d.slice(0, 4), mo: +d.slice(4, 6), d: +d.slice(6, 8), h: +d.slice(8, 10), mi: +d.slice(10, 12), s: +d.slice(12, 14) };
  return null;
}

/** Reads a raw value with the TZID of its property; `pin` is the IANA zone floating times are pinned to. */
export function readIcsValue(raw: string, tzid: string | null, root: ICAL.Component, pin: string): IcsTime | null {
  const wall = wallFromIso(raw);
  if (!wall) return null;
  if (raw.replace(/[^0-9]/g, "").length === 8) return { date: true, wall, ms: wallMs(wall), zone: null, floating: false };
  if (/z$/i.test(raw)) return { date: false, wall, ms: wallMs(wall), zone: "UTC", floating: false };
  if (tzid) {
    // An IANA name is read by name (Intl), as Google reads timeZone: ical.js's reading of a VTIMEZONE puts an
    // ambiguous local time (the repeated hour) on the later instant, RFC 5545 3.3.5 on the earlier one.
    const zone = ianaZone(tzid) ?? resolveTzid(tzid, root);
    if (zone) {
      const ms = zone.toUtc(wall);
      const iana = ianaNameFor(tzid);
      const z = iana && !isUtcName(iana) && ianaZone(iana) ? iana : "UTC";
      return { date: false, wall, ms, zone: z, floating: false, ...(z !== "UTC" && tzid !== z ? { alias: tzid } : {}) };
    }
  }
  const pz = ianaZone(pin);
  return { date: false, wall, ms: pz ? pz.toUtc(wall) : wallMs(wall), zone: pin, floating: true };
}

/** First value of a DATE/DATE-TIME property. */
export function readIcsProp(p: ICAL.Property, root: ICAL.Component, pin: string): IcsTime | null {
  const v = (p.jCal as unknown[])[3];
  const raw = Array.isArray(v) ? String(v[0]) : String(v ?? "");
  const tz = p.getParameter("tzid");
  return readIcsValue(raw, typeof tz === "string" && tz !== "" ? tz : null, root, pin);
}

/** The Google form of a read value. */
export function icsToG(t: IcsTime): GDateTime {
  if (t.date) return { date: isoDate(t.wall) };
  const zone = t.zone ?? "UTC";
  return { dateTime: rfc3339(t.ms, zone), timeZone: zone === "UTC" ? "UTC" : zone };
}

/** The instant of `t` re-expressed in the form of `like` (same zone / DATE-ness), for originalStartTime. */
export function likeStart(t: IcsTime, like: GDateTime): GDateTime {
  if (like.date || t.date) return { date: isoDate(t.date ? t.wall : wallIn(like.timeZone ?? "UTC", t.ms)) };
  const zone = like.timeZone && !isUtcName(like.timeZone) ? like.timeZone : "UTC";
  return { dateTime: rfc3339(t.ms, zone), timeZone: zone };
}

/** Zone floating times of an object are pinned to: X-WR-TIMEZONE when it names a zone, else the calendar's. */
export function pinZone(root: ICAL.Component, calendarZone: string | null): string {
  const x = root.getFirstPropertyValue("x-wr-timezone");
  const fromX = typeof x === "string" ? ianaNameFor(x) : null;
  const z = fromX ?? calendarZone ?? "UTC";
  return isUtcName(z) || !ianaZone(z) ? "UTC" : z;
}
