/**
 * CalendarService over the store. Reads come from the cache; a write validates the iCalendar, computes
 * the ETag and occurrence bounds, and commits object + change log (+ outbox for sourced calendars, via
 * the WriteThrough hook) in one transaction.
 */
import { getHeapStatistics } from "node:v8";
import type { CalendarStore, CalendarRow } from "../store/calendars.ts";
import type { ObjectStore, ObjectRow } from "../store/objects.ts";
import type { QueueFor } from "../store/outbox.ts";
import {
  ObjectBusy, ObjectNotFound, PreconditionFailed, UidChanged, UidConflict, UpstreamRefused, isWholeListing,
  type CalendarMeta, type CalendarProps, type CalendarService, type ChangeSet, type MemberListing, type ObjectHead,
  type Preconditions, type PutResult, type QueryOptions, type RangeAnswer, type StoredObject, type User,
} from "../dav/service.ts";
import type { TimeRange } from "../ical/time-range.ts";
import type { XmlElement } from "../xml/tree.ts";
import { parseCalendarObject } from "../ical/parse.ts";
import { IcalError } from "../ical/errors.ts";
import { checkClientCalendarData } from "../ical/strict.ts";
import { objectWrite } from "./object-write.ts";
import { INDEXED_COMPONENTS, UNBOUNDED, floatingZoneKey } from "../ical/occurrences.ts";
import { formatSyncToken } from "./tokens.ts";
import { changeSet, toHead } from "./change-set.ts";
import { kept, ObjectCache, type Snapshot } from "./object-cache.ts";
import type { FlushOutcome } from "./writer.ts";

export { objectWrite };

/** How a sourced calendar's writes reach its upstream (sync/writer implements it; local calendars have none). */
export interface WriteBack {
  /** After commit: drain the object's queue within the write deadline and say what became of this write. */
  flush(outboxId: number, cal: CalendarRow): Promise<FlushOutcome>;
}

export interface SourceInfo {
  type: string;
  /** False when the source left the config: its calendars stay readable, and writes would reach nobody. */
  configured: boolean;
  /** Its calendars mirror upstream calendars (writes are queued for the upstream). */
  synced: boolean;
}
/** What the service needs to know about configured sources. */
export interface SourceDirectory {
  info(owner: string, sourceId: string): SourceInfo;
  /** The source that calendars created by clients (MKCALENDAR) belong to. */
  defaultLocal(owner: string): string;
}

/** Properties of a mirrored calendar that its upstream owns (a local change would be undone by the next sync). */
const UPSTREAM_OWNED: readonly (keyof CalendarProps)[] = ["displayname", "color", "description", "components"];

export class StoreCalendarService implements CalendarService {
  constructor(
    private readonly calendarsStore: CalendarStore,
    private readonly objectsStore: ObjectStore,
    private readonly sources: SourceDirectory,
    private readonly writeBack: WriteBack | null = null,
    /** Byte budget of the object cache (object-cache.ts); 0 turns it off. */
    objectCacheBytes = DEFAULT_OBJECT_CACHE_BYTES,
    /**
     * Calendars up to keepMembers keep their member listing; larger ones are listed in pages of
     * pageMembers, the size of the pages of heads an index-decided time-range answer is read in too.
     */
    private readonly listing: { keepMembers: number; pageMembers: number } = LISTING,
  ) {
    this.objectCache = new ObjectCache(objectCacheBytes, (id, seq, limit) => this.objectsStore.changedNames(id, seq, limit));
  }

  private readonly objectCache: ObjectCache;

  /**
   * Where in its change log each CalendarMeta this service made was read: the consistent snapshot a
   * request answers from (dav/ sees only the tokens made from it).
   */
  private readonly positions = new WeakMap<CalendarMeta, LogPosition>();
  private async position(cal: CalendarMeta): Promise<LogPosition> {
    const known = this.positions.get(cal);
    if (known) return known;
    // Not one of ours (a copy): read the calendar now.
    const row = await this.calendarsStore.byId(cal.id);
    if (!row) throw new ObjectNotFound(`calendar ${cal.name} no longer exists`);
    return logPosition(row);
  }

