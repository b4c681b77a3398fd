/** VEVENT → Google Event body (the icsToPlan direction). */
import ICAL from "ical.js";
import { TranslateRefused, type GDateTime, type GEvent } from "./translate-types.ts";
import { addDaysIso, icsDate, icsToG, icsWall, isoDate, readIcsProp, readIcsValue, wallIn, type IcsTime } from "./translate-time.ts";
import { attendeeToG, attendeeToIcs, emailOf, organizerToG, organizerToIcs } from "./translate-people.ts";
import { alarmsToReminders, DEFAULT_MARKER, reminderOf } from "./translate-alarms.ts";
import { emptyExtras, packExtended, type Extras } from "./translate-extras.ts";
import { conferenceFromIcs, GOOGLE_X_PROPS, readJson, stringMap, TYPE_PROPS, X_COLOR, X_EVENT_TYPE, X_EXT_PRIVATE, X_EXT_SHARED } from "./translate-special.ts";
import { META_DURATION, META_FLOAT, META_NOEND, META_NOORGANIZER, META_NOSTATUS, META_RIDZONE, META_TZALIAS } from "./translate-read.ts";
import { safeDuration } from "../../ical/values.ts";
import { wallMs } from "../../ical/timezones.ts";

export interface WriteContext {
  readonly root: ICAL.Component;
  /** IANA zone floating times are pinned to. */
  readonly pin: string;
}

/** Properties the body carries (or that are regenerated from Google on the way back); everything else is kept. */
const MAPPED = new Set(["uid", "dtstamp", "last-modified", "dtstart", "dtend", "duration", "recurrence-id", "summary", "description",
  "location", "sequence", DEFAULT_MARKER, ...GOOGLE_X_PROPS]);
const RECURRENCE = new Set(["rrule", "exrule", "rdate", "exdate"]);
const paramsOf = (p: ICAL.Property): string => JSON.stringify(Object.entries((p.jCal as unknown[])[1] as object).sort());

function times(vevent: ICAL.Component, ctx: WriteContext, x: Extras): { start: IcsTime; end: IcsTime } {
  const sp = vevent.getFirstProperty("dtstart");
  if (!sp) throw new TranslateRefused("DTSTART: missing; a Google event needs a start");
  const start = readIcsProp(sp, ctx.root, ctx.pin);
  if (!start) throw new TranslateRefused(`DTSTART: '${String(sp.jCal[3])}' is not a DATE or DATE-TIME`);
  if (start.floating) x.meta.set(META_FLOAT, ctx.pin);
  noteAlias(x, start);
  const ep = vevent.getFirstProperty("dtend");
  const dp = vevent.getFirstProperty("duration");
  let end: IcsTime | null = null;
  if (ep) {
    end = readIcsProp(ep, ctx.root, ctx.pin);
    if (!end) throw new TranslateRefused(`DTEND: '${String(ep.jCal[3])}' is not a DATE or DATE-TIME`);
    noteAlias(x, end);
    if (end.date !== start.date) throw new TranslateRefused(`DTEND: a ${end.date ? "DATE" : "DATE-TIME"} with a ${start.date ? "DATE" : "DATE-TIME"} DTSTART; Google needs both ends of the same kind (all-day or timed)`);
  } else if (dp) {
    const raw = String(dp.jCal[3] ?? "");
    const d = safeDuration(raw);
    if (!d) throw new TranslateRefused(`DURATION: '${raw}' is not a duration`);
    if (start.date && d.secs !== 0) throw new TranslateRefused(`DURATION: '${raw}' on an all-day DTSTART is not whole days; Google all-day events end on a date`);
    x.meta.set(META_DURATION, raw);
    end = start.date ? { ...start, wall: addDaysIso(start.wall, d.days), ms: wallMs(addDaysIso(start.wall, d.days)) }
      : { ...start, ms: start.ms + (d.days * 86400 + d.secs) * 1000, wall: start.wall };
  } else {
    // RFC 5545 3.6.1: no end = one day (DATE) or zero length (DATE-TIME).
    x.meta.set(META_NOEND, "1");
    end = start.date ? { ...start, wall: addDaysIso(start.wall, 1), ms: wallMs(addDaysIso(start.wall, 1)) } : start;
  }
  if (end.ms < start.ms) throw new TranslateRefused(`DTEND: ${ep ? String(ep.jCal[3]) : "the end"} is before DTSTART; Google refuses a negative duration`);
  return { start, end };
}

