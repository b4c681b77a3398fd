/**
 * TZID → converter from local wall-clock time to UTC. Resolution order:
 *   1. a usable VTIMEZONE with that TZID in the same object (ical.js Timezone, cached by definition text);
 *   2. an IANA name known to Intl (no VTIMEZONE needed);
 *   3. a Windows zone id (CLDR windowsZones, territory 001);
 *   4. Outlook/Exchange/Evolution-style custom names that embed an IANA id, a Windows id or a Windows
 *      display name ("(UTC-05:00) Eastern Time (US & Canada)", "/freeassociation.sourceforge.net/…/Europe/Vienna"),
 *      or at least a fixed offset ("GMT +0100 …");
 *   5. unknown → null: the caller treats the time as floating.
 * Gaps and overlaps follow RFC 5545 3.3.5: a nonexistent local time uses the offset before the gap,
 * an ambiguous one means the first (earlier) instant.
 */
import ICAL from "ical.js";
import { WINDOWS_ZONES } from "./windows-zones.ts";

/** Wall-clock fields; month is 1-12. */
export interface Wall {
  readonly y: number;
  readonly mo: number;
  readonly d: number;
  readonly h: number;
  readonly mi: number;
  readonly s: number;
}

export interface Zone {
  /** Name this zone was resolved to (IANA id, "UTC", "VTIMEZONE:<tzid>" or "fixed:+0100"). */
  readonly id: string;
  /** Epoch milliseconds of the given local wall-clock time in this zone. */
  toUtc(w: Wall): number;
}

export const wallMs = (w: Wall): number => Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s);
export function wallOf(ms: number): Wall {
  const d = new Date(ms);
  return { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds() };
}

export const UTC_ZONE: Zone = { id: "UTC", toUtc: wallMs };

function fixedZone(offsetMs: number, id: string): Zone {
  return { id, toUtc: (w) => wallMs(w) - offsetMs };
}

// ---- IANA zones through Intl ----------------------------------------------------------------------

const ianaCache = new Map<string, Zone | null>();

function makeIanaZone(name: string): Zone | null {
  let dtf: Intl.DateTimeFormat;
  try {
    dtf = new Intl.DateTimeFormat("en-US", {
      timeZone: name, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric", era: "short",
    });
  } catch {
    return null;
  }
  const offsetAt = (t: number): number => {
    // Beyond what Date can represent (e.g. DURATION:P99999999D) there is no zone offset; formatToParts would throw.
    if (!(Math.abs(t) <= 8.6e15)) return 0;
    let y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, bc = false;
    for (const p of dtf.formatToParts(t)) {
      switch (p.type) {
        case "year": y = +p.value; break;
        case "month": mo = +p.value; break;
        case "day": d = +p.value; break;
        case "hour": h = +p.value; break;
        case "minute": mi = +p.value; break;
        case "second": s = +p.value; break;
        case "era": bc = p.value.startsWith("B"); break;
      }
    }
    if (bc) y = 1 - y;
    const local = Date.UTC(y, mo - 1, d, h, mi, s);
    const fixed = y >= 0 && y < 100 ? new Date(local).setUTCFullYear(y) : local;
    return fixed - Math.floor(t / 1000) * 1000;
  };
  const DAY = 86_400_000;
  return {
    id: name,
    toUtc(w) {
      const local = wallMs(w);
      const before = offsetAt(local - DAY);
      const after = offsetAt(local + DAY);
      if (before === after) return local - before;
      const t1 = local - before;
      const t2 = local - after;
      const ok1 = offsetAt(t1) === before;
      const ok2 = offsetAt(t2) === after;
      if (ok1 && ok2) return Math.min(t1, t2);
      if (ok1) return t1;
      if (ok2) return t2;
      return t1; // in the gap: the offset before the gap
    },
  };
}

