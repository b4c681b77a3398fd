/**
 * Google Calendar API v3 Event resources ↔ iCalendar (one calendar object resource). Pure functions:
 * no I/O, no clock, nothing of DAV, HTTP or the adapter. Mapping decisions: docs/google-fidelity.md.
 * Modules: translate-time (zones), -vtimezone, -read (Google → VEVENT), -write (VEVENT → Google),
 * -people, -alarms, -extras (extendedProperties store), -special (X-GOOGLE-*), -rules (refusedChange).
 */
import ICAL from "ical.js";
import { IcalError } from "../../ical/errors.ts";
import { parseCalendarObject } from "../../ical/parse.ts";
import { TranslateRefused, type GDateTime, type GEvent } from "./translate-types.ts";
import { likeStart, pinZone, readIcsProp, ZoneUse, icsToG, type IcsTime } from "./translate-time.ts";
import { vtimezoneFor } from "../../ical/vtimezone.ts";
import { eventToVevent, META_RIDZONE, META_TZALIAS, recurrenceProps, startFormOf, timeIn, type StartForm } from "./translate-read.ts";
import { recurrenceLines, veventToBody } from "./translate-write.ts";
import { unpackExtended } from "./translate-extras.ts";
import type { Reminder } from "./translate-alarms.ts";
import { X_EVENT_TYPE } from "./translate-special.ts";

export { TranslateRefused, type GEvent, type GDateTime } from "./translate-types.ts";
export { editableFields, refusedChange } from "./translate-rules.ts";
export type { Reminder } from "./translate-alarms.ts";

/** The Google events that form one calendar object resource: the master (or single event), and the
 *  instances Google holds as separate events (exceptions with recurringEventId + originalStartTime, and
 *  cancelled instances). master null = only instances are known (orphans: e.g. an invitation to one occurrence). */
export interface GoogleGroup { readonly master: GEvent | null; readonly instances: readonly GEvent[] }

export interface GroupToIcsOptions {
  readonly calendarZone: string | null;
  /** The calendar's default reminders (Events.defaultReminders), rendered as marked VALARMs for useDefault events. */
  readonly defaultReminders?: readonly Reminder[] | null;
}

const PRODID = "-//calgate//Google Calendar translation//EN";

/** Google → iCalendar text (one VCALENDAR: master VEVENT + one VEVENT per live exception with RECURRENCE-ID,
 *  cancelled instances as EXDATE on the master; VTIMEZONE for every TZID used). calendarZone: the calendar's
 *  time zone (Google renders dateTime in it; the event's own `timeZone` wins). */
export function groupToIcs(group: GoogleGroup, opts: GroupToIcsOptions): string {
  const use = new ZoneUse();
  const ctx = { calendarZone: opts.calendarZone, use, defaultReminders: opts.defaultReminders ?? null };
  // A cancelled master is a deleted event: what is left are its instances, if any (rendered as orphans).
  const master = group.master && group.master.status !== "cancelled" ? group.master : null;
  // An instance without originalStartTime cannot be placed in the series (and would read as a second master).
  const live = group.instances.filter((i) => i.status !== "cancelled" && i.originalStartTime);
  const cancelled = group.instances.filter((i) => i.status === "cancelled");
  const uid = master?.iCalUID ?? live.find((i) => i.iCalUID)?.iCalUID ?? (master?.id ? `${master.id}@google.com` : null)
    ?? (live[0]?.recurringEventId ? `${live[0].recurringEventId}@google.com` : null);
  if (!uid) throw new TranslateRefused("groupToIcs: no live event in the group (master cancelled or absent, no live instance)");
  for (const e of [master, ...live]) if (e) use.addAliases(unpackExtended(e.extendedProperties).meta.get(META_TZALIAS));
  const vevents: ICAL.Component[] = [];
  let form: StartForm | null = null;
  if (master) {
    const r = eventToVevent(master, ctx, uid, null);
    form = r.form;
    for (const p of recurrenceProps(master.recurrence ?? [], use, form)) r.vevent.addProperty(p);
    const ex = cancelled.filter((c) => c.originalStartTime).map((c) => timeIn(c.originalStartTime!, form!, use));
    addExdates(r.vevent, ex);
    vevents.push(r.vevent);
  }
  for (const inst of live) {
    // Orphans: RECURRENCE-ID in the instance's own zone (its master, and so the series' zone, is unknown).
    const x = unpackExtended(inst.extendedProperties);
    const own = startFormOf(inst, x, opts.calendarZone);
    const ridZone = x.meta.get(META_RIDZONE);
    const base = form ?? { ...own, date: !!inst.originalStartTime?.date };
    const f = ridZone && !base.date ? { ...base, zone: ridZone, floating: false } : base;
    const rid = inst.originalStartTime ? timeIn(inst.originalStartTime, f, use) : null;
    vevents.push(eventToVevent(inst, ctx, uid, rid).vevent);
  }
  const cal = new ICAL.Component("vcalendar");
  cal.addPropertyWithValue("version", "2.0");
  cal.addPropertyWithValue("prodid", PRODID);
  for (const [label, { zone, year }] of [...use.years].sort((a, b) => a[0].localeCompare(b[0]))) cal.addSubcomponent(vtimezoneFor(zone, year, label));
  for (const v of vevents) cal.addSubcomponent(v);
  return cal.toString() + "\r\n";
}

