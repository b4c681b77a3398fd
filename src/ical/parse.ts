/**
 * Calendar object resources (RFC 4791 4.1): one cheap line scan (line numbers, structure, explicit
 * normalisations) followed by exactly one ical.js parse. The stored text is the input byte-for-byte
 * unless a normalisation listed in NORMALISATION.md had to be applied (then `changed` is true).
 */
import { createHash } from "node:crypto";
import ICAL from "ical.js";
import { ianaNameFor, usableVtimezone } from "./timezones.ts";
import { IcalError, type IcalErrorReason } from "./errors.ts";

export { IcalError };

export type MainComponent = "VEVENT" | "VTODO" | "VJOURNAL" | "VFREEBUSY";
const MAIN = new Set<string>(["VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"]);

export interface CalendarObject {
  readonly text: string;
  readonly changed: boolean;
  readonly uid: string;
  readonly component: MainComponent;
  readonly root: ICAL.Component;
  readonly notes: readonly string[];
}

export interface ParseOptions {
  readonly maxBytes?: number;
}

/** Decodes request bytes: UTF-8 (BOM stripped by the parser), else Windows-1252/Latin-1 as sabre/dav does. */
export function decodeCalendarBytes(bytes: Uint8Array): { text: string; transcoded: boolean } {
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes), transcoded: false };
  } catch {
    return { text: new TextDecoder("windows-1252").decode(bytes), transcoded: true };
  }
}

