/**
 * What the CLI expects from src/main.ts (the composition root). main.ts can check itself with
 * `export const startServer: StartServer = async (config, opts) => { ... }` or `satisfies`.
 * runAuth, runSyncOnce and openConflictLog are optional: when main.ts does not export them, `calgate
 * auth`, `calgate sync` and `calgate conflicts` say they are not available in this version.
 */
import type { Config } from "../config/schema.ts";
import type { Logger } from "../status/log.ts";
import type { AdapterRegistry } from "../sources/registry.ts";
import type { ThrottleOptions } from "../http/middleware/auth-basic.ts";
import type { ConflictDetail, ConflictEntry, ConflictVersion } from "../store/conflicts.ts";
import type { ChangeFeed } from "../store/db.ts";

export interface StartOptions {
  /** Absolute path of the config file, or null when the embedded default is in use. */
  configPath: string | null;
  /** Password generated for the embedded default's user (already printed by the CLI), or null. */
  generatedPassword: string | null;
  logger: Logger;
  /** Adapter factories by source type, instead of the built-in ones (tests tune retry timings with it). */
  adapters?: AdapterRegistry;
  /** Failed-login throttle settings over the defaults (auth-basic.ts); tests shorten the delays. */
  loginThrottle?: Partial<ThrottleOptions>;
  /**
   * Calendars up to keepMembers keep their member listing, larger ones are listed pageMembers at a
   * time (default 25,000 / 2,000, sync/service.ts); tests shrink it so real clients meet paged listings.
   */
  memberListing?: { keepMembers: number; pageMembers: number };
}

export interface ServerHandle {
  /** Base URL clients use, e.g. "http://127.0.0.1:5232/". */
  url: string;
  /** The in-process change feed (every committed object change), for embedders and tests that follow it. */
  changes?: ChangeFeed;
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

/** What `calgate conflicts restore` did (ok), or why it could not (a message for the user; exit 1). */
export type RestoreResult =
  | {
      ok: true;
      conflict: ConflictDetail;
      version: ConflictVersion;
      /** sent: the upstream holds it; queued: in the outbox, replayed by `calgate serve` / `sync --once`; stored: a local calendar (no upstream). */
      delivery: "sent" | "queued" | "stored";
      /** The object's new gateway ETag. */
      etag: string;
      /** The outbox row that carries it to the upstream, or null (local calendar). */
      outboxId: number | null;
      /** Why a queued write is still waiting (the upstream's last error), or null. */
      lastError: string | null;
    }
  | { ok: false; message: string };

/** The conflict log over the database of `config` (safe while `calgate serve` runs on it). */
export interface ConflictLog {
  list(q: { owner?: string | undefined; sourceId?: string | undefined }): Promise<ConflictEntry[]>;
  get(id: number): Promise<ConflictDetail | null>;
  /** Writes that version back through the normal write path (cache + outbox, If-Match on the current ETag). */
  restore(id: number, version: ConflictVersion): Promise<RestoreResult>;
  close(): Promise<void>;
}
export type OpenConflictLog = (config: Config, logger: Logger) => Promise<ConflictLog>;

/** Client writes from the command line (`calgate import`), through the CalendarService and writer a DAV PUT uses. */
export interface CalendarWriter {
  /** The user's calendar by its URL name, or null. */
  calendar(owner: string, name: string): Promise<import("../dav/service.ts").CalendarMeta | null>;
  /** URL names of the user's calendars (for "no such calendar" messages). */
  calendarNames(owner: string): Promise<string[]>;
  /** A create (If-None-Match: *): stored, queued and sent upstream exactly as a client's PUT. */
  create(owner: string, cal: import("../dav/service.ts").CalendarMeta, name: string, ics: string): Promise<import("../dav/service.ts").PutResult>;
  /** Waits for writes to the upstreams (those past the write deadline stay queued for `serve`), then closes the database. */
  close(): Promise<void>;
}
export type OpenCalendarWriter = (config: Config, logger: Logger) => Promise<CalendarWriter>;
