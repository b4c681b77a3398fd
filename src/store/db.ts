/** Opens the SQLite cache with knex, sets WAL mode and runs the migrations. */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import knexFactory, { type Knex } from "knex";
import { migrations } from "../../migrations/index.ts";

export type Db = Knex;

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => migrations.map(([name]) => name),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const found = migrations.find(([n]) => n === name);
    if (!found) throw new Error(`unknown migration ${name}`);
    return found[1];
  },
};

export async function openDb(filename: string): Promise<Db> {
  if (filename !== ":memory:") mkdirSync(dirname(filename), { recursive: true });
  const db = knexFactory({
    client: "sqlite3",
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
  await db.migrate.latest({ migrationSource });
  return db;
}
