/**
 * Google Calendar API failures (reference section 6) classified once, so the client decides retry |
 * backoff | refresh, and the adapter maps what is left to the typed upstream errors of adapter.ts.
 */
import { AuthRequired, CursorExpired, NotFoundUpstream, Permanent, PreconditionFailedUpstream, RateLimited, Transient, UpstreamError } from "../adapter.ts";

export interface GoogleFailure {
  /** HTTP status; null for network errors and timeouts. */
  readonly status: number | null;
  /** errors[0].reason, e.g. rateLimitExceeded, fullSyncRequired, duplicate; OAuth's `error` (invalid_grant). */
  readonly reason: string | null;
  readonly message: string;
}

interface ErrorLike {
  status?: number;
  code?: string | number;
  message?: string;
  name?: string;
  response?: { status?: number; data?: unknown };
}

/** Reads a GaxiosError (or any thrown value) into a GoogleFailure. */
export function failureOf(e: unknown): GoogleFailure {
  const err = (e ?? {}) as ErrorLike;
  const status = err.response?.status ?? (typeof err.status === "number" ? err.status : null);
  const data = err.response?.data as { error?: unknown; error_description?: unknown } | string | undefined;
  let reason: string | null = null;
  let message = err.message ?? String(e);
  if (data && typeof data === "object") {
    const envelope = data.error;
    if (typeof envelope === "string") {
      // OAuth token endpoint: {"error":"invalid_grant","error_description":"..."}
      reason = envelope;
      if (typeof data.error_description === "string") message = `${envelope}: ${data.error_description}`;
    } else if (envelope && typeof envelope === "object") {
      const env = envelope as { errors?: { reason?: unknown }[]; message?: unknown };
      const r = env.errors?.[0]?.reason;
      if (typeof r === "string") reason = r;
      if (typeof env.message === "string") message = env.message;
    }
  }
  return { status: status ?? null, reason, message };
}

export const isRateLimit = (f: GoogleFailure): boolean =>
  f.status === 429 || (f.status === 403 && (f.reason === "rateLimitExceeded" || f.reason === "userRateLimitExceeded"));
/** Account-level "Calendar usage limits exceeded": hours to clear, not a per-minute quota. */
export const isUsageLimit = (f: GoogleFailure): boolean => f.status === 403 && f.reason === "quotaExceeded";
/** No answer, or an answer saying the server failed: the request may or may not have been carried out. */
export const isAmbiguous = (f: GoogleFailure): boolean => f.status === null || f.status >= 500 || f.status === 408;
export const isInvalidGrant = (f: GoogleFailure): boolean => f.reason === "invalid_grant";

/** The typed upstream error for a failure nobody retried or handled. */
export function upstreamErrorOf(f: GoogleFailure, what: string, sourceId: string, retryAfterMs: number): UpstreamError {
  const msg = `Google ${what}: ${f.status ?? "no answer"}${f.reason ? ` ${f.reason}` : ""}: ${f.message}`;
  if (isInvalidGrant(f)) return new AuthRequired(`Google refused the saved sign-in of source "${sourceId}" (expired or revoked): run \`calgate auth google ${sourceId}\``, 400);
  if (f.status === 401) return new AuthRequired(`${msg}; if this persists, run \`calgate auth google ${sourceId}\``, 401);
  if (isRateLimit(f)) return new RateLimited(msg, retryAfterMs, f.status);
  if (isUsageLimit(f)) return new RateLimited(`${msg} (Google's account-level usage limit; it clears in hours)`, 60 * 60_000, 403);
  if (f.status === 410 && (f.reason === "fullSyncRequired" || f.reason === "updatedMinTooLongAgo")) return new CursorExpired(msg, 410);
  if (f.status === 404 || f.status === 410) return new NotFoundUpstream(msg, f.status);
  if (f.status === 412) return new PreconditionFailedUpstream(msg, 412);
  if (isAmbiguous(f)) return new Transient(msg, f.status);
  return new Permanent(msg, f.status);
}
