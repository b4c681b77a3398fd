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
 * After a restart mid-listing (or an eviction, or a page token Google no longer accepts) the listing
 * starts again from its first page: what was applied is then unchanged and skipped.
 */
import { randomUUID } from "node:crypto";
import { CursorExpired, Transient, type Cursor, type PullPage, type RemoteCalendar, type RemoteChange, type SourceContext } from "../adapter.ts";
import { ListingMemory } from "../listing-memory.ts";
import { isCancelled, isLive, seriesKeyOf, versionOf, type GEvent, type Series } from "./groups.ts";
import type { GoogleReader } from "./reader.ts";

export const LISTING_PREFIX = "g1l:";
/** Events per page of a full listing (Google's maximum is 2,500). */
const LISTING_PAGE = 1000;

/** Where a paged listing stands: its id (to find what it kept) and the next page's token. */
interface ListingCursor { readonly id: string; readonly pageToken: string }

interface Kept {
  /** Keys of the live objects listed so far. */
  readonly seen: Set<string>;
  /** Recurring series (masters and instances) listed so far, sent with the last page. */
  readonly series: Map<string, { master: GEvent | null; instances: Map<string, GEvent> }>;
}

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
    if (!kept) at = null;
    const id = at?.id ?? randomUUID();
    const key = `${cal.id}\n${id}`;
    kept ??= this.memory.set(key, { seen: new Set(), series: new Map() });
    let page;
    try {
      page = await this.a.reader.api.call("events.list", "read", (api, o) => api.events.list({ calendarId: cal.id, maxResults: this.pageSize, singleEvents: false, ...(at ? { pageToken: at.pageToken } : {}) }, o), ctx);
    } catch (e) {
      // A page token Google no longer takes: a later pull lists again from the start.
      if (at && (e as { status?: number }).status === 400) {
        this.memory.drop(key);
        throw new CursorExpired(`Google refused the listing's page token (${(e as Error).message}); listing again`);
      }
      throw e;
    }
    if (page.timeZone) this.a.reader.zones.set(cal.id, page.timeZone);
    const known = await ctx.known(cal);
    const changes: RemoteChange[] = [];
    const unreadable: string[] = [];
    for (const e of page.items ?? []) {
      if (!e.id) continue;
      if (e.recurringEventId || e.recurrence?.length) {
        const k = seriesKeyOf(e);
        let s = kept.series.get(k);
        if (!s) kept.series.set(k, (s = { master: null, instances: new Map() }));
        if (e.recurringEventId) s.instances.set(e.id, e);
        else s.master = e;
        continue;
      }
      if (isCancelled(e)) continue;
      kept.seen.add(e.id);
      const s: Series = { key: e.id, master: e, instances: [] };
      if (known.get(e.id) === versionOf(s)) continue;
      const c = await this.a.upsert(cal, s, versionOf(s), ctx, unreadable);
      if (c) changes.push(c);
    }
    const note = unreadable.length ? { note: `not translatable, kept as cached: ${unreadable.join("; ")}` } : {};
    if (page.nextPageToken) return { changes, next: listingCursor({ id, pageToken: page.nextPageToken }), done: false, full: true, ...note };
    if (!page.nextSyncToken) throw new Transient(`Google events.list of ${cal.id} ended without a nextSyncToken`);
    this.memory.drop(key);
    const listed = await this.lastPage(cal, kept, known, changes, unreadable, ctx);
    return { changes, next: syncCursor(page.nextSyncToken), done: true, full: true, listed, ...(unreadable.length ? { note: `not translatable, kept as cached: ${unreadable.join("; ")}` } : {}) };
  }

  /** Sends the recurring series changed, reads what the cache holds that was not listed; the listing. */
  private async lastPage(cal: RemoteCalendar, kept: Kept, known: ReadonlyMap<string, string | null>, changes: RemoteChange[], unreadable: string[], ctx: SourceContext): Promise<Map<string, string | null>> {
    const listed = new Map<string, string | null>();
    for (const k of kept.seen) listed.set(k, known.get(k) ?? null);
    for (const c of changes) if (c.kind === "upsert") listed.set(c.ref.id, c.ref.etag);
    for (const [k, g] of kept.series) {
      const s: Series = { key: k, master: g.master, instances: [...g.instances.values()] };
      if (!isLive(s)) continue;
      const version = versionOf(s);
      listed.set(k, version);
      if (known.get(k) === version) continue;
      const c = await this.a.upsert(cal, s, version, ctx, unreadable);
      if (c) changes.push(c);
    }
    // An id the cache holds that the listing did not show: deleted, or written back while the pages
    // ran (after the snapshot the page tokens carry). Read before it counts as gone.
    for (const [id, etag] of known) {
      if (listed.has(id)) continue;
      const e = await this.a.reader.event(cal, id, ctx);
      if (e && !isCancelled(e)) listed.set(id, etag);
    }
    return listed;
  }
}
