/** CALDAV:calendar-multiget (RFC 4791 7.9): one query for all hrefs; unknown hrefs are 404 responses. */
import { cal as C, dav } from "../../xml/names.ts";
import { elements, text } from "../../xml/tree.ts";
import { DavError, badRequest } from "../errors.ts";
import { davSegments, objectHref, type DavResource } from "../resources.ts";
import { parsePropRequest, resolveProps, type PropRequest } from "../props/resolve.ts";
import { multistatusBytes, type ResponseEntry } from "../../xml/multistatus.ts";
import type { CalendarMeta, StoredObject } from "../service.ts";
import type { ReportHandler } from "./registry.ts";
import { calendarDataOverride } from "./calendar-data.ts";
import { floatingZoneOf } from "./timezone.ts";

interface MultigetQuery {
  props: PropRequest;
  hrefs: string[];
}

export const calendarMultiget: ReportHandler<MultigetQuery> = {
  name: C("calendar-multiget"),
  on: ["calendar", "home"],
  parse(root, ctx) {
    const hrefs = elements(root, dav("href")).map((h) => text(h).trim());
    if (hrefs.length === 0) throw badRequest("calendar-multiget needs at least one DAV:href");
    if (hrefs.length > ctx.limits.maxMultigetHrefs) {
      throw new DavError(403, `calendar-multiget asks for ${hrefs.length} hrefs; the limit is ${ctx.limits.maxMultigetHrefs}`);
    }
    return { props: parsePropRequest(root), hrefs };
  },
  async run(q, target, ctx, registry) {
    if (target.kind !== "calendar" && target.kind !== "home") throw new DavError(403, "calendar-multiget applies to a calendar or the calendar home");
    const user = ctx.user.username;
    // Group requested names by calendar; anything outside the target (or another user's) is a 404 entry.
    const wanted = new Map<string, { cal: CalendarMeta | null; names: string[] }>();
    const located: { href: string; calName: string | null; name: string | null }[] = [];
    for (const href of q.hrefs) {
      let segs: string[] | null = null;
      try {
        segs = davSegments(href)?.segments ?? null;
      } catch {
        segs = null;
      }
      const ok = segs !== null && segs.length === 4 && segs[0] === "calendars" && segs[1] === user && (target.kind === "home" || segs[2] === target.cal.name);
      if (!ok) {
        located.push({ href, calName: null, name: null });
        continue;
      }
      const calName = segs![2]!;
      const name = segs![3]!;
      located.push({ href, calName, name });
      if (!wanted.has(calName)) wanted.set(calName, { cal: target.kind === "calendar" ? target.cal : await ctx.service.calendar(ctx.user, calName), names: [] });
      wanted.get(calName)!.names.push(name);
    }
    const found = new Map<string, Map<string, StoredObject | null>>();
    for (const [calName, w] of wanted) found.set(calName, w.cal ? await ctx.service.objects(w.cal, w.names) : new Map());
    // One calendar-data override per calendar: floating times (all-day dates too) in the calendar's
    // zone, as calendar-query reads them.
    const overrides = new Map<string, ReturnType<typeof calendarDataOverride>>();
    for (const [calName, w] of wanted) {
      const bodies = new Map<string, StoredObject>();
      for (const [n, o] of found.get(calName) ?? []) if (o) bodies.set(n, o);
      if (w.cal) overrides.set(calName, calendarDataOverride(bodies, ctx, floatingZoneOf(w.cal.timezone)));
    }
    const entries: ResponseEntry[] = [];
    for (const l of located) {
      const obj = l.calName !== null && l.name !== null ? found.get(l.calName)?.get(l.name) ?? null : null;
      const cal = l.calName !== null ? wanted.get(l.calName)?.cal ?? null : null;
      if (!obj || !cal) {
        entries.push({ href: l.href, status: 404 });
        continue;
      }
      const res: DavResource = { kind: "object", href: objectHref(user, cal.name, obj.name), user: ctx.user, cal, name: obj.name, obj };
      entries.push({ href: res.href, props: await resolveProps(res, q.props, ctx, registry, overrides.get(l.calName!)) });
    }
    return { status: 207, headers: { "content-type": "application/xml; charset=utf-8" }, body: multistatusBytes(entries, ctx.minimal) };
  },
};
