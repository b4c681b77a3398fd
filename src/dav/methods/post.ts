/**
 * POST of a `push-register` body to a calendar (WebDAV-Push): registers the client's Web Push
 * subscription for the calendar's content updates. 201 with the registration URL in Location (DELETE
 * it to unregister) and the expiry the server granted in Expires, on a first registration and on a
 * renewal alike (the draft: the answer to an update is the answer to a registration).
 */
import { DavError } from "../errors.ts";
import { parsePushRegister, push, InvalidSubscription, PushRegisterRefused } from "../push.ts";
import { xmlBody } from "./body.ts";
import type { MethodHandler } from "./registry.ts";

export const post: MethodHandler = {
  method: "POST",
  on: ["calendar"],
  async run(ctx, target) {
    const res = target.resource;
    if (!res || res.kind !== "calendar") throw new DavError(405, "POST is only accepted on calendars (push-register)");
    if (!ctx.push) throw new DavError(403, "WebDAV-Push is not available on this server", push("push-not-available"));
    const root = xmlBody(ctx, [push("push-register")], false)!;
    let request;
    try {
      request = parsePushRegister(root);
    } catch (e) {
      if (e instanceof PushRegisterRefused) throw new DavError(e.status, e.message, e.condition);
      throw e;
    }
    if (request.expires !== null && request.expires.getTime() <= Date.now()) {
      throw new DavError(400, `expires ${request.expires.toUTCString()} is in the past; ask for a moment in the future (or none)`);
    }
    let reg;
    try {
      reg = await ctx.push.register(ctx.user, res.cal, request.subscription, request.expires);
    } catch (e) {
      if (e instanceof InvalidSubscription) throw new DavError(403, e.message, push("invalid-subscription"));
      throw e;
    }
    // DAVx5 keeps Location as an absolute URL (it DELETEs it later), so it is made absolute here.
    return { status: 201, headers: { location: `${ctx.req.origin ?? ""}${reg.path}`, expires: reg.expires.toUTCString(), "content-length": "0" } };
  },
};
