/** One VALARM ↔ Graph's single reminder (isReminderOn, reminderMinutesBeforeStart). */
import ICAL from "ical.js";
import { safeDuration } from "../../ical/values.ts";
import type { GraphEvent } from "./translate-types.ts";

/** Minutes before start of an alarm Graph can hold (DISPLAY/AUDIO, relative to START, at or before it, whole
 *  minutes, no REPEAT), else null. Apple's "no alarm" sentinel (ACTION:NONE) is never one. */
export function reminderMinutes(a: ICAL.Component): number | null {
  const action = String(a.getFirstPropertyValue("action") ?? "").toUpperCase();
  if (action !== "DISPLAY" && action !== "AUDIO") return null;
  if (a.getFirstProperty("repeat") || a.getFirstProperty("duration")) return null;
  const trig = a.getFirstProperty("trigger");
  if (!trig || trig.type !== "duration") return null;
  const related = String(trig.getParameter("related") ?? "START").toUpperCase();
  if (related !== "START") return null;
  const v = (trig.jCal as unknown[])[3];
  const d = typeof v === "string" ? safeDuration(v) : null;
  if (!d) return null;
  const secs = -(d.days * 86_400 + d.secs);
  if (secs < 0 || secs % 60 !== 0) return null;
  return secs / 60;
}

export function alarmFields(mapped: ICAL.Component | null): Partial<GraphEvent> {
  const m = mapped ? reminderMinutes(mapped) : null;
  return m === null ? { isReminderOn: false } : { isReminderOn: true, reminderMinutesBeforeStart: m };
}

/** The VALARM for Graph's reminder (null when off). */
export function reminderAlarm(ev: GraphEvent): ICAL.Component | null {
  if (!ev.isReminderOn) return null;
  const m = Math.max(0, Math.round(Number(ev.reminderMinutesBeforeStart ?? 15)) || 0);
  const a = new ICAL.Component("valarm");
  a.addPropertyWithValue("action", "DISPLAY");
  a.addPropertyWithValue("description", "Reminder");
  const t = ICAL.Property.fromString(`TRIGGER:${m === 0 ? "PT0S" : m % 1440 === 0 ? `-P${m / 1440}D` : `-PT${m}M`}`);
  a.addProperty(t);
  return a;
}
