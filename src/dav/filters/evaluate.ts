/**
 * RFC 4791 9.7 filter evaluation against a parsed calendar object: recurrence-aware time-ranges
 * (9.9 tables for VEVENT/VTODO/VJOURNAL/VFREEBUSY/VALARM), prop-filter time-range/text-match,
 * param-filters, is-not-defined and RFC 4790 collations.
 */
import ICAL from "ical.js";
import type { CalendarObject } from "../../ical/parse.ts";
import type { ExpandOptions } from "../../ical/expand.ts";
import { contextFor, overlaps, walkInstances, type Context, type RawInstance } from "../../ical/engine.ts";
import { DAY_MS, addDays, periodValues, safeDuration, timeValues, toUtc } from "../../ical/values.ts";
import type { CompFilter, ParamFilter, PropFilter, TextMatch, TimeRange } from "./ast.ts";

const MAIN = new Set(["VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"]);

interface Env {
  readonly obj: CalendarObject;
  readonly ctx: Context;
  readonly opts: ExpandOptions;
}

export function matchesFilter(obj: CalendarObject, filter: CompFilter, opts: ExpandOptions): boolean {
  const env: Env = { obj, ctx: contextFor(obj, opts.floatingZone), opts };
  if (filter.name !== "VCALENDAR") return false;
  if (filter.isNotDefined) return false;
  return evalComponent(env, { comp: obj.root, instance: null }, filter);
}

interface Candidate {
  readonly comp: ICAL.Component;
  /** The instance of a main component this candidate stands for (when a time-range selected it). */
  readonly instance: RawInstance | null;
}

/** All tests of a comp-filter against one candidate component. */
function evalComponent(env: Env, cand: Candidate, f: CompFilter): boolean {
  const tests: (() => boolean)[] = [];
  for (const pf of f.propFilters) tests.push(() => evalPropFilter(env, cand.comp, pf));
  for (const cf of f.compFilters) tests.push(() => evalChildCompFilter(env, cand, cf));
  if (tests.length === 0) return true;
  return f.test === "anyof" ? tests.some((t) => t()) : tests.every((t) => t());
}

function evalChildCompFilter(env: Env, parent: Candidate, f: CompFilter): boolean {
  const subs = parent.comp.getAllSubcomponents(f.name.toLowerCase());
  if (f.isNotDefined) return subs.length === 0;
  if (subs.length === 0) return false;
  const parentIsRoot = parent.comp === env.obj.root;
  if (f.timeRange) {
    if (parentIsRoot && MAIN.has(f.name)) return someInstanceMatches(env, f, subs);
    if (f.name === "VALARM") return subs.some((alarm) => alarmMatches(env, parent, alarm, f.timeRange!) && evalComponent(env, { comp: alarm, instance: null }, f));
    return false; // time-range on other components (VTIMEZONE observances…) is not defined by RFC 4791
  }
  // Without a time-range the filter is about the object: it "has" a subcomponent (a VALARM, say) when
  // any of its components (master or override) has one, so is-not-defined must hold for all of them.
  if (parentIsRoot && f.test === "allof" && !subs.every((c) => absentIn(c, f))) return false;
  return subs.some((c) => evalComponent(env, { comp: c, instance: parentIsRoot ? null : parent.instance }, f));
}

function absentIn(c: ICAL.Component, f: CompFilter): boolean {
  return f.compFilters.every((cf) => !cf.isNotDefined || c.getAllSubcomponents(cf.name.toLowerCase()).length === 0);
}

/** Main component with a time-range: an instance must overlap, and the instance's component must pass the rest. */
function someInstanceMatches(env: Env, f: CompFilter, subs: ICAL.Component[]): boolean {
  const range = f.timeRange!;
  if (f.name === "VFREEBUSY") return subs.some((c) => freeBusyOverlaps(env, c, range) && evalComponent(env, { comp: c, instance: null }, f));
  if (env.obj.component !== f.name) return false;
  let found = false;
  const hasRest = f.propFilters.length > 0 || f.compFilters.length > 0;
  walkInstances(env.obj, range, env.ctx, env.opts.maxInstances, (i) => {
    if (!overlaps(i, range)) return false;
    if (!hasRest || evalComponent(env, { comp: i.component, instance: i }, f)) found = true;
    return found;
  });
  return found;
}

