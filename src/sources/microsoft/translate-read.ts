/** One Graph event → one VEVENT (docs/microsoft-fidelity.md): times in the event's own zone, mapped groups
 *  (restored from the shadow while Graph still holds what they map to), the reminder, the extras blob. */
import ICAL from "ical.js";
import { safeDuration } from "../../ical/values.ts";
import type { GraphEvent } from "./translate-types.ts";
import { GROUPS, type FieldGroup } from "./translate-fields.ts";
import { htmlToText } from "./translate-html.ts";
import { reminderAlarm, reminderMinutes } from "./translate-alarm.ts";
import type { Extras } from "./translate-extras.ts";
import { localOf, renderDate, renderTime, timeProp, utcIso, type TimeOut } from "./translate-time.ts";
import { addDays, graphInstant, graphZoneName, graphZoneToIana, icsWall, parseWall, utcMs, wallIn } from "./translate-zones.ts";
import { resolveTzid, wallMs, wallOf, type Wall, type Zone } from "../../ical/timezones.ts";

/** The zone an event's time is shown in: IANA id (or "UTC"), the TZID to write (null: UTC form), floating. */
export interface EvZone {
  readonly iana: string;
  readonly tzid: string | null;
  readonly floating: boolean;
  /** A custom zone kept in the blob (VTIMEZONE), for events Graph holds in UTC. */
  readonly custom?: { readonly zone: Zone; readonly vtz: ICAL.Component };
}

/** TZIDs written, with their IANA zone and the earliest year used (for the VTIMEZONEs). */
export class ZoneUse {
  readonly zones = new Map<string, { iana: string; year: number; vtz?: ICAL.Component }>();
  note(z: EvZone, ms: number): void {
    if (!z.tzid || z.floating) return;
    const y = new Date(ms).getUTCFullYear();
    const prev = this.zones.get(z.tzid);
    if (!prev || y < prev.year) this.zones.set(z.tzid, { iana: z.iana, year: y, ...(z.custom ? { vtz: z.custom.vtz } : {}) });
  }
}

export function zoneOf(ev: GraphEvent, x: Extras, which: "START" | "END"): EvZone {
  const own = which === "START" ? ev.originalStartTimeZone : (ev.originalEndTimeZone as string | undefined) ?? ev.originalStartTimeZone;
  const shown = (which === "START" ? ev.start : ev.end)?.timeZone;
  const iana = graphZoneToIana(own) ?? (own ? null : graphZoneToIana(shown)) ?? "UTC";
  if (x.meta.get("FLOATING") === "1") return { iana, tzid: null, floating: true };
  const tz = x.meta.get(`TZID-${which}`) ?? (which === "END" && !x.meta.has("TZID-END") ? x.meta.get("TZID-START") : undefined);
  const zone = x.meta.get(`ZONE-${which}`) ?? (which === "END" && !x.meta.has("TZID-END") ? x.meta.get("ZONE-START") : undefined);
  if (tz && zone && graphZoneName(zone) === graphZoneName(iana)) return { iana: zone, tzid: tz, floating: false };
  const vtz = tz && !zone && iana === "UTC" ? x.zones.find((z) => String(z.getFirstPropertyValue("tzid")) === tz) : undefined;
  if (vtz) {
    const root = new ICAL.Component("vcalendar");
    root.addSubcomponent(new ICAL.Component(vtz.toJSON() as unknown[]));
    const custom = resolveTzid(tz!, root);
    if (custom) return { iana, tzid: tz!, floating: false, custom: { zone: custom, vtz } };
  }
  return { iana, tzid: iana === "UTC" ? null : iana, floating: false };
}

/** Instant of a Graph start/end (as read, in whatever zone Graph rendered it). */
export const instantOf = (t: { dateTime: string; timeZone: string } | undefined): number => (t ? graphInstant(t.dateTime, t.timeZone) : NaN);
/** Date of an all-day start/end (Graph returns midnight-to-midnight whatever the zone). */
export const dateOf = (t: { dateTime: string } | undefined): Wall => {
  const w = parseWall(t?.dateTime ?? "") ?? { y: 1970, mo: 1, d: 1, h: 0, mi: 0, s: 0 };
  return { ...w, h: 0, mi: 0, s: 0 };
};
export const render = (ms: number, z: EvZone, use: ZoneUse): TimeOut => {
  use.note(z, ms);
  if (z.custom && z.tzid) return { kind: "zoned", text: icsWall(localOf(z.custom.zone, ms)), tzid: z.tzid };
  return renderTime(ms, z.iana, z.tzid, z.floating);
};

/** DTSTART and DTEND / DURATION / nothing, as the original had it. */
export function timeProps(ev: GraphEvent, x: Extras, use: ZoneUse, shiftDays: number): ICAL.Property[] {
  if (ev.isAllDay) {
    const s = addDays(dateOf(ev.start), shiftDays);
    const e = addDays(dateOf(ev.end), shiftDays);
    const days = Math.max(1, Math.round((wallMs(e) - wallMs(s)) / 86_400_000));
    const out = [timeProp("DTSTART", renderDate(s))];
    const dur = x.meta.get("DURATION");
    const d = dur ? safeDuration(dur) : null;
    if (d && d.secs === 0 && d.days === days) out.push(durationProp(dur!));
    else if (!(x.meta.get("NO-DTEND") === "1" && days === 1)) out.push(timeProp("DTEND", renderDate(addDays(s, days))));
    return out;
  }
  const zs = zoneOf(ev, x, "START");
  const ze = zoneOf(ev, x, "END");
  const s0 = instantOf(ev.start);
  const len = instantOf(ev.end) - s0;
  const s = shiftDays === 0 ? s0 : shiftWall(s0, zs, shiftDays);
  const out = [timeProp("DTSTART", render(s, zs, use))];
  const dur = x.meta.get("DURATION");
  if (dur && durationMs(s, zs, dur) === s + len) out.push(durationProp(dur));
  else if (!(x.meta.get("NO-DTEND") === "1" && len === 0)) out.push(timeProp("DTEND", render(s + len, ze, use)));
  return out;
}

