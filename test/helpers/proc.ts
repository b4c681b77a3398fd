/**
 * Process and network plumbing shared by the out-of-process test helpers (calgate, Radicale,
 * Xandikos): free loopback ports, readiness polling, and child processes that are always reaped.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { createServer } from "node:net";
import { accessSync, constants } from "node:fs";

/** A free TCP port on 127.0.0.1 (bind to port 0, read it back, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      if (addr === null || typeof addr === "string") {
        srv.close();
        reject(new Error("could not determine a free port"));
        return;
      }
      const port = addr.port;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Children still running, killed synchronously if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const c of live) {
      try {
        c.kill("SIGKILL");
      } catch {
        /* already gone */
      }
    }
  });
}

export interface ManagedProcess {
  readonly child: ChildProcess;
  /** stdout and stderr interleaved, as text (capped at the last 1 MB). */
  output(): string;
  /** Whether the process has exited, and how. */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | null;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export function startProcess(cmd: string, args: string[], opts: SpawnOptions = {}): ManagedProcess {
  installExitHook();
  const child = spawn(cmd, args, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let buf = "";
  const append = (d: Buffer): void => {
    buf += d.toString("utf8");
    if (buf.length > 1_000_000) buf = buf.slice(-1_000_000);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitedP = new Promise<void>((resolve) => {
    child.on("exit", (code, signal) => {
      exitInfo = { code, signal };
      live.delete(child);
      resolve();
    });
    child.on("error", (err) => {
      append(Buffer.from(`\n[spawn error] ${String(err)}\n`));
      exitInfo ??= { code: -1, signal: null };
      live.delete(child);
      resolve();
    });
  });
  return {
    child,
    output: () => buf,
    exited: () => exitInfo,
    async stop(graceMs = 5000) {
      if (exitInfo === null) {
        try {
          child.kill("SIGTERM");
        } catch {
          /* gone */
        }
        const t = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            /* gone */
          }
        }, graceMs);
        await exitedP;
        clearTimeout(t);
      }
    },
  };
}

/**
 * Polls `url` until `ok(status)` holds. Fails early (with the process output) when `proc` exits, and
 * after `timeoutMs` with the last error.
 */
export async function waitForHttp(
  url: string,
  opts: { proc?: ManagedProcess; timeoutMs?: number; ok?: (status: number) => boolean; name?: string; headers?: Record<string, string> } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const ok = opts.ok ?? ((s: number) => s === 200);
  const name = opts.name ?? url;
  const deadline = Date.now() + timeoutMs;
  let last = "no attempt";
  while (Date.now() < deadline) {
    const ex = opts.proc?.exited();
    if (ex) {
      throw new Error(`${name} exited before it was ready (code ${ex.code}, signal ${ex.signal}). Output:\n${opts.proc!.output()}`);
    }
    try {
      const res = await fetch(url, { redirect: "manual", headers: opts.headers, signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (ok(res.status)) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = String((e as Error).cause ?? e);
    }
    await sleep(100);
  }
  throw new Error(`${name} was not ready at ${url} within ${timeoutMs} ms (last: ${last}).${opts.proc ? ` Output:\n${opts.proc.output()}` : ""}`);
}

/** Absolute path of an executable on PATH, or null. */
export function which(cmd: string): string | null {
  for (const d of (process.env.PATH ?? "").split(":")) {
    if (d === "") continue;
    const p = `${d}/${cmd}`;
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}
