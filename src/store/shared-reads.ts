/**
 * Reads shared by callers who ask for the same row at about the same time, without ever answering
 * a caller from a snapshot taken before it asked.
 *
 * A caller joins a read only while that read is still waiting for a connection: knex emits the
 * builder's "query" event just before it hands the statement to the driver, and from then on the
 * read may already see the database as it was, so later callers start a read of their own. What
 * a joined read returns therefore reflects every commit made before any of its callers asked.
 *
 * Why: SQLite has one connection here, and every CalDAV request first reads its calendar's row
 * (the change sequence that keeps the object cache and sync tokens honest). Under concurrent
 * requests those reads queued one behind another on the connection; now the ones queued together
 * share one statement.
 */
import type { Knex } from "knex";

export class SharedReads<T> {
  private readonly queued = new Map<string, Promise<T>>();

  /** `make()` builds the read (not yet run): it is run, or joined while it still waits to be sent. */
  read(key: string, make: () => Knex.QueryBuilder): Promise<T> {
    const waiting = this.queued.get(key);
    if (waiting) return waiting;
    const builder = make();
    let p: Promise<T> | undefined;
    const sent = (): void => {
      if (p !== undefined && this.queued.get(key) === p) this.queued.delete(key);
    };
    builder.on("query", sent);
    p = Promise.resolve(builder as unknown as Promise<T>).finally(sent);
    this.queued.set(key, p);
    return p;
  }
}

const perDb = new WeakMap<object, Map<string, SharedReads<unknown>>>();

/** The shared reads of one kind on one database (shared by every store made on it); none inside a transaction. */
export function sharedReads<T>(db: Knex, kind: string): SharedReads<T> | null {
  if (db.isTransaction) return null;
  let kinds = perDb.get(db);
  if (!kinds) perDb.set(db, (kinds = new Map()));
  let r = kinds.get(kind);
  if (!r) kinds.set(kind, (r = new SharedReads<unknown>()));
  return r as SharedReads<T>;
}
