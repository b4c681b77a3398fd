/** Composition root: config → db → services → http. No logic of its own beyond wiring. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { storageTarget, type Config } from "./config/schema.ts";
import type { StartServer, ServerHandle } from "./cli/contract.ts";
import { changeFeed, openDb, type ChangeFeed } from "./store/db.ts";
import { OccurrenceBackfill } from "./sync/occurrence-backfill.ts";
import { CalendarStore } from "./store/calendars.ts";
import { ObjectStore } from "./store/objects.ts";
import { StoreCalendarService, type SourceDirectory } from "./sync/service.ts";
import { ensureLocalCalendars } from "./sources/local/provision.ts";
import { BasicAuth, DEFAULT_THROTTLE } from "./http/middleware/auth-basic.ts";
import { createApp, markReady } from "./http/app.ts";
import { Metrics } from "./status/metrics.ts";
import type { Logger } from "./status/log.ts";
import type { OpenConflictLog, RunSyncOnce } from "./cli/contract.ts";
import { PreconditionFailed, UidConflict } from "./dav/service.ts";
import type { Db } from "./store/db.ts";
import { SourceStore } from "./store/sources.ts";
import { OutboxStore } from "./store/outbox.ts";
import { ConflictStore } from "./store/conflicts.ts";
import { StatusEventStore } from "./store/status-events.ts";
import { StatusBus } from "./status/bus.ts";
import { EventStreams } from "./http/sse.ts";
import { pushRoute, syncNowRoute } from "./http/routes.ts";
import { SyncEngine } from "./sync/engine.ts";
import { Writer } from "./sync/writer.ts";
import { Scheduler } from "./sync/scheduler.ts";
import { Liveness } from "./sync/liveness.ts";
import { InstanceStore } from "./store/instances.ts";
import { configuredAdapters, PUSH_PARSERS, type AdapterRegistry } from "./sources/registry.ts";
import { ChannelStore } from "./store/channels.ts";
import { configWarnings } from "./config/warnings.ts";
import { PushChannels } from "./sync/push.ts";
import { WriteBackStore } from "./store/writeback.ts";
import { SecretStore } from "./store/secrets.ts";
import { SecretBox } from "./auth/crypto.ts";
import { budgetWaits } from "./sources/budget.ts";
import { Catalog } from "./sync/catalog.ts";
import { MergedCalendarService } from "./sync/merged.ts";
import { MergedStore } from "./store/merged.ts";
import { MergedFollower } from "./sync/merged-follow.ts";
import { MirrorStore } from "./store/mirrors.ts";
import { MirrorRunner } from "./sync/mirrors.ts";
import { mirrorRules } from "./sync/mirror-rules.ts";
import { SourceStates } from "./status/source-states.ts";
import { StatusSnapshot } from "./status/snapshot.ts";
import { statusRoutes } from "./http/status-page.ts";
import { drainable } from "./http/drain.ts";

/** How long shutdown waits for requests and syncs in flight before cutting them (`calgate serve` exits after 15 s). */
const SHUTDOWN_GRACE_MS = 5_000;
import { readFileSync } from "node:fs";
import { PushRegistrationStore } from "./store/push-registrations.ts";
import { WebPush } from "./status/webpush.ts";
import { WebPushDelivery } from "./status/webpush-delivery.ts";
import { pushRegistrationRoute } from "./http/push-registrations.ts";

export const DEFAULT_LIMITS = { maxInstances: 10_000, maxMultigetHrefs: 5_000, syncPageSize: 100_000 };

export function sourceDirectory(config: Config, registry: AdapterRegistry): SourceDirectory {
  const isSynced = (type: string): boolean => type in registry;
  const byUser = new Map(config.users.map((u) => [u.username, new Map(u.sources.map((s) => [s.id, s]))]));
  return {
    info(owner, sourceId) {
      const src = byUser.get(owner)?.get(sourceId);
      // Calendars whose source left the config stay readable; writes are refused, because they would reach
      // nobody (and a source restored later resumes from its cursor, which would never push them).
      return { type: src?.type ?? "local", configured: src !== undefined, synced: src !== undefined && isSynced(src.type) };
    },
    defaultLocal(owner) {
      for (const [id, s] of byUser.get(owner) ?? []) if (s.type === "local") return id;
      return "local";
    },
  };
}

