/**
 * GET /events: the status feed over SSE (better-sse). Authenticated; a user sees only their own
 * events. Last-Event-ID resumes from the persisted stream; live events that arrive while the backlog
 * is being sent are held back and sent after it, in id order, each once.
 */
import { createSession } from "better-sse";
import type { StatusBus } from "../status/bus.ts";
import type { StatusEvent } from "../status/events.ts";
import type { ExtraRoute } from "./routes.ts";

export function eventsRoute(bus: StatusBus, opts: { keepAliveMs?: number } = {}): ExtraRoute {
  return async (ctx, _user, authenticate) => {
    if (ctx.path !== "/events") return false;
    if (ctx.method !== "GET") {
      ctx.status = 405;
      ctx.set("allow", "GET");
      ctx.body = "GET only\n";
      return true;
    }
    const user = await authenticate();
    if (user === null) return true;
    const lastEventId = ctx.get("last-event-id") || (typeof ctx.query.lastEventId === "string" ? ctx.query.lastEventId : "");
    ctx.status = 200; // Koa's default 404 would otherwise be the stream's status
    ctx.respond = false;
    const session = await createSession(ctx.req, ctx.res, { keepAlive: opts.keepAliveMs ?? 15_000, trustClientEventId: true, retry: 2000 });
    let sent = 0;
    let replaying = true;
    const held: StatusEvent[] = [];
    const send = (e: StatusEvent): void => {
      const n = Number(e.id);
      if (n <= sent) return;
      sent = n;
      const { owner: _owner, ...payload } = e;
      session.push(payload, e.type, e.id);
    };
    const unsubscribe = bus.subscribe(
      (e) => e.owner === user,
      (e) => (replaying ? held.push(e) : send(e)),
    );
    ctx.req.once("close", unsubscribe);
    if (lastEventId) for (const e of await bus.since(user, lastEventId)) send(e);
    replaying = false;
    for (const e of held.sort((a, b) => Number(a.id) - Number(b.id))) send(e);
    return true;
  };
}
