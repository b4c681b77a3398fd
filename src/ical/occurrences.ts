/**
 * The occurrence index's rows for one object (pure; the store keeps them, calendar-query reads them).
 *
 * Each instance becomes a "match span" [start, end): the RFC 4791 9.9 time-range test of that
 * instance, with its inclusive/exclusive edges folded in, so that the instance matches a range
 * [rs, re) exactly when rs < end && re > start (range bounds are whole milliseconds). Spans are
 * computed once at write time; a query is then a range scan instead of an expansion.
 *
 * An object's set says what it covers: every instance overlapping [coverFrom, coverTo) is a span.
 * A query inside the cover is answered from the spans; anything else (a range beyond the horizon, an
 * object over the per-object cap, a rule the engine refuses) falls back to evaluation. Floating times
 * depend on the zone a query reads them in: the spans of an object that has any are computed in UTC
 * and carry that zone's id, and a query in another zone evaluates such objects instead.
 */
import type { CalendarObject } from "./parse.ts";
import { contextFor, rrulesOf, splitComponents, walkInstances, type Context, type RawInstance, type TodoTimes } from "./engine.ts";
import { floatingZoneFor, UTC_ZONE, type Zone } from "./timezones.ts";
import type { TimeRange } from "./time-range.ts";

/** Stands for "unbounded" in the index's integer columns (the largest Date, in ms). */
export const UNBOUNDED = 8_640_000_000_000_000;
/**
 * How far ahead infinite rules are materialised: clients ask for weeks to a year or two ahead, and
 * five years keeps a weekly rule under 300 rows. Beyond it queries evaluate (and the start-up pass
 * re-extends sets whose horizon has come within a year).
 */
export const HORIZON_MS = 5 * 365 * 86_400_000;
/** An object with more instances in its cover than this is not indexed (evaluated per query instead). */
export const MAX_SPANS = 3000;
/** When the whole history is over the cap, the cover starts this far back instead. */
const RECENT_MS = 2 * 365 * 86_400_000;
/** The components whose time-range test is the instance test the spans encode. */
export const INDEXED_COMPONENTS: ReadonlySet<string> = new Set(["VEVENT", "VTODO"]);

export interface MatchSpan {
  readonly start: number;
  readonly end: number;
}

export interface OccurrenceSet {
  readonly coverFrom: number;
  readonly coverTo: number;
  /** "" when no instance depends on the floating zone; else the id of the zone the spans were computed in. */
  readonly zone: string;
  readonly spans: readonly MatchSpan[];
}

/** Nothing covered: every query evaluates the object (and the start-up pass does not retry it). */
export const NOT_INDEXED: OccurrenceSet = { coverFrom: UNBOUNDED, coverTo: -UNBOUNDED, zone: "", spans: [] };

/** The id of the zone floating times are read in for a query in `floatingZone` (a TZID, or null: UTC). */
export function floatingZoneKey(floatingZone: string | null): string {
  return floatingZoneFor(null, floatingZone).id;
}

/** Whether a set answers a query of `range` in the floating zone `zoneKey` by itself. */
export function covers(set: Pick<OccurrenceSet, "coverFrom" | "coverTo" | "zone">, range: TimeRange, zoneKey: string): boolean {
  const rs = range.start ?? -UNBOUNDED;
  const re = range.end ?? UNBOUNDED;
  return set.coverFrom <= rs && set.coverTo >= re && (set.zone === "" || set.zone === zoneKey);
}

export function spanMatches(span: MatchSpan, range: TimeRange): boolean {
  return (range.start === null || range.start < span.end) && (range.end === null || range.end > span.start);
}

const lo = (x: number): number => Math.max(-UNBOUNDED, x);
const hi = (x: number): number => Math.min(UNBOUNDED, x);