  private meta(row: CalendarRow): CalendarMeta {
    const src = this.sources.info(row.owner, row.source_id);
    const at = logPosition(row);
    const token = formatSyncToken(row.id, at.seq);
    const meta: CalendarMeta = {
      id: row.id,
      owner: row.owner,
      name: row.name,
      sourceId: row.source_id,
      sourceType: src.type,
      displayname: row.displayname,
      description: row.description,
      color: row.color,
      order: row.sort_order,
      timezone: row.timezone,
      components: row.components.split(",").filter(Boolean),
      syncToken: token,
      ctag: token,
      deadProps: JSON.parse(row.dead_props ?? "{}") as Record<string, XmlElement>,
      // Calendars of a source no longer configured, and those the upstream shares read-only, refuse writes.
      writable: src.configured && !row.read_only,
      mirrorsUpstream: src.synced,
      createdAt: Number(row.created_at),
      modifiedAt: Number(row.modified_at ?? row.created_at),
    };
    this.positions.set(meta, at);
    return meta;
  }

  async calendars(user: User): Promise<CalendarMeta[]> {
    return (await this.calendarsStore.listByOwner(user.username)).map((r) => this.meta(r));
  }
  async calendar(user: User, name: string): Promise<CalendarMeta | null> {
    const row = await this.calendarsStore.get(user.username, name);
    return row ? this.meta(row) : null;
  }
  async createCalendar(user: User, name: string, props: CalendarProps): Promise<CalendarMeta> {
    const row = await this.calendarsStore.create({
      owner: user.username,
      name,
      sourceId: this.sources.defaultLocal(user.username),
      displayname: props.displayname ?? null,
      description: props.description ?? null,
      color: props.color ?? null,
      order: props.order ?? null,
      timezone: props.timezone ?? null,
      components: props.components ?? ["VEVENT", "VTODO"],
    });
    if (props.deadProps) await this.calendarsStore.update(row.id, { deadProps: props.deadProps });
    return this.meta((await this.calendarsStore.byId(row.id))!);
  }
  async updateCalendar(cal: CalendarMeta, props: CalendarProps): Promise<void> {
    const owned = cal.mirrorsUpstream ? UPSTREAM_OWNED.filter((k) => props[k] !== undefined) : [];
    if (owned.length > 0) throw new UpstreamRefused(403, `calendar ${cal.name} mirrors a calendar of source "${cal.sourceId}", which owns its ${owned.join(", ")}; change them at the source (calgate would undo a local change at the next sync)`);
    await this.calendarsStore.update(cal.id, {
      ...(props.displayname !== undefined ? { displayname: props.displayname } : {}),
      ...(props.description !== undefined ? { description: props.description } : {}),
      ...(props.color !== undefined ? { color: props.color } : {}),
      ...(props.order !== undefined ? { order: props.order } : {}),
      ...(props.timezone !== undefined ? { timezone: props.timezone } : {}),
      ...(props.components !== undefined ? { components: props.components } : {}),
      ...(props.deadProps !== undefined ? { deadProps: props.deadProps } : {}),
    });
  }
  async deleteCalendar(cal: CalendarMeta): Promise<void> {
    if (cal.mirrorsUpstream) throw new UpstreamRefused(403, `calendar ${cal.name} mirrors a calendar of source "${cal.sourceId}"; delete it at the source, or remove the source from the configuration`);
    await this.calendarsStore.remove(cal.id);
  }

