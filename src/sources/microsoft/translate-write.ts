/** iCalendar VEVENTs → Graph event bodies (docs/microsoft-fidelity.md). */
import ICAL from "ical.js";
import { createHash } from "node:crypto";
import { ianaZone, wallMs, wallOf, type Wall } from "../../ical/timezones.ts";
import { safeDuration } from "../../ical/values.ts";
import { TranslateRefused, type GraphEvent } from "./translate-types.ts";
import { GROUPS } from "./translate-fields.ts";
import { alarmFields, reminderAlarm, reminderMinutes } from "./translate-alarm.ts";
import { emptyExtras, extrasProperty, type Extras } from "./translate-extras.ts";
import { readIcsProp, toGraphTime, type IcsTime } from "./translate-time.ts";
import { addDays, graphZoneName, graphZoneToIana, wallIn } from "./translate-zones.ts";

export interface WriteCtx {
  readonly root: ICAL.Component;
  /** IANA zone (or "UTC") floating times are pinned to, and all-day events are written in. */
  readonly pin: string;
}

/** Properties translated by code outside the field groups (times, recurrence, identity, server stamps). */
const HANDLED = new Set(["UID", "DTSTART", "DTEND", "DURATION", "RRULE", "EXDATE", "RECURRENCE-ID", "DTSTAMP", "LAST-MODIFIED"]);

export interface BodyOut { readonly body: GraphEvent; readonly start: IcsTime; readonly end: IcsTime; readonly extras: Extras }

const propText = (ps: readonly ICAL.Property[]): string => ps.map((p) => p.toICALString()).join("\n");

/** The instant DURATION after a start (RFC 5545 3.3.6: days are nominal, in the start's zone). */
function plusDuration(start: IcsTime, raw: string): number | null {
  const d = safeDuration(raw);
  if (!d) return null;
  if (start.date || start.iana === null) return wallMs(start.wall) + (d.days * 86_400 + d.secs) * 1000;
  const iana = start.iana;
  const w = addDays(iana === "UTC" ? wallOf(start.ms) : wallIn(iana, start.ms), d.days);
  const base = iana === "UTC" ? wallMs(w) : ianaZone(iana)!.toUtc(w);
  return base + d.secs * 1000;
}

function times(v: ICAL.Component, ctx: WriteCtx, x: Extras): { start: IcsTime; end: IcsTime; fields: Partial<GraphEvent> } {
  const dtstart = v.getFirstProperty("dtstart");
  if (!dtstart) throw new TranslateRefused("DTSTART: missing; Graph events need a start");
  const start = readIcsProp(dtstart, ctx.root, ctx.pin);
  if (!start) throw new TranslateRefused(`DTSTART: '${String(dtstart.jCal[3])}' is not a DATE or DATE-TIME`);
  const dtend = v.getFirstProperty("dtend");
  const dur = v.getFirstProperty("duration");
  let end: IcsTime;
  if (dtend) {
    const e = readIcsProp(dtend, ctx.root, ctx.pin);
    if (!e) throw new TranslateRefused(`DTEND: '${String(dtend.jCal[3])}' is not a DATE or DATE-TIME`);
    if (e.date !== start.date) throw new TranslateRefused(`DTEND ${String(dtend.jCal[3])}: a ${e.date ? "DATE" : "DATE-TIME"} end with a ${start.date ? "DATE" : "DATE-TIME"} start; Graph events are all-day or timed`);
    end = e;
  } else if (dur) {
    const raw = String(dur.jCal[3] ?? "");
    const ms = plusDuration(start, raw);
    if (ms === null) throw new TranslateRefused(`DURATION: '${raw}' is not a duration`);
    if (start.date && (ms - start.ms) % 86_400_000 !== 0) throw new TranslateRefused(`DURATION ${raw}: an all-day event lasts whole days on Graph`);
    end = { ...start, ms, wall: start.date ? wallOf(ms) : start.iana === "UTC" ? wallOf(ms) : wallIn(start.iana!, ms) };
    x.meta.set("DURATION", raw);
  } else {
    end = start.date ? { ...start, ms: start.ms + 86_400_000, wall: addDays(start.wall, 1) } : start;
    x.meta.set("NO-DTEND", "1");
  }
  if (end.ms < start.ms) throw new TranslateRefused(`DTEND: ends before DTSTART ${String(dtstart.jCal[3])}`);
  if (start.date && end.ms === start.ms) throw new TranslateRefused("DTEND: an all-day event on Graph lasts at least one day (DTEND equals DTSTART)");
  for (const [k, t] of [["START", start], ["END", end]] as const) {
    // Only what reading would not give back: a TZID other than the IANA name of the zone's Windows id.
    if (t.tzid && !(t.iana && t.tzid === t.iana && graphZoneToIana(graphZoneName(t.iana)) === t.iana)) {
      x.meta.set(`TZID-${k}`, t.tzid);
      if (t.iana && !t.custom) x.meta.set(`ZONE-${k}`, t.iana);
    }
    const vtz = t.custom ? ctx.root.getAllSubcomponents("vtimezone").find((z) => String(z.getFirstPropertyValue("tzid")) === t.tzid) : undefined;
    if (vtz && !x.zones.some((z) => z.getFirstPropertyValue("tzid") === t.tzid)) x.zones.push(vtz);
  }
  if (start.floating) x.meta.set("FLOATING", "1");
  const zone = start.date ? ctx.pin : start.iana ?? "UTC";
  return { start, end, fields: { isAllDay: start.date, start: toGraphTime(start, zone), end: toGraphTime(end, zone) } };
}

