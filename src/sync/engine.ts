/**
 * The sync engine: for one source, replay queued writes, list the upstream calendars (reconciling
 * added / removed / renamed ones), and for each calendar whose change marker moved, pull pages →
 * plan (pure) → apply. One sync per source at a time, across processes too (a lease row in
 * `sources`), so `calgate sync --once` and `calgate serve` can share a database. Every step is
 * published once on the status bus; upstream requests are counted per sync.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { Config, SourceConfig, CaldavSourceConfig } from "../config/schema.ts";
import type { Db } from "../store/db.ts";
import type { CalendarRow, CalendarStore } from "../store/calendars.ts";
import type { ObjectStore } from "../store/objects.ts";
import type { SourceStatus, SourceStore } from "../store/sources.ts";
import type { OutboxStore } from "../store/outbox.ts";
import type { StatusBus } from "../status/bus.ts";
import { AuthRequired, RateLimited, Transient, type RemoteCalendar, type RemoteEtag, type SourceAdapter } from "../sources/adapter.ts";
import { ADAPTERS } from "../sources/registry.ts";
import { parseCalendarObject } from "../ical/parse.ts";
import { etagOf } from "../ical/hash.ts";
import { plan, SuspiciousEmptyUpstream, type Incoming } from "./plan.ts";
import { applyActions, emptyStats, type ApplyStats } from "./actions.ts";
import { sameContent } from "./conflict.ts";

export interface EngineDeps {
  db: Db;
  config: Config;
  calendars: CalendarStore;
  objects: ObjectStore;
  sources: SourceStore;
  outbox: OutboxStore;
  bus: StatusBus;
  log: Logger;
}

export interface SyncResult {
  ok: boolean;
  owner: string;
  source: string;
  /** Another process held the source's lease and we did not wait. */
  busy?: boolean;
  calendars: number;
  stats: ApplyStats;
  requests: number;
  ms: number;
  error?: string;
  retryInMs?: number | null;
}

/** Writes queued for a source are replayed before each pull (sync/writer implements it). */
export interface OutboxReplayer {
  replay(owner: string, sourceId: string, signal: AbortSignal): Promise<void>;
}

const LEASE_MS = 10 * 60_000;
export const BACKOFF = { baseMs: 5_000, maxMs: 15 * 60_000, degradedAfter: 2 };

export function backoffMs(failures: number, hintMs: number | null, rnd = Math.random()): number {
  const exp = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** Math.max(0, failures - 1));
  const jittered = Math.round(exp * (0.5 + rnd));
  return Math.max(jittered, hintMs ?? 0);
}

export function slugOf(href: string): string {
  const seg = decodeURIComponent(new URL(href).pathname.split("/").filter(Boolean).pop() ?? "calendar");
  return seg.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "calendar";
}

