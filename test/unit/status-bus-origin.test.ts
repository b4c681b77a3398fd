/**
 * Two processes' status buses on one database: every subscriber sees every process's events (SSE),
 * and a `localOnly` subscriber (the follow-ups of a sync: mirror rules, push subscriptions, metrics)
 * only those its own process published.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { openDb } from "../../src/store/db.ts";
import { StatusEventStore } from "../../src/store/status-events.ts";
import { StatusBus } from "../../src/status/bus.ts";
import type { StatusEvent } from "../../src/status/events.ts";

test("localOnly subscribers hear their own process only; the others hear every process", async () => {
  const dir = mkdtempSync(join(tmpdir(), "calgate-bus-"));
  const db = await openDb(join(dir, "db.sqlite"));
  const log = pino({ level: "silent" });
  const a = new StatusBus(new StatusEventStore(db), log, 20);
  const b = new StatusBus(new StatusEventStore(db), log, 20);
  await a.start();
  await b.start();
  const heard: Record<string, string[]> = { aAll: [], aLocal: [], bAll: [], bLocal: [] };
  const note = (k: string) => (e: StatusEvent) => void heard[k]!.push(`${e.source}`);
  a.subscribe(() => true, note("aAll"));
  a.subscribe(() => true, note("aLocal"), { localOnly: true });
  b.subscribe(() => true, note("bAll"));
  b.subscribe(() => true, note("bLocal"), { localOnly: true });
  await a.publish({ type: "sync.started", owner: "alice", source: "from-a", reason: "test" });
  await b.publish({ type: "sync.started", owner: "alice", source: "from-b", reason: "test" });
  const done = async (): Promise<void> => {
    for (let i = 0; i < 500 && (heard.aAll!.length < 2 || heard.bAll!.length < 2); i++) await new Promise((r) => setTimeout(r, 10));
  };
  await done();
  await a.stop();
  await b.stop();
  assert.deepEqual(heard, { aAll: ["from-a", "from-b"], aLocal: ["from-a"], bAll: ["from-a", "from-b"], bLocal: ["from-b"] });
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});
