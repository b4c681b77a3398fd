/**
 * fast-check arbitrary of recurring VEVENT/VTODO objects for the occurrence-index properties: UTC,
 * TZID (with and without VTIMEZONE-less IANA names), floating and all-day starts; DTEND, DURATION or
 * neither; finite and infinite RRULEs; EXDATEs and RDATEs (many on real instances); RECURRENCE-ID
 * overrides that move or cancel an instance (some RANGE=THISANDFUTURE); X-WR-TIMEZONE; VTODO times
 * (DUE, COMPLETED, CREATED, no DTSTART).
 */
import fc from "fast-check";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BASE = Date.UTC(2024, 0, 1);

type Kind = "utc" | "tz" | "floating" | "date";

const pad = (n: number, w = 2): string => String(n).padStart(w, "0");
function fmt(wallMs: number, kind: Kind): string {
  const d = new Date(wallMs);
  const date = `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}`;
  if (kind === "date") return date;
  return `${date}T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}00${kind === "utc" ? "Z" : ""}`;
}
function prop(name: string, wallMs: number, kind: Kind, tzid: string, extra = ""): string {
  const params = kind === "date" ? ";VALUE=DATE" : kind === "tz" ? `;TZID=${tzid}` : "";
  return `${name}${params}${extra}:${fmt(wallMs, kind)}`;
}

const STEP: Record<string, number> = { DAILY: DAY, WEEKLY: 7 * DAY, MONTHLY: 30 * DAY, YEARLY: 365 * DAY };

const spec = fc.record({
  component: fc.constantFrom("VEVENT", "VEVENT", "VEVENT", "VTODO"),
  kind: fc.constantFrom<Kind>("utc", "tz", "floating", "date"),
  tzid: fc.constantFrom("Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"),
  startDay: fc.integer({ min: 0, max: 4 * 365 }),
  startMinute: fc.integer({ min: 0, max: 24 * 4 - 1 }).map((q) => q * 15),
  end: fc.constantFrom("dtend", "duration", "none", "zero"),
  lengthMinutes: fc.integer({ min: 15, max: 3 * 24 * 60 }),
  freq: fc.constantFrom("none", "DAILY", "WEEKLY", "WEEKLY", "MONTHLY", "YEARLY"),
  interval: fc.integer({ min: 1, max: 3 }),
  bound: fc.constantFrom("count", "until", "infinite", "infinite"),
  count: fc.integer({ min: 1, max: 40 }),
  untilSteps: fc.integer({ min: 1, max: 60 }),
  byday: fc.option(fc.subarray(["MO", "TU", "WE", "TH", "FR", "SA", "SU"], { minLength: 1, maxLength: 3 }), { nil: undefined }),
  exdates: fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 3 }),
  rdates: fc.array(fc.integer({ min: -20, max: 400 }), { maxLength: 2 }),
  overrides: fc.array(fc.record({ step: fc.integer({ min: 0, max: 30 }), shiftHours: fc.integer({ min: -72, max: 72 }), future: fc.boolean(), cancel: fc.boolean() }), { maxLength: 2 }),
  xwr: fc.option(fc.constantFrom("America/New_York", "Asia/Tokyo"), { nil: undefined }),
  todo: fc.record({ noStart: fc.boolean(), completed: fc.boolean(), created: fc.boolean() }),
});

export type RecurringSpec = typeof spec extends fc.Arbitrary<infer T> ? T : never;

