/**
 * Every outgoing HTTP request of this process (fetch and undici: the CalDAV client, googleapis,
 * the Graph client, the OAuth token requests), seen through undici's diagnostics channels: its
 * upstream host, status (or "error" when no answer came) and time to the response headers. The
 * adapters need no hook of their own, and no URL path or header (which may carry tokens) is kept.
 */
import diagnostics from "node:diagnostics_channel";

export interface UpstreamResponse {
  /** host[:port] of the upstream. */
  host: string;
  method: string;
  /** The HTTP status, or "error" (connection refused, reset, timeout, aborted). */
  status: string;
  seconds: number;
}

interface UndiciRequest {
  origin?: string | URL;
  method?: string;
}

/** Calls `f` for every outgoing response or failure; returns the function that stops it. */
export function watchUpstreamHttp(f: (r: UpstreamResponse) => void): () => void {
  const started = new WeakMap<object, number>();
  const hostOf = (req: UndiciRequest): string => {
    try {
      return new URL(String(req.origin)).host;
    } catch {
      return "unknown";
    }
  };
  const done = (req: UndiciRequest, status: string): void => {
    const t0 = started.get(req);
    if (t0 === undefined) return; // created before we watched, or already counted
    started.delete(req);
    f({ host: hostOf(req), method: (req.method ?? "GET").toUpperCase(), status, seconds: (performance.now() - t0) / 1000 });
  };
  const onCreate = (m: unknown): void => void started.set((m as { request: object }).request, performance.now());
  const onHeaders = (m: unknown): void => {
    const { request, response } = m as { request: UndiciRequest; response: { statusCode: number } };
    done(request, String(response.statusCode));
  };
  const onError = (m: unknown): void => done((m as { request: UndiciRequest }).request, "error");
  diagnostics.subscribe("undici:request:create", onCreate);
  diagnostics.subscribe("undici:request:headers", onHeaders);
  diagnostics.subscribe("undici:request:error", onError);
  return () => {
    diagnostics.unsubscribe("undici:request:create", onCreate);
    diagnostics.unsubscribe("undici:request:headers", onHeaders);
    diagnostics.unsubscribe("undici:request:error", onError);
  };
}
