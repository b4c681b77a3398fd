/**
 * CALDAV:calendar-query (RFC 4791 7.8): the store prefilters on indexed component and occurrence bounds,
 * then each candidate is evaluated recurrence-aware unless the prefilter was already exact.
 */
import { cal as C, dav } from "../xml/names.ts";
import { child, text } from "../xml/tree.ts";
import { DavError, Conditions, badRequest } from "../errors.ts";
import { objectHref, type DavResource } from "../resources.ts";
import { parsePropRequest, resolveProps, type PropRequest } from "../props/resolve.ts";
import { multistatus, type ResponseEntry } from "../xml/multistatus.ts";
import type { CompFilter } from "../filters/ast.ts";
import { parseFilter } from "../filters/parse.ts";
import { prefilter } from "../filters/prefilter.ts";
import { matchesFilter } from "../filters/evaluate.ts";
import { IcalError } from "../../ical/parse.ts";
import { parsedObjects } from "../../ical/cache.ts";
import { floatingZoneOf } from "./timezone.ts";
import type { ReportHandler } from "./registry.ts";
import { calendarDataOverride } from "./calendar-data.ts";

interface QueryRequest {
  props: PropRequest;
  filter: CompFilter;
  timezone: string | null;
  limit: number | null;
}

export const calendarQuery: ReportHandler<QueryRequest> = {
  name: C("calendar-query"),
  on: ["calendar"],
  parse(root) {
    const f = child(root, C("filter"));
    if (!f) throw badRequest("calendar-query needs a CALDAV:filter", Conditions.validFilter);
    const tz = child(root, C("timezone"));
    const limitEl = child(root, dav("limit"));
    const nres = limitEl ? child(limitEl, dav("nresults")) : undefined;
    const limit = nres ? Number(text(nres).trim()) : null;
    if (limit !== null && (!Number.isInteger(limit) || limit < 1)) throw badRequest("DAV:nresults must be a positive integer");
    return { props: parsePropRequest(root), filter: parseFilter(f), timezone: tz ? text(tz) : null, limit };
  },
  async run(q, target, ctx, registry) {
    if (target.kind !== "calendar") throw new DavError(403, "calendar-query applies to a calendar collection", Conditions.supportedReport);
    if (ctx.depth === "0") {
      return { status: 207, headers: { "content-type": "application/xml; charset=utf-8" }, body: multistatus([], ctx.minimal) };
    }
    const floatingZone = floatingZoneOf(q.timezone ?? target.cal.timezone);
    const opts = { floatingZone, maxInstances: ctx.limits.maxInstances };
    const pre = prefilter(q.filter);
    const entries: ResponseEntry[] = [];
    let truncated = false;
    for await (const obj of ctx.service.query(target.cal, pre.component, pre.range)) {
      if (!pre.exact) {
        let parsed;
        try {
          parsed = parsedObjects.get(obj.etag, obj.ics);
        } catch (e) {
          // A stored object that no longer parses must not hide the others; it simply doesn't match.
          if (e instanceof IcalError) {
            ctx.log.warn({ calendar: target.cal.name, object: obj.name, err: e.message }, "stored object does not parse");
            continue;
          }
          throw e;
        }
        if (!matchesFilter(parsed, q.filter, opts)) continue;
      }
      if (q.limit !== null && entries.length >= q.limit) {
        truncated = true;
        break;
      }
      const res: DavResource = { kind: "object", href: objectHref(ctx.user.username, target.cal.name, obj.name), user: ctx.user, cal: target.cal, name: obj.name, obj };
      entries.push({ href: res.href, props: await resolveProps(res, q.props, ctx, registry, calendarDataOverride(new Map([[obj.name, obj]]), ctx, floatingZone)) });
    }
    if (truncated) entries.push({ href: target.href, status: 507 });
    return { status: 207, headers: { "content-type": "application/xml; charset=utf-8" }, body: multistatus(entries, ctx.minimal) };
  },
};
