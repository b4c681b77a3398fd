/**
 * Shared helpers of the Microsoft Graph emulator: seeded randomness, id formats, Windows/IANA zone
 * names (recurrence-and-timezones.md §5) and Intl-based wall-clock arithmetic, Graph's
 * `dateTime` format (7 fractional digits, no offset; reference §3).
 */
import { randomUUID } from "node:crypto";

/** mulberry32: every random choice of the emulator goes through one of these. */
export function seededRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(rng: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rng() * 256);
  return b;
}

export function uuid(rng?: () => number): string {
  if (!rng) return randomUUID();
  const h = randomBytes(rng, 16).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export const b64url = (b: Buffer | string): string =>
  Buffer.from(b).toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

export const DAY_MS = 86_400_000;
const pad = (n: number, l = 2): string => String(n).padStart(l, "0");

// ---------------------------------------------------------------------------------------------
// Windows ↔ IANA (CLDR windowsZones.xml, territory 001 "golden" zone). Graph accepts Windows names
// and IANA names; we accept every IANA name Intl knows (Graph's documented IANA list is a subset).

const WINDOWS: Record<string, string> = {
  "Dateline Standard Time": "Etc/GMT+12", "UTC-11": "Etc/GMT+11", "Hawaiian Standard Time": "Pacific/Honolulu",
  "Alaskan Standard Time": "America/Anchorage", "Pacific Standard Time": "America/Los_Angeles",
  "Pacific Standard Time (Mexico)": "America/Tijuana", "US Mountain Standard Time": "America/Phoenix",
  "Mountain Standard Time": "America/Denver", "Central America Standard Time": "America/Guatemala",
  "Central Standard Time": "America/Chicago", "Central Standard Time (Mexico)": "America/Mexico_City",
  "Canada Central Standard Time": "America/Regina", "SA Pacific Standard Time": "America/Bogota",
  "Eastern Standard Time": "America/New_York", "US Eastern Standard Time": "America/Indianapolis",
  "Atlantic Standard Time": "America/Halifax", "Venezuela Standard Time": "America/Caracas",
  "Newfoundland Standard Time": "America/St_Johns", "E. South America Standard Time": "America/Sao_Paulo",
  "Argentina Standard Time": "America/Buenos_Aires", "Greenland Standard Time": "America/Godthab",
  "UTC-02": "Etc/GMT+2", "Azores Standard Time": "Atlantic/Azores", "Cape Verde Standard Time": "Atlantic/Cape_Verde",
  UTC: "Etc/UTC", "GMT Standard Time": "Europe/London", "Greenwich Standard Time": "Atlantic/Reykjavik",
  "W. Europe Standard Time": "Europe/Berlin", "Central Europe Standard Time": "Europe/Budapest",
  "Romance Standard Time": "Europe/Paris", "Central European Standard Time": "Europe/Warsaw",
  "W. Central Africa Standard Time": "Africa/Lagos", "GTB Standard Time": "Europe/Bucharest",
  "E. Europe Standard Time": "Europe/Chisinau", "Egypt Standard Time": "Africa/Cairo",
  "FLE Standard Time": "Europe/Kiev", "Israel Standard Time": "Asia/Jerusalem",
  "South Africa Standard Time": "Africa/Johannesburg", "Turkey Standard Time": "Europe/Istanbul",
  "Arabic Standard Time": "Asia/Baghdad", "Arab Standard Time": "Asia/Riyadh", "Russian Standard Time": "Europe/Moscow",
  "E. Africa Standard Time": "Africa/Nairobi", "Iran Standard Time": "Asia/Tehran", "Arabian Standard Time": "Asia/Dubai",
  "Afghanistan Standard Time": "Asia/Kabul", "Pakistan Standard Time": "Asia/Karachi",
  "West Asia Standard Time": "Asia/Tashkent", "India Standard Time": "Asia/Calcutta", "Nepal Standard Time": "Asia/Katmandu",
  "Central Asia Standard Time": "Asia/Almaty", "Bangladesh Standard Time": "Asia/Dhaka",
  "Myanmar Standard Time": "Asia/Rangoon", "SE Asia Standard Time": "Asia/Bangkok", "China Standard Time": "Asia/Shanghai",
  "Singapore Standard Time": "Asia/Singapore", "Taipei Standard Time": "Asia/Taipei",
  "W. Australia Standard Time": "Australia/Perth", "Tokyo Standard Time": "Asia/Tokyo", "Korea Standard Time": "Asia/Seoul",
  "Cen. Australia Standard Time": "Australia/Adelaide", "AUS Central Standard Time": "Australia/Darwin",
  "E. Australia Standard Time": "Australia/Brisbane", "AUS Eastern Standard Time": "Australia/Sydney",
  "Tasmania Standard Time": "Australia/Hobart", "West Pacific Standard Time": "Pacific/Port_Moresby",
  "New Zealand Standard Time": "Pacific/Auckland", "Tonga Standard Time": "Pacific/Tongatapu",
  "Line Islands Standard Time": "Pacific/Kiritimati", "Samoa Standard Time": "Pacific/Apia",
};
const IANA_TO_WINDOWS = new Map<string, string>();
for (const [w, i] of Object.entries(WINDOWS)) IANA_TO_WINDOWS.set(i, w);
IANA_TO_WINDOWS.set("Europe/Zurich", "W. Europe Standard Time");
IANA_TO_WINDOWS.set("Europe/Amsterdam", "W. Europe Standard Time");
IANA_TO_WINDOWS.set("Europe/Rome", "W. Europe Standard Time");
IANA_TO_WINDOWS.set("Europe/Vienna", "W. Europe Standard Time");
IANA_TO_WINDOWS.set("Europe/Madrid", "Romance Standard Time");
IANA_TO_WINDOWS.set("Europe/Brussels", "Romance Standard Time");
IANA_TO_WINDOWS.set("Europe/Prague", "Central Europe Standard Time");
IANA_TO_WINDOWS.set("Europe/Kyiv", "FLE Standard Time");
IANA_TO_WINDOWS.set("Europe/Helsinki", "FLE Standard Time");
IANA_TO_WINDOWS.set("Asia/Kolkata", "India Standard Time");
IANA_TO_WINDOWS.set("UTC", "UTC");

const validIana = new Map<string, boolean>();
function isIana(tz: string): boolean {
  let ok = validIana.get(tz);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: tz });
      ok = /^[A-Za-z]/.test(tz) && (tz.includes("/") || tz === "UTC" || tz === "GMT");
    } catch {
      ok = false;
    }
    validIana.set(tz, ok);
  }
  return ok;
}

