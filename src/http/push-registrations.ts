/**
 * The WebDAV-Push registration URLs (`/dav/push/<id>`, handed out in the Location of a push-register
 * POST): DELETE removes the registration (204), or answers 404 when the user has none by that id
 * (unknown, expired, or another user's). Matched before the DAV handler, behind the same Basic auth.
 */
import type Koa from "koa";
import type { ExtraRoute } from "./routes.ts";

/** What the route needs from the push room (status/webpush.ts). */
export interface PushUnregister {
  unregister(owner: string, id: string): Promise<boolean>;
}

export function pushRegistrationRoute(registry: PushUnregister, prefix = "/dav/push/"): ExtraRoute {
  return async (ctx: Koa.Context, _user, authenticate) => {
    if (!ctx.path.startsWith(prefix)) return false;
    const id = ctx.path.slice(prefix.length);
    if (ctx.method === "OPTIONS") {
      ctx.status = 200;
      ctx.set("allow", "OPTIONS, DELETE");
      ctx.body = "";
      return true;
    }
    if (ctx.method !== "DELETE") {
      ctx.status = 405;
      ctx.set("allow", "OPTIONS, DELETE");
      ctx.body = "a push registration can only be deleted (DELETE)\n";
      return true;
    }
    const user = await authenticate();
    if (user === null) return true;
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id) || !(await registry.unregister(user, id))) {
      ctx.status = 404;
      ctx.body = "no such push registration (unknown, expired, or already removed)\n";
      return true;
    }
    ctx.status = 204;
    return true;
  };
}
