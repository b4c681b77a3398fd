/**
 * The HTTPS front. Identity endpoints (reference §9) under /{tenant}/..., Graph under /v1.0 (§1).
 * Order per Graph request: scripted fault → Bearer auth → per-(app, mailbox) concurrency and budget,
 * random throttle (§7) → handler. Every answer carries request-id / client-request-id; errors use
 * the §6 envelope.
 */
import type http from "node:http";
import type { Answer } from "./api.ts";
import { E, GraphApiError } from "./errors.ts";
import type { Identity, Principal } from "./identity.ts";
import type { Limits } from "./limits.ts";
import { uuid } from "./util.ts";

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  at: number;
  /** In-flight requests of that (app, mailbox) when this one arrived, this one included. */
  concurrent: number;
  /** `Retry-Attempt` header the Graph SDK's RetryHandler sets on its retries. */
  retryAttempt?: number;
  clientId?: string;
  upn?: string;
}

export interface ServerDeps {
  identity: Identity;
  limits: Limits;
  graph: (method: string, segs: string[], q: Record<string, string>, h: http.IncomingHttpHeaders, p: Principal, body: any) => Answer | Promise<Answer>;
  requests: RequestRecord[];
  now: () => number;
  rng: () => number;
  baseUrl: () => string;
  latencyMs: () => number;
  /** While a test holds the emulator, every Graph request waits here (after its concurrency is counted). */
  gate: () => Promise<void> | null;
}

const JSON_TYPE = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8";

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export function createHandler(d: ServerDeps): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const writesInFlight = new Set<string>(); // event ids with a PATCH/DELETE in progress
  return (req, res) => {
    void handle(d, writesInFlight, req, res).catch((e) => {
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(e?.stack ?? e));
      }
    });
  };
}

async function handle(d: ServerDeps, writesInFlight: Set<string>, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", d.baseUrl());
  const method = (req.method ?? "GET").toUpperCase();
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const raw = await readBody(req);
  const requestId = uuid(d.rng);
  const clientRequestId = typeof req.headers["client-request-id"] === "string" ? req.headers["client-request-id"] : undefined;
  let path = url.pathname;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    // keep the raw path; the route answers ErrorInvalidIdMalformed or BadRequest
  }
  const rec: RequestRecord = { method, path, query, status: 0, at: d.now(), concurrent: 0 };
  const ra = req.headers["retry-attempt"];
  if (typeof ra === "string") rec.retryAttempt = Number(ra);
  d.requests.push(rec);

  const send = (a: Answer, lose = false): void => {
    rec.status = a.status;
    const headers: Record<string, string> = { "request-id": requestId, "client-request-id": clientRequestId ?? requestId, ...(a.headers ?? {}) };
    if (lose) {
      res.destroy();
      return;
    }
    if (a.body === undefined) {
      res.writeHead(a.status, headers);
      res.end();
    } else if (typeof a.body === "string") {
      res.writeHead(a.status, { "content-type": "text/html; charset=utf-8", ...headers });
      res.end(a.body);
    } else {
      res.writeHead(a.status, { "content-type": JSON_TYPE, ...headers });
      res.end(JSON.stringify(a.body));
    }
  };
  const sendError = (e: unknown, lose = false): void => {
    if (!(e instanceof GraphApiError)) throw e;
    send({ status: e.status, body: e.body(requestId, clientRequestId, d.now()), headers: e.headers }, lose);
  };

  const fault = d.limits.takeFault(method, rec.path);
  if (fault && !fault.loseAnswer) return sendError(fault.error);

  const segs = url.pathname.split("/").filter(Boolean);
  // Identity platform ------------------------------------------------------------------------------
  if (segs[0] !== "v1.0") {
    const a = identityRoute(d, method, segs, url, raw);
    return send(a, fault?.loseAnswer);
  }

  // Graph -----------------------------------------------------------------------------------------
  const p = d.identity.principal(req.headers.authorization);
  if (!p) return sendError(E.unauthenticated(req.headers.authorization ? undefined : "Access token is empty."));
  rec.clientId = p.clientId;
  rec.upn = p.upn;
  const key = `${p.clientId}\u0000${p.upn}`;
  rec.concurrent = d.limits.enter(key);
  // Two overlapping writes to one event: the later one gets 409 ErrorIrresolvableConflict (§5, [O]).
  const writeTarget = method === "PATCH" || method === "DELETE" ? /^\/v1\.0\/(?:me|users\/[^/]+)\/events\/([^/]+)$/.exec(url.pathname)?.[1] : undefined;
  const overlapping = writeTarget !== undefined && writesInFlight.has(writeTarget);
  if (writeTarget !== undefined && !overlapping) writesInFlight.add(writeTarget);
  try {
    const throttled = d.limits.check(key, rec.concurrent);
    const latency = d.latencyMs();
    if (latency > 0) await new Promise((r) => setTimeout(r, latency));
    const gate = d.gate();
    if (gate) await gate;
    if (throttled) return sendError(throttled);
    if (overlapping) return sendError(E.conflict(409));
    let body: any = undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        return sendError(E.badRequest("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."));
      }
    }
    try {
      const a = await d.graph(method, segs.slice(1), query, req.headers, p, body ?? {});
      send(a, fault?.loseAnswer);
    } catch (e) {
      sendError(e, fault?.loseAnswer);
    }
  } finally {
    d.limits.leave(key);
    if (writeTarget !== undefined && !overlapping) writesInFlight.delete(writeTarget);
  }
}

function form(raw: string): URLSearchParams {
  return new URLSearchParams(raw);
}

function identityRoute(d: ServerDeps, method: string, segs: string[], url: URL, raw: string): Answer {
  const tenant = segs[0] ?? "";
  const rest = segs.slice(1).join("/");
  if (method === "GET" && rest === "v2.0/.well-known/openid-configuration") return { status: 200, body: d.identity.openidConfiguration(tenant) };
  if (method === "GET" && rest === "discovery/instance") return { status: 200, body: d.identity.instanceDiscovery(url.searchParams.get("authorization_endpoint")) };
  if (method === "GET" && rest === "discovery/v2.0/keys") return { status: 200, body: { keys: [] } };
  if (method === "POST" && rest === "oauth2/v2.0/devicecode") return d.identity.deviceCode(tenant, form(raw));
  if (method === "POST" && rest === "oauth2/v2.0/token") return d.identity.token(tenant, form(raw));
  if (method === "GET" && tenant === "devicelogin") {
    return { status: 200, body: "<!doctype html><title>Graph emulator sign-in</title><p>Tests approve device codes with emu.approveDeviceCode(userCode, upn).</p>" };
  }
  return { status: 404, body: { error: "not_found", error_description: `AADSTS90002: no such endpoint ${url.pathname}` } };
}
