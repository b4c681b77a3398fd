/**
 * The load client, spread over several processes (client-proc.ts) so that it never caps a figure:
 * one Node process parsing or even just receiving 1.5 MB answers for eight connections used to be
 * slower than the server it measured. A phase with concurrency c runs in min(c, procs) processes with
 * the connections shared out (by default 4 processes: 2 connections each at c=8, 1 process at c=1).
 * Each process measures its own CPU (process.cpuUsage); the runner measures the server's from /proc.
 */
import { fork, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { clientBound, cpuMs, latencySummary, round, type LoadStats } from "./http.ts";
import type { OpName, StateSnapshot } from "./ops.ts";
import type { FromClient, ToClient } from "./client-proc.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
type Sized = LoadStats & { latencies: number[] };
/** A request to a client process, before the pool numbers it. */
type Call = ToClient extends infer T ? (T extends { type: "exit" } ? never : T extends unknown ? Omit<T, "id"> : never) : never;

class ClientProc {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited: string | null = null;
  constructor(readonly index: number) {
    this.child = fork(join(HERE, "client-proc.ts"), [], { execArgv: ["--import", "tsx"], serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child.on("message", (m: FromClient) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.value);
      else w.reject(new Error(`client process ${index}: ${m.error}`));
    });
    this.child.on("exit", (code, signal) => {
      this.exited = `client process ${index} exited (code ${code}, signal ${signal})`;
      for (const w of this.waiting.values()) w.reject(new Error(this.exited));
      this.waiting.clear();
    });
  }
  call<T>(m: Call): Promise<T> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...m, id } as ToClient);
    });
  }
  close(): void {
    if (!this.exited && this.child.connected) this.child.send({ type: "exit" } satisfies ToClient);
  }
}

export class ClientPool {
  private readonly procs: ClientProc[];
  constructor(readonly size: number) {
    this.procs = Array.from({ length: Math.max(1, size) }, (_, i) => new ClientProc(i));
  }
  /** What the calendar holds now; each process gets its own range of generator indexes for PUT. */
  async setState(snap: (putBase: number) => StateSnapshot, auth: string): Promise<void> {
    await Promise.all(this.procs.map((p, i) => p.call({ type: "state", snap: snap(51_000_000 + i * 1_000_000), auth })));
  }
  /** One closed-loop phase of `op` with `concurrency` connections in all; `pid` is the server's (CPU from /proc). */
  async run(op: OpName, concurrency: number, durationMs: number, pid: number): Promise<LoadStats> {
    const n = Math.min(this.procs.length, concurrency);
    const conns = Array.from({ length: n }, (_, k) => Math.floor(concurrency / n) + (k < concurrency % n ? 1 : 0));
    const cpu0 = cpuMs(pid);
    const t0 = performance.now();
    const parts = await Promise.all(conns.map((c, k) => this.procs[k]!.call<Sized>({ type: "run", op, concurrency: c, durationMs, minRequests: c, slot: k, slots: n })));
    const wallMs = performance.now() - t0;
    const cpu1 = cpuMs(pid);
    return merge(parts, concurrency, wallMs, cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined);
  }
  /** After the last phase of `op`: each process undoes what it created (PUT). */
  async finish(op: OpName): Promise<void> {
    await Promise.all(this.procs.map((p) => p.call({ type: "finish", op })));
  }
  close(): void {
    for (const p of this.procs) p.close();
  }
}

function merge(parts: Sized[], concurrency: number, wallMs: number, serverCpuMs: number | undefined): LoadStats {
  const lat = parts.flatMap((p) => p.latencies).sort((a, b) => a - b);
  const seconds = Math.max(...parts.map((p) => p.seconds));
  const sum = (f: (p: Sized) => number): number => parts.reduce((a, p) => a + f(p), 0);
  const clientMs = sum((p) => p.clientCpuMs ?? 0);
  const s: LoadStats = {
    concurrency,
    ...latencySummary(lat, seconds),
    errors: sum((p) => p.errors),
    wrong: sum((p) => p.wrong),
    checked: sum((p) => p.checked),
    bytes: sum((p) => p.bytes),
    clientCpuMs: round(clientMs, 1),
    clientCpuMsPerReq: lat.length ? round(clientMs / lat.length, 3) : NaN,
    clientCpuPct: round((100 * clientMs) / wallMs, 1),
    clientCpuPctMax: Math.max(...parts.map((p) => p.clientCpuPctMax ?? 0)),
    clientProcs: parts.length,
  };
  const firstError = parts.find((p) => p.firstError)?.firstError;
  const firstWrong = parts.find((p) => p.firstWrong)?.firstWrong;
  if (firstError) s.firstError = firstError;
  if (firstWrong) s.firstWrong = firstWrong;
  if (serverCpuMs !== undefined && lat.length) {
    s.serverCpuMsPerReq = round(serverCpuMs / lat.length, 3);
    s.serverCpuPct = round((100 * serverCpuMs) / wallMs, 1);
  }
  s.clientBound = clientBound(s);
  return s;
}