  /**
   * Member listings keyed by the calendar's change sequence: any write bumps the sequence, so an entry
   * is never served for a state it does not describe. Clients poll unchanged calendars far more often
   * than they change, and the driver costs ~1.6 µs per row.
   */
  private readonly headsCache = new Map<number, { seq: number; heads: ObjectHead[] }>();
  private cachedHeads = 0;
  async heads(cal: CalendarMeta): Promise<ObjectHead[]> {
    const { seq } = await this.position(cal);
    const hit = this.keptHeads(cal.id, seq);
    if (hit) return hit;
    // Requests at the same sequence share one read in flight: a listing too large to keep (an
    // initial sync of a 100,000-event calendar) is then in memory once, not once per request.
    const flying = this.listingsInFlight.get(cal.id);
    if (flying && flying.seq === seq) return flying.heads;
    const heads = this.objectsStore.heads(cal.id).then((rows) => this.keep(cal.id, seq, rows.map(toHead)));
    const entry = { seq, heads };
    this.listingsInFlight.set(cal.id, entry);
    try {
      return await heads;
    } finally {
      if (this.listingsInFlight.get(cal.id) === entry) this.listingsInFlight.delete(cal.id);
    }
  }
  private readonly listingsInFlight = new Map<number, { seq: number; heads: Promise<ObjectHead[]> }>();
  async members(cal: CalendarMeta): Promise<MemberListing> {
    const { seq } = await this.position(cal);
    const hit = this.keptHeads(cal.id, seq);
    if (hit) return hit;
    // Counted (index only, up to the limit) before anything is read: a large calendar is never materialised.
    if ((await this.objectsStore.countUpTo(cal.id, this.listing.keepMembers + 1)) <= this.listing.keepMembers) return this.heads(cal);
    this.forget(cal.id);
    const { objectsStore, listing } = this;
    return (async function* () {
      let after: string | null = null;
      for (;;) {
        const page: ObjectHead[] = (await objectsStore.headsPage(cal.id, after, listing.pageMembers)).map(toHead);
        if (page.length > 0) yield page;
        if (page.length < listing.pageMembers) return;
        after = page[page.length - 1]!.name;
      }
    })();
  }
  private forget(calendarId: number): void {
    const old = this.headsCache.get(calendarId);
    if (old) this.cachedHeads -= old.heads.length;
    this.headsCache.delete(calendarId);
  }
  private keptHeads(calendarId: number, seq: number): ObjectHead[] | null {
    const hit = this.headsCache.get(calendarId);
    return hit && hit.seq === seq ? hit.heads : null;
  }
  /** Keeps a calendar's listing when it is small enough; bounded by members in all (~200 bytes each). */
  private keep(calendarId: number, seq: number, heads: ObjectHead[]): ObjectHead[] {
    this.forget(calendarId);
    // A calendar above keepMembers is listed each time (in pages, by members()).
    if (heads.length > this.listing.keepMembers) return heads;
    this.headsCache.set(calendarId, { seq, heads });
    this.cachedHeads += heads.length;
    for (const [id, e] of this.headsCache) {
      if (this.cachedHeads <= MAX_CACHED_HEADS) break;
      this.headsCache.delete(id);
      this.cachedHeads -= e.heads.length;
    }
    return heads;
  }
  async objects(cal: CalendarMeta, names: readonly string[]): Promise<Map<string, StoredObject | null>> {
    const out = new Map<string, StoredObject | null>(names.map((n) => [n, null]));
    const { seq, minSeq } = await this.position(cal);
    const snap: Snapshot = { id: cal.id, createdAt: cal.createdAt ?? 0, seq, minSeq };
    const cached = await this.objectCache.sync(snap);
    const missing: string[] = [];
    for (const n of names) {
      const hit = cached ? this.objectCache.get(snap, n) : undefined;
      if (hit) out.set(n, hit);
      else missing.push(n);
    }
    if (missing.length === 0) return out;
    for (const r of await this.objectsStore.getMany(cal.id, missing)) {
      // Only what the cache would keep is put in its form (escaped once): a large object is served as read.
      const keep = cached && this.objectCache.keeps(Number(r.size));
      const obj = keep ? kept(toStored(r)) : toStored(r);
      out.set(r.name, obj);
      if (keep) this.objectCache.set(snap, obj);
    }
    return out;
  }
  async *query(cal: CalendarMeta, component: string | null, range: TimeRange | null, opts: QueryOptions = {}): AsyncIterable<StoredObject> {
    for await (const r of this.objectsStore.query(cal.id, component, range, 500, opts.exactBodies ?? true)) yield toStored(r);
  }
  async rangeQuery(cal: CalendarMeta, component: string, range: TimeRange, floatingZone: string | null): Promise<RangeAnswer> {
    if (!INDEXED_COMPONENTS.has(component)) return { decided: (async function* () {})(), undecided: this.query(cal, component, range, { exactBodies: false }) };
    const zone = floatingZoneKey(floatingZone);
    const span = { start: range.start ?? -UNBOUNDED, end: range.end ?? UNBOUNDED };
    // Most answers fit one page of heads: one query. A larger one continues as ids after that page
    // (8 bytes each, held), whose heads are read a page at a time as the response streams.
    const page = this.listing.pageMembers;
    const first = await this.objectsStore.occurrences.matchingHeads(cal.id, component, span, zone, page + 1);
    const rest = first.length > page ? await this.objectsStore.occurrences.matchingIds(cal.id, span, zone, Number(first[page - 1]!.id)) : [];
    first.length = Math.min(first.length, page);
    const store = this.objectsStore;
    async function* decided(): AsyncIterable<readonly ObjectHead[]> {
      if (first.length > 0) yield first.map(toHead);
      for (let i = 0; i < rest.length; i += page) yield (await store.headsByIds(cal.id, component, rest.slice(i, i + page))).map(toHead);
    }
    // What the index cannot decide comes with its text, to evaluate.
    return { decided: decided(), undecided: (async function* () { for await (const r of store.occurrences.undecided(cal.id, component, span, zone)) yield toStored(r); })() };
  }
  async changesSince(cal: CalendarMeta, token: string | null, limit = Number.MAX_SAFE_INTEGER): Promise<ChangeSet> {
    // cal was read at the start of this request: its position is this response's consistent snapshot.
    const { seq, minSeq } = await this.position(cal);
    return changeSet({ key: cal.id, seq, minSeq, heads: () => this.heads(cal), listing: (n) => this.initialListing(cal, n), since: (from, n, after) => this.objectsStore.changesSince(cal.id, from, n, after) }, token, limit);
  }
  /** Every member for an initial sync when there are at most `limit`, in pages when the calendar is large. */
  private async initialListing(cal: CalendarMeta, limit: number): Promise<MemberListing | null> {
    const listing = await this.members(cal);
    if (isWholeListing(listing)) return listing.length <= limit ? listing : null;
    return (await this.objectsStore.countUpTo(cal.id, limit + 1)) <= limit ? listing : null;
  }

