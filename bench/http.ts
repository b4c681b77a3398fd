/**
 * A small keep-alive HTTP load loop on node:http, plus /proc sampling of a server process.
 *
 * Why not autocannon or wrk: every benchmarked operation needs WebDAV methods with per-request bodies
 * (rotating multiget hrefs, fresh PUT bodies with unique UIDs) and its answers checked for
 * correctness (the href set of a time-range query, the member count of a PROPFIND); a closed loop
 * of `concurrency` workers over one keep-alive Agent does exactly that in ~100 lines with no
 * dependency, and measures latency per request with hrtime from send to last body byte. Answers
 * that will not be checked are not kept: their bytes are counted and dropped (no Buffer.concat, no
 * UTF-8 decoding), so a large answer costs the client only its socket reads. The load runs in
 * several client processes (client-pool.ts), each of which measures its own CPU.
 */
import http from "node:http";
import { readFileSync } from "node:fs";

export interface Req {
  method: string;
  /** Absolute URL. */
  url: string;
  headers?: Record<string, string>;
  body?: string;
}
export interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The whole body, or (when the request was sent with `discard`) only its first 512 bytes. */
  body: string;
  /** Body bytes received. */
  bytes: number;
  ms: number;
}

/** How much of a discarded body is kept (for error messages). */
const HEAD_BYTES = 512;

export class Client {
  readonly agent: http.Agent;
  constructor(
    readonly auth: string,
    maxSockets = 16,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }
  /** `discard`: count the body's bytes but keep only its first 512 (an answer that is not checked). */
  request(r: Req, discard = false): Promise<Res> {
    const u = new URL(r.url);
    const body = r.body === undefined ? undefined : Buffer.from(r.body, "utf8");
    const headers: Record<string, string | number> = { authorization: this.auth, ...(r.headers ?? {}) };
    if (body) headers["content-length"] = body.length;
    return new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const req = http.request(
        { agent: this.agent, host: u.hostname, port: u.port, path: u.pathname + u.search, method: r.method, headers },
        (res) => {
          const chunks: Buffer[] = [];
          let bytes = 0;
          res.on("data", (c: Buffer) => {
            if (!discard || bytes < HEAD_BYTES) chunks.push(c);
            bytes += c.length;
          });
          res.on("end", () => {
            const ms = Number(process.hrtime.bigint() - t0) / 1e6;
            const all = Buffer.concat(chunks);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: (discard ? all.subarray(0, HEAD_BYTES) : all).toString("utf8"), bytes, ms });
          });
          res.on("error", reject);
        },
      );
      req.setTimeout(600_000, () => req.destroy(new Error(`timeout: ${r.method} ${r.url}`)));
      req.on("error", reject);
      if (body) req.write(body);
      req.end();
    });
  }
  close(): void {
    this.agent.destroy();
  }
}

export interface LoadStats {
  concurrency: number;
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Non-2xx/207 answers or transport errors. */
  errors: number;
  firstError?: string;
  /** Answers that arrived but were wrong (see the operation's check). */
  wrong: number;
  firstWrong?: string;
  checked: number;
  /** Body bytes received, all answers. */
  bytes: number;
  /** Server CPU time (user+sys) per request, ms, from /proc/<pid>/stat (10 ms ticks). */
  serverCpuMsPerReq?: number;
  /** Server CPU over the phase, % of one core. */
  serverCpuPct?: number;
  /** The load client's own CPU over the phase (user+sys, every client process), ms (process.cpuUsage). */
  clientCpuMs?: number;
  /** The load client's own CPU per request, ms. */
  clientCpuMsPerReq?: number;
  /** The client processes' CPU together over the phase, % of one core. */
  clientCpuPct?: number;
  /** The busiest client process's CPU over the phase, % of one core. */
  clientCpuPctMax?: number;
  /** Client processes (and connections) that ran the phase. */
  clientProcs?: number;
  /** True when the client may have capped the figure (see clientBound()). */
  clientBound?: boolean;
}

/**
 * When a phase's figure may be the client's limit rather than the server's: its busiest client
 * process used at least CLIENT_BOUND_PCT of a core (it could not have sent faster), or the server
 * was not saturated (under SERVER_SATURATED_PCT of a core) while the clients together spent more
 * CPU per request than it did (on a machine whose cores they share, the client then takes at least
 * the server's share of the CPU).
 */
