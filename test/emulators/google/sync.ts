/**
 * Paging (reference §3, §4, §11.1): a listing is computed once, on its first page, and the page
 * tokens carry that snapshot (here: a server-side state keyed by the opaque token), so changes
 * made while a client pages are not lost: they are newer than the sync token issued with the
 * snapshot and show up in the next incremental sync. With ragged pages a page may hold fewer items
 * than maxResults, even none, while nextPageToken is present; nextSyncToken only on the last page.
 */
import { E } from "./errors.ts";
import type { Json } from "./store.ts";
import { opaqueToken } from "./util.ts";

export type Query = Record<string, string | string[]>;

interface Snapshot {
  sig: string;
  items: Json[];
  final: Json;
}

interface PageState {
  snap: Snapshot;
  offset: number;
  empties: number;
  served?: { items: Json[]; next?: string };
}

export class Pager {
  private readonly pages = new Map<string, PageState>();

  constructor(
    private readonly rng: () => number,
    private readonly ragged: boolean,
  ) {}

  private take(maxResults: number, empties: number): number {
    if (!this.ragged) return maxResults;
    const r = this.rng();
    if (r < 0.2 && empties < 2) return 0;
    if (r < 0.6) return 1 + Math.floor(this.rng() * maxResults);
    return maxResults;
  }

  /**
   * One page of a listing. `sig` identifies the query (a page token is only valid for the same
   * query); `compute` builds the whole listing and the fields of its last page (e.g. nextSyncToken).
   */
  page(sig: string, pageToken: string | undefined, maxResults: number, compute: () => { items: Json[]; final: Json }): Json {
    let state: PageState;
    if (pageToken !== undefined) {
      const s = this.pages.get(pageToken);
      if (!s || s.snap.sig !== sig) throw E.invalid("Invalid pageToken value.", "pageToken");
      state = s;
    } else {
      const { items, final } = compute();
      state = { snap: { sig, items, final }, offset: 0, empties: 0 };
    }
    if (!state.served) {
      // The same page token always answers the same page (a retried request sees what it asked for).
      const n = this.take(maxResults, state.empties);
      const items = state.snap.items.slice(state.offset, state.offset + n);
      const offset = state.offset + items.length;
      const last = offset >= state.snap.items.length && (n > 0 || state.empties >= 2);
      let next: string | undefined;
      if (!last) {
        next = opaqueToken(this.rng, "C", 30);
        this.pages.set(next, { snap: state.snap, offset, empties: items.length === 0 ? state.empties + 1 : 0 });
      }
      state.served = next === undefined ? { items } : { items, next };
    }
    const out: Json = { items: state.served.items };
    if (state.served.next !== undefined) out.nextPageToken = state.served.next;
    else Object.assign(out, state.snap.final);
    return out;
  }
}

export function one(q: Query, name: string): string | undefined {
  const v = q[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

export function many(q: Query, name: string): string[] {
  const v = q[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

export function bool(q: Query, name: string): boolean | undefined {
  const v = one(q, name);
  if (v === undefined) return undefined;
  if (v === "true") return true;
  if (v === "false") return false;
  throw E.invalid(`Invalid boolean value: ${v}`, name);
}

export function int(q: Query, name: string, def: number, max: number): number {
  const v = one(q, name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw E.invalid(`Invalid value '${v}'. Values must be within the range: [1, ${max}]`, name);
  return Math.min(n, max);
}

/** Signature of a query for page-token validation (everything but pageToken). */
export function signature(kind: string, key: string, q: Query): string {
  const entries = Object.entries(q).filter(([k]) => k !== "pageToken").sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify([kind, key, entries]);
}
