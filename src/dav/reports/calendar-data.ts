/** The CALDAV:calendar-data property inside reports: served from the stored text unless a spec asks otherwise. */
import { cal as C, type Clark } from "../xml/names.ts";
import type { XmlElement, XmlNode } from "../xml/tree.ts";
import type { DavContext } from "../context.ts";
import type { DavResource } from "../resources.ts";
import type { PropOverride } from "../props/resolve.ts";
import { parseCalendarDataRequest, renderCalendarData, type CalendarDataSpec } from "../filters/calendar-data.ts";
import { parsedObjects } from "../../ical/cache.ts";
import type { StoredObject } from "../service.ts";

export function isTrivialSpec(spec: CalendarDataSpec): boolean {
  return spec.comp === null && spec.expand === null && spec.limitRecurrenceSet === null && spec.limitFreebusySet === null;
}

/** Override for calendar-data given the bodies already loaded for this response. */
export function calendarDataOverride(bodies: ReadonlyMap<string, StoredObject>, ctx: DavContext, floatingZone: string | null): Map<Clark, PropOverride> {
  const specCache = new WeakMap<XmlElement, CalendarDataSpec>();
  const override: PropOverride = (res: DavResource, request: XmlElement): XmlNode | undefined => {
    if (res.kind !== "object") return undefined;
    const obj = bodies.get(res.name);
    if (!obj) return undefined;
    let spec = specCache.get(request);
    if (!spec) {
      spec = parseCalendarDataRequest(request);
      specCache.set(request, spec);
    }
    if (isTrivialSpec(spec)) return obj.ics;
    return renderCalendarData(parsedObjects.get(obj.etag, obj.ics), spec, { floatingZone, maxInstances: ctx.limits.maxInstances });
  };
  return new Map([[C("calendar-data"), override]]);
}