/** The IANA zone to compute with for a Graph zone name (Windows or IANA), undefined if unsupported. */
export function ianaOf(tz: unknown): string | undefined {
  if (typeof tz !== "string" || tz === "") return undefined;
  const w = WINDOWS[tz];
  if (w) return w;
  // Windows names are matched case-insensitively by Exchange.
  const wk = Object.keys(WINDOWS).find((k) => k.toLowerCase() === tz.toLowerCase());
  if (wk) return WINDOWS[wk];
  return isIana(tz) ? tz : undefined;
}

/** Windows name of a zone (as `originalStartTimeZone` reports it); the input if unknown. */
export function windowsOf(tz: string): string {
  if (WINDOWS[tz]) return tz;
  return IANA_TO_WINDOWS.get(tz) ?? tz;
}

// ---------------------------------------------------------------------------------------------
// Wall-clock arithmetic

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    formatters.set(tz, f);
  }
  return f;
}

export interface Wall { y: number; mo: number; d: number; h: number; mi: number; s: number; ms: number }

export function wallAt(t: number, tz: string): Wall {
  const parts = formatter(tz).formatToParts(new Date(t));
  const get = (k: string): number => Number(parts.find((p) => p.type === k)?.value ?? 0);
  return { y: get("year"), mo: get("month"), d: get("day"), h: get("hour"), mi: get("minute"), s: get("second"), ms: ((t % 1000) + 1000) % 1000 };
}

function offsetMinutes(t: number, tz: string): number {
  const w = wallAt(t, tz);
  return Math.round((Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - Math.floor(t / 1000) * 1000) / 60000);
}

