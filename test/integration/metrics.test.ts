/**
 * /metrics and the request log: CalDAV requests by method and status with latency histograms, SSE
 * subscribers, the WebDAV-Push counter (0), sync duration by outcome, conflicts by policy and
 * outcome, upstream responses by host and status (seen through undici's diagnostics channels, for
 * global fetch and for undici Agents alike), rate-limit waits, server.metricsAuth, and one JSON
 * log line per request at info level with its request id and no credentials.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Agent } from "undici";
import { parseConfigText } from "../../src/config/load.ts";
import { startServer } from "../../src/main.ts";
import type { ServerHandle } from "../../src/cli/contract.ts";
import { createLogger } from "../../src/status/log.ts";
import { Metrics } from "../../src/status/metrics.ts";
import type { StatusEvent } from "../../src/status/events.ts";
import { SlidingWindowBudget, budgetWaits } from "../../src/sources/budget.ts";
import { basic, dav } from "../helpers/inproc.ts";
import { SseReader } from "../helpers/sse-client.ts";

const PASSWORD = "metrics-secret-pw-7f3a";
const AUTH = basic("alice", PASSWORD);

/** The value of one sample with exactly these labels. */
function value(body: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of body.split("\n")) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.keys(labels).length === Object.keys(got).length && Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe("/metrics and request logs", () => {
  let dir: string;
  let server: ServerHandle;
  let base: string;
  const lines: Record<string, unknown>[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "calgate-metrics-"));
    const config = parseConfigText(
      `server: { host: 127.0.0.1, port: 0, metricsAuth: true }
storage: { client: sqlite, filename: "${join(dir, "db.sqlite")}" }
users:
  - username: alice
    password: ${PASSWORD}
    sources: [{ id: home, type: local, calendars: [{ id: personal, name: Personal }] }]
`,
      "test.yaml",
      {},
    );
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split("\n")) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    server = await startServer(config, { configPath: null, generatedPassword: null, logger: createLogger("info", sink) });
    base = server.url.replace(/\/$/, "");
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("server.metricsAuth: /metrics asks for a login, and answers with one", async () => {
    assert.equal((await fetch(`${base}/metrics`)).status, 401);
    assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: AUTH } })).status, 200);
  });

  test("CalDAV requests by method and status with latency histograms; SSE subscribers; the push counter is 0", async () => {
    const pf = await dav(base, "PROPFIND", "/dav/calendars/alice/", { auth: AUTH, headers: { depth: "1" } });
    assert.equal(pf.status, 207);
    assert.equal((await dav(base, "GET", "/dav/calendars/alice/home-personal/none.ics", { auth: AUTH })).status, 404);
    const sse = await SseReader.open(`${base}/events`, { authorization: AUTH });
    try {
      const m = await (await fetch(`${base}/metrics`, { headers: { authorization: AUTH } })).text();
      assert.ok(value(m, "calgate_caldav_requests_total", { method: "PROPFIND", status: "207" })! >= 1, m.split("\n").filter((l) => l.includes("caldav")).join("\n"));
      assert.ok(value(m, "calgate_caldav_requests_total", { method: "GET", status: "404" })! >= 1);
      assert.ok(value(m, "calgate_caldav_request_duration_seconds_count", { method: "PROPFIND", status: "207" })! >= 1);
      assert.ok(value(m, "calgate_caldav_request_duration_seconds_bucket", { method: "PROPFIND", status: "207", le: "+Inf" })! >= 1);
      assert.equal(value(m, "calgate_caldav_requests_total", { method: "GET", status: "200" }), undefined, "/metrics itself is not CalDAV");
      assert.equal(value(m, "calgate_sse_subscribers", {}), 1);
      assert.equal(value(m, "calgate_scheduled_syncs", { state: "waiting" }), 0);
      assert.ok(value(m, "calgate_scheduled_syncs", { state: "running" }) !== undefined);
      assert.match(m, /# HELP calgate_webdav_push_messages_total WebDAV-Push messages to devices, by outcome/);
      assert.doesNotMatch(m, /alice/, "no username in the metrics");
    } finally {
      sse.close();
    }
  });

  test("one JSON line per request at info level, with its request id and without credentials", async () => {
    const before = lines.length;
    const r = await fetch(`${base}/dav/calendars/alice/?secret=${PASSWORD}`, { method: "PROPFIND", headers: { authorization: AUTH, depth: "0", "x-request-id": "req-abc-123" } });
    assert.equal(r.status, 207);
    assert.equal(r.headers.get("x-request-id"), "req-abc-123");
    const mine = lines.slice(before).filter((l) => l.reqId === "req-abc-123" && l.msg === "request");
    assert.equal(mine.length, 1, JSON.stringify(lines.slice(before)));
    assert.equal(mine[0]!.level, "info");
    assert.equal(mine[0]!.method, "PROPFIND");
    assert.equal(mine[0]!.path, "/dav/calendars/alice/");
    assert.equal(mine[0]!.status, 207);
    assert.equal(typeof mine[0]!.ms, "number");
    const all = JSON.stringify(lines);
    assert.ok(!all.includes(PASSWORD) && !all.includes(AUTH.slice(6)), "no password or Basic credentials in any log line");
  });
});

