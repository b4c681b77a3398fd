/** CALDAV:calendar-data in a prop request (RFC 4791 9.6): comp/prop selection, expand, limit-*-set. */
import ICAL from "ical.js";
import { cal as C, splitClark } from "../../xml/names.ts";
import { child, elements, type XmlElement } from "../../xml/tree.ts";
import { DavError, Conditions } from "../errors.ts";
import type { CalendarObject } from "../../ical/parse.ts";
import { expandCalendarData, limitRecurrenceSet, type ExpandOptions } from "../../ical/expand.ts";
import { contextFor } from "../../ical/engine.ts";
import { periodValues, toUtc } from "../../ical/values.ts";
import type { TimeRange } from "./ast.ts";
import { parseTimeRange } from "./parse.ts";

export interface PropSelector {
  readonly name: string; // upper-case
  readonly novalue: boolean;
}
export interface CompSelector {
  readonly name: string; // upper-case
  /** null = all properties (C:allprop); otherwise only these (possibly none). */
  readonly props: readonly PropSelector[] | null;
  /** null = all subcomponents (C:allcomp); otherwise only these (possibly none). */
  readonly comps: readonly CompSelector[] | null;
}
export interface CalendarDataSpec {
  comp: CompSelector | null;
  expand: TimeRange | null;
  limitRecurrenceSet: TimeRange | null;
  limitFreebusySet: TimeRange | null;
}

const bad = (msg: string): DavError => new DavError(400, msg, Conditions.validCalendarData);

function parseComp(el: XmlElement): CompSelector {
  const name = el.attrs["name"];
  if (!name) throw bad("CALDAV:comp needs a name attribute");
  const allprop = !!child(el, C("allprop"));
  const allcomp = !!child(el, C("allcomp"));
  const props = elements(el, C("prop")).map((p): PropSelector => {
    const n = p.attrs["name"];
    if (!n) throw bad("CALDAV:prop needs a name attribute");
    const nv = p.attrs["novalue"] ?? "no";
    if (nv !== "yes" && nv !== "no") throw bad(`novalue="${nv}"; expected "yes" or "no"`);
    return { name: n.toUpperCase(), novalue: nv === "yes" };
  });
  const comps = elements(el, C("comp")).map(parseComp);
  if (allprop && props.length) throw bad("CALDAV:comp cannot have both allprop and prop");
  if (allcomp && comps.length) throw bad("CALDAV:comp cannot have both allcomp and comp");
  return { name: name.toUpperCase(), props: allprop ? null : props, comps: allcomp ? null : comps };
}

export function parseCalendarDataRequest(el: XmlElement): CalendarDataSpec {
  const ct = (el.attrs["content-type"] ?? "text/calendar").split(";")[0]!.trim().toLowerCase();
  const version = (el.attrs["version"] ?? "2.0").trim();
  if (ct !== "text/calendar" || version !== "2.0") {
    throw new DavError(403, `calendar-data as ${ct} version ${version} is not supported; only text/calendar version 2.0`, Conditions.supportedCalendarData);
  }
  const compEl = child(el, C("comp"));
  const comp = compEl ? parseComp(compEl) : null;
  if (comp && comp.name !== "VCALENDAR") throw bad(`the top-level CALDAV:comp must be name="VCALENDAR", found "${comp.name}"`);
  const expandEl = child(el, C("expand"));
  const lrsEl = child(el, C("limit-recurrence-set"));
  const lfsEl = child(el, C("limit-freebusy-set"));
  if (expandEl && lrsEl) throw bad("CALDAV:expand and CALDAV:limit-recurrence-set cannot be combined");
  for (const c of elements(el)) {
    const { local } = splitClark(c.name);
    if (c.name.startsWith("{urn:ietf:params:xml:ns:caldav}") && !["comp", "expand", "limit-recurrence-set", "limit-freebusy-set"].includes(local)) {
      throw bad(`CALDAV:${local} is not allowed inside CALDAV:calendar-data`);
    }
  }
  return {
    comp,
    expand: expandEl ? parseTimeRange(expandEl, { requireBoth: true }) : null,
    limitRecurrenceSet: lrsEl ? parseTimeRange(lrsEl, { requireBoth: true }) : null,
    limitFreebusySet: lfsEl ? parseTimeRange(lfsEl, { requireBoth: true }) : null,
  };
}

function select(c: ICAL.Component, sel: CompSelector): ICAL.Component {
  const out = new ICAL.Component(c.name);
  for (const p of c.getAllProperties()) {
    let novalue = false;
    if (sel.props !== null) {
      const hit = sel.props.find((x) => x.name === p.name.toUpperCase());
      if (!hit) continue;
      novalue = hit.novalue;
    }
    const copy = new ICAL.Property(structuredClone(p.jCal));
    if (novalue) copy.jCal.splice(3, copy.jCal.length - 3, "");
    out.addProperty(copy);
  }
  for (const sub of c.getAllSubcomponents()) {
    if (sel.comps === null) out.addSubcomponent(new ICAL.Component(structuredClone(sub.jCal)));
    else {
      const s = sel.comps.find((x) => x.name === sub.name.toUpperCase());
      if (s) out.addSubcomponent(select(sub, s));
    }
  }
  return out;
}

function limitFreebusy(root: ICAL.Component, obj: CalendarObject, range: TimeRange, opts: ExpandOptions): void {
  const ctx = contextFor(obj, opts.floatingZone);
  const rs = range.start ?? -Infinity;
  const re = range.end ?? Infinity;
  for (const fb of root.getAllSubcomponents("vfreebusy")) {
    for (const p of fb.getAllProperties("freebusy")) {
      const keep: unknown[] = [];
      const pvs = periodValues(p, ctx.root);
      const raw = p.jCal.slice(3);
      pvs.forEach((pv, idx) => {
        const s = toUtc(pv.start, ctx.floating);
        const e = pv.end ? toUtc(pv.end, ctx.floating) : pv.duration ? s + (pv.duration.days * 86400 + pv.duration.secs) * 1000 : s;
        if (rs < e && re > s) keep.push(raw[idx]);
      });
      if (keep.length === 0) fb.removeProperty(p);
      else p.jCal.splice(3, p.jCal.length - 3, ...keep);
    }
  }
}

/** Renders calendar-data for one object; the stored text unchanged when nothing was asked for. */
export function renderCalendarData(obj: CalendarObject, spec: CalendarDataSpec, opts: ExpandOptions): string {
  if (spec.comp === null && spec.expand === null && spec.limitRecurrenceSet === null && spec.limitFreebusySet === null) return obj.text;
  let root: ICAL.Component;
  if (spec.expand) root = ICAL.Component.fromString(expandCalendarData(obj, spec.expand, opts));
  else if (spec.limitRecurrenceSet) root = ICAL.Component.fromString(limitRecurrenceSet(obj, spec.limitRecurrenceSet, opts));
  else root = new ICAL.Component(structuredClone(obj.root.jCal));
  if (spec.limitFreebusySet) limitFreebusy(root, obj, spec.limitFreebusySet, opts);
  if (spec.comp) root = select(root, spec.comp);
  return root.toString() + "\r\n";
}
