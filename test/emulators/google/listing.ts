/**
 * events.list and events.instances (reference §3, §4): filters, full and incremental sync,
 * expansion with singleEvents, ordering, and the list envelope.
 */
import { E } from "./errors.ts";
import type { EventOps } from "./events.ts";
import { defaultHorizon } from "./recurrence.ts";
import { renderEvent, renderStub, type RenderContext } from "./resource.ts";
import type { Calendar, Json, ListEntry, Store, StoredEvent } from "./store.ts";
import { bool, int, many, one, signature, type Pager, type Query } from "./sync.ts";
import { DAY_MS, dateStartInZone, hasOffset, hashId, isoMs, isValidTimeZone, parseDateTime } from "./util.ts";

/** Parameters that may not accompany a syncToken (§4). */
const FORBIDDEN_WITH_SYNC = ["iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty", "timeMin", "timeMax", "updatedMin"];
/** How far back updatedMin may reach (§4: "roughly the last 30 days"). */
const UPDATED_MIN_HORIZON_MS = 30 * DAY_MS;

interface Filters {
  timeMin?: number;
  timeMax?: number;
  iCalUID?: string;
  q?: string;
  priv: string[];
  shared: string[];
  eventTypes: string[];
  singleEvents: boolean;
}

function parseTime(q: Query, name: string): number | undefined {
  const v = one(q, name);
  if (v === undefined) return undefined;
  const ms = hasOffset(v) ? parseDateTime(v) : undefined;
  if (ms === undefined) throw E.invalid(`Bad Request`, name);
  return ms;
}

export function collectionEtag(store: Store, calendarId: string): string {
  let max = 0;
  for (const ev of store.calendarEvents(calendarId).values()) max = Math.max(max, ev.seq);
  return `"p3${hashId(`${calendarId}|${max}`, 14)}"`;
}

export class Listing {
  constructor(
    private readonly store: Store,
    private readonly ops: EventOps,
    private readonly pager: Pager,
  ) {}

  private bounds(ev: StoredEvent, tz: string): [number, number] {
    const t = (x: Json): number => (x.date ? dateStartInZone(x.date, tz) : Date.parse(x.dateTime));
    return [t(ev.res.start), t(ev.res.end)];
  }

  /** timeMin: exclusive bound on end; timeMax: exclusive bound on start (§3). */
  private inWindow(ev: StoredEvent, f: Filters, tz: string): boolean {
    if (f.timeMin === undefined && f.timeMax === undefined) return true;
    if (this.ops.isMaster(ev)) {
      const until = f.timeMax ?? defaultHorizon(this.store.now(), ev.res);
      return this.ops.instances(ev, until, true).some((i) => this.inWindow(i, f, tz));
    }
    const [s, e] = this.bounds(ev, tz);
    return (f.timeMin === undefined || e > f.timeMin || (e === s && s >= f.timeMin)) && (f.timeMax === undefined || s < f.timeMax);
  }

  private matches(ev: StoredEvent, f: Filters, tz: string): boolean {
    const r = ev.res;
    if (f.iCalUID !== undefined && r.iCalUID !== f.iCalUID) return false;
    if (f.eventTypes.length > 0 && !f.eventTypes.includes(r.eventType ?? "default")) return false;
    for (const [list, scope] of [[f.priv, "private"], [f.shared, "shared"]] as const) {
      for (const kv of list) {
        const i = kv.indexOf("=");
        if (r.extendedProperties?.[scope]?.[kv.slice(0, i)] !== kv.slice(i + 1)) return false;
      }
    }
    if (f.q) {
      const hay = [r.summary, r.description, r.location, r.organizer?.email, r.organizer?.displayName, ...(r.attendees ?? []).flatMap((a: Json) => [a.email, a.displayName])]
        .filter((x) => typeof x === "string").join("\n").toLowerCase();
      if (!f.q.toLowerCase().split(/\s+/).filter(Boolean).every((t) => hay.includes(t))) return false;
    }
    return this.inWindow(ev, f, tz);
  }

  private filtersOf(q: Query): Filters {
    const f: Filters = { priv: many(q, "privateExtendedProperty"), shared: many(q, "sharedExtendedProperty"), eventTypes: many(q, "eventTypes"), singleEvents: bool(q, "singleEvents") ?? false };
    const timeMin = parseTime(q, "timeMin");
    const timeMax = parseTime(q, "timeMax");
    if (timeMin !== undefined) f.timeMin = timeMin;
    if (timeMax !== undefined) f.timeMax = timeMax;
    if (timeMin !== undefined && timeMax !== undefined && timeMin >= timeMax) throw E.timeRangeEmpty();
    const uid = one(q, "iCalUID");
    if (uid !== undefined) f.iCalUID = uid;
    const text = one(q, "q");
    if (text !== undefined) f.q = text;
    for (const kv of [...f.priv, ...f.shared]) if (!kv.includes("=")) throw E.invalid("Invalid extended property filter.", "privateExtendedProperty");
    return f;
  }