  async put(_user: User, cal: CalendarMeta, name: string, ics: string, cond: Preconditions): Promise<PutResult> {
    const parsed = parseCalendarObject(ics);
    checkClientCalendarData(parsed); // before any store check: invalid data is never a UID conflict
    if (!cal.components.includes(parsed.component)) {
      throw new IcalError(`this calendar accepts ${cal.components.join(", ")}; the object is a ${parsed.component}`, "unsupported-component");
    }
    const write = objectWrite(name, parsed);
    const { row, queue } = await this.queueFor(cal);
    const outcome = await this.objectsStore.put(cal.id, write, { ...cond, keepUid: true }, queue ?? undefined);
    if (!outcome.ok) throw outcomeError(outcome);
    let stored = write.etag;
    if (row && outcome.outboxId !== null) {
      await this.flushed(outcome.outboxId, row);
      // RFC 4791 5.3.4: no ETag when what is stored now is not what the client sent (the upstream kept its own rendering).
      stored = (await this.objectsStore.get(cal.id, name))?.etag ?? "";
    }
    return { etag: write.etag, created: outcome.created, changed: parsed.changed || stored !== write.etag };
  }

  async remove(_user: User, cal: CalendarMeta, name: string, cond: Preconditions): Promise<void> {
    const { row, queue } = await this.queueFor(cal);
    const outcome = await this.objectsStore.remove(cal.id, name, cond, queue ?? undefined);
    if (!outcome.ok) throw outcomeError(outcome);
    if (row && outcome.outboxId !== null) await this.flushed(outcome.outboxId, row);
  }