function freeBusyOverlaps(env: Env, c: ICAL.Component, range: TimeRange): boolean {
  const rs = range.start ?? -Infinity;
  const re = range.end ?? Infinity;
  const ds = c.getFirstProperty("dtstart");
  const de = c.getFirstProperty("dtend");
  if (ds && de) {
    const s = timeValues(ds, env.ctx.root)[0];
    const e = timeValues(de, env.ctx.root)[0];
    if (s && e) return rs <= toUtc(e, env.ctx.floating) && re > toUtc(s, env.ctx.floating);
  }
  for (const p of c.getAllProperties("freebusy")) {
    for (const pv of periodValues(p, env.ctx.root)) {
      const s = toUtc(pv.start, env.ctx.floating);
      const e = pv.end ? toUtc(pv.end, env.ctx.floating) : pv.duration ? s + (pv.duration.days * 86400 + pv.duration.secs) * 1000 : s;
      if (rs < e && re > s) return true;
    }
  }
  return false;
}

// ---- VALARM (RFC 4791 9.9: start <= trigger < end, for every instance and every REPEAT) ---------------

interface Trigger {
  readonly absolute: number | null;
  readonly offsetMs: number;
  readonly related: "START" | "END";
  readonly repeat: number;
  readonly repeatMs: number;
}

function triggerOf(env: Env, alarm: ICAL.Component): Trigger | null {
  const p = alarm.getFirstProperty("trigger");
  if (!p) return null;
  let repeat = Number(alarm.getFirstPropertyValue("repeat") ?? 0);
  const rd = alarm.getFirstProperty("duration");
  const rdur = rd && typeof rd.jCal[3] === "string" ? safeDuration(rd.jCal[3]) : null;
  const repeatMs = rdur ? (rdur.days * 86400 + rdur.secs) * 1000 : 0;
  if (!Number.isFinite(repeat) || repeat < 0 || !rdur) repeat = 0;
  repeat = Math.min(repeat, 1000);
  const raw = String(p.jCal[3] ?? "");
  if (p.type === "date-time" || (p.getParameter("value") ?? "").toString().toUpperCase() === "DATE-TIME") {
    const t = timeValues(p, env.ctx.root)[0];
    return t ? { absolute: toUtc(t, env.ctx.floating), offsetMs: 0, related: "START", repeat, repeatMs } : null;
  }
  const d = safeDuration(raw);
  if (!d) return null;
  const related = String(p.getParameter("related") ?? "START").toUpperCase() === "END" ? "END" : "START";
  return { absolute: null, offsetMs: (d.days * 86400 + d.secs) * 1000, related, repeat, repeatMs };
}

function alarmMatches(env: Env, parent: Candidate, alarm: ICAL.Component, range: TimeRange): boolean {
  const trig = triggerOf(env, alarm);
  if (!trig) return false;
  const rs = range.start ?? -Infinity;
  const re = range.end ?? Infinity;
  const hit = (t: number): boolean => {
    for (let k = 0; k <= trig.repeat; k++) {
      const x = t + k * trig.repeatMs;
      if (rs <= x && re > x) return true;
    }
    return false;
  };
  if (trig.absolute !== null) return hit(trig.absolute);
  const at = (i: RawInstance): number => {
    if (i.todo) {
      if (trig.related === "END") return (i.todo.due ?? (i.todo.dtstart !== null && i.todo.duration !== null ? i.todo.dtstart + i.todo.duration : NaN)) + trig.offsetMs;
      return (i.todo.dtstart ?? NaN) + trig.offsetMs;
    }
    return (trig.related === "END" ? i.end : i.start) + trig.offsetMs;
  };
  if (parent.instance) return hit(at(parent.instance));
  // Every instance of the parent component whose alarm could fall in the range.
  const reach = Math.abs(trig.offsetMs) + trig.repeat * Math.abs(trig.repeatMs) + DAY_MS;
  const widened: TimeRange = { start: range.start === null ? null : range.start - reach, end: range.end === null ? null : range.end + reach };
  let found = false;
  walkInstances(env.obj, widened, env.ctx, env.opts.maxInstances, (i) => {
    if (i.component !== parent.comp) return false;
    if (hit(at(i))) found = true;
    return found;
  });
  return found;
}

// ---- properties -------------------------------------------------------------------------------------

