/**
 * `type: microsoft` sources: Microsoft Graph v1.0 through the official client (client.ts).
 *
 * Model: a calendar object resource is one Graph series (groups.ts): the RemoteRef id is the master's
 * (or single's) id, its version tag combines the master's etag, its exceptions' etags and the list of
 * cancelled occurrences; translate.ts turns the series into iCalendar and back.
 *  - listCalendars: /me/calendars (name, hexColor or the colour enum, canEdit);
 *  - pull: calendarView/delta over a window (config `window`, default 365 days back, 730 ahead), every
 *    page of a round in one pull (folded into ids and etags as it comes), the deltaLink stored verbatim
 *    in the cursor. A round without a cursor (or once the stored window's start is more than 30 days
 *    behind: the window slides) is a full listing, fetched in pages (full-listing.ts); objects the cache
 *    holds that lie wholly outside the new window are listed with their known version, so leaving the
 *    window is not a deletion. Delta carries neither series masters nor extended properties: a changed
 *    series is read with its master (GET, $select with cancelledOccurrences and exceptionOccurrences, our
 *    properties expanded) and a GET per exception; changed singles with a GET each, or, for large full
 *    listings, pages of the events list.
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
import { cancelledDates, DeltaGroups, EXPAND_PROPS, parseVersion, unchanged, UID_PROPERTY_ID, versionOf, type Series } from "./groups.ts";
import { cursorOf, GraphFullListing, parseCursor, type ListingAccess, type Window } from "./full-listing.ts";
import { groupToIcs, type GraphEvent } from "./translate.ts";
import { MicrosoftWriter } from "./write.ts";
import { stopSubscription, watchCalendar, type WatchResult } from "./push.ts";

const DAY = 86_400_000;
/** The window slides (a new full round) once its start is this much behind where it should be. */
const SLIDE_AFTER_MS = 30 * DAY;
/** Delta entries per page (Prefer: odata.maxpagesize). */
const PAGE = 500;

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

const q = (s: string): string => encodeURIComponent(s);

export class MicrosoftAdapter implements SourceAdapter, ListingAccess {
  readonly caps = { write: true, remove: true, incremental: true, push: true, calendarWrite: false };
  readonly api: GraphApi;
  private readonly writer: MicrosoftWriter;
  private readonly listing: GraphFullListing;

  /** `listingPage`: events per page and series per pull of a full listing (tests use a few). */
  constructor(readonly cfg: MicrosoftSourceConfig, opts: GraphApiOptions & { listingPage?: number }) {
    this.api = new GraphApi(cfg, opts);
    this.writer = new MicrosoftWriter(this);
    this.listing = new GraphFullListing(this, opts.listingPage);
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

  changeOf(s: Series, unreadable: string[]): RemoteChange | null {
    try {
      return { kind: "upsert", ref: { id: s.key, etag: versionOf(s) }, ics: this.icsOf(s), nameHint: `${createHash("sha256").update(s.key).digest("base64url").slice(0, 22)}.ics` };
    } catch (e) {
      unreadable.push(`${s.key}: ${(e as Error).message}`);
      return null;
    }
  }

  private windowOf(now: number): Window {
    const w = this.cfg.window ?? { pastDays: 365, futureDays: 730 };
    const day0 = Math.floor(now / DAY) * DAY;
    return { from: new Date(day0 - w.pastDays * DAY).toISOString(), to: new Date(day0 + (w.futureDays + 1) * DAY).toISOString() };
  }

  async pull(cal: RemoteCalendar, cursor: Cursor | null, ctx: SourceContext): Promise<PullPage> {
    const stored = parseCursor(cursor);
    if (stored?.listing) return this.listing.page(cal, stored, ctx);
    const due = this.windowOf(this.api.clock.now());
    if (stored === null) return this.listing.begin(cal, due, ctx);
    if (Date.parse(due.from) - Date.parse(stored.from) > SLIDE_AFTER_MS) return this.listing.begin(cal, due, ctx, "the sync window moved");
    this.listing.finished(cal);
    const round = await this.deltaRound(cal, stored.link, ctx);
    return this.incremental(cal, round.groups, stored, cursorOf({ from: stored.from, to: stored.to, link: round.link }), ctx);
  }

  /** A whole calendarView delta round from `link`, folded page by page (the events are not kept). */
  async deltaRound(cal: RemoteCalendar, link: string, ctx: SourceContext): Promise<{ groups: DeltaGroups; link: string }> {
    const groups = new DeltaGroups();
    for (;;) {
      const page: { value?: GraphEvent[]; "@odata.nextLink"?: string; "@odata.deltaLink"?: string } = await this.api.call("calendarView.delta", "read", { method: "GET", path: link, headers: { Prefer: `odata.maxpagesize=${PAGE}` } }, ctx);
      groups.add(page.value ?? []);
      if (page["@odata.deltaLink"]) return { groups, link: page["@odata.deltaLink"] };
      if (!page["@odata.nextLink"]) throw new Transient(`Microsoft Graph delta of calendar ${cal.id} ended without a deltaLink`);
      link = page["@odata.nextLink"];
    }
  }

  /** True when the cached object of `id` has no instance in the window (or nearly: a day of margin). */
  async outsideWindow(cal: RemoteCalendar, id: string, win: Window, ctx: SourceContext): Promise<boolean> {
    const cached = await ctx.cached(cal, id);
    if (!cached) return false;
    try {
      const b = occurrenceBounds(parseCalendarObject(cached.ics));
      return (b.end !== null && b.end <= Date.parse(win.from) + DAY) || (b.start !== null && b.start >= Date.parse(win.to) - DAY);
    } catch {
      return false;
    }
  }

  private async incremental(cal: RemoteCalendar, groups: DeltaGroups, win: Window, next: Cursor, ctx: SourceContext): Promise<PullPage> {
    const { touched, removedIds } = groups;
    const known = await ctx.known(cal);
    const changes: RemoteChange[] = [];
    const unreadable: string[] = [];
    const keys = new Set([...touched.values()].filter((t) => !unchanged(t, known.get(t.key))).map((t) => t.key));
    for (const id of removedIds) {
      if (touched.has(id)) continue;
      if (known.has(id)) {
        // Deleted, or moved out of the window (Graph reports both as removed): read it to know which.
        if (!(await this.outsideWindow(cal, id, win, ctx))) keys.add(id);
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
      const c = this.changeOf(s, unreadable);
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
