/**
 * What a mirror rule writes: the copy of one calendar object, and whether an object is to be copied at
 * all. Pure (no store, no clock beyond the `now` given), so the engine (mirrors.ts) and the tests share
 * one definition of "a copy" and "a busy block".
 *
 * A copy has a UID derived from (target calendar, original UID), ending in MIRROR_UID_SUFFIX, and
 * carries X-CALGATE-MIRROR-OF: <source-id>/<calendar-id>/<uid> (PRODUCT.md). Either mark makes an
 * object a copy, which no rule ever copies again: the UID survives every provider (Google's iCalUID,
 * Graph's iCalUId), the property survives CalDAV servers and calgate's provider translations.
 */
import { createHash } from "node:crypto";
import ICAL from "ical.js";
import type { CalendarObject } from "../ical/parse.ts";

export const MIRROR_UID_SUFFIX = "@mirror.calgate";
export const MIRROR_OF = "X-CALGATE-MIRROR-OF";
export type MirrorMode = "busy" | "full";

export interface CopySpec {
  readonly mode: MirrorMode;
  /** SUMMARY of busy blocks. */
  readonly busyText: string;
  /** The copy's UID (copyUidFor). */
  readonly uid: string;
  /** X-CALGATE-MIRROR-OF value: "<source-id>/<calendar-id>/<uid>" of the original. */
  readonly origin: string;
}

/**
 * The copy's UID: one per (target calendar, original UID), whichever rule or run writes it, so two rules
 * feeding one calendar with the same meeting make one copy, and a restart or resync finds it again.
 */
export function copyUidFor(targetKey: string, originalUid: string): string {
  const h = createHash("sha256").update(`${targetKey}\u0000${originalUid}`).digest("hex").slice(0, 32);
  return `${h}${MIRROR_UID_SUFFIX}`;
}

/** The object name a new copy is stored under (a copy that exists is found by its UID). */
export function copyNameFor(copyUid: string): string {
  return `${copyUid.slice(0, copyUid.length - MIRROR_UID_SUFFIX.length)}.ics`;
}

/** Whether an object is a mirror copy (made by any rule of any calgate): never to be copied again. */
export function isMirrorCopy(obj: CalendarObject): boolean {
  if (obj.uid.toLowerCase().endsWith(MIRROR_UID_SUFFIX)) return true;
  return obj.root.getAllSubcomponents().some((c) => c.hasProperty(MIRROR_OF.toLowerCase()));
}

function masterOf(obj: CalendarObject): ICAL.Component | null {
  const comps = obj.root.getAllSubcomponents("vevent");
  return comps.find((c) => !c.hasProperty("recurrence-id")) ?? comps[0] ?? null;
}
const upperProp = (c: ICAL.Component | null, name: string): string => String(c?.getFirstPropertyValue(name) ?? "").trim().toUpperCase();

/** TRANSP:TRANSPARENT on the event (its master): it does not block time. */
export function isFree(obj: CalendarObject): boolean {
  return upperProp(masterOf(obj), "transp") === "TRANSPARENT";
}
/** STATUS:CANCELLED on the event (its master). */
export function isCancelled(obj: CalendarObject): boolean {
  return upperProp(masterOf(obj), "status") === "CANCELLED";
}

export interface RuleFilter {
  readonly mode: MirrorMode;
  /** Copy transparent (free) events too. */
  readonly includeFree: boolean;
  /** Only events whose occurrences reach into [start, end) (ms); null: no bound. */
  readonly window: { readonly start: number; readonly end: number } | null;
}

export type Decision =
  | { readonly kind: "copy" }
  /** Not copied; an existing copy is removed. */
  | { readonly kind: "drop"; readonly reason: "not-an-event" | "free" | "cancelled" | "outside-window" }
  /** A copy itself: left alone entirely (never copied, its copy never removed by this). */
  | { readonly kind: "ignore"; readonly reason: "is-a-copy" };

