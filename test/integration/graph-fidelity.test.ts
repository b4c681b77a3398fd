/**
 * Fidelity of the Microsoft Graph translation over the real-world corpus: every VALID file with VEVENTs
 * (test/fixtures/corpus/ics/INDEX.tsv), split into one object per UID as an importing client does, goes
 * iCalendar → icsToPlan → a simulated Graph storage (ids, iCalUId/uid of Exchange's form, series master +
 * exceptions + cancelledOccurrences, start/end rendered in UTC as read with Prefer: outlook.timezone="UTC",
 * originalStartTimeZone kept, text bodies stored as HTML, Graph's defaults filled in) → groupToIcs, and is
 * compared per component (master, each RECURRENCE-ID) and per property. Every property must survive (the test
 * fails on any loss); refused objects are counted with their reasons. The table printed at the end is the one
 * in docs/microsoft-fidelity.md.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ICAL from "ical.js";
import { CORPUS_ICS_DIR } from "../helpers/fixtures.ts";
import { groupToIcs, icsToPlan, TranslateRefused, type GraphEvent, type GraphGroup, type GraphWritePlan } from "../../src/sources/microsoft/translate.ts";
import { ianaNameFor, ianaZone, resolveTzid, wallMs, zoneForName, type Wall } from "../../src/ical/timezones.ts";
import { safeDuration } from "../../src/ical/values.ts";

const rows = readFileSync(join(CORPUS_ICS_DIR, "INDEX.tsv"), "utf8").trim().split("\n").slice(1).map((l) => l.split("\t"))
  .filter((r) => r[4] === "yes" && r[2]!.split(",").includes("VEVENT"));

// ---- the simulated Graph storage ----------------------------------------------------------------------

let seq = 0;
const digitsOf = (s: string): string => s.replace(/[^0-9]/g, "");
function wallOfRaw(raw: string): Wall {
  const d = digitsOf(raw);
  return { y: +d.slice(0, 4), mo: +d.slice(4, 6), d: +d.slice(6, 8), h: +(d.slice(8, 10) || 0), mi: +(d.slice(10, 12) || 0), s: +(d.slice(12, 14) || 0) };
}
/** Graph keeps the instant and renders it in UTC (Prefer: outlook.timezone="UTC"); all-day stays midnight-to-midnight. */
function toUtc(t: GraphEvent["start"], allDay: boolean): GraphEvent["start"] {
  if (!t) return t;
  if (allDay) return { dateTime: `${t.dateTime.slice(0, 10)}T00:00:00.0000000`, timeZone: "UTC" };
  const w = wallOfRaw(t.dateTime);
  const zone = t.timeZone === "UTC" ? null : zoneForName(t.timeZone);
  assert.ok(t.timeZone === "UTC" || zone, `Graph would refuse the zone '${t.timeZone}'`);
  const ms = zone ? zone.toUtc(w) : wallMs(w);
  return { dateTime: new Date(ms).toISOString().replace("Z", "0000"), timeZone: "UTC" };
}
const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
function stored(body: GraphEvent, extra: GraphEvent): GraphEvent {
  seq++;
  const allDay = !!body.isAllDay;
  const b = body.body?.contentType === "text" && body.body.content !== ""
    ? { contentType: "html" as const, content: `<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body>${esc(body.body.content).replace(/\r?\n/g, "<br>")}</body></html>` }
    : body.body ?? { contentType: "html" as const, content: "" };
  const hex = createHash("sha256").update(String(seq)).digest("hex").toUpperCase().slice(0, 40);
  return {
    "@odata.etag": `W/"DwAAABYAAAAk${seq}"`, createdDateTime: "2025-01-08T09:12:44.1843211Z", lastModifiedDateTime: "2025-01-08T09:14:02.5571932Z",
    iCalUId: `040000008200E00074C5B7101A82E008000000000000000000000000000000001000000${hex}`, uid: `040000008200E00074C5B7101A82E00800000000${hex}`,
    isCancelled: false, isOrganizer: true, responseRequested: true, hasAttachments: false, bodyPreview: "", onlineMeetingProvider: "unknown", isOnlineMeeting: false,
    ...body, ...extra,
    body: b,
    location: body.location ?? { displayName: "", locationType: "default", uniqueIdType: "unknown", address: {}, coordinates: {} },
    organizer: body.organizer ?? { emailAddress: { name: "Sim Mailbox", address: "sim.mailbox@example.com" } },
    originalStartTimeZone: body.start?.timeZone ?? "UTC", originalEndTimeZone: body.end?.timeZone ?? "UTC",
    start: toUtc(body.start, allDay), end: toUtc(body.end, allDay),
  };
}
function simulate(plan: GraphWritePlan): GraphGroup {
  const id = `AAMkSIM${String(seq).padStart(6, "0")}AAA=`;
  const master = stored(plan.master, {
    id, type: plan.master.recurrence ? "seriesMaster" : "singleInstance", seriesMasterId: null,
    cancelledOccurrences: plan.cancelled.map((d) => `OID.${id}.${d}`),
  });
  const exceptions = plan.exceptions.map((e, i) => stored(e.body, {
    id: `${id}EX${i}`, type: "exception", seriesMasterId: id, originalStart: e.originalStart, recurrence: null,
  }));
  return { master, exceptions };
}