export interface BuildSyncOptions {
  /** Adapter factories by source type: configuredAdapters(config), or scripted upstreams in tests. */
  adapters: AdapterRegistry;
  /** Sync lease lifetime (tests shorten it; default in sync/engine.ts). */
  leaseMs?: number;
  /** Member listings kept / paged (StartOptions.memberListing); the service's defaults when absent. */
  memberListing?: { keepMembers: number; pageMembers: number };
}

/** The sync rooms over one database: stores, status bus, catalog, engine, writer and the CalendarService. */
export function buildSync(config: Config, db: Db, log: Logger, opts: BuildSyncOptions) {
  const registry = opts.adapters;
  const calendars = new CalendarStore(db);
  const objects = new ObjectStore(db);
  const sources = new SourceStore(db);
  const outbox = new OutboxStore(db);
  const conflicts = new ConflictStore(db);
  const writeback = new WriteBackStore(db);
  // The key derivation costs tens of milliseconds: only when a source first needs a secret.
  let secretStore: SecretStore | null = null;
  const secrets = config.secretKey ? () => (secretStore ??= new SecretStore(db, SecretBox.fromSecretKey(config.secretKey!))) : null;
  const bus = new StatusBus(new StatusEventStore(db), log);
  // The engine owns source status; the catalog (made first) reaches it when an adapter reports a refresh.
  const catalog = new Catalog({ config, registry, calendars, objects, sources, secrets, onTokenRefresh: (owner, sourceId, ok, message) => engine.tokenRefreshed(owner, sourceId, ok, message), onWarning: (owner, sourceId, message) => engine.warned(owner, sourceId, message) });
  // Heartbeats of this process's holders, so another instance can take over what a dead one held.
  const liveness = new Liveness(new InstanceStore(db), () => [engine.holder, writer.holder], log);
  const writer = new Writer({ calendars, outbox, writeback, catalog, bus, log, deadlineMs: config.sync.writeDeadlineMs, policy: config.sync.conflictPolicy, liveness });
  // What a person needs to know per source (source.status events, /status.json).
  const states = new SourceStates({
    row: (owner, sourceId) => sources.get(owner, sourceId),
    pending: () => outbox.pendingBySource(),
    configured: (owner) => (config.users.find((u) => u.username === owner)?.sources ?? []).map((s) => ({ id: s.id, type: s.type, synced: s.type in registry })),
    warning: (owner, sourceId) => engine.warning(owner, sourceId),
  });
  const engine = new SyncEngine({ db, catalog, calendars, objects, sources, outbox, conflicts, bus, log, states, replay: (owner, sourceId) => writer.replay(owner, sourceId), liveness, ...(opts.leaseMs ? { leaseMs: opts.leaseMs } : {}) });
  const directory = sourceDirectory(config, registry);
  const plain = new StoreCalendarService(calendars, objects, directory, writer, undefined, opts.memberListing);
  const service = new MergedCalendarService(plain, calendars, new MergedStore(db), config, (f) => void bus.publish({ type: "merged.updated", owner: f.owner, source: "merged", calendar: f.merged, changed: f.changed }));
  // Mirror copies are written like a client's PUT/DELETE: queued for the target's upstream, sent by the writer.
  const mirrors = new MirrorRunner({ rules: mirrorRules(config), calendars, objects, service: plain, store: new MirrorStore(db), bus, log });
  return { calendars, objects, outbox, conflicts, bus, catalog, engine, writer, liveness, service, mirrors, states, changes: changeFeed(db) as ChangeFeed, follower: new MergedFollower(service, calendars, log) };
}