/** An IANA zone via Intl (cached), or null when Intl does not know the name. */
export function ianaZone(name: string): Zone | null {
  let z = ianaCache.get(name);
  if (z === undefined) {
    z = /^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(name) ? makeIanaZone(name) : null;
    if (z && (name === "UTC" || name === "Etc/UTC" || name === "GMT" || name === "Z")) z = UTC_ZONE;
    ianaCache.set(name, z);
  }
  return z;
}

// ---- names: Windows ids, display names, embedded ids ---------------------------------------------

const byWindowsId = new Map<string, string>();
const byDisplay: [string, string][] = [];
for (const [id, iana, display] of WINDOWS_ZONES) {
  byWindowsId.set(id.toLowerCase(), iana);
  byDisplay.push([display.replace(/^\([^)]*\)\s*/, "").toLowerCase().replace(/ and /g, " & "), iana]);
}
const ALIASES: Record<string, string> = {
  "eastern": "America/New_York", "us-eastern": "America/New_York", "central": "America/Chicago", "us-central": "America/Chicago",
  "mountain": "America/Denver", "us-mountain": "America/Denver", "pacific": "America/Los_Angeles", "us-pacific": "America/Los_Angeles",
  "mitteleuropäische zeit": "Europe/Berlin", "mitteleuropäische sommerzeit": "Europe/Berlin", "westeuropäische zeit": "Europe/Lisbon",
  "z": "UTC", "utc": "UTC", "gmt": "UTC", "etc/utc": "UTC", "universal": "UTC", "coordinated universal time": "UTC",
};

/** The IANA id a zone name maps to without any VTIMEZONE, or null (steps 2–4 of the order above). */
export function ianaNameFor(tzid: string): string | null {
  const name = tzid.replace(/\\(.)/g, "$1").trim();
  if (name === "") return null;
  if (ianaZone(name)) return name;
  const lower = name.toLowerCase();
  const alias = ALIASES[lower];
  if (alias) return alias;
  const win = byWindowsId.get(lower);
  if (win) return win;
  // Embedded IANA id: "/freeassociation.sourceforge.net/Tzfile/Europe/Vienna", "/mozilla.org/20050126_1/America/New_York".
  const embedded = /((?:Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc|US)\/[A-Za-z0-9_+\-]+(?:\/[A-Za-z0-9_+\-]+)?)/.exec(name);
  if (embedded && ianaZone(embedded[1]!)) return embedded[1]!;
  // Windows id inside a longer custom name.
  for (const [id, iana] of byWindowsId) if (id.length > 6 && lower.includes(id)) return iana;
  // Windows display name, with or without its "(UTC±hh:mm)" prefix.
  const bare = lower.replace(/^\((?:utc|gmt)[^)]*\)\s*/, "").replace(/ and /g, " & ").trim();
  if (bare.length >= 4) {
    for (const [disp, iana] of byDisplay) if (disp === bare) return iana;
    for (const [disp, iana] of byDisplay) if (disp.length >= 6 && (bare.startsWith(disp) || disp.startsWith(bare))) return iana;
  }
  if (/^us[-/]/.test(lower)) {
    const us = "US/" + name.slice(3);
    if (ianaZone(us)) return us;
  }
  return null;
}

/** Fixed offset hinted by names like "(UTC+07:00) Bangkok…" or "GMT +0100 (Standard) / …", in ms. */
function offsetHint(tzid: string): number | null {
  const m = /(?:UTC|GMT)\s*([+-])\s*(\d{1,2})(?:[:.]?(\d{2}))?/i.exec(tzid);
  if (!m) return null;
  const ms = (Number(m[2]) * 60 + Number(m[3] ?? 0)) * 60_000;
  return m[1] === "-" ? -ms : ms;
}

/** Zone for a name alone (calendar-timezone TZIDs, X-WR-TIMEZONE, TZIDs without VTIMEZONE); null = floating. */
export function zoneForName(tzid: string): Zone | null {
  const iana = ianaNameFor(tzid);
  if (iana) return iana === "UTC" ? UTC_ZONE : ianaZone(iana);
  const off = offsetHint(tzid);
  if (off !== null) return off === 0 ? UTC_ZONE : fixedZone(off, `fixed:${tzid}`);
  return null;
}

