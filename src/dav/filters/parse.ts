/** CALDAV:filter XML → CompFilter AST (RFC 4791 9.7), with 400/403 errors that say what was wrong. */
import { cal as C, NS, splitClark, type Clark } from "../../xml/names.ts";
import { elements, text, type XmlElement } from "../../xml/tree.ts";
import { DavError, Conditions } from "../errors.ts";
import type { CompFilter, ParamFilter, PropFilter, TextMatch, TimeRange } from "./ast.ts";

export const SUPPORTED_COLLATION: Clark = C("supported-collation");
const COLLATIONS = new Set(["i;ascii-casemap", "i;octet", "i;unicode-casemap"]);
const MATCH_TYPES = new Set(["contains", "equals", "starts-with", "ends-with"]);
const UTC_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** RFC 4791 7.8 / 9.7: a filter the server cannot use is refused 403 with CALDAV:valid-filter, never 400. */
const invalid = (msg: string): DavError => new DavError(403, msg, Conditions.validFilter);

/**
 * Which components may appear inside which (RFC 5545 3.6, RFC 7953 VAVAILABILITY, RFC 9073 sub-
 * components, RFC 9074 VALARM extensions); X- and IANA-unknown names are refused inside known ones
 * only when they are not X- names. A filter on an impossible nesting can never match anything and is
 * a client error, answered with CALDAV:valid-filter.
 */
const NESTING: Readonly<Record<string, readonly string[]>> = {
  VCALENDAR: ["VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VTIMEZONE", "VAVAILABILITY"],
  VEVENT: ["VALARM", "PARTICIPANT", "VLOCATION", "VRESOURCE"],
  VTODO: ["VALARM", "PARTICIPANT", "VLOCATION", "VRESOURCE"],
  VJOURNAL: ["PARTICIPANT", "VLOCATION", "VRESOURCE"],
  VFREEBUSY: ["PARTICIPANT", "VLOCATION", "VRESOURCE"],
  VTIMEZONE: ["STANDARD", "DAYLIGHT"],
  VAVAILABILITY: ["AVAILABLE"],
  VALARM: ["VLOCATION"],
  STANDARD: [],
  DAYLIGHT: [],
  AVAILABLE: [],
  PARTICIPANT: ["VLOCATION", "VRESOURCE"],
  VLOCATION: [],
  VRESOURCE: [],
};

function checkNesting(parent: string, child: string): void {
  if (child.startsWith("X-")) return;
  const allowed = NESTING[parent];
  if (parent.startsWith("X-") || (allowed && allowed.includes(child))) return;
  if (!allowed && !NESTING[child]) return; // an unknown parent: nothing is known about its members
  throw invalid(`a ${child} comp-filter cannot be inside ${parent} (${parent} holds ${allowed && allowed.length ? allowed.join(", ") : "no components"})`);
}

/** "20060104T000000Z" → epoch ms; anything else (floating, DATE, offsets) is a 400 valid-filter error. */
export function parseUtc(value: string, what: string): number {
  const m = UTC_RE.exec(value.trim());
  if (!m) throw invalid(`${what} '${value}' is not a UTC date-time; expected the form 20060104T000000Z (RFC 4791 9.9)`);
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 60) {
    throw invalid(`${what} '${value}' is not a valid date-time`);
  }
  return ms;
}

/** A CALDAV:time-range (or expand / limit-* element with start/end attributes). */
export function parseTimeRange(el: XmlElement, opts: { requireBoth?: boolean } = {}): TimeRange {
  const local = splitClark(el.name).local;
  const s = el.attrs["start"];
  const e = el.attrs["end"];
  if (s === undefined && e === undefined) throw invalid(`CALDAV:${local} needs a start or an end attribute`);
  if (opts.requireBoth && (s === undefined || e === undefined)) throw invalid(`CALDAV:${local} needs both start and end attributes`);
  const start = s === undefined ? null : parseUtc(s, `CALDAV:${local} start`);
  const end = e === undefined ? null : parseUtc(e, `CALDAV:${local} end`);
  if (start !== null && end !== null && end <= start) throw invalid(`CALDAV:${local} end (${e}) must be later than start (${s})`);
  return { start, end };
}

function testAttr(el: XmlElement, dflt: "anyof" | "allof"): "anyof" | "allof" {
  const t = el.attrs["test"];
  if (t === undefined) return dflt;
  if (t === "anyof" || t === "allof") return t;
  throw invalid(`test="${t}" on CALDAV:${splitClark(el.name).local}; expected "anyof" or "allof"`);
}

function nameAttr(el: XmlElement): string {
  const n = el.attrs["name"];
  if (n === undefined || n.trim() === "") throw invalid(`CALDAV:${splitClark(el.name).local} needs a name attribute`);
  return n.trim().toUpperCase();
}