export function recurringIcs(s: RecurringSpec, uid: string): string {
  const kind = s.kind;
  const start = BASE + s.startDay * DAY + (kind === "date" ? 0 : s.startMinute * 60_000);
  const len = kind === "date" ? Math.max(1, Math.round(s.lengthMinutes / 1440)) * DAY : s.lengthMinutes * 60_000;
  const todo = s.component === "VTODO";
  const lines: string[] = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate test//EN"];
  if (s.xwr) lines.push(`X-WR-TIMEZONE:${s.xwr}`);
  const body = (extra: string[], at: number, length: number): string[] => {
    const out = [`BEGIN:${s.component}`, `UID:${uid}`, "DTSTAMP:20240101T000000Z", ...extra];
    const noStart = todo && s.todo.noStart && s.freq === "none";
    if (!noStart) out.push(prop("DTSTART", at, kind, s.tzid));
    if (s.end === "dtend" || (noStart && s.end !== "none")) out.push(prop(todo ? "DUE" : "DTEND", at + length, kind, s.tzid));
    else if (s.end === "duration") out.push(kind === "date" ? `DURATION:P${length / DAY}D` : `DURATION:PT${length / 60_000}M`);
    else if (s.end === "zero" && kind !== "date") out.push(todo ? prop("DUE", at, kind, s.tzid) : "DURATION:PT0S");
    if (todo && s.todo.completed) out.push(prop("COMPLETED", at + length + HOUR, "utc", s.tzid));
    if (todo && s.todo.created) out.push(prop("CREATED", at - DAY, "utc", s.tzid));
    return out;
  };
  const step = STEP[s.freq] ?? DAY;
  const master = body([], start, len);
  if (s.freq !== "none") {
    const parts = [`FREQ=${s.freq}`, `INTERVAL=${s.interval}`];
    if (s.freq === "WEEKLY" && s.byday) parts.push(`BYDAY=${s.byday.join(",")}`);
    if (s.bound === "count") parts.push(`COUNT=${s.count}`);
    if (s.bound === "until") parts.push(`UNTIL=${fmt(start + s.untilSteps * step * s.interval, kind === "date" ? "date" : "utc")}`);
    master.push(`RRULE:${parts.join(";")}`);
    for (const k of s.exdates) master.push(prop("EXDATE", start + k * step * s.interval, kind, s.tzid));
    for (const k of s.rdates) master.push(prop("RDATE", start + k * DAY + (kind === "date" ? 0 : 30 * 60_000 * (k % 3)), kind, s.tzid));
  }
  master.push(`SUMMARY:${uid}`, `END:${s.component}`);
  lines.push(...master);
  if (s.freq !== "none") {
    const seen = new Set<number>();
    for (const o of s.overrides) {
      if (seen.has(o.step)) continue;
      seen.add(o.step);
      const rid = start + o.step * step * s.interval;
      const moved = kind === "date" ? rid + Math.round(o.shiftHours / 24) * DAY : rid + o.shiftHours * HOUR;
      const ov = body([prop("RECURRENCE-ID", rid, kind, s.tzid, o.future && !todo ? ";RANGE=THISANDFUTURE" : "")], moved, len);
      if (o.cancel) ov.push("STATUS:CANCELLED");
      ov.push(`SUMMARY:${uid} moved`, `END:${s.component}`);
      lines.push(...ov);
    }
  }
  lines.push("END:VCALENDAR");
  return lines.join("\r\n") + "\r\n";
}

export const recurringObject = spec;

/** Time-ranges from mid-2023 to 2033 (beyond the index's horizon too), 30 minutes to 120 days, some open-ended. */
export const timeWindow = fc
  .record({ startHour: fc.integer({ min: 0, max: 9.5 * 365 * 24 }), hours: fc.integer({ min: 1, max: 120 * 24 }), open: fc.constantFrom("none", "none", "none", "none", "start", "end") })
  .map(({ startHour, hours, open }) => {
    const start = Date.UTC(2023, 6, 1) + startHour * HOUR - (startHour % 2 ? 30 * 60_000 : 0);
    return { start: open === "start" ? null : start, end: open === "end" ? null : start + hours * HOUR };
  });

export const floatingZone = fc.constantFrom<string | null>(null, null, "Europe/Berlin", "America/New_York", "Pacific/Auckland");

/**
 * Windows on the edges of an object's instances (its k-th period's start or end, shifted by zero to
 * a few hours), where off-by-one edges, DST and floating zones decide the answer.
 */
export const edgeWindow = fc.record({
  k: fc.integer({ min: 0, max: 30 }),
  at: fc.constantFrom("start", "end"),
  shift: fc.constantFrom(0, 0, 0, 1, -1, 30 * 60_000, -30 * 60_000, HOUR, -HOUR, 5 * HOUR, -5 * HOUR, 11 * HOUR, -13 * HOUR),
  length: fc.constantFrom(1, 1000, 30 * 60_000, HOUR, DAY, 7 * DAY),
  before: fc.boolean(),
});
export type EdgeWindow = typeof edgeWindow extends fc.Arbitrary<infer T> ? T : never;

export function edgeRange(s: RecurringSpec, e: EdgeWindow): { start: number; end: number } {
  const start = BASE + s.startDay * DAY + (s.kind === "date" ? 0 : s.startMinute * 60_000);
  const len = s.kind === "date" ? Math.max(1, Math.round(s.lengthMinutes / 1440)) * DAY : s.lengthMinutes * 60_000;
  const t = start + e.k * (STEP[s.freq] ?? DAY) * s.interval + (e.at === "end" ? len : 0) + e.shift;
  return e.before ? { start: t - e.length, end: t } : { start: t, end: t + e.length };
}
