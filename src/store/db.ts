/**
 * Opens the cache with knex (SQLite by default: WAL mode, one connection; or PostgreSQL) and runs
 * the migrations. Everything that differs between the two engines is in this file.
 */
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

/**
 * A transaction that lost to another one and may simply run again: SQLITE_BUSY / SQLITE_LOCKED
 * (another connection held the database longer than busy_timeout), or PostgreSQL's
 * serialization_failure / deadlock_detected.
 */
export function isBusy(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code ?? "";
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED" || code === "40001" || code === "40P01" || /SQLITE_BUSY|database is locked/.test((e as Error | null)?.message ?? "");
}

/**
 * The unit of work: runs `fn` in one transaction that holds the database's write lock from its
 * first statement, so units of work run one after the other, from every process on the database:
 * SQLite's BEGIN IMMEDIATE, and on PostgreSQL a transaction-scoped advisory lock taken first (READ
 * COMMITTED then reads everything committed before the lock was granted). SERIALIZABLE without the
 * lock was measured first: six concurrent writers to one calendar all fought over its change
 * counter and kept failing with 40001. Retried whole when the database stayed busy. `fn` must not
 * have side effects outside the transaction.
 */
export async function tx<T>(db: Db, fn: (trx: Tx) => Promise<T>, attempts = 5): Promise<T> {
  const locked = isPostgres(db)
    ? (trx: Tx) => trx.raw("SELECT pg_advisory_xact_lock(?)", [WRITE_LOCK]).then(() => fn(trx))
    : fn;
  for (let i = 1; ; i++) {
    const changes: Change[] = [];
    try {
      const out = await recording.run(changes, () => db.transaction(locked));
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

/** What openDb needs of `storage` (a bare string is an SQLite file name). */
export type StorageTarget = string | { readonly client: "sqlite"; readonly filename: string } | { readonly client: "postgres"; readonly connection: string; readonly poolMax?: number };

/** The advisory lock key of calgate's write lock on PostgreSQL (any constant: "calg" in ASCII). */
const WRITE_LOCK = 0x63616c67;
/** The advisory lock key of migrations ("calm"). */
const MIGRATION_LOCK = 0x63616c6d;

export function isPostgres(db: Db): boolean {
  return (db.client as { dialect?: string }).dialect === "postgresql";
}

/** The id of a row just inserted with `.returning("id")` (the drivers answer [{ id }] or [id]). */
export function insertedId(rows: unknown[]): number {
  const r = rows[0] as { id?: unknown } | number | undefined;
  return Number(typeof r === "object" && r !== null ? r.id : r);
}

/** `migrate: false` opens the database as it is (a backup copies it without upgrading it first). */
export async function openDb(storage: StorageTarget, opts: { migrate?: boolean } = {}): Promise<Db> {
  const target = typeof storage === "string" ? { client: "sqlite" as const, filename: storage } : storage;
  const db = target.client === "postgres" ? await openPostgres(target.connection, target.poolMax ?? 10) : openSqlite(target.filename);
  if (opts.migrate === false) return db;
  try {
    if (target.client === "postgres") await whileHoldingMigrationLock(target.connection, () => db.migrate.latest({ migrationSource }));
    else await db.migrate.latest({ migrationSource });
  } catch (e) {
    await db.destroy();
    throw e;
  }
  return db;
}

/**
 * Several instances starting at once on a new PostgreSQL database race to create knex's own tables
 * ("relation knex_migrations already exists", "Can't take lock to run migrations": seen in
 * postgres-instances.test.ts). A session advisory lock, held on a connection of its own, makes them
 * take turns; the later ones find nothing left to do.
 */
async function whileHoldingMigrationLock<T>(connection: string, fn: () => Promise<T>): Promise<T> {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: connection });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    return await fn();
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => undefined);
    await client.end();
  }
}

/** The pg driver is loaded only for a PostgreSQL database (a SQLite server never needs it). */
async function openPostgres(connection: string, poolMax: number): Promise<Db> {
  const { default: pg } = await import("pg");
  // int8 (bigint: epoch milliseconds, sequences) as numbers, as SQLite gives them: exact up to 2^53.
  pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));
  return knexFactory({ client: "pg", connection, pool: { min: 0, max: poolMax } });
}

function openSqlite(filename: string): Db {
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
  return db;
}

/** Names of the migrations the database has had, oldest first ([] for a new database). */
export async function appliedMigrations(db: Db): Promise<string[]> {
  if (!(await db.schema.hasTable("knex_migrations"))) return [];
  return (await db("knex_migrations").orderBy("id").select("name")).map((r: { name: string }) => String(r.name));
}
