/**
 * The stores a store-level property runs on: SQLite in memory, and PostgreSQL when it is installed
 * (one throwaway cluster for the test file, a database per open). For SQL that must mean the same on
 * both; without PostgreSQL the reason is printed and only SQLite runs.
 */
import { after, before } from "node:test";
import { openDb, type Db } from "../../src/store/db.ts";
import { postgresMissing, startPostgres, type PgCluster } from "./postgres.ts";

export interface StoreUnderTest {
  readonly label: "SQLite" | "PostgreSQL";
  open(name: string): Promise<Db>;
}

export function bothStores(what: string): StoreUnderTest[] {
  const stores: StoreUnderTest[] = [{ label: "SQLite", open: () => openDb(":memory:") }];
  const missing = postgresMissing();
  if (missing) {
    console.log(`${what} on PostgreSQL skipped: ${missing}`);
    return stores;
  }
  let cluster: PgCluster | null = null;
  before(async () => {
    cluster = await startPostgres();
  });
  after(() => cluster?.stop());
  stores.push({ label: "PostgreSQL", open: async (name) => openDb({ client: "postgres", connection: await cluster!.createDatabase(name) }) });
  return stores;
}
