/**
 * `type: google` sources: Google Calendar API v3 through the official client (client.ts).
 *
 * Model: a calendar object resource is one Google series (groups.ts): the RemoteRef id is the
 * master's event id, its version tag combines the etags of the master and of every instance Google
 * keeps as an event, and translate.ts turns the series into iCalendar and back.
 *  - listCalendars: calendarList (names, colours, accessRole: reader and freeBusyReader calendars are
 *    read-only);
 *  - pull: events.list with singleEvents=false. Without a cursor it is a full listing, a page per pull
 *    (full-listing.ts); with one, an incremental list by syncToken, every page in one call (nextSyncToken
 *    comes only on the last page, and an interrupted paging run yields no usable token), where a changed
 *    exception or cancelled occurrence refetches its series by iCalUID (one request). 410
 *    fullSyncRequired → CursorExpired, and the engine restarts with a full listing that neither
 *    duplicates nor drops events.
 *  - write/remove: write.ts.
 * An idle poll costs one events.list per calendar (plus the calendarList of the engine's listing).
 */
import type { GoogleSourceConfig } from "../../config/schema.ts";
import { Permanent, Transient, type Cursor, type PullPage, type RemoteCalendar, type RemoteChange, type RemoteRef, type SourceAdapter, type SourceContext, type Written } from "../adapter.ts";
import type { GoogleApi, GoogleApiOptions } from "./client.ts";
import { GoogleReader } from "./reader.ts";
import { groupSeries, isCancelled, isLive, versionOf, type GEvent, type Series } from "./groups.ts";
import { GoogleWriter } from "./write.ts";
import { GoogleFullListing, parseListingCursor } from "./full-listing.ts";
import { stopChannel, watchCalendar, type WatchResult } from "./push.ts";

const PAGE = 2500;
const CURSOR_PREFIX = "g1:";
/** Writable access roles (reference: calendarList accessRole). */
const WRITABLE = new Set(["owner", "writer"]);

export class GoogleAdapter implements SourceAdapter {
  readonly caps = { write: true, remove: true, incremental: true, push: true, calendarWrite: false };
  readonly reader: GoogleReader;
  private readonly writer: GoogleWriter;
  private readonly listing: GoogleFullListing;

  /** `listingPage`: events per page of a full listing (tests use a few). */
  constructor(readonly cfg: GoogleSourceConfig, opts: GoogleApiOptions & { listingPage?: number }) {
    this.reader = new GoogleReader(cfg, opts);
    this.writer = new GoogleWriter(this.reader);
    this.listing = new GoogleFullListing(this, opts.listingPage);
  }
  private get api(): GoogleApi {
    return this.reader.api;
  }
  private get zones(): Map<string, string> {
    return this.reader.zones;
  }
  get requests(): number {
    return this.api.requests;
  }

  async listCalendars(ctx: SourceContext): Promise<RemoteCalendar[]> {
    const warning = await this.api.expiryWarning(ctx);
    if (warning) await ctx.warn(warning);
    const out: RemoteCalendar[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.api.call("calendarList.list", "read", (a, o) => a.calendarList.list({ maxResults: 250, ...(pageToken ? { pageToken } : {}) }, o), ctx);
      for (const c of page.items ?? []) {
        if (!c.id || c.deleted) continue;
        const name = c.summaryOverride ?? c.summary ?? c.id;
        const wanted = this.cfg.calendars;
        if (wanted && !wanted.some((w) => w === c.id || w === name || (c.primary && w === "primary"))) continue;
        if (c.timeZone) this.zones.set(c.id, c.timeZone);
        out.push({
          id: c.id,
          // The primary calendar is "primary" in URLs and mirror rules (PRODUCT.md: work/primary).
          nameHint: c.primary ? "primary" : name,
          displayname: name,
          color: c.backgroundColor ?? null,
          description: c.description ?? null,
          components: ["VEVENT"],
          version: null, // Google has no cheap per-calendar change marker; the sync token is the cursor
          writable: WRITABLE.has(c.accessRole ?? ""),
          // A Google calendar's id is the address events it organises carry as organizer.email.
          ...(c.id.includes("@") ? { ownerAddresses: [c.id.toLowerCase()] } : {}),
        });
      }
      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken);
    return out;
  }

  async pull(cal: RemoteCalendar, cursor: Cursor | null, ctx: SourceContext): Promise<PullPage> {
    const syncToken = cursor?.startsWith(CURSOR_PREFIX) ? cursor.slice(CURSOR_PREFIX.length) : null;
    if (syncToken === null) return this.listing.page(cal, parseListingCursor(cursor), ctx, (token) => CURSOR_PREFIX + token);
    this.listing.finished(cal);
    const items: GEvent[] = [];
    let pageToken: string | undefined;
    let nextSyncToken: string | null = null;
    do {
      // The identical query on every page and on every incremental run (reference section 4).
      const page = await this.api.call("events.list", "read", (a, o) => a.events.list({ calendarId: cal.id, maxResults: PAGE, singleEvents: false, syncToken, ...(pageToken ? { pageToken } : {}) }, o), ctx);
      items.push(...(page.items ?? []));
      if (page.timeZone) this.zones.set(cal.id, page.timeZone);
      pageToken = page.nextPageToken ?? undefined;
      nextSyncToken = page.nextSyncToken ?? null;
    } while (pageToken);
    if (nextSyncToken === null) throw new Transient(`Google events.list of ${cal.id} ended without a nextSyncToken`);
    return this.incremental(cal, items, CURSOR_PREFIX + nextSyncToken, ctx);
  }

