/**
 * Pure translation between Microsoft Graph v1.0 event resources and iCalendar (one calendar object resource).
 * No I/O, no clock, nothing of DAV, HTTP or the adapter. Mapping decisions: docs/microsoft-fidelity.md.
 * Modules: -types, -zones (Windows ↔ IANA), -vtimezone, -time (values), -recur (patternedRecurrence ↔ RRULE),
 * -series, -fields (simple groups), -html, -alarm, -extras (extended-property blob), -write/-plan (→ Graph),
 * -read/-ics (→ iCalendar).
 */
export { TranslateRefused } from "./translate-types.ts";
export type { GraphDateTimeTimeZone, GraphEvent, GraphGroup, GraphWritePlan } from "./translate-types.ts";
export { groupToIcs } from "./translate-ics.ts";
export { icsToPlan, type PlanOptions } from "./translate-plan.ts";
export { EXTRAS_PROPERTY_ID } from "./translate-extras.ts";
export { ianaToWindows, graphZoneToIana } from "./translate-zones.ts";
export { htmlToText } from "./translate-html.ts";
