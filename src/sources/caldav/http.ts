/**
 * The HTTP layer of the CalDAV source: plain fetch with Basic auth, a per-request timeout, manual
 * redirects (any method, any host: iCloud moves accounts to partition hosts), bounded retries with
 * exponential backoff and jitter for network errors, 5xx and 503/429 with Retry-After, and a request
 * counter (every attempt counts). Failures are mapped to the typed UpstreamErrors here, once.
 */
import { readFileSync } from "node:fs";
import { Agent } from "undici";
import { AuthRequired, NotFoundUpstream, Permanent, PreconditionFailedUpstream, RateLimited, Transient, UpstreamError } from "../adapter.ts";

export interface HttpOptions {
  username: string;
  password: string;
  timeoutMs: number;
  caCert?: string | undefined;
  /** Attempts per request for retryable failures (1 = no retry). */
  attempts?: number;
  /** Longest Retry-After honoured inside one request; longer waits are left to the scheduler's backoff. */
  maxRetryAfterMs?: number;
  baseBackoffMs?: number;
}

export interface HttpReply {
  status: number;
  url: string;
  headers: Headers;
  body: string;
}

export interface RequestInit2 {
  headers?: Record<string, string>;
  body?: string;
  /** Statuses the caller handles itself instead of the typed errors (e.g. 403/409 for valid-sync-token). */
  accept?: readonly number[];
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
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

export function parseRetryAfter(v: string | null, now = Date.now()): number | null {
  if (!v) return null;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}

export class CaldavHttp {
  requests = 0;
  private readonly auth: string;
  private readonly dispatcher: Agent | undefined;
  constructor(private readonly o: HttpOptions) {
    this.auth = "Basic " + Buffer.from(`${o.username}:${o.password}`).toString("base64");
    this.dispatcher = o.caCert ? new Agent({ connect: { ca: readFileSync(o.caCert, "utf8") } }) : undefined;
  }

  /** A fetch for libraries (tsdav) that counts, authenticates and times out like ours. */
  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    this.requests++;
    const headers = new Headers(init?.headers);
    headers.set("authorization", this.auth);
    return fetch(input, { ...init, headers, signal: AbortSignal.timeout(this.o.timeoutMs), ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}) } as RequestInit);
  };

  async request(method: string, url: string, init: RequestInit2, signal: AbortSignal): Promise<HttpReply> {
    const attempts = this.o.attempts ?? 3;
    let last: UpstreamError | null = null;
    for (let i = 0; i < attempts; i++) {
      try {
        return await this.once(method, url, init, signal);
      } catch (e) {
        if (!(e instanceof Transient || e instanceof RateLimited) || signal.aborted) throw e;
        last = e;
        if (i === attempts - 1) break;
        const hinted = e.retryAfterMs;
        if (hinted !== null && hinted > (this.o.maxRetryAfterMs ?? 10_000)) throw e;
        const base = (this.o.baseBackoffMs ?? 250) * 2 ** i;
        await sleep(hinted ?? base / 2 + Math.random() * base, signal);
      }
    }
    throw last!;
  }

  private async once(method: string, url: string, init: RequestInit2, signal: AbortSignal): Promise<HttpReply> {
    let target = url;
    for (let hop = 0; hop < 6; hop++) {
      this.requests++;
      const timeout = AbortSignal.timeout(this.o.timeoutMs);
      const both = AbortSignal.any([signal, timeout]);
      let res: Response;
      let body: string;
      try {
        res = await fetch(target, {
          method,
          headers: { authorization: this.auth, ...(init.body !== undefined && !init.headers?.["content-type"] ? { "content-type": "application/xml; charset=utf-8" } : {}), ...(init.headers ?? {}) },
          body: init.body,
          redirect: "manual",
          signal: both,
          ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
        } as RequestInit);
        body = await res.text();
      } catch (e) {
        if (signal.aborted) throw e;
        const err = e as Error & { cause?: { code?: string; message?: string } };
        const why = timeout.aborted ? `timed out after ${this.o.timeoutMs} ms` : err.cause?.code ?? err.cause?.message ?? err.message;
        throw new Transient(`${method} ${target}: ${why}`);
      }
      if (res.status >= 300 && res.status < 400 && res.status !== 304 && res.headers.get("location")) {
        target = new URL(res.headers.get("location")!, target).href;
        continue;
      }
      const reply: HttpReply = { status: res.status, url: target, headers: res.headers, body };
      if (res.ok || init.accept?.includes(res.status)) return reply;
      const what = `${method} ${target} → ${res.status}${body ? `: ${summarise(body)}` : ""}`;
      const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
      if (res.status === 401) throw new AuthRequired(`the CalDAV server refused the credentials (${what})`, 401);
      if (res.status === 412) throw new PreconditionFailedUpstream(what, 412);
      if (res.status === 404 || res.status === 410) throw new NotFoundUpstream(what, res.status);
      if (res.status === 429) throw new RateLimited(what, retryAfter ?? 30_000, 429);
      if (res.status === 408 || res.status >= 500) throw new Transient(what, res.status, retryAfter);
      throw new Permanent(what, res.status);
    }
    throw new Permanent(`${method} ${url}: too many redirects`);
  }
}

/** The first meaningful bit of an error body, for messages a person reads. */
export function summarise(body: string): string {
  const m = /<(?:[\w-]+:)?message[^>]*>([^<]{1,300})</i.exec(body) ?? /<(?:[\w-]+:)?responsedescription[^>]*>([^<]{1,300})</i.exec(body);
  const s = (m?.[1] ?? body.replace(/<[^>]+>/g, " ")).replace(/\s+/g, " ").trim();
  return s.length > 200 ? s.slice(0, 200) + "…" : s;
}
