/**
 * What an iCalendar object "means", per component (master, each RECURRENCE-ID) and per property, and a
 * tally that compares an original with what came back from a storage (the Google fidelity tests:
 * test/integration/google-fidelity.test.ts through a simulated storage, google-corpus-emulator.test.ts
 * through the adapter and the emulator). Rows whose name is in parentheses are expected, documented
 * losses: counted and listed apart, never failed.
 *
 * Rules "graph" (microsoft-corpus-emulator.test.ts) compare as graph-fidelity.test.ts does: a TZID is
 * resolved through the object's VTIMEZONE first (`zoned|instant`, no zone name, no spelling rows), floating
 * times are pinned to X-WR-TIMEZONE else the Fidelity's zone (give "UTC": the adapter passes no floating
 * zone), EXDATEs compare by instant, other properties (ATTENDEE, SEQUENCE, VALARM…) by their full jCal,
 * no default SEQUENCE/DTEND is assumed, and a cancelled override always becomes an EXDATE.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ICAL from "ical.js";
import { CORPUS_ICS_DIR } from "./fixtures.ts";
import { ianaNameFor, ianaZone, resolveTzid, wallMs, type Wall } from "../../src/ical/timezones.ts";
import { safeDuration } from "../../src/ical/values.ts";

/** INDEX.tsv rows of the valid corpus files that hold VEVENTs (path first). */
export function veventCorpusRows(): string[][] {
  return readFileSync(join(CORPUS_ICS_DIR, "INDEX.tsv"), "utf8").trim().split("\n").slice(1).map((l) => l.split("\t"))
    .filter((r) => r[4] === "yes" && r[2]!.split(",").includes("VEVENT"));
}

/** Which comparison: google-fidelity.test.ts's (default) or graph-fidelity.test.ts's. */
export type Rules = "google" | "graph";
interface Ctx { root: ICAL.Component; pin: string; rules?: Rules }
const digits = (s: string): string => s.replace(/[^0-9]/g, "");
function wallOfRaw(raw: string): Wall {
  const d = digits(raw);
  return { y: +d.slice(0, 4), mo: +d.slice(4, 6), d: +d.slice(6, 8), h: +(d.slice(8, 10) || 0), mi: +(d.slice(10, 12) || 0), s: +(d.slice(12, 14) || 0) };
}
/** kind|zone|instant of a DATE / DATE-TIME value; unresolvable zones count as UTC (what the translation does). */
function timeKey(raw: string, tzid: string | null, c: Ctx): { key: string; ms: number } {
  const w = wallOfRaw(raw);
  if (digits(raw).length === 8) return { key: `date|${wallMs(w)}`, ms: wallMs(w) };
  if (/z$/i.test(raw)) return { key: `utc|${wallMs(w)}`, ms: wallMs(w) };
  if (c.rules === "graph") {
    const z = tzid ? resolveTzid(tzid, c.root) : null;
    if (z) return { key: `zoned|${z.toUtc(w)}`, ms: z.toUtc(w) };
    const ms = ianaZone(c.pin)?.toUtc(w) ?? wallMs(w);
    return { key: `floating|${ms}`, ms };
  }
  // As the translation: an IANA name is read by name (as Google does), other TZIDs through their VTIMEZONE.
  const zone = tzid ? (ianaZone(tzid) ?? resolveTzid(tzid, c.root)) : null;
  if (zone) {
    const iana = ianaNameFor(tzid!);
    const name = iana && iana !== "UTC" && ianaZone(iana) ? iana : "utc";
    const ms = zone.toUtc(w);
    return { key: `${name === "utc" ? "utc" : `zoned:${name}`}|${ms}`, ms };
  }
  const ms = ianaZone(c.pin)?.toUtc(w) ?? wallMs(w);
  return { key: `floating|${ms}`, ms };
}
const tzOf = (p: ICAL.Property): string | null => { const t = p.getParameter("tzid"); return typeof t === "string" && t ? t : null; };
function rawValues(p: ICAL.Property): string[] {
  return (p.jCal as unknown[]).slice(3).map((v) => (Array.isArray(v) ? `${String(v[0])}/${String(v[1])}` : String(v)));
}
function params(p: ICAL.Property): string {
  return JSON.stringify(Object.entries((p.jCal as unknown[])[1] as object).filter(([k]) => k !== "tzid" && k !== "value").sort());
}

