/**
 * What the store can answer from indexed columns (component type, first-start/last-end bounds).
 * `exact` is true only when the filter is nothing but component presence (or matches everything);
 * with any time-range or property test the store's answer is a superset and evaluation must run.
 */
import type { CompFilter, TimeRange } from "./ast.ts";

const MAIN = new Set(["VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"]);

export interface Prefilter {
  component: string | null;
  range: TimeRange | null;
  exact: boolean;
  /** The filter is only "component overlaps range": rows with an exactly known single instance are decided by it. */
  rangeOnly?: boolean;
}

export function prefilter(filter: CompFilter): Prefilter {
  const none = { component: null, range: null, exact: false };
  if (filter.name !== "VCALENDAR" || filter.isNotDefined) return none;
  if (filter.propFilters.length > 0) return none;
  const comps = filter.compFilters;
  if (comps.length === 0) return { component: null, range: null, exact: true };
  if (comps.length > 1 && filter.test === "anyof") return none;
  // With allof every child must hold; the first main-component child without is-not-defined narrows.
  const main = comps.find((c) => MAIN.has(c.name) && !c.isNotDefined);
  if (!main) return none;
  const simple = comps.length === 1 && main.propFilters.length === 0 && main.compFilters.length === 0;
  return { component: main.name, range: main.timeRange, exact: simple && main.timeRange === null, rangeOnly: simple && main.timeRange !== null };
}