function addExdates(vevent: ICAL.Component, ex: ReturnType<typeof timeIn>[]): void {
  // One EXDATE line per value form (DATE, UTC, each TZID), as RFC 5545 needs one type per property.
  const groups = new Map<string, string[]>();
  for (const t of ex) {
    const key = `${t.kind}|${t.tzid ?? ""}`;
    groups.set(key, [...(groups.get(key) ?? []), t.text]);
  }
  for (const [key, vals] of groups) {
    const [kind, tzid] = key.split("|");
    const params = kind === "date" ? ";VALUE=DATE" : tzid ? `;TZID=${tzid}` : "";
    vevent.addProperty(ICAL.Property.fromString(`EXDATE${params}:${vals.join(",")}`));
  }
}

/** iCalendar → what to write to Google. Throws TranslateRefused (message names the property and why) when the
 *  object cannot be represented (e.g. VTODO/VJOURNAL, no DTSTART, a DTSTART/DTEND kind mix). */
export interface GoogleWritePlan {
  readonly uid: string;
  /** Insert/patch body for the master or single event: every mapped field present, explicit null for a mapped
   *  field that is absent in the iCalendar (so a PATCH clears it). No id, etag, iCalUID (the adapter sets those).
   *  `eventType` and the type-specific property blocks appear only for non-default types. */
  readonly master: GEvent;
  /** One per RECURRENCE-ID override (not cancelled): its originalStartTime and a full body as for master (no recurrence). */
  readonly overrides: readonly { readonly originalStartTime: GDateTime; readonly body: GEvent }[];
  /** Google event type the object carries (X-GOOGLE-EVENT-TYPE written by groupToIcs), "default" when absent. */
  readonly eventType: string;
  /** True when the object holds only overrides (no master VEVENT): `master` is then an empty body and must not
   *  be written; only the overrides apply (to instances of a series the calendar already has). */
  readonly masterless?: boolean;
}

function parse(ics: string): ICAL.Component {
  try {
    const obj = parseCalendarObject(ics);
    if (obj.component !== "VEVENT") throw new TranslateRefused(`${obj.component}: Google Calendar holds events only (no VTODO, VJOURNAL or VFREEBUSY)`);
    return obj.root;
  } catch (e) {
    if (e instanceof IcalError) throw new TranslateRefused(`not a valid calendar object: ${e.message}`);
    throw e;
  }
}

const isCancelled = (v: ICAL.Component): boolean => String(v.getFirstPropertyValue("status") ?? "").toUpperCase() === "CANCELLED";

export function icsToPlan(ics: string, opts: { calendarZone: string | null }): GoogleWritePlan {
  const root = parse(ics);
  const ctx = { root, pin: pinZone(root, opts.calendarZone) };
  const all = root.getAllSubcomponents("vevent");
  const masterComp = all.find((v) => !v.getFirstProperty("recurrence-id")) ?? null;
  const overrideComps = all.filter((v) => v !== masterComp);
  const uid = String((masterComp ?? all[0])!.getFirstPropertyValue("uid") ?? "");
  const eventType = String((masterComp ?? all[0])!.getFirstPropertyValue(X_EVENT_TYPE) ?? "default") || "default";
  const m = masterComp ? veventToBody(masterComp, ctx, null) : null;
  const masterStart: GDateTime | null = m ? m.body.start ?? null : null;
  const exdates: IcsTime[] = [];
  const overrides: { originalStartTime: GDateTime; body: GEvent }[] = [];
  for (const o of overrideComps) {
    const rid = readIcsProp(o.getFirstProperty("recurrence-id")!, root, ctx.pin);
    if (!rid) throw new TranslateRefused(`RECURRENCE-ID: '${String(o.getFirstProperty("recurrence-id")!.jCal[3])}' is not a DATE or DATE-TIME`);
    if (isCancelled(o)) {
      // A cancelled occurrence is an EXDATE for Google (it stores it as a cancelled instance).
      if (m) exdates.push(rid);
      continue;
    }
    const { body } = veventToBody(o, ctx, { masterZone: masterStart?.timeZone ?? null });
    overrides.push({ originalStartTime: masterStart ? likeStart(rid, masterStart) : icsToG(rid), body });
  }
  if (m && masterComp) {
    const lines = recurrenceLines(masterComp, ctx, m.body.start!, exdates);
    m.body.recurrence = lines.length > 0 ? lines : null;
  }
  return { uid, master: m?.body ?? {}, overrides, eventType, ...(m ? {} : { masterless: true }) };
}
