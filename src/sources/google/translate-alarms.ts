/**
 * VALARM ↔ reminders. Google holds at most 5 overrides {method email|popup, minutes 0..40320 before start}.
 * A VALARM maps when it is ACTION DISPLAY/EMAIL with a relative TRIGGER at or before the start; its full text
 * also goes to the shadow store (translate-extras.ts) so UID, DESCRIPTION, ACKNOWLEDGED, X-props come back
 * verbatim while Google still holds that reminder. Every other VALARM (AUDIO, absolute, after start, RELATED=END,
 * Apple's ACTION:NONE sentinel, a 6th alarm, a duplicate) is kept whole in extendedProperties.
 * useDefault ↔ X-GOOGLE-DEFAULT-REMINDERS:TRUE on the VEVENT; the calendar's default reminders, when the caller
 * knows them, are rendered as VALARMs marked X-GOOGLE-DEFAULT-REMINDER:TRUE (like Apple's X-APPLE-DEFAULT-ALARM)
 * so clients show them; marked alarms are ignored on the way back (they stand for "use the defaults").
 */
import ICAL from "ical.js";
import { safeDuration } from "../../ical/values.ts";
import type { GEvent } from "./translate-types.ts";

export type Reminder = { method: string; minutes: number };
export const DEFAULT_MARKER = "x-google-default-reminders";
const DEFAULT_ALARM_MARKER = "x-google-default-reminder";
const MAX_OVERRIDES = 5;
const MAX_MINUTES = 40320;

/** Minutes before start a VALARM maps to, with its method; null when Google cannot express it. */
export function reminderOf(alarm: ICAL.Component): Reminder | null {
  const action = String(alarm.getFirstPropertyValue("action") ?? "").toUpperCase();
  const method = action === "DISPLAY" ? "popup" : action === "EMAIL" ? "email" : null;
  if (!method) return null;
  const trig = alarm.getFirstProperty("trigger");
  if (!trig || trig.type !== "duration") return null;
  const related = String(trig.getParameter("related") ?? "START").toUpperCase();
  if (related !== "START") return null;
  const v = (trig.jCal as unknown[])[3];
  const d = typeof v === "string" ? safeDuration(v) : null;
  if (!d) return null;
  const secs = 0 - (d.days * 86400 + d.secs); // not -(x): -0 would leak into minutes
  if (secs < 0 || secs % 60 !== 0 || secs / 60 > MAX_MINUTES) return null;
  return { method, minutes: secs / 60 };
}

export interface AlarmSplit {
  readonly reminders: GEvent["reminders"];
  /** Mapped alarms (their text goes to the shadow store). */
  readonly mapped: ICAL.Component[];
  /** Alarms Google cannot hold (kept whole in extendedProperties). */
  readonly kept: ICAL.Component[];
}

export function alarmsToReminders(vevent: ICAL.Component): AlarmSplit {
  const mapped: ICAL.Component[] = [];
  const kept: ICAL.Component[] = [];
  const overrides: Reminder[] = [];
  let defaults = String(vevent.getFirstPropertyValue(DEFAULT_MARKER) ?? "").toUpperCase() === "TRUE";
  for (const a of vevent.getAllSubcomponents("valarm")) {
    if (String(a.getFirstPropertyValue(DEFAULT_ALARM_MARKER) ?? "").toUpperCase() === "TRUE") continue;
    const r = reminderOf(a);
    if (r && overrides.length < MAX_OVERRIDES && !overrides.some((o) => o.method === r.method && o.minutes === r.minutes)) {
      overrides.push(r);
      mapped.push(a);
    } else kept.push(a);
  }
  // An alarm the client added next to the marker wins: the user chose explicit reminders.
  if (overrides.length > 0) defaults = false;
  return { reminders: defaults ? { useDefault: true } : { useDefault: false, overrides }, mapped, kept };
}

function alarmFor(r: Reminder, summary: string, email: string | null): ICAL.Component {
  const a = new ICAL.Component("valarm");
  a.addPropertyWithValue("action", r.method === "email" ? "EMAIL" : "DISPLAY");
  a.addProperty(ICAL.Property.fromString(`TRIGGER:${r.minutes === 0 ? "PT0S" : `-PT${r.minutes}M`}`));
  a.addPropertyWithValue("description", summary || "Reminder");
  if (r.method === "email") {
    a.addPropertyWithValue("summary", summary || "Reminder");
    if (email) a.addPropertyWithValue("attendee", `mailto:${email}`);
  }
  return a;
}

/** VALARMs for a Google event; `shadows` are the original texts of mapped alarms, reused when they still match. */
export function remindersToAlarms(ev: GEvent, vevent: ICAL.Component, shadows: readonly ICAL.Component[], defaults: readonly Reminder[] | null): void {
  const rem = ev.reminders;
  const summary = ev.summary ?? "";
  const self = ev.attendees?.find((a) => a.self)?.email ?? (ev.organizer?.self ? ev.organizer.email ?? null : null);
  if (rem?.useDefault) {
    vevent.addPropertyWithValue(DEFAULT_MARKER, "TRUE");
    for (const r of defaults ?? []) {
      const a = alarmFor(r, summary, self);
      a.addPropertyWithValue(DEFAULT_ALARM_MARKER, "TRUE");
      vevent.addSubcomponent(a);
    }
    return;
  }
  const pool = [...shadows];
  for (const o of rem?.overrides ?? []) {
    const r = { method: o.method ?? "popup", minutes: o.minutes ?? 0 };
    const i = pool.findIndex((s) => { const x = reminderOf(s); return !!x && x.method === r.method && x.minutes === r.minutes; });
    vevent.addSubcomponent(i >= 0 ? pool.splice(i, 1)[0]! : alarmFor(r, summary, self));
  }
}
