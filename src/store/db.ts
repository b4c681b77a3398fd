/** Opens the SQLite cache with knex, sets WAL mode and runs the migrations. */
import { AsyncLocalStorage } from "node:async_hooks";
import { EventEmitter } from "node:events";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import knexFactory, { type Knex } from "knex";
import { migrations } from "../../migrations/index.ts";

export type Db = Knex;
/** A transaction handle; only src/store sees what it is. */
export type Tx = Knex.Transaction;

/*
 * Every transaction starts with BEGIN IMMEDIATE: it takes the write lock up front, waiting on
 * busy_timeout. A deferred BEGIN that reads first and writes later fails at once with SQLITE_BUSY
 * when another process (e.g. `calgate sync --once`) committed in between (a stale snapshot cannot
 * be upgraded, and busy_timeout does not help), which lost pulled changes and gave clients 500s.
 * knex has no option for it, so its SQLite client is subclassed here, the only place that knows.
 */
const require = createRequire(import.meta.url);
type Ctor = new (...args: never[]) => object;
const SqliteClient = require("knex/lib/dialects/sqlite3/index.js") as Ctor & { prototype: { transaction: (...a: unknown[]) => unknown } };
const SqliteTransaction = require("knex/lib/dialects/sqlite3/execution/sqlite-transaction.js") as Ctor;
class ImmediateTransaction extends (SqliteTransaction as new (...args: unknown[]) => { query(conn: unknown, sql: string): Promise<unknown> }) {
  begin(conn: unknown): Promise<unknown> {
    return this.query(conn, "BEGIN IMMEDIATE;");
  }
}
class ImmediateSqliteClient extends (SqliteClient as new (...args: unknown[]) => object) {
  transaction(...args: unknown[]): unknown {
    return new ImmediateTransaction(this, ...args);
  }
}

/** One committed change of a calendar's contents (what sync tokens count). */
export interface Change {
  readonly calendarId: number;
  readonly seq: number;
  readonly name: string;
  readonly deleted: boolean;
}

/**
 * The in-process change feed: every committed object change, after its commit, in commit order, for
 * whatever follows the cache (merged calendars, mirrors, WebDAV-Push, the status page). Changes of
 * other processes on the same database are not seen here; they show in the change log (sync tokens).
 */
export interface ChangeFeed {
  subscribe(f: (c: Change) => void): () => void;
}
class Feed extends EventEmitter implements ChangeFeed {
  subscribe(f: (c: Change) => void): () => void {
    this.on("change", f);
    return () => this.off("change", f);
  }
}
const feeds = new WeakMap<object, Feed>();
export function changeFeed(db: Db): Feed {
  let f = feeds.get(db);
  if (!f) feeds.set(db, (f = new Feed().setMaxListeners(0) as Feed));
  return f;
}
/** Changes recorded inside the running unit of work; published when it commits. */
const recording = new AsyncLocalStorage<Change[]>();
export function recordForFeed(c: Change): void {
  recording.getStore()?.push(c);
}

/** SQLITE_BUSY / SQLITE_LOCKED: another connection held the database longer than busy_timeout. */
export function isBusy(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code ?? "";
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED" || /SQLITE_BUSY|database is locked/.test((e as Error | null)?.message ?? "");
}

/**
 * The unit of work: runs `fn` in one write transaction (lock taken up front), retried whole when the
 * database stayed busy. `fn` must not have side effects outside the transaction.
 */
export async function tx<T>(db: Db, fn: (trx: Tx) => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    const changes: Change[] = [];
    try {
      const out = await recording.run(changes, () => db.transaction(fn));
      for (const c of changes) changeFeed(db).emit("change", c);
      return out;
    } catch (e) {
      if (!isBusy(e) || i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, 50 * i + Math.floor(Math.random() * 50)));
    }
  }
}

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => migrations.map(([name]) => name),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const found = migrations.find(([n]) => n === name);
    if (!found) throw new Error(`unknown migration ${name}`);
    return found[1];
  },
};

/** `migrate: false` opens the database as it is (a backup copies it without upgrading it first). */
export async function openDb(filename: string, opts: { migrate?: boolean } = {}): Promise<Db> {
  if (filename !== ":memory:") mkdirSync(dirname(filename), { recursive: true });
  const db = knexFactory({
    client: ImmediateSqliteClient as unknown as typeof Knex.Client,
    connection: { filename },
    useNullAsDefault: true,
    // One connection: SQLite serialises writers anyway, and a single connection makes
    // knex transactions the unit of atomicity without SQLITE_BUSY between our own connections.
    pool: {
      min: 1,
      max: 1,
      afterCreate: (conn: { run(sql: string, cb: (err: Error | null) => void): void; configure?(o: string, v: number): void }, done: (err: Error | null, conn: unknown) => void) => {
        conn.configure?.("busyTimeout", 10_000);
        // WAL: readers never block the writer and a crash loses nothing committed.
        // synchronous=FULL: a 2xx to a client means the write reached the disk, even on power loss.
        const pragmas = ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON", "PRAGMA busy_timeout = 10000"];
        const next = (i: number): void => {
          if (i === pragmas.length) return done(null, conn);
          conn.run(pragmas[i]!, (err) => (err ? done(err, conn) : next(i + 1)));
        };
        next(0);
      },
    },
  });
  if (opts.migrate !== false) await db.migrate.latest({ migrationSource });
  return db;
}
