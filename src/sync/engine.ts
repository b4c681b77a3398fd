/**
 * The sync engine: for one source, replay queued writes, list the upstream calendars (reconciling
 * added / removed / renamed ones), and for each calendar whose change marker moved, pull pages →
 * plan (pure) → apply. One sync per source at a time, across processes too (a lease row in
 * `sources`), so `calgate sync --once` and `calgate serve` can share a database. Every step is
 * published once on the status bus; upstream requests are counted per sync.
 */
import type { Logger } from "pino";
import type { SourceConfig } from "../config/schema.ts";
import { ownerAddressesOf, type CalendarRow, type CalendarStore } from "../store/calendars.ts";
import type { ObjectStore } from "../store/objects.ts";
import type { SourceStatus, SourceStore } from "../store/sources.ts";
import type { OutboxStore } from "../store/outbox.ts";
import type { ConflictStore } from "../store/conflicts.ts";
import { applyPulled, pullSnapshot, type PulledAction } from "../store/pulled.ts";
import type { StatusBus } from "../status/bus.ts";
import type { SourceStateFields } from "../status/source-states.ts";
import { AuthRequired, CursorExpired, RateLimited, Transient, retryHintMs, type RemoteCalendar, type SourceAdapter, type SourceContext } from "../sources/adapter.ts";
import { parseCalendarObject } from "../ical/parse.ts";
import { etagOf } from "../ical/hash.ts";
import { sameContent } from "../ical/content.ts";
import { plan, SuspiciousEmptyUpstream, type Action, type Incoming, type Link } from "./plan.ts";
import { objectWrite } from "./object-write.ts";
import { backoffMs, SYNC_BACKOFF } from "./retry.ts";
import type { Catalog } from "./catalog.ts";
import { newHolder, retireHolder } from "./holders.ts";
import { localLiveness, type HolderLiveness } from "./liveness.ts";

export interface EngineDeps {
  catalog: Catalog;
  calendars: CalendarStore;
  objects: ObjectStore;
  sources: SourceStore;
  outbox: OutboxStore;
  conflicts: ConflictStore;
  bus: StatusBus;
  log: Logger;
  /** Queued writes are replayed before each pull (sync/writer). */
  replay: (owner: string, sourceId: string) => Promise<void>;
  /** What `source.status` events carry besides the status (last sync, next sync, outbox, last error, warning). */
  states?: { fields(owner: string, sourceId: string): Promise<SourceStateFields> };
  /** Applies pulled pages (the store's compare-and-set apply; replaceable in tests). */
  db: Parameters<typeof applyPulled>[0];
  /** Sync lease lifetime (default LEASE_MS; tests shorten it). */
  leaseMs?: number;
  /** Whether a lease's holder stopped (default: only processes on this machine are recognised). */
  liveness?: HolderLiveness;
}

export interface ApplyStats {
  created: number;
  updated: number;
  deleted: number;
  linked: number;
  skipped: number;
  errors: string[];
}
export const emptyStats = (): ApplyStats => ({ created: 0, updated: 0, deleted: 0, linked: 0, skipped: 0, errors: [] });

export interface SyncResult {
  ok: boolean;
  owner: string;
  source: string;
  /** Another process held the source's lease and we did not wait (or had synced it since `unlessSyncedSince`). */
  busy?: boolean;
  calendars: number;
  stats: ApplyStats;
  requests: number;
  ms: number;
  error?: string;
  retryInMs?: number | null;
}

/** Some pulled changes could not be applied: the cursor stays, the sync is retried. */
export interface SyncOptions {
  reason: string;
  /** Wait for another process's sync of the source to end instead of answering `busy`. */
  waitForLease?: boolean;
  /** A scheduled tick's time: nothing to do when any process finished a sync of the source since. */
  unlessSyncedSince?: number;
}

export class IncompleteApply extends Error {
  override name = "IncompleteApply";
}

