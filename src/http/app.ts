/**
 * The Koa app. Middleware, in order: request id + access log + metrics → error edge → routes.
 * DAV requests are authenticated with Basic, their body read under the size limit, then handed to
 * the DavHandler; everything the handler throws that is not a DavError is a 500 here, logged.
 */
import Koa from "koa";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { DavHandler, DAV_HEADER, renderError } from "../dav/handler.ts";
import { DavError } from "../dav/errors.ts";
import type { DavContext, DavLimits } from "../dav/context.ts";
import type { CalendarService } from "../dav/service.ts";
import type { PushRegistry } from "../dav/push.ts";
import type { BasicAuth } from "./middleware/auth-basic.ts";
import { readBodyBytes, decodeUtf8, BodyTooLarge, BodyNotUtf8 } from "./middleware/body.ts";
import { decodeCalendarBytes } from "../ical/parse.ts";
import type { Metrics } from "../status/metrics.ts";
import { overload, type OverloadOptions } from "./middleware/overload.ts";
import type { ExtraRoute } from "./routes.ts";

export interface AppDeps {
  service: CalendarService;
  auth: BasicAuth;
  log: Logger;
  metrics: Metrics;
  limits: DavLimits & { maxBodyBytes: number };
  trustProxy: boolean;
  /** Load shedding (503 + Retry-After past these limits); defaults in middleware/overload.ts. */
  overload?: Partial<OverloadOptions>;
  /** /metrics asks for a login (any configured user) when true (server.metricsAuth). */
  metricsAuth?: boolean;
  /** WebDAV-Push (status/webpush.ts): properties, push-register, and Push-Dont-Notify around each request. */
  push?: PushRegistry & { withholding<T>(dontNotify: string | undefined, fn: () => Promise<T>): Promise<T> };
  /** Extra routes (routes.ts: SSE, POST /sync); return true when handled. */
  extraRoutes?: ExtraRoute[];
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: deps.trustProxy });
  const dav = new DavHandler();
  let ready = false;

  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    const id = ctx.get("x-request-id") || randomUUID();
    ctx.set("x-request-id", id);
    // The request's child logger is made when something logs (most requests log nothing at the default level).
    let child: Logger | undefined;
    Object.defineProperty(ctx.state, "log", { get: () => (child ??= deps.log.child({ reqId: id })), configurable: true, enumerable: true });
    // Debug detail: chosen headers only (others may carry secrets, e.g. a push channel's token).
    if (deps.log.isLevelEnabled("debug")) (ctx.state.log as Logger).debug({ method: ctx.method, path: ctx.path, userAgent: ctx.get("user-agent") || undefined, depth: ctx.get("depth") || undefined, length: ctx.get("content-length") || undefined }, "request received");
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      deps.metrics.requests.inc({ method: ctx.method, status: String(ctx.status) });
      deps.metrics.duration.observe({ method: ctx.method }, seconds);
      if (isCaldavPath(ctx.path, ctx.method)) deps.metrics.caldav(ctx.method, ctx.status, seconds);
      // One line per request, without the query string (it may carry a token, e.g. Graph's validationToken).
      if (deps.log.isLevelEnabled("info")) (ctx.state.log as Logger).info({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(seconds * 1000) }, "request");
    }
  });

  // Load shedding before any work (body reading, auth, DAV): 503 + Retry-After instead of timeouts.
  app.use(overload(deps.overload));

  // The error edge: nothing escapes as an unlogged 500, and clients get a DAV:error body.
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (e) {
      const err = e as Error;
      (ctx.state.log as Logger).error({ err: { message: err.message, stack: err.stack }, method: ctx.method, path: ctx.path }, "unhandled error");
      const r = renderError(new DavError(500, "internal error; see the server log for the request id"));
      ctx.status = 500;
      ctx.set(r.headers);
      ctx.body = r.body;
    }
  });

  const authenticate = async (ctx: Koa.Context): Promise<string | null> => {
    const result = await deps.auth.check(ctx.get("authorization") || undefined, ctx.ip);
    if (result.ok) return result.username;
    deps.metrics.authFailures.inc({ reason: result.reason });
    if (result.reason === "throttled") {
      ctx.status = 429;
      ctx.set("retry-after", String(result.retryAfterS));
      ctx.body = "too many failed logins; try again later\n";
      return null;
    }
    if (result.reason === "invalid") {
      (ctx.state.log as Logger).warn({ ip: ctx.ip }, "failed login");
      await new Promise((r) => setTimeout(r, result.delayMs));
    }
    ctx.status = 401;
    ctx.set("www-authenticate", 'Basic realm="calgate", charset="UTF-8"');
    ctx.body = result.reason === "missing" ? "authentication required\n" : "wrong username or password\n";
    return null;
  };

  app.use(async (ctx) => {
    const path = ctx.path;
    if (path === "/healthz") {
      ctx.status = ready ? 200 : 503;
      ctx.body = ready ? "ok\n" : "starting\n";
      return;
    }
    if (path === "/metrics" && ctx.method === "GET") {
      if (deps.metricsAuth && (await authenticate(ctx)) === null) return;
      ctx.set("content-type", deps.metrics.registry.contentType);
      ctx.body = await deps.metrics.registry.metrics();
      return;
    }
    // RFC 6764: discovery starts here; redirect every method so PROPFIND follows with the same method.
    if (path === "/.well-known/caldav" || path === "/.well-known/caldav/") {
      ctx.status = 301;
      ctx.set("location", "/dav/");
      return;
    }
    for (const route of deps.extraRoutes ?? []) {
      if (await route(ctx, null, () => authenticate(ctx))) return;
    }
    const isDavRoot = path === "/" && ctx.method !== "GET" && ctx.method !== "HEAD";
    if (path === "/dav" || path.startsWith("/dav/") || isDavRoot) {
      if (ctx.method === "OPTIONS" && !ctx.get("authorization")) {
        ctx.status = 200;
        ctx.set({ dav: DAV_HEADER, allow: "OPTIONS, PROPFIND, PROPPATCH, GET, HEAD, PUT, DELETE, MKCALENDAR, MKCOL, REPORT, POST, COPY, MOVE" });
        return;
      }
      const username = await authenticate(ctx);
      if (username === null) return;
      let body: string;
      let transcoded = false;
      try {
        const bytes = await readBodyBytes(ctx.req, ctx.method === "PUT" ? Math.max(deps.limits.maxBodyBytes, deps.limits.maxResourceBytes + 1) : deps.limits.maxBodyBytes);
        if (ctx.method === "PUT") {
          // iCalendar from Latin-1 clients is read as Windows-1252 (docs/NORMALISATION.md).
          ({ text: body, transcoded } = decodeCalendarBytes(bytes));
        } else body = decodeUtf8(bytes);
      } catch (e) {
        if (e instanceof BodyTooLarge || e instanceof BodyNotUtf8) {
          const r = renderError(e instanceof BodyTooLarge ? new DavError(413, e.message, ctx.method === "PUT" ? "{urn:ietf:params:xml:ns:caldav}max-resource-size" : undefined) : new DavError(415, e.message));
          ctx.status = r.status;
          ctx.set(r.headers);
          ctx.body = r.body;
          return;
        }
        throw e;
      }
      const depthHeader = ctx.get("depth").trim().toLowerCase();
      const davCtx: DavContext = {
        user: { username },
        service: deps.service,
        get log(): Logger {
          return ctx.state.log as Logger;
        },
        limits: deps.limits,
        depth: depthHeader === "0" || depthHeader === "1" || depthHeader === "infinity" ? depthHeader : null,
        minimal: /return=minimal/i.test(ctx.get("prefer")) || ctx.get("brief").trim().toLowerCase() === "t",
        req: { method: ctx.method, path: ctx.req.url ?? ctx.path, header: (n) => ctx.get(n) || undefined, body, transcoded, origin: `${ctx.protocol}://${ctx.host}` },
        ...(deps.push ? { push: deps.push } : {}),
      };
      if (depthHeader !== "" && davCtx.depth === null) {
        const r = renderError(new DavError(400, `Depth header must be 0, 1 or infinity, got "${depthHeader}"`));
        ctx.status = r.status;
        ctx.set(r.headers);
        ctx.body = r.body;
        return;
      }
      const res = deps.push ? await deps.push.withholding(ctx.get("push-dont-notify") || undefined, () => dav.handle(davCtx)) : await dav.handle(davCtx);
      if (res.status === 207 && davCtx.minimal) res.headers["preference-applied"] = "return=minimal";
      ctx.status = res.status;
      ctx.set(res.headers);
      if (res.body !== undefined) ctx.body = res.body;
      else if (ctx.method !== "HEAD" && res.status !== 304) ctx.body = "";
      return;
    }
    if (path === "/" && (ctx.method === "GET" || ctx.method === "HEAD")) {
      ctx.type = "text/plain";
      ctx.body = "calgate: CalDAV at /dav/ (discovery: /.well-known/caldav), health at /healthz, metrics at /metrics\n";
      return;
    }
    ctx.status = 404;
    ctx.body = "not found\n";
  });

  (app as Koa & { markReady(): void }).markReady = () => {
    ready = true;
  };
  return app;
}

/** CalDAV traffic: /dav/..., discovery, and DAV methods on the server root. */
function isCaldavPath(path: string, method: string): boolean {
  return path === "/dav" || path.startsWith("/dav/") || path.startsWith("/.well-known/caldav") || (path === "/" && method !== "GET" && method !== "HEAD");
}

export function markReady(app: Koa): void {
  (app as Koa & { markReady(): void }).markReady();
}
