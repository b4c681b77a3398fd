/**
 * Pure translation between Microsoft Graph v1.0 event resources and iCalendar (see docs/microsoft-fidelity.md).
 * No I/O, no clock.
 */
import { TranslateRefused, type GraphGroup, type GraphWritePlan } from "./translate-types.ts";

export { TranslateRefused } from "./translate-types.ts";
export type { GraphDateTimeTimeZone, GraphEvent, GraphGroup, GraphWritePlan } from "./translate-types.ts";

/** Graph → iCalendar text (VCALENDAR: master VEVENT + one per exception with RECURRENCE-ID, cancelled occurrences
 *  as EXDATE, VTIMEZONE for each zone used). Events as read WITH `Prefer: outlook.timezone="UTC"`. */
export function groupToIcs(group: GraphGroup): string {
  void group;
  throw new Error("groupToIcs: not implemented yet");
}

/** iCalendar → what to write. Throws TranslateRefused when the object cannot be represented without changing it. */
export function icsToPlan(ics: string): GraphWritePlan {
  void ics;
  throw new TranslateRefused("icsToPlan: not implemented yet");
}
