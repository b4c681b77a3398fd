/** RFC 4791 section 9.7 calendar-query filters, as data. Times are epoch milliseconds (UTC). */
import type { TimeRange } from "../../ical/time-range.ts";

export type { TimeRange };
export interface TextMatch {
  readonly value: string;
  /** RFC 4790 collation: "i;ascii-casemap" (default), "i;octet", or "i;unicode-casemap". */
  readonly collation: "i;ascii-casemap" | "i;octet" | "i;unicode-casemap";
  readonly negate: boolean;
  /** RFC 7809 / CalDAV match-type; RFC 4791 only defines substring ("contains"). */
  readonly matchType: "contains" | "equals" | "starts-with" | "ends-with";
}
export interface ParamFilter {
  readonly name: string; // upper-case parameter name, e.g. "PARTSTAT"
  readonly isNotDefined: boolean;
  readonly textMatch: TextMatch | null;
}
export interface PropFilter {
  readonly name: string; // upper-case property name, e.g. "SUMMARY"
  readonly isNotDefined: boolean;
  readonly timeRange: TimeRange | null;
  readonly textMatch: TextMatch | null;
  readonly paramFilters: readonly ParamFilter[];
  /** anyof (default) or allof across the child tests, RFC 7809 extension "test" attribute. */
  readonly test: "anyof" | "allof";
}
export interface CompFilter {
  readonly name: string; // "VCALENDAR", "VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VALARM", "VTIMEZONE"
  readonly isNotDefined: boolean;
  readonly timeRange: TimeRange | null;
  readonly propFilters: readonly PropFilter[];
  readonly compFilters: readonly CompFilter[];
  readonly test: "anyof" | "allof";
}
