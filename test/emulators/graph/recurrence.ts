/**
 * patternedRecurrence validation and expansion by Graph's rules (reference §4; recurrence
 * reference §1): the first occurrence is the first date ≥ range.startDate matching the pattern (a
 * non-matching master start is NOT an occurrence, unlike RFC 5545), relative patterns with several
 * days give one occurrence per period (BYSETPOS semantics), range.endDate is inclusive, numbered
 * counts real occurrences. Expansion works on local dates of the recurrence zone.
 */
import { E } from "./errors.ts";
import { daysInMonth, dateOf, dayNum, isDate, isPlainObject, weekday } from "./util.ts";

export const DAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"] as const;
const INDEX = ["first", "second", "third", "fourth", "last"] as const;
const PATTERNS = ["daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly"] as const;
const RANGES = ["endDate", "noEnd", "numbered"] as const;

export interface Pattern {
  type: (typeof PATTERNS)[number];
  interval: number;
  daysOfWeek: string[];
  dayOfMonth: number;
  month: number;
  index: (typeof INDEX)[number];
  firstDayOfWeek: string;
}
export interface Range {
  type: (typeof RANGES)[number];
  startDate: string;
  endDate?: string;
  numberOfOccurrences: number;
  recurrenceTimeZone?: string;
}
export interface Recurrence { pattern: Pattern; range: Range }

const bad = (m: string) => E.validation(m);
const intIn = (v: unknown, lo: number, hi: number): v is number => typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi;

/**
 * Validates a patternedRecurrence as a write would. Every supplied property is validated even if
 * the type ignores it; zero/empty values (what Graph itself returns for unused fields) mean unset.
 * `masterStartDate` is the local date of the event's start: range.startDate must equal it.
 */
export function parseRecurrence(v: unknown, masterStartDate: string, validZone: (z: string) => boolean): Recurrence {
  if (!isPlainObject(v) || !isPlainObject(v.pattern) || !isPlainObject(v.range)) throw bad("The recurrence must have a pattern and a range.");
  const p = v.pattern;
  const r = v.range;
  if (!PATTERNS.includes(p.type)) throw bad(`Invalid value for pattern type: '${String(p.type)}'.`);
  if (!intIn(p.interval, 1, 999)) throw bad("The recurrence pattern interval must be a positive integer.");
  const days = p.daysOfWeek ?? [];
  if (!Array.isArray(days)) throw bad("daysOfWeek must be a collection.");
  const daysOfWeek = days.map((d: unknown) => {
    const n = typeof d === "string" ? d.toLowerCase() : "";
    if (!(DAYS as readonly string[]).includes(n)) throw bad(`Invalid value for daysOfWeek: '${String(d)}'.`);
    return n;
  });
  if (new Set(daysOfWeek).size !== daysOfWeek.length) throw bad("daysOfWeek must not repeat a day.");
  if (p.dayOfMonth !== undefined && p.dayOfMonth !== null && !intIn(p.dayOfMonth, 0, 31)) throw bad("dayOfMonth must be between 1 and 31.");
  if (p.month !== undefined && p.month !== null && !intIn(p.month, 0, 12)) throw bad("month must be between 1 and 12.");
  const index = p.index === undefined || p.index === null ? "first" : String(p.index).toLowerCase();
  if (!(INDEX as readonly string[]).includes(index)) throw bad(`Invalid value for index: '${String(p.index)}'.`);
  const fdw = p.firstDayOfWeek === undefined || p.firstDayOfWeek === null ? "sunday" : String(p.firstDayOfWeek).toLowerCase();
  if (!(DAYS as readonly string[]).includes(fdw)) throw bad(`Invalid value for firstDayOfWeek: '${String(p.firstDayOfWeek)}'.`);
  const pattern: Pattern = {
    type: p.type, interval: p.interval, daysOfWeek, dayOfMonth: p.dayOfMonth ?? 0, month: p.month ?? 0, index: index as Pattern["index"], firstDayOfWeek: fdw,
  };
  const needDays = ["weekly", "relativeMonthly", "relativeYearly"].includes(pattern.type);
  if (needDays && daysOfWeek.length === 0) throw bad(`daysOfWeek is required for a ${pattern.type} pattern.`);
  if (!needDays && daysOfWeek.length > 0) throw bad(`daysOfWeek is not supported for a ${pattern.type} pattern.`);
  if (["absoluteMonthly", "absoluteYearly"].includes(pattern.type) && pattern.dayOfMonth === 0) throw bad(`dayOfMonth is required for a ${pattern.type} pattern.`);
  if (!["absoluteMonthly", "absoluteYearly"].includes(pattern.type) && pattern.dayOfMonth !== 0) throw bad(`dayOfMonth is not supported for a ${pattern.type} pattern.`);
  if (pattern.type.endsWith("Yearly") && pattern.month === 0) throw bad(`month is required for a ${pattern.type} pattern.`);
  if (!pattern.type.endsWith("Yearly") && pattern.month !== 0) throw bad(`month is not supported for a ${pattern.type} pattern.`);
  if (pattern.type === "absoluteYearly" && pattern.dayOfMonth > daysInMonth(2024, pattern.month)) throw bad("dayOfMonth is not valid for that month.");

  if (!RANGES.includes(r.type)) throw bad(`Invalid value for range type: '${String(r.type)}'.`);
  if (!isDate(r.startDate)) throw bad("The recurrence range startDate is required (yyyy-MM-dd).");
  if (r.startDate !== masterStartDate) {
    throw bad("The start date of the recurrence range must be the same as the date of the event's start.");
  }
  const range: Range = { type: r.type, startDate: r.startDate, numberOfOccurrences: r.numberOfOccurrences ?? 0 };
  if (r.type === "endDate") {
    if (!isDate(r.endDate)) throw bad("The recurrence range endDate is required for an endDate range.");
    if (r.endDate < r.startDate) throw bad("The recurrence range endDate must not be before its startDate.");
    range.endDate = r.endDate;
  } else if (r.endDate !== undefined && r.endDate !== null && r.endDate !== "0001-01-01") {
    throw bad(`endDate is not supported for a ${r.type} range.`);
  }
  if (r.type === "numbered") {
    if (!intIn(r.numberOfOccurrences, 1, 999)) throw bad("numberOfOccurrences must be a positive number for a numbered range.");
  } else if (r.numberOfOccurrences !== undefined && r.numberOfOccurrences !== null && r.numberOfOccurrences !== 0) {
    throw bad(`numberOfOccurrences is not supported for a ${r.type} range.`);
  }
  if (r.recurrenceTimeZone !== undefined && r.recurrenceTimeZone !== null && r.recurrenceTimeZone !== "") {
    if (typeof r.recurrenceTimeZone !== "string" || !validZone(r.recurrenceTimeZone)) throw E.timeZone(String(r.recurrenceTimeZone));
    range.recurrenceTimeZone = r.recurrenceTimeZone;
  }
  return { pattern, range };
}