/** Property name → multiset of meanings, for one VEVENT. */
function meanings(v: ICAL.Component, c: Ctx, extraExdates: string[]): Map<string, string[]> {
  if (c.rules === "graph") return graphMeanings(v, c, extraExdates);
  const out = new Map<string, string[]>();
  const add = (name: string, m: string): void => { out.set(name, [...(out.get(name) ?? []), m]); };
  // The client's TZID string (a Windows name, say) is echoed back; one naming no known zone becomes UTC (reported apart).
  const spelling = (name: string, p: ICAL.Property): void => {
    const tz = tzOf(p);
    if (tz) add(ianaNameFor(tz) ? "TZID (spelling)" : "(TZID without IANA zone, sent as UTC)", `${name}|${tz}`);
    const own = tz && ianaZone(tz) ? resolveTzid(tz, c.root) : null;
    const w = wallOfRaw(rawValues(p)[0]!);
    if (own && digits(rawValues(p)[0]!).length === 14 && own.toUtc(w) !== ianaZone(tz!)!.toUtc(w)) {
      add("(IANA TZID whose own VTIMEZONE disagrees with tzdata: read by name)", `${name}|${tz}|${own.toUtc(w)}`);
    }
  };
  const start = v.getFirstProperty("dtstart");
  const st = start ? timeKey(rawValues(start)[0]!, tzOf(start), c) : null;
  for (const p of v.getAllProperties()) {
    const name = p.name.toUpperCase();
    switch (name) {
      case "DTSTAMP": case "LAST-MODIFIED": add(name, "present"); break;
      case "DTSTART": case "RECURRENCE-ID": add(name, `${timeKey(rawValues(p)[0]!, tzOf(p), c).key}${params(p)}`); spelling(name, p); break;
      case "DTEND": add(name, timeKey(rawValues(p)[0]!, tzOf(p), c).key.replace(/^[^|]*\|/, "end|")); spelling(name, p); break;
      case "DURATION": { const d = safeDuration(rawValues(p)[0]!); add(name, `${st && d ? st.ms + (d.days * 86400 + d.secs) * 1000 : "?"}`); break; }
      case "EXDATE": case "RDATE":
        for (const r of rawValues(p)) { const [a, b] = r.split("/"); add(name, `${timeKey(a!, tzOf(p), c).key.replace(/^(zoned:[^|]*|floating)\|/, "t|").replace(/^utc\|/, "t|")}${b ? `/${/^[+-]?P/.test(b) ? b : timeKey(b, tzOf(p), c).ms}` : ""}`); }
        break;
      case "RRULE": case "EXRULE": {
        const parts = String(p.toICALString().split(":").slice(1).join(":")).split(";").map((x) => {
          const m = /^UNTIL=(.*)$/i.exec(x);
          return m ? `UNTIL=${timeKey(m[1]!, tzOf(start!), c).ms}` : x.toUpperCase();
        });
        add(name, parts.sort().join(";"));
        break;
      }
      case "SEQUENCE": add(name, String(Number(p.getFirstValue()) || 0)); break;
      case "ATTENDEE": case "ORGANIZER": add(name, `${String(p.getFirstValue()).toLowerCase()}|${params(p)}`); break;
      default: add(name, JSON.stringify(p.toJSON()));
    }
  }
  for (const x of extraExdates) add("EXDATE", x);
  if (!v.getFirstProperty("sequence")) add("SEQUENCE", "0");
  if (!v.getFirstProperty("dtend") && !v.getFirstProperty("duration") && st) add("DTEND", "(default end)");
  // Property order inside an alarm carries no meaning.
  for (const a of v.getAllSubcomponents("valarm")) add("VALARM", JSON.stringify(a.getAllProperties().map((p) => JSON.stringify(p.toJSON())).sort()));
  return out;
}

