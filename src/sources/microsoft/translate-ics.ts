/** groupToIcs: a Graph series master (or single event) and its exceptions → one VCALENDAR. */
import ICAL from "ical.js";
import { TranslateRefused, type GraphEvent, type GraphGroup } from "./translate-types.ts";
import { firstOccurrence, occursOn, recurrenceToRrule, rruleToRecurrence, type Recurrence } from "./translate-recur.ts";
import { occurrenceDate, occurrenceMs, seriesOf, untilStyleOf, type Series } from "./translate-series.ts";
import { unpackExtras, type Extras } from "./translate-extras.ts";
import { readIcsProp, readIcsValues, renderDate, timeProp } from "./translate-time.ts";
import { dateOf, eventToVevent, instantOf, render, zoneOf, ZoneUse, type EvZone } from "./translate-read.ts";
import { vtimezoneFor } from "../../ical/vtimezone.ts";
import { addDays, isoDate, parseWall, utcMs, wallIn } from "./translate-zones.ts";
import { wallMs, wallOf, type Wall } from "../../ical/timezones.ts";

const PRODID = "-//calgate//Microsoft Graph translation//EN";
const dayNo = (w: Wall): number => Math.floor(wallMs({ ...w, h: 0, mi: 0, s: 0 }) / 86_400_000);

interface MasterInfo { readonly series: Series; readonly zone: EvZone; readonly shiftDays: number; readonly rec: Recurrence | null }

/** The series as iCalendar sees it, with DTSTART moved to Graph's first occurrence when the stored start does
 *  not match the pattern (Graph does not count such a start; RFC 5545 would). */
function masterInfo(ev: GraphEvent, x: Extras): MasterInfo {
  const zone = zoneOf(ev, x, "START");
  const allDay = !!ev.isAllDay;
  const ms = instantOf(ev.start);
  const startWall = allDay ? dateOf(ev.start) : zone.iana === "UTC" ? wallOf(ms) : wallIn(zone.iana, ms);
  const rec = ev.recurrence && ev.recurrence.pattern ? (ev.recurrence as Recurrence) : null;
  let shiftDays = 0;
  if (rec) {
    const phase = parseWall(String(rec.range.startDate ?? "")) ?? startWall;
    const day0 = { ...startWall, h: 0, mi: 0, s: 0 };
    if (!occursOn(rec.pattern, phase, day0)) {
      const first = firstOccurrence(rec.pattern, { ...phase, h: 0, mi: 0, s: 0 });
      if (first) shiftDays = dayNo(first) - dayNo(day0);
    }
  }
  const wall = addDays(startWall, shiftDays);
  return { series: seriesOf(wall, allDay, zone.iana, zone.floating), zone, shiftDays, rec };
}

/** A calendar holding the VTIMEZONE of the series TZID, to read shadowed values against. */
function shadowRoot(m: MasterInfo): ICAL.Component {
  const root = new ICAL.Component("vcalendar");
  if (m.zone.tzid && m.zone.iana !== "UTC") root.addSubcomponent(renamed(vtimezoneFor(m.zone.iana, m.series.wall.y), m.zone.tzid));
  return root;
}

function renamed(vtz: ICAL.Component, tzid: string): ICAL.Component {
  vtz.updatePropertyWithValue("tzid", tzid);
  return vtz;
}

function rruleProp(m: MasterInfo, x: Extras): ICAL.Property {
  const text = recurrenceToRrule(m.rec!, untilStyleOf(m.series));
  const sh = x.shadows.find((p) => p.name === "rrule");
  if (sh) {
    try {
      const orig = sh.toICALString().replace(/^[^:]*:/, "");
      if (recurrenceToRrule(rruleToRecurrence(orig, m.series), untilStyleOf(m.series)) === text) return ICAL.Property.fromString(sh.toICALString());
    } catch { /* the shadow no longer applies */ }
  }
  return ICAL.Property.fromString(`RRULE:${text}`);
}

/** EXDATEs: the shadowed originals while their dates are still cancelled (or overridden: an EXDATE on an
 *  overridden occurrence is kept as written), computed ones for the other cancelled occurrences. */
function exdateProps(m: MasterInfo, master: GraphEvent, x: Extras, use: ZoneUse, overridden: ReadonlySet<string>): ICAL.Property[] {
  const dates = new Set((master.cancelledOccurrences ?? []).map((o) => /(\d{4}-\d{2}-\d{2})$/.exec(String(o))?.[1]).filter((d): d is string => !!d));
  const out: ICAL.Property[] = [];
  const root = shadowRoot(m);
  for (const sh of x.shadows.filter((p) => p.name === "exdate")) {
    const ds = readIcsValues(sh, root, m.zone.iana).map((t) => occurrenceDate(m.series, m.rec!.pattern, t)).filter((d): d is Wall => !!d).map(isoDate);
    if (ds.every((d) => dates.has(d) || overridden.has(d))) {
      out.push(ICAL.Property.fromString(sh.toICALString()));
      for (const d of ds) dates.delete(d);
    }
  }
  if (dates.size === 0) return out;
  const walls = [...dates].sort().map((d) => parseWall(d)!);
  if (m.series.date) out.push(multi("EXDATE;VALUE=DATE", walls.map((w) => renderDate(w).text)));
  else {
    const ts = walls.map((w) => render(occurrenceMs(m.series, w), m.zone, use));
    out.push(multi(`EXDATE${ts[0]!.tzid ? `;TZID=${ts[0]!.tzid}` : ""}`, ts.map((t) => t.text)));
  }
  return out;
}
const multi = (head: string, vals: string[]): ICAL.Property => ICAL.Property.fromString(`${head}:${vals.join(",")}`);