/** Unknown elements from other namespaces are ignored (extensibility); unknown CALDAV ones are an error. */
function checkChildren(el: XmlElement, allowed: readonly string[]): void {
  for (const c of elements(el)) {
    const { ns, local } = splitClark(c.name);
    if (ns === NS.CALDAV && !allowed.includes(local)) {
      throw invalid(`CALDAV:${local} is not allowed inside CALDAV:${splitClark(el.name).local} (allowed: ${allowed.join(", ")})`);
    }
  }
}

export function parseTextMatch(el: XmlElement): TextMatch {
  const collation = el.attrs["collation"] ?? "i;ascii-casemap";
  if (!COLLATIONS.has(collation)) {
    throw new DavError(403, `collation '${collation}' is not supported; use i;ascii-casemap, i;octet or i;unicode-casemap`, SUPPORTED_COLLATION);
  }
  const neg = el.attrs["negate-condition"] ?? "no";
  if (neg !== "yes" && neg !== "no") throw invalid(`negate-condition="${neg}"; expected "yes" or "no"`);
  const matchType = el.attrs["match-type"] ?? "contains";
  if (!MATCH_TYPES.has(matchType)) throw invalid(`match-type="${matchType}"; expected equals, contains, starts-with or ends-with`);
  return { value: text(el), collation: collation as TextMatch["collation"], negate: neg === "yes", matchType: matchType as TextMatch["matchType"] };
}

function parseParamFilter(el: XmlElement): ParamFilter {
  checkChildren(el, ["is-not-defined", "text-match"]);
  const isNotDefined = elements(el, C("is-not-defined")).length > 0;
  const tm = elements(el, C("text-match"));
  if (isNotDefined && tm.length > 0) throw invalid("CALDAV:param-filter cannot have both is-not-defined and text-match");
  if (tm.length > 1) throw invalid("CALDAV:param-filter allows one text-match");
  return { name: nameAttr(el), isNotDefined, textMatch: tm[0] ? parseTextMatch(tm[0]) : null };
}

function parsePropFilter(el: XmlElement): PropFilter {
  checkChildren(el, ["is-not-defined", "time-range", "text-match", "param-filter"]);
  const isNotDefined = elements(el, C("is-not-defined")).length > 0;
  const tr = elements(el, C("time-range"));
  const tm = elements(el, C("text-match"));
  const pf = elements(el, C("param-filter"));
  if (isNotDefined && (tr.length || tm.length || pf.length)) throw invalid("CALDAV:prop-filter with is-not-defined cannot have other tests");
  if (tr.length > 1 || tm.length > 1) throw invalid("CALDAV:prop-filter allows at most one time-range and one text-match");
  return {
    name: nameAttr(el),
    isNotDefined,
    timeRange: tr[0] ? parseTimeRange(tr[0]) : null,
    textMatch: tm[0] ? parseTextMatch(tm[0]) : null,
    paramFilters: pf.map(parseParamFilter),
    test: testAttr(el, "allof"),
  };
}

function parseCompFilter(el: XmlElement): CompFilter {
  checkChildren(el, ["is-not-defined", "time-range", "prop-filter", "comp-filter"]);
  const isNotDefined = elements(el, C("is-not-defined")).length > 0;
  const tr = elements(el, C("time-range"));
  const props = elements(el, C("prop-filter"));
  const comps = elements(el, C("comp-filter"));
  if (isNotDefined && (tr.length || props.length || comps.length)) throw invalid("CALDAV:comp-filter with is-not-defined cannot have other tests");
  if (tr.length > 1) throw invalid("CALDAV:comp-filter allows at most one time-range");
  const name = nameAttr(el);
  if (tr[0] && (name === "VCALENDAR" || name === "VTIMEZONE")) throw invalid(`a time-range is not allowed on ${name} (RFC 4791 9.9)`);
  const compFilters = comps.map(parseCompFilter);
  for (const c of compFilters) checkNesting(name, c.name);
  return {
    name,
    isNotDefined,
    timeRange: tr[0] ? parseTimeRange(tr[0]) : null,
    propFilters: props.map(parsePropFilter),
    compFilters,
    test: testAttr(el, "allof"),
  };
}

/**
 * Parses CALDAV:filter. RFC 4791 combines the tests inside a comp-filter/prop-filter with AND, so the
 * default of the (CalendarServer / RFC 7809-style) "test" attribute is "allof"; "anyof" is honoured.
 */
export function parseFilter(filter: XmlElement): CompFilter {
  if (filter.name !== C("filter")) throw invalid(`expected CALDAV:filter, found ${filter.name}`);
  checkChildren(filter, ["comp-filter"]);
  const comps = elements(filter, C("comp-filter"));
  if (comps.length !== 1) throw invalid(`CALDAV:filter must hold exactly one comp-filter (name="VCALENDAR"), found ${comps.length}`);
  const top = parseCompFilter(comps[0]!);
  if (top.name !== "VCALENDAR") throw invalid(`the top-level comp-filter must be name="VCALENDAR", found name="${top.name}"`);
  return top;
}
