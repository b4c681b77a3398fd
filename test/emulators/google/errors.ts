/**
 * Google API error envelope (reference §6):
 * `{"error":{"errors":[{domain,reason,message,locationType?,location?}],"code","message"}}`.
 */
export interface ErrorItem {
  domain: string;
  reason: string;
  message: string;
  locationType?: string;
  location?: string;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly item: ErrorItem,
  ) {
    super(item.message);
  }

  body(): { error: { errors: ErrorItem[]; code: number; message: string } } {
    return { error: { errors: [{ ...this.item }], code: this.code, message: this.item.message } };
  }
}

const err = (code: number, domain: string, reason: string, message: string, locationType?: string, location?: string): ApiError =>
  new ApiError(code, { domain, reason, message, ...(locationType ? { locationType, location } : {}) });

export const E = {
  invalid: (message = "Invalid Value", location?: string, locationType = "parameter") =>
    err(400, "global", "invalid", message, location ? locationType : undefined, location),
  required: (message: string, location?: string, locationType = "parameter") =>
    err(400, "global", "required", message, location ? locationType : undefined, location),
  badRequest: (message = "Bad Request") => err(400, "global", "badRequest", message),
  parseError: () => err(400, "global", "parseError", "Parse Error"),
  timeRangeEmpty: (location = "timeMax") =>
    err(400, "calendar", "timeRangeEmpty", "The specified time range is empty.", "parameter", location),
  authError: () => err(401, "global", "authError", "Invalid Credentials", "header", "Authorization"),
  insufficientPermissions: () =>
    err(403, "global", "insufficientPermissions", "Request had insufficient authentication scopes."),
  requiredAccessLevel: () =>
    err(403, "calendar", "requiredAccessLevel", "You need to have writer access to this calendar."),
  userRateLimitExceeded: () => err(403, "usageLimits", "userRateLimitExceeded", "User Rate Limit Exceeded"),
  rateLimitExceeded: (code: 403 | 429) => err(code, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"),
  notFound: () => err(404, "global", "notFound", "Not Found"),
  duplicate: () => err(409, "global", "duplicate", "The requested identifier already exists."),
  fullSyncRequired: () =>
    err(410, "calendar", "fullSyncRequired", "Sync token is no longer valid, a full sync is required.", "parameter", "syncToken"),
  updatedMinTooLongAgo: () =>
    err(410, "calendar", "updatedMinTooLongAgo", "The requested minimum modification time lies too far in the past.", "parameter", "updatedMin"),
  deleted: () => err(410, "global", "deleted", "Resource has been deleted"),
  conditionNotMet: () => err(412, "global", "conditionNotMet", "Precondition Failed", "header", "If-Match"),
  backendError: (code = 500) => err(code, "global", "backendError", "Backend Error"),
};

/** The error a scripted fault answers with: a reason taken from the table of §6 by default. */
export function faultError(status: number, reason?: string): ApiError {
  const byStatus: Record<number, [string, string, string]> = {
    400: ["global", "badRequest", "Bad Request"],
    401: ["global", "authError", "Invalid Credentials"],
    403: ["usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"],
    404: ["global", "notFound", "Not Found"],
    409: ["global", "conflict", "Conflict"],
    410: ["global", "deleted", "Resource has been deleted"],
    412: ["global", "conditionNotMet", "Precondition Failed"],
    429: ["usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"],
    500: ["global", "backendError", "Backend Error"],
    503: ["global", "backendError", "Backend Error"],
  };
  const known: Record<string, [string, string]> = {
    rateLimitExceeded: ["usageLimits", "Rate Limit Exceeded"],
    userRateLimitExceeded: ["usageLimits", "User Rate Limit Exceeded"],
    quotaExceeded: ["usageLimits", "Calendar usage limits exceeded."],
    fullSyncRequired: ["calendar", "Sync token is no longer valid, a full sync is required."],
    updatedMinTooLongAgo: ["calendar", "The requested minimum modification time lies too far in the past."],
    forbiddenForNonOrganizer: ["calendar", "Shared properties can only be changed by the organizer of the event."],
    timeRangeEmpty: ["calendar", "The specified time range is empty."],
    authError: ["global", "Invalid Credentials"],
    backendError: ["global", "Backend Error"],
    notFound: ["global", "Not Found"],
    duplicate: ["global", "The requested identifier already exists."],
    conflict: ["global", "Conflict"],
    deleted: ["global", "Resource has been deleted"],
    conditionNotMet: ["global", "Precondition Failed"],
  };
  if (reason === "fullSyncRequired") return E.fullSyncRequired();
  if (reason === "authError") return E.authError();
  if (reason === "conditionNotMet") return E.conditionNotMet();
  if (reason) {
    const [domain, message] = known[reason] ?? ["global", reason];
    return new ApiError(status, { domain, reason, message });
  }
  const [domain, r, message] = byStatus[status] ?? ["global", "backendError", "Backend Error"];
  return new ApiError(status, { domain, reason: r, message });
}