// ---- meaning of a property -------------------------------------------------------------------------

interface Ctx { root: ICAL.Component; pin: string }
/** kind|zone|instant of a DATE / DATE-TIME value; unresolvable zones count as UTC (what the translation does). */
function timeKey(raw: string, tzid: string | null, c: Ctx): { key: string; ms: number } {
  const w = wallOfRaw(raw);
  if (digitsOf(raw).length === 8) return { key: `date|${wallMs(w)}`, ms: wallMs(w) };
  if (/z$/i.test(raw)) return { key: `utc|${wallMs(w)}`, ms: wallMs(w) };
  const zone = tzid ? resolveTzid(tzid, c.root) : null;
  if (zone) return { key: `zoned|${zone.toUtc(w)}`, ms: zone.toUtc(w) };
  const ms = ianaZone(c.pin)?.toUtc(w) ?? wallMs(w);
  return { key: `floating|${ms}`, ms };
}
const tzOf = (p: ICAL.Property): string | null => { const t = p.getParameter("tzid"); return typeof t === "string" && t ? t : null; };
function rawValues(p: ICAL.Property): string[] {
  return (p.jCal as unknown[]).slice(3).map((v) => (Array.isArray(v) ? `${String(v[0])}/${String(v[1])}` : String(v)));
}
const t = (k: string): string => k.replace(/^[a-z]+\|/, "t|");

