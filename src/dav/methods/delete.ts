/** DELETE of a calendar object (with If-Match) or of a whole calendar. */
import { DavError, notFound, forbidden } from "../errors.ts";
import { parsePreconditions } from "../preconditions.ts";
import type { MethodHandler } from "./registry.ts";

export const del: MethodHandler = {
  method: "DELETE",
  on: ["calendar", "object"],
  async run(ctx, target) {
    const res = target.resource;
    if (!res) throw notFound();
    if (res.kind === "object") {
      if (!res.cal.writable) throw new DavError(403, `calendar ${res.cal.name} is read-only`);
      await ctx.service.remove(ctx.user, res.cal, res.name, parsePreconditions((n) => ctx.req.header(n)));
      return { status: 204, headers: {} };
    }
    if (res.kind === "calendar") {
      const ifMatch = ctx.req.header("if-match");
      if (ifMatch !== undefined && ifMatch.trim() !== "*") throw new DavError(412, "If-Match on a calendar collection can only be *");
      await ctx.service.deleteCalendar(res.cal);
      return { status: 204, headers: {} };
    }
    throw forbidden(`a ${res.kind} cannot be deleted`);
  },
};