function shiftWall(ms: number, z: EvZone, days: number): number {
  const w = z.iana === "UTC" ? wallOf(ms) : wallIn(z.iana, ms);
  const moved = addDays(w, days);
  return z.iana === "UTC" ? wallMs(moved) : graphInstant(`${icsWall(moved)}`, z.iana);
}
function durationMs(start: number, z: EvZone, raw: string): number | null {
  const d = safeDuration(raw);
  if (!d) return null;
  return (d.days ? shiftWall(start, z, d.days) : start) + d.secs * 1000;
}
function durationProp(raw: string): ICAL.Property {
  return ICAL.Property.fromString(`DURATION:${raw}`);
}

const key = (g: FieldGroup, ps: readonly ICAL.Property[]): string => JSON.stringify(g.write(ps));
const norm = (s: string): string => s.replace(/\s+/g, " ").trim();

function restore(g: FieldGroup, ev: GraphEvent, x: Extras): ICAL.Property[] {
  let computed = g.read(ev);
  if (g.name === "body" && x.meta.get("BODY-TEXT") === "1" && String(ev.body?.contentType).toLowerCase() === "html") computed = computed.filter((p) => p.name !== "x-alt-desc");
  if (!(x.meta.get("SHADOWED") ?? "").split(",").includes(g.name)) return computed;
  const shadow = x.shadows.filter((p) => g.owns(p));
  if (key(g, shadow) === key(g, computed)) return shadow;
  if (g.name === "body" && ev.body && String(ev.body.contentType).toLowerCase() === "html" && !shadow.some((p) => p.name === "x-alt-desc")) {
    const d = shadow.find((p) => p.name === "description");
    if (d && norm(String(d.getFirstValue() ?? "")) === norm(htmlToText(ev.body.content))) return shadow;
  }
  if (!g.item) return computed;
  const pool = [...shadow];
  return computed.map((c) => {
    const k = JSON.stringify(g.item!(c));
    const i = pool.findIndex((p) => JSON.stringify(g.item!(p)) === k);
    return i >= 0 ? pool.splice(i, 1)[0]! : c;
  });
}

const stamp = (iso: string | undefined): string | null => {
  const ms = utcMs(iso);
  return Number.isFinite(ms) ? `${icsWall(wallOf(ms))}Z` : null;
};

/** The VEVENT of one Graph event; `rid` is its RECURRENCE-ID (exceptions), `shiftDays` moves a master whose
 *  start is not an occurrence of its pattern onto the first occurrence (Graph's rule). */
export function eventToVevent(ev: GraphEvent, x: Extras, uid: string, rid: ICAL.Property | null, use: ZoneUse, shiftDays = 0): ICAL.Component {
  const v = new ICAL.Component("vevent");
  v.addPropertyWithValue("uid", uid);
  const has = (n: string): boolean => x.props.some((p) => p.name === n);
  const dtstamp = stamp(ev.lastModifiedDateTime) ?? stamp(ev.createdDateTime);
  if (dtstamp) v.addProperty(ICAL.Property.fromString(`DTSTAMP:${dtstamp}`));
  if (rid) v.addProperty(rid);
  for (const p of timeProps(ev, x, use, shiftDays)) v.addProperty(p);
  // No ORGANIZER was written and Graph filled in the mailbox (no attendees): an ORGANIZER would make the event a
  // scheduling object (RFC 6638) it never was.
  const noOrganizer = x.meta.get("NO-ORGANIZER") === "1" && ev.isOrganizer !== false && (ev.attendees ?? []).length === 0;
  for (const g of GROUPS) if (!(noOrganizer && g.name === "organizer")) for (const p of restore(g, ev, x)) v.addProperty(p);
  const created = stamp(ev.createdDateTime);
  if (created && !has("created")) v.addProperty(ICAL.Property.fromString(`CREATED:${created}`));
  const modified = stamp(ev.lastModifiedDateTime);
  if (modified) v.addProperty(ICAL.Property.fromString(`LAST-MODIFIED:${modified}`));
  if (ev.isCancelled && !has("status")) v.addPropertyWithValue("status", "CANCELLED");
  for (const p of x.props) v.addProperty(ICAL.Property.fromString(p.toICALString()));
  const join = ev.onlineMeeting?.joinUrl;
  if (join && !x.props.some((p) => String(p.getFirstValue()) === join)) {
    const c = ICAL.Property.fromString(`CONFERENCE;VALUE=URI;FEATURE=VIDEO:${join}`);
    if (ev.onlineMeetingProvider && ev.onlineMeetingProvider !== "unknown") c.setParameter("label", ev.onlineMeetingProvider);
    v.addProperty(c);
  }
  const reminder = reminderAlarm(ev);
  if (reminder) {
    const sh = x.shadowAlarms.find((a) => reminderMinutes(a) === Number(ev.reminderMinutesBeforeStart ?? 15));
    v.addSubcomponent(sh ? new ICAL.Component(sh.toJSON() as unknown[]) : reminder);
  }
  for (const a of x.alarms) v.addSubcomponent(new ICAL.Component(a.toJSON() as unknown[]));
  return v;
}

export { utcIso };
