/**
 * One sync-collection answer from a change log (a plain calendar's, or a merged calendar's own):
 * RFC 6578 tokens over `changes`-shaped rows. Shared so both kinds of collection page, prune and
 * refuse tokens the same way.
 */
import { InvalidSyncToken, type ChangeSet, type MemberListing, type ObjectHead } from "../dav/service.ts";
import type { HeadRow } from "../store/objects.ts";
import { formatSyncToken, parseSyncToken } from "./tokens.ts";

export interface ChangeLog {
  /** The token key of the collection (a calendar id, or "m<id>" for a merged calendar). */
  readonly key: number | string;
  /** The log position this answer is a snapshot of. */
  readonly seq: number;
  /** Tokens older than this were pruned. */
  readonly minSeq: number;
  /** Every live member (the initial listing when it fits). */
  heads(): Promise<ObjectHead[]>;
  /**
   * The initial listing when the calendar has at most `limit` members, else null: an array, or pages
   * read as the answer streams (see CalendarService.members). Without it, heads() is used.
   */
  listing?(limit: number): Promise<MemberListing | null>;
  /** Rows after `from`, oldest first; tombstones at or below `tombstonesAfter` left out. */
  since(from: number, limit: number, tombstonesAfter: number): Promise<{ name: string; seq: number; head: HeadRow | null }[]>;
}

export function toHead(r: { name: string; etag: string; size: number; modified_at: number; component: string }): ObjectHead {
  return { name: r.name, etag: r.etag, size: Number(r.size), modifiedAt: Number(r.modified_at), component: r.component };
}

/**
 * Changes after the token's sequence in change-log order. The log has one row per name ever written
 * (tombstones included), so an initial listing is the log from 0 with tombstones up to now left out,
 * and a limit cuts it at a sequence the next token can continue from without skipping anyone (see
 * SyncPosition.removedThrough in tokens.ts).
 */
export async function changeSet(log: ChangeLog, token: string | null, limit = Number.MAX_SAFE_INTEGER): Promise<ChangeSet> {
  const current = log.seq;
  let from: number;
  let tombstonesAfter: number;
  if (token === null) {
    // Initial sync: every member, no tombstones, token = now. When it all fits, from the listing;
    // otherwise page through the log, whose token carries "nothing removed up to now".
    // A paged listing's later pages may show writes made after `current`: those are in the next
    // delta too (their sequence is above the token), so the client converges either way.
    const listing = log.listing ? await log.listing(limit) : await log.heads().then((h) => (h.length <= limit ? h : null));
    if (listing !== null) return { token: formatSyncToken(log.key, current), changed: listing, removed: [], truncated: false };
    from = 0;
    tombstonesAfter = current;
  } else {
    const pos = parseSyncToken(log.key, token);
    if (pos === undefined) throw new InvalidSyncToken("token was not issued for this calendar", "foreign");
    from = pos.seq;
    tombstonesAfter = pos.removedThrough;
    if (tombstonesAfter > current) throw new InvalidSyncToken(`token is ahead of this calendar (at ${current})`);
    // Live members are never pruned from the log, only tombstones: what must still be there are
    // the removals the client has not been told of.
    if (tombstonesAfter < log.minSeq) throw new InvalidSyncToken("token is older than the retained change history");
  }
  const rows = await log.since(from, limit === Number.MAX_SAFE_INTEGER ? 1_000_000 : limit + 1, tombstonesAfter);
  const truncated = rows.length > limit;
  const page = truncated ? rows.slice(0, limit) : rows;
  const last = truncated ? page[page.length - 1]!.seq : current;
  return {
    token: formatSyncToken(log.key, last, tombstonesAfter),
    changed: page.filter((r) => r.head !== null).map((r) => toHead(r.head!)),
    removed: page.filter((r) => r.head === null).map((r) => r.name),
    truncated,
  };
}
