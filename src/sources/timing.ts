/** Waiting on upstreams, shared by every adapter: an abortable sleep and the Retry-After header. */

/** Resolves after `ms`, or rejects with the signal's reason as soon as it is aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Retry-After as ms: delta-seconds (Graph sends fractions, e.g. 2.128) or an HTTP-date (RFC 9110
 * 10.2.3); null when absent or unreadable.
 */
export function parseRetryAfter(v: string | readonly string[] | null | undefined, now = Date.now()): number | null {
  const s = (typeof v === "string" ? v : v?.[0])?.trim();
  if (!s) return null;
  if (/^\d+(\.\d+)?$/.test(s)) return Math.ceil(Number(s) * 1000);
  const at = Date.parse(s);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}
