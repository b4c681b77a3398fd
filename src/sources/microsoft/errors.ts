/**
 * Microsoft Graph failures (reference sections 5-7) classified once, so the client decides retry |
 * wait | refresh, and what is left maps to the typed upstream errors of adapter.ts. Branches only on
 * the status and the error `code`, never on the message (reference section 6).
 */
import { parseRetryAfter } from "../timing.ts";
import { AuthRequired, CursorExpired, NotFoundUpstream, Permanent, PreconditionFailedUpstream, RateLimited, Transient, UpstreamError } from "../adapter.ts";

export interface GraphFailure {
  /** HTTP status; null for network errors and timeouts. */
  readonly status: number | null;
  /** error.code of Graph's envelope (ErrorItemNotFound, syncStateNotFound ...). */
  readonly code: string | null;
  readonly message: string;
  /** Retry-After in ms when the answer carried one (fractional seconds or an HTTP-date). */
  readonly retryAfterMs: number | null;
}

interface GraphErrorLike {
  statusCode?: number;
  code?: string | null;
  message?: string;
  body?: unknown;
  headers?: { get?(name: string): string | null } | Record<string, string>;
}

export { parseRetryAfter };

function header(h: GraphErrorLike["headers"], name: string): string | null {
  if (!h) return null;
  if (typeof (h as { get?: unknown }).get === "function") return (h as { get(n: string): string | null }).get(name);
  const rec = h as Record<string, string>;
  return rec[name] ?? rec[name.toLowerCase()] ?? null;
}

/** Reads a GraphError (or a network error) into a GraphFailure. */
export function failureOf(e: unknown): GraphFailure {
  const err = (e ?? {}) as GraphErrorLike;
  const status = typeof err.statusCode === "number" && err.statusCode > 0 ? err.statusCode : null;
  let code = status !== null && typeof err.code === "string" ? err.code : null;
  if (code === null && typeof err.body === "string") {
    try {
      const b = JSON.parse(err.body) as { code?: unknown };
      if (typeof b.code === "string") code = b.code;
    } catch {
      /* not JSON */
    }
  }
  const message = err.message || (e instanceof Error ? e.message : String(e)) || (status ? `HTTP ${status}` : "no answer");
  return { status, code, message, retryAfterMs: parseRetryAfter(header(err.headers, "retry-after")) };
}

export const isThrottled = (f: GraphFailure): boolean => f.status === 429 || (f.status === 503 && f.retryAfterMs !== null);
/** No answer, or one saying the server failed: the request may or may not have been carried out. */
export const isAmbiguous = (f: GraphFailure): boolean => f.status === null || f.status >= 500 || f.status === 408;
export const isDeltaReset = (f: GraphFailure): boolean => f.status === 410 || f.code === "syncStateNotFound" || f.code === "resyncRequired";

/** The typed upstream error for a failure nobody retried or handled. `lookup`: the request named an item by id. */
export function upstreamErrorOf(f: GraphFailure, what: string, sourceId: string, retryAfterMs: number, lookup: boolean): UpstreamError {
  const msg = `Microsoft Graph ${what}: ${f.status ?? "no answer"}${f.code ? ` ${f.code}` : ""}: ${f.message}`;
  if (f.status === 401) return new AuthRequired(`${msg}; if this persists, run \`calgate auth microsoft ${sourceId}\``, 401);
  if (isDeltaReset(f)) return new CursorExpired(msg, f.status);
  if (f.status === 429) return new RateLimited(msg, f.retryAfterMs ?? retryAfterMs, 429);
  if (f.status === 404 || f.code === "ErrorItemNotFound") return new NotFoundUpstream(msg, 404);
  if (lookup && f.status === 400 && f.code === "ErrorInvalidIdMalformed") return new NotFoundUpstream(msg, 404);
  if (f.status === 412 || (f.status === 409 && f.code === "ErrorIrresolvableConflict")) return new PreconditionFailedUpstream(msg, 412);
  if (isAmbiguous(f)) return new Transient(msg, f.status, f.retryAfterMs);
  return new Permanent(msg, f.status);
}
