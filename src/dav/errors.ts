/** Typed DAV errors: status + optional precondition element, rendered once at the edge as a DAV:error body. */
import { cal, dav, type Clark } from "../xml/names.ts";
import { ExpansionLimit, IcalError, type IcalErrorReason } from "../ical/errors.ts";

export class DavError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** RFC 4918 / RFC 4791 precondition or postcondition element name, rendered inside DAV:error. */
    readonly condition?: Clark,
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = "DavError";
  }
}

export const badRequest = (msg: string, condition?: Clark): DavError => new DavError(400, msg, condition);
export const forbidden = (msg: string, condition?: Clark): DavError => new DavError(403, msg, condition);
export const notFound = (msg = "no such resource"): DavError => new DavError(404, msg);
export const conflict = (msg: string, condition?: Clark): DavError => new DavError(409, msg, condition);
export const preconditionFailed = (msg: string): DavError => new DavError(412, msg);
export const unsupportedMedia = (msg: string, condition?: Clark): DavError => new DavError(415, msg, condition);

export const Conditions = {
  validCalendarData: cal("valid-calendar-data"),
  validCalendarObject: cal("valid-calendar-object-resource"),
  supportedCalendarComponent: cal("supported-calendar-component"),
  supportedCalendarData: cal("supported-calendar-data"),
  noUidConflict: cal("no-uid-conflict"),
  maxResourceSize: cal("max-resource-size"),
  validFilter: cal("valid-filter"),
  supportedFilter: cal("supported-filter"),
  validTimezone: cal("valid-calendar-timezone"),
  calendarCollectionLocationOk: cal("calendar-collection-location-ok"),
  numberOfMatchesWithinLimits: dav("number-of-matches-within-limits"),
  validSyncToken: dav("valid-sync-token"),
  resourceMustBeNull: dav("resource-must-be-null"),
  needPrivileges: dav("need-privileges"),
  supportedReport: dav("supported-report"),
  validResourcetype: dav("valid-resourcetype"),
  propfindFiniteDepth: dav("propfind-finite-depth"),
  cannotModifyProtectedProperty: dav("cannot-modify-protected-property"),
} as const;

/** How each refusal from ical/ is answered: the one table (RFC 4791 preconditions). */
const ICAL_REFUSALS: Readonly<Record<IcalErrorReason | ExpansionLimit["reason"], { status: number; condition: Clark }>> = {
  "invalid-calendar-data": { status: 403, condition: Conditions.validCalendarData },
  "invalid-object": { status: 403, condition: Conditions.validCalendarObject },
  "too-large": { status: 403, condition: Conditions.maxResourceSize },
  "unsupported-component": { status: 403, condition: Conditions.supportedCalendarComponent },
  "too-many-instances": { status: 403, condition: Conditions.numberOfMatchesWithinLimits },
};

/** An ical/ error as the DavError a client sees (same message; status and condition from the table). */
export function fromIcalError(e: IcalError | ExpansionLimit): DavError {
  const { status, condition } = ICAL_REFUSALS[e.reason];
  return new DavError(status, e.message, condition);
}

/** Whether `e` is one of ical/'s own errors (fromIcalError maps it). */
export function isIcalRefusal(e: unknown): e is IcalError | ExpansionLimit {
  return e instanceof IcalError || e instanceof ExpansionLimit;
}