// ---- VTIMEZONE definitions ---------------------------------------------------------------------------

const OFFSET_RE = /^[+-]\d{4}(\d{2})?$/;
const vtzCache = new Map<string, Zone | null>();

/** A VTIMEZONE is usable when every observance has a local DATE-TIME DTSTART and signed offsets. */
export function usableVtimezone(vtz: ICAL.Component): boolean {
  const obs = vtz.getAllSubcomponents();
  if (obs.length === 0) return false;
  for (const o of obs) {
    const name = o.name.toLowerCase();
    if (name !== "standard" && name !== "daylight") continue;
    const dt = o.getFirstProperty("dtstart");
    if (!dt || dt.type !== "date-time") return false;
    const raw = String(dt.jCal[3] ?? "");
    const year = Number(raw.slice(0, 4));
    if (!(year >= 1000)) return false;
    for (const p of ["tzoffsetto", "tzoffsetfrom"]) {
      const v = o.getFirstProperty(p);
      if (!v) return false;
      const text = String(v.jCal[3] ?? "").replace(/:/g, "");
      if (!OFFSET_RE.test(text)) return false;
    }
  }
  return true;
}

function vtimezoneZone(vtz: ICAL.Component, tzid: string): Zone | null {
  const key = JSON.stringify(vtz.jCal);
  let z = vtzCache.get(key);
  if (z !== undefined) return z;
  z = null;
  if (usableVtimezone(vtz)) {
    try {
      const tz = new ICAL.Timezone({ component: vtz, tzid });
      // ical.js expands (and caches) the zone's rules up to the year asked for: clamp far years (e.g. from
      // DURATION:P99999999D, found by the fuzz tests) so one object cannot cost seconds of CPU and that memory.
      const probe = (w: Wall): number => tz.utcOffset(new ICAL.Time({ year: Math.min(Math.max(w.y, 1), 2400), month: w.mo, day: w.d, hour: w.h, minute: w.mi, second: w.s, isDate: false }, ICAL.Timezone.localTimezone));
      probe({ y: 2020, mo: 1, d: 1, h: 0, mi: 0, s: 0 });
      z = { id: `VTIMEZONE:${tzid}`, toUtc: (w) => wallMs(w) - probe(w) * 1000 };
    } catch {
      z = null;
    }
  }
  if (vtzCache.size > 2000) vtzCache.clear();
  vtzCache.set(key, z);
  return z;
}

const perRoot = new WeakMap<ICAL.Component, Map<string, Zone | null>>();

/** How a TZID parameter of a property inside `root` resolves; null means "treat as floating". */
export function resolveTzid(tzid: string, root: ICAL.Component | null): Zone | null {
  let cache = root ? perRoot.get(root) : undefined;
  if (root && !cache) {
    cache = new Map();
    perRoot.set(root, cache);
  }
  const hit = cache?.get(tzid);
  if (hit !== undefined) return hit;
  let zone: Zone | null = null;
  if (root) {
    for (const vtz of root.getAllSubcomponents("vtimezone")) {
      const id = vtz.getFirstProperty("tzid");
      if (id && String(id.jCal[3]) === tzid) {
        zone = vtimezoneZone(vtz, tzid);
        break;
      }
    }
  }
  if (!zone) zone = zoneForName(tzid);
  cache?.set(tzid, zone);
  return zone;
}

/** Zone for floating times of an object: its X-WR-TIMEZONE when resolvable, else the given fallback name. */
export function floatingZoneFor(root: ICAL.Component | null, fallback: string | null): Zone {
  if (root) {
    const xwr = root.getFirstProperty("x-wr-timezone");
    if (xwr) {
      const z = resolveTzid(String(xwr.jCal[3] ?? ""), root);
      if (z) return z;
    }
  }
  if (fallback) return zoneForName(fallback) ?? UTC_ZONE;
  return UTC_ZONE;
}
