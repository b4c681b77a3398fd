/**
 * fast-check generators shared by the fuzz tests: XML request bodies (well-formed trees in the DAV
 * and CalDAV vocabulary, then optionally mutated) and iCalendar objects (structured, with recurrence
 * rules, time zones, overrides and odd parameters, then optionally mutated), plus byte-level
 * mutations of the real-world corpus. Case counts: FUZZ_RUNS (default: CI size).
 */
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CORPUS_ICS_DIR } from "../helpers/fixtures.ts";

/** Cases per property: FUZZ_RUNS, else a CI-sized default. */
export const RUNS = Number(process.env.FUZZ_RUNS ?? "0") || 0;
export function runs(ciDefault: number, share = 1): number {
  return RUNS > 0 ? Math.max(1, Math.round(RUNS * share)) : ciDefault;
}
/** FUZZ_SEED reproduces a run; otherwise fast-check picks one and prints it on failure. */
export const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;

// --- XML -------------------------------------------------------------------------------------

const NS = ["DAV:", "urn:ietf:params:xml:ns:caldav", "http://calendarserver.org/ns/", "http://apple.com/ns/ical/", "urn:x-fuzz", ""];
const LOCAL = [
  "propfind", "prop", "allprop", "propname", "include", "getetag", "displayname", "resourcetype", "sync-token", "sync-level", "sync-collection",
  "calendar-query", "calendar-multiget", "free-busy-query", "filter", "comp-filter", "prop-filter", "param-filter", "text-match", "time-range",
  "calendar-data", "expand", "limit-recurrence-set", "href", "propertyupdate", "set", "remove", "mkcalendar", "mkcol", "calendar-timezone",
  "supported-calendar-component-set", "comp", "is-not-defined", "getctag", "calendar-color", "limit", "nresults", "current-user-principal",
];

const xmlText = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom("&amp;", "&lt;", "&#13;", "&#x10FFFF;", "&#0;", "&#xD800;", "&bogus;", "&", "]]>", "VEVENT", "20240101T000000Z", "2024", " padded ", "\r\n", "\u0000", "\uFFFE"),
);
const attrName = fc.constantFrom("name", "start", "end", "collation", "negate-condition", "test", "content-type", "version", "xml:lang", "x:y", "novalue");
const attrValue = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom("VEVENT", "VCALENDAR", "20240101T000000Z", "i;octet", "yes", "anyof", '"', "&amp;", "&#38;", "<"));

interface XNode {
  declare: boolean;
  prefix: number;
  local: string;
  attrs: [string, string][];
  children: (XNode | { text: string } | { cdata: string } | { comment: string })[];
}
const { tree } = fc.letrec<{ tree: XNode; child: XNode["children"][number] }>((tie) => ({
  tree: fc.record({
    declare: fc.boolean(),
    prefix: fc.nat({ max: NS.length }),
    local: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...LOCAL) }, { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z_][\w.-]{0,10}$/) }),
    attrs: fc.array(fc.tuple(attrName, attrValue), { maxLength: 3 }),
    children: fc.array(tie("child"), { maxLength: 4, depthIdentifier: "xml" }),
  }),
  child: fc.oneof(
    { maxDepth: 6, depthIdentifier: "xml", withCrossShrink: true },
    // At the depth limit oneof takes the first option: a leaf.
    fc.record({ text: xmlText }),
    tie("tree"),
    fc.record({ cdata: fc.string({ maxLength: 12 }) }),
    fc.record({ comment: fc.string({ maxLength: 8 }) }),
  ),
}));

