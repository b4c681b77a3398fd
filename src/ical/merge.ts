/**
 * Three-way merge of one calendar object resource against the last synced version (the base),
 * issue 11 deliverable 2. Pure: text in, text out; both sides are validated by parse.ts first and an
 * invalid side is an IcalError, never a partial merge.
 *
 * Per main component (the master, and each override keyed by its RECURRENCE-ID as an instant):
 * added on one side → kept; removed on one side and unchanged on the other → removed; removed on one
 * side and edited on the other → kept (the edit wins); changed on both → merged per property
 * (merge-props.ts). A change to the series on one side and to an override on the other keeps both.
 * When one side moved the series (RRULE or DTSTART of the master), overrides are kept as they are,
 * even one whose RECURRENCE-ID no longer names an occurrence: dropping an edit is data loss, an
 * orphan override is served as sent (the simplest honest rule; expand.ts tolerates orphans).
 * VTIMEZONEs are carried: the result holds the ones its components name (theirs' definition first).
 */
import type ICAL from "ical.js";
import { sameContent } from "./content.ts";
import { IcalError } from "./errors.ts";
import { parseCalendarObject } from "./parse.ts";
import { canon, componentKey, first, parseModel, serialise, unquote, type Comp } from "./merge-model.ts";
import { decide, mergeComponent, stampsOf, type Decision, type MergeCtx, type Roots } from "./merge-props.ts";

export interface MergeResult {
  /** The merged calendar object (iCalendar text), or null when the result is "deleted". */
  readonly ics: string | null;
  /** Properties both sides changed differently, with the side kept, e.g. "SUMMARY (RECURRENCE-ID 20260105T090000Z): theirs (newer LAST-MODIFIED)". Empty: a clean merge. */
  readonly clashes: readonly string[];
}

const MAIN = new Set(["VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"]);

interface Loaded {
  readonly text: string;
  readonly uid: string;
  readonly component: string;
  readonly root: ICAL.Component;
  readonly model: Comp;
  /** Main components by key ("" the master, else the RECURRENCE-ID instant). */
  readonly mains: Map<string, Comp>;
}

function load(text: string | null, side: string): Loaded | null {
  if (text === null) return null;
  let obj;
  try {
    obj = parseCalendarObject(text);
  } catch (e) {
    if (e instanceof IcalError) throw new IcalError(`${side}: ${e.message}`, e.reason);
    throw e;
  }
  const model = parseModel(obj.text);
  const mains = new Map<string, Comp>();
  for (const c of model.subs) if (MAIN.has(c.name)) mains.set(componentKey(c, obj.root), c);
  return { text: obj.text, uid: obj.uid, component: obj.component, root: obj.root, model, mains };
}

function consistent(sides: readonly (Loaded | null)[]): void {
  const present = sides.filter((s): s is Loaded => s !== null);
  const a = present[0];
  for (const s of present) {
    if (!a || s.uid === a.uid && s.component === a.component) continue;
    throw new IcalError(`the versions to merge are different objects (${a.component} '${a.uid}' and ${s.component} '${s.uid}')`, "invalid-object");
  }
}

/** The master, or for an overrides-only object its first component: what the whole-object stamps are read from. */
export function masterOf(mains: ReadonlyMap<string, Comp>): Comp | undefined {
  return mains.get("") ?? mains.values().next().value;
}

/** Which whole object is newer (LAST-MODIFIED, then DTSTAMP, then SEQUENCE of the master; ties: theirs). */
export function newerObject(ours: string, theirs: string): Decision {
  const [o, t] = [load(ours, "ours")!, load(theirs, "theirs")!];
  const [mo, mt] = [masterOf(o.mains), masterOf(t.mains)];
  return decide(stampsOf(mo!), stampsOf(mt!));
}

/** Validates calendar object text the way mergeObjects does (an IcalError naming the side). */
export function validateSide(text: string | null, side: "base" | "ours" | "theirs"): void {
  load(text, side);
}

