/**
 * `type: microsoft` sources: Microsoft Graph v1.0 through the official client (client.ts).
 *
 * Model: a calendar object resource is one Graph series (groups.ts): the RemoteRef id is the master's
 * (or single's) id, its version tag combines the master's etag, its exceptions' etags and the list of
 * cancelled occurrences; translate.ts turns the series into iCalendar and back.
 *  - listCalendars: /me/calendars (name, hexColor or the colour enum, canEdit);
 *  - pull: calendarView/delta over a window (config `window`, default 365 days back, 730 ahead), every
 *    page of a round in one pull, the deltaLink stored verbatim in the cursor. A round without a cursor
 *    (or once the stored window's start is more than 30 days behind: the window slides) is a full
 *    listing; objects the cache holds that lie wholly outside the new window are listed with their
 *    known version, so leaving the window is not a deletion. Delta carries neither series masters nor
 *    extended properties: a changed series is read with its master (GET, $select with
 *    cancelledOccurrences and exceptionOccurrences, our properties expanded) and a GET per exception;
 *    changed singles with a GET each, or, for large full listings, one paged events list.
 *    @removed: a known key is read again (gone: deleted; moved out of the window: kept); unknown ids are
 *    ignored. 410 / syncStateNotFound / resyncRequired → CursorExpired (the engine lists again).
 *  - write/remove: write.ts; push: push.ts.
 * An idle poll costs one delta request per calendar (plus the engine's calendar list).
 */
import { createHash } from "node:crypto";
import type { MicrosoftSourceConfig } from "../../config/schema.ts";
import { NotFoundUpstream, Permanent, Transient, type Cursor, type PullPage, type RemoteCalendar, type RemoteChange, type RemoteRef, type SourceAdapter, type SourceContext, type Written } from "../adapter.ts";
import { occurrenceBounds } from "../../ical/bounds.ts";
import { parseCalendarObject } from "../../ical/parse.ts";
import { GraphApi, type GraphApiOptions } from "./client.ts";
import { cancelledDates, EXPAND_PROPS, groupDelta, parseVersion, unchanged, UID_PROPERTY_ID, versionOf, type SeriesAccess, type Series, type Touched } from "./groups.ts";
import { groupToIcs, type GraphEvent } from "./translate.ts";
import { MicrosoftWriter } from "./write.ts";
import { stopSubscription, watchCalendar, type WatchResult } from "./push.ts";

const CURSOR_PREFIX = "m1:";
const DAY = 86_400_000;
/** The window slides (a new full round) once its start is this much behind where it should be. */
const SLIDE_AFTER_MS = 30 * DAY;
const PAGE = 500;
/** Full listings needing more singles than this read them with one paged events list instead of a GET each. */
const BULK_AFTER = 40;

/** Every event field translate reads ($select is needed to get cancelledOccurrences / exceptionOccurrences). */
export const EVENT_FIELDS = [
  "subject", "body", "start", "end", "originalStartTimeZone", "originalEndTimeZone", "isAllDay", "recurrence", "showAs", "sensitivity",
  "importance", "categories", "isReminderOn", "reminderMinutesBeforeStart", "attendees", "organizer", "location", "locations", "isOnlineMeeting",
  "onlineMeeting", "onlineMeetingProvider", "isCancelled", "transactionId", "lastModifiedDateTime", "createdDateTime", "type", "seriesMasterId",
  "iCalUId", "uid", "originalStart", "responseRequested", "allowNewTimeProposals", "hideAttendees", "isDraft", "changeKey",
].join(",");

/** Outlook's calendar colour enum → hex (the colours Outlook on the web shows). */
const COLOURS: Record<string, string> = {
  lightBlue: "#A6D1F5", lightGreen: "#87D28E", lightOrange: "#FCAB73", lightGray: "#C0C0C0", lightYellow: "#F9E26F",
  lightTeal: "#6DD1D1", lightPink: "#F0A3D2", lightBrown: "#CBA37B", lightRed: "#F1858C",
};

interface CursorState { readonly from: string; readonly to: string; readonly link: string }
const q = (s: string): string => encodeURIComponent(s);

export class MicrosoftAdapter implements SourceAdapter, SeriesAccess {
  readonly caps = { write: true, remove: true, incremental: true, push: true, calendarWrite: false };
  readonly api: GraphApi;
  private readonly writer: MicrosoftWriter;

