/** The one backoff policy: exponential, jittered, never shorter than what the upstream asked for (Retry-After). */

export const SYNC_BACKOFF = { baseMs: 5_000, maxMs: 15 * 60_000, degradedAfter: 2 };
export const WRITE_BACKOFF = { baseMs: 2_000, maxMs: 10 * 60_000 };

export function backoff(policy: { baseMs: number; maxMs: number }, failures: number, hintMs: number | null, rnd = Math.random()): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, failures - 1));
  return Math.max(Math.round(exp * (0.5 + rnd)), hintMs ?? 0);
}

/** Delay before the next sync of a source after `failures` failed ones. */
export function backoffMs(failures: number, hintMs: number | null, rnd = Math.random()): number {
  return backoff(SYNC_BACKOFF, failures, hintMs, rnd);
}

/** Delay before the next attempt of a queued write after `attempts` failed ones. */
export function retryDelayMs(attempts: number, hintMs: number | null, rnd = Math.random()): number {
  return backoff(WRITE_BACKOFF, attempts, hintMs, rnd);
}