/** What a rule does with one object (bounds: its occurrence span, null = unbounded). */
export function decide(obj: CalendarObject, bounds: { start: number | null; end: number | null }, f: RuleFilter): Decision {
  if (isMirrorCopy(obj)) return { kind: "ignore", reason: "is-a-copy" };
  if (obj.component !== "VEVENT") return { kind: "drop", reason: "not-an-event" };
  if (f.mode === "busy" && isCancelled(obj)) return { kind: "drop", reason: "cancelled" };
  if (!f.includeFree && isFree(obj)) return { kind: "drop", reason: "free" };
  if (f.window) {
    const before = bounds.end !== null && bounds.end <= f.window.start;
    const after = bounds.start !== null && bounds.start >= f.window.end;
    if (before || after) return { kind: "drop", reason: "outside-window" };
  }
  return { kind: "copy" };
}

// jCal: [name, params, type, ...values] per property; [name, props, comps] per component.
type JProp = [string, Record<string, unknown>, string, ...unknown[]];
type JComp = [string, JProp[], JComp[]];

/** What a busy block keeps of each VEVENT: its times, recurrence, exceptions, transparency and status. */
const BUSY_KEEP = new Set(["dtstart", "dtend", "duration", "rrule", "rdate", "exdate", "exrule", "recurrence-id", "transp", "status", "sequence", "dtstamp", "created", "last-modified"]);
/** Parameters a busy block keeps (no X- or language parameter can carry text of the original). */
const BUSY_PARAMS = new Set(["tzid", "value", "range"]);
/** What a full copy leaves out: scheduling (writing ATTENDEEs to Graph or a scheduling CalDAV server sends invitations from the target account) and the identity it replaces. */
const FULL_DROP = new Set(["uid", "attendee", "organizer", MIRROR_OF.toLowerCase()]);

const DESIGN = (ICAL as unknown as { design: { defaultSet: { value: Record<string, unknown>; property: Record<string, { defaultType?: string } | undefined> } } }).design.defaultSet;
/**
 * The property with a value type ical.js can write back: a VALUE parameter naming no type (seen from
 * Proton: VALUE="<text>") is parsed as that "type" and would be written unquoted, breaking the line.
 */
function writable(p: JProp): JProp {
  if (p[2] === "unknown" || p[2] in DESIGN.value) return p;
  const [name, params, , ...values] = p;
  return [name, params, DESIGN.property[name]?.defaultType ?? "unknown", ...values];
}

function busyEvent(c: JComp, spec: CopySpec): JComp {
  const props = c[1]
    .filter((p) => BUSY_KEEP.has(p[0]))
    .map(writable)
    .map(([name, params, type, ...values]): JProp => [name, Object.fromEntries(Object.entries(params).filter(([k]) => BUSY_PARAMS.has(k))), type, ...values]);
  return ["vevent", [["uid", {}, "text", spec.uid], ...props, ["summary", {}, "text", spec.busyText], ["class", {}, "text", "PRIVATE"], [MIRROR_OF.toLowerCase(), {}, "unknown", spec.origin]], []];
}

function fullEvent(c: JComp, spec: CopySpec): JComp {
  const props = c[1].filter((p) => !FULL_DROP.has(p[0])).map(writable);
  // VALARMs stay with the original: a copy ringing too would remind twice.
  const comps = c[2].filter((s) => s[0] !== "valarm");
  return ["vevent", [["uid", {}, "text", spec.uid], ...props, [MIRROR_OF.toLowerCase(), {}, "unknown", spec.origin]], comps];
}

/** The copy of a VEVENT object (master, overrides and the VTIMEZONEs they use) as iCalendar text. */
export function mirrorCopy(obj: CalendarObject, spec: CopySpec): string {
  const root = obj.root.toJSON() as JComp;
  const head: JProp[] = [["version", {}, "text", "2.0"], ["prodid", {}, "text", "-//calgate//mirror//EN"]];
  // CALSCALE, and X-WR-TIMEZONE: the zone floating times are read in (the copy's instances must be the original's).
  head.push(...root[1].filter((p) => p[0] === "calscale" || p[0] === "x-wr-timezone"));
  const comps: JComp[] = [];
  for (const c of root[2]) {
    if (c[0] === "vtimezone") comps.push(c);
    else if (c[0] === "vevent") comps.push(spec.mode === "busy" ? busyEvent(c, spec) : fullEvent(c, spec));
  }
  return new ICAL.Component(["vcalendar", head, comps]).toString() + "\r\n";
}