/** Instant of a wall time in a zone (gaps shift forward, overlaps take the earlier instant). */
export function wallToUtc(w: Wall, tz: string): number {
  const guess = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s, w.ms);
  const cands = [offsetMinutes(guess - DAY_MS, tz), offsetMinutes(guess + DAY_MS, tz)]
    .map((o) => guess - o * 60000)
    .filter((t) => {
      const x = wallAt(t, tz);
      return x.y === w.y && x.mo === w.mo && x.d === w.d && x.h === w.h && x.mi === w.mi && x.s === w.s;
    });
  if (cands.length > 0) return Math.min(...cands);
  return guess - offsetMinutes(guess - DAY_MS, tz) * 60000;
}

const GRAPH_DT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,7})?)?$/;

/** A Graph `dateTime` (no offset) as wall fields; undefined if malformed. */
export function parseWall(s: unknown): Wall | undefined {
  if (typeof s !== "string") return undefined;
  const m = GRAPH_DT.exec(s.replace(/Z$/, ""));
  if (!m) return undefined;
  const w: Wall = { y: +m[1]!, mo: +m[2]!, d: +m[3]!, h: +m[4]!, mi: +m[5]!, s: +(m[6] ?? 0), ms: m[7] ? Math.floor(Number("0" + m[7]) * 1000) : 0 };
  if (w.mo < 1 || w.mo > 12 || w.d < 1 || w.d > daysInMonth(w.y, w.mo) || w.h > 23 || w.mi > 59 || w.s > 59) return undefined;
  return w;
}

/** `2017-08-29T04:00:00.0000000` — Graph's dateTimeTimeZone.dateTime (reference §3). */
export function graphDateTime(t: number, tz: string): string {
  const w = wallAt(t, tz);
  return `${pad(w.y, 4)}-${pad(w.mo)}-${pad(w.d)}T${pad(w.h)}:${pad(w.mi)}:${pad(w.s)}.${pad(w.ms, 3)}0000`;
}

/** `2025-01-08T09:12:44.1843211Z`: UTC with 7 fractional digits (created/lastModifiedDateTime). */
export function utc7(t: number, sub = 0): string {
  return new Date(t).toISOString().replace(/\.(\d{3})Z$/, (_, ms: string) => `.${ms}${pad(sub % 10000, 4)}Z`);
}

/** `2025-03-11T09:00:00Z` (originalStart). */
export function utcNoFrac(t: number): string {
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z");
}

const QUERY_DT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?([Zz]|[+-]\d{2}:?\d{2})?$/;

/** startDateTime/endDateTime query values: interpreted by their offset, none → UTC (reference §1). */
export function parseQueryDateTime(s: unknown): number | undefined {
  if (typeof s !== "string") return undefined;
  const m = QUERY_DT.exec(s.trim());
  if (!m) return undefined;
  const base = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), m[7] ? Math.floor(Number("0" + m[7]) * 1000) : 0);
  const off = m[8];
  if (!off || off === "Z" || off === "z") return base;
  const digits = off.replace(":", "");
  const sign = digits[0] === "-" ? -1 : 1;
  return base - sign * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5))) * 60000;
}

// ---------------------------------------------------------------------------------------------
// Dates (yyyy-mm-dd) as day numbers: all-day arithmetic never passes through a zone (§4 of the
// recurrence reference).

export function daysInMonth(y: number, mo: number): number {
  return new Date(Date.UTC(y, mo, 0)).getUTCDate();
}
export function isDate(s: unknown): s is string {
  if (typeof s !== "string") return false;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  return !!m && +m[2]! >= 1 && +m[2]! <= 12 && +m[3]! >= 1 && +m[3]! <= daysInMonth(+m[1]!, +m[2]!);
}
export const dayNum = (s: string): number => Date.UTC(+s.slice(0, 4), +s.slice(5, 7) - 1, +s.slice(8, 10)) / DAY_MS;
export function dateOf(day: number): string {
  const d = new Date(day * DAY_MS);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}
export const wallDate = (w: Wall): string => `${pad(w.y, 4)}-${pad(w.mo)}-${pad(w.d)}`;
export const weekday = (day: number): number => new Date(day * DAY_MS).getUTCDay(); // 0 = sunday

export function deepClone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}
export function isPlainObject(v: unknown): v is Record<string, any> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
