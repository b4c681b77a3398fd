/**
 * A full listing of a Graph calendar (the first sync, a window that slid, a delta link Graph reset),
 * fetched in pages so that a large calendar is never held whole: a 10,000-event first sync held
 * the delta round's events, the bulk events list and every object's iCalendar at once and ran out
 * of memory under a 96 MB heap.
 *
 * The first pull makes one calendarView delta round (folded page by page into ids and etags,
 * groups.ts `DeltaGroups`) and keeps it in memory; then each pull fetches one page:
 *  - "bulk" (more than BULK_AFTER plain events changed): one page of the calendar's events list,
 *    used for the singles whose etag is the one delta listed (a GET each otherwise);
 *  - "series": up to a page of the remaining changed series (and singles), a read each, in key order;
 *  - the last page also reads the ids the cache holds that delta did not list (outside the window:
 *    kept; else read: a series whose every occurrence is cancelled has no instance; a write-back made
 *    while the pages ran is there), and carries `listed`.
 * `listed` is thus made in the last pull, after the engine's snapshot for it: every id the cache
 * held then is either listed by the round or read then.
 * After a restart mid-listing the window is listed again (a later snapshot) and the pages go on
 * from the cursor; the cursor keeps the first round's delta link, so the next delta reports again
 * whatever changed since the listing began.
 */
import type { Cursor, PullPage, RemoteCalendar, RemoteChange, SourceContext } from "../adapter.ts";
import { firstAfter, ListingMemory } from "../listing-memory.ts";
import { EXPAND_PROPS, etagOf, isSingle, unchanged, versionOf, type DeltaGroups, type Series, type SeriesAccess, type Touched } from "./groups.ts";
import type { GraphEvent } from "./translate.ts";

export const CURSOR_PREFIX = "m1:";
/** Plain events to fetch above which the listing reads the events list instead of a GET each. */
const BULK_AFTER = 40;
/** Events per page of the events list (each with its extended properties). */
const EVENTS_PAGE = 500;
/** Series (or singles) read per pull, a GET each (plus one per exception). */
const SERIES_PAGE = 100;

export interface Window { readonly from: string; readonly to: string }
/** Where a paged listing stands: a page of the events list to read, or the series after a key. */
export type ListingAt = { readonly phase: "bulk"; readonly events: string } | { readonly phase: "series"; readonly after: string | null };
export interface CursorState extends Window {
  /** The delta link of the listing's round: where the next delta starts. */
  readonly link: string;
  readonly listing?: ListingAt;
}

export const cursorOf = (s: CursorState): Cursor => CURSOR_PREFIX + JSON.stringify(s);
export function parseCursor(cursor: Cursor | null): CursorState | null {
  if (!cursor?.startsWith(CURSOR_PREFIX)) return null;
  try {
    return JSON.parse(cursor.slice(CURSOR_PREFIX.length)) as CursorState;
  } catch {
    return null;
  }
}

const q = (s: string): string => encodeURIComponent(s);
export const deltaStart = (cal: RemoteCalendar, win: Window): string => `/me/calendars/${q(cal.id)}/calendarView/delta?startDateTime=${q(win.from)}&endDateTime=${q(win.to)}`;

/** What the listing needs from the adapter. */
export interface ListingAccess extends SeriesAccess {
  /** A whole delta round from `link`, folded; the round's delta link. */
  deltaRound(cal: RemoteCalendar, link: string, ctx: SourceContext): Promise<{ groups: DeltaGroups; link: string }>;
  /** The upsert of a series (null, and a line in `unreadable`, when it cannot be translated). */
  changeOf(s: Series, unreadable: string[]): RemoteChange | null;
  /** True when the cached object of `id` has no instance in the window. */
  outsideWindow(cal: RemoteCalendar, id: string, win: Window, ctx: SourceContext): Promise<boolean>;
}

interface Listing {
  readonly touched: ReadonlyMap<string, Touched>;
  /** The keys in the order the series pages walk them. */
  readonly order: readonly string[];
  /** Keys read and found gone. */
  readonly gone: Set<string>;
  /** Plain events an events-list page could not translate: not read again by the series pages. */
  readonly tried: Set<string>;
  /** Why the listing happened (e.g. the window moved), noted on each of its pages. */
  readonly why: string | undefined;
}

const listingOf = (groups: DeltaGroups, why?: string): Listing => ({ touched: groups.touched, order: [...groups.touched.keys()].sort(), gone: new Set(), tried: new Set(), why });
type Known = ReadonlyMap<string, string | null>;

export class GraphFullListing {
  private readonly memory = new ListingMemory<Listing>();
  private readonly eventsPage: number;
  private readonly seriesPage: number;

  /** `page`: events per events-list page and series per pull (tests use a few). */
  constructor(private readonly a: ListingAccess, page?: number) {
    this.eventsPage = page ?? EVENTS_PAGE;
    this.seriesPage = page ?? SERIES_PAGE;
  }

  /** The first pull of a listing of `win`. */
  async begin(cal: RemoteCalendar, win: Window, ctx: SourceContext, why?: string): Promise<PullPage> {
    this.finished(cal);
    const round = await this.a.deltaRound(cal, deltaStart(cal, win), ctx);
    const l = listingOf(round.groups, why);
    const known = await ctx.known(cal);
    let singles = 0;
    for (const t of l.touched.values()) if (isSingle(t) && !unchanged(t, known.get(t.key))) singles++;
    const at: ListingAt = singles > BULK_AFTER ? { phase: "bulk", events: `/me/calendars/${q(cal.id)}/events?$top=${this.eventsPage}&$expand=${EXPAND_PROPS}` } : { phase: "series", after: null };
    const state: CursorState = { from: win.from, to: win.to, link: round.link, listing: at };
    this.memory.set(keyOf(cal, state), l);
    return this.page(cal, state, ctx);
  }

