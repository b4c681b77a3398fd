/**
 * Graph patternedRecurrence ↔ RFC 5545 RRULE (docs/microsoft-fidelity.md, "Recurrence").
 * Writing refuses every RRULE Graph cannot express (TranslateRefused names the part and why); reading applies
 * Graph's first-occurrence rule (a start that does not match the pattern is not an occurrence).
 */
import { wallMs, type Wall } from "../../ical/timezones.ts";
import { TranslateRefused } from "./translate-types.ts";
import { addDays, icsDate, isoDate, parseWall } from "./translate-zones.ts";

export type Pattern = Record<string, unknown>;
export type Range = Record<string, unknown>;
export interface Recurrence { pattern: Pattern; range: Range }

const DAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"] as const;
const ICS_DAYS = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];
const INDEX: Record<string, number> = { first: 1, second: 2, third: 3, fourth: 4, last: -1 };
const INDEX_NAME: Record<string, string> = { "1": "first", "2": "second", "3": "third", "4": "fourth", "-1": "last" };

const weekday = (w: Wall): number => new Date(wallMs({ ...w, h: 0, mi: 0, s: 0 })).getUTCDay();
const dayNo = (w: Wall): number => Math.floor(wallMs({ ...w, h: 0, mi: 0, s: 0 }) / 86_400_000);
const dayIdx = (name: unknown): number => DAYS.indexOf(String(name).toLowerCase() as (typeof DAYS)[number]);
const daysOf = (p: Pattern): number[] => (Array.isArray(p.daysOfWeek) ? p.daysOfWeek.map(dayIdx).filter((d) => d >= 0) : []);
const num = (v: unknown, dflt: number): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : dflt);
const typeOf = (p: Pattern): string => String(p.type ?? "");

/** The dates of a month whose weekday is in `days`, and the one an index picks (null: none). */
function relativeDay(y: number, mo: number, days: number[], index: number): number | null {
  const dim = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  const hits: number[] = [];
  for (let d = 1; d <= dim; d++) if (days.includes(new Date(Date.UTC(y, mo - 1, d)).getUTCDay())) hits.push(d);
  return (index === -1 ? hits[hits.length - 1] : hits[index - 1]) ?? null;
}

/** Whether `date` is an occurrence date of the pattern for a series starting (phase) at `start`. */
export function occursOn(p: Pattern, start: Wall, date: Wall): boolean {
  const n = num(p.interval, 1);
  const months = (date.y - start.y) * 12 + date.mo - start.mo;
  const idx = INDEX[String(p.index ?? "first").toLowerCase()] ?? 1;
  switch (typeOf(p)) {
    case "daily": return (dayNo(date) - dayNo(start)) % n === 0;
    case "weekly": {
      const fdow = Math.max(0, dayIdx(p.firstDayOfWeek ?? "sunday"));
      const weekStart = dayNo(start) - ((weekday(start) - fdow + 7) % 7);
      return daysOf(p).includes(weekday(date)) && Math.floor((dayNo(date) - weekStart) / 7) % n === 0;
    }
    case "absoluteMonthly": return months % n === 0 && date.d === num(p.dayOfMonth, 0);
    case "relativeMonthly": return months % n === 0 && relativeDay(date.y, date.mo, daysOf(p), idx) === date.d;
    case "absoluteYearly": return (date.y - start.y) % n === 0 && date.mo === num(p.month, 0) && date.d === num(p.dayOfMonth, 0);
    case "relativeYearly": return (date.y - start.y) % n === 0 && date.mo === num(p.month, 0) && relativeDay(date.y, date.mo, daysOf(p), idx) === date.d;
    default: return false;
  }
}

/** Graph's first occurrence: the first date ≥ start matching the pattern (null if none within 40 years). */
export function firstOccurrence(p: Pattern, start: Wall): Wall | null {
  for (let i = 0; i < 366 * 40; i++) {
    const d = addDays(start, i);
    if (occursOn(p, start, d)) return d;
  }
  return null;
}

// ---- Graph → RRULE ---------------------------------------------------------------------------------

export interface UntilStyle {
  /** All-day series: UNTIL is a DATE. */
  readonly date: boolean;
  /** Timed series: the UNTIL text for the end of a local date (UTC "…Z", or local for floating series). */
  readonly endOfDay: (d: Wall) => string;
}

