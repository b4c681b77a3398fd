/**
 * Quotas and scripted failures (reference §7, §6): per-user and per-project sliding one-minute
 * windows, scripted faults (consumed in order) and a seeded rate-limit storm.
 */
import { ApiError, E, faultError } from "./errors.ts";

export interface Fault {
  method?: string;
  path?: RegExp;
  status: number;
  reason?: string;
  times?: number;
  loseAnswer?: boolean;
}

const WINDOW_MS = 60_000;

class SlidingWindow {
  private hits: Array<{ at: number; cost: number }> = [];

  /** Records a request of `cost` units and answers whether the window is now over `limit`. */
  add(now: number, cost: number, limit: number): boolean {
    this.hits = this.hits.filter((h) => h.at > now - WINDOW_MS);
    this.hits.push({ at: now, cost });
    return this.hits.reduce((s, h) => s + h.cost, 0) > limit;
  }
}

export class Limits {
  private readonly users = new Map<string, SlidingWindow>();
  private readonly projects = new Map<string, SlidingWindow>();
  private readonly faults: Array<Fault & { left: number }> = [];
  private storm: number | null = null;

  constructor(
    private readonly now: () => number,
    private readonly rng: () => number,
    private readonly perUser: number,
    private readonly perProject: number,
  ) {}

  clearFaults(): void {
    this.faults.length = 0;
  }
  addFault(f: Fault): void {
    this.faults.push({ ...f, left: f.times ?? 1 });
  }

  setStorm(probability: number | null): void {
    this.storm = probability;
  }

  /** rateLimitExceeded arrives as 403 or 429, chosen at random (§6, §11.6). */
  private rateLimit(): ApiError {
    return E.rateLimitExceeded(this.rng() < 0.5 ? 403 : 429);
  }

  /** The first scripted fault matching this request (consumed), if any. */
  takeFault(method: string, path: string): (Fault & { error?: ApiError }) | undefined {
    const i = this.faults.findIndex((f) => (!f.method || f.method.toUpperCase() === method) && (!f.path || f.path.test(path)));
    if (i < 0) return undefined;
    const f = this.faults[i]!;
    if (--f.left <= 0) this.faults.splice(i, 1);
    if (f.loseAnswer) return f;
    const error = f.reason === "rateLimitExceeded" && f.status !== 403 && f.status !== 429 ? this.rateLimit() : faultError(f.status, f.reason);
    return { ...f, error };
  }

  stormError(): ApiError | undefined {
    if (this.storm === null || this.storm <= 0) return undefined;
    return this.rng() < this.storm ? this.rateLimit() : undefined;
  }

  /** Counts one request (patch costs 3 units, §1) against both windows (§7). */
  charge(email: string, clientId: string, cost: number): ApiError | undefined {
    const now = this.now();
    const user = this.users.get(`${clientId}|${email}`) ?? new SlidingWindow();
    this.users.set(`${clientId}|${email}`, user);
    const project = this.projects.get(clientId) ?? new SlidingWindow();
    this.projects.set(clientId, project);
    const projectOver = project.add(now, cost, this.perProject);
    const userOver = user.add(now, cost, this.perUser);
    if (projectOver) return this.rateLimit();
    if (userOver) return E.userRateLimitExceeded();
    return undefined;
  }
}
