/**
 * The SSE feed (src/http/sse.ts over the status bus): `id` on every event, the `retry:` hint,
 * keep-alive comments, per-user scoping, resumption with Last-Event-ID across a restart (the
 * replay buffer is status_events), a `stream.gap` when the asked-for backlog was pruned, a client
 * that does not read being dropped once its unsent bytes pass the limit (measured by the server's
 * own buffered bytes, while a reading client keeps everything), the memory of 1,000 idle
 * subscribers, and the final `server.closing` event on shutdown.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Koa from "koa";
import pino from "pino";
import { openDb, type Db } from "../../src/store/db.ts";
import { StatusEventStore } from "../../src/store/status-events.ts";
import { StatusBus } from "../../src/status/bus.ts";
import { EventStreams, type EventStreamOptions } from "../../src/http/sse.ts";
import { SseReader } from "../helpers/sse-client.ts";
import { spawn } from "node:child_process";
import v8 from "node:v8";
import vm from "node:vm";

v8.setFlagsFromString("--expose_gc");
const gc = vm.runInNewContext("gc") as () => void;

/** The subscribers' process: on "open", opens N streams (users u0..u9) and says "open"; then says how many events arrived. */
const SUBSCRIBERS_CHILD = `
import { request } from "node:http";
const [url, n] = [process.argv[1], Number(process.argv[2])];
let opened = 0, events = 0, streamsWithEvent = 0;
process.stdin.once("data", () => {
  for (let i = 0; i < n; i++) {
    const req = request(url, { agent: false, headers: { "x-user": "u" + (i % 10), accept: "text/event-stream" } }, (res) => {
      if (++opened === n) console.log("open");
      let seen = 0;
      res.setEncoding("utf8");
      res.on("data", (d) => {
        const k = (d.match(/^event:/gm) || []).length;
        if (k && seen === 0) streamsWithEvent++;
        seen += k;
        events += k;
        if (streamsWithEvent === n) console.log("got " + events + " events on " + streamsWithEvent + " streams");
      });
    });
    req.on("error", () => {});
    req.end();
  }
});
process.stdin.on("end", () => process.exit(0));
`;

const silent = pino({ level: "silent" });

/** One "process": a bus over the database and the /events route on a loopback port (user from x-user). */
interface Node {
  bus: StatusBus;
  streams: EventStreams;
  url: string;
  stop(): Promise<void>;
}

