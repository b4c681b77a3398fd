/** Composition root: config → db → services → http. No logic of its own beyond wiring. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Config } from "./config/schema.ts";
import type { StartServer, ServerHandle } from "./cli/contract.ts";
import { openDb } from "./store/db.ts";
import { CalendarStore } from "./store/calendars.ts";
import { ObjectStore } from "./store/objects.ts";
import { StoreCalendarService, type SourceDirectory } from "./sync/service.ts";
import { ensureLocalCalendars } from "./sources/local/provision.ts";
import { BasicAuth } from "./http/middleware/auth-basic.ts";
import { createApp, markReady } from "./http/app.ts";
import { Metrics } from "./status/metrics.ts";

export const DEFAULT_LIMITS = { maxInstances: 10_000, maxMultigetHrefs: 5_000, syncPageSize: 100_000 };

export function sourceDirectory(config: Config): SourceDirectory {
  const byUser = new Map(config.users.map((u) => [u.username, new Map(u.sources.map((s) => [s.id, s]))]));
  return {
    info(owner, sourceId) {
      const src = byUser.get(owner)?.get(sourceId);
      // Calendars whose source left the config stay readable and writable as local data.
      return { type: src?.type ?? "local", writable: true };
    },
    defaultLocal(owner) {
      for (const [id, s] of byUser.get(owner) ?? []) if (s.type === "local") return id;
      return "local";
    },
  };
}

export const startServer: StartServer = async (config, opts) => {
  const log = opts.logger;
  const db = await openDb(config.storage.filename);
  const calendars = new CalendarStore(db);
  const objects = new ObjectStore(db);
  await ensureLocalCalendars(config, calendars, log);
  const service = new StoreCalendarService(calendars, objects, sourceDirectory(config));
  for (const u of config.users) {
    for (const s of u.sources) {
      if (s.type !== "local") log.warn({ user: u.username, source: s.id, type: s.type }, `source type "${s.type}" is not synced by this version yet; its calendars are not served`);
    }
  }
  const metrics = new Metrics();
  const auth = new BasicAuth(config.users.map((u) => ({ username: u.username, password: u.password, passwordHash: u.passwordHash })));
  const app = createApp({
    service,
    auth,
    log,
    metrics,
    trustProxy: config.server.trustProxy,
    limits: { ...DEFAULT_LIMITS, maxResourceBytes: config.server.maxResourceBytes, maxBodyBytes: config.server.maxBodyBytes },
  });
  const server: Server = createServer(app.callback());
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
  markReady(app);
  log.info({ url, users: config.users.length }, "calgate is serving CalDAV");
  const handle: ServerHandle = {
    url,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await db.destroy();
    },
  };
  return handle;
};
