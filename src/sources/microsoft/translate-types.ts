/** Microsoft Graph v1.0 event shapes used by the translation module (pure types, no I/O). */

export interface GraphDateTimeTimeZone {
  dateTime: string;
  timeZone: string;
}

export interface GraphEvent {
  id?: string;
  "@odata.etag"?: string;
  type?: "singleInstance" | "occurrence" | "exception" | "seriesMaster";
  seriesMasterId?: string | null;
  iCalUId?: string;
  uid?: string;
  subject?: string | null;
  body?: { contentType: "html" | "text"; content: string } | null;
  start?: GraphDateTimeTimeZone;
  end?: GraphDateTimeTimeZone;
  originalStart?: string | null;
  originalStartTimeZone?: string | null;
  isAllDay?: boolean;
  recurrence?: { pattern: Record<string, unknown>; range: Record<string, unknown> } | null;
  showAs?: string;
  sensitivity?: string;
  importance?: string;
  categories?: string[];
  isReminderOn?: boolean;
  reminderMinutesBeforeStart?: number;
  attendees?: unknown[];
  organizer?: unknown;
  location?: unknown;
  locations?: unknown[];
  isOnlineMeeting?: boolean;
  onlineMeeting?: { joinUrl?: string } | null;
  onlineMeetingProvider?: string;
  isCancelled?: boolean;
  transactionId?: string | null;
  lastModifiedDateTime?: string;
  createdDateTime?: string;
  cancelledOccurrences?: string[];
  singleValueExtendedProperties?: { id: string; value: string }[];
  [k: string]: unknown;
}

/** The Graph events forming one calendar object resource: the seriesMaster (or singleInstance) and its exceptions;
 *  cancelled occurrences come from the master's cancelledOccurrences (OID.<masterId>.<yyyy-MM-dd>). */
export interface GraphGroup {
  readonly master: GraphEvent | null;
  readonly exceptions: readonly GraphEvent[];
}

export interface GraphWritePlan {
  readonly uid: string;
  /** POST/PATCH body for the master or single event; every mapped field present (null to clear). */
  readonly master: GraphEvent;
  /** RECURRENCE-ID overrides (not cancelled): the occurrence's original start (UTC ISO) and a PATCH body. */
  readonly exceptions: readonly {
    readonly originalStart: string;
    readonly originalDate: string /* yyyy-mm-dd in the series zone */;
    readonly body: GraphEvent;
  }[];
  /** EXDATEs: occurrences to cancel (DELETE the occurrence), as local dates yyyy-mm-dd in the series zone. */
  readonly cancelled: readonly string[];
}

/** The object cannot be represented on Graph without changing its meaning; the message names property, value, why. */
export class TranslateRefused extends Error {
  override readonly name = "TranslateRefused";
}
