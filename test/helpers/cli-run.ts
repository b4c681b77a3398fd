/**
 * The `calgate` CLI run as a user runs it, from any working directory (a fresh data folder, a copied
 * config): one-shot commands with their output, and `serve` as a managed process.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./calgate.ts";
import { startProcess, type ManagedProcess } from "./proc.ts";

export const CLI = join(REPO_ROOT, "src/cli/index.ts");
/** tsx as an absolute URL, so the CLI runs from a working directory outside the repository. */
export const TSX = import.meta.resolve("tsx");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCalgate(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; input?: string }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", TSX, CLI, ...args], {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? "");
  });
}

export function startServe(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): ManagedProcess {
  return startProcess(process.execPath, ["--import", TSX, CLI, "serve", ...args], { cwd: opts.cwd, env: { PATH: process.env.PATH, ...opts.env } });
}

/** Resolves with the first match of `re` in the process output; rejects when the process exits first or after timeoutMs. */
export function waitForOutput(proc: ManagedProcess, re: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const m = re.exec(proc.output());
      if (m) {
        done();
        resolve(m);
        return true;
      }
      return false;
    };
    const onExit = (): void => {
      if (check()) return;
      done();
      reject(new Error(`process exited before printing ${re}. Output:\n${proc.output()}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no ${re} within ${timeoutMs} ms. Output:\n${proc.output()}`));
    }, timeoutMs);
    const onData = (): void => void setImmediate(check); // the output buffer is appended by another listener
    const done = (): void => {
      clearTimeout(timer);
      proc.child.stdout?.off("data", onData);
      proc.child.stderr?.off("data", onData);
      proc.child.off("exit", onExit);
    };
    proc.child.stdout?.on("data", onData);
    proc.child.stderr?.on("data", onData);
    proc.child.on("exit", onExit);
    if (proc.exited()) onExit();
    else check();
  });
}

/** The same CLI, run inside the test process (runCli of src/cli/index.ts): no process start-up cost. */
export async function runCalgateHere(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; input?: string }): Promise<CliResult> {
  const { runCli } = await import("../../src/cli/index.ts");
  const { PassThrough, Writable } = await import("node:stream");
  let stdout = "";
  let stderr = "";
  const sink = (append: (s: string) => void) => new Writable({ write: (chunk: Buffer | string, _enc, cb) => (append(chunk.toString()), cb()) });
  const stdin = new PassThrough();
  stdin.end(opts.input ?? "");
  const code = await runCli(args, { env: opts.env ?? {}, cwd: opts.cwd, stdin, stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)) });
  return { code, stdout, stderr };
}
