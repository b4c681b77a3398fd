/**
 * Online backup of the SQLite database: `VACUUM INTO` copies one consistent snapshot (a read
 * transaction, so a running `calgate serve` keeps reading and writing meanwhile) into a new file,
 * compacted, with every committed write, including those still in the WAL.
 */
import type { Db } from "./db.ts";

export interface BackupSummary {
  calendars: number;
  objects: number;
  /** Queued writes not yet sent upstream: they are in the backup and replayed after a restore. */
  queuedWrites: number;
}

/** Writes the snapshot to `target`, which must not exist yet (SQLite refuses to overwrite). */
export async function backupInto(db: Db, target: string): Promise<void> {
  await db.raw("VACUUM INTO ?", [target]);
}

/** SQLite's own consistency check of a database file: "ok", or the first problems it found. */
export async function integrityCheck(db: Db): Promise<string> {
  const rows = (await db.raw("PRAGMA integrity_check")) as { integrity_check: string }[];
  return rows.map((r) => r.integrity_check).join("; ");
}

/** What a backup holds, to print beside it (and to compare a restore with). */
export async function summarize(db: Db): Promise<BackupSummary> {
  const count = async (table: string, where?: Record<string, unknown>): Promise<number> => {
    const q = db(table).count<{ n: number | string }[]>({ n: "*" });
    const [row] = await (where ? q.where(where) : q);
    return Number(row?.n ?? 0);
  };
  return { calendars: await count("calendars"), objects: await count("objects"), queuedWrites: await count("outbox", { state: "pending" }) };
}
