/**
 * The documented way to run the built command: `npm run build`, then `npx calgate <command>` from the
 * package folder (npx runs the package's own `bin`, dist/src/cli/index.js). The build goes to a
 * scratch copy of the package (package.json + node_modules + dist), so the checkout's dist/ is untouched;
 * `serve` is started from that copy through the bin's target too.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { REPO_ROOT } from "../helpers/calgate.ts";
import { freePort, startProcess, waitForHttp } from "../helpers/proc.ts";

const pkg = mkdtempSync(join(tmpdir(), "calgate-built-"));
after(() => rmSync(pkg, { recursive: true, force: true }));

// npx records the package it runs in its cache; a private one keeps the user's ~/.npm untouched.
const NPX_ENV = { PATH: process.env.PATH, HOME: process.env.HOME, npm_config_cache: join(pkg, ".npm-cache"), npm_config_update_notifier: "false" };

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...NPX_ENV, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
  });
}

describe("the built calgate command", () => {
  before(async () => {
    cpSync(join(REPO_ROOT, "package.json"), join(pkg, "package.json"));
    symlinkSync(join(REPO_ROOT, "node_modules"), join(pkg, "node_modules"));
    const tsc = join(REPO_ROOT, "node_modules/typescript/bin/tsc");
    const r = await run(process.execPath, [tsc, "-p", join(REPO_ROOT, "tsconfig.json"), "--outDir", join(pkg, "dist")], REPO_ROOT);
    assert.equal(r.code, 0, `npm run build (tsc) failed:\n${r.out}`);
  });

  test("npx calgate --help and --version run the package bin", async () => {
    const help = await run("npx", ["--no-install", "calgate", "--help"], pkg);
    assert.equal(help.code, 0, help.out);
    assert.match(help.out, /^Usage: calgate <command>/m);
    assert.match(help.out, /^  serve /m);
    const version = await run("npx", ["--no-install", "calgate", "--version"], pkg);
    assert.equal(version.code, 0, version.out);
    assert.match(version.out, /^calgate \d+\.\d+\.\d+/);
  });

  test("the bin entry serves the embedded default from the build (migrations included)", async () => {
    // Started with node on the bin's target (as the Docker ENTRYPOINT does), not through npx: npx does
    // not pass SIGTERM on to the command it runs, which would outlive the test.
    const bin = (JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")) as { bin: { calgate: string } }).bin.calgate;
    const port = await freePort();
    const proc = startProcess(process.execPath, [bin, "serve"], { cwd: pkg, env: { PATH: process.env.PATH, CALGATE_PORT: String(port), CALGATE_PASSWORD: "pw", CALGATE_LOG_LEVEL: "warn" } });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/healthz`, { proc });
      const res = await fetch(`http://127.0.0.1:${port}/dav/calendars/calgate/`, { method: "PROPFIND", headers: { Depth: "1", Authorization: `Basic ${Buffer.from("calgate:pw").toString("base64")}` } });
      assert.equal(res.status, 207);
      assert.match(await res.text(), /local-personal/);
    } finally {
      await proc.stop();
    }
  });
});
