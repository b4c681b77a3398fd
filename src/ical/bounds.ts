/**
 * First start / last end of all instances of an object, for the store's indexed prefilter columns.
 * Always a superset: floating and all-day times are widened by 14 hours each way (any zone), every
 * bound by one more second (inclusive/exclusive edges of RFC 4791 9.9), and anything that cannot be
 * computed cheaply is unbounded (null). Never throws for a parsed object.
 */
import type { CalendarObject } from "./parse.ts";
import { contextFor, rrulesOf, splitComponents, walkInstances, type RawInstance } from "./engine.ts";
import { firstTime, periodValues, toUtc } from "./values.ts";
import { instancesInRange } from "./expand.ts";

const WIDEN_FLOATING = 14 * 3_600_000;
const EDGE = 1000;
/** COUNT rules up to this many instances are enumerated; larger ones get an unbounded end. */
const MAX_COUNT_ENUMERATION = 5000;

/**
 * The single instance of a plain event: one VEVENT, no RRULE/RDATE/RECURRENCE-ID, DATE-TIME start
 * not floating, positive duration. Null for everything else (those are evaluated, not indexed).
 */
export function exactInstance(obj: CalendarObject): { start: number; end: number } | null {
  try {
    if (obj.component !== "VEVENT") return null;
    const { master, overrides } = splitComponents(obj);
    if (!master || overrides.length > 0) return null;
    if (master.hasProperty("rrule") || master.hasProperty("rdate") || master.hasProperty("recurrence-id")) return null;
    const ctx = contextFor(obj, null);
    const start = firstTime(master, "dtstart", ctx.root);
    if (!start || start.floating) return null;
    const end = firstTime(master, "dtend", ctx.root);
    if (end && end.floating) return null;
    const inst = instancesInRange(obj, { start: null, end: null }, { floatingZone: null, maxInstances: 2 });
    if (inst.length !== 1) return null;
    const i = inst[0]!;
    return i.end > i.start ? { start: i.start, end: i.end } : null;
  } catch {
    return null;
  }
}

export function occurrenceBounds(obj: CalendarObject): { start: number | null; end: number | null } {
  try {
    return compute(obj);
  } catch {
    return { start: null, end: null };
  }
}

function compute(obj: CalendarObject): { start: number | null; end: number | null } {
  const ctx = contextFor(obj, null);
  const { master, overrides } = splitComponents(obj);
  let lo = Infinity;
  let hi = -Infinity;
  let openStart = false;
  let openEnd = false;
  let floating = false;
  const note = (x: number | null | undefined): void => {
    if (x === null || x === undefined || Number.isNaN(x)) return;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  };
  for (const c of master ? [master, ...overrides] : overrides) {
    for (const p of ["dtstart", "dtend", "due", "recurrence-id"]) {
      const t = firstTime(c, p, ctx.root);
      if (t?.floating) floating = true;
    }
  }

  if (obj.component === "VFREEBUSY") {
    for (const c of master ? [master, ...overrides] : overrides) {
      for (const p of ["dtstart", "dtend"]) {
        const t = firstTime(c, p, ctx.root);
        if (t) note(toUtc(t, ctx.floating));
      }
      for (const fb of c.getAllProperties("freebusy")) {
        for (const pv of periodValues(fb, ctx.root)) {
          const s = toUtc(pv.start, ctx.floating);
          note(s);
          if (pv.end) note(toUtc(pv.end, ctx.floating));
          else if (pv.duration) note(s + (pv.duration.days * 86400 + pv.duration.secs) * 1000);
        }
      }
    }
    return finish(lo, hi, false, false, floating);
  }

  const visit = (i: RawInstance): boolean => {
    if (i.todo) {
      const t = i.todo;
      if (t.dtstart === null && t.due === null && t.completed === null && t.created === null) {
        openStart = openEnd = true;
        return false;
      }
      note(t.dtstart);
      note(t.due);
      note(t.completed);
      note(t.created);
      if (t.dtstart !== null && t.duration !== null) note(t.dtstart + t.duration);
      return false;
    }
    if (Number.isNaN(i.start)) {
      // No DTSTART (e.g. VJOURNAL without a date): never matches a time-range; keep unbounded to be safe.
      openStart = openEnd = true;
      return false;
    }
    note(i.start);
    note(i.end);
    return false;
  };

  // DTSTART precedes every RRULE instance, even when EXDATE removes DTSTART itself.
  const noteDtstart = (): void => {
    const t = master ? firstTime(master, "dtstart", ctx.root) : null;
    if (t) note(toUtc(t, ctx.floating));
  };
  const rules = master ? rrulesOf(master) : [];
  const infinite = rules.some((r) => !r.count && !r.until);
  const bigCount = rules.some((r) => !!r.count && r.count > MAX_COUNT_ENUMERATION && !r.until);
  const untilOnly = rules.length > 0 && rules.every((r) => !!r.until);
  if (rules.length === 0) {
    walkInstances(obj, { start: null, end: null }, ctx, 1000, visit);
  } else if (infinite || bigCount) {
    walkInstances(obj, { start: null, end: null }, ctx, 1000, visit, true);
    noteDtstart();
    openEnd = true;
  } else if (untilOnly && master) {
    walkInstances(obj, { start: null, end: null }, ctx, 1000, visit, true);
    noteDtstart();
    const dtstart = firstTime(master, "dtstart", ctx.root);
    if (dtstart) {
      const s0 = toUtc(dtstart, ctx.floating);
      let dur = 0;
      walkInstances(obj, { start: null, end: null }, ctx, 1000, (i) => {
        if (i.component === master && i.start === s0) dur = Math.max(0, i.end - i.start, (i.todo?.due ?? s0) - s0);
        return false;
      }, true);
      for (const r of rules) {
        const u = r.until!;
        const uw = { y: u.year, mo: u.month, d: u.day, h: u.hour, mi: u.minute, s: u.second };
        let untilMs: number;
        if (u.isDate || dtstart.date) {
          untilMs = ctx.floating.toUtc({ ...uw, h: 0, mi: 0, s: 0 }) + 86_400_000;
          floating = true;
        } else if (u.zone?.tzid === "UTC") untilMs = Date.UTC(uw.y, uw.mo - 1, uw.d, uw.h, uw.mi, uw.s);
        else untilMs = toUtc({ ...dtstart, wall: uw }, ctx.floating);
        note(Math.max(untilMs, s0) + dur);
      }
    }
  } else {
    try {
      walkInstances(obj, { start: null, end: null }, ctx, 1000, visit);
    } catch {
      walkInstances(obj, { start: null, end: null }, ctx, 1000, visit, true);
      openEnd = true;
    }
  }
  return finish(lo, hi, openStart, openEnd, floating);
}

function finish(lo: number, hi: number, openStart: boolean, openEnd: boolean, floating: boolean): { start: number | null; end: number | null } {
  const widen = (floating ? WIDEN_FLOATING : 0) + EDGE;
  return {
    start: openStart || !Number.isFinite(lo) ? null : lo - widen,
    end: openEnd || !Number.isFinite(hi) ? null : hi + widen,
  };
}
