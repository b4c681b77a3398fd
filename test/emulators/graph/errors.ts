/**
 * Graph error envelope (reference §6):
 * `{"error":{"code","message","innerError":{"request-id","date","client-request-id"}}}`.
 * Codes/messages follow the §6 table and the 412/429 samples.
 */
export class GraphApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly innerExtra: Record<string, string> = {},
    /** The throttling sample's innerError has no client-request-id. */
    readonly withClientRequestId = true,
  ) {
    super(message);
  }

  body(requestId: string, clientRequestId: string | undefined, now: number): unknown {
    return {
      error: {
        code: this.code,
        message: this.message,
        innerError: {
          ...this.innerExtra,
          date: new Date(now).toISOString().slice(0, 19),
          "request-id": requestId,
          ...(this.withClientRequestId ? { "client-request-id": clientRequestId ?? requestId } : {}),
        },
      },
    };
  }
}

const e = (status: number, code: string, message: string, headers?: Record<string, string>, inner?: Record<string, string>): GraphApiError =>
  new GraphApiError(status, code, message, headers, inner, inner?.code !== "429");

export const E = {
  badRequest: (message = "Invalid request.") => e(400, "BadRequest", message),
  invalidRequest: (message: string) => e(400, "ErrorInvalidRequest", message),
  validation: (message: string) => e(400, "ErrorPropertyValidationFailure", message),
  idMalformed: () => e(400, "ErrorInvalidIdMalformed", "Id is malformed."),
  timeZone: (tz: string) => e(400, "TimeZoneNotSupportedException", `A valid TimeZone value must be specified. The following TimeZone value is not supported: '${tz}'.`),
  unauthenticated: (message = "Access token has expired or is not yet valid.") => e(401, "InvalidAuthenticationToken", message),
  accessDenied: (message = "Access is denied. Check credentials and try again.") => e(403, "ErrorAccessDenied", message),
  notFound: (message = "The specified object was not found in the store.") => e(404, "ErrorItemNotFound", message),
  noRoute: () => e(400, "BadRequest", "Resource not found for the segment."),
  conflict: (status: 409 | 412) =>
    e(status, "ErrorIrresolvableConflict",
      "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item."),
  deltaReset: (status: number, code: string, location?: string) =>
    e(status, code, "The sync state is not valid anymore. Restart the synchronization.", location ? { location } : {}),
  throttled: (retryAfter: string | null) =>
    e(429, "TooManyRequests", "Please retry again later.", retryAfter === null ? {} : { "retry-after": retryAfter },
      { code: "429", message: "Please retry after", status: "429" }),
  mailboxConcurrency: (retryAfter: string) =>
    e(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", { "retry-after": retryAfter }),
  subscriptionValidation: (message: string) =>
    e(400, "InvalidRequest", `Subscription validation request failed. ${message}`),
};

/** The error a scripted fault answers with (code from the §6 table unless given). */
export function faultError(status: number, code?: string, retryAfter?: string | null): GraphApiError {
  const byStatus: Record<number, [string, string]> = {
    400: ["BadRequest", "Invalid request."],
    401: ["InvalidAuthenticationToken", "Access token has expired or is not yet valid."],
    403: ["ErrorAccessDenied", "Access is denied. Check credentials and try again."],
    404: ["ErrorItemNotFound", "The specified object was not found in the store."],
    409: ["ErrorIrresolvableConflict", "Conflict."],
    410: ["syncStateNotFound", "The sync state is not valid anymore."],
    412: ["ErrorIrresolvableConflict", "The change key does not match."],
    429: ["TooManyRequests", "Please retry again later."],
    500: ["generalException", "General exception while processing."],
    503: ["serviceNotAvailable", "The service is temporarily unavailable."],
    504: ["gatewayTimeout", "Gateway timeout."],
  };
  const [c, m] = byStatus[status] ?? ["generalException", "Error."];
  return new GraphApiError(status, code ?? c, m, retryAfter ? { "retry-after": retryAfter } : {});
}