/** graph-fidelity.test.ts's meanings of one VEVENT's properties. */
function graphMeanings(v: ICAL.Component, c: Ctx, extraExdates: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (name: string, m: string): void => { out.set(name, [...(out.get(name) ?? []), m]); };
  const start = v.getFirstProperty("dtstart");
  const st = start ? timeKey(rawValues(start)[0]!, tzOf(start), c) : null;
  for (const p of v.getAllProperties()) {
    const name = p.name.toUpperCase();
    switch (name) {
      case "DTSTAMP": case "LAST-MODIFIED": add(name, "present"); break;
      case "DTSTART": case "RECURRENCE-ID": add(name, timeKey(rawValues(p)[0]!, tzOf(p), c).key); break;
      case "DTEND": add(name, timeKey(rawValues(p)[0]!, tzOf(p), c).key.replace(/^[^|]*\|/, "end|")); break;
      case "DURATION": { const d = safeDuration(rawValues(p)[0]!); add(name, `${st && d ? st.ms + (d.days * 86400 + d.secs) * 1000 : "?"}`); break; }
      case "EXDATE": for (const r of rawValues(p)) add(name, timeKey(r, tzOf(p), c).key.replace(/^[a-z]+\|/, "t|")); break;
      case "RRULE": {
        const parts = String(p.toICALString().split(":").slice(1).join(":")).split(";").map((x) => {
          const m = /^UNTIL=(.*)$/i.exec(x);
          return m ? `UNTIL=${timeKey(m[1]!, tzOf(start!), c).ms}` : x.toUpperCase();
        });
        add(name, parts.sort().join(";"));
        break;
      }
      default: add(name, JSON.stringify(p.toJSON()));
    }
  }
  for (const x of extraExdates) add("EXDATE", x);
  for (const a of v.getAllSubcomponents("valarm")) add("VALARM", JSON.stringify(a.toJSON()));
  return out;
}

/** Component key → property meanings; cancelled overrides become EXDATEs of the master (as for Google and Graph). */
export function components(text: string, pin: string, rules: Rules = "google"): Map<string, Map<string, string[]>> {
  const root = new ICAL.Component(ICAL.parse(text) as unknown[]);
  const c = { root, pin, rules };
  const out = new Map<string, Map<string, string[]>>();
  const vevents = root.getAllSubcomponents("vevent");
  const hasMaster = rules === "graph" || vevents.some((v) => !v.getFirstProperty("recurrence-id"));
  const cancelledRids: string[] = [];
  for (const v of vevents) {
    const rid = v.getFirstProperty("recurrence-id");
    if (rid && hasMaster && String(v.getFirstPropertyValue("status") ?? "").toUpperCase() === "CANCELLED") {
      cancelledRids.push(timeKey(rawValues(rid)[0]!, tzOf(rid), c).key.replace(rules === "graph" ? /^[a-z]+\|/ : /^(zoned:[^|]*|floating|utc)\|/, "t|"));
    }
  }
  for (const v of vevents) {
    const rid = v.getFirstProperty("recurrence-id");
    if (rid && hasMaster && String(v.getFirstPropertyValue("status") ?? "").toUpperCase() === "CANCELLED") continue;
    const key = rid ? `RID ${timeKey(rawValues(rid)[0]!, tzOf(rid), c).ms}` : "master";
    out.set(key, meanings(v, c, rid ? [] : cancelledRids));
  }
  return out;
}

/** Pin zone as the translation computes it (X-WR-TIMEZONE, else the calendar's). */
export function pinOf(text: string, calZone: string): string {
  const x = /^X-WR-TIMEZONE:(.*)$/im.exec(text)?.[1]?.trim();
  const iana = x ? ianaNameFor(x) : null;
  return iana && ianaZone(iana) ? iana : calZone;
}

