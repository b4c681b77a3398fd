/**
 * Prometheus metrics: one registry per server, served at /metrics. HTTP and CalDAV metrics are fed by
 * the Koa edge; sync and conflict metrics come from the status bus (every process's events, `calgate
 * sync --once` included); upstream responses by status from undici's diagnostics channels
 * (upstream-http.ts); at scrape time, the live rooms give upstream request counts, outbox depth,
 * rate-limit waits and SSE subscribers.
 *
 * Labels name sources by their configured id only, never a username (/metrics may be unauthenticated:
 * server.metricsAuth).
 */
import { getHeapStatistics } from "node:v8";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { StatusEvent } from "./events.ts";
import { watchUpstreamHttp } from "./upstream-http.ts";

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/** What the sync metrics read; implemented by the bus, the engine and the outbox store (wired in main.ts). */
export interface SyncMetricsSources {
  bus: { subscribe(accept: (e: StatusEvent) => boolean, f: (e: StatusEvent) => void, opts?: { localOnly?: boolean }): () => void };
  /** Upstream HTTP requests made so far by this process, per source (cumulative, retries included). */
  upstreamRequests(): Iterable<{ source: string; requests: number }>;
  /** Writes waiting for their upstream, per source (every synced source, 0 when none). */
  outboxDepth(): Promise<Iterable<{ source: string; pending: number }>>;
  /** Requests that waited for a client-side rate-limit budget in this process, and the total wait (cumulative). */
  rateLimitWaits?(): { count: number; ms: number };
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: "calgate_http_requests_total", help: "HTTP requests by method and status", labelNames: ["method", "status"], registers: [this.registry] });
  readonly duration = new Histogram({
    name: "calgate_http_request_duration_seconds",
    help: "HTTP request duration by method",
    labelNames: ["method"],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly caldavRequests = new Counter({ name: "calgate_caldav_requests_total", help: "CalDAV requests (under /dav/ and discovery) by method and status", labelNames: ["method", "status"], registers: [this.registry] });
  readonly caldavDuration = new Histogram({
    name: "calgate_caldav_request_duration_seconds",
    help: "CalDAV request latency by method and status (until the handler answered; a streamed multistatus body may still be sending)",
    labelNames: ["method", "status"],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly upstreamResponses = new Counter({
    name: "calgate_upstream_responses_total",
    help: "Responses of upstream providers by host, method and HTTP status (\"error\": no answer: refused, reset, timed out); 429 and 5xx are the upstream's errors and rate limits",
    labelNames: ["host", "method", "status"],
    registers: [this.registry],
  });
  readonly upstreamDuration = new Histogram({
    name: "calgate_upstream_request_duration_seconds",
    help: "Upstream request latency until the response headers, by host",
    labelNames: ["host"],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly pushMessages = new Counter({
    name: "calgate_webdav_push_messages_total",
    help: "WebDAV-Push messages to devices, by outcome: sent (the push service took it), gone (the push service no longer knows the subscription; registration removed), failed (after its retries)",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly authFailures = new Counter({ name: "calgate_auth_failures_total", help: "Failed or throttled logins", labelNames: ["reason"], registers: [this.registry] });
  readonly syncRuns = new Counter({ name: "calgate_sync_runs_total", help: "Sync runs by source and outcome (ok | failed)", labelNames: ["source", "outcome"], registers: [this.registry] });
  readonly syncDuration = new Histogram({
    name: "calgate_sync_duration_seconds",
    help: "Duration of sync runs by source and outcome (ok | failed)",
    labelNames: ["source", "outcome"],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly syncChanges = new Counter({ name: "calgate_sync_changes_total", help: "Upstream changes applied to the cache by source and kind (created | updated | deleted | skipped)", labelNames: ["source", "kind"], registers: [this.registry] });
  readonly writes = new Counter({ name: "calgate_upstream_writes_total", help: "Write-back attempts by source and outcome (ok | refused | retry)", labelNames: ["source", "outcome"], registers: [this.registry] });
  readonly conflicts = new Counter({
    name: "calgate_conflicts_total",
    help: "Conflicts detected (an object changed upstream and here), by source, the policy that decided it and its outcome (merged | upstream-won | client-won | newest-won | kept-edit | pending)",
    labelNames: ["source", "policy", "outcome"],
    registers: [this.registry],
  });
  readonly conflictsResolved = new Counter({
    name: "calgate_conflicts_resolved_total",
    help: "Conflicts resolved later (e.g. by `calgate conflicts restore`), by source, policy and outcome",
    labelNames: ["source", "policy", "outcome"],
    registers: [this.registry],
  });
  private sync: SyncMetricsSources | null = null;
  private readonly upstreamSeen = new Map<string, number>();
  private readonly rateSeen = { count: 0, ms: 0 };
  private sse: (() => { subscribers: number; dropped: number }) | null = null;
  private scheduler: (() => { running: number; waiting: number }) | null = null;
  private readonly sseDroppedSeen = { n: 0 };
  private readonly unwatchHttp: () => void;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "calgate_" });
    const self = this;
    this.unwatchHttp = watchUpstreamHttp((r) => {
      this.upstreamResponses.inc({ host: r.host, method: r.method, status: r.status });
      this.upstreamDuration.observe({ host: r.host }, r.seconds);
    });
    new Counter({
      name: "calgate_rate_limit_waits_total",
      help: "Upstream requests that waited for calgate's own per-provider request budget (Google, Microsoft) before being sent",
      registers: [this.registry],
      collect() {
        const w = self.sync?.rateLimitWaits?.();
        if (!w) return;
        if (w.count > self.rateSeen.count) this.inc(w.count - self.rateSeen.count);
        self.rateSeen.count = w.count;
      },
    });
    new Counter({
      name: "calgate_rate_limit_wait_seconds_total",
      help: "Time upstream requests spent waiting for calgate's own per-provider request budget",
      registers: [this.registry],
      collect() {
        const w = self.sync?.rateLimitWaits?.();
        if (!w) return;
        if (w.ms > self.rateSeen.ms) this.inc((w.ms - self.rateSeen.ms) / 1000);
        self.rateSeen.ms = w.ms;
      },
    });
    new Gauge({
      name: "calgate_heap_limit_bytes",
      help: "The JavaScript heap's limit (node --max-old-space-size; the Docker image sets it, docs/SELF-HOSTING.md)",
      registers: [this.registry],
      collect() {
        this.set(getHeapStatistics().heap_size_limit);
      },
    });
    new Gauge({
      name: "calgate_sse_subscribers",
      help: "Open /events (SSE) streams",
      registers: [this.registry],
      collect() {
        this.set(self.sse?.().subscribers ?? 0);
      },
    });
    new Gauge({
      name: "calgate_scheduled_syncs",
      help: "Scheduled source syncs of this process: running (holding one of sync.concurrency slots) or waiting for a slot",
      labelNames: ["state"],
      registers: [this.registry],
      collect() {
        const l = self.scheduler?.();
        this.set({ state: "running" }, l?.running ?? 0);
        this.set({ state: "waiting" }, l?.waiting ?? 0);
      },
    });
    new Counter({
      name: "calgate_sse_dropped_total",
      help: "/events subscribers disconnected because they did not read fast enough",
      registers: [this.registry],
      collect() {
        const n = self.sse?.().dropped ?? 0;
        if (n > self.sseDroppedSeen.n) this.inc(n - self.sseDroppedSeen.n);
        self.sseDroppedSeen.n = n;
      },
    });
    new Counter({
      name: "calgate_upstream_requests_total",
      help: "HTTP requests made to upstream providers by this process, by source (retries and redirects included)",
      labelNames: ["source"],
      registers: [this.registry],
      collect() {
        if (!self.sync) return;
        const totals = new Map<string, number>();
        for (const { source, requests } of self.sync.upstreamRequests()) totals.set(source, (totals.get(source) ?? 0) + requests);
        for (const [source, total] of totals) {
          const delta = total - (self.upstreamSeen.get(source) ?? 0);
          if (delta > 0) this.inc({ source }, delta);
          else if (!self.upstreamSeen.has(source)) this.inc({ source }, 0);
          self.upstreamSeen.set(source, total);
        }
      },
    });
    new Gauge({
      name: "calgate_outbox_queue_depth",
      help: "Client writes queued for their upstream (pending in the outbox), by source",
      labelNames: ["source"],
      registers: [this.registry],
      async collect() {
        if (!self.sync) return;
        const depth = new Map<string, number>();
        for (const { source, pending } of await self.sync.outboxDepth()) depth.set(source, (depth.get(source) ?? 0) + pending);
        this.reset();
        for (const [source, pending] of depth) this.set({ source }, pending);
      },
    });
  }

  /** Starts counting sync activity from the status bus; returns the unsubscribe function. */
  watchSync(s: SyncMetricsSources): () => void {
    this.sync = s;
    // This process's own events: with several instances, each counts what it did (Prometheus sums them).
    return s.bus.subscribe(
      () => true,
      (e) => this.observe(e),
      { localOnly: true },
    );
  }

  /** Reads the scheduler's slots at scrape time (sync/scheduler's load()). */
  watchScheduler(load: () => { running: number; waiting: number }): void {
    this.scheduler = load;
  }

  /** Reads SSE subscriber counts at scrape time (http/sse's EventStreams). */
  watchStreams(stats: () => { subscribers: number; dropped: number }): void {
    this.sse = stats;
  }

  /** One CalDAV request (the Koa edge). */
  caldav(method: string, status: number, seconds: number): void {
    const labels = { method, status: String(status) };
    this.caldavRequests.inc(labels);
    this.caldavDuration.observe(labels, seconds);
  }

  close(): void {
    this.unwatchHttp();
  }

  private observe(e: StatusEvent): void {
    const source = e.source;
    switch (e.type) {
      case "sync.completed":
        this.syncRuns.inc({ source, outcome: "ok" });
        this.syncDuration.observe({ source, outcome: "ok" }, e.ms / 1000);
        for (const kind of ["created", "updated", "deleted", "skipped"] as const) if (e[kind] > 0) this.syncChanges.inc({ source, kind }, e[kind]);
        return;
      case "sync.failed":
        this.syncRuns.inc({ source, outcome: "failed" });
        if (e.ms !== undefined) this.syncDuration.observe({ source, outcome: "failed" }, e.ms / 1000);
        return;
      case "write.replayed":
        this.writes.inc({ source, outcome: e.outcome });
        return;
      case "conflict.detected":
        this.conflicts.inc({ source, policy: e.policy ?? "unknown", outcome: e.outcome ?? "unknown" });
        return;
      case "conflict.resolved":
        this.conflictsResolved.inc({ source, policy: e.policy, outcome: e.outcome });
        return;
      default:
        return;
    }
  }
}
