/**
 * MSAL's HTTP client for calgate: node:https with the system roots plus the source's caCert (TLS checks
 * stay on), a timeout on every request, and a note of the last failure (transport error or non-2xx
 * answer) so error messages can say what actually went wrong. MSAL 7's own client uses the global fetch,
 * which takes no CA options, and turns some failures into bare codes (endpoints_resolution_error).
 * Import through ./auth.ts.
 */
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { AuthError, type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from "@azure/msal-node";
import { parseRetryAfter } from "../timing.ts";
import { trustContext } from "../tls.ts";
import { MicrosoftAuthError } from "./auth-core.ts";

export const NETWORK_TIMEOUT_MS = 30_000;
/** Larger answers are cut off (identity endpoints answer with a few KiB). */
const MAX_BODY_BYTES = 1024 * 1024;

/** The last thing that went wrong on the wire (no tokens: only the status, error code and description). */
export interface NetworkFailure {
  readonly url: string;
  /** HTTP status, or null for a transport failure (refused connection, TLS, timeout). */
  readonly status: number | null;
  /** The OAuth `error` of the answer, or the transport error's message. */
  readonly error: string;
  readonly description: string | null;
  /** Retry-After of a 429/503 answer, in ms. */
  readonly retryAfterMs: number | null;
  readonly at: number;
}

/** Origin and path of a URL, without its query (which may carry a client id, never needed in messages). */
const shortUrl = (url: string): string => {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return "(unparsable URL)";
  }
};


/** An INetworkModule over node:https (and node:http, which MSAL refuses for authorities anyway). */
export class CalgateNetworkClient implements INetworkModule {
  private readonly agent: https.Agent;
  /** The most recent failure, or null when the last request succeeded. */
  lastFailure: NetworkFailure | null = null;
  /** Requests sent so far (tests count them). */
  requests = 0;

  constructor(opts: { caCert?: string | undefined; timeoutMs?: number } = {}) {
    let pem: string | undefined;
    if (opts.caCert !== undefined) {
      try {
        pem = readFileSync(opts.caCert, "utf8");
      } catch (e) {
        throw new MicrosoftAuthError(`cannot read caCert "${opts.caCert}": ${(e as Error).message}`);
      }
    }
    this.agent = new https.Agent({ keepAlive: true, ...(pem !== undefined ? { secureContext: trustContext(pem, true) } : {}) });
    this.timeoutMs = opts.timeoutMs ?? NETWORK_TIMEOUT_MS;
  }

  private readonly timeoutMs: number;

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.send<T>("GET", url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>("POST", url, options);
  }

  /** Closes idle keep-alive connections (so a CLI run can exit at once). */
  close(): void {
    this.agent.destroy();
  }

  private send<T>(method: "GET" | "POST", url: string, options: NetworkRequestOptions | undefined, timeout?: number): Promise<NetworkResponse<T>> {
    this.requests++;
    const u = new URL(url);
    const body = method === "POST" ? (options?.body ?? "") : undefined;
    const headers: Record<string, string | number> = { ...(options?.headers ?? {}) };
    if (body !== undefined) headers["content-length"] = Buffer.byteLength(body);
    const mod = u.protocol === "http:" ? http : https;
    const ms = timeout !== undefined && timeout > 0 ? Math.min(timeout, this.timeoutMs) : this.timeoutMs;
    return new Promise<NetworkResponse<T>>((resolve, reject) => {
      const fail = (message: string): void => {
        this.lastFailure = { url: shortUrl(url), status: null, error: message, description: null, retryAfterMs: null, at: Date.now() };
        reject(new AuthError("network_error", "", `Network request failed: ${message} (${shortUrl(url)})`));
      };
      const req = mod.request(u, { method, headers, ...(u.protocol === "https:" ? { agent: this.agent } : {}), timeout: ms }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY_BYTES) {
            res.destroy();
            fail(`answer larger than ${MAX_BODY_BYTES} bytes`);
            return;
          }
          chunks.push(c);
        });
        res.on("error", (e) => fail(e.message));
        res.on("end", () => {
          if (size > MAX_BODY_BYTES) return;
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString("utf8");
          const resHeaders: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) resHeaders[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
          let parsed: unknown;
          try {
            parsed = text === "" ? {} : JSON.parse(text);
          } catch {
            this.lastFailure = { url: shortUrl(url), status, error: "unparsable answer", description: `HTTP ${status}, not JSON`, retryAfterMs: parseRetryAfter(res.headers["retry-after"]), at: Date.now() };
            reject(new AuthError("token_parsing_error", "", `the identity endpoint answered HTTP ${status} with something other than JSON (${shortUrl(url)})`));
            return;
          }
          if (status >= 200 && status < 300) {
            this.lastFailure = null;
          } else {
            const o = (typeof parsed === "object" && parsed !== null ? parsed : {}) as { error?: unknown; error_description?: unknown };
            this.lastFailure = {
              url: shortUrl(url),
              status,
              error: typeof o.error === "string" ? o.error : `HTTP ${status}`,
              description: typeof o.error_description === "string" ? o.error_description : null,
              retryAfterMs: parseRetryAfter(res.headers["retry-after"]),
              at: Date.now(),
            };
          }
          resolve({ headers: resHeaders, body: parsed as T, status });
        });
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${Math.round(ms / 1000)} s`)));
      req.on("error", (e) => fail(e.message));
      req.end(body);
    });
  }
}