async function startNode(db: Db, opts: EventStreamOptions = {}, keep?: number): Promise<Node> {
  const bus = new StatusBus(new StatusEventStore(db), silent, 20, keep);
  await bus.start();
  const streams = new EventStreams(bus, opts);
  const route = streams.route();
  const app = new Koa();
  app.use(async (ctx) => {
    const handled = await route(ctx, null, async () => {
      const u = ctx.get("x-user");
      if (u) return u;
      ctx.status = 401;
      return null;
    });
    if (!handled) ctx.status = 404;
  });
  const server: Server = createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  return {
    bus,
    streams,
    url,
    async stop() {
      streams.closeAll();
      await bus.stop();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const completed = (owner: string, source: string, note?: string) =>
  ({ type: "sync.completed", owner, source, calendars: 1, created: 0, updated: 0, deleted: 0, skipped: 0, requests: 1, ms: 1, ...(note ? { note } : {}) }) as const;

describe("SSE /events", () => {
  let dir: string;
  let db: Db;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "calgate-sse-"));
    db = await openDb(join(dir, "db.sqlite"));
  });
  after(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("every event has an id; the stream starts with a retry hint and sends keep-alive comments; a user sees only their own events", async () => {
    const node = await startNode(db, { keepAliveMs: 50, retryMs: 3000 });
    try {
      const alice = await SseReader.open(node.url, { "x-user": "alice" });
      const bob = await SseReader.open(node.url, { "x-user": "bob" });
      assert.equal(alice.status, 200);
      await alice.until("two keep-alive comments", (r) => r.comments >= 2);
      assert.equal(alice.retry, 3000);
      await node.bus.publish(completed("bob", "b1"));
      for (let i = 0; i < 3; i++) await node.bus.publish(completed("alice", `a${i}`));
      await alice.until("3 events", (r) => r.events.length >= 3);
      await bob.until("bob's event", (r) => r.events.length >= 1);
      assert.deepEqual(alice.events.map((e) => e.data.source), ["a0", "a1", "a2"]);
      for (const e of alice.events) {
        assert.match(e.id ?? "", /^\d+$/, "an id on every event");
        assert.equal(e.data.id, e.id, "the payload carries the same id");
        assert.equal(e.event, "sync.completed");
        assert.equal(e.data.owner, undefined, "the owner is not sent");
        assert.match(String(e.data.at), /^\d{4}-\d\d-\d\dT/);
      }
      assert.deepEqual(bob.events.map((e) => e.data.source), ["b1"]);
      const unauth = await SseReader.open(node.url);
      assert.equal(unauth.status, 401);
      alice.close();
      bob.close();
      unauth.close();
    } finally {
      await node.stop();
    }
  });

  test("?named=0 sends every event as a plain message carrying its type", async () => {
    const node = await startNode(db);
    try {
      const r = await SseReader.open(node.url + "?named=0", { "x-user": "alice" });
      await node.bus.publish(completed("alice", "plain"));
      await r.until("the event", (x) => x.events.length >= 1);
      assert.equal(r.events[0]!.event, "message");
      assert.equal(r.events[0]!.data.type, "sync.completed");
      r.close();
    } finally {
      await node.stop();
    }
  });

  test("Last-Event-ID resumes after a restart: the missed events in order, each once, then live ones", async () => {
    const first = await startNode(db);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await first.bus.publish(completed("alice", `r${i}`))).id);
    await first.stop(); // the "restart": a new bus and route over the same database
    const second = await startNode(db);
    try {
      const r = await SseReader.open(second.url, { "x-user": "alice", "last-event-id": ids[1]! });
      await r.until("the 3 missed events", (x) => x.events.length >= 3);
      await second.bus.publish(completed("alice", "live"));
      await r.until("the live event", (x) => x.events.some((e) => e.data.source === "live"));
      assert.deepEqual(r.events.map((e) => e.data.source), ["r2", "r3", "r4", "live"]);
      assert.deepEqual(r.events.slice(0, 3).map((e) => e.id), ids.slice(2));
      r.close();
    } finally {
      await second.stop();
    }
  });

  test("resuming from an id older than the replay buffer announces the gap, then sends what is kept", async () => {
    const gapDb = await openDb(join(dir, "gap.sqlite"));
    const first = await startNode(gapDb, {}, 10);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await first.bus.publish(completed("alice", `g${i}`))).id);
    await first.stop();
    const second = await startNode(gapDb, {}, 10); // start() prunes to the newest 10
    try {
      const r = await SseReader.open(second.url, { "x-user": "alice", "last-event-id": ids[2]! });
      await r.until("the gap and the 10 kept events", (x) => x.events.length >= 11);
      assert.equal(r.events[0]!.event, "stream.gap");
      assert.deepEqual(r.events.slice(1).map((e) => e.data.source), Array.from({ length: 10 }, (_, i) => `g${20 + i}`));
      r.close();
    } finally {
      await second.stop();
      await gapDb.destroy();
    }
  });

  test("a subscriber that never reads is dropped once its unsent bytes pass the limit; a reading one gets everything", async () => {
    const LIMIT = 64 * 1024;
    const HARD = 256 * 1024;
    const node = await startNode(db, { maxBufferedBytes: LIMIT, hardMaxBufferedBytes: HARD, drainTimeoutMs: 300, keepAliveMs: 60_000 });
    try {
      const fast = await SseReader.open(node.url, { "x-user": "alice" });
      // The slow client: sends the request, then never reads its socket.
      const slow = connect(Number(new URL(node.url).port), "127.0.0.1");
      await new Promise<void>((r) => slow.once("connect", r));
      slow.write(`GET /events HTTP/1.1\r\nHost: x\r\nx-user: alice\r\naccept: text/event-stream\r\n\r\n`);
      slow.pause();
      let slowClosed = false;
      slow.on("close", () => (slowClosed = true));
      slow.on("error", () => undefined);
      const deadline = Date.now() + 20_000;
      while (node.streams.stats().subscribers < 2) {
        assert.ok(Date.now() < deadline, "both subscribers registered");
        await new Promise((r) => setImmediate(r));
      }
      const EVENT = 64 * 1024;
      const note = "x".repeat(EVENT);
      let published = 0;
      let last = "";
      let peakTotal = 0;
      // Publish until the server drops the slow subscriber; the kernel's socket buffers absorb some MiB first.
      while (node.streams.stats().dropped === 0) {
        assert.ok(published < 1000, `the slow subscriber was not dropped after ${published} events of 64 KiB`);
        last = (await node.bus.publish(completed("alice", "big", note))).id;
        published++;
        // Let the bus deliver it before measuring (delivery is asynchronous).
        await fast.until(`event ${last}`, (r) => r.events.some((e) => e.id === last));
        peakTotal = Math.max(peakTotal, node.streams.stats().bufferedBytes);
      }
      const s = node.streams.stats();
      assert.equal(s.subscribers, 1, "only the reading subscriber is left");
      assert.ok(s.maxBufferedSeen <= HARD + EVENT + 1024, `one subscriber never held more than the hard limit plus one event (held ${s.maxBufferedSeen} B)`);
      assert.ok(peakTotal <= HARD + EVENT + 1024, `the server's buffered bytes stayed bounded (peak ${peakTotal} B)`);
      // The reading subscriber goes on receiving.
      const more = (await node.bus.publish(completed("alice", "after"))).id;
      await fast.until("the event after the drop", (r) => r.events.some((e) => e.id === more));
      assert.equal(fast.events.length, published + 1, "the reading subscriber got every event");
      slow.resume(); // reading now drains what the kernel held and reaches the server's close
      const closedBy = Date.now() + 5000;
      while (!slowClosed && Date.now() < closedBy) await new Promise((r) => setTimeout(r, 20));
      assert.ok(slowClosed, "the slow subscriber's connection was closed by the server");
      console.log(`# slow subscriber dropped after ${published} events of 64 KiB; peak server-side buffer of one subscriber ${s.maxBufferedSeen} B (limits: ${LIMIT} B for 300 ms, ${HARD} B at once)`);
      fast.close();
      slow.destroy();
    } finally {
      await node.stop();
    }
  });

  test("a subscriber that stops reading is dropped after drainTimeoutMs above the soft limit, below the hard one", async () => {
    const LIMIT = 64 * 1024;
    const node = await startNode(db, { maxBufferedBytes: LIMIT, hardMaxBufferedBytes: 64 * 1024 * 1024, drainTimeoutMs: 200, keepAliveMs: 60_000 });
    try {
      const slow = connect(Number(new URL(node.url).port), "127.0.0.1");
      await new Promise<void>((r) => slow.once("connect", r));
      slow.write(`GET /events HTTP/1.1\r\nHost: x\r\nx-user: alice\r\naccept: text/event-stream\r\n\r\n`);
      slow.pause();
      slow.on("error", () => undefined);
      while (node.streams.stats().subscribers < 1) await new Promise((r) => setImmediate(r));
      const note = "z".repeat(64 * 1024);
      let published = 0;
      // Fill until the server holds more than the soft limit for this subscriber, then publish nothing more.
      while (node.streams.stats().bufferedBytes <= LIMIT) {
        assert.ok(published++ < 1000, "the kernel buffers never filled");
        const id = Number((await node.bus.publish(completed("alice", "fill", note))).id);
        while (node.bus.position < id) await new Promise((r) => setTimeout(r, 5));
      }
      const held = node.streams.stats().bufferedBytes;
      assert.equal(node.streams.stats().dropped, 0, "not dropped at once");
      const deadline = Date.now() + 5000;
      while (node.streams.stats().dropped === 0) {
        assert.ok(Date.now() < deadline, "the subscriber was not dropped after the drain timeout");
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(node.streams.stats().subscribers, 0);
      console.log(`# a subscriber holding ${held} B (soft limit ${LIMIT} B) was dropped after the drain timeout`);
      slow.destroy();
    } finally {
      await node.stop();
    }
  });

  test("a burst above the soft limit to a subscriber that reads does not drop it", async () => {
    const node = await startNode(db, { maxBufferedBytes: 64 * 1024, hardMaxBufferedBytes: 4 * 1024 * 1024, drainTimeoutMs: 2000 });
    try {
      const r = await SseReader.open(node.url, { "x-user": "alice" });
      const note = "y".repeat(64 * 1024);
      // Published together: the bus delivers them in one batch, 512 KiB written at once.
      const ids = (await Promise.all(Array.from({ length: 8 }, () => node.bus.publish(completed("alice", "burst", note))))).map((e) => e.id);
      await r.until("the whole burst", (x) => ids.every((id) => x.events.some((e) => e.id === id)));
      assert.ok(node.streams.stats().maxBufferedSeen > 64 * 1024, `the burst did pass the soft limit (${node.streams.stats().maxBufferedSeen} B)`);
      await node.bus.publish(completed("alice", "after-burst"));
      await r.until("an event after the burst", (x) => x.events.some((e) => e.data.source === "after-burst"));
      assert.equal(node.streams.stats().dropped, 0);
      r.close();
    } finally {
      await node.stop();
    }
  });

  test("1,000 idle subscribers: bounded server memory, every one gets a broadcast, none left after they go", async () => {
    const N = 1000;
    const node = await startNode(db, { keepAliveMs: 60_000 });
    // The clients live in a child process, so that this process's memory is the server's alone.
    const child = spawn(process.execPath, ["--input-type=module", "-e", SUBSCRIBERS_CHILD, node.url, String(N)], { stdio: ["pipe", "pipe", "inherit"] });
    const lines: string[] = [];
    let wake: (() => void) | null = null;
    child.stdout.setEncoding("utf8");
    let buf = "";
    child.stdout.on("data", (d: string) => {
      buf += d;
      for (let i; (i = buf.indexOf("\n")) >= 0; buf = buf.slice(i + 1)) lines.push(buf.slice(0, i));
      wake?.();
    });
    const line = async (what: string): Promise<string> => {
      const deadline = Date.now() + 30_000;
      while (!lines.some((l) => l.startsWith(what))) {
        assert.ok(Date.now() < deadline, `the client process did not say "${what}"; said: ${lines.join(" | ")}`);
        await new Promise<void>((r) => ((wake = r), setTimeout(r, 1000)));
      }
      return lines.find((l) => l.startsWith(what))!;
    };
    try {
      gc();
      const before = process.memoryUsage();
      child.stdin.write("open\n");
      await line("open");
      assert.equal(node.streams.stats().subscribers, N);
      gc();
      const during = process.memoryUsage();
      for (let u = 0; u < 10; u++) await node.bus.publish(completed(`u${u}`, "b"));
      assert.equal(await line("got"), `got ${N} events on ${N} streams`, "each subscriber got exactly its user's event");
      const heap = during.heapUsed - before.heapUsed;
      const rss = during.rss - before.rss;
      console.log(`# 1,000 idle SSE subscribers, server side: heap +${(heap / 1048576).toFixed(2)} MiB (${(heap / N / 1024).toFixed(1)} KiB each), rss +${(rss / 1048576).toFixed(1)} MiB (${(rss / N / 1024).toFixed(1)} KiB each, sockets and buffers included)`);
      assert.ok(heap / N < 32 * 1024, `heap per idle subscriber is ${heap / N} B`);
      child.stdin.end(); // the clients go
      const deadline = Date.now() + 10_000;
      while (node.streams.stats().subscribers > 0) {
        assert.ok(Date.now() < deadline, `subscribers left after the clients went: ${node.streams.stats().subscribers}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      child.kill();
      await node.stop();
    }
  });

  test("past maxSubscribers a new stream is refused with 503 and Retry-After; a freed place can be taken again", async () => {
    const node = await startNode(db, { maxSubscribers: 2 });
    try {
      const a = await SseReader.open(node.url, { "x-user": "alice" });
      const b = await SseReader.open(node.url, { "x-user": "bob" });
      const c = await SseReader.open(node.url, { "x-user": "carol" });
      assert.deepEqual([a.status, b.status, c.status], [200, 200, 503]);
      assert.match(String(c.headers["retry-after"]), /^\d+$/);
      a.close();
      const deadline = Date.now() + 5000;
      while (node.streams.stats().subscribers > 1) {
        assert.ok(Date.now() < deadline, "the closed stream was not released");
        await new Promise((r) => setTimeout(r, 20));
      }
      const d = await SseReader.open(node.url, { "x-user": "carol" });
      assert.equal(d.status, 200);
      for (const r of [b, c, d]) r.close();
    } finally {
      await node.stop();
    }
  });

  test("shutdown sends a final server.closing event with the id to resume from, ends the streams and refuses new ones", async () => {
    const node = await startNode(db);
    try {
      const r = await SseReader.open(node.url, { "x-user": "alice" });
      const id = (await node.bus.publish(completed("alice", "before-close"))).id;
      await r.until("the event", (x) => x.events.some((e) => e.id === id));
      node.streams.closeAll();
      await r.until("the end of the stream", (x) => x.ended || x.events.some((e) => e.event === "server.closing"));
      const last = r.events[r.events.length - 1]!;
      assert.equal(last.event, "server.closing");
      assert.equal(last.id, id, "the final event names the last delivered id");
      await r.until("the stream to end", (x) => x.ended).catch(() => undefined);
      assert.ok(r.ended, "the stream ended");
      const refused = await SseReader.open(node.url, { "x-user": "alice" });
      assert.equal(refused.status, 503);
      refused.close();
    } finally {
      await node.stop();
    }
  });
});
