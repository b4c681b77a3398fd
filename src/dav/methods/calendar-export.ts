/**
 * GET of a calendar collection: the whole calendar as one text/calendar document, as Radicale and
 * sabre/dav answer it, for export and backup (`curl -u user https://host/dav/calendars/user/cal/ > cal.ics`).
 */
import { bundleCalendar } from "../../ical/bundle.ts";
import type { DavContext, DavResponse } from "../context.ts";
import type { CalendarMeta } from "../service.ts";

export async function exportCalendar(ctx: DavContext, cal: CalendarMeta, head: boolean): Promise<DavResponse> {
  const bodies: string[] = [];
  for await (const obj of ctx.service.query(cal, null, null, { exactBodies: true })) bodies.push(obj.ics);
  const body = bundleCalendar(bodies, { displayname: cal.displayname });
  // The ctag changes whenever a member does: a weak validator of the document made from them.
  const etag = `W/"${cal.ctag.replace(/"/g, "")}"`;
  const inm = ctx.req.header("if-none-match");
  if (inm !== undefined && inm.split(",").map((s) => s.trim()).includes(etag)) return { status: 304, headers: { etag } };
  const filename = cal.name.replace(/[^A-Za-z0-9._-]/g, "_");
  return {
    status: 200,
    headers: {
      "content-type": "text/calendar; charset=utf-8",
      "content-length": String(Buffer.byteLength(body)),
      "content-disposition": `attachment; filename="${filename}.ics"`,
      etag,
    },
    ...(head ? {} : { body }),
  };
}