/** Three-way merge of one calendar object resource. base null: both sides created it independently (merge with an empty base). ours/theirs null: that side deleted it. */
export function mergeObjects(base: string | null, ours: string | null, theirs: string | null): MergeResult {
  const [b, o, t] = [load(base, "base"), load(ours, "ours"), load(theirs, "theirs")];
  consistent([b, o, t]);
  if (!o && !t) return { ics: null, clashes: [] };
  if (!o || !t) {
    const kept = (o ?? t)!;
    // Nothing to delete against (no base), or a delete against no change: the only change wins.
    if (!b) return { ics: kept.text, clashes: [] };
    if (sameContent(b.text, kept.text)) return { ics: null, clashes: [] };
    const [deleter, editor] = o ? ["theirs", "ours"] : ["ours", "theirs"];
    return { ics: kept.text, clashes: [`the object: deleted by ${deleter}, edited by ${editor}: the edit is kept`] };
  }
  if (sameContent(o.text, t.text)) return { ics: o.text, clashes: [] };
  if (b && sameContent(b.text, o.text)) return { ics: t.text, clashes: [] };
  if (b && sameContent(b.text, t.text)) return { ics: o.text, clashes: [] };
  return mergeFull(b, o, t);
}

function mergeMain(key: string, b: Loaded | null, o: Loaded, t: Loaded, clashes: string[], roots: Roots): Comp | null {
  const [cb, co, ct] = [b?.mains.get(key), o.mains.get(key), t.mains.get(key)];
  const what = key === "" ? "the master component" : `RECURRENCE-ID ${key}`;
  if (co && ct) {
    const [so, st] = [canon(co), canon(ct)];
    if (so === st) return ct;
    const sb = cb ? canon(cb) : null;
    if (so === sb) return ct;
    if (st === sb) return co;
    const decision = decide(stampsOf(co, o.mains.get("")), stampsOf(ct, t.mains.get("")));
    const ctx: MergeCtx = { decision, label: "", where: key === "" ? "" : ` (${what})`, clashes, roots };
    return mergeComponent(cb ?? null, co, ct, ctx, true);
  }
  const only = co ?? ct;
  if (!only) return null; // removed on both sides
  if (!cb) return only; // added on one side
  if (canon(only) === canon(cb)) return null; // removed on one side, unchanged on the other
  const [remover, editor] = co ? ["theirs", "ours"] : ["ours", "theirs"];
  clashes.push(`${what}: removed by ${remover}, changed by ${editor}: the edit is kept`);
  return only;
}

function usedTzids(comps: readonly Comp[], into: Set<string> = new Set()): Set<string> {
  for (const c of comps) {
    for (const p of c.props) for (const [k, v] of p.params) if (k === "TZID") into.add(unquote(v));
    usedTzids(c.subs, into);
  }
  return into;
}

function findTimezone(tzid: string, sides: readonly (Loaded | null)[]): Comp | undefined {
  for (const s of sides) {
    const hit = s?.model.subs.find((c) => c.name === "VTIMEZONE" && first(c, "TZID")?.value === tzid);
    if (hit) return hit;
  }
  return undefined;
}

function mergeFull(b: Loaded | null, o: Loaded, t: Loaded): MergeResult {
  const clashes: string[] = [];
  const roots: Roots = { base: b?.root ?? null, ours: o.root, theirs: t.root };
  const keys = [...new Set(["", ...t.mains.keys(), ...o.mains.keys(), ...(b?.mains.keys() ?? [])])];
  const mains: Comp[] = [];
  for (const key of keys) {
    if (!t.mains.has(key) && !o.mains.has(key) && !b?.mains.has(key)) continue;
    const c = mergeMain(key, b, o, t, clashes, roots);
    if (c) mains.push(c);
  }
  if (mains.length === 0) return { ics: null, clashes };
  // The VCALENDAR's own properties and any non-main, non-VTIMEZONE components (X- components): as a component.
  const shell = (s: Loaded | null): Comp | null =>
    s && { name: "VCALENDAR", props: s.model.props, subs: s.model.subs.filter((c) => !MAIN.has(c.name) && c.name !== "VTIMEZONE") };
  const decision = decide(stampsOf(masterOf(o.mains)!), stampsOf(masterOf(t.mains)!));
  const cal = mergeComponent(shell(b), shell(o)!, shell(t)!, { decision, label: "", where: " (VCALENDAR)", clashes, roots }, false);
  const timezones = [...usedTzids(mains)].map((id) => findTimezone(id, [t, o, b])).filter((c): c is Comp => c !== undefined);
  const text = serialise({ name: "VCALENDAR", props: cal.props, subs: [...timezones, ...mains, ...cal.subs] });
  parseCalendarObject(text); // the result must be a valid object; an IcalError here is a bug, never a partial merge
  return { ics: text, clashes };
}
