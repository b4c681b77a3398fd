/**
 * The recurrence engine behind bounds, expand, filters and free-busy: walks the instances of a
 * calendar object (master RRULE/RDATE/EXDATE + RECURRENCE-ID overrides, orphans included) in UTC.
 *
 * ical.js's RecurIterator is used only to generate wall-clock dates (UNTIL is removed from the rule and
 * applied here, in UTC, so zones ical.js cannot resolve do not shift it). Every loop is bounded:
 * simple rules are fast-forwarded to the range, total iterations are capped, and rules whose BY-parts
 * would make ical.js spin internally (e.g. FREQ=SECONDLY;BYMONTH=12, FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30)
 * are refused before iterating.
 */
import ICAL from "ical.js";
import { ExpansionLimit } from "./errors.ts";
import type { TimeRange } from "./time-range.ts";
import type { CalendarObject } from "./parse.ts";
import { floatingZoneFor, wallMs, type Wall, type Zone } from "./timezones.ts";
import {
  DAY_MS, addDays, dateKey, durationOf, firstTime, periodValues, timeValues, toUtc,
  type Dur, type TimeVal,
} from "./values.ts";

export interface EngineOptions {
  readonly floatingZone: string | null;
  readonly maxInstances: number;
}

/** One instance of a component; for VTODO the RFC 4791 9.9 inputs are kept for the time-range table. */
export interface RawInstance {
  readonly start: number;
  readonly end: number;
  /** UTC ms of the RECURRENCE-ID (for master instances of a recurring master: the instance start). */
  readonly rid: number | null;
  /** The RECURRENCE-ID as a value (DATE for all-day series). */
  readonly ridValue: TimeVal | null;
  readonly component: ICAL.Component;
  readonly allDay: boolean;
  /** Whether the component is recurring (master with RRULE/RDATE) or an override. */
  readonly recurring: boolean;
  readonly todo: TodoTimes | null;
  /** A master instance moved by a RECURRENCE-ID;RANGE=THISANDFUTURE override (component is that override). */
  readonly shifted?: boolean;
}

export interface TodoTimes {
  readonly dtstart: number | null;
  readonly duration: number | null; // ms, when DURATION is present
  readonly due: number | null;
  readonly completed: number | null;
  readonly created: number | null;
}

export { ExpansionLimit };

const MAX_ITERATIONS_FLOOR = 100_000;
const SLACK = 2 * DAY_MS;

export interface Context {
  readonly root: ICAL.Component;
  readonly floating: Zone;
}

export function contextFor(obj: CalendarObject, floatingZone: string | null): Context {
  return { root: obj.root, floating: floatingZoneFor(obj.root, floatingZone) };
}

/** Components of the object's main type, split into the master and overrides. */
export function splitComponents(obj: CalendarObject): { master: ICAL.Component | null; overrides: ICAL.Component[] } {
  let master: ICAL.Component | null = null;
  const overrides: ICAL.Component[] = [];
  const want = obj.component.toLowerCase();
  for (const c of obj.root.getAllSubcomponents(want)) {
    if (c.getFirstProperty("recurrence-id")) overrides.push(c);
    else if (!master) master = c;
  }
  return { master, overrides };
}

/** Computes the end of an instance starting at `start` (wall `wall` in zone of the series). */
interface Shape {
  /** DTSTART of the component (or null: e.g. VTODO with only DUE). */
  readonly dtstart: TimeVal | null;
  readonly startUtc: number | null;
  readonly endFor: (wall: Wall, startUtc: number, conv: (w: Wall) => number) => number;
  readonly todo: ((startUtc: number | null, endUtc: number) => TodoTimes) | null;
  readonly allDay: boolean;
}

