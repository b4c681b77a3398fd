/**
 * A full listing of a Google calendar (the first sync, or after 410 fullSyncRequired), fetched a
 * page of events.list per pull so that a large calendar is never held whole (a 10,000-event first
 * sync held every event and every object's iCalendar at once).
 *
 * Google's page tokens carry the listing's snapshot and the final sync token is that of its start
 * (reference section 4), so the pages may be fetched over several pulls:
 *  - a plain event (no recurrence, not an instance) is complete in its page: its change goes out with it;
 *  - a recurring event's master and instances may lie on different pages: they are kept (in memory,
 *    ListingMemory) until the last page, which sends every series changed;
 *  - the last page also reads the ids the cache holds that the listing did not show (a write-back made
 *    while the pages ran is there; a deleted one is not), and carries `listed`, made in that pull.
 * The pages show the calendar as it was when the listing began: an item whose cached version moved
 * since then (a client's write confirmed between two pages) is not sent back at its older version;
 * the incremental sync from the listing's token, next, reports whatever changed since it began.
 * After a restart mid-listing (or an eviction, or a page token Google no longer accepts) the listing
 * starts again from its first page: what was applied is then unchanged and skipped.
 */
import { randomUUID } from "node:crypto";
import { CursorExpired, Permanent, Transient, type Cursor, type PullPage, type RemoteCalendar, type RemoteChange, type SourceContext } from "../adapter.ts";
import { ListingMemory } from "../listing-memory.ts";
import { isCancelled, isLive, seriesKeyOf, versionOf, type GEvent, type Series } from "./groups.ts";
import type { GoogleReader } from "./reader.ts";

export const LISTING_PREFIX = "g1l:";
/** Events per page of a full listing (Google's maximum is 2,500). */
const LISTING_PAGE = 1000;

/** Where a paged listing stands: its id (to find what it kept) and the next page's token. */
interface ListingCursor { readonly id: string; readonly pageToken: string }

interface Kept {
  /** The cache's versions when the listing began (the page tokens' snapshot is of then). */
  readonly start: ReadonlyMap<string, string | null>;
  /** Keys the listing showed, live or not. */
  readonly shown: Set<string>;
  /** Keys of the live plain events listed so far. */
  readonly seen: Set<string>;
  /** Recurring series (masters and instances) listed so far, sent with the last page. */
  readonly series: Map<string, { master: GEvent | null; instances: Map<string, GEvent> }>;
  /** Keys listed both as a plain event and as a series' instances: read whole at the end. */
  readonly mixed: Set<string>;
}

type Known = ReadonlyMap<string, string | null>;

export const listingCursor = (c: ListingCursor): Cursor => LISTING_PREFIX + JSON.stringify(c);
export function parseListingCursor(cursor: Cursor | null): ListingCursor | null {
  if (!cursor?.startsWith(LISTING_PREFIX)) return null;
  try {
    return JSON.parse(cursor.slice(LISTING_PREFIX.length)) as ListingCursor;
  } catch {
    return null;
  }
}

/** What the listing needs from the adapter. */
export interface ListingAccess {
  readonly reader: GoogleReader;
  /** The upsert of a series (null, and a line in `unreadable`, when it cannot be translated). */
  upsert(cal: RemoteCalendar, s: Series, version: string, ctx: SourceContext, unreadable: string[]): Promise<RemoteChange | null>;
}

export class GoogleFullListing {
  private readonly memory = new ListingMemory<Kept>();
  private readonly pageSize: number;

  /** `page`: events per page (tests use a few). */
  constructor(private readonly a: ListingAccess, page?: number) {
    this.pageSize = page ?? LISTING_PAGE;
  }

