import { ReportRegistry } from "./registry.ts";
import { calendarMultiget } from "./calendar-multiget.ts";
import { calendarQuery } from "./calendar-query.ts";
import { syncCollection } from "./sync-collection.ts";
import { freeBusyQuery } from "./free-busy-query.ts";
import { principalPropertySearch, principalSearchPropertySet } from "./principal-search.ts";

export function defaultReports(): ReportRegistry {
  return new ReportRegistry().register(calendarMultiget).register(calendarQuery).register(syncCollection).register(freeBusyQuery)
    .register(principalPropertySearch).register(principalSearchPropertySet);
}
