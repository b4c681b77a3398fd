/**
 * What the CLI expects from src/main.ts (the composition root). main.ts can check itself with
 * `export const startServer: StartServer = async (config, opts) => { ... }` or `satisfies`.
 * runAuth and runSyncOnce are optional: when main.ts does not export them, `calgate auth` and
 * `calgate sync` say they are not available in this version.
 */
import type { Config } from "../config/schema.ts";
import type { Logger } from "../status/log.ts";
import type { AdapterRegistry } from "../sources/registry.ts";

export interface StartOptions {
  /** Absolute path of the config file, or null when the embedded default is in use. */
  configPath: string | null;
  /** Password generated for the embedded default's user (already printed by the CLI), or null. */
  generatedPassword: string | null;
  logger: Logger;
  /** Adapter factories by source type, instead of the built-in ones (tests tune retry timings with it). */
  adapters?: AdapterRegistry;
}

export interface ServerHandle {
  /** Base URL clients use, e.g. "http://127.0.0.1:5232/". */
  url: string;
  /** Stops accepting requests, finishes in-flight work, closes the database. */
  close(): Promise<void>;
}

export type StartServer = (config: Config, opts: StartOptions) => Promise<ServerHandle>;

export interface RunOptions {
  /** The user owning the source (resolved by the CLI; source ids are unique per user only). */
  username: string | null;
  configPath: string | null;
}

/** Interactive OAuth for one google/microsoft source; stores the refresh token encrypted. */
export type RunAuth = (config: Config, provider: "google" | "microsoft", sourceId: string, logger: Logger, opts: RunOptions) => Promise<void>;

/**
 * One sync of one source (sourceId) or of every source (null), then return. Resolving to an object
 * with `ok: false` makes the CLI exit 1; throwing prints the error and exits 1.
 */
export type RunSyncOnce = (config: Config, sourceId: string | null, logger: Logger, opts: RunOptions) => Promise<void | { ok: boolean }>;