/** Graph's response shape: every field present, zero-filled when unused (sample: relativeMonthly). */
export function renderRecurrence(r: Recurrence, zone: string): unknown {
  return {
    pattern: {
      type: r.pattern.type, interval: r.pattern.interval, month: r.pattern.month, dayOfMonth: r.pattern.dayOfMonth,
      daysOfWeek: [...r.pattern.daysOfWeek], firstDayOfWeek: r.pattern.firstDayOfWeek, index: r.pattern.index,
    },
    range: {
      type: r.range.type, startDate: r.range.startDate, endDate: r.range.endDate ?? "0001-01-01",
      recurrenceTimeZone: r.range.recurrenceTimeZone ?? zone, numberOfOccurrences: r.range.numberOfOccurrences,
    },
  };
}

const dowNum = (d: string): number => DAYS.indexOf(d as (typeof DAYS)[number]);

function nthInMonth(y: number, mo: number, days: string[], index: Pattern["index"]): number | undefined {
  const first = dayNum(`${y}-${String(mo).padStart(2, "0")}-01`);
  const wanted = new Set(days.map(dowNum));
  const matches: number[] = [];
  for (let i = 0; i < daysInMonth(y, mo); i++) if (wanted.has(weekday(first + i))) matches.push(first + i);
  if (index === "last") return matches[matches.length - 1];
  return matches[INDEX.indexOf(index)];
}

function clampDay(y: number, mo: number, d: number): number {
  // Outlook: a dayOfMonth the month lacks falls on the month's last day (recurrence reference §1).
  return dayNum(`${y}-${String(mo).padStart(2, "0")}-${String(Math.min(d, daysInMonth(y, mo))).padStart(2, "0")}`);
}

/**
 * Occurrence dates (yyyy-mm-dd, local to the recurrence zone) from range.startDate, in order,
 * stopping after `untilDate` (inclusive) or the range's own end.
 */
export function* occurrenceDates(r: Recurrence, untilDate: string): Generator<string> {
  const start = dayNum(r.range.startDate);
  const last = Math.min(dayNum(untilDate), r.range.type === "endDate" ? dayNum(r.range.endDate!) : Infinity);
  let count = 0;
  const max = r.range.type === "numbered" ? r.range.numberOfOccurrences : Infinity;
  const p = r.pattern;
  const emit = function* (days: number[]): Generator<string, boolean> {
    for (const d of days.sort((a, b) => a - b)) {
      if (d < start) continue;
      if (d > last || count >= max) return false;
      count++;
      yield dateOf(d);
    }
    return true;
  };
  const sy = +r.range.startDate.slice(0, 4);
  const sm = +r.range.startDate.slice(5, 7);
  for (let k = 0; k < 100_000; k++) {
    let days: number[];
    if (p.type === "daily") {
      days = [start + k * p.interval];
    } else if (p.type === "weekly") {
      const weekStart = start - ((weekday(start) - dowNum(p.firstDayOfWeek) + 7) % 7) + k * 7 * p.interval;
      days = p.daysOfWeek.map((d) => weekStart + ((dowNum(d) - dowNum(p.firstDayOfWeek) + 7) % 7));
    } else if (p.type === "absoluteMonthly" || p.type === "relativeMonthly") {
      const m0 = sm - 1 + k * p.interval;
      const y = sy + Math.floor(m0 / 12);
      const mo = (m0 % 12) + 1;
      const d = p.type === "absoluteMonthly" ? clampDay(y, mo, p.dayOfMonth) : nthInMonth(y, mo, p.daysOfWeek, p.index);
      days = d === undefined ? [] : [d];
    } else {
      const y = sy + k * p.interval;
      if (p.type === "absoluteYearly") {
        days = p.dayOfMonth <= daysInMonth(y, p.month) ? [dayNum(`${y}-${String(p.month).padStart(2, "0")}-${String(p.dayOfMonth).padStart(2, "0")}`)] : [];
      } else {
        const d = nthInMonth(y, p.month, p.daysOfWeek, p.index);
        days = d === undefined ? [] : [d];
      }
    }
    const periodStart = Math.min(...days, Infinity);
    if (days.length > 0 && periodStart > last) return;
    const more = yield* emit(days);
    if (!more) return;
  }
}

/** Whether `date` is an occurrence date of the series. */
export function isOccurrenceDate(r: Recurrence, date: string): boolean {
  for (const d of occurrenceDates(r, date)) if (d === date) return true;
  return false;
}