  constructor(readonly cfg: MicrosoftSourceConfig, opts: GraphApiOptions) {
    this.api = new GraphApi(cfg, opts);
    this.writer = new MicrosoftWriter(this);
  }
  get requests(): number {
    return this.api.requests;
  }

  async listCalendars(ctx: SourceContext): Promise<RemoteCalendar[]> {
    const warning = await this.api.expiryWarning(ctx);
    if (warning) await ctx.warn(warning);
    const out: RemoteCalendar[] = [];
    let link: string | undefined = "/me/calendars?$top=100";
    while (link) {
      const page: { value?: { id: string; name?: string; color?: string; hexColor?: string; canEdit?: boolean; isDefaultCalendar?: boolean; owner?: { address?: string } }[]; "@odata.nextLink"?: string } = await this.api.call("calendars.list", "read", { method: "GET", path: link }, ctx);
      for (const c of page.value ?? []) {
        const name = c.name ?? c.id;
        const wanted = this.cfg.calendars;
        if (wanted && !wanted.some((w) => w === c.id || w === name || (c.isDefaultCalendar && w === "primary"))) continue;
        out.push({
          id: c.id,
          nameHint: c.isDefaultCalendar ? "primary" : name,
          displayname: name,
          color: c.hexColor ? c.hexColor.toUpperCase() : (COLOURS[c.color ?? ""] ?? null),
          description: null,
          components: ["VEVENT"],
          version: null, // the delta link is the cursor; the calendar's changeKey does not follow its events
          writable: c.canEdit !== false,
          ...(c.owner?.address ? { ownerAddresses: [c.owner.address.toLowerCase()] } : {}),
        });
      }
      link = page["@odata.nextLink"];
    }
    return out;
  }

  /** iCalendar text of a series. */
  icsOf(s: Series): string {
    return groupToIcs({ master: s.master, exceptions: s.exceptions });
  }

  /** One event with our extended properties (and more fields when `select` is given); null when gone. */
  async event(id: string, ctx: SourceContext, select?: string): Promise<GraphEvent | null> {
    try {
      return await this.api.call<GraphEvent>("events.get", "read", { method: "GET", path: `/me/events/${q(id)}?${select ? `$select=${select}&` : ""}$expand=${EXPAND_PROPS}`, lookup: true }, ctx);
    } catch (e) {
      if (e instanceof NotFoundUpstream) return null;
      throw e;
    }
  }

  /** A series by its master's (single's) id: the master with its cancelled occurrences and its exceptions; null when gone. */
  async series(id: string, ctx: SourceContext): Promise<Series | null> {
    const master = await this.event(id, ctx, `${EVENT_FIELDS},cancelledOccurrences,exceptionOccurrences`);
    if (!master || master.type === "occurrence" || master.type === "exception") return null;
    const refs = (master.exceptionOccurrences ?? []) as { id?: string }[];
    const exceptions: GraphEvent[] = [];
    for (const r of refs) {
      const ex = r.id ? await this.event(r.id, ctx) : null;
      if (ex) exceptions.push(ex);
    }
    const { exceptionOccurrences: _x, ...rest } = master;
    return { key: id, master: rest, exceptions, cancelled: cancelledDates(master) };
  }

  private change(s: Series, unreadable: string[]): RemoteChange | null {
    try {
      return { kind: "upsert", ref: { id: s.key, etag: versionOf(s) }, ics: this.icsOf(s), nameHint: `${createHash("sha256").update(s.key).digest("base64url").slice(0, 22)}.ics` };
    } catch (e) {
      unreadable.push(`${s.key}: ${(e as Error).message}`);
      return null;
    }
  }

  private windowOf(now: number): { from: string; to: string } {
    const w = this.cfg.window ?? { pastDays: 365, futureDays: 730 };
    const day0 = Math.floor(now / DAY) * DAY;
    return { from: new Date(day0 - w.pastDays * DAY).toISOString(), to: new Date(day0 + (w.futureDays + 1) * DAY).toISOString() };
  }

  private parseCursor(cursor: Cursor | null): CursorState | null {
    if (!cursor?.startsWith(CURSOR_PREFIX)) return null;
    try {
      return JSON.parse(cursor.slice(CURSOR_PREFIX.length)) as CursorState;
    } catch {
      return null;
    }
  }