function globMatch(glob: string, s: string): boolean {
  const re = new RegExp("^" + glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$", "i");
  return re.test(s);
}

export class SyncEngine {
  /** host:pid:nonce, so that a lease left by a process that died (kill -9) can be recognised and taken over. */
  readonly holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly adapters = new Map<string, SourceAdapter>();
  private readonly running = new Map<string, Promise<SyncResult>>();
  private readonly queued = new Map<string, Promise<SyncResult>>();
  replayer: OutboxReplayer | null = null;
  private readonly abort = new AbortController();

  constructor(private readonly d: EngineDeps) {}

  /** Every (owner, source) this engine syncs, optionally narrowed. */
  syncedSources(owner?: string | null, sourceId?: string | null): { owner: string; source: SourceConfig }[] {
    const out: { owner: string; source: SourceConfig }[] = [];
    for (const u of this.d.config.users) {
      if (owner && u.username !== owner) continue;
      for (const s of u.sources) if (ADAPTERS[s.type] && (!sourceId || s.id === sourceId)) out.push({ owner: u.username, source: s });
    }
    return out;
  }

  sourceConfig(owner: string, sourceId: string): SourceConfig | null {
    return this.d.config.users.find((u) => u.username === owner)?.sources.find((s) => s.id === sourceId) ?? null;
  }

  adapterFor(owner: string, sourceId: string): SourceAdapter | null {
    const key = `${owner}\u0000${sourceId}`;
    let a = this.adapters.get(key);
    if (a) return a;
    const src = this.sourceConfig(owner, sourceId);
    const factory = src ? ADAPTERS[src.type] : undefined;
    if (!src || !factory) return null;
    a = factory(src, {
      timeoutMs: this.d.config.sync.timeoutMs,
      state: { load: () => this.d.sources.loadState(owner, sourceId), save: (s) => this.d.sources.saveState(owner, sourceId, s) },
    });
    this.adapters.set(key, a);
    return a;
  }

  /** Upstream requests made so far by this process, per (owner, source) adapter (for /metrics). */
  upstreamRequests(): { owner: string; source: string; requests: number }[] {
    return this.syncedSources().map(({ owner, source }) => ({ owner, source: source.id, requests: this.adapters.get(`${owner}\u0000${source.id}`)?.requests ?? 0 }));
  }

  /** Writes queued for their upstream, per synced source (0 when none), for /metrics. */
  async outboxDepth(): Promise<{ owner: string; source: string; pending: number }[]> {
    const pending = new Map((await this.d.outbox.pendingBySource()).map((r) => [`${r.owner}\u0000${r.source}`, r.pending]));
    return this.syncedSources().map(({ owner, source }) => ({ owner, source: source.id, pending: pending.get(`${owner}\u0000${source.id}`) ?? 0 }));
  }

  /** The upstream side of a cached calendar, for writes. */
  remoteOf(row: CalendarRow): RemoteCalendar {
    return { id: row.source_calendar_id ?? row.upstream_href ?? "", href: row.upstream_href ?? "", displayname: row.displayname, color: row.color, description: row.description, components: row.components.split(","), version: row.upstream_ctag, writable: true };
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }
  close(): void {
    this.abort.abort(new Error("calgate is shutting down"));
  }
  /** Resolves once no sync runs in this process (after close(), running syncs end quickly); the db may then be closed. */
  async idle(): Promise<void> {
    for (let i = 0; i < 10 && (this.running.size > 0 || this.queued.size > 0); i++) {
      await Promise.allSettled([...this.running.values(), ...this.queued.values()]);
    }
  }

  /** One sync of one source. Concurrent calls in this process share a run (one more run is queued after a running one). */
  syncSource(owner: string, sourceId: string, opts: { reason: string; waitForLease?: boolean }): Promise<SyncResult> {
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

  private async run(owner: string, sourceId: string, opts: { reason: string; waitForLease?: boolean }): Promise<SyncResult> {
    const started = Date.now();
    const stats = emptyStats();
    const src = this.sourceConfig(owner, sourceId);
    const adapter = this.adapterFor(owner, sourceId);
    const base = { owner, source: sourceId, calendars: 0, stats, requests: 0, ms: 0 };
    if (!src || !adapter) return { ...base, ok: false, error: `source "${sourceId}" of ${owner} is not a synced source` };
    await this.d.sources.ensure(owner, sourceId, src.type);
    if (!(await this.lease(owner, sourceId, opts.waitForLease ?? false))) return { ...base, ok: true, busy: true };
    const requestsBefore = adapter.requests;
    const log = this.d.log.child({ owner, source: sourceId });
    try {
      await this.d.bus.publish({ type: "sync.started", owner, source: sourceId, reason: opts.reason });
      if (this.replayer) await this.replayer.replay(owner, sourceId, this.signal);
      const remote = await adapter.listCalendars(this.signal);
      const pairs = await this.reconcileCalendars(owner, src, remote, log);
      const notes: string[] = [];
      for (const [row, cal] of pairs) {
        const note = await this.syncCalendar(row, cal, adapter, stats, log);
        if (note) notes.push(`${row.name}: ${note}`);
      }
      const at = Date.now();
      const previous = await this.d.sources.succeeded(owner, sourceId, at);
      if (previous !== "ok") await this.d.bus.publish({ type: "source.status", owner, source: sourceId, status: "ok", message: null });
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
      const { failures, previous } = await this.d.sources.failed(owner, sourceId, at);
      const status: SourceStatus =
        e instanceof AuthRequired ? "auth_required" : failures >= BACKOFF.degradedAfter ? (e instanceof Transient && e.status === null ? "offline" : "degraded") : previous;
      const hint = e instanceof RateLimited ? e.retryAfterMs : e instanceof Transient ? e.retryAfterMs : null;
      const retryInMs = e instanceof AuthRequired ? null : backoffMs(failures, hint);
      const message = describe(err, src);
      log.warn({ err: message, failures, retryInMs }, "sync failed");
      await this.d.bus.publish({ type: "sync.failed", owner, source: sourceId, error: message, failures, retryInMs });
      if (status !== previous) {
        await this.d.sources.setStatus(owner, sourceId, status, message);
        await this.d.bus.publish({ type: "source.status", owner, source: sourceId, status, message });
      } else if (status !== "ok") await this.d.sources.setStatus(owner, sourceId, status, message);
      return { ...base, ok: false, error: message, retryInMs, requests: adapter.requests - requestsBefore, ms: at - started };
    } finally {
      await this.d.sources.release(owner, sourceId, this.holder).catch(() => undefined);
    }
  }

  private async lease(owner: string, sourceId: string, wait: boolean): Promise<boolean> {
    const deadline = Date.now() + 5 * 60_000;
    for (;;) {
      if (await this.d.sources.acquire(owner, sourceId, this.holder, LEASE_MS)) return true;
      if (await this.releaseIfHolderDead(owner, sourceId)) continue;
      if (!wait || Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Releases a lease whose holder was a process on this machine that no longer exists; true when it did. */
  private async releaseIfHolderDead(owner: string, sourceId: string): Promise<boolean> {
    const held = (await this.d.sources.get(owner, sourceId))?.lease_holder ?? null;
    const m = held === null ? null : /^(.*):(\d+):[0-9a-f]+$/.exec(held);
    if (!m || m[1] !== hostname() || held === this.holder) return false;
    const pid = Number(m[2]);
    if (pid !== process.pid) {
      try {
        process.kill(pid, 0);
        return false; // alive (or a reused pid: then we wait for the lease to expire, the safe side)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ESRCH") return false;
      }
    }
    await this.d.sources.release(owner, sourceId, held!);
    this.d.log.warn({ owner, source: sourceId, holder: held }, "took over the sync lease of a process that no longer exists");
    return true;
  }

  /** Creates, renames and removes cached calendars to match the upstream listing; returns the pairs to sync. */
  private async reconcileCalendars(owner: string, src: SourceConfig, remote: RemoteCalendar[], log: Logger): Promise<[CalendarRow, RemoteCalendar][]> {
    const rows = await this.d.calendars.listBySource(owner, src.id);
    if (remote.length === 0 && rows.length > 0) throw new SuspiciousEmptyUpstream(`the upstream listed no calendars while calgate has ${rows.length}; keeping them`);
    const include = (src as CaldavSourceConfig).include;
    const wanted = remote.filter((c) => !include || include.some((g) => globMatch(g, c.displayname ?? slugOf(c.href)) || globMatch(g, slugOf(c.href))));
    const byRemote = new Map(rows.map((r) => [r.source_calendar_id, r]));
    const out: [CalendarRow, RemoteCalendar][] = [];
    for (const c of wanted) {
      const displayname = c.displayname && c.displayname.trim() !== "" ? c.displayname : slugOf(c.href);
      let row = byRemote.get(c.id) ?? null;
      if (!row) {
        let name = `${src.id}-${slugOf(c.href)}`;
        for (let i = 2; await this.d.calendars.get(owner, name); i++) name = `${src.id}-${slugOf(c.href)}-${i}`;
        row = await this.d.calendars.create({ owner, name, sourceId: src.id, sourceCalendarId: c.id, displayname, color: c.color, description: c.description, components: c.components, upstreamHref: c.href });
        log.info({ calendar: name, href: c.href }, "new upstream calendar");
      } else if (row.displayname !== displayname || (c.color !== null && row.color !== c.color) || row.components !== c.components.join(",") || row.upstream_href !== c.href) {
        await this.d.calendars.update(row.id, { displayname, ...(c.color !== null ? { color: c.color } : {}), components: c.components, upstreamHref: c.href });
        row = (await this.d.calendars.byId(row.id))!;
      }
      out.push([row, c]);
    }
    const keep = new Set(out.map(([r]) => r.id));
    for (const r of rows) {
      if (keep.has(r.id)) continue;
      await this.d.calendars.remove(r.id);
      log.info({ calendar: r.name }, "upstream calendar removed (or no longer included); dropped from the cache");
    }
    return out;
  }

  private async syncCalendar(row: CalendarRow, cal: RemoteCalendar, adapter: SourceAdapter, stats: ApplyStats, log: Logger): Promise<string | undefined> {
    let cursor = row.upstream_cursor;
    if (cursor !== null && cal.version !== null && row.upstream_ctag === cal.version) return undefined; // nothing changed upstream
    const known = async (): Promise<ReadonlyMap<string, RemoteEtag | null>> => {
      const m = new Map<string, RemoteEtag | null>();
      for (const l of await this.d.objects.links(row.id)) if (l.upstream_href) m.set(l.upstream_href, l.upstream_etag);
      return m;
    };
    let note: string | undefined;
    for (let pages = 0; pages < 10_000; pages++) {
      const page = await adapter.pull(cal, cursor, this.signal, known);
      if (page.note) note = page.note;
      const links = await this.d.objects.links(row.id);
      const incoming = page.changes.map((c): Incoming => {
        if (c.kind === "delete") return c;
        try {
          const parsed = parseCalendarObject(c.ics);
          return { kind: "upsert", href: c.href, etag: c.etag, uid: parsed.uid, gatewayEtag: etagOf(parsed.text), ics: c.ics };
        } catch (e) {
          return { kind: "invalid", href: c.href, error: `unusable iCalendar from the upstream: ${(e as Error).message}` };
        }
      });
      const normalised = await this.sameContentAsCache(row.id, links, incoming);
      const pending = await this.d.outbox.pendingNames(row.id);
      const actions = plan({ links, incoming: normalised, pending, listed: page.done && page.full ? (page.listed ?? null) : null });
      await applyActions(this.d.db, row.id, actions, stats, log);
      cursor = page.next;
      await this.d.calendars.update(row.id, { upstreamCursor: cursor, ...(page.done ? { upstreamCtag: cal.version } : {}) });
      if (page.done) break;
    }
    return note;
  }

  /** An upstream version whose normalised content equals the cached one keeps the cached ETag (no change for clients). */
  private async sameContentAsCache(calendarId: number, links: readonly { name: string; uid: string; etag: string; upstream_href: string | null }[], incoming: Incoming[]): Promise<Incoming[]> {
    const byHref = new Map(links.filter((l) => l.upstream_href).map((l) => [l.upstream_href!, l]));
    const byUid = new Map(links.map((l) => [l.uid, l]));
    const candidates = new Map<string, { i: number; name: string; etag: string }>();
    incoming.forEach((inc, i) => {
      if (inc.kind !== "upsert") return;
      const l = byHref.get(inc.href) ?? byUid.get(inc.uid);
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

function describe(e: Error, src: SourceConfig): string {
  const where = src.type === "caldav" ? ` (${(src as CaldavSourceConfig).url})` : "";
  if (e instanceof AuthRequired) return `the upstream refused the credentials of source "${src.id}"${where}; check its username and (app-specific) password`;
  if (e instanceof SuspiciousEmptyUpstream) return e.message;
  if (e instanceof RateLimited) return `rate-limited by the upstream${where}: ${e.message}`;
  if (e instanceof Transient) return `the upstream is unreachable or failing${where}: ${e.message}`;
  return `${e.name}: ${e.message}`;
}
