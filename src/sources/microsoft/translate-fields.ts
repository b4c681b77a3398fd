/**
 * The simple mapped property groups (docs/microsoft-fidelity.md, "Mapping"): each group owns some iCalendar
 * properties and some Graph fields, and translates both ways. A group's original properties are kept in the
 * extras blob ("shadow") when reading them back from Graph would not give the same text; they are restored
 * while Graph still holds the value they map to.
 */
import ICAL from "ical.js";
import type { GraphEvent } from "./translate-types.ts";
import { htmlToText } from "./translate-html.ts";

export interface FieldGroup {
  readonly name: string;
  owns(p: ICAL.Property): boolean;
  write(props: readonly ICAL.Property[]): Partial<GraphEvent>;
  read(ev: GraphEvent): ICAL.Property[];
  /** Per-item identity (multi-valued groups): the Graph value one property maps to. */
  item?(p: ICAL.Property): unknown;
}

const str = (p: ICAL.Property | undefined): string | null => {
  if (!p) return null;
  const v = p.getFirstValue();
  return v === null || v === undefined ? null : String(v);
};
const named = (...names: string[]) => (p: ICAL.Property): boolean => names.includes(p.name.toUpperCase());
const first = (props: readonly ICAL.Property[], name: string): ICAL.Property | undefined => props.find((p) => p.name.toUpperCase() === name);
function text(name: string, value: string, params: Record<string, string> = {}): ICAL.Property {
  const p = new ICAL.Property(name.toLowerCase());
  p.setValue(value);
  for (const [k, v] of Object.entries(params)) p.setParameter(k, v);
  return p;
}
const emailOf = (p: ICAL.Property): string | null => {
  const m = /^mailto:(.+)$/i.exec(str(p) ?? "");
  return m ? m[1]!.trim() : null;
};
const param = (p: ICAL.Property, k: string): string | null => {
  const v = p.getParameter(k);
  return typeof v === "string" ? v : Array.isArray(v) ? v.join(",") : null;
};

const summary: FieldGroup = {
  name: "summary",
  owns: named("SUMMARY"),
  write: (ps) => ({ subject: str(first(ps, "SUMMARY")) }),
  read: (ev) => (ev.subject ? [text("SUMMARY", ev.subject)] : []),
};

/** X-ALT-DESC is an unknown property to ical.js: its value is kept as written, so TEXT escaping (RFC 5545
 *  3.3.11: backslash, semicolon, comma, newline) is ours to do, or raw HTML line breaks end the line. */
const escapeText = (s: string): string => s.replace(/\\/g, "\\\\").replace(/;/g, "\\;").replace(/,/g, "\\,").replace(/\r?\n/g, "\\n");
const unescapeText = (s: string): string => s.replace(/\\([\\;,nN])/g, (_m, c: string) => (c === "n" || c === "N" ? "\n" : c));
const isHtmlAlt = (p: ICAL.Property): boolean => (param(p, "fmttype") ?? "").toLowerCase() === "text/html";
const body: FieldGroup = {
  name: "body",
  owns: named("DESCRIPTION", "X-ALT-DESC"),
  write(ps) {
    const html = ps.find((p) => p.name.toUpperCase() === "X-ALT-DESC" && isHtmlAlt(p));
    if (html) return { body: { contentType: "html", content: unescapeText(str(html) ?? "") } };
    return { body: { contentType: "text", content: str(first(ps, "DESCRIPTION")) ?? "" } };
  },
  read(ev) {
    const b = ev.body;
    if (!b || !b.content) return [];
    if (String(b.contentType).toLowerCase() !== "html") return [text("DESCRIPTION", b.content)];
    const plain = htmlToText(b.content);
    return [...(plain ? [text("DESCRIPTION", plain)] : []), text("X-ALT-DESC", escapeText(b.content), { fmttype: "text/html" })];
  },
};

const BUSY_IN: Record<string, string> = { FREE: "free", TENTATIVE: "tentative", BUSY: "busy", OOF: "oof", WORKINGELSEWHERE: "workingElsewhere" };
const showAs: FieldGroup = {
  name: "showAs",
  owns: named("TRANSP", "X-MICROSOFT-CDO-BUSYSTATUS"),
  write(ps) {
    const cdo = BUSY_IN[(str(first(ps, "X-MICROSOFT-CDO-BUSYSTATUS")) ?? "").toUpperCase()];
    if (cdo) return { showAs: cdo };
    return { showAs: (str(first(ps, "TRANSP")) ?? "").toUpperCase() === "TRANSPARENT" ? "free" : "busy" };
  },
  read(ev) {
    const s = ev.showAs ?? "busy";
    const out = [text("TRANSP", s === "free" ? "TRANSPARENT" : "OPAQUE")];
    if (s === "tentative" || s === "oof" || s === "workingElsewhere") out.push(text("X-MICROSOFT-CDO-BUSYSTATUS", s.toUpperCase()));
    return out;
  },
};

const CLASS_IN: Record<string, string> = { PUBLIC: "normal", PRIVATE: "private", CONFIDENTIAL: "confidential", "X-PERSONAL": "personal" };
const CLASS_OUT: Record<string, string> = { normal: "PUBLIC", private: "PRIVATE", confidential: "CONFIDENTIAL", personal: "X-PERSONAL" };
const klass: FieldGroup = {
  name: "class",
  owns: named("CLASS"),
  // RFC 5545 3.8.1.3: an unrecognised CLASS value is treated as PRIVATE.
  write: (ps) => { const v = str(first(ps, "CLASS")); return { sensitivity: v === null ? "normal" : CLASS_IN[v.toUpperCase()] ?? "private" }; },
  read: (ev) => [text("CLASS", CLASS_OUT[ev.sensitivity ?? "normal"] ?? "PUBLIC")],
};

