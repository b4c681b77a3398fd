/**
 * Calendar references of the config ("<source-id>/<calendar-id>", with "*" and "?" globs in merged
 * calendars' include lists) resolved against the calendars the store holds. The calendar part names a
 * calendar the way a person reads the config: its config id (local sources), the part of the
 * collection name after "<source-id>-", the upstream's own id, or its display name.
 */
import type { CalendarRow } from "../store/calendars.ts";
import { globToRegExp } from "../config/glob.ts";

export interface CalendarRefTarget {
  readonly source_id: string;
  readonly name: string;
  readonly source_calendar_id: string | null;
  readonly displayname: string | null;
}

export function splitRef(ref: string): { source: string; calendar: string } {
  const slash = ref.indexOf("/");
  return { source: ref.slice(0, slash), calendar: ref.slice(slash + 1) };
}

/** Whether `row` is one of the calendars `ref` names (a glob in the calendar part is allowed). */
export function refMatches(row: CalendarRefTarget, ref: string): boolean {
  const { source, calendar } = splitRef(ref);
  // As check-config reads them: source and calendar ids are matched without regard to case.
  if (row.source_id.toLowerCase() !== source.toLowerCase()) return false;
  const exact = globToRegExp(calendar, "iu");
  const prefix = `${row.source_id}-`;
  const names = [row.name.startsWith(prefix) ? row.name.slice(prefix.length) : null, row.name, row.source_calendar_id];
  if (names.some((n) => n !== null && exact.test(n))) return true;
  return row.displayname !== null && globToRegExp(calendar, "iu").test(row.displayname);
}

/**
 * The calendars the patterns name, each once, in pattern order (the first pattern that names a
 * calendar places it) and by collection name within one pattern: the order "first included" means.
 */
export function resolveRefs<T extends CalendarRefTarget>(rows: readonly T[], patterns: readonly string[]): T[] {
  const sorted = [...rows].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: T[] = [];
  const seen = new Set<T>();
  for (const p of patterns) {
    for (const r of sorted) {
      if (seen.has(r) || !refMatches(r, p)) continue;
      seen.add(r);
      out.push(r);
    }
  }
  return out;
}

/**
 * The one calendar a non-glob reference names, or null (none, or more than one: ambiguous). An id or
 * collection name match wins over a display-name match.
 */
export function resolveRef<T extends CalendarRefTarget>(rows: readonly T[], ref: string): T | null {
  const hits = resolveRefs(rows, [ref]);
  if (hits.length <= 1) return hits[0] ?? null;
  const byId = hits.filter((r) => refMatches({ ...r, displayname: null }, ref));
  return byId.length === 1 ? byId[0]! : null;
}

export type { CalendarRow };
