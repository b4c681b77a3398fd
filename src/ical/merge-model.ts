/**
 * The line model the three-way merge works on: components as trees of content lines, each property
 * with its parameters kept as sent (raw, quotes included) so that an untouched line is written back
 * byte-for-byte apart from folding. Normalised forms (parameters sorted, quotes dropped, lines
 * unfolded) are what "changed" is decided on, as in content.ts: reordered parameters and folded
 * lines are not changes. Pure.
 */
import type ICAL from "ical.js";
import { resolveTzid, UTC_ZONE } from "./timezones.ts";
import { fmtDate, fmtUtc, parseTimeString, toUtc } from "./values.ts";

export interface Prop {
  /** Upper-case name. */
  readonly name: string;
  /** [UPPER-CASE NAME, raw value as sent (quotes kept)]. */
  readonly params: readonly (readonly [string, string])[];
  readonly value: string;
}

export interface Comp {
  /** Upper-case component name. */
  readonly name: string;
  readonly props: readonly Prop[];
  readonly subs: readonly Comp[];
}

/** Splits an unfolded content line; null when it is not NAME(;PARAM=VALUE)*:value. */
export function splitProp(content: string): Prop | null {
  const n = content.length;
  let i = 0;
  while (i < n && content[i] !== ";" && content[i] !== ":") i++;
  if (i >= n || i === 0) return null;
  const name = content.slice(0, i).toUpperCase();
  const params: [string, string][] = [];
  while (content[i] === ";") {
    const eq = content.indexOf("=", i + 1);
    if (eq < 0) return null;
    const pname = content.slice(i + 1, eq).toUpperCase();
    let j = eq + 1;
    while (j < n && content[j] !== ";" && content[j] !== ":") {
      if (content[j] === '"') {
        const close = content.indexOf('"', j + 1);
        if (close < 0) return null;
        j = close + 1;
      } else j++;
    }
    params.push([pname, content.slice(eq + 1, j)]);
    i = j;
  }
  if (content[i] !== ":") return null;
  return { name, params, value: content.slice(i + 1) };
}

/** Parses validated iCalendar text (parse.ts has already refused anything malformed) into its root component. */
export function parseModel(text: string): Comp {
  const lines = text.replace(/\r\n?/g, "\n").replace(/\n[ \t]/g, "").split("\n");
  type Open = { name: string; props: Prop[]; subs: Comp[] };
  const stack: Open[] = [];
  let root: Comp | null = null;
  for (const raw of lines) {
    const line = raw.replace(/^\uFEFF/, "");
    if (line.trim() === "") continue;
    if (/^BEGIN:/i.test(line)) {
      stack.push({ name: line.slice(6).trim().toUpperCase(), props: [], subs: [] });
    } else if (/^END:/i.test(line)) {
      const done = stack.pop();
      if (!done) continue;
      const parent = stack[stack.length - 1];
      if (parent) parent.subs.push(done);
      else root ??= done;
    } else {
      const p = splitProp(line);
      const top = stack[stack.length - 1];
      if (p && top) top.props.push(p);
    }
  }
  if (!root) throw new Error("parseModel: no component");
  return root;
}

/** A parameter value without its quotes. */
export const unquote = (raw: string): string => raw.replace(/"/g, "");

/** Parameters in a stable form: sorted by name, quotes dropped. */
export function normParams(p: Prop): string {
  return p.params
    .map(([k, v]) => `${k}=${unquote(v)}`)
    .sort()
    .join(";");
}

/** One property in normalised form: what "equal" means for the merge. */
export function normProp(p: Prop): string {
  return `${p.name};${normParams(p)}:${p.value}`;
}

/** The content line of a property (unfolded). */
export function propLine(p: Prop): string {
  return p.name + p.params.map(([k, v]) => `;${k}=${v}`).join("") + ":" + p.value;
}

/** A component in normalised form (property and subcomponent order ignored), without the named properties. */
export function canon(c: Comp, skip: ReadonlySet<string> = NO_SKIP): string {
  const props = c.props.filter((p) => !skip.has(p.name)).map(normProp).sort();
  const subs = c.subs.map((s) => canon(s, skip)).sort();
  return [`BEGIN:${c.name}`, ...props, ...subs, `END:${c.name}`].join("\n");
}
const NO_SKIP: ReadonlySet<string> = new Set(["DTSTAMP"]);

/** Folds a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 sequence. */
export function fold(line: string): string {
  if (Buffer.byteLength(line, "utf8") <= 75) return line;
  const out: string[] = [];
  let cur = "";
  let bytes = 0;
  let limit = 75;
  for (const ch of line) {
    const b = Buffer.byteLength(ch, "utf8");
    if (bytes + b > limit) {
      out.push(cur);
      cur = "";
      bytes = 0;
      limit = 74;
    }
    cur += ch;
    bytes += b;
  }
  out.push(cur);
  return out.join("\r\n ");
}

export function serialise(c: Comp): string {
  const lines: string[] = [];
  const walk = (x: Comp): void => {
    lines.push(`BEGIN:${x.name}`);
    for (const p of x.props) lines.push(fold(propLine(p)));
    for (const s of x.subs) walk(s);
    lines.push(`END:${x.name}`);
  };
  walk(c);
  return lines.join("\r\n") + "\r\n";
}

export function first(c: Comp, name: string): Prop | undefined {
  return c.props.find((p) => p.name === name);
}

export function paramOf(p: Prop, name: string): string | undefined {
  const hit = p.params.find(([k]) => k === name);
  return hit ? unquote(hit[1]) : undefined;
}

/** Splits a multi-valued text at unescaped commas. */
export function splitValues(value: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === "\\" && i + 1 < value.length) {
      cur += ch + value[i + 1]!;
      i++;
    } else if (ch === ",") {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/**
 * A DATE or DATE-TIME value as an instant: "20260105T090000Z" for a zoned or UTC time, the digits
 * for a DATE, the digits without Z for a floating time (or a TZID nobody knows).
 */
export function instantKey(raw: string, tzid: string | undefined, root: ICAL.Component | null): string {
  const zone = tzid ? resolveTzid(tzid, root) : null;
  const t = parseTimeString(raw.trim(), zone);
  if (!t) return raw.trim();
  if (t.date) return fmtDate(t.wall);
  if (t.floating) return fmtUtc(toUtc(t, UTC_ZONE)).replace(/Z$/, "");
  return fmtUtc(toUtc(t, UTC_ZONE));
}

/** The key of a main component within its object: "" for the master, the RECURRENCE-ID instant for an override. */
export function componentKey(c: Comp, root: ICAL.Component | null): string {
  const rid = first(c, "RECURRENCE-ID");
  return rid ? instantKey(rid.value, paramOf(rid, "TZID"), root) : "";
}
