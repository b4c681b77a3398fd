/**
 * PUT of a calendar object (RFC 4791 5.3.2). Validation, UID uniqueness and If-Match/If-None-Match are
 * enforced by the service inside its transaction; when the stored text differs from what was sent,
 * no ETag is returned (RFC 4791 5.3.4) so the client refetches.
 */
import { DavError, Conditions } from "../errors.ts";
import { parsePreconditions } from "../preconditions.ts";
import type { MethodHandler } from "./registry.ts";

export const put: MethodHandler = {
  method: "PUT",
  on: ["object", "missing-object", "missing-parent", "missing-collection"],
  async run(ctx, target) {
    const t = target.resource ?? target.missing;
    if (t?.kind === "missing-parent") throw new DavError(409, `calendar ${t.calName} does not exist; create it with MKCALENDAR first`);
    if (t?.kind === "missing-collection") throw new DavError(409, `${t.href} is not a calendar object URL: a calendar holds no collections`);
    if (!t || (t.kind !== "object" && t.kind !== "missing-object")) throw new DavError(405, "PUT is only allowed on calendar object URLs inside a calendar");
    const type = (ctx.req.header("content-type") ?? "").toLowerCase();
    if (type !== "" && !type.startsWith("text/calendar") && !type.startsWith("application/octet-stream") && !type.startsWith("text/plain")) {
      throw new DavError(415, `calendar objects must be sent as text/calendar, got ${type}`, Conditions.supportedCalendarData);
    }
    const size = Buffer.byteLength(ctx.req.body);
    if (size > ctx.limits.maxResourceBytes) {
      throw new DavError(403, `calendar object is ${size} bytes; the limit is ${ctx.limits.maxResourceBytes}`, Conditions.maxResourceSize);
    }
    if (!t.cal.writable) throw new DavError(403, `calendar ${t.cal.name} is read-only`, Conditions.needPrivileges);
    const result = await ctx.service.put(ctx.user, t.cal, t.name, ctx.req.body, parsePreconditions((n) => ctx.req.header(n)));
    const headers: Record<string, string> = {};
    if (!result.changed && !ctx.req.transcoded) headers.etag = result.etag;
    if (result.created) headers.location = t.href;
    return { status: result.created ? 201 : 204, headers };
  },
};
