/**
 * The HTTP layer of the CalDAV source: plain fetch with Basic auth, a per-request timeout, manual
 * redirects (any method), bounded retries with exponential backoff and jitter for network errors,
 * 5xx and 503/429 with Retry-After, and a request counter (every attempt counts). Failures are mapped
 * to the typed UpstreamErrors here, once.
 *
 * Redirects are followed by hand, by both `request` and the `fetch` given to tsdav, under one policy
 * (redirectDecision): the credentials go along only to the origin (scheme, host, port) that asked
 * for them, as the Fetch standard does; a redirect to another origin is followed without the
 * Authorization header; a redirect from https to http is refused (Permanent), since it would send
 * the request, and with a same-host redirect the credentials, in clear text.
 */
import { readFileSync } from "node:fs";
import { Agent } from "undici";
import { parseRetryAfter, sleep } from "../timing.ts";
import { trustContext } from "../tls.ts";
import { AuthRequired, NotFoundUpstream, Permanent, PreconditionFailedUpstream, RateLimited, Transient, UpstreamError } from "../adapter.ts";

/** Connection errors that prove nothing was sent: refused, unreachable, or the name did not resolve. */
const NOT_CONNECTED = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

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

export { parseRetryAfter };

/** What to do with a redirect (redirectDecision). */
export type RedirectDecision =
  | { follow: true; /** Whether the Authorization header may go along (when it still is). */ credentials: boolean }
  | { follow: false; why: string };

/**
 * Hosts whose redirects within the same registrable domain, https to https, keep the credentials.
 * iCloud is the one case calgate handles explicitly: caldav.icloud.com sends an account to its
 * partition host (p01-caldav.icloud.com, p52-caldav.icloud.com ...), which needs the same Apple ID
 * app password; stripping it there would turn every such redirect into a 401. All of icloud.com is
 * Apple's, so the password goes to no one it was not already meant for. Any other cross-origin
 * redirect loses the credentials (the well-known or calendar-home-set hrefs a server names are
 * requests calgate makes itself, not redirects, and are not affected).
 */
const CREDENTIAL_SITES: readonly string[] = ["icloud.com"];

const isRedirect = (status: number): boolean => status === 301 || status === 302 || status === 303 || status === 307 || status === 308;

const onSite = (host: string, site: string): boolean => host === site || host.endsWith("." + site);

/**
 * The redirect policy, as a pure function of the URL redirected from and the URL redirected to:
 *  - to anything but http(s): refused;
 *  - from https to http: refused (a downgrade would send the request unencrypted);
 *  - same origin (scheme + host + port, default ports normalised): followed with credentials;
 *  - https to https within one of CREDENTIAL_SITES (iCloud partitions): followed with credentials;
 *  - any other origin (another host, another port, http to https): followed without credentials.
 */
export function redirectDecision(from: string | URL, to: string | URL): RedirectDecision {
  const a = new URL(from);
  const b = new URL(to);
  if (b.protocol !== "http:" && b.protocol !== "https:") return { follow: false, why: `${b.protocol} is not http(s)` };
  if (a.protocol === "https:" && b.protocol === "http:") return { follow: false, why: "a redirect from https to http would send the request unencrypted" };
  if (a.origin === b.origin) return { follow: true, credentials: true };
  if (a.protocol === "https:" && b.protocol === "https:" && CREDENTIAL_SITES.some((s) => onSite(a.hostname, s) && onSite(b.hostname, s))) return { follow: true, credentials: true };
  return { follow: true, credentials: false };
}

const refused = (method: string, from: string, to: string, why: string): Permanent =>
  new Permanent(`${method} ${from} redirected to ${to}: not followed (${why})`);

export class CaldavHttp {
  requests = 0;
  private readonly auth: string;
  private readonly dispatcher: Agent | undefined;
  constructor(private readonly o: HttpOptions) {
    this.auth = "Basic " + Buffer.from(`${o.username}:${o.password}`).toString("base64");
    this.dispatcher = o.caCert ? new Agent({ connect: { secureContext: trustContext(readFileSync(o.caCert, "utf8"), false) } }) : undefined;
  }