function shapeOf(comp: ICAL.Component, ctx: Context): Shape {
  const type = comp.name.toUpperCase();
  const dtstart = firstTime(comp, "dtstart", ctx.root);
  const startUtc = dtstart ? toUtc(dtstart, ctx.floating) : null;
  const endProp = type === "VTODO" ? "due" : "dtend";
  const dtend = firstTime(comp, endProp, ctx.root);
  const dur = durationOf(comp);
  const allDay = !!dtstart?.date;
  let endFor: Shape["endFor"];
  if (dtstart && dtend) {
    if (dtstart.date && dtend.date) {
      const days = Math.round((wallMs(dtend.wall) - wallMs(dtstart.wall)) / DAY_MS);
      endFor = (w, s, conv) => (days === 0 ? s : conv(addDays(w, days)));
    } else {
      const delta = toUtc(dtend, ctx.floating) - (startUtc ?? 0);
      endFor = (_w, s) => s + delta;
    }
  } else if (dtstart && dur) {
    endFor = durEnd(dur);
  } else if (dtstart?.date && type !== "VTODO") {
    endFor = (w, _s, conv) => conv(addDays(w, 1));
  } else {
    endFor = (_w, s) => s;
  }
  let todo: Shape["todo"] = null;
  if (type === "VTODO") {
    const completed = firstTime(comp, "completed", ctx.root);
    const created = firstTime(comp, "created", ctx.root);
    const c = completed ? toUtc(completed, ctx.floating) : null;
    const cr = created ? toUtc(created, ctx.floating) : null;
    const dueUtc = dtend ? toUtc(dtend, ctx.floating) : null;
    const hasDur = !!dur && !!dtstart;
    todo = (s, e) => ({
      dtstart: dtstart ? s : null,
      duration: hasDur && s !== null ? e - s : null,
      due: dtend ? (dtstart ? e : dueUtc) : null,
      completed: c,
      created: cr,
    });
  }
  return { dtstart, startUtc, endFor, todo, allDay };
}

function durEnd(dur: Dur): Shape["endFor"] {
  return (w, s, conv) => (dur.days === 0 ? s : conv(addDays(w, dur.days)) ) + dur.secs * 1000;
}

function isThisAndFuture(c: ICAL.Component): boolean {
  const r = c.getFirstProperty("recurrence-id")?.getParameter("range");
  return typeof r === "string" && r.toUpperCase() === "THISANDFUTURE";
}

export function rrulesOf(comp: ICAL.Component): ICAL.Recur[] {
  const out: ICAL.Recur[] = [];
  for (const p of comp.getAllProperties("rrule")) {
    try {
      const v = p.getFirstValue();
      if (v instanceof ICAL.Recur) out.push(v);
    } catch {
      /* unusable rule: ignored, like most servers */
    }
  }
  return out;
}

export function isRecurring(comp: ICAL.Component): boolean {
  return !!comp.getFirstProperty("rrule") || !!comp.getFirstProperty("rdate");
}

