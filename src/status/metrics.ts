/**
 * Prometheus metrics: one registry per server, served at /metrics. HTTP metrics are fed by the Koa
 * edge; sync metrics come from the status bus (every process's events, `calgate sync --once` included)
 * and, at scrape time, from the live sync rooms (upstream request counters, outbox depth).
 *
 * Labels name sources by their configured id only (never a username: /metrics is unauthenticated).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { StatusEvent } from "./events.ts";

/** What the sync metrics read; implemented by the bus, the engine and the outbox store (wired in main.ts). */
export interface SyncMetricsSources {
  bus: { subscribe(accept: (e: StatusEvent) => boolean, f: (e: StatusEvent) => void): () => void };
  /** Upstream HTTP requests made so far by this process, per source (cumulative, retries included). */
  upstreamRequests(): Iterable<{ source: string; requests: number }>;
  /** Writes waiting for their upstream, per source (every synced source, 0 when none). */
  outboxDepth(): Promise<Iterable<{ source: string; pending: number }>>;
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: "calgate_http_requests_total", help: "HTTP requests by method and status", labelNames: ["method", "status"], registers: [this.registry] });
  readonly duration = new Histogram({
    name: "calgate_http_request_duration_seconds",
    help: "HTTP request duration by method",
    labelNames: ["method"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly authFailures = new Counter({ name: "calgate_auth_failures_total", help: "Failed or throttled logins", labelNames: ["reason"], registers: [this.registry] });
  readonly syncRuns = new Counter({ name: "calgate_sync_runs_total", help: "Sync runs by source and outcome (ok | failed)", labelNames: ["source", "outcome"], registers: [this.registry] });
  readonly syncDuration = new Histogram({
    name: "calgate_sync_duration_seconds",
    help: "Duration of successful sync runs by source",
    labelNames: ["source"],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly syncChanges = new Counter({ name: "calgate_sync_changes_total", help: "Upstream changes applied to the cache by source and kind (created | updated | deleted | skipped)", labelNames: ["source", "kind"], registers: [this.registry] });
  readonly writes = new Counter({ name: "calgate_upstream_writes_total", help: "Write-back attempts by source and outcome (ok | refused | retry)", labelNames: ["source", "outcome"], registers: [this.registry] });
  readonly conflicts = new Counter({ name: "calgate_conflicts_total", help: "Conflicts detected (an object changed upstream and here), by source", labelNames: ["source"], registers: [this.registry] });
  private sync: SyncMetricsSources | null = null;
  private readonly upstreamSeen = new Map<string, number>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "calgate_" });
    const self = this;
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
    return s.bus.subscribe(
      () => true,
      (e) => this.observe(e),
    );
  }

  private observe(e: StatusEvent): void {
    const source = e.source;
    switch (e.type) {
      case "sync.completed":
        this.syncRuns.inc({ source, outcome: "ok" });
        this.syncDuration.observe({ source }, e.ms / 1000);
        for (const kind of ["created", "updated", "deleted", "skipped"] as const) if (e[kind] > 0) this.syncChanges.inc({ source, kind }, e[kind]);
        return;
      case "sync.failed":
        this.syncRuns.inc({ source, outcome: "failed" });
        return;
      case "write.replayed":
        this.writes.inc({ source, outcome: e.outcome });
        return;
      case "conflict.detected":
        this.conflicts.inc({ source });
        return;
      default:
        return;
    }
  }
}
