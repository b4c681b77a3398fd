/**
 * Starts the real `calgate serve` as a child process (exactly as a user would run it) on a free
 * loopback port with a temporary SQLite database, and waits for GET /healthz → 200.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startProcess, waitForHttp } from "./proc.ts";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface CalgateUser {
  username: string;
  password: string;
}
export interface CalgateOptions {
  users?: CalgateUser[];
  /** Appended verbatim to the generated YAML (top-level keys, e.g. "sync: { conflictPolicy: merge }"). */
  extraYaml?: string;
  env?: Record<string, string>;
  /** Readiness timeout (default 30 s). */
  timeoutMs?: number;
  /** The storage section (YAML flow mapping); default: SQLite in the data folder. */
  storage?: string;
}
export interface CalgateHandle {
  /** http://127.0.0.1:<port> (no trailing slash). */
  baseUrl: string;
  dataDir: string;
  stop(): Promise<void>;
  logs(): string;
}

export const DEFAULT_USERS: CalgateUser[] = [
  { username: "alice", password: "secret-a" },
  { username: "bob@example.com", password: "secret-b" },
];

const q = (s: string): string => JSON.stringify(s); // JSON strings are valid YAML double-quoted scalars

export function calgateYaml(port: number, dataDir: string, users: CalgateUser[], extraYaml = "", storage?: string): string {
  const lines = [
    `server: { host: 127.0.0.1, port: ${port} }`,
    `storage: ${storage ?? `{ client: sqlite, filename: ${q(join(dataDir, "calgate.sqlite"))} }`}`,
    `logging: { level: warn }`,
    `users:`,
  ];
  for (const u of users) {
    lines.push(`  - username: ${q(u.username)}`);
    lines.push(`    password: ${q(u.password)}`);
    lines.push(`    sources: [{ id: local, type: local, calendars: [{ id: personal, name: Personal }] }]`);
  }
  if (extraYaml.trim() !== "") lines.push(extraYaml.trimEnd());
  return lines.join("\n") + "\n";
}

export async function startCalgate(opts: CalgateOptions = {}): Promise<CalgateHandle> {
  const dataDir = mkdtempSync(join(tmpdir(), "calgate-it-"));
  const port = await freePort();
  const configFile = join(dataDir, "calgate.yaml");
  writeFileSync(configFile, calgateYaml(port, dataDir, opts.users ?? DEFAULT_USERS, opts.extraYaml, opts.storage));
  const proc = startProcess(process.execPath, ["--import", "tsx", "src/cli/index.ts", "serve", "-c", configFile], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...(opts.env ?? {}) },
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await proc.stop(10_000);
    if (!process.env.CALGATE_TEST_KEEP) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`${baseUrl}/healthz`, { proc, timeoutMs: opts.timeoutMs ?? 30_000, name: "calgate serve" });
  } catch (e) {
    await proc.stop(2000);
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`calgate did not start: ${(e as Error).message}`);
  }
  return { baseUrl, dataDir, stop, logs: () => proc.output() };
}
