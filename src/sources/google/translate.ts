/**
 * Google Calendar API v3 Event resources ↔ iCalendar (one calendar object resource). Pure functions:
 * no I/O, no clock, nothing of DAV, HTTP or the adapter. Mapping decisions: docs/google-fidelity.md.
 */
import type { calendar_v3 } from "@googleapis/calendar";

export type GEvent = calendar_v3.Schema$Event;
export type GDateTime = calendar_v3.Schema$EventDateTime;

/** The Google events that form one calendar object resource: the master (or single event), and the
 *  instances Google holds as separate events (exceptions with recurringEventId + originalStartTime, and
 *  cancelled instances). master null = only instances are known (orphans: e.g. an invitation to one occurrence). */
export interface GoogleGroup { readonly master: GEvent | null; readonly instances: readonly GEvent[] }

/** The iCalendar object cannot be represented at Google; the message names the property and why. */
export class TranslateRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TranslateRefused";
  }
}

/** Google → iCalendar text. */
export function groupToIcs(group: GoogleGroup, opts: { calendarZone: string | null }): string {
  void group;
  void opts;
  throw new TranslateRefused("groupToIcs: not implemented yet");
}

/** iCalendar → what to write to Google. */
export interface GoogleWritePlan {
  readonly uid: string;
  /** Insert/patch body for the master or single event: every mapped field present, explicit null for a mapped
   *  field that is absent in the iCalendar (so a PATCH clears it). No id, etag, iCalUID (the adapter sets those). */
  readonly master: GEvent;
  /** One per RECURRENCE-ID override (not cancelled): its originalStartTime and a full body as for master (no recurrence). */
  readonly overrides: readonly { readonly originalStartTime: GDateTime; readonly body: GEvent }[];
  /** Google event type the object carries (X-GOOGLE-EVENT-TYPE written by groupToIcs), "default" when absent. */
  readonly eventType: string;
}

export function icsToPlan(ics: string, opts: { calendarZone: string | null }): GoogleWritePlan {
  void ics;
  void opts;
  throw new TranslateRefused("icsToPlan: not implemented yet");
}

/** null when `next` only changes what Google lets a client change on an event whose current text is `current`,
 *  else a message naming the first property that may not change and why. */
export function refusedChange(current: string, next: string): string | null {
  void current;
  void next;
  return null;
}
