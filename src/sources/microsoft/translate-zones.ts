/**
 * Time zones for the Graph translation: Windows ↔ IANA through the CLDR table kept in src/ical/windows-zones.ts,
 * custom VTIMEZONEs matched to a known zone by their offsets, wall clock ↔ instant helpers.
 * Rules (docs/microsoft-fidelity.md): Graph gets Windows names (it accepts them everywhere); a zone with no
 * Windows name is sent as its IANA name; "UTC" stays "UTC".
 */
import type ICAL from "ical.js";
import { ianaNameFor, ianaZone, resolveTzid, wallMs, wallOf, zoneForName, type Wall, type Zone } from "../../ical/timezones.ts";
import { WINDOWS_ZONES } from "../../ical/windows-zones.ts";

const UTC_NAMES = new Set(["UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu", "Etc/GMT0", "GMT0", "Coordinated Universal Time"]);
export const isUtcName = (z: string | null | undefined): boolean => !!z && UTC_NAMES.has(z);
export const CUSTOM_ZONE = "tzone://Microsoft/Custom";

/** Offset of an IANA zone at an instant, in minutes east of UTC (Node's Intl data). */
import { offsetMinutes } from "../../ical/vtimezone.ts";
export { offsetMinutes };

/** Wall clock of an instant in an IANA zone ("UTC" included). */
export const wallIn = (zone: string, ms: number): Wall => wallOf(ms + offsetMinutes(zone, ms) * 60_000);

/** Canonical form of an IANA id for alias-aware comparison (Europe/Kyiv = Europe/Kiev). */
function canonical(iana: string): string {
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: iana }).resolvedOptions().timeZone;
  } catch {
    return iana;
  }
}

let byIana: Map<string, string> | null = null;
/** Windows id of an IANA zone (CLDR territory-001 rows, alias-aware), or null. */
export function ianaToWindows(iana: string): string | null {
  if (isUtcName(iana)) return "UTC";
  if (!byIana) {
    byIana = new Map();
    for (const [id, z] of WINDOWS_ZONES) if (!byIana.has(canonical(z))) byIana.set(canonical(z), id);
  }
  return byIana.get(canonical(iana)) ?? null;
}

/** IANA id (or "UTC") for a zone name Graph uses (Windows id, IANA id, display name), or null. */
export function graphZoneToIana(name: string | null | undefined): string | null {
  if (!name || name === CUSTOM_ZONE) return null;
  if (isUtcName(name)) return "UTC";
  const iana = ianaNameFor(name);
  if (!iana) return null;
  return isUtcName(iana) ? "UTC" : ianaZone(iana) ? iana : null;
}

/** The name to send to Graph for an IANA zone: its Windows id, else the IANA id itself. */
export const graphZoneName = (iana: string): string => ianaToWindows(iana) ?? iana;

/** Instant of a Graph dateTime ("2025-01-14T10:00:00.0000000", no offset) read in the named zone. */
export function graphInstant(dateTime: string, zone: string): number {
  const w = parseWall(dateTime);
  if (!w) return NaN;
  const z = isUtcName(zone) ? null : zoneForName(zone);
  return z ? z.toUtc(w) : wallMs(w);
}

export function parseWall(s: string): Wall | null {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})(?:T(\d{2}):?(\d{2}):?(\d{2})?(?:\.\d+)?)?(Z)?$/i.exec(s.trim());
  if (!m) return null;
  return { y: +m[1]!, mo: +m[2]!, d: +m[3]!, h: +(m[4] ?? 0), mi: +(m[5] ?? 0), s: +(m[6] ?? 0) };
}

/** Instant of a Graph timestamp (originalStart, createdDateTime…); one without offset is UTC (never the host zone). */
export function utcMs(s: unknown): number {
  const t = String(s ?? "").trim();
  if (!/^\d{4}-\d{2}-\d{2}T/.test(t)) return NaN;
  return Date.parse(/(z|[+-]\d{2}:?\d{2})$/i.test(t) ? t : `${t}Z`);
}

