/**
 * What iCalendar has and Graph lacks travels in one single-value extended property of the event (a String
 * named property in the PS_PUBLIC_STRINGS set, EXTRAS_PROPERTY_ID), so edits made in Outlook keep it.
 * The value is an iCalendar fragment, unfolded, LF line ends:
 *
 *   BEGIN:X-CALGATE            unmapped properties (X-…, URL, RESOURCES, COMMENT, CONTACT, ATTACH, SEQUENCE…)
 *   BEGIN:VALARM … END:VALARM  VALARMs Graph cannot hold (all but the one reminder)
 *   BEGIN:X-CALGATE-SHADOW     original text of mapped properties whose text Graph would not give back
 *   END:X-CALGATE-SHADOW       (parameters, spellings, defaults left out), and of the mapped VALARM
 *   BEGIN:X-CALGATE-META       UID, original TZIDs, floating / DURATION / absent-DTEND markers, shadowed groups
 *   END:X-CALGATE-META
 *   END:X-CALGATE
 */
import ICAL from "ical.js";
import type { GraphEvent } from "./translate-types.ts";

/** PS_PUBLIC_STRINGS ({00020329-0000-0000-C000-000000000046}), String, name "calgate-ical". */
export const EXTRAS_PROPERTY_ID = "String {00020329-0000-0000-C000-000000000046} Name calgate-ical";

export interface Extras {
  readonly props: ICAL.Property[];
  readonly alarms: ICAL.Component[];
  readonly shadows: ICAL.Property[];
  readonly shadowAlarms: ICAL.Component[];
  readonly meta: Map<string, string>;
  /** VTIMEZONEs of custom zones that match no known zone (their events are written in UTC). */
  readonly zones: ICAL.Component[];
}

export const emptyExtras = (): Extras => ({ props: [], alarms: [], shadows: [], shadowAlarms: [], meta: new Map(), zones: [] });

const clone = (p: ICAL.Property): ICAL.Property => ICAL.Property.fromString(p.toICALString());
const cloneComp = (c: ICAL.Component): ICAL.Component => new ICAL.Component(c.toJSON() as unknown[]);

/** The blob text ("" when there is nothing to keep). */
export function packExtras(x: Extras): string {
  if (x.props.length + x.alarms.length + x.shadows.length + x.shadowAlarms.length + x.meta.size + x.zones.length === 0) return "";
  const root = new ICAL.Component("x-calgate");
  for (const p of x.props) root.addProperty(clone(p));
  for (const a of x.alarms) root.addSubcomponent(cloneComp(a));
  for (const z of x.zones) root.addSubcomponent(cloneComp(z));
  if (x.shadows.length + x.shadowAlarms.length > 0) {
    const s = new ICAL.Component("x-calgate-shadow");
    for (const p of x.shadows) s.addProperty(clone(p));
    for (const a of x.shadowAlarms) s.addSubcomponent(cloneComp(a));
    root.addSubcomponent(s);
  }
  if (x.meta.size > 0) {
    const m = new ICAL.Component("x-calgate-meta");
    for (const [k, v] of [...x.meta].sort((a, b) => a[0].localeCompare(b[0]))) m.addPropertyWithValue(k, v);
    root.addSubcomponent(m);
  }
  return root.toString().replace(/\r\n[ \t]/g, "").replace(/\r\n/g, "\n");
}

/** The singleValueExtendedProperties entry for a write (always present: "" clears what an older write kept). */
export const extrasProperty = (x: Extras): { id: string; value: string } => ({ id: EXTRAS_PROPERTY_ID, value: packExtras(x) });

/** Our blob back from a Graph event (empty when absent or unreadable). */
export function unpackExtras(ev: GraphEvent | null | undefined): Extras {
  const x = emptyExtras();
  const id = EXTRAS_PROPERTY_ID.toLowerCase();
  const hit = (ev?.singleValueExtendedProperties ?? []).find((p) => typeof p?.id === "string" && p.id.toLowerCase() === id);
  if (!hit || typeof hit.value !== "string" || hit.value === "") return x;
  let root: ICAL.Component;
  try {
    root = new ICAL.Component(ICAL.parse(hit.value.replace(/\r?\n/g, "\r\n")) as unknown[]);
  } catch {
    return x;
  }
  if (root.name !== "x-calgate") return x;
  x.props.push(...root.getAllProperties());
  for (const c of root.getAllSubcomponents()) {
    if (c.name === "valarm") x.alarms.push(c);
    else if (c.name === "vtimezone") x.zones.push(c);
    else if (c.name === "x-calgate-shadow") {
      x.shadows.push(...c.getAllProperties());
      x.shadowAlarms.push(...c.getAllSubcomponents("valarm"));
    } else if (c.name === "x-calgate-meta") {
      for (const p of c.getAllProperties()) x.meta.set(p.name.toUpperCase(), String(p.getFirstValue() ?? ""));
    }
  }
  return x;
}