function groupFields(v: ICAL.Component, x: Extras, body: GraphEvent): void {
  const shadowed: string[] = [];
  for (const g of GROUPS) {
    const props = v.getAllProperties().filter((p) => g.owns(p));
    const fields = g.write(props);
    Object.assign(body, fields);
    // A text body is always shadowed: Graph may store it as HTML, whose text differs in white space.
    const textBody = g.name === "body" && fields.body?.contentType === "text" && fields.body.content !== "";
    if (textBody || propText(g.read(fields as GraphEvent)) !== propText(props)) {
      x.shadows.push(...props);
      shadowed.push(g.name);
    }
  }
  if (shadowed.length > 0) x.meta.set("SHADOWED", shadowed.join(","));
  // Graph makes the mailbox the organizer of an event created without one: remember there was none.
  if (!body.organizer) x.meta.set("NO-ORGANIZER", "1");
  // Graph may keep a text body as HTML: the reader then gives the text back without an X-ALT-DESC.
  if (body.body?.contentType === "text" && body.body.content !== "") x.meta.set("BODY-TEXT", "1");
}

function alarms(v: ICAL.Component, x: Extras, body: GraphEvent): void {
  const all = v.getAllSubcomponents("valarm");
  const mapped = all.find((a) => reminderMinutes(a) !== null) ?? null;
  const fields = alarmFields(mapped);
  Object.assign(body, fields);
  if (mapped && reminderAlarm(fields as GraphEvent)?.toString() !== mapped.toString()) x.shadowAlarms.push(mapped);
  for (const a of all) if (a !== mapped) x.alarms.push(a);
}

/** Body of one VEVENT (master or override): times, mapped groups, the reminder and the extras blob. */
export function veventBody(v: ICAL.Component, ctx: WriteCtx, uid: string, override = false): BodyOut {
  const x = emptyExtras();
  for (const name of ["rdate", "exrule"]) {
    const p = v.getFirstProperty(name);
    if (p) throw new TranslateRefused(`${name.toUpperCase()} ${p.toICALString().split(":").slice(1).join(":")}: Outlook series have one pattern and no extra or excluding rules/dates`);
  }
  const t = times(v, ctx, x);
  const body: GraphEvent = { ...t.fields };
  groupFields(v, x, body);
  alarms(v, x, body);
  const grouped = (p: ICAL.Property): boolean => GROUPS.some((g) => g.owns(p));
  // In an override, RRULE / EXDATE mean nothing to Graph (an occurrence has no rule): kept as they are.
  const handled = (n: string): boolean => HANDLED.has(n) && !(override && (n === "RRULE" || n === "EXDATE"));
  for (const p of v.getAllProperties()) if (!handled(p.name.toUpperCase()) && !grouped(p)) x.props.push(p);
  x.meta.set("UID", uid);
  return { body, start: t.start, end: t.end, extras: x };
}

/** Puts the blob into a body (after the caller added its own shadows/meta). */
export function sealExtras(out: BodyOut): GraphEvent {
  return { ...out.body, singleValueExtendedProperties: [extrasProperty(out.extras)] };
}

/** Deterministic transactionId (idempotent creates): UID + a hash of the body. */
export function transactionIdFor(uid: string, body: GraphEvent): string {
  const h = createHash("sha256").update(uid).update("\n").update(JSON.stringify(body)).digest("hex");
  return `calgate-${h.slice(0, 32)}`;
}

export const localDate = (t: IcsTime, iana: string): Wall => {
  if (t.date) return t.wall;
  const w = iana === "UTC" ? wallOf(t.ms) : wallIn(iana, t.ms);
  return { ...w, h: 0, mi: 0, s: 0 };
};
