/**
 * Every Microsoft Graph request of a `type: microsoft` source goes through GraphApi.call: the official
 * client (@microsoft/microsoft-graph-client) with a middleware chain of our own (the SDK's
 * AuthenticationHandler, given the token per request, and its HTTPMessageHandler; no SDK RetryHandler,
 * so that the rules below are the only ones and every attempt is counted and budgeted):
 *  - at most 4 requests in flight per mailbox, and a budget of 9,000 requests per 10 minutes (Graph's
 *    Outlook limits are 4 and 10,000 per app and mailbox; reference section 7);
 *  - 429 (and 503 with Retry-After) wait exactly Retry-After (fractional seconds or an HTTP-date;
 *    exponential backoff when missing) and retry; 5xx / network failures are retried only for requests
 *    that are safe to repeat: reads, If-Match writes, DELETE, and creates that carry a transactionId
 *    (Graph answers a repeated transactionId with the event it created the first time);
 *  - a 401 forces one token refresh (session.accessToken(true)) and retries once.
 * The token comes from microsoftSession (MSAL, encrypted cache); its refusals are AuthRequired, once.
 */
import { AuthenticationHandler, AuthenticationHandlerOptions, Client, HTTPMessageHandler } from "@microsoft/microsoft-graph-client";
import { readFileSync } from "node:fs";
import { Agent } from "undici";
import { trustContext } from "../tls.ts";
import type { MicrosoftSourceConfig } from "../../config/schema.ts";
import { AuthRequired, UpstreamError, type SourceContext } from "../adapter.ts";
import { realClock, SlidingWindowBudget, type Clock } from "../budget.ts";
import { microsoftSession, type MicrosoftSession } from "./auth.ts";
import { failureOf, isAmbiguous, isThrottled, upstreamErrorOf } from "./errors.ts";

export const DEFAULT_API_URL = "https://graph.microsoft.com/v1.0";

export interface GraphApiOptions {
  timeoutMs: number;
  /** First backoff step (no Retry-After, 5xx); each retry doubles it (plus jitter), capped at 60 s. */
  backoffBaseMs?: number;
  /** Attempts for a retryable failure before it is reported (the engine then backs off longer). */
  maxAttempts?: number;
  /** Requests per 10 minutes for this mailbox (default 9,000 of Graph's 10,000). */
  perTenMinutes?: number;
  /** Requests in flight for this mailbox (Graph: 4). */
  concurrency?: number;
  clock?: Clock;
}

/** "read": safe to repeat; "idempotent": a repeat cannot create anything (If-Match, DELETE, POST with transactionId); "once": never repeated after an ambiguous failure. */
export type CallKind = "read" | "idempotent" | "once";

export interface GraphRequestSpec {
  readonly method: "GET" | "POST" | "PATCH" | "DELETE";
  /** "/me/calendars", or an absolute @odata.nextLink / deltaLink. */
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
  /** The request names an item by id: 400 ErrorInvalidIdMalformed means "not found". */
  readonly lookup?: boolean;
}

/** A counting semaphore (Graph's 4 concurrent requests per mailbox). */
class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

export class GraphApi {
  requests = 0;
  private session: Promise<MicrosoftSession> | null = null;
  private client: Client | null = null;
  private readonly budget: SlidingWindowBudget;
  private readonly slots: Semaphore;
  readonly clock: Clock;

  constructor(private readonly source: MicrosoftSourceConfig, private readonly opts: GraphApiOptions) {
    this.clock = opts.clock ?? realClock;
    this.budget = new SlidingWindowBudget(opts.perTenMinutes ?? 9_000, 600_000, this.clock);
    this.slots = new Semaphore(opts.concurrency ?? 4);
  }

  private graphClient(): Client {
    if (this.client) return this.client;
    const api = new URL((this.source.apiUrl ?? DEFAULT_API_URL).replace(/\/+$/, ""));
    const version = api.pathname.replace(/^\/+/, "") || "v1.0";
    const ca = this.source.caCert ? readFileSync(this.source.caCert, "utf8") : null;
    const fetchOptions = ca ? { dispatcher: new Agent({ connect: { secureContext: trustContext(ca, false) } }) } : {};
    // The token is given per request (AuthenticationHandlerOptions); this provider is never reached.
    const unused = { getAccessToken: (): Promise<string> => Promise.reject(new Error("no token for this request")) };
    const auth = new AuthenticationHandler(unused);
    const overridden = this.source.apiUrl !== undefined && api.hostname !== "graph.microsoft.com";
    this.client = Client.initWithMiddleware({
      middleware: [auth, new HTTPMessageHandler()],
      baseUrl: `${api.origin}/`,
      defaultVersion: version,
      ...(overridden ? { customHosts: new Set([api.hostname]) } : {}),
      fetchOptions: fetchOptions as never,
    });
    return this.client;
  }

  /** One session for concurrent first calls (one MSAL application, one cache reader). */
  private open(ctx: SourceContext): Promise<MicrosoftSession> {
    this.session ??= microsoftSession(this.source, ctx).catch((e: unknown) => {
      this.session = null;
      throw e;
    });
    return this.session;
  }

  /** The stored sign-in's idle warning (see auth-session), or null. */
  async expiryWarning(ctx: SourceContext): Promise<string | null> {
    return (await this.open(ctx)).expiryWarning(this.clock.now());
  }

  backoffMs(attempt: number): number {
    const base = this.opts.backoffBaseMs ?? 1_000;
    return Math.min(60_000, base * 2 ** attempt + Math.floor(Math.random() * base));
  }

  private async send<T>(spec: GraphRequestSpec, token: string, signal: AbortSignal): Promise<T> {
    let r = this.graphClient().api(spec.path).middlewareOptions([new AuthenticationHandlerOptions({ getAccessToken: async () => token })]);
    if (spec.headers) r = r.headers(spec.headers);
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    r = r.option("signal", AbortSignal.any([signal, timeout]));
    switch (spec.method) {
      case "GET":
        return (await r.get()) as T;
      case "POST":
        return (await r.post(spec.body ?? {})) as T;
      case "PATCH":
        return (await r.patch(spec.body ?? {})) as T;
      case "DELETE":
        return (await r.delete()) as T;
    }
  }

  async call<T>(what: string, kind: CallKind, spec: GraphRequestSpec, ctx: SourceContext): Promise<T> {
    const signal = ctx.signal;
    const maxAttempts = this.opts.maxAttempts ?? 6;
    let refreshed = false;
    let force = false;
    for (let attempt = 0; ; ) {
      const session = await this.open(ctx);
      let token: string;
      try {
        token = await session.accessToken(force);
      } catch (e) {
        if (e instanceof AuthRequired) this.session = null; // a new sign-in is read afresh next time
        throw e;
      }
      force = false;
      await this.budget.take(1, signal);
      await this.slots.acquire();
      this.requests++;
      let wait: number;
      try {
        return await this.send<T>(spec, token, signal);
      } catch (e) {
        if (signal.aborted) throw e;
        if (e instanceof UpstreamError) throw e;
        const f = failureOf(e);
        if (f.status === 401 && !refreshed) {
          refreshed = force = true;
          continue;
        }
        const retryable = isThrottled(f) || (isAmbiguous(f) && kind !== "once");
        if (!retryable || attempt + 1 >= maxAttempts) throw upstreamErrorOf(f, what, this.source.id, this.backoffMs(attempt + 1), spec.lookup ?? false);
        wait = f.retryAfterMs ?? this.backoffMs(attempt);
        attempt++;
      } finally {
        this.slots.release();
      }
      await this.clock.sleep(wait, signal);
    }
  }
}
