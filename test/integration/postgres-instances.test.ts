/**
 * Two calgate instances on one PostgreSQL database (issue 16, first part): clients write to the same
 * calendar through both at once while another client follows the calendar with sync-collection
 * through the first. Checked: every acknowledged write is stored (each PUT's ETag is what both
 * instances serve, unless a later acknowledged write of the same object replaced it), the
 * sync-collection follower never misses a change (its replica equals the listing at the end, on
 * both instances), and the change sequence is gap-free and strictly increasing.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import { parseConfigText } from "../../src/config/load.ts";
import { startServer } from "../../src/main.ts";
import type { ServerHandle } from "../../src/cli/contract.ts";
import { postgresMissing, startPostgres, type PgCluster } from "../helpers/postgres.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { req, syncCollection, vevent } from "../helpers/dav-world.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES_DIR } from "../helpers/fixtures.ts";
import { PushServiceStub } from "../helpers/push-service.ts";

const missing = postgresMissing();
const WRITERS = 6;
const WRITES_EACH = 15;

describe("two instances on one PostgreSQL database", { skip: missing ?? false }, () => {
  let cluster: PgCluster;
  let url: string;
  let a: ServerHandle;
  let b: ServerHandle;
  let db: Db;
  let stub: PushServiceStub;
  before(async () => {
    cluster = await startPostgres();
    url = await cluster.createDatabase("calgate");
    stub = await PushServiceStub.start();
    const yaml = `server: { host: 127.0.0.1, port: 0 }
storage: { client: postgres, connection: "${url}", poolMax: 5 }
sync: { schedule: "0 0 1 1 *" }
push: { allowPrivateEndpoints: true, caCert: ${stub.caCertPath} }
users:
  - username: alice
    password: secret-a
    sources: [ { id: home, type: local, calendars: [ { id: personal, name: Personal }, { id: pushed, name: Pushed } ] } ]
`;
    const start = (): Promise<ServerHandle> => startServer(parseConfigText(yaml, "pg.yaml", {}), { configPath: null, generatedPassword: null, logger: pino({ level: process.env.TEST_LOG ?? "silent" }) });
    a = await start();
    b = await start();
    db = await openDb({ client: "postgres", connection: url });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await db?.destroy();
    await stub?.close();
    cluster?.stop();
  });

  test("a device registered for WebDAV-Push through one instance hears of changes made through the other, once each", async () => {
    const cal = (s: ServerHandle): string => `${s.url.replace(/\/$/, "")}/dav/calendars/alice/home-pushed/`;
    const sub = stub.subscribe();
    const body = readFileSync(join(FIXTURES_DIR, "webdav-push/davx5-push-register.xml"), "utf8")
      .replace("{{push-resource}}", sub.endpoint).replace("{{subscription-public-key}}", sub.p256dh).replace("{{auth-secret}}", sub.auth)
      .replace("{{expires}}", new Date(Date.now() + 86_400_000).toUTCString());
    const reg = await req(cal(a), "POST", body);
    assert.equal(reg.status, 201, reg.body);
    const tokenAfter = async (): Promise<string> => (await syncCollection(cal(a), "")).token;
    for (const [i, via] of [b, a, b].entries()) {
      assert.equal((await req(cal(via) + `push-${i}.ics`, "PUT", vevent(`push-${i}`, `push ${i}`))).status, 201);
      const m = await stub.next(sub.id, { skip: i });
      assert.match(m.body, new RegExp(`<[^>]*sync-token>${(await tokenAfter()).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}<`), `message ${i} carries the token after change ${i}`);
    }
    assert.equal(stub.received(sub.id).length, 3, "one message per change, sent by the instance that made it");
    assert.deepEqual(stub.errors, []);
  });

  test("concurrent writers through both instances; a sync-collection follower misses nothing", async () => {
    const cal = (s: ServerHandle): string => `${s.url.replace(/\/$/, "")}/dav/calendars/alice/home-personal/`;
    let token = (await syncCollection(cal(a), "")).token;
    const replica = new Map<string, string>();
    let done = false;
    // The follower: sync-collection from its token, over and over, while the writers run.
    const follow = (async () => {
      let rounds = 0;
      while (!done || rounds === 0) {
        const s = await syncCollection(cal(a), token);
        for (const n of s.removed) replica.delete(n);
        for (const n of s.changed) replica.set(n, "changed");
        token = s.token;
        rounds++;
      }
      return rounds;
    })();
    const acknowledged = new Map<string, string>(); // name → ETag of its last acknowledged PUT
    await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
      const server = w % 2 === 0 ? a : b;
      for (let i = 0; i < WRITES_EACH; i++) {
        const name = `w${w}-${i % 5}.ics`; // each writer rewrites its 5 objects: updates as well as creates
        const r = await req(cal(server) + name, "PUT", vevent(`uid-${w}-${i % 5}`, `writer ${w} write ${i}`));
        assert.ok(r.status === 201 || r.status === 204, `${name}: ${r.status} ${r.body}`);
        acknowledged.set(name, r.headers.get("etag")!);
      }
    }));
    done = true;
    const rounds = await follow;
    const final = await syncCollection(cal(a), token);
    for (const n of final.removed) replica.delete(n);
    for (const n of final.changed) replica.set(n, "changed");

    for (const s of [a, b]) {
      const listing = await syncCollection(cal(s), "");
      assert.deepEqual(listing.changed.sort(), [...acknowledged.keys()].sort(), "both instances list every acknowledged object");
      for (const [name, etag] of acknowledged) assert.equal((await req(cal(s) + name, "GET")).headers.get("etag"), etag, `${name}: the last acknowledged write is served`);
    }
    assert.deepEqual([...replica.keys()].sort(), [...acknowledged.keys()].sort(), `the follower (${rounds} rounds) saw every object`);
    const calRow = await db("calendars").where({ name: "home-personal" }).first();
    const seqs = (await db("changes").where({ calendar_id: calRow.id }).orderBy("seq").select("seq")).map((r) => Number(r.seq));
    assert.equal(Number(calRow.sync_seq), WRITERS * WRITES_EACH, "one sequence number per write, none skipped or reused");
    assert.equal(seqs.length, WRITERS * 5);
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), "the change log's sequences are strictly increasing");
    console.log(`postgres, 2 instances: ${WRITERS * WRITES_EACH} concurrent PUTs, ${rounds} sync-collection rounds during them, sync_seq ${calRow.sync_seq}`);
  });
});

describe("instances starting at once on a new PostgreSQL database", { skip: missing ?? false }, () => {
  test("five openings race on the migrations: all succeed, each migration ran once", async () => {
    const cluster = await startPostgres();
    try {
      const url = await cluster.createDatabase("fresh");
      const dbs = await Promise.all(Array.from({ length: 5 }, () => openDb({ client: "postgres", connection: url, poolMax: 2 })));
      const ran = await dbs[0]!("knex_migrations").select("name");
      assert.equal(ran.length, new Set(ran.map((r) => r.name)).size, "no migration recorded twice");
      assert.ok(ran.some((r) => r.name === "001_initial"));
      await Promise.all(dbs.map((d) => d.destroy()));
    } finally {
      cluster.stop();
    }
  });
});
