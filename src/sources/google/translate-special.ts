/**
 * Google-only data kept in iCalendar as X-GOOGLE-* properties (JSON values where the data is structured):
 * event type, colorId, the type-specific property blocks, the user's own extendedProperties, and
 * conferenceData (plus one RFC 7986 CONFERENCE per entry point, for clients).
 */
import ICAL from "ical.js";
import type { GEvent } from "./translate-types.ts";

export const X_EVENT_TYPE = "x-google-event-type";
export const X_COLOR = "x-google-color-id";
export const X_CONFERENCE = "x-google-conference";
export const X_EXT_PRIVATE = "x-google-extended-private";
export const X_EXT_SHARED = "x-google-extended-shared";

/** Type-specific blocks: Google field ↔ X- property (JSON value). Kept so they survive a round trip. */
export const TYPE_PROPS = [
  ["outOfOfficeProperties", "x-google-out-of-office-properties"],
  ["focusTimeProperties", "x-google-focus-time-properties"],
  ["workingLocationProperties", "x-google-working-location-properties"],
  ["birthdayProperties", "x-google-birthday-properties"],
] as const;

export const GOOGLE_X_PROPS = new Set<string>([X_EVENT_TYPE, X_COLOR, X_CONFERENCE, X_EXT_PRIVATE, X_EXT_SHARED, ...TYPE_PROPS.map((t) => t[1])]);

/** X- property with a raw (unescaped) JSON value. */
export function jsonProp(name: string, value: unknown): ICAL.Property {
  const p = new ICAL.Property(name);
  p.setValue(JSON.stringify(value));
  return p;
}

/** JSON from an X- property; tolerates clients that TEXT-escaped the value. */
export function readJson(p: ICAL.Property | null): unknown {
  if (!p) return undefined;
  const raw = String(p.getFirstValue() ?? "");
  for (const t of [raw, raw.replace(/\\([,;\\])/g, "$1")]) {
    try {
      return JSON.parse(t);
    } catch {
      /* try the next reading */
    }
  }
  return undefined;
}

export function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === "object" && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

type Conference = NonNullable<GEvent["conferenceData"]>;
// One FEATURE value each: ical.js would quote a comma list into one odd value.
const FEATURE: Record<string, string> = { video: "VIDEO", phone: "PHONE", sip: "VIDEO" };

/** CONFERENCE properties (RFC 7986) for the entry points, plus the whole conferenceData as JSON. */
export function conferenceToIcs(c: Conference | undefined, vevent: ICAL.Component): void {
  if (!c) return;
  for (const e of c.entryPoints ?? []) {
    if (!e.uri) continue;
    const p = new ICAL.Property("conference");
    p.resetType("uri");
    p.setValue(e.uri);
    const f = FEATURE[e.entryPointType ?? ""];
    if (f) p.setParameter("feature", f);
    const label = e.label ?? (e.pin ? `PIN ${e.pin}` : null);
    if (label) p.setParameter("label", label);
    vevent.addProperty(p);
  }
  vevent.addProperty(jsonProp(X_CONFERENCE, c));
}

/**
 * conferenceData from X-GOOGLE-CONFERENCE, keeping only the entry points whose URI a CONFERENCE line still
 * names (a client that deletes the CONFERENCE lines removes the conference); null when nothing is left.
 * Returns the URIs it consumed, so those CONFERENCE lines are not kept a second time.
 */
export function conferenceFromIcs(vevent: ICAL.Component): { data: Conference | null; used: Set<string> } {
  const used = new Set<string>();
  const json = readJson(vevent.getFirstProperty(X_CONFERENCE)) as Conference | undefined;
  if (!json || typeof json !== "object") return { data: null, used };
  const uris = new Set(vevent.getAllProperties("conference").map((p) => String(p.getFirstValue() ?? "")));
  const eps = (json.entryPoints ?? []).filter((e) => e.uri && uris.has(e.uri));
  for (const e of eps) used.add(e.uri!);
  if (eps.length === 0 && (json.entryPoints ?? []).length > 0) return { data: null, used };
  return { data: { ...json, entryPoints: eps }, used };
}
