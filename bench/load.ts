/**
 * Loading a calendar: by PUT (what a client or an importer does; concurrency 4, latency kept per
 * event so the flatness of PUT cost as the calendar grows can be shown per tenth of the load), or,
 * for the peers in the quick mode, straight into their storage:
 *
 * - Radicale (multifilesystem): one file per object in the collection directory, named as its href,
 *   next to the .Radicale.props MKCALENDAR wrote. This is exactly what Radicale's PUT leaves on disk
 *   (its .Radicale.cache item cache is rebuilt lazily on the first read, which the benchmark's
 *   warm-up requests pay for before measuring).
 * - Xandikos (TreeGitStore): the collection is a git work tree whose index is what Xandikos reads;
 *   the files are written to the work tree and committed with `git add` + one `git commit`.
 *   Xandikos's PUT does the same per object (write file, update index, commit), so the served state is
 *   the same; only the history has one commit instead of N, which no benchmarked read walks
 *   (ctag = tree of the index; sync-collection diffs two trees).
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchEvent } from "./generate.ts";
import { Client, percentile, round } from "./http.ts";
import type { BenchTarget } from "./servers.ts";

export interface PutLoad {
  events: number;
  seconds: number;
  eventsPerSec: number;
  /** Latency (ms) of each PUT, in load order. */
  latencies: number[];
  failures: number;
  firstFailure?: string;
  loaded: BenchEvent[];
}

export interface Tenth {
  tenth: number;
  from: number;
  to: number;
  p50: number;
  p99: number;
  mean: number;
}

export function tenths(latencies: number[]): Tenth[] {
  const out: Tenth[] = [];
  const n = latencies.length;
  for (let t = 0; t < 10; t++) {
    const from = Math.floor((t * n) / 10);
    const to = Math.floor(((t + 1) * n) / 10);
    const s = latencies.slice(from, to).sort((a, b) => a - b);
    if (s.length === 0) continue;
    out.push({ tenth: t + 1, from, to, p50: round(percentile(s, 0.5), 2), p99: round(percentile(s, 0.99), 2), mean: round(s.reduce((a, b) => a + b, 0) / s.length, 2) });
  }
  return out;
}

/** PUT every event (If-None-Match: *) with `concurrency` workers. */
export async function loadByPut(target: BenchTarget, events: BenchEvent[], opts: { concurrency?: number; progress?: (done: number) => void } = {}): Promise<PutLoad> {
  const client = new Client(target.auth, opts.concurrency ?? 4);
  const latencies = new Array<number>(events.length).fill(NaN);
  const ok = new Array<boolean>(events.length).fill(false);
  let next = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < events.length) {
      const i = next++;
      const ev = events[i]!;
      try {
        const res = await client.request({
          method: "PUT",
          url: target.calendarUrl + encodeURIComponent(ev.name),
          headers: { "content-type": "text/calendar; charset=utf-8", "if-none-match": "*" },
          body: ev.ics,
        });
        latencies[i] = res.ms;
        if (res.status === 201 || res.status === 204) ok[i] = true;
        else {
          failures++;
          firstFailure ??= `PUT ${ev.name} (${ev.kind}) → ${res.status}: ${res.body.slice(0, 400)}`;
        }
      } catch (e) {
        failures++;
        firstFailure ??= `PUT ${ev.name}: ${(e as Error).message}`;
      }
      if (opts.progress && (i + 1) % 500 === 0) opts.progress(i + 1);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));
  const seconds = (performance.now() - t0) / 1000;
  client.close();
  const r: PutLoad = {
    events: events.length,
    seconds: round(seconds, 2),
    eventsPerSec: round(events.length / seconds, 1),
    latencies,
    failures,
    loaded: events.filter((_, i) => ok[i]),
  };
  if (firstFailure !== undefined) r.firstFailure = firstFailure;
  return r;
}

/** Writes the events straight into a peer's storage (see the file comment). Returns seconds taken. */
export function loadDirect(target: BenchTarget, events: BenchEvent[]): number {
  if (!target.collectionDir) throw new Error(`${target.name}: no direct loading`);
  const t0 = performance.now();
  for (const ev of events) writeFileSync(join(target.collectionDir, ev.name), ev.ics);
  if (target.name === "xandikos") {
    const git = (...args: string[]): void => {
      execFileSync("git", ["-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "core.autocrlf=false", ...args], { cwd: target.collectionDir, stdio: "pipe", maxBuffer: 64 << 20 });
    };
    git("add", "-A", ".");
    git("commit", "-q", "-m", `bench: load ${events.length} objects`);
  }
  return round((performance.now() - t0) / 1000, 2);
}
