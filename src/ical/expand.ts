/** Recurrence instances in a range, RFC 4791 9.6.5 <expand> and 9.6.6 <limit-recurrence-set>. */
import ICAL from "ical.js";
import type { TimeRange } from "./time-range.ts";
import type { CalendarObject } from "./parse.ts";
import { ExpansionLimit, contextFor, overlaps, splitComponents, walkInstances, type RawInstance } from "./engine.ts";
import { addDays, firstTime, icalDate, icalTimeUtc } from "./values.ts";
import { wallMs } from "./timezones.ts";

export { ExpansionLimit } from "./engine.ts";

export interface Instance {
  readonly start: number;
  readonly end: number;
  /** RECURRENCE-ID of the instance: UTC DATE-TIME, or DATE for all-day series; null when not recurring. */
  readonly recurrenceId: ICAL.Time | null;
  readonly component: ICAL.Component;
}

export interface ExpandOptions {
  /** calendar-timezone TZID for floating times; null = UTC (an X-WR-TIMEZONE in the object wins). */
  floatingZone: string | null;
  maxInstances: number;
}

/** Raw instances overlapping the range, sorted by start; throws ExpansionLimit above maxInstances. */
export function rawInstancesInRange(obj: CalendarObject, range: TimeRange, opts: ExpandOptions): RawInstance[] {
  const ctx = contextFor(obj, opts.floatingZone);
  const out: RawInstance[] = [];
  walkInstances(obj, range, ctx, opts.maxInstances, (i) => {
    if (!overlaps(i, range)) return false;
    out.push(i);
    if (out.length > opts.maxInstances) {
      throw new ExpansionLimit(`more than ${opts.maxInstances} instances of '${obj.uid}' fall in the requested time-range; narrow the range`);
    }
    return false;
  });
  out.sort((a, b) => a.start - b.start || (a.rid ?? 0) - (b.rid ?? 0));
  return out;
}

export function instancesInRange(obj: CalendarObject, range: TimeRange, opts: ExpandOptions): Instance[] {
  return rawInstancesInRange(obj, range, opts).map((i) => ({
    start: Number.isNaN(i.start) ? (range.start ?? 0) : i.start,
    end: Number.isNaN(i.end) ? (range.start ?? 0) : i.end,
    recurrenceId: ridTime(i),
    component: i.component,
  }));
}

function ridTime(i: RawInstance): ICAL.Time | null {
  if (!i.recurring || i.rid === null || !i.ridValue) return null;
  return i.ridValue.date ? icalDate(i.ridValue.wall) : icalTimeUtc(i.rid);
}

function isCancelled(c: ICAL.Component): boolean {
  return String(c.getFirstPropertyValue("status") ?? "").toUpperCase() === "CANCELLED";
}

function cloneComponent(c: ICAL.Component): ICAL.Component {
  return new ICAL.Component(structuredClone(c.jCal));
}

/** A VCALENDAR with the root's properties (no METHOD) and no subcomponents. */
function emptyCalendar(obj: CalendarObject): ICAL.Component {
  const cal = new ICAL.Component("vcalendar");
  for (const p of obj.root.getAllProperties()) {
    if (p.name === "method") continue;
    cal.addProperty(new ICAL.Property(structuredClone(p.jCal)));
  }
  if (!cal.getFirstProperty("version")) cal.addPropertyWithValue("version", "2.0");
  if (!cal.getFirstProperty("prodid")) cal.addPropertyWithValue("prodid", "-//calgate//EN");
  return cal;
}

function serialise(cal: ICAL.Component): string {
  return cal.toString() + "\r\n";
}

function setTime(comp: ICAL.Component, name: string, t: ICAL.Time): void {
  let p = comp.getFirstProperty(name);
  if (!p) p = comp.addPropertyWithValue(name, t);
  p.removeParameter("tzid");
  p.removeParameter("value");
  p.resetType(t.isDate ? "date" : "date-time");
  p.setValue(t);
}