/** Remembers the client's spelling of a zone (e.g. "W. Europe Standard Time" for Europe/Berlin). */
function noteAlias(x: Extras, t: IcsTime): void {
  if (!t.alias || !t.zone) return;
  const m = JSON.parse(x.meta.get(META_TZALIAS) ?? "{}") as Record<string, string>;
  if (m[t.zone]) return;
  m[t.zone] = t.alias;
  x.meta.set(META_TZALIAS, JSON.stringify(m));
}

/** Google form of the end: a DURATION end keeps the start's zone. */
function endG(end: IcsTime, start: IcsTime): GDateTime {
  if (end.date) return { date: isoDate(end.wall) };
  return icsToG(end.zone === null ? { ...end, zone: start.zone } : end);
}

/** RRULE/EXRULE/RDATE/EXDATE as Google recurrence lines, values re-expressed in the start's zone. */
export function recurrenceLines(vevent: ICAL.Component, ctx: WriteContext, start: GDateTime, extraExdates: readonly IcsTime[]): string[] {
  const out: string[] = [];
  const zone = start.timeZone ?? "UTC";
  const fmt = (t: IcsTime): { key: string; text: string } => {
    if (t.date || start.date) return { key: ";VALUE=DATE", text: icsDate(t.date ? t.wall : wallIn(zone, t.ms)) };
    return zone === "UTC" ? { key: "", text: `${icsWall(wallIn("UTC", t.ms))}Z` } : { key: `;TZID=${zone}`, text: icsWall(wallIn(zone, t.ms)) };
  };
  const dtstart = vevent.getFirstProperty("dtstart");
  const startTz = dtstart?.getParameter("tzid");
  for (const p of vevent.getAllProperties()) {
    if (!RECURRENCE.has(p.name) && p.name !== "x-google-recurrence") continue;
    if (p.name === "x-google-recurrence") {
      // A recurrence line ical.js could not parse when it came from Google: it goes back as it came.
      out.push(String(p.getFirstValue() ?? ""));
      continue;
    }
    if (p.name === "rrule" || p.name === "exrule") {
      // RFC 5545: UNTIL is UTC when DTSTART is zoned; a floating UNTIL would be read in Google's zone otherwise.
      out.push(p.toICALString().replace(/UNTIL=(\d{8}T\d{6})(?!Z)/i, (_m, u: string) => {
        const t = readIcsValue(u, typeof startTz === "string" ? startTz : null, ctx.root, ctx.pin);
        return t && !start.date ? `UNTIL=${icsWall(wallIn("UTC", t.ms))}Z` : `UNTIL=${u}`;
      }));
      continue;
    }
    const tz = p.getParameter("tzid");
    const groups = new Map<string, string[]>();
    for (let i = 3; i < p.jCal.length; i++) {
      const v = (p.jCal as unknown[])[i];
      const raw = Array.isArray(v) ? `${String(v[0])}/${String(v[1])}` : String(v);
      const [a, b] = raw.split("/");
      const t = readIcsValue(a!, typeof tz === "string" && tz ? tz : null, ctx.root, ctx.pin);
      if (!t) throw new TranslateRefused(`${p.name.toUpperCase()}: '${raw}' is not a DATE or DATE-TIME`);
      if (b !== undefined) {
        const e = /^[+-]?P/i.test(b) ? b : (() => { const et = readIcsValue(b, typeof tz === "string" && tz ? tz : null, ctx.root, ctx.pin); return et ? `${icsWall(wallIn("UTC", et.ms))}Z` : b; })();
        const list = groups.get(";VALUE=PERIOD") ?? [];
        list.push(`${icsWall(wallIn("UTC", t.ms))}Z/${e}`);
        groups.set(";VALUE=PERIOD", list);
        continue;
      }
      const f = fmt(t);
      groups.set(f.key, [...(groups.get(f.key) ?? []), f.text]);
    }
    for (const [key, vals] of groups) out.push(`${p.name.toUpperCase()}${key}:${vals.join(",")}`);
  }
  if (extraExdates.length > 0) {
    const f = extraExdates.map(fmt);
    out.push(`EXDATE${f[0]!.key}:${f.map((x) => x.text).join(",")}`);
  }
  return out;
}