/** Property name → multiset of meanings, for one VEVENT. */
function meanings(v: ICAL.Component, c: Ctx, extraExdates: string[]): Map<string, string[]> {
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
      case "EXDATE":
        for (const r of rawValues(p)) add(name, t(timeKey(r, tzOf(p), c).key));
        break;
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

/** Component key → property meanings; cancelled overrides become EXDATEs of the master (as on Graph). */
function components(text: string, pin: string): Map<string, Map<string, string[]>> {
  const root = new ICAL.Component(ICAL.parse(text) as unknown[]);
  const c = { root, pin };
  const out = new Map<string, Map<string, string[]>>();
  const vevents = root.getAllSubcomponents("vevent");
  const cancelled = (v: ICAL.Component): boolean => !!v.getFirstProperty("recurrence-id") && String(v.getFirstPropertyValue("status") ?? "").toUpperCase() === "CANCELLED";
  const rids = vevents.filter(cancelled).map((v) => { const r = v.getFirstProperty("recurrence-id")!; return t(timeKey(rawValues(r)[0]!, tzOf(r), c).key); });
  for (const v of vevents) {
    if (cancelled(v)) continue;
    const rid = v.getFirstProperty("recurrence-id");
    const key = rid ? `RID ${timeKey(rawValues(rid)[0]!, tzOf(rid), c).ms}` : "master";
    out.set(key, meanings(v, c, rid ? [] : rids));
  }
  return out;
}

/** Pin zone as the translation computes it (X-WR-TIMEZONE, else UTC). */
function pinOf(text: string): string {
  const x = /^X-WR-TIMEZONE:(.*)$/im.exec(text)?.[1]?.trim();
  const iana = x ? ianaNameFor(x) : null;
  return iana && ianaZone(iana) ? iana : "UTC";
}

/** One object per UID, each with the file's VTIMEZONEs and X-WR-TIMEZONE (what an importing client PUTs). */
function splitByUid(text: string): Map<string, string> {
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

// ---- the run ------------------------------------------------------------------------------------------

interface Tally { kept: number; lost: number; added: number }
const table = new Map<string, Tally>();
const refused: string[] = [];
const losses: string[] = [];
let objects = 0;
const tally = (name: string): Tally => { let x = table.get(name); if (!x) { x = { kept: 0, lost: 0, added: 0 }; table.set(name, x); } return x; };

function compare(file: string, uid: string, before: string, after: string): void {
  const pin = pinOf(before);
  const a = components(before, pin);
  const b = components(after, pin);
  for (const [key, props] of a) {
    const back = b.get(key);
    for (const [name, vals] of props) {
      const pool = [...(back?.get(name) ?? [])];
      for (const v of vals) {
        const i = pool.indexOf(v);
        if (i >= 0) { pool.splice(i, 1); tally(name).kept++; } else {
          tally(name).lost++;
          losses.push(`${file} ${uid} [${key}] ${name}: ${v.slice(0, 160)}  (back: ${(back?.get(name) ?? []).join(" ; ").slice(0, 160) || "-"})`);
        }
      }
    }
    for (const [name, vals] of back ?? []) if (!props.has(name)) tally(name).added += vals.length;
  }
  for (const key of b.keys()) if (!a.has(key)) losses.push(`${file} ${uid}: component ${key} appeared`);
}

for (const row of rows) {
  const file = row[0]!;
  test(`graph fidelity: ${file}`, () => {
    const text = readFileSync(join(CORPUS_ICS_DIR, file), "utf8");
    for (const [uid, obj] of splitByUid(text)) {
      objects++;
      let plan: GraphWritePlan;
      try {
        plan = icsToPlan(obj);
      } catch (e) {
        if (e instanceof TranslateRefused) { refused.push(`${file} ${uid}: ${e.message}`); continue; }
        throw e;
      }
      const back = groupToIcs(simulate(plan));
      const again = icsToPlan(back);
      assert.equal(again.uid, plan.uid, "the result parses again, same UID");
      assert.deepEqual(again.cancelled, plan.cancelled, "cancelled occurrences are stable");
      const noZone = (r: unknown): unknown => (plan.master.isAllDay && r ? { ...(r as object), range: { ...(r as { range: object }).range, recurrenceTimeZone: "-" } } : r ?? null);
      assert.deepEqual(noZone(again.master.recurrence), noZone(plan.master.recurrence), "recurrence is stable (all-day: but for its zone)");
      compare(file, uid, obj, back);
    }
  });
}

test("graph fidelity: every property survives; table", () => {
  const names = [...table.keys()].sort();
  const lines = ["| property | kept | lost | added by Graph/translation |", "|---|---:|---:|---:|"];
  for (const n of names) { const x = table.get(n)!; lines.push(`| ${n} | ${x.kept} | ${x.lost} | ${x.added} |`); }
  const head = `Graph fidelity over ${rows.length} files, ${objects} objects (${refused.length} refused)`;
  const refusedList = refused.map((r) => `- ${r}`).join("\n") || "(none)";
  console.log(`\n${head}\n${lines.join("\n")}\n\nRefused:\n${refusedList}`);
  if (process.env.GRAPH_FIDELITY_WRITE === "1") {
    // GRAPH_FIDELITY_WRITE=1 node --import tsx --test test/integration/graph-fidelity.test.ts: refresh the doc's table.
    const doc = join(import.meta.dirname, "../../docs/microsoft-fidelity.md");
    const text = readFileSync(doc, "utf8");
    const block = `<!-- fidelity:begin -->\nMeasured ${new Date().toISOString().slice(0, 10)} with \`GRAPH_FIDELITY_WRITE=1 node --import tsx --test test/integration/graph-fidelity.test.ts\`.\n${head}.\n\n${lines.join("\n")}\n\nRefused objects and why:\n\n${refusedList}\n<!-- fidelity:end -->`;
    writeFileSync(doc, text.replace(/<!-- fidelity:begin -->[\s\S]*<!-- fidelity:end -->/, block));
  }
  if (losses.length) console.log(`\nLost:\n${losses.join("\n")}`);
  assert.deepEqual(losses, [], "no property may be lost");
});