/** The RRULE value of a Graph recurrence. */
export function recurrenceToRrule(r: Recurrence, until: UntilStyle): string {
  const p = r.pattern;
  const t = typeOf(p);
  const n = num(p.interval, 1);
  const days = daysOf(p).map((d) => ICS_DAYS[d]!);
  const idx = INDEX[String(p.index ?? "first").toLowerCase()] ?? 1;
  const relative = days.length === 1 ? [`BYDAY=${idx}${days[0]}`] : [`BYDAY=${days.join(",")}`, `BYSETPOS=${idx}`];
  const parts: string[] = [];
  switch (t) {
    case "daily": parts.push("FREQ=DAILY"); break;
    case "weekly": parts.push("FREQ=WEEKLY", `BYDAY=${days.join(",")}`, `WKST=${ICS_DAYS[Math.max(0, dayIdx(p.firstDayOfWeek ?? "sunday"))]}`); break;
    case "absoluteMonthly": parts.push("FREQ=MONTHLY", `BYMONTHDAY=${num(p.dayOfMonth, 1)}`); break;
    case "relativeMonthly": parts.push("FREQ=MONTHLY", ...relative); break;
    case "absoluteYearly": parts.push("FREQ=YEARLY", `BYMONTH=${num(p.month, 1)}`, `BYMONTHDAY=${num(p.dayOfMonth, 1)}`); break;
    case "relativeYearly": parts.push("FREQ=YEARLY", `BYMONTH=${num(p.month, 1)}`, ...relative); break;
    default: throw new TranslateRefused(`recurrence pattern type '${t}' is unknown`);
  }
  if (n > 1) parts.splice(1, 0, `INTERVAL=${n}`);
  const rt = String(r.range.type ?? "noEnd");
  if (rt === "numbered") parts.push(`COUNT=${num(r.range.numberOfOccurrences, 1)}`);
  else if (rt === "endDate") {
    const e = parseWall(String(r.range.endDate ?? ""));
    if (!e) throw new TranslateRefused(`recurrence range endDate '${String(r.range.endDate)}' is not a date`);
    parts.push(`UNTIL=${until.date ? icsDate(e) : until.endOfDay(e)}`);
  }
  return parts.join(";");
}

// ---- RRULE → Graph ---------------------------------------------------------------------------------

interface Parsed { readonly parts: Map<string, string>; readonly text: string }

function parseRrule(text: string): Parsed {
  const parts = new Map<string, string>();
  for (const item of text.split(";")) {
    if (item === "") continue;
    const eq = item.indexOf("=");
    const k = (eq < 0 ? item : item.slice(0, eq)).toUpperCase();
    if (parts.has(k)) throw new TranslateRefused(`RRULE ${text}: ${k} appears twice`);
    parts.set(k, eq < 0 ? "" : item.slice(eq + 1).toUpperCase());
  }
  return { parts, text };
}

export interface SeriesStart {
  /** DTSTART wall clock in the series zone (DATE: midnight). */
  readonly wall: Wall;
  readonly date: boolean;
  /** Instant of a local wall clock in the series zone (timed series). */
  readonly toUtc: (w: Wall) => number;
  /** Instant of an UNTIL value (UTC, floating = series zone) or null when it is a DATE. */
  readonly untilMs: (raw: string) => number | null;
  /** Local wall clock of an instant in the series zone. */
  readonly wallOfMs: (ms: number) => Wall;
  readonly recurrenceTimeZone: string;
}

const refuse = (rr: Parsed, why: string): never => {
  throw new TranslateRefused(`RRULE ${rr.text}: ${why}`);
};

function byDay(rr: Parsed): { ord: number | null; day: number }[] {
  const v = rr.parts.get("BYDAY");
  if (v === undefined) return [];
  return v.split(",").map((item) => {
    const m = /^([+-]?\d{1,2})?(SU|MO|TU|WE|TH|FR|SA)$/.exec(item);
    if (!m) return refuse(rr, `BYDAY value '${item}' is not a weekday`);
    return { ord: m[1] === undefined ? null : Number(m[1]), day: ICS_DAYS.indexOf(m[2]!) };
  });
}