/** RFC 4791 9.9 VTODO table (engine.todoOverlaps) as a span. */
function todoSpan(t: TodoTimes): MatchSpan {
  if (t.dtstart !== null && t.duration !== null) {
    const e = t.dtstart + t.duration;
    return { start: Math.min(t.dtstart, e - 1), end: e + 1 };
  }
  if (t.dtstart !== null && t.due !== null) return { start: Math.min(t.dtstart, t.due - 1), end: Math.max(t.due, t.dtstart + 1) };
  if (t.dtstart !== null) return { start: t.dtstart, end: t.dtstart + 1 };
  if (t.due !== null) return { start: t.due - 1, end: t.due };
  if (t.completed !== null && t.created !== null) return { start: Math.min(t.created, t.completed) - 1, end: Math.max(t.created, t.completed) + 1 };
  if (t.completed !== null) return { start: t.completed - 1, end: t.completed + 1 };
  if (t.created !== null) return { start: t.created, end: t.created + 1 };
  return { start: -UNBOUNDED, end: UNBOUNDED };
}

/** The span of one instance (engine.overlaps as an interval), or null when it can never match. */
export function matchSpan(i: RawInstance): MatchSpan | null {
  if (i.todo) {
    const s = todoSpan(i.todo);
    return Number.isNaN(s.start) || Number.isNaN(s.end) ? null : { start: lo(s.start), end: hi(s.end) };
  }
  if (Number.isNaN(i.start) || Number.isNaN(i.end)) return null;
  return i.end > i.start ? { start: lo(i.start), end: hi(i.end) } : { start: lo(i.start), end: hi(i.start + 1) };
}

/** A floating zone that notes whether anything was read in it. */
function watched(base: Zone): { zone: Zone; used: () => boolean } {
  let used = false;
  return {
    zone: { id: base.id, toUtc: (w) => ((used = true), base.toUtc(w)) },
    used: () => used,
  };
}

class OverCap extends Error {}

function spansIn(obj: CalendarObject, ctx: Context, range: TimeRange): MatchSpan[] {
  const out: MatchSpan[] = [];
  walkInstances(obj, range, ctx, MAX_SPANS, (i) => {
    const s = matchSpan(i);
    if (s) out.push(s);
    if (out.length > MAX_SPANS) throw new OverCap();
    return false;
  });
  return out;
}

/** The index rows of an object, computed at `now`. Never throws: what cannot be indexed is NOT_INDEXED. */
export function occurrenceSet(obj: CalendarObject, now = Date.now()): OccurrenceSet {
  try {
    if (!INDEXED_COMPONENTS.has(obj.component)) return NOT_INDEXED;
    const base = contextFor(obj, null);
    // The object's own X-WR-TIMEZONE fixes its floating zone; otherwise the query's zone decides.
    const w = base.floating === UTC_ZONE ? watched(UTC_ZONE) : null;
    const ctx: Context = w ? { ...base, floating: w.zone } : base;
    const { master } = splitComponents(obj);
    const rules = master ? rrulesOf(master) : [];
    const finite = rules.every((r) => !!r.count || !!r.until);
    const horizon = now + HORIZON_MS;
    const attempts: [number, number][] = [[-UNBOUNDED, finite ? UNBOUNDED : horizon], [now - RECENT_MS, horizon]];
    for (const [from, to] of attempts) {
      try {
        const spans = spansIn(obj, ctx, { start: from === -UNBOUNDED ? null : from, end: to === UNBOUNDED ? null : to });
        return { coverFrom: from, coverTo: to, zone: w?.used() ? UTC_ZONE.id : "", spans: dedupe(spans) };
      } catch (e) {
        if (!(e instanceof OverCap)) throw e;
      }
    }
    return NOT_INDEXED;
  } catch {
    return NOT_INDEXED;
  }
}

function dedupe(spans: MatchSpan[]): MatchSpan[] {
  const seen = new Set<string>();
  return spans.filter((s) => {
    const k = `${s.start}/${s.end}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
