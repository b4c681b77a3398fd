/**
 * Single-value extended properties (Graph: singleValueLegacyExtendedProperty): stored with the event,
 * never in its default rendering; returned only through
 * `$expand=singleValueExtendedProperties($filter=id eq '<id>' [or id eq '<id>' ...])`, and events can be
 * found with `$filter=singleValueExtendedProperties/Any(ep: ep/id eq '<id>' and ep/value eq '<value>')`
 * (documented: extended-properties-overview, singlevaluelegacyextendedproperty-get). Ids compare
 * without regard to case (Graph answers the GUID in lower case). A PATCH sets or replaces the
 * properties it names and keeps the others.
 */
import { E } from "./errors.ts";
import type { Json } from "./store.ts";

export interface ExtProp { id: string; value: string }

const unquote = (s: string): string => s.replace(/''/g, "'");
const norm = (id: string): string => id.trim().toLowerCase();

/** The ids named by `$expand=singleValueExtendedProperties($filter=...)`; null when not expanded. */
export function expandedIds(expand: string | undefined): string[] | null {
  if (!expand) return null;
  const m = /singleValueExtendedProperties(?:\(\$filter=([^)]*)\))?/i.exec(expand);
  if (!m) return null;
  if (m[1] === undefined) throw E.badRequest("Filter is required for expanding singleValueExtendedProperties.");
  const ids = [...m[1].matchAll(/id\s+eq\s+'((?:[^']|'')*)'/gi)].map((x) => unquote(x[1]!));
  if (ids.length === 0) throw E.badRequest("Invalid filter clause for singleValueExtendedProperties.");
  return ids;
}

/** The stored properties of an event's props that `ids` name (as Graph renders them). */
export function expandedProps(props: Json, ids: string[]): ExtProp[] {
  const wanted = new Set(ids.map(norm));
  const all = (props.singleValueExtendedProperties ?? []) as ExtProp[];
  return all.filter((p) => wanted.has(norm(p.id))).map((p) => ({ id: p.id.replace(/\{[^}]*\}/, (g) => g.toLowerCase()), value: p.value }));
}

/** `$filter=singleValueExtendedProperties/Any(ep: ep/id eq 'X' and ep/value eq 'V')` → a predicate; undefined when no filter. */
export function extFilter(filter: string | undefined): ((props: Json) => boolean) | undefined {
  if (filter === undefined) return undefined;
  const m = /^\s*singleValueExtendedProperties\/Any\(\s*(\w+)\s*:\s*\1\/id\s+eq\s+'((?:[^']|'')*)'\s+and\s+\1\/value\s+eq\s+'((?:[^']|'')*)'\s*\)\s*$/i.exec(filter);
  if (!m) return () => true; // other filters are not emulated (README: ignored)
  const id = norm(unquote(m[2]!));
  const value = unquote(m[3]!);
  return (props) => ((props.singleValueExtendedProperties ?? []) as ExtProp[]).some((p) => norm(p.id) === id && p.value === value);
}

/** A PATCH's properties merged into the stored ones (same id: replaced; others kept). */
export function mergeExtProps(stored: unknown, patch: unknown): ExtProp[] {
  const out = new Map<string, ExtProp>();
  for (const p of (Array.isArray(stored) ? stored : []) as ExtProp[]) out.set(norm(p.id), p);
  for (const p of (Array.isArray(patch) ? patch : []) as ExtProp[]) {
    if (!p || typeof p.id !== "string" || typeof p.value !== "string") throw E.badRequest("A singleValueExtendedProperty needs a string id and value.");
    out.set(norm(p.id), { id: p.id, value: p.value });
  }
  return [...out.values()];
}