const FREQ_SECS: Record<string, number> = { SECONDLY: 1, MINUTELY: 60, HOURLY: 3600, DAILY: 86400, WEEKLY: 604800, MONTHLY: 2_592_000, YEARLY: 31_536_000 };
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Refuses rules that would make ical.js loop without yielding (or for very long) inside one next(). */
export function ruleProblem(rule: ICAL.Recur): string | null {
  const freq = rule.freq;
  const unit = FREQ_SECS[freq];
  if (!unit) return `unsupported FREQ=${String(freq)}`;
  const parts = rule.parts as Record<string, unknown[] | undefined>;
  const has = (k: string): boolean => Array.isArray(parts[k]) && parts[k]!.length > 0;
  // ical.js's iterator loops forever inside next() on these (found by the fuzz tests): refuse them up front.
  if (has("BYWEEKNO") && freq !== "YEARLY") return `RRULE ${rule.toString()} cannot be expanded (BYWEEKNO is only allowed with FREQ=YEARLY)`;
  // RFC 5545 3.3.10: a numeric BYDAY (e.g. +2WE) MUST NOT be used unless FREQ is MONTHLY or YEARLY.
  if (has("BYDAY") && freq !== "MONTHLY" && freq !== "YEARLY" && (parts.BYDAY as unknown[]).some((d) => /\d/.test(String(d))))
    return `RRULE ${rule.toString()} cannot be expanded (a BYDAY with a number, such as +2WE, is only allowed with FREQ=MONTHLY or FREQ=YEARLY)`;
  if (has("BYMONTHDAY") && unit <= 86400 && (parts.BYMONTHDAY as number[]).some((d) => d < 0))
    return `RRULE ${rule.toString()} cannot be expanded (negative BYMONTHDAY with FREQ=${String(freq)}; use FREQ=MONTHLY)`;
  if (has("BYMONTHDAY")) {
    const months = has("BYMONTH") ? (parts.BYMONTH as number[]) : [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    const days = parts.BYMONTHDAY as number[];
    const feasible = months.some((m) => days.some((d) => Math.abs(d) >= 1 && Math.abs(d) <= (DAYS_IN_MONTH[m - 1] ?? 0)));
    if (!feasible) return `RRULE ${rule.toString()} can never match (BYMONTHDAY does not exist in BYMONTH)`;
  }
  if (freq === "MONTHLY" || freq === "YEARLY") return null;
  let gap = 0;
  if (has("BYSECOND") && unit < 60) gap = Math.max(gap, 60);
  if (has("BYMINUTE") && unit < 3600) gap = Math.max(gap, 3600);
  if (has("BYHOUR") && unit < 86400) gap = Math.max(gap, 86400);
  if ((has("BYDAY") || has("BYMONTHDAY") || has("BYYEARDAY") || has("BYWEEKNO")) && unit < 604800) gap = Math.max(gap, 366 * 86400);
  if (has("BYMONTH")) gap = Math.max(gap, 366 * 86400);
  if (has("BYMONTHDAY") || has("BYYEARDAY")) gap *= 4;
  const steps = gap / (unit * Math.max(1, rule.interval || 1));
  if (steps > 200_000) return `RRULE ${rule.toString()} is too expensive to expand (up to ${Math.round(steps)} steps between instances)`;
  return null;
}

interface WalkState {
  iterations: number;
  readonly maxIterations: number;
}

/**
 * Visits every instance that may overlap `range` (callers apply their own overlap rule), in no
 * particular order. `visit` returns true to stop early. Throws ExpansionLimit when the iteration cap is hit.
 */
export function walkInstances(obj: CalendarObject, range: TimeRange, ctx: Context, maxInstances: number, visit: (i: RawInstance) => boolean, skipRules = false): void {
  const { master, overrides } = splitComponents(obj);
  const state: WalkState = { iterations: 0, maxIterations: Math.max(MAX_ITERATIONS_FLOOR, maxInstances * 10) };
  const ridUtc = new Set<number>();
  const ridDates = new Set<number>();
  /** RANGE=THISANDFUTURE overrides (RFC 5545 3.8.4.4): each moves the master instances after it. */
  const future: { rid: number; shift: number; duration: number; comp: ICAL.Component; shape: Shape }[] = [];
  let rangeStart = range.start ?? -Infinity;
  let rangeEnd = range.end ?? Infinity;

  for (const o of overrides) {
    const rid = firstTime(o, "recurrence-id", ctx.root);
    const ridMs = rid ? toUtc(rid, ctx.floating) : null;
    if (rid && ridMs !== null) {
      ridUtc.add(ridMs);
      if (rid.date) ridDates.add(dateKey(rid.wall));
    }
    const shape = shapeOf(o, ctx);
    const s = shape.startUtc ?? ridMs;
    if (s === null) continue;
    const wall = shape.dtstart?.wall ?? rid!.wall;
    const conv = (w: Wall): number => toUtc({ ...(shape.dtstart ?? rid!), wall: w }, ctx.floating);
    const e = shape.endFor(wall, s, conv);
    const inst: RawInstance = { start: s, end: e, rid: ridMs, ridValue: rid, component: o, allDay: shape.allDay, recurring: true, todo: shape.todo ? shape.todo(shape.startUtc, e) : null };
    if (ridMs !== null && isThisAndFuture(o)) future.push({ rid: ridMs, shift: s - ridMs, duration: e - s, comp: o, shape });
    if (visit(inst)) return;
  }
  if (!master) return;
  future.sort((a, b) => b.rid - a.rid);
  // Moved instances may land in the range from outside it: widen the walk by the largest move.
  for (const f of future) {
    rangeStart -= Math.max(0, f.shift) + Math.max(0, f.duration);
    rangeEnd += Math.max(0, -f.shift);
  }

  const shape = shapeOf(master, ctx);
  const dtstart = shape.dtstart;
  if (!dtstart || shape.startUtc === null) {
    // No DTSTART (VTODO with DUE only, VJOURNAL without date): one instance without a start.
    const due = firstTime(master, "due", ctx.root);
    const d = due ? toUtc(due, ctx.floating) : null;
    const todo = shape.todo ? shape.todo(null, d ?? 0) : null;
    const at = d ?? todo?.completed ?? todo?.created ?? NaN;
    visit({ start: at, end: at, rid: null, ridValue: null, component: master, allDay: !!due?.date, recurring: false, todo });
    return;
  }
  const conv = (w: Wall): number => toUtc({ ...dtstart, wall: w }, ctx.floating);
  const recurring = isRecurring(master);
  const emit = (wall: Wall, s: number, e: number | null, rid: TimeVal | null): boolean => {
    if (ridUtc.has(s) || (ridDates.size > 0 && ridDates.has(dateKey(wall)))) return false;
    const end = e ?? shape.endFor(wall, s, conv);
    const moved = future.length > 0 ? future.find((f) => f.rid < s) : undefined;
    if (moved) {
      const ms = s + moved.shift;
      const me = ms + moved.duration;
      return visit({
        start: ms, end: me, rid: s, ridValue: rid ?? { ...dtstart, wall }, component: moved.comp, allDay: moved.shape.allDay, recurring: true,
        todo: moved.shape.todo ? moved.shape.todo(ms, me) : null, shifted: true,
      });
    }
    return visit({
      start: s, end, rid: recurring ? s : null, ridValue: recurring ? (rid ?? { ...dtstart, wall }) : null,
      component: master, allDay: shape.allDay, recurring, todo: shape.todo ? shape.todo(s, end) : null,
    });
  };
  if (!recurring) {
    emit(dtstart.wall, shape.startUtc, null, null);
    return;
  }

  // EXDATEs: exact instants, and whole days for DATE values.
  const exUtc = new Set<number>();
  const exDates = new Set<number>();
  for (const p of master.getAllProperties("exdate")) {
    for (const t of timeValues(p, ctx.root)) {
      if (t.date) exDates.add(dateKey(t.wall));
      else exUtc.add(toUtc(t, ctx.floating));
    }
  }
  const excluded = (wall: Wall, s: number): boolean => exUtc.has(s) || (exDates.size > 0 && exDates.has(dateKey(wall)));
  const seen = new Set<number>();
  const dur0 = shape.endFor(dtstart.wall, shape.startUtc, conv) - shape.startUtc;

  // RDATEs (dates, date-times, periods).
  for (const p of master.getAllProperties("rdate")) {
    for (const pv of periodValues(p, ctx.root)) {
      const st: TimeVal = pv.start.zone || pv.start.utc || !dtstart.zone || pv.start.date ? pv.start : { ...pv.start, zone: dtstart.zone, floating: false };
      const s = toUtc(st, ctx.floating);
      if (seen.has(s)) continue;
      seen.add(s);
      if (excluded(st.wall, s)) continue;
      let e: number | null = null;
      if (pv.end) e = toUtc(pv.end, ctx.floating);
      else if (pv.duration) e = (pv.duration.days ? toUtc({ ...st, wall: addDays(st.wall, pv.duration.days) }, ctx.floating) : s) + pv.duration.secs * 1000;
      else if (st.date !== dtstart.date) e = st.date ? toUtc({ ...st, wall: addDays(st.wall, 1) }, ctx.floating) : s + (dtstart.date ? 0 : dur0);
      if (s >= rangeEnd + SLACK) continue;
      if (emit(st.wall, s, e, st)) return;
    }
  }

  // DTSTART is always the first instance (RFC 5545 3.8.5.3), even when it does not match the rule.
  const rules = skipRules ? [] : rrulesOf(master);
  if (rules.length === 0) {
    if (!seen.has(shape.startUtc) && !excluded(dtstart.wall, shape.startUtc)) emit(dtstart.wall, shape.startUtc, null, null);
    return;
  }
  for (const rule of rules) {
    if (walkRule(rule, dtstart, shape.startUtc, dur0, conv, rangeStart, rangeEnd, state, seen, excluded, emit)) return;
  }
}

function walkRule(
  rule: ICAL.Recur, dtstart: TimeVal, startUtc: number, dur0: number, conv: (w: Wall) => number,
  rangeStart: number, rangeEnd: number, state: WalkState, seen: Set<number>,
  excluded: (w: Wall, s: number) => boolean, emit: (w: Wall, s: number, e: number | null, rid: TimeVal | null) => boolean,
): boolean {
  const problem = ruleProblem(rule);
  if (problem) throw new ExpansionLimit(problem);
  let r: ICAL.Recur;
  try {
    r = rule.clone(); // ical.js re-parses the rule here, and throws on values it accepted before (UNTIL=00000000T000000Z)
  } catch (e) {
    throw new ExpansionLimit(`an RRULE cannot be expanded: ${e instanceof Error ? e.message : String(e)}`);
  }
  const until = r.until;
  r.until = null;
  let untilMs: number | null = null;
  let untilDate: number | null = null;
  if (until) {
    const uw: Wall = { y: until.year, mo: until.month, d: until.day, h: until.hour, mi: until.minute, s: until.second };
    if (until.isDate || dtstart.date) untilDate = dateKey(uw);
    else if (until.zone === ICAL.Timezone.utcTimezone) untilMs = wallMs(uw);
    else untilMs = conv(uw);
  }
  // Wall-clock order and UTC order differ by at most an offset change: a few hours, a day at worst.
  const slack = (SIMPLE_UNIT[r.freq] ?? 86400) < 86400 ? 4 * 3_600_000 : SLACK;
  let start = dtstart.wall;
  // Fast-forward simple rules to just before the range.
  const ff = fastForward(r, start, startUtc, dur0, rangeStart, conv);
  if (ff) {
    start = ff.wall;
    if (r.count) r.count -= ff.skipped;
  }
  // DTSTART is the first instance even when the rule would not produce it (ical.js skips it then);
  // after a fast-forward it lies before the range, and is still reported once for callers' sets.
  const s0 = conv(dtstart.wall);
  if (!seen.has(s0) && !excluded(dtstart.wall, s0) && s0 < rangeEnd + slack) {
    seen.add(s0);
    if (emit(dtstart.wall, s0, null, null)) return true;
  }
  let it: ICAL.RecurIterator;
  try {
    it = r.iterator(new ICAL.Time({ year: start.y, month: start.mo, day: start.d, hour: start.h, minute: start.mi, second: start.s, isDate: dtstart.date }, ICAL.Timezone.localTimezone));
  } catch (e) {
    throw new ExpansionLimit(`RRULE ${rule.toString()} cannot be expanded: ${e instanceof Error ? e.message : String(e)}`);
  }
  for (;;) {
    if (++state.iterations > state.maxIterations) {
      throw new ExpansionLimit(`recurrence expansion stopped after ${state.maxIterations} iterations (RRULE ${rule.toString()}); narrow the time-range`);
    }
    let t: ICAL.Time | null;
    try {
      t = it.next();
    } catch (e) {
      throw new ExpansionLimit(`RRULE ${rule.toString()} cannot be expanded: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!t) return false;
    const wall: Wall = { y: t.year, mo: t.month, d: t.day, h: dtstart.date ? 0 : t.hour, mi: dtstart.date ? 0 : t.minute, s: dtstart.date ? 0 : t.second };
    if (untilDate !== null && dateKey(wall) > untilDate) return false;
    const s = conv(wall);
    if (untilMs !== null && s > untilMs) return false;
    if (s >= rangeEnd + slack) return false;
    if (seen.has(s)) continue;
    seen.add(s);
    if (excluded(wall, s)) continue;
    if (s + Math.max(dur0, 0) + slack < rangeStart) continue;
    if (emit(wall, s, null, null)) return true;
  }
}

const SIMPLE_UNIT: Record<string, number> = { SECONDLY: 1, MINUTELY: 60, HOURLY: 3600, DAILY: 86400, WEEKLY: 604800 };

/** For rules whose period is fixed, skip whole periods before the range (COUNT is decremented accordingly). */
function fastForward(r: ICAL.Recur, wall: Wall, startUtc: number, dur0: number, rangeStart: number, conv: (w: Wall) => number): { wall: Wall; skipped: number } | null {
  if (!Number.isFinite(rangeStart)) return null;
  const unit = SIMPLE_UNIT[r.freq];
  if (!unit) return null;
  const parts = r.parts as Record<string, unknown[] | undefined>;
  const keys = Object.keys(parts).filter((k) => Array.isArray(parts[k]) && parts[k]!.length > 0);
  const interval = Math.max(1, r.interval || 1);
  let periodSecs = unit * interval;
  if (keys.length > 0) {
    // With BY-parts the number of instances per period varies: only without COUNT, and only for
    // DAILY/WEEKLY rules restricted by weekday/time, skipping whole weeks keeps the pattern aligned.
    if (r.count) return null;
    if (r.freq !== "DAILY" && r.freq !== "WEEKLY") return null;
    if (!keys.every((k) => k === "BYDAY" || k === "BYHOUR" || k === "BYMINUTE" || k === "BYSECOND")) return null;
    if (keys.includes("BYDAY") && (parts.BYDAY as string[]).some((d) => /\d/.test(String(d)))) return null;
    periodSecs = r.freq === "DAILY" ? 7 * 86400 * interval : 604800 * interval;
  }
  const margin = unit < 86400 ? 4 * 3_600_000 : 2 * SLACK;
  const target = rangeStart - Math.max(dur0, 0) - margin;
  const periodMs = periodSecs * 1000;
  let k = Math.floor((target - startUtc) / periodMs);
  if (k < 2) return null;
  if (r.count && k >= r.count) return null;
  const step = (n: number): Wall => {
    if (periodSecs % 86400 === 0) return addDays(wall, (n * periodSecs) / 86400);
    const d = new Date(wallMs(wall) + n * periodMs);
    return { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds() };
  };
  // Wall-clock stepping drifts from UTC by offset changes; make sure we land before the range.
  let next = step(k);
  for (let tries = 0; tries < 4 && conv(next) > rangeStart - Math.max(dur0, 0) - periodMs; tries++) {
    k -= Math.ceil((conv(next) - (rangeStart - Math.max(dur0, 0))) / periodMs) + 1;
    if (k < 2) return null;
    next = step(k);
  }
  return { wall: next, skipped: keys.length > 0 ? 0 : k };
}

/** RFC 4791 9.9 overlap for an instance of VEVENT / VJOURNAL / overrides (start inclusive, end exclusive). */
export function overlaps(i: RawInstance, range: TimeRange): boolean {
  const rs = range.start ?? -Infinity;
  const re = range.end ?? Infinity;
  if (i.todo) return todoOverlaps(i.todo, rs, re);
  if (Number.isNaN(i.start)) return false;
  if (i.end > i.start) return rs < i.end && re > i.start;
  return rs <= i.start && re > i.start;
}

/** RFC 4791 9.9 VTODO table, row by row. */
export function todoOverlaps(t: TodoTimes, start: number, end: number): boolean {
  if (t.dtstart !== null && t.duration !== null) {
    const e = t.dtstart + t.duration;
    return start <= e && (end > t.dtstart || end >= e);
  }
  if (t.dtstart !== null && t.due !== null) return (start < t.due || start <= t.dtstart) && (end > t.dtstart || end >= t.due);
  if (t.dtstart !== null) return start <= t.dtstart && end > t.dtstart;
  if (t.due !== null) return start < t.due && end >= t.due;
  if (t.completed !== null && t.created !== null) return (start <= t.created || start <= t.completed) && (end >= t.created || end >= t.completed);
  if (t.completed !== null) return start <= t.completed && end >= t.completed;
  if (t.created !== null) return start <= t.created && end > t.created;
  return true;
}