export const CLIENT_BOUND_PCT = 70;
export const SERVER_SATURATED_PCT = 90;
export function clientBound(s: Pick<LoadStats, "clientCpuPctMax" | "clientCpuMsPerReq" | "serverCpuMsPerReq" | "serverCpuPct">): boolean {
  if ((s.clientCpuPctMax ?? 0) >= CLIENT_BOUND_PCT) return true;
  if ((s.serverCpuPct ?? 0) >= SERVER_SATURATED_PCT) return false;
  return s.clientCpuMsPerReq !== undefined && s.serverCpuMsPerReq !== undefined && s.clientCpuMsPerReq > s.serverCpuMsPerReq;
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/**
 * Closed-loop load: `concurrency` workers each send make(i) back to back for `durationMs` (and at
 * least `minRequests` in all). `check` returns null when an answer is right, or what is wrong; it is
 * applied to every answer when `checkEvery` is 1, else to request i when (i + checkOffset) is a
 * multiple of it (offset 0: the first request is always checked). Client processes of one phase get
 * staggered offsets, so the phase checks about one answer in `checkEvery`, not the first of every
 * connection: with 1.5 MB answers arriving a few per second, those first answers were half of all.
 */
export async function runLoad(
  client: Client,
  opts: {
    concurrency: number;
    durationMs: number;
    minRequests?: number;
    maxRequests?: number;
    make: (i: number) => Req;
    check?: (res: Res, req: Req) => string | null;
    after?: (req: Req, res: Res) => void;
    checkEvery?: number;
    checkOffset?: number;
    okStatus?: (s: number) => boolean;
    pid?: number;
  },
): Promise<LoadStats & { latencies: number[] /* sorted */ }> {
  const lat: number[] = [];
  let bytes = 0;
  let next = 0;
  let errors = 0;
  let wrong = 0;
  let checked = 0;
  let firstError: string | undefined;
  let firstWrong: string | undefined;
  const okStatus = opts.okStatus ?? ((s: number) => s >= 200 && s < 300);
  const every = opts.checkEvery ?? 1;
  const offset = opts.checkOffset ?? 0;
  const minReq = opts.minRequests ?? 1;
  const maxReq = opts.maxRequests ?? Infinity;
  const cpu0 = opts.pid ? cpuMs(opts.pid) : undefined;
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + opts.durationMs;
  const worker = async (): Promise<void> => {
    while (next < maxReq && (performance.now() < deadline || next < minReq)) {
      const i = next++;
      const req = opts.make(i);
      // Decided before sending, so that an answer nobody reads is never buffered or decoded.
      const willCheck = opts.check !== undefined && (i + offset) % every === 0;
      try {
        const res = await client.request(req, !willCheck);
        lat.push(res.ms);
        bytes += res.bytes;
        opts.after?.(req, res);
        if (!okStatus(res.status)) {
          errors++;
          firstError ??= `${req.method} ${req.url} → ${res.status}: ${res.body.slice(0, 300)}`;
        } else if (willCheck && opts.check) {
          checked++;
          const why = opts.check(res, req);
          if (why !== null) {
            wrong++;
            firstWrong ??= why;
          }
        }
      } catch (e) {
        errors++;
        firstError ??= `${req.method} ${req.url}: ${(e as Error).message}`;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(own0);
  const cpu1 = opts.pid ? cpuMs(opts.pid) : undefined;
  lat.sort((a, b) => a - b);
  const ownMs = (own.user + own.system) / 1000;
  const stats: LoadStats & { latencies: number[] } = {
    concurrency: opts.concurrency,
    ...latencySummary(lat, seconds),
    errors,
    wrong,
    checked,
    bytes,
    clientCpuMs: round(ownMs, 1),
    clientCpuMsPerReq: lat.length ? round(ownMs / lat.length, 3) : NaN,
    clientCpuPct: round((100 * ownMs) / (seconds * 1000), 1),
    clientCpuPctMax: round((100 * ownMs) / (seconds * 1000), 1),
    clientProcs: 1,
    latencies: lat,
  };
  if (firstError !== undefined) stats.firstError = firstError;
  if (firstWrong !== undefined) stats.firstWrong = firstWrong;
  if (cpu0 !== undefined && cpu1 !== undefined && lat.length > 0) {
    stats.serverCpuMsPerReq = round((cpu1 - cpu0) / lat.length, 3);
    stats.serverCpuPct = round((100 * (cpu1 - cpu0)) / (seconds * 1000), 1);
  }
  stats.clientBound = clientBound(stats);
  return stats;
}

export const round = (x: number, d: number): number => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);

// ---------------------------------------------------------------------------------------------
// /proc sampling

/** Peak resident set size (VmHWM) and current (VmRSS) of a process, in MB. */
export function memMB(pid: number): { hwm: number; rss: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? NaN);
    return { hwm: round(kb("VmHWM") / 1024, 1), rss: round(kb("VmRSS") / 1024, 1) };
  } catch {
    return null;
  }
}

const CLK_TCK = 100;
/** User + system CPU time of a process (all threads), ms. */
export function cpuMs(pid: number): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** Samples VmRSS every `everyMs` and keeps the maximum (VmHWM is the kernel's own peak, also read). */
export class RssSampler {
  peakRss = 0;
  private timer: NodeJS.Timeout;
  constructor(
    readonly pid: number,
    everyMs = 200,
  ) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }
  sample(): { hwm: number; rss: number } | null {
    const m = memMB(this.pid);
    if (m && m.rss > this.peakRss) this.peakRss = m.rss;
    return m;
  }
  stop(): { peakRssMB: number; hwmMB: number } {
    clearInterval(this.timer);
    const m = this.sample();
    return { peakRssMB: this.peakRss, hwmMB: m?.hwm ?? NaN };
  }
}

/** Requests, rate and latency percentiles of one phase from its sorted latencies (ms) and duration (s). */
export function latencySummary(lat: number[], seconds: number) {
  return {
    requests: lat.length,
    seconds: round(seconds, 3),
    rps: round(lat.length / seconds, lat.length / seconds < 10 ? 3 : 1),
    p50: round(percentile(lat, 0.5), 2),
    p90: round(percentile(lat, 0.9), 2),
    p99: round(percentile(lat, 0.99), 2),
    max: round(lat[lat.length - 1] ?? NaN, 2),
  };
}