function evalPropFilter(env: Env, comp: ICAL.Component, f: PropFilter): boolean {
  const props = comp.getAllProperties(f.name.toLowerCase());
  if (f.isNotDefined) return props.length === 0;
  if (props.length === 0) return false;
  return props.some((p) => {
    const tests: (() => boolean)[] = [];
    if (f.timeRange) tests.push(() => propInRange(env, p, f.timeRange!));
    if (f.textMatch) tests.push(() => textMatches(propText(p), f.textMatch!));
    for (const pf of f.paramFilters) tests.push(() => evalParamFilter(p, pf));
    if (tests.length === 0) return true;
    return f.test === "anyof" ? tests.some((t) => t()) : tests.every((t) => t());
  });
}

/** RFC 4791 9.9 for DATE/DATE-TIME properties: start <= value < end (DATE: the whole day); PERIOD: overlap. */
function propInRange(env: Env, p: ICAL.Property, range: TimeRange): boolean {
  const rs = range.start ?? -Infinity;
  const re = range.end ?? Infinity;
  if (p.type === "period" || p.name === "freebusy") {
    return periodValues(p, env.ctx.root).some((pv) => {
      const s = toUtc(pv.start, env.ctx.floating);
      const e = pv.end ? toUtc(pv.end, env.ctx.floating) : pv.duration ? s + (pv.duration.days * 86400 + pv.duration.secs) * 1000 : s;
      return e > s ? rs < e && re > s : rs <= s && re > s;
    });
  }
  if (p.type !== "date-time" && p.type !== "date") return false;
  return timeValues(p, env.ctx.root).some((t) => {
    const s = toUtc(t, env.ctx.floating);
    if (t.date) {
      const e = toUtc({ ...t, wall: addDays(t.wall, 1) }, env.ctx.floating);
      return rs < e && re > s;
    }
    return rs <= s && re > s;
  });
}

function propText(p: ICAL.Property): string {
  const vals = p.getValues();
  return vals.map((v) => (v && typeof v === "object" && "toICALString" in v ? String((v as { toICALString(): string }).toICALString()) : String(v))).join(",");
}

function evalParamFilter(p: ICAL.Property, f: ParamFilter): boolean {
  const v = p.getParameter(f.name.toLowerCase());
  const present = v !== undefined && v !== null;
  if (f.isNotDefined) return !present;
  if (!present) return false;
  if (!f.textMatch) return true;
  const values = Array.isArray(v) ? v.map(String) : [String(v)];
  if (f.textMatch.negate) return !values.some((x) => textMatches(x, { ...f.textMatch!, negate: false }));
  return values.some((x) => textMatches(x, f.textMatch!));
}

function fold(s: string, collation: TextMatch["collation"]): string {
  switch (collation) {
    case "i;octet":
      return s;
    case "i;ascii-casemap":
      return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
    case "i;unicode-casemap":
      return unicodeCasemap(s);
  }
}

/** Titlecase digraphs: their simple titlecase mapping differs from the uppercase one. */
const TITLECASE: Readonly<Record<string, string>> = {
  "\u01C4": "\u01C5", "\u01C5": "\u01C5", "\u01C6": "\u01C5",
  "\u01C7": "\u01C8", "\u01C8": "\u01C8", "\u01C9": "\u01C8",
  "\u01CA": "\u01CB", "\u01CB": "\u01CB", "\u01CC": "\u01CB",
  "\u01F1": "\u01F2", "\u01F2": "\u01F2", "\u01F3": "\u01F2",
};

/**
 * RFC 5051 i;unicode-casemap: each character's simple (one-to-one) titlecase mapping, then NFKD. JS's
 * toUpperCase is the full mapping (ß → SS, final-sigma context…), so a character whose uppercase is
 * more than one character keeps itself: "straße" never equals "STRASSE", as the RFC requires.
 */
export function unicodeCasemap(s: string): string {
  let out = "";
  for (const ch of s.normalize("NFD")) {
    const t = TITLECASE[ch];
    if (t) {
      out += t;
      continue;
    }
    const up = ch.toUpperCase();
    out += [...up].length === 1 ? up : ch;
  }
  return out.normalize("NFKD");
}

export function textMatches(value: string, m: TextMatch): boolean {
  const a = fold(value, m.collation);
  const b = fold(m.value, m.collation);
  let r: boolean;
  switch (m.matchType) {
    case "equals": r = a === b; break;
    case "starts-with": r = a.startsWith(b); break;
    case "ends-with": r = a.endsWith(b); break;
    default: r = a.includes(b);
  }
  return m.negate ? !r : r;
}

