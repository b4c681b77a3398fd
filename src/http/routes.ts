/**
 * The non-DAV routes mounted beside CalDAV: GET /events (sse.ts) and POST /sync. Each is HTTP glue
 * over a narrow interface; the work stays in its room (status/ for the feed, sync/ for syncing).
 */
import type Koa from "koa";
import type { PushNotice, PushParse, PushRequest } from "../sources/adapter.ts";
import { readBodyBytes } from "./middleware/body.ts";

/** Notifications are small (Google: empty; Graph: a few ids); anything larger is not one. */
const MAX_PUSH_BODY = 256 * 1024;

/** An extra route: returns true when it handled the request. `authenticate` resolves null after answering 401/429 itself. */
export type ExtraRoute = (ctx: Koa.Context, user: string | null, authenticate: () => Promise<string | null>) => Promise<boolean>;

/** What POST /sync needs from the scheduler (sync/scheduler's Scheduler). */
export interface SyncTrigger {
  trigger(owner: string, sourceId: string | null, reason?: string): Promise<unknown>;
}

/** What POST /sync needs from the engine (sync/engine's SyncEngine): the user's synced sources. */
export interface SyncedSources {
  syncedSources(owner?: string | null, sourceId?: string | null): readonly { readonly source: { readonly id: string } }[];
}

/** POST /sync[?source=<id>]: sync the user's sources now; 202, progress on /events. */
export function syncNowRoute(scheduler: SyncTrigger, engine: SyncedSources): ExtraRoute {
  return async (ctx: Koa.Context, _user, authenticate) => {
    if (ctx.path !== "/sync") return false;
    if (ctx.method !== "POST") {
      ctx.status = 405;
      ctx.set("allow", "POST");
      ctx.body = "POST only\n";
      return true;
    }
    const user = await authenticate();
    if (user === null) return true;
    const source = typeof ctx.query.source === "string" && ctx.query.source !== "" ? ctx.query.source : null;
    const targets = engine.syncedSources(user, source);
    if (source !== null && targets.length === 0) {
      ctx.status = 404;
      ctx.type = "application/json";
      ctx.body = JSON.stringify({ error: `you have no synced source "${source}"` });
      return true;
    }
    void scheduler.trigger(user, source, "requested");
    ctx.status = 202;
    ctx.type = "application/json";
    ctx.body = JSON.stringify({ accepted: targets.map((t) => t.source.id) });
    return true;
  };
}

/** What POST /hooks/<type> needs: the provider parsers and the push room (sync/push.ts). */
export interface PushReceiver {
  notice(n: PushNotice): Promise<"accepted" | "ignored" | "unknown" | "forbidden">;
}

/**
 * POST /hooks/<provider>: provider push notifications. Providers cannot send our Basic credentials:
 * a notification is trusted only when it names a subscription calgate opened and carries its secret.
 */
export function pushRoute(receiver: PushReceiver, parsers: Readonly<Record<string, (req: PushRequest) => PushParse | null>>): ExtraRoute {
  return async (ctx: Koa.Context) => {
    const m = /^\/hooks\/([a-z]+)$/.exec(ctx.path);
    if (!m) return false;
    const parse = parsers[m[1]!];
    if (!parse) return false;
    if (ctx.method !== "POST") {
      ctx.status = 405;
      ctx.set("allow", "POST");
      ctx.body = "POST only\n";
      return true;
    }
    let body: string;
    try {
      body = (await readBodyBytes(ctx.req, MAX_PUSH_BODY)).toString("utf8");
    } catch {
      ctx.status = 413;
      ctx.body = "too large for a push notification\n";
      return true;
    }
    const query = Object.fromEntries(Object.entries(ctx.query).filter((e): e is [string, string] => typeof e[1] === "string"));
    const parsed = parse({ headers: ctx.headers, query, body });
    if (!parsed) {
      ctx.status = 400;
      ctx.body = "not a push notification\n";
      return true;
    }
    if ("reply" in parsed) {
      ctx.status = parsed.reply.status;
      ctx.type = parsed.reply.contentType;
      ctx.body = parsed.reply.body;
      return true;
    }
    const outcomes = await Promise.all(parsed.notices.map((n) => receiver.notice(n)));
    ctx.status = parsed.status ?? (outcomes.includes("forbidden") ? 403 : outcomes.every((o) => o === "unknown") ? 404 : 200);
    ctx.body = "";
    return true;
  };
}
