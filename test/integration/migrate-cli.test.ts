/**
 * `calgate migrate` (issue 16 item 3): on a new SQLite database it applies every migration and says
 * which; a second run finds nothing to do; on PostgreSQL the same.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCalgate } from "../helpers/cli-run.ts";
import { postgresMissing, startPostgres, type PgCluster } from "../helpers/postgres.ts";
import { migrations } from "../../migrations/index.ts";

const LAST = migrations[migrations.length - 1]![0];
const users = "users:\n  - username: alice\n    password: secret-a\n    sources: [ { id: home, type: local, calendars: [ { id: personal, name: Personal } ] } ]\n";
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "calgate-migrate-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("calgate migrate on SQLite: every migration on a new database, then nothing", async () => {
  writeFileSync(join(dir, "sqlite.yaml"), `storage: { client: sqlite, filename: ./data/calgate.sqlite }\n${users}`);
  const first = await runCalgate(["migrate", "-c", "sqlite.yaml"], { cwd: dir });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`^migrate: applied ${migrations.length} migration\\(s\\) to .*calgate\\.sqlite: 001_initial, .*; now at ${LAST}\\n$`));
  const again = await runCalgate(["migrate", "-c", "sqlite.yaml"], { cwd: dir });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`is up to date \\(at ${LAST}\\)`));
});

test("calgate migrate on PostgreSQL", { skip: postgresMissing() ?? false }, async () => {
  let cluster: PgCluster | null = null;
  try {
    cluster = await startPostgres();
    const url = await cluster.createDatabase("calgate");
    writeFileSync(join(dir, "pg.yaml"), `storage: { client: postgres, connection: "${url}" }\n${users}`);
    const first = await runCalgate(["migrate", "-c", "pg.yaml"], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`applied ${migrations.length} migration\\(s\\) to the PostgreSQL database of storage.connection`));
    const again = await runCalgate(["migrate", "-c", "pg.yaml"], { cwd: dir });
    assert.match(again.stdout, /is up to date/);
  } finally {
    cluster?.stop();
  }
});
