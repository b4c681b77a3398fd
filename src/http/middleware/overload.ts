/**
 * Load shedding: at most `maxInFlight` requests are handled at once; up to `maxQueue` more wait (each
 * at most `queueTimeoutMs`) for a slot; beyond that, or after waiting too long, the answer is an
 * immediate 503 with Retry-After, so an overloaded gateway degrades into quick refusals that clients
 * retry instead of into timeouts and unbounded memory (each request in flight may hold a body of up
 * to server.maxBodyBytes). /healthz and /metrics are exempt, so monitoring keeps answering; the SSE
 * stream (/events) is exempt from the slots because it stays open by design.
 * A request's slot is held until its response has been sent (207 bodies are streamed).
 */
import type Koa from "koa";

export interface OverloadOptions {
  maxInFlight: number;
  maxQueue: number;
  queueTimeoutMs: number;
  retryAfterS: number;
}
export const DEFAULT_OVERLOAD: OverloadOptions = { maxInFlight: 32, maxQueue: 256, queueTimeoutMs: 2000, retryAfterS: 1 };

const EXEMPT = new Set(["/healthz", "/metrics", "/events"]);

export interface OverloadState {
  inFlight(): number;
  queued(): number;
  shed(): number;
}

export function overload(options: Partial<OverloadOptions> = {}): Koa.Middleware & { state: OverloadState } {
  const o = { ...DEFAULT_OVERLOAD, ...options };
  let inFlight = 0;
  let shed = 0;
  const waiting: (() => void)[] = [];

  const release = (): void => {
    const next = waiting.shift();
    if (next) next(); // the slot passes straight to the next waiter
    else inFlight--;
  };
  const refuse = (ctx: Koa.Context): void => {
    shed++;
    ctx.status = 503;
    ctx.set("retry-after", String(o.retryAfterS));
    // Closing makes a client that ignores Retry-After pay a reconnect per attempt; kept alive, such
    // a client spins on 503s fast enough to starve the requests being served (measured: 20k 503/s).
    ctx.set("connection", "close");
    ctx.type = "text/plain";
    ctx.body = `calgate is busy; retry after ${o.retryAfterS} s\n`;
  };

  const mw = async (ctx: Koa.Context, next: Koa.Next): Promise<void> => {
    if (EXEMPT.has(ctx.path)) return next();
    if (inFlight >= o.maxInFlight) {
      if (waiting.length >= o.maxQueue) return refuse(ctx);
      const got = await new Promise<boolean>((resolve) => {
        const grant = (): void => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          const i = waiting.indexOf(grant);
          if (i >= 0) waiting.splice(i, 1);
          resolve(false);
        }, o.queueTimeoutMs);
        waiting.push(grant);
      });
      if (!got) return refuse(ctx);
    } else inFlight++;
    let released = false;
    const once = (): void => {
      if (!released) {
        released = true;
        release();
      }
    };
    ctx.res.once("close", once);
    try {
      await next();
    } finally {
      if (ctx.res.writableFinished || ctx.res.destroyed) once();
    }
  };
  return Object.assign(mw, { state: { inFlight: () => inFlight, queued: () => waiting.length, shed: () => shed } });
}
