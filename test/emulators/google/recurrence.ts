/**
 * Recurrence lines of a series master (reference §2 "Recurrence", recurrence-and-timezones.md §3):
 * validation and expansion. RRULE/EXRULE are expanded by ical.js on FLOATING wall times of the
 * series' `timeZone`; every wall time is then pinned to an instant with Intl (ical.js ships no
 * zone database). DTSTART always counts as the first instance (RFC 5545, as Google does).
 */
import ICAL from "ical.js";
import { E } from "./errors.ts";
import type { Json } from "./store.ts";
import { compactUtc, DAY_MS, dateToUtcMs, isValidTimeZone, utcMsToDate, wallAt, wallToUtc, type Wall } from "./util.ts";

export interface Occurrence {
  /** legacy instance-id suffix: `YYYYMMDDTHHMMSSZ` (timed) or `YYYYMMDD` (all-day) */
  key: string;
  allDay: boolean;
  /** instant (timed) or UTC midnight of the date (all-day) */
  start: number;
  end: number;
}

const RULE_PARTS = new Set([
  "FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY", "BYMONTHDAY",
  "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST",
]);

const invalidRule = () => E.invalid("Invalid recurrence rule.");

function parseRule(value: string): ICAL.Recur {
  const parts = value.split(";").filter((p) => p !== "");
  const names = new Set<string>();
  for (const p of parts) {
    const [name, v] = p.split("=");
    if (!name || v === undefined || v === "" || !RULE_PARTS.has(name.toUpperCase())) throw invalidRule();
    names.add(name.toUpperCase());
  }
  if (!names.has("FREQ") || (names.has("COUNT") && names.has("UNTIL"))) throw invalidRule();
  let recur: ICAL.Recur;
  try {
    recur = ICAL.Recur.fromString(value);
  } catch {
    throw invalidRule();
  }
  // Google refuses sub-daily frequencies (recurrence-and-timezones.md §2).
  if (!recur.freq || ["SECONDLY", "MINUTELY", "HOURLY"].includes(recur.freq)) throw invalidRule();
  return recur;
}

interface DateList {
  instants: number[]; // timed values
  dates: string[]; // DATE values (yyyy-mm-dd)
}

function parseDateList(line: string, tz: string): DateList {
  const colon = line.indexOf(":");
  if (colon < 0) throw invalidRule();
  const params = line.slice(0, colon).split(";").slice(1);
  let tzid: string | undefined;
  let valueType = "";
  for (const p of params) {
    const [k, v] = p.split("=");
    if (!k || v === undefined) throw invalidRule();
    if (k.toUpperCase() === "TZID") tzid = v.replace(/^"|"$/g, "");
    else if (k.toUpperCase() === "VALUE") valueType = v.toUpperCase();
  }
  if (tzid !== undefined && !isValidTimeZone(tzid)) throw invalidRule();
  const out: DateList = { instants: [], dates: [] };
  for (const raw of line.slice(colon + 1).split(",")) {
    const v = raw.split("/")[0]!.trim(); // RDATE;VALUE=PERIOD: keep the start
    const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z)?)?$/.exec(v);
    if (!m) throw invalidRule();
    if (m[4] === undefined) {
      if (valueType && valueType !== "DATE") throw invalidRule();
      out.dates.push(`${m[1]}-${m[2]}-${m[3]}`);
      continue;
    }
    const w: Wall = { y: +m[1]!, mo: +m[2]!, d: +m[3]!, h: +m[4]!, mi: +m[5]!, s: +m[6]! };
    out.instants.push(m[7] ? Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) : wallToUtc(w, tzid ?? tz));
  }
  return out;
}

/** Validates `recurrence` lines: RRULE/EXRULE/RDATE/EXDATE only; DTSTART/DTEND refused (§2). */
export function validateRecurrence(lines: unknown): void {
  if (!Array.isArray(lines)) throw E.invalid("Invalid recurrence rule.");
  for (const line of lines) {
    if (typeof line !== "string") throw invalidRule();
    const name = /^([A-Za-z-]+)[;:]/.exec(line)?.[1]?.toUpperCase();
    if (name === "RRULE" || name === "EXRULE") parseRule(line.slice(line.indexOf(":") + 1));
    else if (name === "RDATE" || name === "EXDATE") parseDateList(line, "UTC");
    else throw invalidRule();
  }
}

interface SeriesTiming {
  allDay: boolean;
  tz: string;
  start: number;
  duration: number;
}

function timing(master: Json, fallbackTz: string): SeriesTiming {
  if (master.start?.date) {
    const start = dateToUtcMs(master.start.date);
    return { allDay: true, tz: "UTC", start, duration: dateToUtcMs(master.end.date) - start };
  }
  const start = Date.parse(master.start.dateTime);
  return { allDay: false, tz: master.start.timeZone ?? fallbackTz, start, duration: Date.parse(master.end.dateTime) - start };
}

function toIcal(t: SeriesTiming): ICAL.Time {
  if (t.allDay) {
    const d = new Date(t.start);
    return ICAL.Time.fromData({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), isDate: true });
  }
  const w = wallAt(t.start, t.tz);
  return ICAL.Time.fromData({ year: w.y, month: w.mo, day: w.d, hour: w.h, minute: w.mi, second: w.s });
}