/** RFC 4791 9.6.5: every instance overlapping the range as its own component, times in UTC, no rules, no VTIMEZONE. */
export function expandCalendarData(obj: CalendarObject, range: TimeRange, opts: ExpandOptions): string {
  const ctx = contextFor(obj, opts.floatingZone);
  const cal = emptyCalendar(obj);
  for (const i of rawInstancesInRange(obj, range, opts)) {
    // A cancelled override removes its instance from the set, like an EXDATE (RFC 5545 3.8.1.11).
    if (i.recurring && isCancelled(i.component) && i.component.getFirstProperty("recurrence-id")) continue;
    const c = cloneComponent(i.component);
    for (const n of ["rrule", "rdate", "exdate", "exrule"]) c.removeAllProperties(n);
    const isOverride = !!i.component.getFirstProperty("recurrence-id") && !i.shifted;
    const endName = c.name === "vtodo" ? "due" : "dtend";
    const start = firstTime(i.component, "dtstart", ctx.root);
    if (start) {
      if (start.date) {
        if (!isOverride && i.ridValue) {
          const end = firstTime(i.component, endName, ctx.root);
          // A THISANDFUTURE override moves later instances by the days it moved its own.
          const rid = i.shifted ? firstTime(i.component, "recurrence-id", ctx.root) : null;
          const moveDays = rid ? Math.round((wallMs(start.wall) - wallMs(rid.wall)) / 86_400_000) : 0;
          const day = addDays(i.ridValue.wall, moveDays);
          setTime(c, "dtstart", icalDate(day));
          if (end?.date) setTime(c, endName, icalDate(addDays(day, Math.round((wallMs(end.wall) - wallMs(start.wall)) / 86_400_000))));
        }
      } else {
        setTime(c, "dtstart", icalTimeUtc(i.start));
        if (c.getFirstProperty(endName)) setTime(c, endName, icalTimeUtc(i.end));
      }
    } else if (c.getFirstProperty("due") && !Number.isNaN(i.end)) {
      const due = firstTime(i.component, "due", ctx.root);
      if (due && !due.date) setTime(c, "due", icalTimeUtc(i.end));
    }
    // Other TZID'd DATE-TIMEs in the component (e.g. COMPLETED written with TZID) become UTC too.
    for (const p of c.getAllProperties()) {
      if (p.name === "dtstart" || p.name === endName || p.name === "recurrence-id") continue;
      if (p.type === "date-time" && p.getParameter("tzid")) {
        const t = firstTime(c, p.name, ctx.root);
        if (t && !t.date) {
          const ms = t.zone ? t.zone.toUtc(t.wall) : ctx.floating.toUtc(t.wall);
          p.removeParameter("tzid");
          p.setValue(icalTimeUtc(ms));
        }
      }
    }
    const rid = ridTime(i);
    if (rid) {
      setTime(c, "recurrence-id", rid);
      c.getFirstProperty("recurrence-id")!.removeParameter("range"); // each instance stands for itself
    } else c.removeAllProperties("recurrence-id");
    cal.addSubcomponent(c);
  }
  return serialise(cal);
}

/** RFC 4791 9.6.6: the master plus only the overrides that affect the range; VTIMEZONEs kept. */
export function limitRecurrenceSet(obj: CalendarObject, range: TimeRange, opts: ExpandOptions): string {
  const ctx = contextFor(obj, opts.floatingZone);
  const keep = new Set<ICAL.Component>();
  const { master, overrides } = splitComponents(obj);
  if (master) keep.add(master);
  const rs = range.start ?? -Infinity;
  const re = range.end ?? Infinity;
  walkInstances(obj, range, ctx, opts.maxInstances, (i) => {
    if (i.component !== master && (overlaps(i, range) || (i.rid !== null && i.rid >= rs && i.rid < re))) keep.add(i.component);
    return false;
  }, true);
  const cal = emptyCalendar(obj);
  const main = obj.component.toLowerCase();
  const overrideSet = new Set(overrides);
  for (const c of obj.root.getAllSubcomponents()) {
    if (c.name === main && overrideSet.has(c) && !keep.has(c)) continue;
    cal.addSubcomponent(cloneComponent(c));
  }
  return serialise(cal);
}

