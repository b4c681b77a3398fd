/**
 * CALDAV:calendar-query (RFC 4791 7.8): the store prefilters on indexed component and occurrence bounds,
 * then each candidate is evaluated recurrence-aware unless the prefilter was already exact. A filter
 * that is only a VEVENT/VTODO time-range is answered from the occurrence index where it can decide.
 */
import { cal as C, dav } from "../../xml/names.ts";
import { child, text } from "../../xml/tree.ts";
import { DavError, Conditions, badRequest } from "../errors.ts";
import { parsePropRequest, type PropRequest } from "../props/resolve.ts";
import { multistatus, multistatusStream, type ResponseEntry } from "../../xml/multistatus.ts";
import type { CompFilter } from "../filters/ast.ts";
import { parseFilter } from "../filters/parse.ts";
import { prefilter } from "../filters/prefilter.ts";
import { matchesFilter } from "../filters/evaluate.ts";
import { IcalError } from "../../ical/errors.ts";
import { parsedObjects } from "../../ical/cache.ts";
import { floatingZoneOf } from "./timezone.ts";
import type { ReportHandler } from "./registry.ts";
import type { ObjectHead } from "../service.ts";
import { objectResponses } from "./calendar-data.ts";

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
    if (!f) throw new DavError(403, "calendar-query needs a CALDAV:filter (RFC 4791 7.8)", Conditions.validFilter);
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
    const cal = target.cal;
    // A plain time-range filter is answered from the occurrence index where it can decide (in the
    // zone floating times are read in): those members come as pages of heads, read as the 207 streams.
    const answer = pre.rangeOnly && pre.range && pre.component !== null ? await ctx.service.rangeQuery(cal, pre.component, pre.range, floatingZone) : null;
    const candidates = answer ? answer.undecided : ctx.service.query(cal, pre.component, pre.range, { exactBodies: !pre.rangeOnly });
    // Phase 1, before any byte is sent: evaluate the candidates (so a limit error is still a 403), keeping heads only.
    const matched: ObjectHead[] = [];
    let truncated = false;
    for await (const obj of candidates) {
      if (pre.rangeOnly && obj.exact && pre.range) {
        // RFC 4791 9.9 for a VEVENT with DTEND/DURATION > 0: start < range end AND end > range start.
        const { start, end } = obj.exact;
        if (!((pre.range.end === null || start < pre.range.end) && (pre.range.start === null || end > pre.range.start))) continue;
      } else if (!pre.exact) {
        let parsed;
        try {
          parsed = parsedObjects.get(obj.etag, obj.ics);
        } catch (e) {
          // A stored object that no longer parses must not hide the others; it simply doesn't match.
          if (e instanceof IcalError) {
            ctx.log.warn({ calendar: cal.name, object: obj.name, err: e.message }, "stored object does not parse");
            continue;
          }
          throw e;
        }
        if (!matchesFilter(parsed, q.filter, opts)) continue;
      }
      if (q.limit !== null && matched.length >= q.limit) {
        truncated = true;
        break;
      }
      matched.push({ name: obj.name, etag: obj.etag, size: obj.size, modifiedAt: obj.modifiedAt, component: obj.component });
    }
    // Phase 2: stream the responses, loading bodies in batches only when calendar-data was asked for.
    async function* entries(): AsyncGenerator<ResponseEntry> {
      yield* objectResponses(matched, cal, q.props, ctx, registry, floatingZone);
      let left = q.limit === null ? Number.POSITIVE_INFINITY : q.limit - matched.length;
      // A member changed since rangeQuery may have been evaluated above and be among the decided too.
      const listed = new Set(matched.map((h) => h.name));
      if (answer && !truncated) {
        for await (const read of answer.decided) {
          const page = listed.size === 0 ? read : read.filter((h) => !listed.has(h.name));
          if (page.length > left) {
            truncated = true;
            yield* objectResponses(page.slice(0, left), cal, q.props, ctx, registry, floatingZone);
            break;
          }
          yield* objectResponses(page, cal, q.props, ctx, registry, floatingZone);
          left -= page.length;
        }
      }
      if (truncated) yield { href: target.href, status: 507 };
    }
    return { status: 207, headers: { "content-type": "application/xml; charset=utf-8" }, body: multistatusStream(entries(), ctx.minimal) };
  },
};
