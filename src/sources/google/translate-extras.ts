/**
 * What iCalendar has and Google lacks travels in extendedProperties.private, so an edit made through Google
 * (which keeps extendedProperties) does not strip it. The payload is an iCalendar fragment:
 *
 *   BEGIN:X-CALGATE            unmapped properties (CATEGORIES, GEO, URL, ATTACH, X-…), unmappable VALARMs,
 *   BEGIN:X-CALGATE-SHADOW     original text of mapped properties that carry parameters or spellings Google
 *   END:X-CALGATE-SHADOW       drops (ATTENDEE;RSVP=TRUE…, SUMMARY;LANGUAGE=de…, mapped VALARMs),
 *   BEGIN:X-CALGATE-META       markers (floating times, DURATION form, absent STATUS/ORGANIZER),
 *   END:X-CALGATE-META
 *   END:X-CALGATE
 *
 * unfolded, cut into values of at most 1024 UTF-8 bytes under keys "calgate:0".."calgate:<n-1>", with
 * "calgate:n" = n so stale chunks left by a PATCH (which merges maps) are ignored. Google's limits (key ≤ 44
 * chars, value ≤ 1024, ≤ 300 entries and 32 kB per event) are checked here: over them is TranslateRefused.
 */
import ICAL from "ical.js";
import { TranslateRefused, type GEvent } from "./translate-types.ts";

export const KEY_PREFIX = "calgate:";
const COUNT_KEY = "calgate:n";
export const MAX_VALUE_BYTES = 1024;
export const MAX_KEY_CHARS = 44;
export const MAX_ENTRIES = 300;
export const MAX_TOTAL_BYTES = 32 * 1024;

export interface Extras {
  readonly props: ICAL.Property[];
  readonly alarms: ICAL.Component[];
  readonly shadows: ICAL.Property[];
  readonly shadowAlarms: ICAL.Component[];
  readonly meta: Map<string, string>;
}

export const emptyExtras = (): Extras => ({ props: [], alarms: [], shadows: [], shadowAlarms: [], meta: new Map() });

const isOurs = (k: string): boolean => k.startsWith(KEY_PREFIX);
const bytes = (s: string): number => Buffer.byteLength(s, "utf8");
const unfold = (s: string): string => s.replace(/\r?\n[ \t]/g, "");

function serialise(x: Extras): string {
  if (x.props.length + x.alarms.length + x.shadows.length + x.shadowAlarms.length + x.meta.size === 0) return "";
  const root = new ICAL.Component("x-calgate");
  for (const p of x.props) root.addProperty(ICAL.Property.fromString(p.toICALString()));
  for (const a of x.alarms) root.addSubcomponent(new ICAL.Component(a.toJSON() as unknown[]));
  if (x.shadows.length + x.shadowAlarms.length > 0) {
    const s = new ICAL.Component("x-calgate-shadow");
    for (const p of x.shadows) s.addProperty(ICAL.Property.fromString(p.toICALString()));
    for (const a of x.shadowAlarms) s.addSubcomponent(new ICAL.Component(a.toJSON() as unknown[]));
    root.addSubcomponent(s);
  }
  if (x.meta.size > 0) {
    const m = new ICAL.Component("x-calgate-meta");
    for (const [k, v] of x.meta) m.addPropertyWithValue(k, v);
    root.addSubcomponent(m);
  }
  return unfold(root.toString()).replace(/\r\n/g, "\n");
}

/** Cuts text into pieces of at most `max` UTF-8 bytes without splitting a character. */
export function chunkUtf8(text: string, max: number): string[] {
  const out: string[] = [];
  let cur = "";
  let n = 0;
  for (const ch of text) {
    const b = bytes(ch);
    if (n + b > max) {
      out.push(cur);
      cur = "";
      n = 0;
    }
    cur += ch;
    n += b;
  }
  if (cur !== "") out.push(cur);
  return out;
}

/** Largest kept item, to name in a refusal. */
function largest(x: Extras): string {
  let best = "";
  let size = -1;
  const consider = (name: string, text: string): void => {
    if (bytes(text) > size) { size = bytes(text); best = `${name} (${size} bytes)`; }
  };
  for (const p of [...x.props, ...x.shadows]) consider(p.name.toUpperCase(), p.toICALString());
  for (const a of [...x.alarms, ...x.shadowAlarms]) consider("VALARM", a.toString());
  return best;
}

/** extendedProperties for a write: ours (chunked) plus the user's own private/shared maps. */
export function packExtended(x: Extras, userPrivate: Record<string, string>, userShared: Record<string, string>): NonNullable<GEvent["extendedProperties"]> {
  const priv: Record<string, string> = {};
  for (const [k, v] of Object.entries(userPrivate)) if (!isOurs(k)) priv[k] = v;
  const chunks = chunkUtf8(serialise(x), MAX_VALUE_BYTES);
  chunks.forEach((c, i) => { priv[`${KEY_PREFIX}${i}`] = c; });
  priv[COUNT_KEY] = String(chunks.length);
  const all = [...Object.entries(priv), ...Object.entries(userShared)];
  for (const [k, v] of all) {
    if (k.length > MAX_KEY_CHARS) throw new TranslateRefused(`X-GOOGLE-EXTENDED-*: key '${k.slice(0, 60)}' is longer than Google's ${MAX_KEY_CHARS} characters`);
    if (bytes(v) > MAX_VALUE_BYTES) throw new TranslateRefused(`X-GOOGLE-EXTENDED-*: the value of '${k}' is longer than Google's ${MAX_VALUE_BYTES} characters`);
  }
  const total = all.reduce((s, [k, v]) => s + bytes(k) + bytes(v), 0);
  if (all.length > MAX_ENTRIES || total > MAX_TOTAL_BYTES) {
    throw new TranslateRefused(`extendedProperties: the iCalendar data Google has no field for needs ${all.length} entries / ${total} bytes, over Google's limit of ${MAX_ENTRIES} entries / ${MAX_TOTAL_BYTES} bytes per event; largest: ${largest(x)}`);
  }
  return { private: priv, shared: { ...userShared } };
}

/** Our payload back from extendedProperties.private (empty when absent or unreadable). */
export function unpackExtended(ext: GEvent["extendedProperties"]): Extras {
  const priv = ext?.private ?? {};
  const n = Number(priv[COUNT_KEY] ?? NaN);
  const x = emptyExtras();
  if (!Number.isInteger(n) || n <= 0) return x;
  let text = "";
  for (let i = 0; i < n; i++) {
    const c = priv[`${KEY_PREFIX}${i}`];
    if (c === undefined) return x; // incomplete: better nothing than a truncated property
    text += c;
  }
  let root: ICAL.Component;
  try {
    root = new ICAL.Component(ICAL.parse(text.replace(/\r?\n/g, "\r\n")) as unknown[]);
  } catch {
    return x;
  }
  x.props.push(...root.getAllProperties());
  for (const c of root.getAllSubcomponents()) {
    if (c.name === "valarm") x.alarms.push(c);
    else if (c.name === "x-calgate-shadow") {
      x.shadows.push(...c.getAllProperties());
      x.shadowAlarms.push(...c.getAllSubcomponents("valarm"));
    } else if (c.name === "x-calgate-meta") {
      for (const p of c.getAllProperties()) x.meta.set(p.name, String(p.getFirstValue() ?? ""));
    }
  }
  return x;
}

/** The user's own entries (not ours) of one map. */
export function userEntries(map: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map ?? {})) if (!isOurs(k)) out[k] = v;
  return out;
}