export const startServer: StartServer = async (config, opts) => {
  const log = opts.logger;
  const adapters = opts.adapters ?? (await configuredAdapters(config));
  const db = await openDb(storageTarget(config.storage));
  const { calendars, objects, conflicts, bus, catalog, engine, writer, liveness, service, states, mirrors, changes, follower } = buildSync(config, db, log, { adapters, ...(opts.memberListing ? { memberListing: opts.memberListing } : {}) });
  await ensureLocalCalendars(config, calendars, log);
  for (const w of configWarnings(config, (type) => type in adapters)) log.warn(w);
  for (const w of await mirrors.problems()) log.warn(w);
  for (const u of config.users) {
    for (const m of u.merged ?? []) {
      if (await calendars.get(u.username, m.id)) log.warn(`users.${u.username}.merged.${m.id}: a calendar named "${m.id}" already exists in ${u.username}'s home, so this merged calendar is not served; give it another id`);
    }
  }
  const scheduler = new Scheduler(engine, writer, config, log);
  states.nextSyncAt = (owner, sourceId) => scheduler.nextSyncAt(owner, sourceId);
  // GET /status and /status.json; other rooms add sections with status.section("merged", ...).
  const status = new StatusSnapshot({ states, calendars: (owner) => calendars.listByOwner(owner), conflicts: (owner) => conflicts.listAll({ owner }) });
  status.section("merged", (owner) => service.status(owner));
  status.section("mirrors", async (owner) => (await mirrors.status(owner)).map((r) => ({ ...r })));
  const push = new PushChannels({
    catalog, calendars, channels: new ChannelStore(db), publicUrl: config.server.publicUrl ?? null, log,
    trigger: (owner, sourceId, reason) => void scheduler.trigger(owner, sourceId, reason),
    othersAlive: () => liveness.othersAlive(),
  });
  await push.forgetOrphans();
  // After each successful sync of a source that can watch: its calendars have live push subscriptions.
  const unwatchPush = bus.subscribe(
    (e) => e.type === "sync.completed",
    (e) => void push.ensure(e.owner, e.source).catch((err: Error) => log.warn({ owner: e.owner, source: e.source, err: err.message }, "could not open push subscriptions; polling continues")),
    { localOnly: true }, // by the instance that ran the sync: two instances would open two subscriptions
  );
  const { webPush, delivery, unwatchMerged } = await startWebPush(config, db, log, { calendars, service, changes, bus });
  const metrics = new Metrics();
  const unwatchMetrics = metrics.watchSync({ bus, upstreamRequests: () => engine.upstreamRequests(), outboxDepth: () => engine.outboxDepth(), rateLimitWaits: () => budgetWaits });
  delivery.onOutcome = (outcome) => metrics.pushMessages.inc({ outcome });
  const streams = new EventStreams(bus);
  metrics.watchStreams(() => streams.stats());
  metrics.watchScheduler(() => scheduler.load());
  const auth = new BasicAuth(config.users.map((u) => ({ username: u.username, password: u.password, passwordHash: u.passwordHash })), { ...DEFAULT_THROTTLE, ...opts.loginThrottle });
  const app = createApp({
    service,
    auth,
    log,
    metrics,
    trustProxy: config.server.trustProxy,
    metricsAuth: config.server.metricsAuth,
    limits: { ...DEFAULT_LIMITS, maxResourceBytes: config.server.maxResourceBytes, maxBodyBytes: config.server.maxBodyBytes },
    push: webPush,
    extraRoutes: [streams.route(), statusRoutes(status), syncNowRoute(scheduler, engine), pushRoute(push, PUSH_PARSERS), pushRegistrationRoute(webPush)],
  });
  const server: Server = createServer(app.callback());
  const drain = drainable(server);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.server.port, config.server.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}/`;
  await bus.start();
  follower.start(changes);
  const unwatchMirrors = mirrors.watch(changes);
  void mirrors.trigger(); // catch-up: what changed while calgate was not running
  await liveness.start();
  scheduler.start();
  // Objects stored before the occurrence index existed, or near its horizon: indexed in the background.
  const backfill = new OccurrenceBackfill(db, objects, log);
  backfill.start();
  markReady(app);
  log.info({ url, users: config.users.length }, "calgate is serving CalDAV");
  const handle: ServerHandle = {
    url,
    changes,
    /**
     * Graceful shutdown: stop accepting; SSE streams get a final event; requests in flight and syncs in
     * flight get a grace period (then syncs are aborted: they resume from their last saved cursor);
     * write-backs in flight finish and are recorded in the outbox before the database closes.
     */
    async close() {
      streams.closeAll();
      const http = drain.close(SHUTDOWN_GRACE_MS);
      unwatchPush();
      unwatchMirrors();
      await scheduler.stop(); // no new syncs; the queued-write replay in progress has finished
      await mirrors.close();
      await push.close();
      await Promise.race([engine.idle(), new Promise((r) => setTimeout(r, SHUTDOWN_GRACE_MS).unref())]);
      engine.close();
      writer.close();
      await engine.idle();
      await writer.idle(); // a sync still running would otherwise write to the closed database
      await liveness.stop();
      await follower.close();
      await backfill.close();
      unwatchMerged();
      await delivery.close();
      const { cut } = await http;
      if (cut > 0) log.warn({ requests: cut }, "requests still running at shutdown were cut");
      unwatchMetrics();
      metrics.close();
      await bus.stop();
      await db.destroy();
    },
  };
  return handle;
};

/**
 * WebDAV-Push: the registry (VAPID keys, registrations) and its delivery, driven by the change feed
 * (stored calendars) and `merged.updated` (merged calendars).
 */
async function startWebPush(config: Config, db: Db, log: Logger, rooms: { calendars: CalendarStore; service: import("./dav/service.ts").CalendarService; changes: ChangeFeed; bus: StatusBus }) {
  const store = new PushRegistrationStore(db);
  const webPush = await WebPush.open(store, { allowPrivateEndpoints: config.push.allowPrivateEndpoints });
  await store.pruneExpired();
  const publicUrl = config.server.publicUrl;
  const delivery = new WebPushDelivery({
    registry: webPush, store, log,
    calendarOf: async (id) => {
      const r = await rooms.calendars.byId(id);
      return r ? { owner: r.owner, name: r.name } : null;
    },
    collection: async (owner, name) => {
      const m = await rooms.service.calendar({ username: owner }, name);
      return m ? { id: m.id, syncToken: m.syncToken } : null;
    },
    // The VAPID contact: the server's public https URL when it has one.
    subject: publicUrl && publicUrl.startsWith("https://") ? publicUrl : "mailto:calgate@invalid",
    caCert: config.push.caCert ? readFileSync(config.push.caCert, "utf8") : null,
  });
  delivery.follow(rooms.changes);
  const unwatchMerged = rooms.bus.subscribe((e) => e.type === "merged.updated", (e) => delivery.mergedChanged(e.owner, e.calendar!));
  return { webPush, delivery, unwatchMerged };
}

/** `calgate sync --once [source-id]`: replay queued writes and pull, once, for the chosen sources; safe beside `serve`. */
export const runSyncOnce: RunSyncOnce = async (config, sourceId, logger, opts) => {
  const db = await openDb(storageTarget(config.storage));
  try {
    const { calendars, engine, writer, liveness, mirrors } = buildSync(config, db, logger, { adapters: await configuredAdapters(config) });
    await ensureLocalCalendars(config, calendars, logger);
    await liveness.start();
    const targets = engine.syncedSources(opts.username, sourceId);
    const results = [];
    for (const t of targets) results.push(await engine.syncSource(t.owner, t.source.id, { reason: "sync --once", waitForLease: true }));
    await writer.idle();
    for (const r of results) {
      const line = { owner: r.owner, source: r.source, ok: r.ok, calendars: r.calendars, created: r.stats.created, updated: r.stats.updated, deleted: r.stats.deleted, skipped: r.stats.skipped, requests: r.requests, ms: r.ms, ...(r.error ? { error: r.error } : {}) };
      if (r.ok) logger.info(line, "sync finished");
      else logger.error(line, "sync failed");
    }
    // Then the mirror rules of the chosen user(s), over what the syncs brought.
    const applied = await mirrors.runAll(opts.username ?? undefined);
    await writer.idle();
    for (const m of applied) {
      const line = { owner: m.rule.owner, rule: m.rule.key, created: m.created, updated: m.updated, deleted: m.deleted, skipped: m.skipped, errors: m.errors, ...(m.problem ? { waiting: m.problem } : {}), ...(m.lastError ? { error: m.lastError } : {}) };
      if (m.errors > 0) logger.error(line, "mirror rule had errors");
      else logger.info(line, "mirror rule applied");
    }
    await liveness.stop();
    return { ok: results.every((r) => r.ok) && applied.every((m) => m.errors === 0) };
  } finally {
    await db.destroy();
  }
};

/** `calgate import`: the same CalendarService and writer as a DAV PUT, so sourced calendars send imports upstream. */
export const openCalendarWriter: import("./cli/contract.ts").OpenCalendarWriter = async (config, logger) => {
  const db = await openDb(config.storage.filename);
  const { calendars, engine, writer, service } = buildSync(config, db, logger, { adapters: await configuredAdapters(config) });
  await ensureLocalCalendars(config, calendars, logger);
  return {
    calendar: (owner, name) => service.calendar({ username: owner }, name),
    calendarNames: async (owner) => (await service.calendars({ username: owner })).map((c) => c.name),
    create: (owner, cal, name, ics) => service.put({ username: owner }, cal, name, ics, { ifMatch: null, ifNoneMatch: "*" }),
    async close() {
      await writer.idle();
      engine.close();
      writer.close();
      await engine.idle();
      await db.destroy();
    },
  };
};

/** `calgate auth <google|microsoft> <source-id>`: loaded on demand (the OAuth libraries stay out of `serve`). */
export const runAuth: import("./cli/contract.ts").RunAuth = async (...args) => (await import("./cli/auth-run.ts")).runAuth(...args);

/**
 * `calgate conflicts list|show|restore`: the conflict log, safe beside `serve`. A restore is a client
 * write (the same CalendarService and writer as a DAV PUT): the cache change and its outbox row commit
 * in one transaction, with If-Match on the object's current ETag, and the upstream gets it now or by replay.
 */
export const openConflictLog: OpenConflictLog = async (config, logger) => {
  const db = await openDb(storageTarget(config.storage));
  const adapters = await configuredAdapters(config);
  const { calendars, objects, outbox, conflicts, bus, engine, writer } = buildSync(config, db, logger, { adapters });
  const directory = sourceDirectory(config, adapters);
  let outboxId: number | null = null;
  const service = new StoreCalendarService(calendars, objects, directory, { flush: (id, cal) => ((outboxId = id), writer.flush(id, cal)) });
  return {
    list: (q) => conflicts.listAll(q),
    get: (id) => conflicts.get(id),
    async restore(id, version) {
      const c = await conflicts.get(id);
      if (!c) return { ok: false, message: `no conflict with id ${id} (\`calgate conflicts list\` shows them)` };
      const text = version === "local" ? c.local : version === "remote" ? c.remote : c.base;
      if (text === null) {
        const why = version === "base" ? "no common base version was recorded" : version === "local" ? "the local side had deleted the object" : "the upstream had deleted the object";
        return { ok: false, message: `conflict ${id} has no ${version} version (${why}); nothing to restore` };
      }
      const cal = (await calendars.byId(c.calendarId))!;
      if (!directory.info(cal.owner, cal.source_id).configured) return { ok: false, message: `calendar "${cal.name}" of user "${cal.owner}" belongs to source "${cal.source_id}", which is no longer in the configuration; add it back to restore this conflict` };
      const meta = (await service.calendar({ username: cal.owner }, cal.name))!;
      if (!meta.writable) return { ok: false, message: `calendar "${cal.name}" of user "${cal.owner}" is read-only; nothing can be written back to it` };
      const current = await objects.get(cal.id, c.object);
      outboxId = null;
      try {
        const r = await service.put({ username: cal.owner }, meta, c.object, text, current ? { ifMatch: [current.etag], ifNoneMatch: null } : { ifMatch: null, ifNoneMatch: "*" });
        await writer.idle();
        const row = outboxId !== null ? await outbox.get(outboxId) : null;
        const delivery = row === null ? "stored" : row.state === "done" ? "sent" : "queued";
        const note = `restored the ${version} version${row ? ` (outbox ${row.id}, ${delivery})` : ""}`;
        await conflicts.markRestored(id, version, note);
        const fields = (await conflicts.eventFields(id))!;
        await bus.publish({ type: "conflict.resolved", owner: cal.owner, source: cal.source_id, calendar: cal.name, ...fields, resolution: note, restored: version });
        return { ok: true, conflict: (await conflicts.get(id))!, version, delivery, etag: r.etag, outboxId: row?.id ?? null, lastError: delivery === "queued" ? (row?.last_error ?? null) : null };
      } catch (e) {
        const what = e instanceof PreconditionFailed ? "the object changed meanwhile" : e instanceof UidConflict ? "another object of the calendar has this UID" : "the write was refused";
        return { ok: false, message: `could not restore the ${version} version of conflict ${id}: ${what}: ${(e as Error).message}` };
      }
    },
    async close() {
      engine.close();
      writer.close();
      await engine.idle();
      await writer.idle();
      await db.destroy();
    },
  };
};