const priority: FieldGroup = {
  name: "priority",
  owns: named("PRIORITY"),
  write(ps) {
    const n = Number(str(first(ps, "PRIORITY")) ?? 0);
    return { importance: n >= 1 && n <= 4 ? "high" : n >= 6 && n <= 9 ? "low" : "normal" };
  },
  read(ev) {
    const p = new ICAL.Property("priority");
    p.setValue(ev.importance === "high" ? 1 : ev.importance === "low" ? 9 : 5);
    return [p];
  },
};

const categories: FieldGroup = {
  name: "categories",
  owns: named("CATEGORIES"),
  write: (ps) => ({ categories: ps.filter(named("CATEGORIES")).flatMap((p) => p.getValues().map(String)).filter((c) => c !== "") }),
  read(ev) {
    const cats = (ev.categories ?? []).filter((c) => typeof c === "string" && c !== "");
    if (cats.length === 0) return [];
    const p = new ICAL.Property("categories");
    p.setValues(cats);
    return [p];
  },
};

interface GraphLocation { displayName?: string; coordinates?: { latitude?: number; longitude?: number } }
const location: FieldGroup = {
  name: "location",
  owns: named("LOCATION", "GEO"),
  write(ps) {
    const name = str(first(ps, "LOCATION"));
    const geo = first(ps, "GEO")?.getFirstValue() as unknown;
    const coords = Array.isArray(geo) && geo.length === 2 && geo.every((x) => Number.isFinite(Number(x))) ? { latitude: Number(geo[0]), longitude: Number(geo[1]) } : null;
    if (!name && !coords) return { location: null };
    return { location: { displayName: name ?? "", ...(coords ? { coordinates: coords } : {}) } };
  },
  read(ev) {
    const loc = (ev.location ?? null) as GraphLocation | null;
    const out: ICAL.Property[] = [];
    if (loc?.displayName) out.push(text("LOCATION", loc.displayName));
    const c = loc?.coordinates;
    if (c && typeof c.latitude === "number" && typeof c.longitude === "number") {
      const g = new ICAL.Property("geo");
      g.setValue([c.latitude, c.longitude] as unknown as string);
      out.push(g);
    }
    return out;
  },
};

interface GraphPerson { type?: string; status?: { response?: string }; emailAddress?: { name?: string; address?: string } }
const PARTSTAT_IN: Record<string, string> = { ACCEPTED: "accepted", DECLINED: "declined", TENTATIVE: "tentativelyAccepted" };
const PARTSTAT_OUT: Record<string, string> = { accepted: "ACCEPTED", declined: "DECLINED", tentativelyAccepted: "TENTATIVE", organizer: "ACCEPTED" };

function attendeeToGraph(p: ICAL.Property): GraphPerson {
  const cutype = (param(p, "cutype") ?? "").toUpperCase();
  const role = (param(p, "role") ?? "").toUpperCase();
  const type = cutype === "RESOURCE" || cutype === "ROOM" ? "resource" : role === "OPT-PARTICIPANT" ? "optional" : "required";
  const cn = param(p, "cn");
  return {
    type,
    status: { response: PARTSTAT_IN[(param(p, "partstat") ?? "").toUpperCase()] ?? "none" },
    emailAddress: { address: emailOf(p) ?? "", ...(cn ? { name: cn } : {}) },
  };
}
function personProp(name: string, who: GraphPerson): ICAL.Property | null {
  const addr = who.emailAddress?.address;
  if (!addr) return null;
  const p = text(name, `mailto:${addr}`);
  if (who.emailAddress?.name) p.setParameter("cn", who.emailAddress.name);
  return p;
}
const attendees: FieldGroup = {
  name: "attendees",
  owns: (p) => p.name.toUpperCase() === "ATTENDEE" && emailOf(p) !== null,
  write: (ps) => ({ attendees: ps.map(attendeeToGraph) }),
  read(ev) {
    const out: ICAL.Property[] = [];
    for (const a of (ev.attendees ?? []) as GraphPerson[]) {
      const p = personProp("ATTENDEE", a);
      if (!p) continue;
      if (a.type === "resource") p.setParameter("cutype", "RESOURCE");
      p.setParameter("role", a.type === "optional" ? "OPT-PARTICIPANT" : a.type === "resource" ? "NON-PARTICIPANT" : "REQ-PARTICIPANT");
      p.setParameter("partstat", PARTSTAT_OUT[a.status?.response ?? "none"] ?? "NEEDS-ACTION");
      out.push(p);
    }
    return out;
  },
  item: attendeeToGraph,
};

const organizer: FieldGroup = {
  name: "organizer",
  owns: (p) => p.name.toUpperCase() === "ORGANIZER" && emailOf(p) !== null,
  write(ps) {
    const p = ps[0];
    if (!p) return { organizer: null };
    const cn = param(p, "cn");
    return { organizer: { emailAddress: { address: emailOf(p) ?? "", ...(cn ? { name: cn } : {}) } } };
  },
  read(ev) {
    const p = ev.organizer ? personProp("ORGANIZER", ev.organizer as GraphPerson) : null;
    return p ? [p] : [];
  },
};

export const GROUPS: readonly FieldGroup[] = [summary, body, showAs, klass, priority, categories, location, attendees, organizer];
