/** Prometheus metrics: one registry per server, served at /metrics. */
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

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
  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "calgate_" });
  }
}
