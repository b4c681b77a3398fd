/**
 * A whole-calendar file cut into calendar objects for import: one object per UID (a recurring
 * master travels with its RECURRENCE-ID overrides), each with the VTIMEZONEs it refers to. What
 * cannot become a calendar object is set aside with the reason.
 */
import { joinCalendar, referencedTzids, splitCalendar, type TopComponent } from "./bundle.ts";

export interface ImportObject {
  readonly uid: string;
  readonly component: string;
  /** SUMMARY of the first component, for reports. */
  readonly summary: string | null;
  /** Components (master and overrides) this object holds. */
  readonly count: number;
  readonly ics: string;
}

export interface SetAside {
  /** e.g. `VFREEBUSY`, `VEVENT "Lunch"` */
  readonly what: string;
  readonly reason: string;
}

const STORABLE = new Set(["VEVENT", "VTODO", "VJOURNAL"]);

function describe(c: TopComponent): string {
  return `${c.name}${c.summary ? ` "${c.summary}"` : ""}${c.uid ? ` (UID ${c.uid})` : ""}`;
}

export function splitForImport(text: string): { objects: ImportObject[]; setAside: SetAside[] } {
  const cal = splitCalendar(text);
  const setAside: SetAside[] = cal.problems.map((p) => ({ what: "file", reason: p }));
  const timezones = new Map<string, TopComponent>();
  const byUid = new Map<string, TopComponent[]>();
  for (const c of cal.components) {
    if (c.name === "VTIMEZONE") {
      if (c.tzid !== null && !timezones.has(c.tzid)) timezones.set(c.tzid, c);
    } else if (!STORABLE.has(c.name)) {
      setAside.push({ what: describe(c), reason: `a ${c.name} is not stored in calendars (only VEVENT, VTODO and VJOURNAL are)` });
    } else if (c.uid === null) {
      setAside.push({ what: describe(c), reason: "it has no UID (every calendar object needs one)" });
    } else {
      const group = byUid.get(c.uid);
      if (group) group.push(c);
      else byUid.set(c.uid, [c]);
    }
  }
  const keep = cal.props.filter((p) => /^(VERSION|PRODID|CALSCALE)[;:]/i.test(p));
  const props = [keep.find((p) => /^VERSION[;:]/i.test(p)) ?? "VERSION:2.0", keep.find((p) => /^PRODID[;:]/i.test(p)) ?? "PRODID:-//calgate//import//EN", ...keep.filter((p) => /^CALSCALE[;:]/i.test(p))];
  const objects: ImportObject[] = [];
  for (const [uid, group] of byUid) {
    const kinds = new Set(group.map((c) => c.name));
    if (kinds.size > 1) {
      setAside.push({ what: `UID ${uid}`, reason: `it is used by components of different types (${[...kinds].join(", ")})` });
      continue;
    }
    const tzids = new Set(group.flatMap((c) => [...referencedTzids(c)]));
    const zones = [...tzids].map((id) => timezones.get(id)).filter((z): z is TopComponent => z !== undefined);
    objects.push({ uid, component: group[0]!.name, summary: group[0]!.summary, count: group.length, ics: joinCalendar(props, [...zones, ...group]) });
  }
  return { objects, setAside };
}