describe("Metrics from the bus, undici and the budgets", () => {
  let upstream: Server;
  let port: number;
  before(async () => {
    upstream = createServer((req, res) => {
      const status = Number(/status=(\d+)/.exec(req.url ?? "")?.[1] ?? 200);
      res.writeHead(status, { "content-type": "text/plain" }).end("x");
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    port = (upstream.address() as AddressInfo).port;
  });
  after(async () => {
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  test("sync duration by outcome, conflicts by policy and outcome, upstream responses by status, rate-limit waits", async () => {
    const subs: ((e: StatusEvent) => void)[] = [];
    const metrics = new Metrics();
    const waits = { count: 0, ms: 0 };
    metrics.watchSync({ bus: { subscribe: (_a, f) => (subs.push(f), () => undefined) }, upstreamRequests: () => [], outboxDepth: async () => [], rateLimitWaits: () => budgetWaits });
    try {
      const base = { id: "1", at: new Date().toISOString(), owner: "alice", source: "work" };
      const emit = (e: object): void => subs.forEach((f) => f({ ...base, ...e } as StatusEvent));
      emit({ type: "sync.completed", calendars: 1, created: 1, updated: 0, deleted: 0, skipped: 0, requests: 2, ms: 120 });
      emit({ type: "sync.failed", error: "x", failures: 1, retryInMs: 1000, ms: 3000 });
      emit({ type: "conflict.detected", object: "a.ics", conflictId: 1, uid: "u", policy: "merge", outcome: "merged", resolution: "merged" });
      emit({ type: "conflict.detected", object: "b.ics", conflictId: 2, uid: "v", policy: "client-wins", outcome: "client-won", resolution: "client won" });
      emit({ type: "conflict.resolved", object: "b.ics", conflictId: 2, uid: "v", policy: "client-wins", outcome: "client-won", resolution: "restored", restored: "remote" });

      const host = `127.0.0.1:${port}`;
      await (await fetch(`http://${host}/a?status=200`)).text();
      await (await fetch(`http://${host}/a?status=429`)).text();
      const agent = new Agent();
      await (await fetch(`http://${host}/b?status=503`, { dispatcher: agent } as RequestInit)).text(); // as the CalDAV client sends them
      await agent.close();
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
      const closedHost = `127.0.0.1:${(closed.address() as AddressInfo).port}`;
      await new Promise<void>((r) => closed.close(() => r()));
      await fetch(`http://${closedHost}/`).catch(() => undefined); // nothing listens: no answer at all

      const budget = new SlidingWindowBudget(1, 40);
      const before = { ...budgetWaits };
      await budget.take(1);
      await budget.take(1); // waits for the window
      assert.equal(budgetWaits.count, before.count + 1);
      Object.assign(waits, budgetWaits);

      const m = await metrics.registry.metrics();
      assert.equal(value(m, "calgate_sync_duration_seconds_count", { source: "work", outcome: "ok" }), 1);
      assert.equal(value(m, "calgate_sync_duration_seconds_count", { source: "work", outcome: "failed" }), 1);
      assert.equal(value(m, "calgate_sync_duration_seconds_sum", { source: "work", outcome: "failed" }), 3);
      assert.equal(value(m, "calgate_conflicts_total", { source: "work", policy: "merge", outcome: "merged" }), 1);
      assert.equal(value(m, "calgate_conflicts_total", { source: "work", policy: "client-wins", outcome: "client-won" }), 1);
      assert.equal(value(m, "calgate_conflicts_resolved_total", { source: "work", policy: "client-wins", outcome: "client-won" }), 1);
      assert.equal(value(m, "calgate_upstream_responses_total", { host, method: "GET", status: "200" }), 1);
      assert.equal(value(m, "calgate_upstream_responses_total", { host, method: "GET", status: "429" }), 1);
      assert.equal(value(m, "calgate_upstream_responses_total", { host, method: "GET", status: "503" }), 1, "requests through an undici Agent are seen too");
      assert.equal(value(m, "calgate_upstream_responses_total", { host: closedHost, method: "GET", status: "error" }), 1);
      assert.ok(value(m, "calgate_upstream_request_duration_seconds_count", { host })! >= 3);
      assert.equal(value(m, "calgate_rate_limit_waits_total", {}), waits.count);
      assert.ok(value(m, "calgate_rate_limit_wait_seconds_total", {})! > 0);
    } finally {
      metrics.close();
    }
  });
});