  async pull(cal: RemoteCalendar, cursor: Cursor | null, ctx: SourceContext): Promise<PullPage> {
    const now = this.api.clock.now();
    const stored = this.parseCursor(cursor);
    const due = this.windowOf(now);
    const slide = stored !== null && Date.parse(due.from) - Date.parse(stored.from) > SLIDE_AFTER_MS;
    const win = stored && !slide ? stored : due;
    let link = stored && !slide ? stored.link : `/me/calendars/${q(cal.id)}/calendarView/delta?startDateTime=${q(win.from)}&endDateTime=${q(win.to)}`;
    const items: GraphEvent[] = [];
    for (;;) {
      const page: { value?: GraphEvent[]; "@odata.nextLink"?: string; "@odata.deltaLink"?: string } = await this.api.call("calendarView.delta", "read", { method: "GET", path: link, headers: { Prefer: `odata.maxpagesize=${PAGE}` } }, ctx);
      items.push(...(page.value ?? []));
      if (page["@odata.deltaLink"]) {
        link = page["@odata.deltaLink"];
        break;
      }
      if (!page["@odata.nextLink"]) throw new Transient(`Microsoft Graph delta of calendar ${cal.id} ended without a deltaLink`);
      link = page["@odata.nextLink"];
    }
    const next = CURSOR_PREFIX + JSON.stringify({ from: win.from, to: win.to, link } satisfies CursorState);
    const { touched, removedIds } = groupDelta(items);
    if (stored === null || slide) return this.fullListing(cal, touched, win, next, ctx, slide ? "the sync window moved" : undefined);
    return this.incremental(cal, touched, removedIds, win, next, ctx);
  }

  private async fullListing(cal: RemoteCalendar, touched: Map<string, Touched>, win: { from: string; to: string }, next: Cursor, ctx: SourceContext, why?: string): Promise<PullPage> {
    const known = await ctx.known(cal);
    const listed = new Map<string, string | null>();
    const changes: RemoteChange[] = [];
    const unreadable: string[] = [];
    const stale = [...touched.values()].filter((t) => !unchanged(t, known.get(t.key)));
    const singles = stale.filter((t) => t.single && t.exceptions.size === 0);
    const bulk = singles.length > BULK_AFTER ? await this.allEvents(cal, ctx) : null;
    for (const t of touched.values()) {
      if (unchanged(t, known.get(t.key))) {
        listed.set(t.key, known.get(t.key)!);
        continue;
      }
      const fromList = t.single && bulk?.get(t.key);
      const s = fromList && fromList["@odata.etag"] === t.single!["@odata.etag"] ? { key: t.key, master: fromList, exceptions: [], cancelled: [] } : await this.series(t.key, ctx);
      if (!s) continue;
      listed.set(t.key, versionOf(s));
      if (known.get(t.key) === versionOf(s)) continue;
      const c = this.change(s, unreadable);
      if (c) changes.push(c);
    }
    // What the cache holds outside the window stays (leaving the window is not a deletion). A known id
    // delta did not show is read before it counts as gone: delta never shows masters, and a series whose
    // every occurrence is cancelled has no instance for it to show (found by the corpus test).
    for (const [id, etag] of known) {
      if (listed.has(id)) continue;
      if (await this.outside(cal, id, win, ctx)) {
        listed.set(id, etag);
        continue;
      }
      const s = await this.series(id, ctx);
      if (!s) continue;
      listed.set(id, versionOf(s));
      if (etag === versionOf(s)) continue;
      const c = this.change(s, unreadable);
      if (c) changes.push(c);
    }
    const notes = [why, unreadable.length ? `not translatable, kept as cached: ${unreadable.join("; ")}` : undefined].filter(Boolean);
    return { changes, next, done: true, full: true, listed, ...(notes.length ? { note: notes.join("; ") } : {}) };
  }

  /** Every single and master of a calendar with our properties (events list; pages of up to 1000). */
  private async allEvents(cal: RemoteCalendar, ctx: SourceContext): Promise<Map<string, GraphEvent>> {
    const out = new Map<string, GraphEvent>();
    let link: string | undefined = `/me/calendars/${q(cal.id)}/events?$top=1000&$expand=${EXPAND_PROPS}`;
    while (link) {
      const page: { value?: GraphEvent[]; "@odata.nextLink"?: string } = await this.api.call("events.list", "read", { method: "GET", path: link }, ctx);
      for (const e of page.value ?? []) if (e.id) out.set(e.id, e);
      link = page["@odata.nextLink"];
    }
    return out;
  }