/** Google keeps originalStartTime in the series' zone; a RECURRENCE-ID written in another form comes back in it. */
function ridForm(vevent: ICAL.Component, ctx: WriteContext, x: Extras, masterZone: string | null): void {
  const p = vevent.getFirstProperty("recurrence-id");
  const t = p ? readIcsProp(p, ctx.root, ctx.pin) : null;
  // RANGE=THISANDFUTURE (and any other parameter) has no Google field: shadow copy, restored on the way back.
  if (p && Object.keys((p.jCal as unknown[])[1] as object).some((k) => k !== "tzid" && k !== "value")) x.shadows.push(p);
  if (!t || t.date || t.floating) return;
  noteAlias(x, t);
  if (t.zone !== masterZone) x.meta.set(META_RIDZONE, t.zone ?? "UTC");
}

function text(vevent: ICAL.Component, name: string): string | null {
  const v = vevent.getFirstPropertyValue(name);
  return v === null || v === undefined ? null : String(v);
}

function statusFields(vevent: ICAL.Component, body: GEvent, x: Extras, used: Set<ICAL.Property>): void {
  const st = vevent.getFirstProperty("status");
  const sv = String(st?.getFirstValue() ?? "").toUpperCase();
  if (!st) x.meta.set(META_NOSTATUS, "1");
  // Google's "cancelled" means deleted: a CANCELLED event stays a live event there, its STATUS is kept aside.
  body.status = sv === "TENTATIVE" ? "tentative" : "confirmed";
  if (st && (sv === "TENTATIVE" || sv === "CONFIRMED")) used.add(st);
  const tr = vevent.getFirstProperty("transp");
  const tv = String(tr?.getFirstValue() ?? "").toUpperCase();
  body.transparency = tv === "TRANSPARENT" ? "transparent" : tv === "OPAQUE" ? "opaque" : null;
  if (tr && body.transparency) used.add(tr);
  const cl = vevent.getFirstProperty("class");
  const cv = String(cl?.getFirstValue() ?? "").toUpperCase();
  body.visibility = ({ PUBLIC: "public", PRIVATE: "private", CONFIDENTIAL: "confidential" } as Record<string, string>)[cv] ?? null;
  if (cl && body.visibility) used.add(cl);
}

function people(vevent: ICAL.Component, body: GEvent, x: Extras, used: Set<ICAL.Property>): void {
  const op = vevent.getFirstProperty("organizer");
  const org = organizerToG(op);
  body.organizer = org ?? null;
  if (!op) x.meta.set(META_NOORGANIZER, "1");
  if (op && org) {
    used.add(op);
    if (paramsOf(organizerToIcs(org)!) !== paramsOf(op)) x.shadows.push(op);
  }
  const list: NonNullable<GEvent["attendees"]> = [];
  for (const p of vevent.getAllProperties("attendee")) {
    const a = attendeeToG(p, org?.email ?? null);
    if (!a || list.some((o) => o.email!.toLowerCase() === a.email!.toLowerCase())) continue;
    list.push(a);
    used.add(p);
    if (paramsOf(attendeeToIcs(a)!) !== paramsOf(p)) x.shadows.push(p);
  }
  // [] rather than null: the schema types attendees as a list, and PATCH replaces arrays wholesale.
  body.attendees = list;
  void emailOf;
}

