/** CALDAV:free-busy-query (RFC 4791 7.10): a VFREEBUSY for the time-range, from the calendar's objects. */
import { cal as C } from "../../xml/names.ts";
import { child } from "../../xml/tree.ts";
import { DavError, Conditions, badRequest } from "../errors.ts";
import type { TimeRange } from "../filters/ast.ts";
import { parseTimeRange } from "../filters/parse.ts";
import { IcalError } from "../../ical/errors.ts";
import { parsedObjects } from "../../ical/cache.ts";
import { busyPeriods, freeBusyCalendar } from "../../ical/freebusy.ts";
import { floatingZoneOf } from "./timezone.ts";
import type { ReportHandler } from "./registry.ts";

export const freeBusyQuery: ReportHandler<TimeRange> = {
  name: C("free-busy-query"),
  on: ["calendar"],
  parse(root) {
    const tr = child(root, C("time-range"));
    if (!tr) throw badRequest("free-busy-query needs a CALDAV:time-range with start and end", Conditions.validFilter);
    const range = parseTimeRange(tr);
    if (range.start === null || range.end === null) throw badRequest("free-busy-query time-range needs both start and end", Conditions.validFilter);
    return range;
  },
  async run(range, target, ctx) {
    if (target.kind !== "calendar") throw new DavError(403, "free-busy-query applies to a calendar collection", Conditions.supportedReport);
    const opts = { floatingZone: floatingZoneOf(target.cal.timezone), maxInstances: ctx.limits.maxInstances };
    const periods = [];
    for (const comp of ["VEVENT", "VFREEBUSY"]) {
      for await (const obj of ctx.service.query(target.cal, comp, range)) {
        try {
          periods.push(...busyPeriods(parsedObjects.get(obj.etag, obj.ics), range, opts));
        } catch (e) {
          if (!(e instanceof IcalError)) throw e;
        }
      }
    }
    const body = freeBusyCalendar(periods, range, new Date());
    return { status: 200, headers: { "content-type": "text/calendar; charset=utf-8" }, body };
  },
};
