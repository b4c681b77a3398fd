/**
 * Whole-calendar iCalendar files, at the level of top-level components (no parsing of values):
 * splitting one file into calendar objects, one per UID (an import), and joining objects into one
 * VCALENDAR (an export). Content lines are kept byte for byte, folded continuations with their line.
 */

export interface TopComponent {
  /** VEVENT, VTODO, VJOURNAL, VTIMEZONE, VFREEBUSY, ... */
  readonly name: string;
  /** Its lines, BEGIN to END, folded continuations included. */
  readonly lines: readonly string[];
  /** UID (unfolded), or null. */
  readonly uid: string | null;
  /** TZID of a VTIMEZONE, or null. */
  readonly tzid: string | null;
  /** SUMMARY, for reports (unfolded, unescaped enough to read), or null. */
  readonly summary: string | null;
}

export interface SplitCalendar {
  /** Properties of the VCALENDAR itself (VERSION, PRODID, METHOD, X-WR-CALNAME, ...), as lines. */
  readonly props: readonly string[];
  readonly components: readonly TopComponent[];
  /** Problems of the file's shape (text outside VCALENDAR, unterminated components). */
  readonly problems: readonly string[];
}

/** Unfolds logical lines to find one property's value inside a component (first occurrence). */
function propValue(lines: readonly string[], name: string): string | null {
  const logical: string[] = [];
  for (const l of lines) {
    if ((l.startsWith(" ") || l.startsWith("\t")) && logical.length > 0) logical[logical.length - 1] += l.slice(1);
    else logical.push(l);
  }
  let depth = 0;
  for (const l of logical) {
    const upper = l.toUpperCase();
    if (upper.startsWith("BEGIN:")) depth++;
    else if (upper.startsWith("END:")) depth--;
    else if (depth === 1) {
      const m = /^([A-Za-z0-9-]+)((?:;[^:]*)?):(.*)$/.exec(l);
      if (m && m[1]!.toUpperCase() === name) return m[3]!;
    }
  }
  return null;
}

/** Splits every VCALENDAR of `text` into its own properties and its top-level components. */
export function splitCalendar(text: string): SplitCalendar {
  const lines = text.replace(/^\uFEFF/, "").split(/\r\n|\n|\r/);
  const props: string[] = [];
  const components: TopComponent[] = [];
  const problems: string[] = [];
  let inCalendar = false;
  let current: { name: string; lines: string[]; depth: number } | null = null;
  for (const [i, line] of lines.entries()) {
    if (line === "") continue;
    const upper = line.toUpperCase();
    if (current) {
      current.lines.push(line);
      if (upper.startsWith("BEGIN:")) current.depth++;
      else if (upper.startsWith("END:") && --current.depth === 0) {
        const name = current.name;
        components.push({ name, lines: current.lines, uid: propValue(current.lines, "UID")?.trim() || null, tzid: name === "VTIMEZONE" ? propValue(current.lines, "TZID") : null, summary: propValue(current.lines, "SUMMARY") });
        current = null;
      }
      continue;
    }
    if (upper === "BEGIN:VCALENDAR") {
      inCalendar = true;
      continue;
    }
    if (upper === "END:VCALENDAR") {
      inCalendar = false;
      continue;
    }
    if (!inCalendar) {
      problems.push(`line ${i + 1}: text outside BEGIN:VCALENDAR ... END:VCALENDAR ignored`);
      continue;
    }
    if (upper.startsWith("BEGIN:")) current = { name: upper.slice(6).trim(), lines: [line], depth: 1 };
    else if ((line.startsWith(" ") || line.startsWith("\t")) && props.length > 0) props[props.length - 1] += `\r\n${line}`;
    else props.push(line);
  }
  if (current) problems.push(`${current.name} starting at "${current.lines[0]}" has no END; ignored`);
  return { props, components, problems };
}

/** TZIDs a component refers to (TZID= parameters). */
export function referencedTzids(c: TopComponent): Set<string> {
  const out = new Set<string>();
  const unfolded = c.lines.join("\n").replace(/\n[ \t]/g, "");
  for (const m of unfolded.matchAll(/;TZID=("([^"]*)"|[^;:,\n]*)/gi)) out.add(m[2] ?? m[1]!);
  return out;
}

const CRLF = "\r\n";

/** One VCALENDAR text from property lines and components. */
export function joinCalendar(props: readonly string[], components: readonly TopComponent[]): string {
  return ["BEGIN:VCALENDAR", ...props, ...components.flatMap((c) => c.lines), "END:VCALENDAR", ""].join(CRLF);
}

/** RFC 5545 TEXT escaping, for a display name written as X-WR-CALNAME. */
const escapeText = (s: string): string => s.replace(/\\/g, "\\\\").replace(/;/g, "\\;").replace(/,/g, "\\,").replace(/\r?\n/g, "\\n");

/**
 * One whole-calendar document from stored objects (an export, as Radicale and sabre/dav answer a GET
 * of a collection): each VTIMEZONE once (the first seen of each TZID), then every other component.
 */
export function bundleCalendar(objects: Iterable<string>, meta: { displayname: string | null }): string {
  const timezones = new Map<string, TopComponent>();
  const rest: TopComponent[] = [];
  for (const ics of objects) {
    for (const c of splitCalendar(ics).components) {
      if (c.name === "VTIMEZONE") {
        if (c.tzid !== null && !timezones.has(c.tzid)) timezones.set(c.tzid, c);
      } else rest.push(c);
    }
  }
  const props = ["VERSION:2.0", "PRODID:-//calgate//calendar export//EN", "CALSCALE:GREGORIAN", ...(meta.displayname ? [`X-WR-CALNAME:${escapeText(meta.displayname)}`] : [])];
  return joinCalendar(props, [...timezones.values(), ...rest]);
}
