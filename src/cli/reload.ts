/**
 * SIGHUP: read the config file again and, when it is valid, serve it. A config with problems is
 * refused (the problems are logged) and the running one kept. A valid one replaces the running
 * server as a whole (a stop and start inside the process: requests in flight finish, SSE clients
 * reconnect with Last-Event-ID), so every key applies, users and sources alike; when the new one
 * cannot start (its port is taken, say), the previous configuration is served again.
 */
import { ConfigError, formatIssue, loadConfig } from "../config/load.ts";
import { plainHttpWarning } from "../config/exposure.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../status/log.ts";
import type { ServerHandle, StartServer } from "./contract.ts";
import { listenErrorMessage } from "./listen-error.ts";

export interface LiveServerDeps {
  startServer: StartServer;
  /** null: the embedded default, which has no file to read again. */
  configPath: string | null;
  env: NodeJS.ProcessEnv;
  logger: Logger;
}

export class LiveServer {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private server: ServerHandle,
    private config: Config,
    private readonly deps: LiveServerDeps,
  ) {}

  get url(): string {
    return this.server.url;
  }

  /** One reload at a time; resolves once it is done (rejects only when no configuration could be served). */
  reload(): Promise<void> {
    const run = this.chain.then(() => this.reloadNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.server.close();
  }

  private async reloadNow(): Promise<void> {
    const { configPath, logger } = this.deps;
    if (configPath === null) {
      logger.warn("SIGHUP: calgate runs the embedded default (no config file), so there is nothing to reload; CALGATE_* variables apply at the next start");
      return;
    }
    let next: Config;
    try {
      next = loadConfig(configPath, this.deps.env);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      logger.error({ problems: e.issues.map(formatIssue) }, "SIGHUP: the config file has problems; keeping the running configuration");
      return;
    }
    const exposure = plainHttpWarning(next);
    if (exposure !== null) logger.warn(exposure);
    await this.server.close();
    try {
      this.server = await this.start(next);
      this.config = next;
      logger.level = next.logging.level; // the one logger of the process follows logging.level too
      logger.info({ users: next.users.length, url: this.server.url }, "SIGHUP: configuration reloaded");
    } catch (e) {
      logger.error({ err: listenErrorMessage(e, next, configPath) ?? (e as Error).message }, "SIGHUP: the new configuration could not be served; serving the previous one again");
      this.server = await this.start(this.config);
    }
  }

  private start(config: Config): Promise<ServerHandle> {
    return this.deps.startServer(config, { configPath: this.deps.configPath, generatedPassword: null, logger: this.deps.logger });
  }
}
