/**
 * DATE / DATE-TIME values between iCalendar and Graph dateTimeTimeZone (docs/microsoft-fidelity.md, "Times").
 * Writing: a TZID becomes the Windows name of its IANA zone (custom VTIMEZONEs are matched to a known zone by
 * their offsets; one that matches none is written in UTC), "Z" becomes "UTC", floating times are pinned to the
 * floating zone (default UTC) and marked; all-day never passes through a zone.
 */
import ICAL from "ical.js";
import { ianaNameFor, ianaZone, resolveTzid, wallMs, wallOf, type Wall, type Zone } from "../../ical/timezones.ts";
import type { GraphDateTimeTimeZone } from "./translate-types.ts";
import { timeProp, type TimeOut } from "../../ical/time-property.ts";
export { timeProp };
import { graphZoneName, ianaToWindows, icsDate, icsWall, isoDate, isoWall, isUtcName, matchVtimezone, parseWall, wallIn, windowsEquivalent } from "./translate-zones.ts";

export interface IcsTime {
  readonly date: boolean;
  /** Wall clock in `iana` (DATE: midnight). */
  readonly wall: Wall;
  /** Instant (DATE: the wall clock read as UTC). */
  readonly ms: number;
  /** IANA zone ("UTC" for Z, for the pin zone of floating values and for unmatched custom zones); DATE: null. */
  readonly iana: string | null;
  /** The TZID parameter as written, or null. */
  readonly tzid: string | null;
  readonly floating: boolean;
  /** The TZID resolved (VTIMEZONE) but matches no known zone: written in UTC, the VTIMEZONE kept in the blob. */
  readonly custom?: boolean;
}

/** A zone name usable with Intl ("UTC" for every UTC spelling and for names nothing resolves). */
export function usableIana(name: string | null | undefined): string {
  if (!name || isUtcName(name)) return "UTC";
  const iana = ianaNameFor(name);
  return iana && !isUtcName(iana) && ianaZone(iana) ? iana : "UTC";
}

export function readIcsValue(raw: string, tzid: string | null, root: ICAL.Component, pin: string): IcsTime | null {
  const w = parseWall(raw);
  if (!w) return null;
  if (raw.replace(/[^0-9]/g, "").length === 8) return { date: true, wall: w, ms: wallMs(w), iana: null, tzid: null, floating: false };
  if (/z$/i.test(raw)) return { date: false, wall: w, ms: wallMs(w), iana: "UTC", tzid: null, floating: false };
  const zone = tzid ? resolveTzid(tzid, root) : null;
  if (tzid && zone) {
    // The instant is the object's own (its VTIMEZONE first, as src/ical resolves it); the zone sent to Graph is
    // the named one when it agrees with that VTIMEZONE, else any known zone with the same offsets.
    const ms = zone.toUtc(w);
    const named = ianaNameFor(tzid);
    const byName = named && (isUtcName(named) || ianaZone(named)) ? (isUtcName(named) ? "UTC" : named) : null;
    const hasVtz = root.getAllSubcomponents("vtimezone").some((z) => String(z.getFirstPropertyValue("tzid")) === tzid);
    const found = hasVtz ? matchVtimezone(tzid, root, w.y) : byName;
    // A zone the CLDR table has no Windows id for is sent as a Windows zone with the same rules.
    const iana = found && !ianaToWindows(found) ? windowsEquivalent(found, w.y) ?? found : found;
    if (iana) return { date: false, wall: w, ms, iana, tzid, floating: false };
    return { date: false, wall: wallOf(ms), ms, iana: "UTC", tzid, floating: false, custom: true };
  }
  const z = pin === "UTC" ? null : ianaZone(pin);
  return { date: false, wall: w, ms: z ? z.toUtc(w) : wallMs(w), iana: pin, tzid: null, floating: true };
}

export function readIcsProp(p: ICAL.Property, root: ICAL.Component, pin: string): IcsTime | null {
  const v = (p.jCal as unknown[])[3];
  const raw = Array.isArray(v) ? String(v[0]) : String(v ?? "");
  const tz = p.getParameter("tzid");
  return readIcsValue(raw, typeof tz === "string" && tz !== "" ? tz : null, root, pin);
}

/** All values of a multi-valued time property (EXDATE). */
export function readIcsValues(p: ICAL.Property, root: ICAL.Component, pin: string): IcsTime[] {
  const tz = p.getParameter("tzid");
  const out: IcsTime[] = [];
  for (const v of (p.jCal as unknown[]).slice(3)) {
    const t = readIcsValue(Array.isArray(v) ? String(v[0]) : String(v), typeof tz === "string" && tz !== "" ? tz : null, root, pin);
    if (t) out.push(t);
  }
  return out;
}

/** Graph dateTimeTimeZone of a value; DATE values are midnight in `allDayZone`. */
export function toGraphTime(t: IcsTime, allDayZone: string): GraphDateTimeTimeZone {
  if (t.date) return { dateTime: `${isoDate(t.wall)}T00:00:00`, timeZone: graphZoneName(allDayZone) };
  const iana = t.iana ?? "UTC";
  return { dateTime: isoWall(iana === "UTC" ? wallOf(t.ms) : t.wall), timeZone: graphZoneName(iana) };
}

export const utcIso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Output form of a time: DATE, UTC, zoned (TZID) or floating. */
export type { TimeOut } from "../../ical/time-property.ts";

/** An instant rendered in a zone (IANA or "UTC"), with the TZID to write (null: UTC), or floating. */
export function renderTime(ms: number, iana: string, tzid: string | null, floating: boolean): TimeOut {
  const w = iana === "UTC" ? wallOf(ms) : wallIn(iana, ms);
  if (floating) return { kind: "floating", text: icsWall(w), tzid: null };
  if (tzid === null) return { kind: "utc", text: `${icsWall(wallOf(ms))}Z`, tzid: null };
  return { kind: "zoned", text: icsWall(w), tzid };
}
/** Local wall clock of an instant in a zone known only by its local → UTC conversion (a custom VTIMEZONE). */
export function localOf(zone: Zone, ms: number): Wall {
  let w = wallOf(ms);
  for (let i = 0; i < 4; i++) {
    const next = wallOf(ms + (wallMs(w) - zone.toUtc(w)));
    if (zone.toUtc(next) === ms) return next;
    w = next;
  }
  return w;
}

export const renderDate = (w: Wall): TimeOut => ({ kind: "date", text: icsDate(w), tzid: null });

