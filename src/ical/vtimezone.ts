/**
 * VTIMEZONE components for IANA zones, built from Node's Intl data (shared by the provider translations,
 * which must emit a VTIMEZONE for each zone a provider names) (ical.js ships no zone database, and
 * RFC 5545 wants one VTIMEZONE per TZID used; Apple and Outlook rely on it). Transitions from the first year
 * the object uses up to 2037 are found by sampling; the trailing yearly pattern becomes two RRULE observances
 * (so open-ended series stay right after 2037), everything before it explicit observances.
 */
import ICAL from "ical.js";
import { wallOf, type Wall } from "./timezones.ts";

const UTC_NAMES = new Set(["UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu", "Etc/GMT0", "GMT0"]);
const isUtcName = (z: string): boolean => UTC_NAMES.has(z);
const p2 = (n: number): string => String(n).padStart(2, "0");
const icsWall = (w: Wall): string => `${String(w.y).padStart(4, "0")}${p2(w.mo)}${p2(w.d)}T${p2(w.h)}${p2(w.mi)}${p2(w.s)}`;

const offsetFmt = new Map<string, Intl.DateTimeFormat>();

/** Offset of an IANA zone at an instant, in minutes east of UTC. */
export function offsetMinutes(zone: string, ms: number): number {
  if (isUtcName(zone)) return 0;
  let f = offsetFmt.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" });
    offsetFmt.set(zone, f);
  }
  const name = f.formatToParts(ms).find((p) => p.type === "timeZoneName")?.value ?? "GMT";
  const m = /GMT([+-])(\d{2}):?(\d{2})?(?::?(\d{2}))?/.exec(name);
  if (!m) return 0;
  const v = +m[2]! * 60 + +(m[3] ?? 0) + +(m[4] ?? 0) / 60;
  return m[1] === "-" ? -v : v;
}

interface Transition { readonly ms: number; readonly from: number; readonly to: number }

const LAST_YEAR = 2037;
const WEEK = 7 * 86_400_000;
const cache = new Map<string, ICAL.Component>();

function transitions(zone: string, fromYear: number): Transition[] {
  const out: Transition[] = [];
  let t = Date.UTC(fromYear, 0, 1);
  const end = Date.UTC(LAST_YEAR + 1, 0, 1);
  let off = offsetMinutes(zone, t);
  while (t < end) {
    const next = Math.min(t + WEEK, end);
    const o2 = offsetMinutes(zone, next);
    if (o2 !== off) {
      // Binary search to the minute: the first instant with the new offset.
      let lo = t, hi = next;
      while (hi - lo > 60_000) {
        const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
        if (offsetMinutes(zone, mid) === off) lo = mid;
        else hi = mid;
      }
      out.push({ ms: hi, from: off, to: offsetMinutes(zone, hi) });
      off = offsetMinutes(zone, hi);
      t = hi;
      continue;
    }
    t = next;
  }
  return out;
}

const DAYS = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];

/** Local wall clock (before the change) and the yearly rule it would follow ("BYMONTH=3;BYDAY=-1SU"). */
function ruleOf(tr: Transition): { local: Wall; rule: string } {
  const local = wallOf(tr.ms + tr.from * 60_000);
  const dim = new Date(Date.UTC(local.y, local.mo, 0)).getUTCDate();
  const wd = new Date(Date.UTC(local.y, local.mo - 1, local.d)).getUTCDay();
  const ord = local.d + 7 > dim ? -1 : Math.ceil(local.d / 7);
  return { local, rule: `BYMONTH=${local.mo};BYDAY=${ord}${DAYS[wd]}` };
}

const fmtOffset = (min: number): string => {
  const a = Math.abs(Math.round(min));
  return `${min < 0 ? "-" : "+"}${String(Math.floor(a / 60)).padStart(2, "0")}${String(a % 60).padStart(2, "0")}`;
};

function observance(tr: Transition, local: Wall, rrule: string | null): ICAL.Component {
  const c = new ICAL.Component(tr.to > tr.from ? "daylight" : "standard");
  const dt = new ICAL.Property("dtstart");
  const w = icsWall(local);
  dt.resetType("date-time");
  (dt.jCal as unknown[])[3] = `${w.slice(0, 4)}-${w.slice(4, 6)}-${w.slice(6, 8)}T${w.slice(9, 11)}:${w.slice(11, 13)}:${w.slice(13, 15)}`;
  c.addProperty(dt);
  c.addProperty(ICAL.Property.fromString(`TZOFFSETFROM:${fmtOffset(tr.from)}`));
  c.addProperty(ICAL.Property.fromString(`TZOFFSETTO:${fmtOffset(tr.to)}`));
  if (rrule) c.addProperty(ICAL.Property.fromString(`RRULE:FREQ=YEARLY;${rrule}`));
  return c;
}

/** Index where the trailing two-rule yearly pattern starts (trs.length when there is none). */
function patternStart(trs: readonly Transition[]): number {
  const n = trs.length;
  if (n < 4) return n;
  const key = (t: Transition): string => { const r = ruleOf(t); return `${r.rule}|${r.local.h}:${r.local.mi}|${t.from}|${t.to}`; };
  const year = (t: Transition): number => new Date(t.ms).getUTCFullYear();
  // Only a pattern still running in the last sampled year is a current rule.
  if (year(trs[n - 1]!) < LAST_YEAR - 1) return n;
  let i = n - 2;
  while (i - 1 >= 0 && key(trs[i - 1]!) === key(trs[i + 1]!) && year(trs[i + 1]!) - year(trs[i - 1]!) === 1) i--;
  return i <= n - 4 ? i : n;
}

/** A VTIMEZONE for an IANA zone, valid from `fromYear` on (cached per zone and year). */
export function vtimezoneFor(zone: string, fromYear: number, tzid: string = zone): ICAL.Component {
  const year = Math.max(1900, Math.min(fromYear - 1, LAST_YEAR - 1));
  const key = `${zone}|${year}`;
  const hit = cache.get(key);
  if (hit) return named(hit, tzid);
  const vtz = new ICAL.Component("vtimezone");
  vtz.addPropertyWithValue("tzid", zone);
  const start = Date.UTC(year, 0, 1);
  const base = offsetMinutes(zone, start);
  vtz.addSubcomponent(observance({ ms: start, from: base, to: base }, wallOf(start + base * 60_000), null));
  const trs = transitions(zone, year);
  const p = patternStart(trs);
  for (let i = 0; i < trs.length; i++) {
    const tr = trs[i]!;
    if (i >= p + 2) break;
    const r = ruleOf(tr);
    vtz.addSubcomponent(observance(tr, r.local, i >= p ? r.rule : null));
  }
  cache.set(key, vtz);
  return named(vtz, tzid);
}

/** A copy of a cached VTIMEZONE under the TZID the object uses. */
function named(vtz: ICAL.Component, tzid: string): ICAL.Component {
  const c = new ICAL.Component(vtz.toJSON() as unknown[]);
  c.updatePropertyWithValue("tzid", tzid);
  return c;
}
