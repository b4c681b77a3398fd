/** Reading DATE / DATE-TIME / PERIOD / DURATION values from ical.js properties without ical.js zone lookups. */
import ICAL from "ical.js";
import { resolveTzid, wallMs, type Wall, type Zone } from "./timezones.ts";

export interface TimeVal {
  readonly wall: Wall;
  readonly date: boolean;
  readonly utc: boolean;
  /** Zone for a TZID'd value (resolved), null for UTC, DATE and floating values. */
  readonly zone: Zone | null;
  /** True when the value is floating (no Z, no resolvable TZID) or a DATE. */
  readonly floating: boolean;
}

export interface PeriodVal {
  readonly start: TimeVal;
  readonly end: TimeVal | null;
  readonly duration: Dur | null;
}

export const DAY_MS = 86_400_000;

/** Parses "2024-01-02", "2024-01-02T10:00:00(Z)", "20240102", "20240102T100000Z". */
export function parseTimeString(raw: string, zone: Zone | null): TimeVal | null {
  const utc = raw.endsWith("Z") || raw.endsWith("z");
  const digits = raw.replace(/[^0-9]/g, "");
  if (digits.length === 8) {
    const w = { y: +digits.slice(0, 4), mo: +digits.slice(4, 6), d: +digits.slice(6, 8), h: 0, mi: 0, s: 0 };
    return valid(w) ? { wall: w, date: true, utc: false, zone: null, floating: true } : null;
  }
  if (digits.length === 14) {
    const w = { y: +digits.slice(0, 4), mo: +digits.slice(4, 6), d: +digits.slice(6, 8), h: +digits.slice(8, 10), mi: +digits.slice(10, 12), s: +digits.slice(12, 14) };
    if (!valid(w)) return null;
    if (utc) return { wall: w, date: false, utc: true, zone: null, floating: false };
    return { wall: w, date: false, utc: false, zone, floating: zone === null };
  }
  return null;
}

function valid(w: Wall): boolean {
  return w.mo >= 1 && w.mo <= 12 && w.d >= 1 && w.d <= 31 && w.h <= 24 && w.mi <= 59 && w.s <= 60;
}

function tzOf(prop: ICAL.Property, root: ICAL.Component | null): Zone | null {
  const tzid = prop.getParameter("tzid");
  if (typeof tzid !== "string" || tzid === "") return null;
  return resolveTzid(tzid, root);
}

/** All DATE/DATE-TIME values of a property (multi-valued EXDATE/RDATE included); PERIOD values give their start. */
export function timeValues(prop: ICAL.Property, root: ICAL.Component | null): TimeVal[] {
  const zone = tzOf(prop, root);
  const out: TimeVal[] = [];
  for (let i = 3; i < prop.jCal.length; i++) {
    const v = prop.jCal[i];
    const raw = Array.isArray(v) ? String(v[0]) : String(v);
    const t = parseTimeString(raw, zone);
    if (t) out.push(t);
  }
  return out;
}

export function firstTime(comp: ICAL.Component, name: string, root: ICAL.Component | null): TimeVal | null {
  const p = comp.getFirstProperty(name);
  if (!p) return null;
  return timeValues(p, root)[0] ?? null;
}

/** RDATE values: plain times or periods. */
export function periodValues(prop: ICAL.Property, root: ICAL.Component | null): PeriodVal[] {
  const zone = tzOf(prop, root);
  const out: PeriodVal[] = [];
  for (let i = 3; i < prop.jCal.length; i++) {
    const v = prop.jCal[i];
    let startRaw: string;
    let endRaw: string | null = null;
    if (Array.isArray(v)) {
      startRaw = String(v[0]);
      endRaw = v[1] === undefined ? null : String(v[1]);
    } else {
      const s = String(v);
      const slash = s.indexOf("/");
      startRaw = slash >= 0 ? s.slice(0, slash) : s;
      endRaw = slash >= 0 ? s.slice(slash + 1) : null;
    }
    const start = parseTimeString(startRaw, zone);
    if (!start) continue;
    if (endRaw === null) {
      out.push({ start, end: null, duration: null });
    } else if (/^[+-]?P/i.test(endRaw)) {
      out.push({ start, end: null, duration: safeDuration(endRaw) });
    } else {
      out.push({ start, end: parseTimeString(endRaw, zone), duration: null });
    }
  }
  return out;
}

/** A duration split as RFC 5545 3.3.6 wants: nominal days (wall-clock) and exact seconds. */
export interface Dur {
  readonly days: number;
  readonly secs: number;
}

/** Parses RFC 5545 durations, tolerating common sloppy forms ("-P1W6DT15H", "PT-2H", "-PT00H15M00S"). */
export function safeDuration(raw: string): Dur | null {
  const m = /^([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:([+-]?\d+)H)?(?:([+-]?\d+)M)?(?:([+-]?\d+)S)?)?$/i.exec(raw.trim());
  if (!m || (m[2] ?? m[3] ?? m[4] ?? m[5] ?? m[6]) === undefined) return null;
  const sign = m[1] === "-" ? -1 : 1;
  const days = (+(m[2] ?? 0) * 7 + +(m[3] ?? 0)) * sign;
  const secs = (+(m[4] ?? 0) * 3600 + +(m[5] ?? 0) * 60 + +(m[6] ?? 0)) * sign;
  return { days: days === 0 ? 0 : days, secs: secs === 0 ? 0 : secs };
}

export function durationOf(comp: ICAL.Component): Dur | null {
  const p = comp.getFirstProperty("duration");
  if (!p) return null;
  const v = p.jCal[3];
  return typeof v === "string" ? safeDuration(v) : null;
}

export function addDays(w: Wall, days: number): Wall {
  if (days === 0) return w;
  const d = new Date(Date.UTC(w.y, w.mo - 1, w.d + days));
  return { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: w.h, mi: w.mi, s: w.s };
}

export function dateKey(w: Wall): number {
  return w.y * 10000 + w.mo * 100 + w.d;
}

/** Epoch ms of a value; DATE and floating values use `floating`. */
export function toUtc(t: TimeVal, floating: Zone): number {
  if (t.utc) return wallMs(t.wall);
  if (t.zone && !t.date) return t.zone.toUtc(t.wall);
  return floating.toUtc(t.wall);
}

export function icalTimeUtc(ms: number): ICAL.Time {
  const d = new Date(ms);
  return new ICAL.Time({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(), isDate: false }, ICAL.Timezone.utcTimezone);
}

export function icalDate(w: Wall): ICAL.Time {
  return new ICAL.Time({ year: w.y, month: w.mo, day: w.d, isDate: true }, ICAL.Timezone.localTimezone);
}

export function fmtUtc(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}
export function fmtDate(w: Wall): string {
  return `${String(w.y).padStart(4, "0")}${String(w.mo).padStart(2, "0")}${String(w.d).padStart(2, "0")}`;
}
