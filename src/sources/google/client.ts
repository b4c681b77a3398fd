/**
 * Every Calendar API request of a Google source goes through GoogleApi.call: the official client
 * (@googleapis/calendar over google-auth-library), with only the root URL changed for emulators, plus
 * what the library does not do for us (reference section 7):
 *  - a client-side budget per account and per project, so an import stays inside Google's quotas;
 *  - retries with exponential backoff and jitter for 403/429 rate limits (the library retries only
 *    429 and only on GET/PUT/DELETE) and for 5xx / network failures of requests that are safe to
 *    repeat. A request that creates something ("once") is never repeated here: the adapter first
 *    looks whether the lost attempt was stored;
 *  - a forced token refresh on a 401: google-auth-library does not refresh while its own expiry_date
 *    is in the future, so a token revoked or expired early would fail every call until then.
 * The library's own retry is turned off so that these rules are the only ones.
 */
import { calendar, type calendar_v3 } from "@googleapis/calendar";
import type { GoogleSourceConfig } from "../../config/schema.ts";
import { AuthRequired, UpstreamError, type SourceContext } from "../adapter.ts";
import { authorisedClient } from "./auth.ts";
import { realClock, sharedBudget, SlidingWindowBudget, type Clock } from "../budget.ts";
import { failureOf, isAmbiguous, isInvalidGrant, isRateLimit, upstreamErrorOf } from "./errors.ts";

export const DEFAULT_API_URL = "https://www.googleapis.com/calendar/v3";

export interface GoogleApiOptions {
  timeoutMs: number;
  /** First backoff step; each retry doubles it (plus jitter), capped at 32 s. */
  backoffBaseMs?: number;
  /** Attempts for a retryable failure before it is reported (the engine and writer then back off longer). */
  maxAttempts?: number;
  /** Budgets per minute: per Google account (this source) and per OAuth client (project). */
  perUserPerMinute?: number;
  perProjectPerMinute?: number;
  clock?: Clock;
}

/** "read": safe to repeat; "idempotent": a repeat cannot create a second item (If-Match, DELETE); "once": creates. */
export type CallKind = "read" | "idempotent" | "once";
type Options = { retry: false; timeout: number; signal: AbortSignal };

/** Root URL the client library wants ("https://www.googleapis.com/") from a source's apiUrl (".../calendar/v3"). */
export function rootUrlOf(apiUrl: string): string {
  const u = apiUrl.replace(/\/+$/, "");
  if (!u.endsWith("/calendar/v3")) throw new Error(`apiUrl must end with /calendar/v3 (got ${apiUrl})`);
  return u.slice(0, -"calendar/v3".length);
}

export class GoogleApi {
  requests = 0;
  private session: { api: calendar_v3.Calendar; forceRefresh(): Promise<void>; expiryWarning(now?: number): string | null } | null = null;
  private readonly userBudget: SlidingWindowBudget;
  private readonly clock: Clock;

  constructor(private readonly source: GoogleSourceConfig, private readonly opts: GoogleApiOptions) {
    this.clock = opts.clock ?? realClock;
    // 90 % of Google's documented 600 / 10,000 per minute: other tools of the same account share them.
    this.userBudget = new SlidingWindowBudget(opts.perUserPerMinute ?? 540, 60_000, this.clock);
  }

  private async open(ctx: SourceContext): Promise<NonNullable<GoogleApi["session"]>> {
    if (this.session) return this.session;
    const { client, forceRefresh, expiryWarning } = await authorisedClient(this.source, ctx);
    const api = calendar({ version: "v3", auth: client, rootUrl: rootUrlOf(this.source.apiUrl ?? DEFAULT_API_URL) });
    return (this.session = { api, forceRefresh, expiryWarning });
  }

  /** A warning when the stored refresh token is expected to expire soon (apps in Testing status), else null. */
  async expiryWarning(ctx: SourceContext): Promise<string | null> {
    return (await this.open(ctx)).expiryWarning(this.clock.now());
  }

  backoffMs(attempt: number): number {
    const base = this.opts.backoffBaseMs ?? 500;
    return Math.min(32_000, base * 2 ** attempt + Math.floor(Math.random() * base));
  }

  async call<T>(what: string, kind: CallKind, fn: (api: calendar_v3.Calendar, o: Options) => Promise<{ data: T }>, ctx: SourceContext, cost = 1): Promise<T> {
    const signal = ctx.signal;
    const project = sharedBudget(`google:${this.source.clientId}`, this.opts.perProjectPerMinute ?? 9_000);
    const maxAttempts = this.opts.maxAttempts ?? 6;
    let refreshed = false;
    for (let attempt = 0; ; ) {
      const session = await this.open(ctx);
      await this.userBudget.take(cost, signal);
      await project.take(cost, signal);
      this.requests++;
      try {
        return (await fn(session.api, { retry: false, timeout: this.opts.timeoutMs, signal })).data;
      } catch (e) {
        if (signal.aborted) throw e;
        if (e instanceof UpstreamError) {
          if (e instanceof AuthRequired) this.session = null; // a new sign-in is read afresh next time
          throw e;
        }
        const f = failureOf(e);
        if (isInvalidGrant(f)) {
          this.session = null;
          const err = upstreamErrorOf(f, what, this.source.id, 0);
          await ctx.tokenRefreshed(false, err.message);
          throw err;
        }
        if (f.status === 401 && !refreshed) {
          refreshed = true;
          try {
            await session.forceRefresh();
          } catch (re) {
            if (re instanceof AuthRequired) this.session = null;
            throw re instanceof UpstreamError ? re : upstreamErrorOf(failureOf(re), "token refresh", this.source.id, 0);
          }
          continue;
        }
        const retryable = isRateLimit(f) || (isAmbiguous(f) && kind !== "once");
        if (retryable && attempt + 1 < maxAttempts) {
          await this.clock.sleep(this.backoffMs(attempt), signal);
          attempt++;
          continue;
        }
        throw upstreamErrorOf(f, what, this.source.id, this.backoffMs(attempt + 1));
      }
    }
  }
}