  async rename(user: User, cal: CalendarMeta, from: string, to: string, opts: { overwrite: boolean; cond: Preconditions }): Promise<{ created: boolean }> {
    let created = true;
    if ((await this.objectsStore.get(cal.id, to)) !== null) {
      if (!opts.overwrite) throw new PreconditionFailed(`${to} exists and Overwrite is F`);
      await this.remove(user, cal, to, { ifMatch: null, ifNoneMatch: null }); // through the outbox, like a DELETE
      created = false;
    }
    const outcome = await this.objectsStore.rename(cal.id, from, to, opts.cond);
    if (!outcome.ok && outcome.reason === "busy") throw new ObjectBusy(`a write of ${from} is still on its way to the upstream of calendar ${cal.name}; retry the MOVE shortly`);
    if (!outcome.ok) throw outcomeError(outcome);
    return { created };
  }

  /** Writes to a mirrored calendar are queued for its upstream in the same transaction. */
  private async queueFor(cal: CalendarMeta): Promise<{ row: CalendarRow | null; queue: QueueFor | null }> {
    if (!cal.mirrorsUpstream || !this.writeBack) return { row: null, queue: null };
    const row = await this.calendarsStore.byId(cal.id);
    return row ? { row, queue: { owner: row.owner, sourceId: row.source_id } } : { row: null, queue: null };
  }

  private async flushed(outboxId: number, row: CalendarRow): Promise<void> {
    const o = await this.writeBack!.flush(outboxId, row);
    if (o.kind === "conflict") throw new PreconditionFailed(`the upstream copy of this object changed since it was last synced; calgate kept your version (${o.conflictId !== null ? `conflict ${o.conflictId}` : "in the conflict log"}) and now serves the upstream's: fetch it again and reapply your change`);
    if (o.kind === "refused") throw new UpstreamRefused(o.status, o.message);
  }
}

function outcomeError(o: { ok: false; reason: string; existingName?: string; existingUid?: string }): Error {
  if (o.reason === "uid-changed") return new UidChanged(o.existingUid ?? "");
  if (o.reason === "precondition") return new PreconditionFailed("the object's current ETag does not satisfy If-Match / If-None-Match");
  if (o.reason === "uid-conflict") return new UidConflict(o.existingName ?? "");
  return new ObjectNotFound("no such calendar object");
}

/**
 * The object cache's default budget: 24 MiB, which holds a 10,000-event calendar of ~1.1 kB objects
 * whole (19.6 MiB charged for the bench's), so a calendar-multiget of 100 of them is read from
 * memory. Under a bounded heap (the Docker image's NODE_OPTIONS) it is a sixth of the heap's limit
 * when that is less (17 MiB at 96 MiB of old space): the kept bytes live outside the heap, which the limit does not
 * bound, and 24 MiB put such a server over 150 MB RSS at 100,000 events (bench/README.md, "Fifth
 * pass").
 */
export function defaultObjectCacheBytes(heapLimitBytes = getHeapStatistics().heap_size_limit): number {
  return Math.min(24 * 1024 * 1024, Math.floor(heapLimitBytes / 6));
}
const DEFAULT_OBJECT_CACHE_BYTES = defaultObjectCacheBytes();
/** Members kept in listings in all (~200 bytes each: ~10 MB). */
const MAX_CACHED_HEADS = 50_000;
/**
 * A 10,000-event calendar keeps its listing (Depth 1 answers and their rendered bytes are reused
 * while it is unchanged); a 100,000-event one is read 2,000 members at a time, never held whole.
 */
const LISTING = { keepMembers: 25_000, pageMembers: 2_000 };

/** A calendar's change-log position as read: its sequence, and how far tombstones were pruned. */
interface LogPosition {
  readonly seq: number;
  /** Tokens older than this sequence were pruned (answered with valid-sync-token). */
  readonly minSeq: number;
}
function logPosition(row: CalendarRow): LogPosition {
  return { seq: Number(row.sync_seq), minSeq: Number(row.min_seq) };
}

function toStored(r: ObjectRow): StoredObject {
  const exact = r.exact_start != null && r.exact_end != null ? { start: Number(r.exact_start), end: Number(r.exact_end) } : null;
  return { name: r.name, uid: r.uid, component: r.component, etag: r.etag, ics: r.ics, size: Number(r.size), modifiedAt: Number(r.modified_at), exact };
}
