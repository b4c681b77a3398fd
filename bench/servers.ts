/**
 * The three servers under test behind one shape: calgate (spawned here as a child so its pid is
 * known), Radicale and Xandikos (test/helpers/peers.ts).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calgateYaml, REPO_ROOT } from "../test/helpers/calgate.ts";
import { stageEnv } from "../test/helpers/dockerfile.ts";
import { peerAvailable, startRadicale, startXandikos } from "../test/helpers/peers.ts";
import { freePort, startProcess, waitForHttp } from "../test/helpers/proc.ts";

export type ServerName = "calgate" | "radicale" | "xandikos";

export interface BenchTarget {
  name: ServerName;
  baseUrl: string;
  /** Absolute URL of the benchmark calendar, trailing slash. */
  calendarUrl: string;
  auth: string;
  pid: number;
  /** Where loadDirect() writes objects (peers only). */
  collectionDir?: string;
  dataDir: string;
  logs(): string;
  stop(): Promise<void>;
}

export const USER = { username: "bench", password: "bench" };
export const basic = (u: string, p: string): string => "Basic " + Buffer.from(`${u}:${p}`).toString("base64");

/**
 * `built`: run the compiled server (`npm run build` → dist/src/cli/index.js, as the package's bin and
 * a production install do) instead of `node --import tsx src/cli/index.ts`, whose in-process
 * TypeScript loader (a second V8 isolate on a loader thread) costs ~80 MB of RSS and start-up CPU.
 */
export function buildCalgate(): void {
  execFileSync("npm", ["run", "-s", "build"], { cwd: REPO_ROOT, stdio: "inherit" });
}

/**
 * The environment the Docker image runs calgate with: its runtime stage's ENV (NODE_OPTIONS with the
 * heap limit, glibc's MALLOC_* tunables), read from the Dockerfile so the bench measures what ships.
 * Only those: NODE_ENV is set anyway and the address is the bench's own.
 */
export function imageRuntimeEnv(): Record<string, string> {
  const env = stageEnv();
  return Object.fromEntries(Object.entries(env).filter(([k]) => k === "NODE_OPTIONS" || k.startsWith("MALLOC_")));
}

/** How the bench's runtime is described in reports and results. */
export const runtimeLine = (image: boolean): string => (image ? `the Docker image's ${Object.entries(imageRuntimeEnv()).map(([k, v]) => `${k}=${v}`).join(" ")}` : "node's defaults (no heap limit)");

/**
 * `config`: the whole calgate.yaml for this port and data folder (the sync part's CalDAV sources);
 * default: the bench user with one local calendar. `image`: run with the Docker image's
 * NODE_OPTIONS and MALLOC_* (default: node's defaults); `nodeArgs` come after them and win.
 */
export async function startCalgateBench(opts: { nodeArgs?: string[]; extraYaml?: string; built?: boolean; image?: boolean; config?: (port: number, dataDir: string) => string } = {}): Promise<BenchTarget> {
  const dataDir = mkdtempSync(join(tmpdir(), "calgate-bench-"));
  const port = await freePort();
  const configFile = join(dataDir, "calgate.yaml");
  writeFileSync(configFile, opts.config ? opts.config(port, dataDir) : calgateYaml(port, dataDir, [USER], opts.extraYaml));
  const entry = opts.built ? ["dist/src/cli/index.js"] : ["--import", "tsx", "src/cli/index.ts"];
  const proc = startProcess(process.execPath, [...(opts.nodeArgs ?? []), ...entry, "serve", "-c", configFile], {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_ENV: "production", ...(opts.image ? imageRuntimeEnv() : {}) },
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${baseUrl}/healthz`, { proc, timeoutMs: 60_000, name: "calgate serve" });
  } catch (e) {
    await proc.stop(2000);
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  return {
    name: "calgate",
    baseUrl,
    calendarUrl: `${baseUrl}/dav/calendars/${USER.username}/local-personal/`,
    auth: basic(USER.username, USER.password),
    pid: proc.child.pid!,
    dataDir,
    logs: () => proc.output(),
    stop: async () => {
      await proc.stop(15_000); // graceful, so --cpu-prof can write its profile
      if (!process.env.BENCH_KEEP) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function startPeer(name: "radicale" | "xandikos"): Promise<BenchTarget> {
  const missing = peerAvailable(name);
  if (missing) throw new Error(missing);
  if (name === "radicale") {
    const r = await startRadicale({ users: [USER], calendars: ["personal"] });
    const dir = join(r.dataDir, "collections", "collection-root", USER.username, "personal");
    if (!existsSync(join(dir, ".Radicale.props"))) throw new Error(`Radicale collection not where expected: ${dir}`);
    return { name, baseUrl: r.baseUrl, calendarUrl: r.calendarUrls[0]!, auth: r.authHeader, pid: r.pid!, collectionDir: dir, dataDir: r.dataDir, logs: r.logs, stop: r.stop };
  }
  const x = await startXandikos();
  const dir = join(x.dataDir, "root", "user", "calendars", "calendar");
  if (!existsSync(join(dir, ".git"))) throw new Error(`Xandikos collection is not a git work tree where expected: ${dir}`);
  return { name, baseUrl: x.baseUrl, calendarUrl: x.calendarUrls[0]!, auth: x.authHeader, pid: x.pid!, collectionDir: dir, dataDir: x.dataDir, logs: x.logs, stop: x.stop };
}
