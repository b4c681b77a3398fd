import { getHeapStatistics } from "node:v8";
import { plainHttpWarning } from "../config/exposure.ts";
import { createLogger } from "../status/log.ts";
import { CONFIG_OPTION, importMain, resolveConfig, UsageError, type Command } from "./common.ts";
import type { ServerHandle, StartServer } from "./contract.ts";
import { keepDefaultPassword, passwordBanner } from "./default-password.ts";
import { listenErrorMessage } from "./listen-error.ts";
import { LiveServer } from "./reload.ts";

const CLOSE_TIMEOUT_MS = 15_000;

export const serve: Command = {
  name: "serve",
  summary: "Sync every source and serve CalDAV (default: http://127.0.0.1:5232/)",
  synopsis: "calgate serve [-c FILE]",
  description: `Starts the gateway and keeps every source in sync. It serves CalDAV under /dav/ (discovery at
/.well-known/caldav; WebDAV-Push registrations at POST on a calendar), GET /healthz, GET /metrics
(Prometheus; behind a login with server.metricsAuth), and, with Basic auth, the status page
GET /status and its data GET /status.json, the status feed GET /events (Server-Sent Events) and
POST /sync (sync now); Google and Microsoft push notifications arrive at POST /hooks/google and
/hooks/microsoft.
Without a config file it runs the embedded default (SQLite at ./data/calgate.sqlite, one user
with one local calendar) and honours CALGATE_USER, CALGATE_PASSWORD (when unset, one is
generated on the first run, printed once, and its hash kept in ./data/default-password.hash
so it stays the same after restarts), CALGATE_HOST, CALGATE_PORT, CALGATE_SECRET_KEY and CALGATE_LOG_LEVEL.
SIGINT/SIGTERM stop it gracefully: new connections are refused, /events streams get a final
server.closing event, requests and syncs in flight get 5 s (an unfinished sync resumes on the
next start), and write-backs in flight are recorded before the database closes. SIGHUP reads the config file again: a file with problems
is refused (logged) and the running configuration kept; a valid one is served at once, users
and sources included (the server restarts inside the process; clients reconnect).`,
  options: { config: CONFIG_OPTION },
  async run({ values, positionals }, ctx) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const resolved = resolveConfig(values.config as string | undefined, ctx);
    const { configPath, generatedPassword } = resolved;
    // The embedded default's generated password survives restarts (its hash is kept in the data folder).
    const kept = generatedPassword !== null ? await keepDefaultPassword(resolved.config, generatedPassword) : null;
    const config = kept?.config ?? resolved.config;
    const logger = createLogger(config.logging.level);
    if (configPath === null) logger.info("no config file; using the embedded default configuration");
    const exposure = plainHttpWarning(config);
    if (exposure !== null) logger.warn(exposure);
    logger.info({ heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 1_048_576) }, "JavaScript heap limit (NODE_OPTIONS --max-old-space-size)");

    const main = await importMain();
    const startServer = main?.startServer as StartServer | undefined;
    if (typeof startServer !== "function") {
      ctx.stderr.write("calgate serve: this build has no server (src/main.ts does not export startServer)\n");
      return 1;
    }

    // Signals may arrive while the server is still starting; remember and act once it has.
    let stopRequested: NodeJS.Signals | null = null;
    let wake: (() => void) | null = null;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopRequested) {
        ctx.stderr.write(`calgate serve: ${sig} again, exiting now\n`);
        process.exit(1);
      }
      stopRequested = sig;
      wake?.();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    // SIGHUP reloads (below); one that arrives while starting is kept for then, rather than ending the process.
    let live: LiveServer | null = null;
    let hangupPending = false;
    let fatal: Error | null = null;
    const onHangup = (): void => {
      if (live === null) {
        hangupPending = true;
        return;
      }
      void live.reload().catch((e: Error) => {
        fatal = e;
        wake?.();
      });
    };
    process.on("SIGHUP", onHangup);

    let server: ServerHandle;
    try {
      server = await startServer(config, { configPath, generatedPassword: kept?.printOnce ?? null, logger });
    } catch (e) {
      const message = listenErrorMessage(e, config, configPath);
      if (message === null) throw e;
      ctx.stderr.write(`calgate serve: ${message}\n`);
      return 1;
    }
    if (kept !== null) {
      kept.commit();
      ctx.stdout.write(passwordBanner(kept, server.url));
    }

    live = new LiveServer(server, config, { startServer, configPath, env: ctx.env, logger });
    if (hangupPending) onHangup();

    if (!stopRequested) await new Promise<void>((resolve) => (wake = resolve));
    process.off("SIGHUP", onHangup);
    process.on("SIGHUP", () => logger.warn("SIGHUP ignored: calgate is shutting down"));
    if (fatal !== null) {
      ctx.stderr.write(`calgate serve: after SIGHUP neither the new nor the previous configuration could be served: ${(fatal as Error).message}\n`);
      return 1;
    }
    logger.info({ signal: stopRequested }, "shutting down");
    const timer = setTimeout(() => {
      logger.error("shutdown took too long; exiting");
      process.exit(1);
    }, CLOSE_TIMEOUT_MS);
    timer.unref();
    await (live as LiveServer).close();
    clearTimeout(timer);
    logger.info("stopped");
    return 0;
  },
};