  /**
   * A fetch for libraries (tsdav) that counts, authenticates and times out like ours, and follows
   * redirects under the same policy as `request` (unless the caller asks for redirect: "manual").
   */
  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const first = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    let target = first;
    let method = init?.method ?? (input instanceof Request ? input.method : "GET");
    let body = init?.body;
    let credentials = true;
    for (let hop = 0; hop < 6; hop++) {
      this.requests++;
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      if (credentials) headers.set("authorization", this.auth);
      else headers.delete("authorization");
      const timeout = AbortSignal.timeout(this.o.timeoutMs);
      const res = await fetch(target, {
        ...init,
        method,
        headers,
        body,
        redirect: "manual",
        signal: init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout,
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      } as RequestInit);
      const location = res.headers.get("location");
      if (init?.redirect === "manual" || !isRedirect(res.status) || !location) return res;
      await res.body?.cancel();
      const next = new URL(location, target).href;
      const d = redirectDecision(target, next);
      if (!d.follow) throw refused(method, target, next, d.why);
      credentials &&= d.credentials;
      // As fetch does: 303 (and 301/302 after a POST) continue as a GET without a body.
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method.toUpperCase() === "POST")) {
        method = "GET";
        body = undefined;
      }
      target = next;
    }
    throw new Permanent(`${method} ${first}: too many redirects`);
  };

  async request(method: string, url: string, init: RequestInit2, signal: AbortSignal): Promise<HttpReply> {
    const attempts = this.o.attempts ?? 3;
    let last: UpstreamError | null = null;
    let sent = false; // did any attempt possibly reach the server?
    const failure = (e: UpstreamError): UpstreamError => (e instanceof Transient && e.notSent && sent ? new Transient(e.message, e.status, e.retryAfterMs, false) : e);
    for (let i = 0; i < attempts; i++) {
      try {
        return await this.once(method, url, init, signal);
      } catch (e) {
        if (!(e instanceof Transient || e instanceof RateLimited) || signal.aborted) throw e;
        if (!(e instanceof Transient && e.notSent)) sent = true;
        last = e;
        if (i === attempts - 1) break;
        const hinted = e.retryAfterMs;
        if (hinted !== null && hinted > (this.o.maxRetryAfterMs ?? 10_000)) throw failure(e);
        const base = (this.o.baseBackoffMs ?? 250) * 2 ** i;
        await sleep(hinted ?? base / 2 + Math.random() * base, signal);
      }
    }
    throw failure(last!);
  }

  private async once(method: string, url: string, init: RequestInit2, signal: AbortSignal): Promise<HttpReply> {
    let target = url;
    /** Cleared for good by the first redirect to an origin that may not have the credentials. */
    let credentials = true;
    const extra = Object.fromEntries(Object.entries(init.headers ?? {}).filter(([k]) => k.toLowerCase() !== "authorization"));
    for (let hop = 0; hop < 6; hop++) {
      this.requests++;
      const timeout = AbortSignal.timeout(this.o.timeoutMs);
      const both = AbortSignal.any([signal, timeout]);
      let res: Response;
      let body: string;
      try {
        res = await fetch(target, {
          method,
          headers: {
            ...(credentials ? { authorization: this.auth } : {}),
            ...(init.body !== undefined && !init.headers?.["content-type"] ? { "content-type": "application/xml; charset=utf-8" } : {}),
            ...extra,
          },
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
        // No connection was made (nothing of the request left this process), and no earlier hop reached a server.
        const notSent = hop === 0 && !timeout.aborted && NOT_CONNECTED.has(err.cause?.code ?? "");
        throw new Transient(`${method} ${target}: ${why}`, null, null, notSent);
      }
      if (res.status >= 300 && res.status < 400 && res.status !== 304 && res.headers.get("location")) {
        const next = new URL(res.headers.get("location")!, target).href;
        const d = redirectDecision(target, next);
        if (!d.follow) throw refused(method, target, next, d.why);
        credentials &&= d.credentials;
        target = next;
        continue;
      }
      const reply: HttpReply = { status: res.status, url: target, headers: res.headers, body };
      if (res.ok || init.accept?.includes(res.status)) return reply;
      const what = `${method} ${target} → ${res.status}${body ? `: ${summarise(body)}` : ""}`;
      const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
      if (res.status === 401) {
        throw new AuthRequired(
          credentials
            ? `the CalDAV server refused the credentials (${what})`
            : `the CalDAV server asked for credentials after ${url} redirected to another origin, where calgate does not send them (${what})`,
          401,
        );
      }
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
