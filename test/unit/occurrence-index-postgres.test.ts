/** The occurrence index through the store on PostgreSQL (test/helpers/occurrence-store.ts; SQLite: occurrence-index.test.ts). */
import { after, before } from "node:test";
import { openDb } from "../../src/store/db.ts";
import { postgresMissing, startPostgres, type PgCluster } from "../helpers/postgres.ts";
import { storeSuite } from "../helpers/occurrence-store.ts";

const missing = postgresMissing();
if (missing) {
  console.log(`skipping the occurrence index on PostgreSQL: ${missing}`);
} else {
  let cluster: PgCluster;
  before(async () => {
    cluster = await startPostgres();
  });
  after(() => cluster?.stop());
  storeSuite("PostgreSQL", async (name, opts) => openDb({ client: "postgres", connection: await cluster.createDatabase(name) }, opts));
}