const escapeAttr = (s: string): string => s.replace(/&(?![#\w]+;)/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;");
const escapeText = (s: string): string => s.replace(/&(?![#\w]+;)/g, "&amp;").replace(/</g, "&lt;");

function render(n: XNode, declare: boolean): string {
  const pfx = n.prefix === NS.length ? "undeclared" : `p${n.prefix}`;
  const decl = declare && n.prefix < NS.length ? ` xmlns:${pfx}="${NS[n.prefix]}"` : "";
  const attrs = n.attrs.map(([k, v]) => (k === "novalue" ? " novalue" : ` ${k}="${escapeAttr(v)}"`)).join("");
  const kids = n.children
    .map((c) => ("text" in c ? escapeText(c.text) : "cdata" in c ? `<![CDATA[${c.cdata.replace(/]]>/g, "")}]]>` : "comment" in c ? `<!--${c.comment.replace(/--/g, "")}-->` : render(c, c.declare)))
    .join("");
  return `<${pfx}:${n.local}${decl}${attrs}${kids === "" ? "/>" : `>${kids}</${pfx}:${n.local}>`}`;
}

/** One byte-level edit of a string (insert, delete, replace, duplicate a slice, truncate). */
export const mutation = fc.tuple(fc.nat({ max: 4 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.string({ maxLength: 6 }));
export function mutate(s: string, edits: [number, number, number, string][]): string {
  let out = s;
  for (const [kind, a, b, ins] of edits) {
    const i = Math.floor(a * out.length);
    const j = Math.min(out.length, i + Math.floor(b * 40));
    if (kind === 0) out = out.slice(0, i) + ins + out.slice(i);
    else if (kind === 1) out = out.slice(0, i) + out.slice(j);
    else if (kind === 2) out = out.slice(0, i) + ins + out.slice(j);
    else if (kind === 3) out = out.slice(0, j) + out.slice(i, j) + out.slice(j);
    else out = out.slice(0, Math.max(i, 1));
  }
  return out;
}

/** XML bodies: well-formed generated trees (with a prolog or not), half of them mutated afterwards. */
export const xmlBody = fc
  .tuple(tree, fc.boolean(), fc.option(fc.array(mutation, { minLength: 1, maxLength: 3 }), { freq: 2 }))
  .map(([t, prolog, edits]) => {
    const s = (prolog ? '<?xml version="1.0" encoding="UTF-8"?>' : "") + render(t, true);
    return edits ? mutate(s, edits) : s;
  });

/** Bodies that must always be refused, whatever wraps them. */
export const HOSTILE_XML: [string, string][] = [
  ["billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol4;</D:displayname></D:prop></D:propfind>`],
  ["external entity (file)", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&xxe;</D:displayname></D:prop></D:propfind>`],
  ["external entity (http)", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/steal">]><D:propfind xmlns:D="DAV:"><D:prop>&xxe;</D:prop></D:propfind>`],
  ["parameter entity", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]><D:propfind xmlns:D="DAV:"/>`],
  ["external DTD", `<?xml version="1.0"?><!DOCTYPE D:propfind SYSTEM "http://127.0.0.1:9/x.dtd"><D:propfind xmlns:D="DAV:"/>`],
  ["lowercase doctype", `<!doctype x><D:propfind xmlns:D="DAV:"/>`],
  ["entity without doctype", `<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol;</D:displayname></D:prop></D:propfind>`],
  ["quadratic blowup (declared)", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "${"x".repeat(50_000)}">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>${"&a;".repeat(1000)}</D:displayname></D:prop></D:propfind>`],
  ["deep nesting 100k", `<D:propfind xmlns:D="DAV:">${"<D:prop>".repeat(100_000)}${"</D:prop>".repeat(100_000)}</D:propfind>`],
  ["deep nesting unclosed", `<D:propfind xmlns:D="DAV:">${"<D:prop>".repeat(100_000)}`],
  ["deep nesting 1000", `<D:propfind xmlns:D="DAV:">${"<D:prop>".repeat(1000)}${"</D:prop>".repeat(1000)}</D:propfind>`],
];

// --- iCalendar -----------------------------------------------------------------------------------

const dateTime = fc.oneof(
  fc.date({ min: new Date("1900-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }).map((d) => d.toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "")),
  fc.date({ min: new Date("1900-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }).map((d) => d.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z/, "")),
  fc.date({ min: new Date("1900-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10).replace(/-/g, "")),
  fc.constantFrom("20240229T120000Z", "20241027T023000", "20240331T023000", "00000000T000000Z", "99991231T235959Z", "2024", "", "20241301T000000Z", "20240101T250000Z", "garbage"),
);
const tzParam = fc.constantFrom("", ";TZID=Europe/Berlin", ";TZID=America/New_York", ";TZID=W. Europe Standard Time", ";TZID=Custom/Zone", ";TZID=\"quoted;tz\"", ";VALUE=DATE", ";VALUE=PERIOD", ";TZID=");
const freq = fc.constantFrom("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY", "FORTNIGHTLY", "");
const byDay = fc.constantFrom("MO", "TU,TH", "1MO", "-1FR", "53SU", "+2WE,-3SA", "XX", "0MO");
const rrule = fc
  .record(
    {
      FREQ: freq,
      INTERVAL: fc.constantFrom("1", "2", "7", "0", "-1", "1000000", "x"),
      COUNT: fc.constantFrom("1", "10", "5000", "100000", "2147483648", "0", "-5"),
      UNTIL: dateTime,
      BYDAY: byDay,
      BYMONTHDAY: fc.constantFrom("1", "31", "-1", "0", "32", "1,15,-1"),
      BYMONTH: fc.constantFrom("1", "2", "12", "13", "0"),
      BYSETPOS: fc.constantFrom("1", "-1", "366", "0"),
      BYHOUR: fc.constantFrom("0", "23", "24", "9,17"),
      BYMINUTE: fc.constantFrom("0", "59", "60"),
      BYSECOND: fc.constantFrom("0", "60", "61"),
      BYYEARDAY: fc.constantFrom("1", "366", "-366", "367"),
      BYWEEKNO: fc.constantFrom("1", "53", "-1", "54"),
      WKST: fc.constantFrom("MO", "SU", "XX"),
    },
    { requiredKeys: ["FREQ"] },
  )
  .map((r) => Object.entries(r).map(([k, v]) => `${k}=${v}`).join(";"));

const xValue = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: "grapheme", maxLength: 30 }), fc.constantFrom("a\\nb\\,c\\;d", "\\", "x".repeat(2000), "é€😀", "=?utf-8?q?x?="));
const extraProp = fc.oneof(
  fc.tuple(fc.constantFrom("SUMMARY", "DESCRIPTION", "LOCATION", "X-FUZZ", "X-WR-TIMEZONE", "CATEGORIES", "COMMENT", "ATTENDEE;CN=\"A, B\"", "ORGANIZER;CN=x:mailto", "GEO", "PRIORITY", "SEQUENCE", "STATUS", "TRANSP", "CLASS"), xValue).map(([k, v]) => `${k}:${v}`),
  fc.tuple(fc.constantFrom("EXDATE", "RDATE"), tzParam, fc.array(dateTime, { minLength: 1, maxLength: 3 })).map(([k, p, v]) => `${k}${p}:${v.join(",")}`),
  fc.tuple(fc.constantFrom("DTEND", "DUE", "DURATION"), tzParam, fc.oneof(dateTime, fc.constantFrom("PT1H", "P1D", "-PT1H", "P0D", "PT", "P1W2D", "P99999999D"))).map(([k, p, v]) => `${k}${p}:${v}`),
  rrule.map((r) => `RRULE:${r}`),
  fc.constant("BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nEND:VALARM"),
);

/** One iCalendar object: a master component and overrides with random properties; some mutated. */
export const icsObject = fc
  .record({
    comp: fc.constantFrom("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VEVENT", "VEVENT"),
    uid: fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[\r\n]/.test(s))),
    dtstartParam: tzParam,
    dtstart: dateTime,
    props: fc.array(extraProp, { maxLength: 6 }),
    overrides: fc.array(fc.tuple(tzParam, dateTime, dateTime, fc.array(extraProp, { maxLength: 2 })), { maxLength: 2 }),
    vtimezone: fc.boolean(),
    fold: fc.boolean(),
    lf: fc.boolean(),
    edits: fc.option(fc.array(mutation, { minLength: 1, maxLength: 3 }), { freq: 3 }),
  })
  .map((o) => {
    const lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate fuzz//EN"];
    if (o.vtimezone)
      lines.push("BEGIN:VTIMEZONE", "TZID:Custom/Zone", "BEGIN:STANDARD", "DTSTART:19701025T030000", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "END:STANDARD", "END:VTIMEZONE");
    lines.push(`BEGIN:${o.comp}`, `UID:${o.uid}`, "DTSTAMP:20240101T000000Z", `DTSTART${o.dtstartParam}:${o.dtstart}`, ...o.props, `END:${o.comp}`);
    for (const [p, rid, start, props] of o.overrides)
      lines.push(`BEGIN:${o.comp}`, `UID:${o.uid}`, "DTSTAMP:20240101T000000Z", `RECURRENCE-ID${p}:${rid}`, `DTSTART${p}:${start}`, ...props, `END:${o.comp}`);
    lines.push("END:VCALENDAR", "");
    let text = lines.join("\r\n");
    if (o.fold) text = text.replace(/([^\r\n]{40})(?=[^\r\n])/g, "$1\r\n ");
    if (o.lf) text = text.replace(/\r\n/g, "\n");
    return o.edits ? mutate(text, o.edits) : text;
  });

// --- the corpus ----------------------------------------------------------------------------------

/** Every corpus file (valid and malformed), as bytes. */
export function corpusFiles(): { path: string; bytes: Buffer }[] {
  const rows = readFileSync(join(CORPUS_ICS_DIR, "INDEX.tsv"), "utf8").trim().split("\n").slice(1);
  return rows.map((l) => l.split("\t")[0]!).filter(Boolean).map((p) => ({ path: p, bytes: readFileSync(join(CORPUS_ICS_DIR, p)) }));
}
