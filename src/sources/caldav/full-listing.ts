/**
 * A full listing of an upstream calendar (the first sync, a rejected sync token, or a server without
 * sync-collection), fetched in pages. The adapter lists the calendar once (hrefs and ETags), then
 * each pull fetches up to a page of the members whose ETag differs from the one on record, in href
 * order, so only one page of calendar data is held at a time (a 10,000-event first sync held all
 * 10,000 texts: ~40 MB of strings). The listing is kept in memory between the pages of a sync;
 * after a restart mid-listing the calendar is listed again, a later snapshot: the cursor keeps the
 * first listing's sync token, so the next delta reports again whatever changed in between.
 */
import { firstAfter } from "../listing-memory.ts";

type Etag = string;

export interface Listing {
  /** Every member the upstream listed (href → ETag, null when it gave none). */
  readonly listed: ReadonlyMap<string, Etag | null>;
  /** The hrefs in the order pages walk them. */
  readonly order: readonly string[];
}

export function listing(listed: ReadonlyMap<string, Etag | null>): Listing {
  return { listed, order: [...listed.keys()].sort() };
}

/**
 * The next page of a listing: up to `size` hrefs after `after` (null: from the start) to fetch,
 * those whose ETag is unknown or differs from `known`; `through` is the last href looked at, where
 * the next page starts; `last` when the listing ends with this page.
 */
export function nextPage(l: Listing, known: ReadonlyMap<string, Etag | null>, after: string | null, size: number): { fetch: string[]; through: string | null; last: boolean } {
  let i = after === null ? 0 : firstAfter(l.order, after);
  const fetch: string[] = [];
  let through = after;
  for (; i < l.order.length && fetch.length < size; i++) {
    const href = l.order[i]!;
    const etag = l.listed.get(href) ?? null;
    if (etag === null || known.get(href) !== etag) fetch.push(href);
    through = href;
  }
  return { fetch, through, last: i >= l.order.length };
}