/** One object per UID, each with the file's VTIMEZONEs and X-WR-TIMEZONE (what an importing client PUTs). */
export function splitByUid(text: string): Map<string, string> {
  const root = new ICAL.Component(ICAL.parse(text) as unknown[]);
  const zones = root.getAllSubcomponents("vtimezone");
  const groups = new Map<string, ICAL.Component[]>();
  for (const c of root.getAllSubcomponents()) {
    if (c.name === "vtimezone") continue;
    const uid = String(c.getFirstPropertyValue("uid") ?? "");
    groups.set(uid, [...(groups.get(uid) ?? []), c]);
  }
  const out = new Map<string, string>();
  for (const [uid, comps] of groups) {
    const cal = new ICAL.Component("vcalendar");
    cal.addPropertyWithValue("version", "2.0");
    cal.addPropertyWithValue("prodid", String(root.getFirstPropertyValue("prodid") ?? "-//calgate corpus split//EN"));
    const xwr = root.getFirstProperty("x-wr-timezone");
    if (xwr) cal.addProperty(ICAL.Property.fromString(xwr.toICALString()));
    for (const z of zones) cal.addSubcomponent(new ICAL.Component(z.toJSON() as unknown[]));
    for (const c of comps) cal.addSubcomponent(new ICAL.Component(c.toJSON() as unknown[]));
    out.set(uid, cal.toString() + "\r\n");
  }
  return out;
}


export interface Tally { kept: number; lost: number; added: number }

/** Per-property tally of originals against what came back (the calendar's zone pins floating times). */
export class Fidelity {
  readonly table = new Map<string, Tally>();
  /** Unexpected losses (a test fails on any). */
  readonly losses: string[] = [];
  /** Expected, documented losses (rows in parentheses). */
  readonly expected: string[] = [];
  constructor(readonly calZone: string, readonly rules: Rules = "google") {}

  private tally(name: string): Tally {
    let t = this.table.get(name);
    if (!t) { t = { kept: 0, lost: 0, added: 0 }; this.table.set(name, t); }
    return t;
  }

  compare(file: string, uid: string, before: string, after: string): void {
    const pin = pinOf(before, this.calZone);
    const a = components(before, pin, this.rules);
    const b = components(after, pin, this.rules);
    for (const [key, props] of a) {
      const back = b.get(key);
      for (const [name, vals] of props) {
        const pool = [...(back?.get(name) ?? [])];
        for (const v of vals) {
          const i = pool.indexOf(v);
          if (i >= 0) { pool.splice(i, 1); this.tally(name).kept++; } else {
            this.tally(name).lost++;
            // Rows in parentheses are expected, documented losses: counted and listed, not failed.
            (name.startsWith("(") ? this.expected : this.losses).push(`${file} ${uid} [${key}] ${name}: ${v.slice(0, 160)}  (back: ${(back?.get(name) ?? []).join(" ; ").slice(0, 160) || "-"})`);
          }
        }
      }
      for (const [name, vals] of back ?? []) if (!props.has(name)) this.tally(name).added += vals.length;
    }
    for (const key of b.keys()) if (!a.has(key)) this.losses.push(`${file} ${uid}: component ${key} appeared`);
  }

  /** Totals over every property: kept, lost (unexpected), expected (documented) losses. */
  totals(): { kept: number; lost: number; expected: number } {
    let kept = 0, lost = 0, expected = 0;
    for (const [name, t] of this.table) { kept += t.kept; if (name.startsWith("(")) expected += t.lost; else lost += t.lost; }
    return { kept, lost, expected };
  }

  /** The per-property Markdown table (docs/google-fidelity.md). */
  propertyTable(): string[] {
    const lines = [`| property | kept | lost | added by ${this.rules === "graph" ? "Graph" : "Google"}/translation |`, "|---|---:|---:|---:|"];
    for (const n of [...this.table.keys()].sort()) { const t = this.table.get(n)!; lines.push(`| ${n} | ${t.kept} | ${t.lost} | ${t.added} |`); }
    return lines;
  }
}
