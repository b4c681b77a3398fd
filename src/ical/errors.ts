/**
 * The errors ical/ throws on purpose. They say what is wrong with the iCalendar data, never how a
 * protocol answers it: no HTTP status, no DAV condition names (dav/errors.ts maps them, once).
 */

/** Why an iCalendar object was refused. */
export type IcalErrorReason =
  /** Not parseable iCalendar, or a property value that is not what RFC 5545 says (CALDAV:valid-calendar-data). */
  | "invalid-calendar-data"
  /** Parseable, but not one calendar object resource (RFC 4791 4.1: one VCALENDAR, one UID, one component type, …). */
  | "invalid-object"
  /** Larger than the configured maximum size. */
  | "too-large"
  /** A component type the target calendar does not hold. */
  | "unsupported-component";

/** The iCalendar data is refused (parse and validation). */
export class IcalError extends Error {
  constructor(message: string, readonly reason: IcalErrorReason = "invalid-calendar-data") {
    super(message);
    this.name = "IcalError";
  }
}

/**
 * Recurrence expansion stopped: too many instances in the range, too many iterations, or an RRULE
 * that cannot be expanded. Not an IcalError: the data is valid, the question was too large.
 */
export class ExpansionLimit extends Error {
  readonly reason = "too-many-instances" as const;
  constructor(message: string) {
    super(message);
    this.name = "ExpansionLimit";
  }
}