  /** One pull of a listing: from its start (`at` null) or from a page token. */
  async page(cal: RemoteCalendar, at: ListingCursor | null, ctx: SourceContext, syncCursor: (token: string) => Cursor): Promise<PullPage> {
    let kept = at ? this.memory.get(`${cal.id}\n${at.id}`) : undefined;
    // Restarted mid-listing (what was kept is gone): list again from the first page.
    if (!kept) {
      at = null;
      this.finished(cal);
    }
    const id = at?.id ?? randomUUID();
    const key = `${cal.id}\n${id}`;
    // The cache as the listing begins, read before its first page (its snapshot) is asked for.
    kept ??= this.memory.set(key, { start: new Map(await ctx.known(cal)), shown: new Set(), seen: new Set(), series: new Map(), mixed: new Set() });
    let page;
    try {
      page = await this.a.reader.api.call("events.list", "read", (api, o) => api.events.list({ calendarId: cal.id, maxResults: this.pageSize, singleEvents: false, ...(at ? { pageToken: at.pageToken } : {}) }, o), ctx);
    } catch (e) {
      // A page token Google no longer takes (400): the engine starts a new listing.
      if (at && e instanceof Permanent && e.status === 400) {
        this.memory.drop(key);
        throw new CursorExpired(`Google refused the listing's page token (${e.message}); listing again`);
      }
      throw e;
    }
    if (page.timeZone) this.a.reader.zones.set(cal.id, page.timeZone);
    const known = await ctx.known(cal);
    const changes: RemoteChange[] = [];
    const unreadable: string[] = [];
    for (const e of page.items ?? []) {
      if (!e.id) continue;
      const k = seriesKeyOf(e);
      kept.shown.add(k);
      if (e.recurringEventId || e.recurrence?.length) {
        if (kept.seen.has(k)) kept.mixed.add(k);
        let s = kept.series.get(k);
        if (!s) kept.series.set(k, (s = { master: null, instances: new Map() }));
        if (e.recurringEventId) s.instances.set(e.id, e);
        else s.master = e;
        continue;
      }
      if (isCancelled(e)) continue;
      if (kept.series.has(k)) kept.mixed.add(k);
      kept.seen.add(k);
      const s: Series = { key: k, master: e, instances: [] };
      if (!sendable(k, versionOf(s), kept, known)) continue;
      const c = await this.a.upsert(cal, s, versionOf(s), ctx, unreadable);
      if (c) changes.push(c);
    }
    const note = (): { note?: string } => (unreadable.length ? { note: `not translatable, kept as cached: ${unreadable.join("; ")}` } : {});
    if (page.nextPageToken) return { changes, next: listingCursor({ id, pageToken: page.nextPageToken }), done: false, full: true, ...note() };
    if (!page.nextSyncToken) throw new Transient(`Google events.list of ${cal.id} ended without a nextSyncToken`);
    const listed = await this.lastPage(cal, kept, known, changes, unreadable, ctx);
    // Dropped once the last page is made (a last page pulled again lists again from the start).
    this.memory.drop(key);
    return { changes, next: syncCursor(page.nextSyncToken), done: true, full: true, listed, ...note() };
  }

  /** The calendar's listing is over (an incremental pull began, or a new listing): forget what it kept. */
  finished(cal: RemoteCalendar): void {
    this.memory.dropWhere((k) => k.startsWith(`${cal.id}\n`));
  }

  /** Sends the recurring series changed, reads what the cache holds that was not listed; the listing. */
  private async lastPage(cal: RemoteCalendar, kept: Kept, known: Known, changes: RemoteChange[], unreadable: string[], ctx: SourceContext): Promise<Map<string, string | null>> {
    const listed = new Map<string, string | null>();
    for (const k of kept.seen) listed.set(k, known.get(k) ?? null);
    for (const c of changes) if (c.kind === "upsert") listed.set(c.ref.id, c.ref.etag);
    for (const [k, g] of kept.series) {
      let s: Series | undefined = { key: k, master: g.master, instances: [...g.instances.values()] };
      if (kept.mixed.has(k)) {
        // Listed both as a plain event and as instances: read the whole series as it is now.
        const uid = g.master?.iCalUID ?? [...g.instances.values()].find((i) => i.iCalUID)?.iCalUID ?? (await this.a.reader.event(cal, k, ctx))?.iCalUID;
        s = uid ? (await this.a.reader.seriesByUid(cal, uid, ctx)).get(k) : undefined;
      }
      if (!s || !isLive(s)) {
        // Gone in the snapshot; but a cached version that moved since the listing began (a client
        // re-created it between pages) stays: the incremental sync from the listing's token decides.
        if (known.has(k) && known.get(k) !== kept.start.get(k)) listed.set(k, known.get(k) ?? null);
        else listed.delete(k);
        continue;
      }
      const version = versionOf(s);
      listed.set(k, version);
      // A mixed key was read just now (not from the snapshot), and its plain part already went out.
      if (kept.mixed.has(k) ? known.get(k) === version : !sendable(k, version, kept, known)) continue;
      const c = await this.a.upsert(cal, s, version, ctx, unreadable);
      if (c) changes.push(c);
    }
    // An id the cache holds that the listing did not show: deleted, or written back while the pages
    // ran (after the snapshot the page tokens carry). Read before it counts as gone.
    for (const [id, etag] of known) {
      if (listed.has(id) || kept.shown.has(id)) continue;
      const e = await this.a.reader.event(cal, id, ctx);
      if (e && !isCancelled(e)) listed.set(id, etag);
    }
    return listed;
  }
}

/**
 * Whether the listing's version of `key` goes out: not when the cache already holds it, nor when the
 * cache's version moved since the listing began (its snapshot is older than the cache then).
 */
function sendable(key: string, version: string, kept: Kept, known: Known): boolean {
  const now = known.get(key);
  return now !== version && now === kept.start.get(key);
}