/**
 * A sync lease runs out this long after its last renewal, and is renewed a third of that while its
 * sync runs: an instance that died (on any machine) is taken over within LEASE_MS, or once its
 * heartbeat is stale (liveness.ts); one on this machine at once (holders.ts).
 */
const LEASE_MS = 30_000;
/** Stored as the calendar's version while a paged pull is between pages (never a provider's version). */
const MID_LISTING = "";
/** An empty full listing is checked item by item up to this many cached items; beyond, it is refused. */
const CONFIRM_EMPTY_MAX = 25;
/** Consecutive listings a calendar must be missing from before calgate drops it. */
const MISSING_LISTINGS_TO_DROP = 3;

export { backoffMs };

export function slugOf(hint: string): string {
  return hint.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "calendar";
}

export class SyncEngine {
  /** host:pid:nonce, so that a lease left by a process that died (kill -9) can be recognised and taken over. */
  readonly holder = newHolder();
  private readonly running = new Map<string, Promise<SyncResult>>();
  private readonly queued = new Map<string, Promise<SyncResult>>();
  private readonly abort = new AbortController();
  /** The last warning announced per source (owner\0source), so a repeated one is not announced again. */
  private readonly warnings = new Map<string, string>();
  /** The warning of the current (or last) sync per source: cleared when a sync starts, so a fixed cause stops showing. */
  private readonly currentWarnings = new Map<string, string>();

  constructor(private readonly d: EngineDeps) {}

  /** Every (owner, source) this engine syncs, optionally narrowed. */
  syncedSources(owner?: string | null, sourceId?: string | null): { owner: string; source: SourceConfig }[] {
    return this.d.catalog.synced(owner, sourceId);
  }

  /** Upstream requests made so far by this process, per source (for /metrics). */
  upstreamRequests(): { owner: string; source: string; requests: number }[] {
    return this.d.catalog.upstreamRequests();
  }

  /** Writes queued for their upstream, per synced source (0 when none), for /metrics. */
  async outboxDepth(): Promise<{ owner: string; source: string; pending: number }[]> {
    const pending = new Map((await this.d.outbox.pendingBySource()).map((r) => [`${r.owner}\u0000${r.source}`, r.pending]));
    return this.syncedSources().map(({ owner, source }) => ({ owner, source: source.id, pending: pending.get(`${owner}\u0000${source.id}`) ?? 0 }));
  }

  /** When a source's last sync (by any process on this database) ended, or null before its first. */
  async lastSyncAt(owner: string, sourceId: string): Promise<number | null> {
    const row = await this.d.sources.get(owner, sourceId);
    return row?.last_sync_at == null ? null : Number(row.last_sync_at);
  }

  /** The warning an adapter gave during the current or last sync of a source (e.g. a sign-in expiring soon), or null. */
  warning(owner: string, sourceId: string): string | null {
    return this.currentWarnings.get(`${owner}\0${sourceId}`) ?? null;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }
  close(): void {
    this.abort.abort(new Error("calgate is shutting down"));
    retireHolder(this.holder);
  }
  /** Resolves once no sync runs in this process (after close(), running syncs end quickly); the db may then be closed. */
  async idle(): Promise<void> {
    for (let i = 0; i < 10 && (this.running.size > 0 || this.queued.size > 0); i++) {
      await Promise.allSettled([...this.running.values(), ...this.queued.values()]);
    }
  }

  /** One sync of one source. Concurrent calls in this process share a run (one more run is queued after a running one). */
  syncSource(owner: string, sourceId: string, opts: SyncOptions): Promise<SyncResult> {
    const key = `${owner}\u0000${sourceId}`;
    const running = this.running.get(key);
    if (running) {
      let q = this.queued.get(key);
      if (!q) {
        q = running.then(() => {
          this.queued.delete(key);
          return this.syncSource(owner, sourceId, opts);
        });
        this.queued.set(key, q);
      }
      return q;
    }
    const p = this.run(owner, sourceId, opts).finally(() => this.running.delete(key));
    this.running.set(key, p);
    return p;
  }