  /** True when the cached object of `id` has no instance in the window (or nearly: a day of margin). */
  private async outside(cal: RemoteCalendar, id: string, win: { from: string; to: string }, ctx: SourceContext): Promise<boolean> {
    const cached = await ctx.cached(cal, id);
    if (!cached) return false;
    try {
      const b = occurrenceBounds(parseCalendarObject(cached.ics));
      return (b.end !== null && b.end <= Date.parse(win.from) + DAY) || (b.start !== null && b.start >= Date.parse(win.to) - DAY);
    } catch {
      return false;
    }
  }

  private async incremental(cal: RemoteCalendar, touched: Map<string, Touched>, removedIds: Set<string>, win: { from: string; to: string }, next: Cursor, ctx: SourceContext): Promise<PullPage> {
    const known = await ctx.known(cal);
    const changes: RemoteChange[] = [];
    const unreadable: string[] = [];
    const keys = new Set([...touched.values()].filter((t) => !unchanged(t, known.get(t.key))).map((t) => t.key));
    for (const id of removedIds) {
      if (touched.has(id)) continue;
      if (known.has(id)) {
        // Deleted, or moved out of the window (Graph reports both as removed): read it to know which.
        if (!(await this.outside(cal, id, win, ctx))) keys.add(id);
        continue;
      }
      // An exception of a known series (deleting an exception cancels it)?
      for (const [key, tag] of known) if (tag?.startsWith("{") && parseVersion(tag).x.has(id)) keys.add(key);
    }
    for (const key of keys) {
      const s = await this.series(key, ctx);
      if (!s) {
        if (known.has(key)) changes.push({ kind: "delete", id: key });
        continue;
      }
      if (known.get(key) === versionOf(s)) continue;
      const c = this.change(s, unreadable);
      if (c) changes.push(c);
    }
    return { changes, next, done: true, full: false, ...(unreadable.length ? { note: `not translatable, kept as cached: ${unreadable.join("; ")}` } : {}) };
  }

  async get(cal: RemoteCalendar, id: string, ctx: SourceContext): Promise<{ ref: RemoteRef; ics: string } | null> {
    const s = await this.series(id, ctx);
    return s ? { ref: { id, etag: versionOf(s) }, ics: this.icsOf(s) } : null;
  }

  /** The id of the single or master carrying our UID property (written with every event calgate creates). */
  async idByUid(cal: RemoteCalendar, uid: string, ctx: SourceContext): Promise<string | null> {
    const filter = `singleValueExtendedProperties/Any(ep: ep/id eq '${UID_PROPERTY_ID}' and ep/value eq '${uid.replace(/'/g, "''")}')`;
    const page: { value?: GraphEvent[] } = await this.api.call("events.list", "read", { method: "GET", path: `/me/calendars/${q(cal.id)}/events?$filter=${q(filter)}&$select=id,type` }, ctx);
    return page.value?.find((e) => e.id)?.id ?? null;
  }

  async locate(cal: RemoteCalendar, target: { readonly name: string; readonly uid: string | null }, ctx: SourceContext): Promise<{ ref: RemoteRef; ics: string } | null> {
    if (target.uid === null) return null;
    const id = await this.idByUid(cal, target.uid, ctx);
    return id ? this.get(cal, id, ctx) : null;
  }

  private readOnly(cal: RemoteCalendar): Permanent {
    return new Permanent(`calendar "${cal.displayname ?? cal.id}" is read-only for calgate's Microsoft account (canEdit is false)`, 403);
  }

  write(cal: RemoteCalendar, item: { readonly name: string; readonly ref: RemoteRef | null; readonly ics: string }, ctx: SourceContext): Promise<Written> {
    if (!cal.writable) return Promise.reject(this.readOnly(cal));
    return this.writer.write(cal, item, ctx);
  }

  remove(cal: RemoteCalendar, ref: RemoteRef, ctx: SourceContext): Promise<void> {
    if (!cal.writable) return Promise.reject(this.readOnly(cal));
    return this.writer.remove(cal, ref, ctx);
  }

  watch(cal: RemoteCalendar, callbackUrl: string, ctx: SourceContext): Promise<WatchResult> {
    return watchCalendar(this.api, cal, callbackUrl, ctx);
  }

  unwatch(sub: { readonly id: string; readonly data: unknown }, ctx: SourceContext): Promise<void> {
    return stopSubscription(this.api, sub, ctx);
  }
}