function ridProp(ex: GraphEvent, x: Extras, m: MasterInfo | null, use: ZoneUse): ICAL.Property | null {
  const ms = utcMs(ex.originalStart);
  if (!Number.isFinite(ms)) return null;
  const zone = m?.zone ?? zoneOf(ex, x, "START");
  const allDay = m ? m.series.date : !!ex.isAllDay;
  const local = allDay ? allDayDate(ex, ms, zone.iana) : zone.iana === "UTC" ? wallOf(ms) : wallIn(zone.iana, ms);
  const shadow = x.meta.get("RID");
  if (shadow && m) {
    try {
      const p = ICAL.Property.fromString(shadow);
      const t = readIcsProp(p, shadowRoot(m), zone.iana);
      if (t && (allDay ? isoDate(t.date ? t.wall : m.series.wallOfMs(t.ms)) === isoDate(local) : t.ms === ms)) return p;
    } catch { /* fall through */ }
  }
  return timeProp("RECURRENCE-ID", allDay ? renderDate(local) : render(ms, zone, use));
}

/** The date an all-day occurrence was on: its occurrenceId's date when present, else originalStart's date (a UTC
 *  midnight as such, any other instant in the series zone). */
function allDayDate(ex: GraphEvent, ms: number, zone: string): Wall {
  const oid = /(\d{4}-\d{2}-\d{2})$/.exec(String(ex.occurrenceId ?? ""))?.[1];
  const w = oid ? parseWall(oid) : null;
  if (w) return w;
  const utc = wallOf(ms);
  const local = utc.h === 0 && utc.mi === 0 && utc.s === 0 ? utc : zone === "UTC" ? utc : wallIn(zone, ms);
  return { ...local, h: 0, mi: 0, s: 0 };
}

const uidOf = (ev: GraphEvent | null | undefined, x: Extras): string | null => x.meta.get("UID") || ev?.uid || ev?.iCalUId || ev?.id || null;

/** Graph → iCalendar text (VCALENDAR: master VEVENT + one per exception with RECURRENCE-ID, cancelled
 *  occurrences as EXDATE, a VTIMEZONE for each TZID used). */
export function groupToIcs(group: GraphGroup): string {
  const use = new ZoneUse();
  const master = group.master;
  const mx = unpackExtras(master);
  const uid = uidOf(master, mx) ?? group.exceptions.map((e) => uidOf(e, unpackExtras(e))).find((u) => u);
  if (!uid) throw new TranslateRefused("groupToIcs: the group holds no event");
  const vevents: ICAL.Component[] = [];
  let info: MasterInfo | null = null;
  if (master) {
    info = masterInfo(master, mx);
    const v = eventToVevent(master, mx, uid, null, use, info.shiftDays);
    if (info.rec) {
      v.addProperty(rruleProp(info, mx));
      const s = info.series;
      const when = (e: GraphEvent): string | null => {
        const ms = utcMs(e.originalStart);
        return Number.isFinite(ms) ? isoDate(s.date ? allDayDate(e, ms, s.zone) : s.wallOfMs(ms)) : null;
      };
      const overridden = new Set(group.exceptions.map(when).filter((d): d is string => d !== null));
      for (const p of exdateProps(info, master, mx, use, overridden)) v.addProperty(p);
    }
    vevents.push(v);
  }
  // Plain occurrences (skeletal in delta responses) are the series' own instances, not overrides.
  for (const one of group.exceptions.filter((e) => e.type !== "occurrence")) {
    // An exception read without its own zones is in its series' zones.
    const ex = { ...one, originalStartTimeZone: one.originalStartTimeZone ?? master?.originalStartTimeZone, originalEndTimeZone: one.originalEndTimeZone ?? master?.originalEndTimeZone };
    const x = unpackExtras(ex);
    vevents.push(eventToVevent(ex, x, uid, ridProp(ex, x, info, use), use));
  }
  const cal = new ICAL.Component("vcalendar");
  cal.addPropertyWithValue("version", "2.0");
  cal.addPropertyWithValue("prodid", PRODID);
  for (const [tzid, z] of [...use.zones].sort((a, b) => a[0].localeCompare(b[0]))) {
    if (z.vtz) cal.addSubcomponent(new ICAL.Component(z.vtz.toJSON() as unknown[]));
    else cal.addSubcomponent(renamed(vtimezoneFor(z.iana, z.year), tzid));
  }
  for (const v of vevents) cal.addSubcomponent(v);
  return cal.toString() + "\r\n";
}