  private async run(owner: string, sourceId: string, opts: SyncOptions): Promise<SyncResult> {
    const started = Date.now();
    const stats = emptyStats();
    const src = this.d.catalog.source(owner, sourceId);
    const adapter = this.d.catalog.adapter(owner, sourceId);
    const base = { owner, source: sourceId, calendars: 0, stats, requests: 0, ms: 0 };
    if (!src || !adapter) return { ...base, ok: false, error: `source "${sourceId}" of ${owner} is not a synced source` };
    await this.d.sources.ensure(owner, sourceId, src.type);
    if (!(await this.lease(owner, sourceId, opts.waitForLease ?? false))) return { ...base, ok: true, busy: true };
    if (opts.unlessSyncedSince != null && ((await this.lastSyncAt(owner, sourceId)) ?? -Infinity) >= opts.unlessSyncedSince) {
      // Checked under the lease: another instance's sync that ended between the scheduler's look and our lease counts too.
      await this.d.sources.release(owner, sourceId, this.holder);
      return { ...base, ok: true, busy: true };
    }
    const requestsBefore = adapter.requests;
    this.currentWarnings.delete(`${owner}\0${sourceId}`);
    const log = this.d.log.child({ owner, source: sourceId });
    const ctx = this.d.catalog.context(owner, sourceId, this.signal);
    const leaseMs = this.d.leaseMs ?? LEASE_MS;
    const renewal = setInterval(() => {
      void this.d.sources.acquire(owner, sourceId, this.holder, leaseMs).then(
        (held) => held || log.warn("the sync lease ran out and another process took it (this one stalled); both may be syncing this source"),
        () => undefined,
      );
    }, Math.floor(leaseMs / 3));
    renewal.unref();
    try {
      await this.d.bus.publish({ type: "sync.started", owner, source: sourceId, reason: opts.reason, instance: this.holder });
      await this.d.replay(owner, sourceId);
      const remote = await adapter.listCalendars(ctx);
      const pairs = await this.reconcileCalendars(owner, src, remote, log);
      const notes: string[] = [];
      for (const [row, cal] of pairs) {
        const note = await this.syncCalendar(row, cal, adapter, ctx, stats, log);
        if (note) notes.push(`${row.name}: ${note}`);
      }
      const at = Date.now();
      const previous = await this.d.sources.succeeded(owner, sourceId, at);
      if (previous !== "ok") await this.publishStatus(owner, sourceId, "ok", null);
      const requests = adapter.requests - requestsBefore;
      const ms = at - started;
      await this.d.bus.publish({
        type: "sync.completed", owner, source: sourceId, calendars: pairs.length, created: stats.created, updated: stats.updated, deleted: stats.deleted, skipped: stats.skipped, requests, ms,
        ...(notes.length ? { note: notes.join("; ") } : {}),
      });
      return { ...base, ok: true, calendars: pairs.length, requests, ms };
    } catch (e) {
      const err = e as Error;
      const at = Date.now();
      if (this.signal.aborted) return await this.interrupted(owner, sourceId, base, at - started, adapter.requests - requestsBefore);
      const { failures, previous } = await this.d.sources.failed(owner, sourceId, at);
      const status: SourceStatus =
        e instanceof AuthRequired ? "auth_required" : failures >= SYNC_BACKOFF.degradedAfter ? (e instanceof Transient && e.status === null ? "offline" : "degraded") : previous;
      const retryInMs = e instanceof AuthRequired ? null : backoffMs(failures, retryHintMs(e));
      const message = describe(err, src);
      log.warn({ err: message, failures, retryInMs }, "sync failed");
      await this.d.bus.publish({ type: "sync.failed", owner, source: sourceId, error: message, failures, retryInMs, ms: at - started });
      // The message is kept even while the status stays ok (one failure), so the status page can show it.
      await this.d.sources.setStatus(owner, sourceId, status, message);
      if (status !== previous) await this.publishStatus(owner, sourceId, status, message, retryInMs);
      return { ...base, ok: false, error: message, retryInMs, requests: adapter.requests - requestsBefore, ms: at - started };
    } finally {
      clearInterval(renewal);
      await this.d.sources.release(owner, sourceId, this.holder).catch(() => undefined);
    }
  }