  private zone(q: Query, cal: Calendar): string {
    const tz = one(q, "timeZone");
    if (tz === undefined) return cal.timeZone;
    if (!isValidTimeZone(tz)) throw E.invalid("Invalid time zone definition", "timeZone");
    return tz;
  }

  private envelope(cal: Calendar, entry: ListEntry | undefined, page: Json): Json {
    let updated = 0;
    for (const ev of this.store.calendarEvents(cal.id).values()) updated = Math.max(updated, ev.updated);
    const out: Json = {
      kind: "calendar#events",
      etag: collectionEtag(this.store, cal.id),
      summary: entry?.summaryOverride ?? cal.summary,
      description: cal.description,
      updated: isoMs(updated || this.store.now()),
      timeZone: cal.timeZone,
      accessRole: entry?.accessRole ?? "owner",
      defaultReminders: entry?.defaultReminders ?? [],
    };
    if (page.nextPageToken !== undefined) out.nextPageToken = page.nextPageToken;
    if (page.nextSyncToken !== undefined) out.nextSyncToken = page.nextSyncToken;
    out.items = page.items;
    return out;
  }

  /** events.list (§3, §4). */
  list(cal: Calendar, entry: ListEntry | undefined, q: Query, requester: string | undefined): Json {
    const syncToken = one(q, "syncToken");
    let since: number | undefined;
    let f: Filters;
    if (syncToken !== undefined) {
      for (const p of FORBIDDEN_WITH_SYNC) {
        if (q[p] !== undefined) throw E.invalid(`The parameter ${p} cannot be used together with syncToken.`, p);
      }
      const st = this.store.syncTokens.get(syncToken);
      if (!st || st.kind !== "events" || st.key !== cal.id || st.gen !== this.store.generation(cal.id)) throw E.fullSyncRequired();
      since = st.seq;
      // The token tracks whatever the initial query selected (§4).
      f = { ...(st.filters as Filters), singleEvents: bool(q, "singleEvents") ?? (st.filters as Filters).singleEvents };
    } else f = this.filtersOf(q);
    const orderBy = one(q, "orderBy");
    if (orderBy !== undefined && orderBy !== "startTime" && orderBy !== "updated") throw E.invalid(`Invalid value for orderBy: ${orderBy}`, "orderBy");
    if (orderBy === "startTime" && !f.singleEvents) throw E.invalid("The requested ordering is not available for the particular query.", "orderBy");
    const maxResults = int(q, "maxResults", 250, 2500);
    const showDeleted = bool(q, "showDeleted") ?? false;
    const updatedMin = parseTime(q, "updatedMin");
    if (updatedMin !== undefined && updatedMin < this.store.now() - UPDATED_MIN_HORIZON_MS) throw E.updatedMinTooLongAgo();
    const tz = this.zone(q, cal);
    const maxAttendees = one(q, "maxAttendees");
    const ctx: RenderContext = { calendar: cal, tz, ...(requester ? { requester } : {}), ...(maxAttendees ? { maxAttendees: Number(maxAttendees) } : {}) };
    const page = this.pager.page(signature("events", cal.id, q), one(q, "pageToken"), maxResults, () => {
      const snapshotSeq = this.store.currentSeq();
      const picked = this.select(cal, f, { since, showDeleted, updatedMin, tz });
      if (orderBy === "startTime") picked.sort((a, b) => this.bounds(a.ev, tz)[0] - this.bounds(b.ev, tz)[0]);
      if (orderBy === "updated") picked.sort((a, b) => a.ev.updated - b.ev.updated);
      const items = picked.map(({ ev, stub }) => (stub ? renderStub(ev, ctx) : renderEvent(ev, ctx)));
      const nextSyncToken = this.store.issueSyncToken({ kind: "events", key: cal.id, seq: snapshotSeq, filters: f as unknown as Json });
      return { items, final: { nextSyncToken } };
    });
    return this.envelope(cal, entry, page);
  }

