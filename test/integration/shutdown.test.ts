/**
 * Graceful shutdown of `startServer`'s handle (what `calgate serve` does on SIGTERM): it stops
 * accepting; every SSE stream gets a final `server.closing` event naming the id to resume from, then
 * ends; a sync in flight may finish within the grace period; one that does not is aborted without
 * counting as a failure of the source and resumes on the next start; queued writes stay in the
 * outbox and the next start delivers them.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { parseConfigText } from "../../src/config/load.ts";
import { startServer } from "../../src/main.ts";
import type { ServerHandle } from "../../src/cli/contract.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { MemoryUpstream } from "../helpers/memory-upstream.ts";
import { basic, dav } from "../helpers/inproc.ts";
import { SseReader } from "../helpers/sse-client.ts";

const AUTH = basic("alice", "secret-a");
const ev = (uid: string, summary: string): string =>
  `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250301T100000Z\r\nDTEND:20250301T110000Z\r\nSUMMARY:${summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;

describe("graceful shutdown", () => {
  let dir: string;
  let file: string;
  let db: Db;
  const upstream = new MemoryUpstream();
  const config = () =>
    parseConfigText(
      `server: { host: 127.0.0.1, port: 0 }
storage: { client: sqlite, filename: "${file}" }
sync: { schedule: "0 0 1 1 *", jitterSeconds: 0, writeDeadlineMs: 200, timeoutMs: 2000 }
users:
  - username: alice
    password: secret-a
    sources: [{ id: up, type: caldav, url: "http://127.0.0.1:9/", username: u, password: p }]
`,
      "test.yaml",
      {},
    );
  const start = (): Promise<ServerHandle> => startServer(config(), { configPath: null, generatedPassword: null, logger: pino({ level: "silent" }), adapters: { caldav: () => upstream.adapter() } });
  const events = async (type: string): Promise<Record<string, unknown>[]> =>
    ((await db("status_events").where({ type }).orderBy("id")) as { id: number; payload: string }[]).map((r) => ({ ...(JSON.parse(r.payload) as Record<string, unknown>), id: String(r.id) }));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "calgate-shutdown-"));
    file = join(dir, "db.sqlite");
    db = await openDb(file);
    upstream.other.put("cal1", "a.ics", ev("a@test", "first"));
  });
  after(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("SSE streams get a final event and end; a sync in flight finishes within the grace period; the server stops accepting", async () => {
    const server = await start();
    const base = server.url.replace(/\/$/, "");
    const sse = await SseReader.open(`${base}/events`, { authorization: AUTH, "last-event-id": "0" });
    await sse.until("the start-up sync", (r) => r.events.some((e) => e.event === "sync.completed"));
    const hold = upstream.hold("listCalendars");
    assert.equal((await dav(base, "POST", "/sync", { auth: AUTH })).status, 202);
    await hold.reached;
    const completedBefore = (await events("sync.completed")).length;
    const closing = server.close();
    await sse.until("the final event", (r) => r.events.some((e) => e.event === "server.closing"));
    const last = sse.events[sse.events.length - 1]!;
    assert.equal(last.event, "server.closing");
    assert.equal(last.id, sse.events[sse.events.length - 2]!.id, "the final event names the last id delivered (the resume point)");
    await sse.until("the end of the stream", (r) => r.ended).catch(() => undefined);
    assert.ok(sse.ended, "the stream ended");
    await assert.rejects(fetch(`${base}/healthz`), "no new connections are accepted");
    hold.release(); // the sync in flight goes on, within the grace period
    await closing;
    assert.equal((await events("sync.completed")).length, completedBefore + 1, "the sync in flight finished before the database closed");
  });

  test("a sync that outlasts the grace period is aborted, is no failure of the source, and the next start resumes; queued writes survive", async () => {
    let server = await start();
    let base = server.url.replace(/\/$/, "");
    const sse = await SseReader.open(`${base}/events`, { authorization: AUTH });
    // A client write the upstream refuses for now: queued in the outbox.
    upstream.fault({ op: "write", action: { kind: "transient", status: 503 }, times: Infinity });
    const cal = ((await db("calendars").where({ owner: "alice", source_id: "up" }).first()) as { name: string }).name;
    const put = await dav(base, "PUT", `/dav/calendars/alice/${cal}/queued.ics`, { auth: AUTH, body: ev("queued@test", "queued") });
    assert.ok(put.status === 201 || put.status === 204, `PUT answered ${put.status}`);
    upstream.hold("listCalendars");
    const from = sse.events.length;
    assert.equal((await dav(base, "POST", "/sync", { auth: AUTH })).status, 202);
    await sse.until("the sync to start", (r) => r.events.slice(from).some((e) => e.event === "sync.started"));
    const t0 = Date.now();
    await server.close(); // the hold is never released: the sync is aborted after the grace period
    const took = Date.now() - t0;
    assert.ok(took < 14_000, `shutdown took ${took} ms (calgate serve gives up at 15 s)`);
    const failed = (await events("sync.failed")).pop()!;
    assert.match(String(failed.error), /interrupted: calgate is shutting down/);
    const src = (await db("sources").where({ owner: "alice", id: "up" }).first()) as { status: string; consecutive_failures: number };
    assert.equal(src.status, "ok", "an interrupted sync does not degrade the source");
    assert.equal(src.consecutive_failures, 0);
    const pending = await db("outbox").where({ owner: "alice", source_id: "up" }).whereNot({ state: "done" });
    assert.equal(pending.length, 1, "the queued write is still in the outbox");
    console.log(`# shutdown with a stuck sync took ${took} ms`);

    // The next start: the sync runs from where it was, the queued write is delivered.
    upstream.clearFaults();
    server = await start();
    base = server.url.replace(/\/$/, "");
    try {
      const again = await SseReader.open(`${base}/events`, { authorization: AUTH, "last-event-id": String(failed.id) });
      await again.until("the queued write delivered and a sync completed", (r) => r.events.some((e) => e.event === "write.replayed" && e.data.outcome === "ok") && r.events.some((e) => e.event === "sync.completed"), 20_000);
      again.close();
      assert.match(upstream.itemByName("cal1", "queued.ics")?.ics ?? "", /SUMMARY:queued/, "the write queued before the restart reached the upstream");
    } finally {
      await server.close();
    }
  });
});