  /**
   * A sync cut short by shutdown is no failure of the source: its status and failure count stay, and it
   * resumes from the last cursor saved (each page is applied with its cursor in one transaction).
   */
  private async interrupted(owner: string, sourceId: string, base: Omit<SyncResult, "ok">, ms: number, requests: number): Promise<SyncResult> {
    const error = "interrupted: calgate is shutting down; the next sync resumes where this one stopped";
    this.d.log.info({ owner, source: sourceId, ms }, error);
    const failures = (await this.d.sources.get(owner, sourceId))?.consecutive_failures ?? 0;
    await this.d.bus.publish({ type: "sync.failed", owner, source: sourceId, error, failures, retryInMs: null, ms });
    return { ...base, ok: false, error, retryInMs: null, requests, ms };
  }

  private async lease(owner: string, sourceId: string, wait: boolean): Promise<boolean> {
    const deadline = Date.now() + 5 * 60_000;
    for (;;) {
      if (await this.d.sources.acquire(owner, sourceId, this.holder, this.d.leaseMs ?? LEASE_MS)) return true;
      if (await this.releaseIfHolderDead(owner, sourceId)) continue;
      if (!wait || Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** An adapter's token refresh: one refused for good marks the source auth_required at once, announced once. */
  async tokenRefreshed(owner: string, sourceId: string, ok: boolean, message: string | null): Promise<void> {
    if (ok) return;
    const previous = (await this.d.sources.ensure(owner, sourceId, this.d.catalog.source(owner, sourceId)?.type ?? "unknown")).status;
    await this.d.sources.setStatus(owner, sourceId, "auth_required", message);
    if (previous !== "auth_required") await this.publishStatus(owner, sourceId, "auth_required", message);
  }

  /** An adapter's warning (e.g. a token about to expire): announced on the status feed once per message and process. */
  async warned(owner: string, sourceId: string, message: string): Promise<void> {
    const k = `${owner}\0${sourceId}`;
    this.currentWarnings.set(k, message);
    if (this.warnings.get(k) === message) return;
    this.warnings.set(k, message);
    const status = (await this.d.sources.ensure(owner, sourceId, this.d.catalog.source(owner, sourceId)?.type ?? "unknown")).status;
    this.d.log.warn({ owner, source: sourceId }, message);
    await this.publishStatus(owner, sourceId, status, message);
  }

  /** One `source.status` event, with what a person needs besides the status (status/source-states). */
  private async publishStatus(owner: string, sourceId: string, status: SourceStatus, message: string | null, retryInMs?: number | null): Promise<void> {
    const fields = this.d.states ? await this.d.states.fields(owner, sourceId).catch(() => null) : null;
    // The scheduler sets the retry timer after this sync returns: the retry delay is the next sync.
    const next = retryInMs != null && fields ? { nextSyncAt: new Date(Date.now() + retryInMs).toISOString() } : {};
    await this.d.bus.publish({ type: "source.status", owner, source: sourceId, status, message, ...fields, ...next });
  }

  /** Releases a lease whose holder was a process on this machine that no longer exists; true when it did. */
  private async releaseIfHolderDead(owner: string, sourceId: string): Promise<boolean> {
    const held = (await this.d.sources.get(owner, sourceId))?.lease_holder ?? null;
    if (held === null || !(await (this.d.liveness ?? localLiveness).isDead(held, this.holder))) return false;
    await this.d.sources.release(owner, sourceId, held);
    this.d.log.warn({ owner, source: sourceId, holder: held }, "took over the sync lease of a process that no longer exists");
    return true;
  }

  /**
   * Creates and renames cached calendars to match the upstream listing; returns the pairs to sync.
   * A calendar missing from a listing is kept: only after several consecutive listings without it,
   * and only when no write of it is queued and no version of it is kept in the conflict log, is it
   * dropped. Its id stays the same meanwhile, so clients' sync tokens stay valid if it comes back.
   */
  private async reconcileCalendars(owner: string, src: SourceConfig, remote: RemoteCalendar[], log: Logger): Promise<[CalendarRow, RemoteCalendar][]> {
    const rows = await this.d.calendars.listBySource(owner, src.id);
    if (remote.length === 0 && rows.length > 0) throw new SuspiciousEmptyUpstream(`the upstream listed no calendars while calgate has ${rows.length}; keeping them`);
    const byRemote = new Map(rows.map((r) => [r.source_calendar_id, r]));
    const out: [CalendarRow, RemoteCalendar][] = [];
    for (const c of remote) {
      const displayname = c.displayname && c.displayname.trim() !== "" ? c.displayname : c.nameHint;
      let row = byRemote.get(c.id) ?? null;
      if (!row) {
        const slug = slugOf(c.nameHint);
        let name = `${src.id}-${slug}`;
        for (let i = 2; await this.d.calendars.get(owner, name); i++) name = `${src.id}-${slug}-${i}`;
        row = await this.d.calendars.create({ owner, name, sourceId: src.id, sourceCalendarId: c.id, displayname, color: c.color, description: c.description, components: c.components, upstreamHref: c.id, readOnly: !c.writable, ownerAddresses: c.ownerAddresses ?? null });
        log.info({ calendar: name, id: c.id }, "new upstream calendar");
      } else if (row.displayname !== displayname || (c.color !== null && row.color !== c.color) || row.components !== c.components.join(",") || row.upstream_missing !== 0 || row.read_only !== (c.writable ? 0 : 1) || ownerAddressesOf(row).join(" ") !== (c.ownerAddresses ?? []).map((a) => a.toLowerCase()).join(" ")) {
        await this.d.calendars.update(row.id, { displayname, ...(c.color !== null ? { color: c.color } : {}), components: c.components, upstreamMissing: 0, readOnly: !c.writable, ownerAddresses: c.ownerAddresses ?? null });
        row = (await this.d.calendars.byId(row.id))!;
      }
      out.push([row, c]);
    }
    const keep = new Set(out.map(([r]) => r.id));
    for (const r of rows) {
      if (keep.has(r.id)) continue;
      const missing = r.upstream_missing + 1;
      const queued = await this.d.outbox.pendingInCalendar(r.id);
      const kept = (await this.d.conflicts.list(r.id)).length;
      if (missing < MISSING_LISTINGS_TO_DROP || queued > 0 || kept > 0) {
        await this.d.calendars.update(r.id, { upstreamMissing: missing });
        log.warn({ calendar: r.name, missing, queued, kept }, "calendar missing from the upstream listing (or no longer included); kept");
        continue;
      }
      await this.d.calendars.remove(r.id);
      log.info({ calendar: r.name }, "upstream calendar removed (or no longer included); dropped from the cache");
    }
    return out;
  }

  private async syncCalendar(row: CalendarRow, cal: RemoteCalendar, adapter: SourceAdapter, ctx: SourceContext, stats: ApplyStats, log: Logger): Promise<string | undefined> {
    let cursor = row.upstream_cursor;
    if (cursor !== null && cal.version !== null && row.upstream_ctag === cal.version) return undefined; // nothing changed upstream
    let note: string | undefined;
    let resumedMidway = row.upstream_ctag === MID_LISTING && cursor !== null;
    for (let pages = 0; pages < 10_000; pages++) {
      // The snapshot the plan compares against is taken BEFORE the page is fetched: a write made or
      // confirmed while the page was in flight then fails the compare-and-set, and the page (older than
      // it) is not applied there.
      const snapshot = await pullSnapshot(this.d.db, row.id);
      const links = snapshot.links;
      let page;
      try {
        page = await adapter.pull(cal, cursor, ctx);
      } catch (e) {
        // Google 410 fullSyncRequired, Graph syncStateNotFound: start over with a full listing.
        if (!(e instanceof CursorExpired) || cursor === null) throw e;
        log.info({ calendar: row.name, err: e.message }, "the upstream expired the sync cursor; full resync");
        note = `the upstream expired the sync cursor (${e.message}); full resync`;
        cursor = null;
        continue;
      }
      if (page.note) note = page.note;
      const incoming = page.changes.map((c): Incoming => {
        if (c.kind === "delete") return { kind: "delete", id: c.id };
        try {
          const parsed = parseCalendarObject(c.ics);
          return { kind: "upsert", id: c.ref.id, etag: c.ref.etag, uid: parsed.uid, gatewayEtag: etagOf(parsed.text), ics: c.ics, ...(c.nameHint ? { nameHint: c.nameHint } : {}) };
        } catch (e) {
          return { kind: "invalid", id: c.ref.id, error: `unusable iCalendar from the upstream: ${(e as Error).message}` };
        }
      });
      const normalised = await this.sameContentAsCache(row.id, links, incoming);
      const input = { links, incoming: normalised, pending: snapshot.pendingNames, pendingIds: snapshot.pendingIds, pendingCreates: snapshot.pendingCreates, listed: page.done && page.full ? (page.listed ?? null) : null };
      let actions: Action[];
      try {
        actions = plan(input);
      } catch (e) {
        // A full listing that is suddenly empty: believed only when the upstream confirms, item by item.
        if (!(e instanceof SuspiciousEmptyUpstream) || !(await this.confirmedEmpty(cal, links, adapter, ctx))) throw e;
        log.warn({ calendar: row.name, items: links.length }, "the upstream calendar is empty (every item confirmed gone); deleting them from the cache");
        actions = plan({ ...input, confirmedEmpty: true });
      }
      const skipped = actions.filter((a) => a.type === "skip");
      for (const a of skipped) log.warn({ id: a.id, name: a.name, reason: a.reason }, "upstream item not applied");
      stats.skipped += skipped.length;
      const result = await applyPulled(this.d.db, row.id, prepared(actions), snapshot);
      stats.created += result.created;
      stats.updated += result.updated;
      stats.deleted += result.deleted;
      stats.linked += result.linked;
      stats.skipped += result.pending.length;
      if (result.errors.length > 0) {
        stats.errors.push(...result.errors);
        throw new IncompleteApply(`${result.errors.length} upstream change(s) of ${row.name} could not be applied (${result.errors.slice(0, 3).join("; ")}); the sync position is kept and the sync will be retried`);
      }
      // A full listing says nothing about items deleted before it: while a create is in flight (its id not
      // known yet), it cannot tell whether that create's item was deleted meanwhile.
      const queued = skipped.filter((a) => a.type === "skip" && a.queued).length + result.pending.length + (page.full && snapshot.pendingCreates ? 1 : 0);
      if (result.stale.length > 0 || queued > 0) {
        // The cache moved under this page (a client write, a confirmed write-back, another process), or an
        // object of it has a write still queued: its upstream change was not applied, and the write may yet
        // confirm a version the upstream has already replaced or deleted. The position stays, so the next
        // pull (after the write settled) sees the change again; nothing upstream is passed over.
        log.info({ calendar: row.name, stale: result.stale.length, queued }, "page not fully applied; its sync position is kept");
        return note;
      }
      cursor = page.next;
      // The calendar's version is recorded as caught up only by a pull that began at a complete position in
      // this sync. A paged listing resumed from an earlier sync ends at a position from its own start: what
      // changed since then is still to pull, so its version stays unknown (null) and the next sync pulls.
      const upstreamCtag = !page.done ? MID_LISTING : resumedMidway ? null : cal.version;
      await this.d.calendars.update(row.id, { upstreamCursor: cursor, upstreamCtag });
      if (page.done && resumedMidway) {
        resumedMidway = false; // catch up from the listing's start, now, in this sync
        continue;
      }
      if (page.done) break;
    }
    return note;
  }

  /** Asks the upstream for each cached item (a few at most); true when none of them exists any more. */
  private async confirmedEmpty(cal: RemoteCalendar, links: readonly Link[], adapter: SourceAdapter, ctx: SourceContext): Promise<boolean> {
    const ids = links.flatMap((l) => (l.upstream_href ? [l.upstream_href] : []));
    if (ids.length === 0 || ids.length > CONFIRM_EMPTY_MAX) return false;
    for (const id of ids) if ((await adapter.get(cal, id, ctx)) !== null) return false;
    return true;
  }

  /** An upstream version whose normalised content equals the cached one keeps the cached ETag (no change for clients). */
  private async sameContentAsCache(calendarId: number, links: readonly Link[], incoming: Incoming[]): Promise<Incoming[]> {
    const byId = new Map(links.filter((l) => l.upstream_href).map((l) => [l.upstream_href!, l]));
    const byUid = new Map(links.map((l) => [l.uid, l]));
    const candidates = new Map<string, { i: number; name: string; etag: string }>();
    incoming.forEach((inc, i) => {
      if (inc.kind !== "upsert") return;
      const l = byId.get(inc.id) ?? byUid.get(inc.uid);
      if (l && l.etag !== inc.gatewayEtag) candidates.set(l.name, { i, name: l.name, etag: l.etag });
    });
    if (candidates.size === 0) return incoming;
    const out = [...incoming];
    for (const r of await this.d.objects.getMany(calendarId, [...candidates.keys()])) {
      const c = candidates.get(r.name)!;
      const inc = out[c.i] as Extract<Incoming, { kind: "upsert" }>;
      if (sameContent(r.ics, inc.ics)) out[c.i] = { ...inc, gatewayEtag: r.etag };
    }
    return out;
  }
}

/** The store's actions, each made (parsed, its occurrences computed) only when applyPulled reaches it. */
function* prepared(actions: readonly Action[]): Generator<PulledAction> {
  for (const a of actions) yield* toPulled(a);
}

/** A plan action as the store applies it (upstream versions become the object's base). */
function toPulled(a: Action): PulledAction[] {
  const expect = (l: Link) => ({ etag: l.etag, upstreamId: l.upstream_href, upstreamEtag: l.upstream_etag });
  switch (a.type) {
    case "skip":
      return [];
    case "delete":
      return [{ type: "delete", name: a.name, expect: expect(a.expect) }];
    case "link":
      return [{ type: "link", name: a.name, upstreamId: a.id, upstreamEtag: a.etag, baseIcs: parseCalendarObject(a.ics).text, expect: expect(a.expect) }];
    case "create":
    case "update": {
      const parsed = parseCalendarObject(a.ics);
      const write = { ...objectWrite(a.name, parsed), upstreamHref: a.id, upstreamEtag: a.etag, baseIcs: parsed.text };
      return a.type === "create" ? [{ type: "create", write }] : [{ type: "update", write, expect: expect(a.expect) }];
    }
  }
}

function describe(e: Error, src: SourceConfig): string {
  const where = "url" in src ? ` (${src.url})` : "";
  if (e instanceof AuthRequired) return `the upstream refused the credentials of source "${src.id}"${where}: ${e.message}`;
  if (e instanceof SuspiciousEmptyUpstream || e instanceof IncompleteApply) return e.message;
  if (e instanceof RateLimited) return `rate-limited by the upstream${where}: ${e.message}`;
  if (e instanceof Transient) return `the upstream is unreachable or failing${where}: ${e.message}`;
  return `${e.name}: ${e.message}`;
}