function fromIcal(v: ICAL.Time, t: SeriesTiming): number {
  if (t.allDay) return Date.UTC(v.year, v.month - 1, v.day);
  return wallToUtc({ y: v.year, mo: v.month, d: v.day, h: v.hour, mi: v.minute, s: v.second }, t.tz);
}

/** Rewrites a UTC UNTIL into the series' floating wall time so ical.js compares like with like. */
function localiseUntil(recur: ICAL.Recur, t: SeriesTiming): void {
  const u = recur.until;
  if (!u) return;
  if (t.allDay) {
    if (!u.isDate) {
      const ms = u.zone?.tzid === "UTC" ? u.toUnixTime() * 1000 : Date.UTC(u.year, u.month - 1, u.day);
      const d = new Date(ms);
      recur.until = ICAL.Time.fromData({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), isDate: true });
    }
    return;
  }
  if (u.isDate) {
    recur.until = ICAL.Time.fromData({ year: u.year, month: u.month, day: u.day, hour: 23, minute: 59, second: 59 });
  } else if (u.zone?.tzid === "UTC") {
    const w = wallAt(u.toUnixTime() * 1000, t.tz);
    recur.until = ICAL.Time.fromData({ year: w.y, month: w.mo, day: w.d, hour: w.h, minute: w.mi, second: w.s });
  }
}

function expandRule(value: string, t: SeriesTiming, untilMs: number, cap: number): number[] {
  const recur = parseRule(value);
  localiseUntil(recur, t);
  const dtstart = toIcal(t);
  const it = recur.iterator(dtstart);
  const out: number[] = [];
  let next: ICAL.Time | null;
  let guard = 0;
  while ((next = it.next()) && out.length < cap && guard++ < 200_000) {
    const ms = fromIcal(next, t);
    if (ms >= untilMs) break;
    out.push(ms);
  }
  if (!out.includes(t.start) && t.start < untilMs) {
    // DTSTART is always the first instance; it counts towards COUNT (RFC 5545 §3.3.10).
    if (recur.count && out.length >= recur.count) out.pop();
    out.unshift(t.start);
  }
  return out;
}

export function occurrenceKey(allDay: boolean, start: number): string {
  return allDay ? utcMsToDate(start).replace(/-/g, "") : compactUtc(start);
}

/**
 * Occurrences of a series master starting before `untilMs` (at most `cap`), after RDATE, EXDATE
 * and EXRULE. Exceptions and cancelled instances are applied by the caller.
 */
export function expandSeries(master: Json, fallbackTz: string, untilMs: number, cap = 5000): Occurrence[] {
  const t = timing(master, fallbackTz);
  const starts = new Set<number>();
  const excluded = new Set<number>();
  const excludedDates = new Set<string>();
  let hasRule = false;
  for (const line of (master.recurrence ?? []) as string[]) {
    const name = /^([A-Za-z-]+)[;:]/.exec(line)?.[1]?.toUpperCase();
    const value = line.slice(line.indexOf(":") + 1);
    if (name === "RRULE") {
      hasRule = true;
      for (const s of expandRule(value, t, untilMs, cap)) starts.add(s);
    } else if (name === "EXRULE") {
      for (const s of expandRule(value, t, untilMs, cap)) excluded.add(s);
    } else if (name === "RDATE" || name === "EXDATE") {
      const list = parseDateList(line, t.tz);
      const target = name === "RDATE" ? starts : excluded;
      for (const ms of list.instants) target.add(t.allDay ? Date.UTC(new Date(ms).getUTCFullYear(), new Date(ms).getUTCMonth(), new Date(ms).getUTCDate()) : ms);
      for (const d of list.dates) {
        if (name === "EXDATE") excludedDates.add(d);
        else if (t.allDay) starts.add(dateToUtcMs(d));
        else {
          const w = wallAt(t.start, t.tz);
          const [y, mo, dd] = d.split("-").map(Number);
          starts.add(wallToUtc({ y: y!, mo: mo!, d: dd!, h: w.h, mi: w.mi, s: w.s }, t.tz));
        }
      }
    }
  }
  if (!hasRule) starts.add(t.start);
  const out: Occurrence[] = [];
  for (const s of [...starts].sort((a, b) => a - b)) {
    if (s >= untilMs || excluded.has(s)) continue;
    // A DATE-form EXDATE against a timed series removes the whole local day (ical.js semantics, §6).
    const localDate = t.allDay ? utcMsToDate(s) : (() => { const w = wallAt(s, t.tz); return `${w.y}-${String(w.mo).padStart(2, "0")}-${String(w.d).padStart(2, "0")}`; })();
    if (excludedDates.has(localDate)) continue;
    out.push({ key: occurrenceKey(t.allDay, s), allDay: t.allDay, start: s, end: s + t.duration });
    if (out.length >= cap) break;
  }
  return out;
}

/** Default expansion horizon when a query has no timeMax: two years after now (or after the series start). */
export function defaultHorizon(now: number, master: Json): number {
  const start = master.start?.date ? dateToUtcMs(master.start.date) : Date.parse(master.start?.dateTime ?? "");
  return Math.max(now, Number.isFinite(start) ? start : now) + 730 * DAY_MS;
}