  /**
   * The events a listing selects. Cancelled items: always in incremental mode and with updatedMin
   * (as stubs), with showDeleted (full), and, when showDeleted and singleEvents are both false,
   * cancelled instances of a live series (discovery doc, `showDeleted`).
   */
  private select(cal: Calendar, f: Filters, o: { since: number | undefined; showDeleted: boolean; updatedMin: number | undefined; tz: string }): Array<{ ev: StoredEvent; stub: boolean }> {
    const incremental = o.since !== undefined;
    const out: Array<{ ev: StoredEvent; stub: boolean }> = [];
    const events = this.store.calendarEvents(cal.id);
    const changed = (ev: StoredEvent): boolean =>
      (!incremental || ev.seq > o.since!) && (o.updatedMin === undefined || ev.updated >= o.updatedMin);
    const push = (ev: StoredEvent, seriesLive: boolean): void => {
      if (!this.matches(ev, f, o.tz)) return;
      if (ev.res.status !== "cancelled") out.push({ ev, stub: false });
      else if (incremental || o.updatedMin !== undefined) out.push({ ev, stub: !o.showDeleted || incremental });
      else if (o.showDeleted) out.push({ ev, stub: false });
      else if (!f.singleEvents && ev.res.recurringEventId && seriesLive) out.push({ ev, stub: true });
    };
    const liveMaster = (ev: StoredEvent): boolean => {
      const m = events.get(ev.res.recurringEventId);
      return !!m && m.res.status !== "cancelled";
    };
    for (const ev of events.values()) {
      if (!f.singleEvents) {
        if (changed(ev)) push(ev, !!ev.res.recurringEventId && liveMaster(ev));
        continue;
      }
      if (ev.res.recurringEventId && events.has(ev.res.recurringEventId)) continue; // emitted with its series
      if (!this.ops.isMaster(ev)) {
        if (changed(ev)) push(ev, false);
        continue;
      }
      const until = f.timeMax ?? defaultHorizon(this.store.now(), ev.res);
      const masterChanged = changed(ev);
      for (const inst of this.ops.instances(ev, until, true)) {
        if (!masterChanged && !changed(inst)) continue;
        const view = ev.res.status === "cancelled" && inst.res.status !== "cancelled" ? { ...inst, seq: ev.seq, res: { ...inst.res, status: "cancelled" } } : inst;
        push(view, false);
      }
    }
    return out;
  }

  /** events.instances (§1): the expanded series, exceptions applied, cancelled ones only with showDeleted. */
  instances(cal: Calendar, entry: ListEntry | undefined, eventId: string, q: Query, requester: string | undefined): Json {
    const found = this.ops.resolve(cal.id, eventId);
    if (!found) throw E.notFound();
    const master = found.ev;
    const f = this.filtersOf({ ...(q.timeMin ? { timeMin: q.timeMin } : {}), ...(q.timeMax ? { timeMax: q.timeMax } : {}) });
    const showDeleted = bool(q, "showDeleted") ?? false;
    const tz = this.zone(q, cal);
    const originalStart = one(q, "originalStart");
    const maxResults = int(q, "maxResults", 250, 2500);
    const maxAttendees = one(q, "maxAttendees");
    const ctx: RenderContext = { calendar: cal, tz, ...(requester ? { requester } : {}), ...(maxAttendees ? { maxAttendees: Number(maxAttendees) } : {}) };
    const page = this.pager.page(signature("instances", `${cal.id}/${eventId}`, q), one(q, "pageToken"), maxResults, () => {
      let list: StoredEvent[] = [];
      if (this.ops.isMaster(master)) {
        const until = f.timeMax ?? defaultHorizon(this.store.now(), master.res);
        list = this.ops.instances(master, until, true).filter((i) => this.inWindow(i, f, tz));
        if (master.res.status === "cancelled") list = list.map((i) => ({ ...i, res: { ...i.res, status: "cancelled" } }));
        if (!showDeleted) list = list.filter((i) => i.res.status !== "cancelled");
      } else if (!found.virtual && (showDeleted || master.res.status !== "cancelled") && this.inWindow(master, f, tz)) {
        list = [master]; // a single event is its own only instance
      }
      if (originalStart !== undefined) {
        const key = this.ops.keyOf(cal.id, originalStart);
        list = list.filter((i) => {
          const o = i.res.originalStartTime;
          if (!o) return false;
          return (o.date ? o.date.replace(/-/g, "") : new Date(o.dateTime).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "")) === key;
        });
      }
      return { items: list.map((ev) => renderEvent(ev, ctx)), final: {} };
    });
    return this.envelope(cal, entry, page);
  }
}