function single(rr: Parsed, key: string, lo: number, hi: number, what: string): number | null {
  const v = rr.parts.get(key);
  if (v === undefined) return null;
  if (v.includes(",")) refuse(rr, `Outlook recurrence patterns have one ${what}`);
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo || n > hi) refuse(rr, `${key}=${v}: Outlook recurrence patterns take a ${what} from ${lo} to ${hi}`);
  return n;
}

/** Relative (index + days) part of a MONTHLY/YEARLY rule, or null when it has no BYDAY. */
function relativePart(rr: Parsed): { index: string; daysOfWeek: string[] } | null {
  const days = byDay(rr);
  const setpos = rr.parts.get("BYSETPOS");
  if (days.length === 0) {
    if (setpos !== undefined) refuse(rr, "BYSETPOS without BYDAY has no Outlook equivalent");
    return null;
  }
  const ords = [...new Set(days.map((d) => d.ord))];
  let index: number;
  if (ords.length === 1 && ords[0] !== null) {
    if (days.length > 1) refuse(rr, "several weekdays with an ordinal give several occurrences per period; Outlook patterns have one");
    if (setpos !== undefined) refuse(rr, "BYDAY ordinals together with BYSETPOS have no Outlook equivalent");
    index = ords[0]!;
  } else if (ords.length === 1 && setpos !== undefined) {
    if (setpos.includes(",")) refuse(rr, "Outlook recurrence patterns have one BYSETPOS position");
    index = Number(setpos);
  } else if (ords.length === 1) {
    return refuse(rr, "every matching weekday of the period (BYDAY without ordinal or BYSETPOS) has no Outlook equivalent");
  } else return refuse(rr, "mixed BYDAY ordinals have no Outlook equivalent");
  const name = INDEX_NAME[String(index)];
  if (!name) refuse(rr, `position ${index}: Outlook patterns take first, second, third, fourth or last (1..4, -1)`);
  return { index: name!, daysOfWeek: days.map((d) => DAYS[d.day]!) };
}