  /** The calendar's listing is over (an incremental pull began, or a new listing): forget what it kept. */
  finished(cal: RemoteCalendar): void {
    this.memory.dropWhere((k) => k.startsWith(`${cal.id}\n`));
  }

  /** The pull of a listing in progress (`state.listing` set). */
  async page(cal: RemoteCalendar, state: CursorState, ctx: SourceContext): Promise<PullPage> {
    const key = keyOf(cal, state);
    // Restarted (or evicted) mid-listing: list again. Later than `state.link`, which stays.
    const l = this.memory.get(key) ?? this.memory.set(key, listingOf((await this.a.deltaRound(cal, deltaStart(cal, state), ctx)).groups));
    const known = await ctx.known(cal);
    const changes: RemoteChange[] = [];
    const unreadable: string[] = [];
    const at = state.listing!;
    const nextAt = at.phase === "bulk" ? await this.bulkPage(at.events, l, known, changes, unreadable, ctx) : await this.seriesPages(at.after, l, known, changes, unreadable, ctx);
    let listed: Map<string, string | null> | undefined;
    if (nextAt === null) {
      listed = await this.lastPage(cal, state, l, known, changes, unreadable, ctx);
      // Dropped once the last page is made (a last page pulled again lists the window again).
      this.memory.drop(key);
    }
    const notes = [l.why, unreadable.length ? `not translatable, kept as cached: ${unreadable.join("; ")}` : undefined].filter(Boolean);
    const note = notes.length ? { note: notes.join("; ") } : {};
    if (listed === undefined) return { changes, next: cursorOf({ ...state, listing: nextAt! }), done: false, full: true, ...note };
    return { changes, next: cursorOf({ from: state.from, to: state.to, link: state.link }), done: true, full: true, listed, ...note };
  }

  /** One page of the events list: the plain events delta listed, at the version it listed. */
  private async bulkPage(link: string, l: Listing, known: Known, changes: RemoteChange[], unreadable: string[], ctx: SourceContext): Promise<ListingAt> {
    const page: { value?: GraphEvent[]; "@odata.nextLink"?: string } = await this.a.api.call("events.list", "read", { method: "GET", path: link }, ctx);
    for (const e of page.value ?? []) {
      const t = e.id ? l.touched.get(e.id) : undefined;
      // Changed since the round (or a series): the series pages read it.
      if (!t || !isSingle(t) || unchanged(t, known.get(t.key)) || etagOf(e) !== t.singleEtag) continue;
      const c = this.a.changeOf({ key: t.key, master: e, exceptions: [], cancelled: [] }, unreadable);
      if (c) changes.push(c);
      else l.tried.add(t.key);
    }
    const next = page["@odata.nextLink"];
    return next ? { phase: "bulk", events: next } : { phase: "series", after: null };
  }

  /** Up to a page of reads of the changed keys after `after`; null when the keys are all done. */
  private async seriesPages(after: string | null, l: Listing, known: Known, changes: RemoteChange[], unreadable: string[], ctx: SourceContext): Promise<ListingAt | null> {
    let reads = 0;
    for (let i = after === null ? 0 : firstAfter(l.order, after); i < l.order.length; i++) {
      const key = l.order[i]!;
      if (unchanged(l.touched.get(key)!, known.get(key)) || l.gone.has(key) || l.tried.has(key)) continue;
      if (reads >= this.seriesPage) return { phase: "series", after: l.order[i - 1] ?? null };
      reads++;
      const s = await this.a.series(key, ctx);
      if (!s) {
        l.gone.add(key);
        continue;
      }
      if (known.get(key) === versionOf(s)) continue;
      const c = this.a.changeOf(s, unreadable);
      if (c) changes.push(c);
    }
    return null;
  }

  /** The listing: what the round listed (less what was found gone) and every cached id read now. */
  private async lastPage(cal: RemoteCalendar, win: Window, l: Listing, known: Known, changes: RemoteChange[], unreadable: string[], ctx: SourceContext): Promise<Map<string, string | null>> {
    const listed = new Map<string, string | null>();
    for (const key of l.order) if (!l.gone.has(key)) listed.set(key, known.get(key) ?? null);
    for (const c of changes) if (c.kind === "upsert") listed.set(c.ref.id, c.ref.etag);
    // What the cache holds outside the window stays (leaving the window is not a deletion). A known id
    // delta did not show is read before it counts as gone: delta never shows masters, and a series whose
    // every occurrence is cancelled has no instance for it to show (found by the corpus test).
    for (const [id, etag] of known) {
      if (listed.has(id) || l.gone.has(id)) continue;
      if (await this.a.outsideWindow(cal, id, win, ctx)) {
        listed.set(id, etag);
        continue;
      }
      const s = await this.a.series(id, ctx);
      if (!s) continue;
      listed.set(id, versionOf(s));
      if (etag === versionOf(s)) continue;
      const c = this.a.changeOf(s, unreadable);
      if (c) changes.push(c);
    }
    return listed;
  }
}

const keyOf = (cal: RemoteCalendar, s: CursorState): string => `${cal.id}\n${s.from}\n${s.link}`;
