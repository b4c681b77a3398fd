/**
 * Client-side request budgets that keep an adapter inside its provider's quotas (Google: 600 requests
 * per minute per user and 10,000 per project, sliding one-minute windows; Graph: 10,000 requests per
 * 10 minutes per app and mailbox). Waiting here is cheaper than being refused: a refused request
 * still counts, and a storm of refusals stretches an import.
 */

import { sleep } from "./timing.ts";

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = { now: () => Date.now(), sleep };

/** Requests that had to wait for a budget in this process, and the time they waited (read by /metrics). */
export const budgetWaits = { count: 0, ms: 0 };

/** At most `limit` units in any window of `windowMs`. */
export class SlidingWindowBudget {
  private readonly spent: { at: number; units: number }[] = [];
  private total = 0;

  constructor(readonly limit: number, readonly windowMs = 60_000, private readonly clock: Clock = realClock) {
    if (!(limit > 0)) throw new Error(`a request budget needs a positive limit (got ${limit})`);
  }

  /** How long a request of `units` must wait before it fits (0: now). */
  waitFor(units: number): number {
    const now = this.clock.now();
    this.expire(now);
    if (this.total + units <= this.limit) return 0;
    // Drop the oldest entries until it fits; the wait is until the last dropped one leaves the window.
    let freed = 0;
    for (const s of this.spent) {
      freed += s.units;
      if (this.total - freed + units <= this.limit) return Math.max(1, s.at + this.windowMs - now);
    }
    return this.windowMs;
  }

  /** Waits until `units` fit, then spends them. */
  async take(units: number, signal?: AbortSignal): Promise<number> {
    let waited = 0;
    for (;;) {
      const wait = this.waitFor(units);
      if (wait === 0) break;
      waited += wait;
      await this.clock.sleep(wait, signal);
    }
    if (waited > 0) {
      budgetWaits.count++;
      budgetWaits.ms += waited;
    }
    const at = this.clock.now();
    this.spent.push({ at, units });
    this.total += units;
    return waited;
  }

  private expire(now: number): void {
    while (this.spent.length > 0 && this.spent[0]!.at + this.windowMs <= now) this.total -= this.spent.shift()!.units;
  }
}

/** Budgets shared by every source of this process with the same key (e.g. one Google OAuth client = one project). */
const sharedBudgets = new Map<string, SlidingWindowBudget>();
export function sharedBudget(key: string, limit: number, windowMs = 60_000): SlidingWindowBudget {
  let b = sharedBudgets.get(key);
  if (!b || b.limit !== limit || b.windowMs !== windowMs) sharedBudgets.set(key, (b = new SlidingWindowBudget(limit, windowMs)));
  return b;
}
