/** GET and HEAD of calendar objects, of whole calendars (calendar-export.ts), and a short description for other collections. */
import { notFound } from "../errors.ts";
import type { DavContext, DavResponse } from "../context.ts";
import type { Resolved } from "../resources.ts";
import { exportCalendar } from "./calendar-export.ts";
import type { MethodHandler } from "./registry.ts";
import { bodyBytes } from "../served.ts";

async function read(ctx: DavContext, target: Resolved, head: boolean): Promise<DavResponse> {
  const res = target.resource;
  if (!res) throw notFound();
  if (res.kind === "calendar") return exportCalendar(ctx, res.cal, head);
  if (res.kind !== "object") {
    const body = `calgate CalDAV ${res.kind} ${res.href}\nUse a CalDAV client (PROPFIND/REPORT) to read it.\n`;
    return { status: 200, headers: { "content-type": "text/plain; charset=utf-8", "content-length": String(Buffer.byteLength(body)) }, ...(head ? {} : { body }) };
  }
  const obj = (await ctx.service.objects(res.cal, [res.name])).get(res.name);
  if (!obj) throw notFound();
  const headers: Record<string, string> = {
    "content-type": `text/calendar; charset=utf-8; component=${obj.component.toLowerCase()}`,
    etag: obj.etag,
    "last-modified": new Date(obj.modifiedAt).toUTCString(),
    "content-length": String(obj.size),
  };
  const inm = ctx.req.header("if-none-match");
  if (inm !== undefined && (inm.trim() === "*" || inm.split(",").map((s) => s.trim()).includes(obj.etag))) {
    return { status: 304, headers: { etag: obj.etag } };
  }
  return { status: 200, headers, ...(head ? {} : { body: bodyBytes(obj) }) };
}

export const get: MethodHandler = { method: "GET", on: ["root", "principal", "home", "calendar", "object"], run: (ctx, t) => read(ctx, t, false) };
export const head: MethodHandler = { method: "HEAD", on: ["root", "principal", "home", "calendar", "object"], run: (ctx, t) => read(ctx, t, true) };
