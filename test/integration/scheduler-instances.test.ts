/**
 * The scheduler with several instances on one database (issue 16): a tick syncs each source once,
 * whichever instance starts it first (the others see it was synced since the tick and skip it), and
 * one process runs at most `sync.concurrency` scheduled syncs at once, the rest waiting their turn.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { parseConfigText } from "../../src/config/load.ts";
import { buildSync } from "../../src/main.ts";
import { Scheduler } from "../../src/sync/scheduler.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import type { SourceAdapter } from "../../src/sources/adapter.ts";
import { MemoryUpstream } from "../helpers/memory-upstream.ts";
import { until } from "../helpers/dav-world.ts";

const SOURCES = 6;
const CONCURRENCY = 2;
const log = pino({ level: "silent" });

/** The memory upstream, with listCalendars held at a gate and the calls in flight counted. */
class GatedUpstream {
  readonly upstream = new MemoryUpstream({ calendars: ["cal1"] });
  /** Syncs this instance ran (each lists the calendars once). The status bus can't tell: it shows every instance's events. */
  calls = 0;
  inFlight = 0;
  maxInFlight = 0;
  private open!: () => void;
  private gate: Promise<void> = Promise.resolve();
  close(): void {
    this.gate = new Promise((r) => (this.open = r));
  }
  release(): void {
    this.open();
  }
  adapter(): SourceAdapter {
    const inner = this.upstream.adapter();
    return new Proxy(inner, {
      get: (target, prop, receiver) => {
        if (prop !== "listCalendars") return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<SourceAdapter["listCalendars"]>) => {
          this.calls++;
          this.inFlight++;
          this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
          try {
            await this.gate;
            return await inner.listCalendars(...args);
          } finally {
            this.inFlight--;
          }
        };
      },
    });
  }
}

let dir: string;
let db: Db;
const instances: { sync: ReturnType<typeof buildSync>; scheduler: Scheduler; upstream: GatedUpstream }[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "calgate-sched-"));
  const file = join(dir, "calgate.sqlite");
  db = await openDb(file);
  const sources = Array.from({ length: SOURCES }, (_, i) => `      - { id: s${i}, type: caldav, url: "http://upstream.invalid/", username: u, password: p }`);
  const config = parseConfigText(
    [
      "server: { host: 127.0.0.1, port: 0 }",
      `storage: { client: sqlite, filename: "${file}" }`,
      `sync: { schedule: "0 0 1 1 *", jitterSeconds: 0, concurrency: ${CONCURRENCY} }`,
      "users:",
      "  - username: alice",
      "    password: secret-a",
      "    sources:",
      ...sources,
      "",
    ].join("\n"),
    "scheduler.yaml",
    {},
  );
  for (let i = 0; i < 2; i++) {
    const upstream = new GatedUpstream();
    const sync = buildSync(config, db, log, { adapters: { caldav: () => upstream.adapter() } });
    instances.push({ sync, scheduler: new Scheduler(sync.engine, sync.writer, config, log), upstream });
  }
});
after(async () => {
  for (const { sync, scheduler } of instances) {
    await scheduler.stop();
    sync.engine.close();
    sync.writer.close();
    await sync.engine.idle();
  }
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const idle = (s: Scheduler): boolean => {
  const l = s.load();
  return l.running === 0 && l.waiting === 0 && l.timers === 0;
};
const lastSyncs = async (): Promise<number[]> => (await db("sources").orderBy("id").select("last_sync_at")).map((r: { last_sync_at: number | null }) => Number(r.last_sync_at ?? 0));

test("one process runs at most sync.concurrency scheduled syncs at once; the rest wait their turn", async () => {
  const [a] = instances;
  a!.upstream.close();
  a!.scheduler.tick("scheduled", false);
  await until("two syncs held upstream and four waiting", async () => a!.upstream.inFlight === CONCURRENCY && a!.scheduler.load().waiting === SOURCES - CONCURRENCY);
  a!.upstream.release();
  await until("every source synced", async () => idle(a!.scheduler) && (await lastSyncs()).every((t) => t > 0));
  assert.equal(a!.upstream.maxInFlight, CONCURRENCY);
  assert.equal(a!.upstream.calls, SOURCES);
});

test("a tick syncs each source once across instances: the one that comes second skips what was synced since the tick", async () => {
  const [a, b] = instances;
  const startedA = a!.upstream.calls;
  const tickAt = Date.now();
  a!.scheduler.tick("scheduled", false, tickAt);
  await until("A synced every source since the tick", async () => idle(a!.scheduler) && (await lastSyncs()).every((t) => t >= tickAt));
  assert.equal(a!.upstream.calls - startedA, SOURCES);
  // B's own timer for the same cron time fires later (its jitter): nothing left to do.
  b!.scheduler.tick("scheduled", false, tickAt);
  await until("B's tick handled", async () => idle(b!.scheduler));
  assert.equal(b!.upstream.calls, 0, "B started no sync for a tick A already served");
  // The next tick is B's to take when it comes first.
  const next = Date.now() + 1;
  await until("the clock moved past the next tick", async () => Date.now() > next);
  b!.scheduler.tick("scheduled", false, next);
  await until("B synced every source", async () => idle(b!.scheduler) && (await lastSyncs()).every((t) => t >= next));
  assert.equal(b!.upstream.calls, SOURCES);
});

test("the check is repeated under the lease: a sync another instance finished after the scheduler looked is not repeated", async () => {
  const [a, b] = instances;
  const tickAt = Date.now();
  // B's scheduler looked before A's sync ended (nothing since the tick yet), then A's sync ran to its end.
  const r = await a!.sync.engine.syncSource("alice", "s0", { reason: "scheduled", unlessSyncedSince: tickAt });
  assert.ok(r.ok && !r.busy, JSON.stringify(r));
  const before = b!.upstream.calls;
  const second = await b!.sync.engine.syncSource("alice", "s0", { reason: "scheduled", unlessSyncedSince: tickAt });
  assert.equal(second.busy, true, "skipped under the lease");
  assert.equal(b!.upstream.calls, before, "B made no upstream request");
  assert.equal((await db("sources").where({ owner: "alice", id: "s0" }).first()).lease_holder, null, "the lease was given back");
});
