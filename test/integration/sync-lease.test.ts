/**
 * The sync lease across machines (issue 16): a source whose lease is held by a process on another
 * machine that died is synced by this one as soon as the lease runs out, not later; a lease its
 * holder keeps renewing is never taken while the holder's sync runs, however long that sync is.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { buildSync } from "../../src/main.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { SourceStore } from "../../src/store/sources.ts";
import { MemoryUpstream } from "../helpers/memory-upstream.ts";
import { modelConfig, OWNER, SOURCE } from "../model/calgate.ts";

const LEASE_MS = 1_500;
let dir: string;
let db: Db;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "calgate-lease-"));
});
after(async () => {
  await db?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test("a dead remote holder's lease is taken over when it runs out; a renewed one is not", async () => {
  const file = join(dir, "calgate.sqlite");
  db = await openDb(file);
  const upstream = new MemoryUpstream({ calendars: ["cal1"] });
  const mk = () => buildSync(modelConfig(file, 1000), db, pino({ level: "silent" }), { adapters: { caldav: () => upstream.adapter() }, leaseMs: LEASE_MS });
  const a = mk();
  await new SourceStore(db).ensure(OWNER, SOURCE, "caldav");
  // A process on another machine took the lease and died (no renewals).
  const t0 = Date.now();
  await db("sources").where({ owner: OWNER, id: SOURCE }).update({ lease_holder: "elsewhere.example:4242:deadbeef", lease_until: t0 + LEASE_MS });
  const r = await a.engine.syncSource(OWNER, SOURCE, { reason: "test", waitForLease: true });
  const waited = Date.now() - t0;
  assert.ok(r.ok && !r.busy, JSON.stringify(r));
  assert.ok(waited >= LEASE_MS - 50 && waited < LEASE_MS + 3_000, `taken over ${waited} ms after the dead holder's last renewal (lease ${LEASE_MS} ms)`);

  // A sync that runs three lease lifetimes keeps its lease: another process cannot take it meanwhile.
  const b = mk();
  const hold = upstream.hold("listCalendars");
  const long = a.engine.syncSource(OWNER, SOURCE, { reason: "long", waitForLease: false });
  await hold.reached;
  const until = Date.now() + 3 * LEASE_MS;
  let taken = 0;
  while (Date.now() < until) {
    const other = await b.engine.syncSource(OWNER, SOURCE, { reason: "second instance", waitForLease: false });
    if (!other.busy) taken++;
    await new Promise((res) => setTimeout(res, 200));
  }
  hold.release();
  assert.ok((await long).ok);
  assert.equal(taken, 0, "the second instance never got the lease while the first one's sync ran");
  for (const s of [a, b]) {
    s.engine.close();
    s.writer.close();
    await s.engine.idle();
    await s.writer.idle();
  }
});