function checkParts(rr: Parsed, s: SeriesStart): void {
  const allowed = new Set(["FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "WKST", "BYHOUR", "BYMINUTE", "BYSECOND"]);
  for (const k of rr.parts.keys()) if (!allowed.has(k)) refuse(rr, `${k} has no Outlook equivalent`);
  const own: Record<string, number> = { BYHOUR: s.wall.h, BYMINUTE: s.wall.mi, BYSECOND: s.wall.s };
  for (const [k, v] of Object.entries(own)) {
    const got = rr.parts.get(k);
    if (got !== undefined && (s.date || got !== String(v) && Number(got) !== v)) refuse(rr, `${k}=${got}: Outlook series have one occurrence per day, at the start time`);
  }
  if (rr.parts.has("COUNT") && rr.parts.has("UNTIL")) refuse(rr, "COUNT and UNTIL together are invalid (RFC 5545 3.3.10)");
  const iv = rr.parts.get("INTERVAL");
  if (iv !== undefined && !(Number.isInteger(Number(iv)) && Number(iv) >= 1 && Number(iv) <= 999)) refuse(rr, `INTERVAL=${iv}: Outlook takes an interval from 1 to 999`);
}

function patternOf(rr: Parsed, s: SeriesStart): Pattern {
  const freq = rr.parts.get("FREQ") ?? "";
  const interval = Number(rr.parts.get("INTERVAL") ?? 1);
  const wkst = rr.parts.get("WKST") ?? "MO";
  const fdow = DAYS[ICS_DAYS.indexOf(wkst)] ?? refuse(rr, `WKST=${wkst} is not a weekday`);
  const has = (k: string): boolean => rr.parts.has(k);
  const noPeriodParts = (what: string): void => {
    for (const k of ["BYMONTH", "BYMONTHDAY", "BYSETPOS"]) if (has(k)) refuse(rr, `${k} in a ${what} rule has no Outlook equivalent`);
  };
  if (freq === "DAILY") {
    noPeriodParts("DAILY");
    const days = byDay(rr);
    if (days.length === 0) return { type: "daily", interval };
    if (days.some((d) => d.ord !== null) || interval !== 1) refuse(rr, "BYDAY in a DAILY rule is only expressible with INTERVAL=1 and plain weekdays (as a weekly pattern)");
    return { type: "weekly", interval: 1, daysOfWeek: days.map((d) => DAYS[d.day]!), firstDayOfWeek: fdow };
  }
  if (freq === "WEEKLY") {
    noPeriodParts("WEEKLY");
    const days = byDay(rr);
    if (days.some((d) => d.ord !== null)) refuse(rr, "BYDAY ordinals in a WEEKLY rule have no Outlook equivalent");
    const list = days.length > 0 ? days.map((d) => DAYS[d.day]!) : [DAYS[weekday(s.wall)]!];
    return { type: "weekly", interval, daysOfWeek: list, firstDayOfWeek: fdow };
  }
  if (freq === "MONTHLY" || freq === "YEARLY") {
    const yearly = freq === "YEARLY";
    if (!yearly && has("BYMONTH")) refuse(rr, "BYMONTH in a MONTHLY rule has no Outlook equivalent");
    const month = yearly ? single(rr, "BYMONTH", 1, 12, "month") : null;
    const dom = single(rr, "BYMONTHDAY", 1, 31, "day of the month");
    if (dom !== null && has("BYDAY")) refuse(rr, "BYMONTHDAY together with BYDAY has no Outlook equivalent");
    const rel = relativePart(rr);
    if (yearly && month === null && (dom !== null || rel)) refuse(rr, "a YEARLY rule with BYDAY or BYMONTHDAY but no BYMONTH repeats in every month; Outlook yearly patterns name one month");
    const m = yearly ? { month: month ?? s.wall.mo } : {};
    if (rel) return { type: yearly ? "relativeYearly" : "relativeMonthly", interval, ...rel, ...m };
    return { type: yearly ? "absoluteYearly" : "absoluteMonthly", interval, dayOfMonth: dom ?? s.wall.d, ...m };
  }
  return refuse(rr, `FREQ=${freq || "(none)"}: Outlook recurrence patterns are daily, weekly, monthly or yearly`);
}

function rangeOf(rr: Parsed, s: SeriesStart): Range {
  const startDate = isoDate(s.wall);
  const base = { startDate, recurrenceTimeZone: s.recurrenceTimeZone };
  const count = rr.parts.get("COUNT");
  if (count !== undefined) {
    const n = Number(count);
    if (!Number.isInteger(n) || n < 1) refuse(rr, `COUNT=${count} is not a positive number`);
    return { type: "numbered", ...base, numberOfOccurrences: n };
  }
  const until = rr.parts.get("UNTIL");
  if (until === undefined) return { type: "noEnd", ...base };
  const uw = parseWall(until) ?? refuse(rr, `UNTIL=${until} is not a DATE or DATE-TIME`);
  let end: Wall = { ...uw, h: 0, mi: 0, s: 0 };
  const ms = s.untilMs(until);
  if (ms !== null && !s.date) {
    // The last local date whose occurrence (at the start's time of day) is not after UNTIL.
    end = { ...s.wallOfMs(ms), h: 0, mi: 0, s: 0 };
    if (s.toUtc({ ...end, h: s.wall.h, mi: s.wall.mi, s: s.wall.s }) > ms) end = addDays(end, -1);
  }
  if (wallMs(end) < wallMs({ ...s.wall, h: 0, mi: 0, s: 0 })) refuse(rr, `UNTIL=${until} is before DTSTART; Outlook needs an end date on or after the start date`);
  return { type: "endDate", ...base, endDate: isoDate(end) };
}

/** Graph recurrence for an RRULE value, or TranslateRefused when Graph cannot express it. */
export function rruleToRecurrence(text: string, s: SeriesStart): Recurrence {
  const rr = parseRrule(text);
  checkParts(rr, s);
  const pattern = patternOf(rr, s);
  if (!occursOn(pattern, s.wall, s.wall)) {
    refuse(rr, `DTSTART ${s.date ? icsDate(s.wall) : isoDate(s.wall) + "T" + String(s.wall.h).padStart(2, "0") + ":" + String(s.wall.mi).padStart(2, "0")} is not an occurrence of the rule; RFC 5545 counts it anyway, Outlook does not (make DTSTART the first occurrence)`);
  }
  return { pattern, range: rangeOf(rr, s) };
}
