/** The CALDAV:calendar-data property inside reports: served from the stored text unless a spec asks otherwise. */
import { cal as C, type Clark } from "../../xml/names.ts";
import type { SerialisedText, XmlElement, XmlNode } from "../../xml/tree.ts";
import type { DavContext } from "../context.ts";
import type { DavResource } from "../resources.ts";
import { resolveProps, type PropOverride, type PropRequest } from "../props/resolve.ts";
import { calendarHref, enc } from "../resources.ts";
import type { PropertyRegistry } from "../props/registry.ts";
import type { ResponseEntry } from "../../xml/multistatus.ts";
import { parseCalendarDataRequest, renderCalendarData, type CalendarDataSpec } from "../filters/calendar-data.ts";
import { parsedObjects } from "../../ical/cache.ts";
import { ExpansionLimit } from "../../ical/errors.ts";
import { fromIcalError } from "../errors.ts";
import type { CalendarMeta, ObjectHead, StoredObject } from "../service.ts";
import { calendarDataText } from "../served.ts";

export function isTrivialSpec(spec: CalendarDataSpec): boolean {
  return spec.comp === null && spec.expand === null && spec.limitRecurrenceSet === null && spec.limitFreebusySet === null;
}

/** Override for calendar-data given the bodies already loaded for this response. */
export function calendarDataOverride(bodies: ReadonlyMap<string, StoredObject>, ctx: DavContext, floatingZone: string | null): Map<Clark, PropOverride> {
  const specCache = new WeakMap<XmlElement, CalendarDataSpec>();
  const override: PropOverride = (res: DavResource, request: XmlElement): XmlNode | SerialisedText | undefined => {
    if (res.kind !== "object") return undefined;
    const obj = bodies.get(res.name);
    if (!obj) return undefined;
    let spec = specCache.get(request);
    if (!spec) {
      spec = parseCalendarDataRequest(request);
      specCache.set(request, spec);
    }
    if (isTrivialSpec(spec)) return calendarDataText(obj);
    const parsed = parsedObjects.get(obj.etag, obj.ics);
    try {
      return renderCalendarData(parsed, spec, { floatingZone, maxInstances: ctx.limits.maxInstances });
    } catch (e) {
      // Too many instances to expand: a 403 propstat for this object's calendar-data, not a failed response.
      throw e instanceof ExpansionLimit ? fromIcalError(e) : e;
    }
  };
  return new Map([[C("calendar-data"), override]]);
}

/** Whether a prop request includes calendar-data (allprop/propname do not load bodies either way). */
export function wantsCalendarData(props: PropRequest): boolean {
  return props.kind === "prop" && props.props.some((p) => p.name === C("calendar-data"));
}

/**
 * Responses for calendar members, as the 207 streams: bodies are loaded in batches and only when
 * calendar-data was asked for, so memory stays flat however large the set.
 */
export async function* objectResponses(heads: readonly ObjectHead[], cal: CalendarMeta, props: PropRequest, ctx: DavContext, registry: PropertyRegistry, floatingZone: string | null): AsyncGenerator<ResponseEntry> {
  const wantsData = wantsCalendarData(props);
  const prefix = calendarHref(ctx.user.username, cal.name);
  for (let i = 0; i < heads.length; i += 200) {
    const batch = heads.slice(i, i + 200);
    const bodies = new Map<string, StoredObject>();
    if (wantsData) for (const [n, o] of await ctx.service.objects(cal, batch.map((h) => h.name))) if (o) bodies.set(n, o);
    const overrides = calendarDataOverride(bodies, ctx, floatingZone);
    for (const head of batch) {
      const res: DavResource = { kind: "object", href: prefix + enc(head.name), user: ctx.user, cal, name: head.name, obj: head };
      yield { href: res.href, props: await resolveProps(res, props, ctx, registry, overrides) };
    }
  }
}
