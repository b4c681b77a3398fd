/** Google Event → VEVENT (the groupToIcs direction). */
import ICAL from "ical.js";
import type { GDateTime, GEvent } from "./translate-types.ts";
import { eventZone, gToIcs, icsWall, instantOf, isoDate, isUtcName, timeProp, wallIn, type TimeOut, type ZoneUse } from "./translate-time.ts";
import { attendeeToIcs, emailOf, mergeShadowParams, organizerToIcs } from "./translate-people.ts";
import { remindersToAlarms, type Reminder } from "./translate-alarms.ts";
import { unpackExtended, userEntries, type Extras } from "./translate-extras.ts";
import { conferenceToIcs, jsonProp, TYPE_PROPS, X_COLOR, X_EVENT_TYPE, X_EXT_PRIVATE, X_EXT_SHARED } from "./translate-special.ts";
import { safeDuration } from "../../ical/values.ts";

export interface ReadContext {
  readonly calendarZone: string | null;
  readonly use: ZoneUse;
  readonly defaultReminders: readonly Reminder[] | null;
}

/** How the master's start is written; overrides' RECURRENCE-IDs and EXDATEs follow it. */
export interface StartForm { readonly zone: string; readonly floating: boolean; readonly date: boolean }

export const META_FLOAT = "float";
export const META_DURATION = "duration";
export const META_NOEND = "noend";
export const META_NOSTATUS = "nostatus";
export const META_NOORGANIZER = "noorganizer";
export const META_RIDZONE = "ridzone";
export const META_TZALIAS = "tzalias";

const utcStamp = (s: string | null | undefined): string | null => {
  const ms = s ? Date.parse(s) : NaN;
  return Number.isFinite(ms) ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z") : null;
};

function stampProp(name: string, iso: string): ICAL.Property {
  const p = new ICAL.Property(name);
  p.resetType("date-time");
  (p.jCal as unknown[])[3] = iso;
  return p;
}

export function startFormOf(ev: GEvent, x: Extras, calendarZone: string | null): StartForm {
  const s = ev.start ?? {};
  const zone = eventZone(s, calendarZone);
  return { zone, floating: x.meta.get(META_FLOAT) === zone, date: !!s.date };
}

/** A time of this event (or an instance's originalStartTime) in the given form. */
export function timeIn(g: GDateTime, form: StartForm, use: ZoneUse): TimeOut {
  if (form.date && !g.date && g.dateTime) {
    return gToIcs({ date: isoDate(wallIn(form.zone, instantOf(g, form.zone))) }, form.zone, false, use);
  }
  return gToIcs(g, form.zone, form.floating, use);
}

function durationText(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s === 0) return "PT0S";
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const t = `${h ? `${h}H` : ""}${m ? `${m}M` : ""}${sec ? `${sec}S` : ""}`;
  return `P${d ? `${d}D` : ""}${t ? `T${t}` : ""}`;
}

function durMs(text: string): number | null {
  const d = safeDuration(text);
  return d ? (d.days * 86400 + d.secs) * 1000 : null;
}

function addTimes(ev: GEvent, vevent: ICAL.Component, x: Extras, ctx: ReadContext): StartForm {
  const form = startFormOf(ev, x, ctx.calendarZone);
  const start = ev.start ?? {};
  const end = ev.end ?? start;
  vevent.addProperty(timeProp("dtstart", gToIcs(start, form.zone, form.floating, ctx.use)));
  const endForm = { ...form, zone: end.timeZone && !form.floating ? eventZone(end, ctx.calendarZone) : form.zone };
  const sMs = start.date ? Date.parse(start.date) : instantOf(start, form.zone);
  const eMs = end.date ? Date.parse(end.date) : instantOf(end, endForm.zone);
  const len = eMs - sMs;
  const noEnd = x.meta.has(META_NOEND) && (start.date ? len === 86_400_000 : len === 0);
  const dur = x.meta.get(META_DURATION);
  if (noEnd) return form;
  if (dur !== undefined) {
    vevent.addProperty(ICAL.Property.fromString(`DURATION:${durMs(dur) === len ? dur : start.date ? `P${Math.round(len / 86_400_000)}D` : durationText(len)}`));
  } else vevent.addProperty(timeProp("dtend", gToIcs(end, endForm.zone, form.floating, ctx.use)));
  return form;
}

function addText(vevent: ICAL.Component, name: string, v: string | null | undefined): void {
  if (v !== null && v !== undefined && v !== "") vevent.addPropertyWithValue(name, v);
}

function addPeople(ev: GEvent, vevent: ICAL.Component, x: Extras): void {
  const org = ev.organizer?.self && x.meta.has(META_NOORGANIZER) ? null : organizerToIcs(ev.organizer);
  if (org) vevent.addProperty(org);
  for (const a of ev.attendees ?? []) {
    const p = attendeeToIcs(a);
    if (p) vevent.addProperty(p);
  }
}

function addStatus(ev: GEvent, vevent: ICAL.Component, x: Extras): void {
  const keptStatus = x.props.some((p) => p.name === "status");
  if (ev.status === "tentative") vevent.addPropertyWithValue("status", "TENTATIVE");
  else if (!keptStatus && !x.meta.has(META_NOSTATUS) && ev.status !== "cancelled") vevent.addPropertyWithValue("status", "CONFIRMED");
  if (ev.transparency === "transparent") vevent.addPropertyWithValue("transp", "TRANSPARENT");
  else if (ev.transparency === "opaque") vevent.addPropertyWithValue("transp", "OPAQUE");
  const cls = { public: "PUBLIC", private: "PRIVATE", confidential: "CONFIDENTIAL" }[ev.visibility ?? ""];
  if (cls) vevent.addPropertyWithValue("class", cls);
}