const DATE_RE = /^\d{8}$/;
const DATE_TIME_RE = /^\d{8}T\d{6}Z?$/;
const DURATION_RE = /^[+-]?P(?:\d+W|(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?)$/;
/** Properties whose values the server computes with: a bad value here is a rejection, with the line number. */
const TIME_PROPS = new Set(["DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "EXDATE", "RDATE"]);
/** Informational time stamps: a bad value is tolerated (kept, noted) because nothing is computed from it. */
const STAMP_PROPS = new Set(["DTSTAMP", "CREATED", "LAST-MODIFIED", "COMPLETED"]);

interface Line {
  /** 1-based line number in the input. */
  readonly no: number;
  /** Unfolded content. */
  readonly content: string;
}

/** Splits "NAME;P=1;Q="a:b":value" into upper-case name, params (upper-case keys) and value. */
export function splitContentLine(content: string): { name: string; params: Map<string, string>; value: string } | null {
  let i = 0;
  const n = content.length;
  while (i < n && content[i] !== ";" && content[i] !== ":") i++;
  if (i >= n) return null;
  const name = content.slice(0, i).toUpperCase();
  const params = new Map<string, string>();
  while (i < n && content[i] === ";") {
    i++;
    const eq = content.indexOf("=", i);
    if (eq < 0) return null;
    const pname = content.slice(i, eq).toUpperCase();
    if (pname === "" || pname.includes(";") || pname.includes(":")) return null;
    i = eq + 1;
    let val = "";
    for (;;) {
      if (content[i] === '"') {
        const close = content.indexOf('"', i + 1);
        if (close < 0) return null;
        val += content.slice(i + 1, close);
        i = close + 1;
      } else {
        let j = i;
        while (j < n && content[j] !== ";" && content[j] !== ":" && content[j] !== ",") j += content[j] === "\\" ? 2 : 1;
        if (j > n) j = n;
        val += content.slice(i, j);
        i = j;
      }
      if (content[i] === ",") {
        val += ",";
        i++;
        continue;
      }
      break;
    }
    params.set(pname, val);
  }
  if (content[i] !== ":") return null;
  return { name, params, value: content.slice(i + 1) };
}

function checkTimeValue(name: string, params: Map<string, string>, value: string): string | null {
  const type = (params.get("VALUE") ?? "").toUpperCase();
  for (const item of value.split(",")) {
    if (type === "PERIOD" || (name === "RDATE" && item.includes("/"))) {
      const [a, b] = item.split("/");
      if (a === undefined || b === undefined || !DATE_TIME_RE.test(a) || !(DATE_TIME_RE.test(b) || DURATION_RE.test(b))) {
        return `${name} value '${item}' is not a PERIOD (expected start/end or start/duration, e.g. 20240101T100000Z/PT1H)`;
      }
    } else if (type === "DATE") {
      if (!DATE_RE.test(item)) return `${name} value '${item}' is not a DATE (expected YYYYMMDD)`;
    } else if (!DATE_TIME_RE.test(item) && !(type === "" && DATE_RE.test(item))) {
      return `${name} value '${item}' is not a DATE-TIME (expected YYYYMMDDTHHMMSS with optional Z${type === "" ? ", or a DATE YYYYMMDD" : ""})`;
    }
  }
  return null;
}

function fail(message: string, reason: IcalErrorReason = "invalid-calendar-data"): never {
  throw new IcalError(message, reason);
}

export function parseCalendarObject(input: string, opts: ParseOptions = {}): CalendarObject {
  if (opts.maxBytes !== undefined && Buffer.byteLength(input, "utf8") > opts.maxBytes) {
    fail(`calendar object is larger than the maximum of ${opts.maxBytes} bytes`, "too-large");
  }
  const notes: string[] = [];
  let changed = false;
  let text = input;
  if (text.charCodeAt(0) === 0xfeff) {
    text = text.slice(1);
    changed = true;
    notes.push("removed a leading UTF-8 byte-order mark");
  }

  // Physical lines, their line endings and numbers.
  const physical: string[] = [];
  let badEol = 0;
  let pos = 0;
  const len = text.length;
  while (pos < len) {
    const nl = text.indexOf("\n", pos);
    const cr = text.indexOf("\r", pos);
    if (nl < 0 && cr < 0) {
      physical.push(text.slice(pos));
      pos = len;
      break;
    }
    if (cr >= 0 && (nl < 0 || cr < nl)) {
      physical.push(text.slice(pos, cr));
      if (text.charCodeAt(cr + 1) === 10) pos = cr + 2;
      else {
        badEol++;
        pos = cr + 1;
      }
    } else {
      physical.push(text.slice(pos, nl));
      badEol++;
      pos = nl + 1;
    }
  }
  const endsWithEol = len > 0 && (text.endsWith("\n") || text.endsWith("\r"));
  if (badEol > 0) {
    changed = true;
    notes.push(`converted ${badEol} bare LF/CR line ending(s) to CRLF`);
  }

  // Logical lines (unfolded), blank lines dropped, METHOD removed.
  const keep: boolean[] = new Array(physical.length).fill(true);
  const logical: { line: Line; first: number; last: number }[] = [];
  let blanks = 0;
  for (let i = 0; i < physical.length; i++) {
    const p = physical[i]!;
    if (p.length === 0) {
      keep[i] = false;
      blanks++;
      continue;
    }
    const c = p.charCodeAt(0);
    if ((c === 32 || c === 9) && logical.length > 0) {
      const prev = logical[logical.length - 1]!;
      logical[logical.length - 1] = { line: { no: prev.line.no, content: prev.line.content + p.slice(1) }, first: prev.first, last: i };
      continue;
    }
    logical.push({ line: { no: i + 1, content: p }, first: i, last: i });
  }
  if (blanks > 0) {
    changed = true;
    notes.push(`removed ${blanks} blank line(s)`);
  }

  const stack: { name: string; no: number }[] = [];
  let calendars = 0;
  const mainBegins: number[] = [];
  for (const { line, first, last } of logical) {
    const { content, no } = line;
    const head = content.slice(0, 6).toUpperCase();
    if (head === "BEGIN:") {
      const name = content.slice(6).trim().toUpperCase();
      if (stack.length === 0) {
        if (name !== "VCALENDAR") fail(`line ${no}: expected BEGIN:VCALENDAR, found '${content.slice(0, 60)}'`);
        if (++calendars > 1) fail(`line ${no}: a second VCALENDAR begins here; a calendar object resource holds exactly one VCALENDAR (RFC 4791 4.1)`, "invalid-object");
      }
      if (stack.length === 1 && MAIN.has(name)) mainBegins.push(no);
      stack.push({ name, no });
      continue;
    }
    if (content.slice(0, 4).toUpperCase() === "END:") {
      const name = content.slice(4).trim().toUpperCase();
      const top = stack.pop();
      if (!top) fail(`line ${no}: END:${name} without a matching BEGIN`);
      if (top.name !== name) fail(`line ${no}: END:${name} does not close BEGIN:${top.name} from line ${top.no}`);
      continue;
    }
    if (stack.length === 0) fail(`line ${no}: content outside BEGIN:VCALENDAR/END:VCALENDAR: '${content.slice(0, 60)}'`);
    const parts = splitContentLine(content);
    if (!parts) fail(`line ${no}: cannot parse content line '${content.slice(0, 80)}' (expected NAME;PARAM=VALUE:value)`);
    const parent = stack[stack.length - 1]!.name;
    if (stack.length === 1 && parts.name === "METHOD") {
      for (let k = first; k <= last; k++) keep[k] = false;
      changed = true;
      notes.push(`removed METHOD:${parts.value} (iTIP method; not allowed in a stored calendar object, RFC 4791 4.1)`);
      continue;
    }
    if (parent === "STANDARD" || parent === "DAYLIGHT" || parent === "VTIMEZONE") continue;
    if (TIME_PROPS.has(parts.name)) {
      const problem = checkTimeValue(parts.name, parts.params, parts.value);
      if (problem) fail(`line ${no}: ${problem}`);
      if (parts.params.has("TZID") && parts.value.endsWith("Z")) notes.push(`line ${no}: ${parts.name} has both TZID and a UTC value; the UTC value wins`);
    } else if (STAMP_PROPS.has(parts.name) && stack.length >= 2) {
      if (!/^\d{8}T\d{6}Z$/.test(parts.value)) notes.push(`line ${no}: ${parts.name} value '${parts.value}' is not a UTC date-time; kept as sent (not used by the server)`);
    }
  }
  if (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    fail(`BEGIN:${top.name} at line ${top.no} is never closed (expected END:${top.name})`);
  }
  if (calendars === 0) fail("no BEGIN:VCALENDAR found; expected an iCalendar object (text/calendar)");

  if (changed) {
    const out: string[] = [];
    for (let i = 0; i < physical.length; i++) if (keep[i]) out.push(physical[i]!);
    text = out.join("\r\n") + (endsWithEol ? "\r\n" : "");
  } else text = input;

  let jcal: unknown;
  try {
    jcal = ICAL.parse(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const m = /'([^']*)'|"([^"]*)"/.exec(msg);
    const quoted = m ? (m[1] ?? m[2] ?? "") : "";
    const needle = quoted.trim();
    const hit = needle ? (logical.find((l) => l.line.content === quoted) ?? logical.find((l) => needle.length >= 2 && l.line.content.includes(needle))) : undefined;
    fail(`${hit ? `line ${hit.line.no}: ` : ""}cannot parse iCalendar: ${msg}`);
  }
  if (Array.isArray(jcal) && Array.isArray(jcal[0])) fail("more than one VCALENDAR; a calendar object resource holds exactly one", "invalid-object");
  const root = new ICAL.Component(jcal as unknown[]);

  let component: MainComponent | null = null;
  let uid: string | null = null;
  const masters = new Set<string>();
  const overrides = new Set<string>();
  let idx = 0;
  for (const sub of root.getAllSubcomponents()) {
    const type = sub.name.toUpperCase();
    if (!MAIN.has(type)) continue;
    const at = mainBegins[idx++];
    const where = at !== undefined ? ` (BEGIN:${type} at line ${at})` : "";
    if (component === null) component = type as MainComponent;
    else if (component !== type) {
      fail(`the object mixes ${component} and ${type}${where}; a calendar object resource holds one component type (RFC 4791 4.1)`, "invalid-object");
    }
    const u = sub.getFirstPropertyValue("uid");
    let thisUid = typeof u === "string" ? u : u == null ? "" : String(u);
    if (thisUid === "" && type === "VFREEBUSY") {
      // Free-busy publications (e.g. Zimbra) often carry no UID; RFC 4791 still needs one for the store.
      thisUid = `vfreebusy-${createHash("sha256").update(text).digest("base64url").slice(0, 22)}`;
      notes.push(`VFREEBUSY has no UID; indexed under the synthetic UID ${thisUid} (text unchanged)`);
    }
    if (thisUid === "") fail(`${type}${where} has no UID; every component of a calendar object resource needs the same UID (RFC 4791 4.1)`, "invalid-object");
    if (uid === null) uid = thisUid;
    else if (uid !== thisUid) {
      fail(`the object holds two UIDs ('${uid}' and '${thisUid}'${where}); a calendar object resource holds one event, task or journal and its overrides (RFC 4791 4.1)`, "invalid-object");
    }
    const rid = sub.getFirstProperty("recurrence-id");
    if (rid) {
      const key = String(rid.jCal[3]);
      if (overrides.has(key)) fail(`two ${type} components with RECURRENCE-ID ${key}${where}; each instance may be overridden once`, "invalid-object");
      overrides.add(key);
    } else {
      if (masters.size > 0) fail(`two ${type} components with UID '${thisUid}' and no RECURRENCE-ID${where}; only overrides (RECURRENCE-ID) may repeat a UID`, "invalid-object");
      masters.add(thisUid);
    }
  }
  if (component === null || uid === null) {
    fail("the VCALENDAR holds no VEVENT, VTODO, VJOURNAL or VFREEBUSY component; expected exactly one of them (plus overrides and VTIMEZONEs)", "invalid-object");
  }
  tolerances(root, notes);
  if (masters.size === 0 && overrides.size > 0) notes.push("overrides only (RECURRENCE-ID without a master component); served as sent");
  if (!root.getFirstProperty("prodid")) notes.push("VCALENDAR has no PRODID; tolerated");
  if (!root.getFirstProperty("version")) notes.push("VCALENDAR has no VERSION; tolerated");
  return { text, changed, uid, component, root, notes };
}

const STRICT_DURATION = /^[+-]?P(?:\d+W|(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?)$/;

/** Defects the server tolerates without changing the text; each one is named in the notes. */
function tolerances(root: ICAL.Component, notes: string[]): void {
  const defined = new Map<string, ICAL.Component>();
  for (const vtz of root.getAllSubcomponents("vtimezone")) {
    const id = vtz.getFirstProperty("tzid");
    const tzid = id ? String(id.jCal[3] ?? "") : "";
    defined.set(tzid, vtz);
    if (!usableVtimezone(vtz)) notes.push(`VTIMEZONE '${tzid}' has invalid observances (offsets or DTSTART); the zone is resolved by name instead`);
  }
  const used = new Set<string>();
  const walk = (c: ICAL.Component): void => {
    const type = c.name.toUpperCase();
    if (type === "VTIMEZONE") return;
    for (const p of c.getAllProperties()) {
      const tz = p.getParameter("tzid");
      if (typeof tz === "string") used.add(tz);
    }
    if (MAIN.has(type)) {
      if (!c.getFirstProperty("dtstamp")) notes.push(`${type} without DTSTAMP; tolerated`);
      if (type !== "VTODO" && type !== "VJOURNAL" && !c.getFirstProperty("dtstart")) notes.push(`${type} without DTSTART; it never matches a time-range`);
      const dtstart = c.getFirstProperty("dtstart");
      const dateStart = dtstart?.type === "date";
      if (dtstart) {
        for (const n of ["exdate", "rdate"]) {
          for (const p of c.getAllProperties(n)) {
            if (p.type !== "period" && (p.type === "date") !== dateStart) notes.push(`${n.toUpperCase()} is a ${p.type.toUpperCase()} while DTSTART is a ${dtstart.type.toUpperCase()}; ${p.type === "date" ? "it applies to the whole day" : "compared by instant"}`);
          }
        }
        const rrules = c.getAllProperties("rrule");
        if (rrules.length > 1) notes.push(`${rrules.length} RRULEs (deprecated); instances of all are combined`);
        for (const r of rrules) {
          const until = (r.jCal[3] as { until?: string } | undefined)?.until;
          if (until && (until.length === 10) !== dateStart) notes.push(`RRULE UNTIL ${until.length === 10 ? "is a DATE" : "is a DATE-TIME"} while DTSTART is a ${dtstart.type.toUpperCase()}; ${until.length === 10 ? "the whole UNTIL day is included" : "compared by instant"}`);
        }
        const dtend = c.getFirstProperty("dtend");
        if (dtend && String(dtend.jCal[3]) === String(dtstart.jCal[3])) notes.push("DTEND equals DTSTART; treated as a zero-length instance");
      }
      const rid = c.getFirstProperty("recurrence-id");
      if (rid && String(rid.getParameter("range") ?? "").toUpperCase() === "THISANDFUTURE") notes.push("RECURRENCE-ID;RANGE=THISANDFUTURE is served as sent; the later instances take its time shift, duration and properties");
    }
    if (type === "VALARM") {
      const trig = c.getFirstProperty("trigger");
      const raw = trig ? String(trig.jCal[3] ?? "") : "";
      if (!trig) notes.push("VALARM without TRIGGER; it never matches a time-range");
      else if (trig.type === "duration" && !STRICT_DURATION.test(raw)) notes.push(`VALARM TRIGGER '${raw}' is not an RFC 5545 duration; read leniently where possible`);
    }
    for (const sub of c.getAllSubcomponents()) walk(sub);
  };
  walk(root);
  for (const tzid of used) {
    if (defined.has(tzid)) continue;
    const iana = ianaNameFor(tzid);
    notes.push(iana ? `TZID '${tzid}' has no VTIMEZONE; resolved as ${iana}` : `TZID '${tzid}' has no VTIMEZONE and is unknown; its times are treated as floating`);
  }
}