  private async incremental(cal: RemoteCalendar, items: GEvent[], next: Cursor, ctx: SourceContext): Promise<PullPage> {
    const changes: RemoteChange[] = [];
    const unreadable: string[] = [];
    for (const s of groupSeries(items).values()) {
      const m = s.master;
      if (m && s.instances.length === 0) {
        if (isCancelled(m)) {
          changes.push({ kind: "delete", id: s.key }); // a deleted event: a stub with only its id
          continue;
        }
        if (!m.recurrence?.length) {
          const change = await this.upsert(cal, s, versionOf(s), ctx, unreadable);
          if (change) changes.push(change);
          continue;
        }
      }
      // A series, a changed exception or a cancelled occurrence: read the whole series again.
      const uid = m?.iCalUID ?? s.instances.find((i) => i.iCalUID)?.iCalUID ?? (await ctx.cached(cal, s.key))?.uid ?? (await this.reader.event(cal, s.key, ctx))?.iCalUID ?? null;
      const now = uid ? (await this.reader.seriesByUid(cal, uid, ctx)).get(s.key) : undefined;
      if (!now || !isLive(now)) {
        changes.push({ kind: "delete", id: s.key });
        continue;
      }
      const change = await this.upsert(cal, now, versionOf(now), ctx, unreadable);
      if (change) changes.push(change);
    }
    return { changes, next, done: true, full: false, ...(unreadable.length ? { note: `not translatable, kept as cached: ${unreadable.join("; ")}` } : {}) };
  }

  async upsert(cal: RemoteCalendar, s: Series, version: string, ctx: SourceContext, unreadable: string[]): Promise<RemoteChange | null> {
    try {
      return { kind: "upsert", ref: { id: s.key, etag: version }, ics: await this.reader.icsOf(cal, s, ctx), nameHint: `${s.key}.ics` };
    } catch (e) {
      unreadable.push(`${s.key}: ${(e as Error).message}`);
      return null;
    }
  }

  async get(cal: RemoteCalendar, id: string, ctx: SourceContext): Promise<{ ref: RemoteRef; ics: string } | null> {
    let uid = (await ctx.cached(cal, id))?.uid ?? null;
    if (uid === null) {
      const e = await this.reader.event(cal, id, ctx);
      if (!e || !e.iCalUID) return null;
      uid = e.iCalUID;
    }
    const s = (await this.reader.seriesByUid(cal, uid, ctx)).get(id);
    if (!s || !isLive(s)) return null;
    return { ref: { id, etag: versionOf(s) }, ics: await this.reader.icsOf(cal, s, ctx) };
  }

  /** Google keys events by iCalUID (the name a client chose never reaches Google). */
  async locate(cal: RemoteCalendar, target: { readonly name: string; readonly uid: string | null }, ctx: SourceContext): Promise<{ ref: RemoteRef; ics: string } | null> {
    if (target.uid === null) return null;
    const live = [...(await this.reader.seriesByUid(cal, target.uid, ctx)).values()].filter(isLive);
    const s = live.find((x) => x.master !== null) ?? live[0];
    return s ? { ref: { id: s.key, etag: versionOf(s) }, ics: await this.reader.icsOf(cal, s, ctx) } : null;
  }

  write(cal: RemoteCalendar, item: { readonly name: string; readonly ref: RemoteRef | null; readonly ics: string }, ctx: SourceContext): Promise<Written> {
    if (!cal.writable) return Promise.reject(new Permanent(`calendar "${cal.displayname ?? cal.id}" is shared with calgate's Google account read-only`, 403));
    return this.writer.write(cal, item, ctx);
  }

  remove(cal: RemoteCalendar, ref: RemoteRef, ctx: SourceContext): Promise<void> {
    if (!cal.writable) return Promise.reject(new Permanent(`calendar "${cal.displayname ?? cal.id}" is shared with calgate's Google account read-only`, 403));
    return this.writer.remove(cal, ref, ctx);
  }

  watch(cal: RemoteCalendar, callbackUrl: string, ctx: SourceContext): Promise<WatchResult> {
    return watchCalendar(this.api, cal, callbackUrl, ctx);
  }

  unwatch(sub: { readonly id: string; readonly data: unknown }, ctx: SourceContext): Promise<void> {
    return stopChannel(this.api, sub, ctx);
  }
}