const p2 = (n: number): string => String(n).padStart(2, "0");
const p4 = (n: number): string => String(n).padStart(4, "0");
export const isoDate = (w: Wall): string => `${p4(w.y)}-${p2(w.mo)}-${p2(w.d)}`;
export const isoWall = (w: Wall): string => `${isoDate(w)}T${p2(w.h)}:${p2(w.mi)}:${p2(w.s)}`;
export const icsDate = (w: Wall): string => `${p4(w.y)}${p2(w.mo)}${p2(w.d)}`;
export const icsWall = (w: Wall): string => `${icsDate(w)}T${p2(w.h)}${p2(w.mi)}${p2(w.s)}`;
export const addDays = (w: Wall, n: number): Wall => wallOf(wallMs(w) + n * 86_400_000);

const matchCache = new Map<string, string | null>();
/** An IANA zone whose offsets equal a custom VTIMEZONE's over the years used (Outlook "tzone://Microsoft/Custom"
 *  and display-name zones), checked every 6 hours; null when none matches. */
export function matchVtimezone(tzid: string, root: ICAL.Component, year: number): string | null {
  const zone = resolveTzid(tzid, root);
  if (!zone) return null;
  const key = `${tzid}|${year}|${zoneProbe(zone, year).join(",")}`;
  const hit = matchCache.get(key);
  if (hit !== undefined) return hit;
  let found: string | null = null;
  const named = ianaNameFor(tzid);
  const candidates = [...(named ? [named] : []), "UTC", ...WINDOWS_ZONES.map((r) => r[1])];
  const probe = zoneProbe(zone, year);
  for (const iana of candidates) {
    const z = iana === "UTC" ? null : ianaZone(iana);
    if (iana !== "UTC" && !z) continue;
    const quick = [1, 4, 7, 10].map((mo) => { const w = { y: year, mo, d: 15, h: 12, mi: 0, s: 0 }; return wallMs(w) - (z ? z.toUtc(w) : wallMs(w)); });
    if (quick.join(",") !== probe.join(",")) continue;
    if (sameOffsets(zone, iana, year)) { found = iana; break; }
  }
  matchCache.set(key, found);
  return found;
}

const equivCache = new Map<string, string | null>();
/** A zone with a Windows id whose offsets equal those of an IANA zone the CLDR table does not list (zones newer
 *  than the table, e.g. America/Ciudad_Juarez), over two years from `year`; null when none does. */
export function windowsEquivalent(iana: string, year: number): string | null {
  const key = `${iana}|${year}`;
  const hit = equivCache.get(key);
  if (hit !== undefined) return hit;
  const zone = ianaZone(iana);
  let found: string | null = null;
  if (zone) {
    const probe = zoneProbe(zone, year).join(",");
    for (const [, candidate] of WINDOWS_ZONES) {
      const z = ianaZone(candidate);
      if (z && zoneProbe(z, year).join(",") === probe && sameOffsets(zone, candidate, year)) { found = candidate; break; }
    }
  }
  equivCache.set(key, found);
  return found;
}

function zoneProbe(zone: Zone, year: number): number[] {
  return [1, 4, 7, 10].map((mo) => wallMs({ y: year, mo, d: 15, h: 12, mi: 0, s: 0 }) - zone.toUtc({ y: year, mo, d: 15, h: 12, mi: 0, s: 0 }));
}

function sameOffsets(zone: Zone, iana: string, year: number): boolean {
  const z = iana === "UTC" ? null : ianaZone(iana);
  for (let t = Date.UTC(year, 0, 1); t < Date.UTC(year + 2, 0, 1); t += 6 * 3_600_000) {
    // Local times near a transition (skipped or repeated hours) resolve differently per implementation: skip them.
    if (z && offsetMinutes(iana, t - 3 * 3_600_000) !== offsetMinutes(iana, t + 3 * 3_600_000)) continue;
    if (zone.toUtc(wallIn(iana, t)) !== t) return false;
  }
  return true;
}