function addGoogleOnly(ev: GEvent, vevent: ICAL.Component): void {
  if (ev.eventType && ev.eventType !== "default") vevent.addPropertyWithValue(X_EVENT_TYPE, ev.eventType);
  if (ev.colorId) vevent.addPropertyWithValue(X_COLOR, ev.colorId);
  for (const [field, prop] of TYPE_PROPS) if (ev[field]) vevent.addProperty(jsonProp(prop, ev[field]));
  const priv = userEntries(ev.extendedProperties?.private);
  if (Object.keys(priv).length > 0) vevent.addProperty(jsonProp(X_EXT_PRIVATE, priv));
  const shared = ev.extendedProperties?.shared ?? {};
  if (Object.keys(shared).length > 0) vevent.addProperty(jsonProp(X_EXT_SHARED, shared));
  conferenceToIcs(ev.conferenceData, vevent);
}

/** Shadow copies put back the parameters Google dropped, while the value still matches. */
function applyShadows(vevent: ICAL.Component, x: Extras): void {
  const pool = [...x.shadows];
  const keyOf = (p: ICAL.Property): string => {
    const email = p.name === "attendee" || p.name === "organizer" ? emailOf(p) : null;
    return `${p.name}|${email !== null ? email.toLowerCase() : String(p.getFirstValue() ?? "")}`;
  };
  for (const p of vevent.getAllProperties()) {
    const k = keyOf(p);
    const i = pool.findIndex((s) => keyOf(s) === k);
    if (i >= 0) mergeShadowParams(p, pool.splice(i, 1)[0]!);
  }
}

/** One VEVENT for a live Google event; `rid` is set for instances (RECURRENCE-ID in the master's form). */
export function eventToVevent(ev: GEvent, ctx: ReadContext, uid: string, rid: TimeOut | null): { vevent: ICAL.Component; form: StartForm } {
  const x = unpackExtended(ev.extendedProperties);
  const vevent = new ICAL.Component("vevent");
  vevent.addPropertyWithValue("uid", uid);
  const stamp = utcStamp(ev.updated) ?? utcStamp(ev.created) ?? "1970-01-01T00:00:00Z";
  vevent.addProperty(stampProp("dtstamp", stamp));
  const created = utcStamp(ev.created);
  if (created && !x.props.some((p) => p.name === "created")) vevent.addProperty(stampProp("created", created));
  if (utcStamp(ev.updated)) vevent.addProperty(stampProp("last-modified", utcStamp(ev.updated)!));
  if (rid) vevent.addProperty(timeProp("recurrence-id", rid));
  const form = addTimes(ev, vevent, x, ctx);
  addText(vevent, "summary", ev.summary);
  addText(vevent, "description", ev.description);
  addText(vevent, "location", ev.location);
  addStatus(ev, vevent, x);
  addPeople(ev, vevent, x);
  if (typeof ev.sequence === "number") vevent.addPropertyWithValue("sequence", ev.sequence);
  addGoogleOnly(ev, vevent);
  // A kept STATUS:CANCELLED (Google cannot hold it on a live event) yields to a status set at Google since.
  for (const p of x.props) if (!(p.name === "status" && ev.status === "tentative")) vevent.addProperty(p);
  applyShadows(vevent, x);
  remindersToAlarms(ev, vevent, x.shadowAlarms, ctx.defaultReminders);
  for (const a of x.alarms) vevent.addSubcomponent(a);
  return { vevent, form };
}

/** Recurrence lines of the master, as properties; TZIDs they use are noted for VTIMEZONE generation. */
export function recurrenceProps(lines: readonly string[], use: ZoneUse, form: StartForm): ICAL.Property[] {
  const out: ICAL.Property[] = [];
  for (const raw of lines) {
    let p: ICAL.Property;
    // A floating series (pinned for Google) gets floating values back: RFC 5545 wants UNTIL, EXDATE, RDATE
    // in the form of DTSTART.
    const line = form.floating ? floatLine(raw, form.zone) : raw;
    try {
      p = ICAL.Property.fromString(line);
    } catch {
      out.push(ICAL.Property.fromString(`X-GOOGLE-RECURRENCE:${line.replace(/[\r\n]/g, " ")}`));
      continue;
    }
    const tz = p.getParameter("tzid");
    if (typeof tz === "string" && !isUtcName(tz)) {
      const v = String((p.jCal as unknown[])[3] ?? "");
      const y = Number(v.slice(0, 4));
      if (y > 0) p.setParameter("tzid", use.note(tz, Date.UTC(y, 0, 1)));
    }
    out.push(p);
  }
  return out;
}

/** A recurrence line of a series pinned to `zone`, with its values as floating local times. */
function floatLine(line: string, zone: string): string {
  if (/^(RRULE|EXRULE):/i.test(line)) {
    return line.replace(/UNTIL=(\d{8}T\d{6})Z/i, (_m, u: string) => `UNTIL=${icsWall(wallIn(zone, instantOf({ dateTime: `${u.slice(0, 4)}-${u.slice(4, 6)}-${u.slice(6, 8)}T${u.slice(9, 11)}:${u.slice(11, 13)}:${u.slice(13, 15)}Z` }, "UTC")))}`);
  }
  const m = /^(EXDATE|RDATE);TZID=([^;:]+):([\dT,]+)$/i.exec(line);
  return m && m[2] === zone ? `${m[1]}:${m[3]}` : line;
}
