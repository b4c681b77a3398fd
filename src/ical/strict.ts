/**
 * Checks applied to iCalendar that a client writes (PUT, COPY/MOVE targets), on top of what
 * parseCalendarObject refuses for every input. Data pulled from an upstream is not held to them: the
 * upstream owns it, and refusing it would stop the sync. Each refusal is CALDAV:valid-calendar-data
 * and names the line.
 */
import { IcalError } from "./errors.ts";
import type { CalendarObject } from "./parse.ts";
import { isRecurring, splitComponents } from "./engine.ts";

/** RFC 5545 3.1 CONTROL (HTAB is allowed; CR/LF only as line breaks), and the C1 controls that text
 * read as Windows-1252 gets from bytes Windows-1252 does not define (0x81, 0x8D, 0x8F, 0x90, 0x9D). */
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\u0080-\u009F]/;

/** TEXT properties (RFC 5545 3.3.11): a backslash escapes only \, ;, , and n/N. */
const TEXT_PROPS = new Set(["SUMMARY", "DESCRIPTION", "LOCATION", "COMMENT", "CATEGORIES", "CONTACT", "RESOURCES", "TZNAME"]);

export function checkClientCalendarData(obj: CalendarObject): void {
  checkLines(obj.text);
  checkRecurrenceIds(obj);
}

function fail(message: string): never {
  throw new IcalError(message, "invalid-calendar-data");
}

function checkLines(text: string): void {
  const physical = text.split("\r\n");
  let logicalNo = 0;
  let logical = "";
  const flush = (): void => {
    if (logical === "") return;
    const colon = valueStart(logical);
    const name = logical.slice(0, Math.min(...[logical.indexOf(";"), logical.indexOf(":")].filter((i) => i >= 0))).toUpperCase();
    if (colon >= 0 && TEXT_PROPS.has(name)) {
      const value = logical.slice(colon + 1);
      const m = badEscape(value);
      if (m) fail(`line ${logicalNo}: ${name} has the escape '\\${value.charAt(m.index + 1)}'; in TEXT only \\\\, \\;, \\, and \\n are escapes (RFC 5545 3.3.11), write a backslash as \\\\`);
    }
  };
  physical.forEach((p, i) => {
    const c = CONTROL.exec(p);
    if (c) fail(`line ${i + 1}: control character U+${c[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")} is not allowed in iCalendar (RFC 5545 3.1)${c[0].charCodeAt(0) >= 0x80 ? "; the data was probably neither UTF-8 nor Windows-1252" : ""}`);
    if (p.startsWith(" ") || p.startsWith("\t")) logical += p.slice(1);
    else {
      flush();
      logical = p;
      logicalNo = i + 1;
    }
  });
  flush();
}

/**
 * The first backslash that does not start one of the four TEXT escapes (escapes pair up left to
 * right). `\"` is tolerated: Apple's published holiday calendars and old iCal exports have it, and
 * `calgate import` of them must not fail (docs/NORMALISATION.md, "Tolerated").
 */
function badEscape(value: string): { index: number } | null {
  for (let i = 0; i < value.length; i++) {
    if (value[i] !== "\\") continue;
    if (!"\\;,nN\"".includes(value[i + 1] ?? "x") || i + 1 >= value.length) return { index: i };
    i++;
  }
  return null;
}

/** Index of the ':' that starts the value (parameters may hold quoted ':'). */
function valueStart(content: string): number {
  let quoted = false;
  for (let i = 0; i < content.length; i++) {
    const ch = content[i];
    if (ch === '"') quoted = !quoted;
    else if (ch === ":" && !quoted) return i;
  }
  return -1;
}

/**
 * RFC 5545 3.8.4.4: a RECURRENCE-ID overrides an instance of a recurring master and has the value
 * type of its DTSTART. Overrides without a master are not checked (nothing to check them against).
 * A RECURRENCE-ID at a time the master's rule does not produce is accepted: Apple Calendar writes
 * those (test/fixtures/corpus/ics/nextcloud-calendar-js/apple-thisandfuture-rdate.ics), and the
 * engine serves such an override as an instance of its own.
 */
function checkRecurrenceIds(obj: CalendarObject): void {
  const { master, overrides } = splitComponents(obj);
  if (!master || overrides.length === 0) return;
  const start = master.getFirstProperty("dtstart");
  for (const o of overrides) {
    const ridProp = o.getFirstProperty("recurrence-id")!;
    const raw = String(ridProp.jCal[3] ?? "");
    if (!isRecurring(master)) fail(`RECURRENCE-ID ${raw}: the ${obj.component} with UID '${obj.uid}' has no RRULE or RDATE, so it has no instances to override`);
    if (start && (ridProp.type === "date") !== (start.type === "date")) {
      fail(`RECURRENCE-ID ${raw} is a ${ridProp.type.toUpperCase()} while DTSTART is a ${start.type.toUpperCase()}; they must have the same value type (RFC 5545 3.8.4.4)`);
    }
  }
}