function googleOnly(vevent: ICAL.Component, body: GEvent): void {
  body.colorId = text(vevent, X_COLOR);
  for (const [field, prop] of TYPE_PROPS) {
    const v = readJson(vevent.getFirstProperty(prop));
    if (v && typeof v === "object") (body as Record<string, unknown>)[field] = v;
  }
  const type = text(vevent, X_EVENT_TYPE);
  if (type && type !== "default") body.eventType = type;
}

function plainAlarm(a: ICAL.Component, summary: string): boolean {
  const names = a.getAllProperties().map((p) => p.name).sort().join(",");
  const desc = String(a.getFirstPropertyValue("description") ?? "");
  const email = String(a.getFirstPropertyValue("action") ?? "").toUpperCase() === "EMAIL";
  const r = reminderOf(a);
  const trig = String(a.getFirstPropertyValue("trigger") ?? "");
  if (!r || trig !== (r.minutes === 0 ? "PT0S" : `-PT${r.minutes}M`)) return false;
  if (desc !== (summary || "Reminder") || a.getAllSubcomponents().length > 0) return false;
  if (!email) return names === "action,description,trigger";
  return (names === "action,description,summary,trigger" || names === "action,attendee,description,summary,trigger")
    && String(a.getFirstPropertyValue("summary") ?? "") === (summary || "Reminder");
}

/** The body for one VEVENT (master, single event or override); recurrence is added by the caller. */
export function veventToBody(vevent: ICAL.Component, ctx: WriteContext, override: { masterZone: string | null } | null): { body: GEvent; start: IcsTime } {
  const x = emptyExtras();
  const used = new Set<ICAL.Property>();
  const { start, end } = times(vevent, ctx, x);
  if (override) ridForm(vevent, ctx, x, override.masterZone);
  const body: GEvent = { start: icsToG(start), end: endG(end, start) };
  for (const n of ["summary", "description", "location"] as const) {
    const p = vevent.getFirstProperty(n);
    const v = p ? String(p.getFirstValue() ?? "") : "";
    // Google drops empty strings; an empty property is kept aside instead so it comes back as it was.
    body[n] = v === "" ? null : v;
    if (p && v !== "") {
      used.add(p);
      if (paramsOf(p) !== "[]") x.shadows.push(p);
    } else if (p) x.props.push(p);
  }
  statusFields(vevent, body, x, used);
  people(vevent, body, x, used);
  const seq = Number(text(vevent, "sequence"));
  body.sequence = Number.isInteger(seq) && seq >= 0 ? seq : null;
  googleOnly(vevent, body);
  const conf = conferenceFromIcs(vevent);
  // The schema has no null here, but JSON null is how a PATCH clears it (with conferenceDataVersion=1).
  body.conferenceData = conf.data ?? (null as unknown as undefined);
  const split = alarmsToReminders(vevent);
  body.reminders = split.reminders;
  // Alarms exactly as groupToIcs writes them need no copy: they come back the same from the reminder alone.
  x.shadowAlarms.push(...split.mapped.filter((a) => !plainAlarm(a, body.summary ?? "")));
  x.alarms.push(...split.kept);
  const firsts = new Set(["summary", "description", "location", "dtstart", "dtend", "duration", "uid", "recurrence-id", "sequence"]);
  for (const p of vevent.getAllProperties()) {
    if (used.has(p) || ((RECURRENCE.has(p.name) || p.name === "x-google-recurrence") && !override)) continue;
    if (MAPPED.has(p.name) && (!firsts.has(p.name) || vevent.getFirstProperty(p.name) === p) && !(override && p.name === "recurrence-id" && vevent.getFirstProperty(p.name) !== p)) continue;
    if (p.name === "conference" && conf.used.has(String(p.getFirstValue() ?? ""))) continue;
    x.props.push(p);
  }
  body.extendedProperties = packExtended(x, stringMap(readJson(vevent.getFirstProperty(X_EXT_PRIVATE))), stringMap(readJson(vevent.getFirstProperty(X_EXT_SHARED))));
  return { body, start };
}
