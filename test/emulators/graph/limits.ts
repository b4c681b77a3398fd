/**
 * Outlook service limits per (app id, mailbox) (reference §7): 4 concurrent requests (the 5th gets
 * 429 ApplicationThrottled + Retry-After), 10,000 requests per 10 minutes (429 TooManyRequests),
 * plus scripted faults and a random throttle (429 TooManyRequests, Retry-After possibly fractional).
 */
import { E, faultError, type GraphApiError } from "./errors.ts";

export interface Fault {
  method?: string;
  path?: RegExp;
  status: number;
  code?: string;
  retryAfter?: string | null;
  times?: number;
  loseAnswer?: boolean;
}

export const MAX_CONCURRENT = 4;
export const BUDGET = 10_000;
export const BUDGET_WINDOW_MS = 10 * 60_000;

export class Limits {
  private readonly faults: Array<Fault & { left: number }> = [];
  private throttleOpts: { probability: number; retryAfter?: string } | null = null;
  private readonly inFlight = new Map<string, number>();
  private readonly history = new Map<string, number[]>();

  constructor(
    private readonly now: () => number,
    private readonly rng: () => number,
  ) {}

  addFault(f: Fault): void {
    this.faults.push({ ...f, left: f.times ?? 1 });
  }
  setThrottle(o: { probability: number; retryAfter?: string } | null): void {
    this.throttleOpts = o;
  }

  /** The first matching scripted fault (consumed), if any. */
  takeFault(method: string, path: string): (Fault & { error: GraphApiError }) | undefined {
    const i = this.faults.findIndex((f) => (!f.method || f.method.toUpperCase() === method) && (!f.path || f.path.test(path)));
    if (i < 0) return undefined;
    const f = this.faults[i]!;
    if (--f.left <= 0) this.faults.splice(i, 1);
    const retryAfter = f.retryAfter === undefined ? (f.status === 429 || f.status === 503 ? "1" : null) : f.retryAfter;
    return { ...f, error: faultError(f.status, f.code, retryAfter) };
  }

  /** Registers a request of `key` (= app + mailbox); returns the concurrency level including it. */
  enter(key: string): number {
    const n = (this.inFlight.get(key) ?? 0) + 1;
    this.inFlight.set(key, n);
    return n;
  }
  /** Requests of `key` being handled now. */
  current(key: string): number {
    return this.inFlight.get(key) ?? 0;
  }
  leave(key: string): void {
    const n = (this.inFlight.get(key) ?? 1) - 1;
    if (n <= 0) this.inFlight.delete(key);
    else this.inFlight.set(key, n);
  }

  /** The throttling answer for a request that entered at concurrency `level`, if it is throttled. */
  check(key: string, level: number): GraphApiError | undefined {
    if (level > MAX_CONCURRENT) return E.mailboxConcurrency("1");
    const t = this.now();
    const h = (this.history.get(key) ?? []).filter((x) => x > t - BUDGET_WINDOW_MS);
    this.history.set(key, h);
    if (h.length >= BUDGET) {
      const wait = Math.max(1, Math.ceil((h[0]! + BUDGET_WINDOW_MS - t) / 1000));
      return E.throttled(String(wait));
    }
    h.push(t);
    if (this.throttleOpts && this.rng() < this.throttleOpts.probability) return E.throttled(this.throttleOpts.retryAfter ?? "2.128");
    return undefined;
  }
}
