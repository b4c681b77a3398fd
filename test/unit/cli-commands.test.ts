import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { verifyPassword } from "../../src/auth/password.ts";
import { runCalgateHere, type CliResult } from "../helpers/cli-run.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The commands run in this process through runCli (src/cli/index.ts), the function the binary calls:
 * a process start-up through tsx costs about a second, and these tests are about what each command
 * answers. "the calgate process" below runs the real binary for what only a process shows (the exit
 * code and output after flushing, piped stdin, paths shown relative to the working directory).
 */
function cli(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return runCalgateHere(args, { cwd: ROOT, env: { PATH: process.env.PATH, ...opts.env }, ...(opts.input !== undefined ? { input: opts.input } : {}) });
}

function spawnCli(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/index.ts", ...args], {
      cwd: ROOT,
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

const HELP: Record<string, RegExp[]> = {
  serve: [/Usage: calgate serve/, /-c, --config FILE/, /CALGATE_PASSWORD/, /-h, --help/],
  "check-config": [/Usage: calgate check-config/, /-c, --config FILE/],
  auth: [/Usage: calgate auth <google\|microsoft> <source-id>/, /-c, --config FILE/, /-u, --user USER/],
  sync: [/Usage: calgate sync --once \[source-id\]/, /--once/, /-c, --config FILE/],
  "hash-password": [/Usage: calgate hash-password/, /stdin/, /-h, --help/],
  backup: [/Usage: calgate backup FILE \[-c FILE\]/, /while\s+`calgate serve` may keep serving/, /Restore:/, /-c, --config FILE/],
  import: [/Usage: calgate import <calendar> FILE\.ics/, /one per UID/, /-u, --user USER/, /-c, --config FILE/],
};

describe("cli: help and usage errors", () => {
  test("top-level --help lists every command, exit 0", async () => {
    for (const flag of ["--help", "-h"]) {
      const r = await cli([flag]);
      assert.equal(r.code, 0, r.stderr);
      for (const name of Object.keys(HELP)) assert.match(r.stdout, new RegExp(`^  ${name} `, "m"));
    }
  });

  for (const [name, patterns] of Object.entries(HELP)) {
    test(`${name} --help mentions its options, exit 0`, async () => {
      for (const flag of ["--help", "-h"]) {
        const r = await cli([name, flag]);
        assert.equal(r.code, 0, r.stderr);
        for (const p of patterns) assert.match(r.stdout, p);
      }
    });
  }

  test("the calgate process: --help exits 0 with the command list; an unknown command exits 2 with usage on stderr", async () => {
    const help = await spawnCli(["--help"]);
    assert.equal(help.code, 0, help.stderr);
    for (const name of Object.keys(HELP)) assert.match(help.stdout, new RegExp(`^  ${name} `, "m"));
    const bad = await spawnCli(["frobnicate"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /Usage: calgate/);
    assert.equal(bad.stdout, "");
  });

  test("unknown command, unknown flag, bad arguments → usage on stderr, exit 2", async () => {
    for (const args of [["frobnicate"], ["check-config", "--bogus"], ["auth", "yahoo", "x"], ["auth"], ["sync"], ["serve", "extra"], []]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /Usage: calgate/);
      assert.equal(r.stdout, "");
    }
  });
});

describe("cli: check-config", () => {
  const dir = mkdtempSync(join(tmpdir(), "calgate-cli-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("a good file → ok, exit 0", async () => {
    const file = join(dir, "good.yaml");
    writeFileSync(file, "users:\n  - username: a\n    password: ${PW}\n    sources: [{ id: s, type: local, calendars: [{ id: c, name: C }] }]\n");
    const r = await cli(["check-config", "-c", file], { env: { PW: "x" } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `ok: ${file} (1 user, 1 source)\n`);
  });

  test("a bad file → every problem with file:line:key on stderr, exit 1", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "server:\n  port: eighty\nusers:\n  - username: a\n    password: topsecret\n    sources:\n      - { id: s, type: caldav, url: ftp://x, username: u, password: topsecret }\n");
    const r = await cli(["check-config", "--config", file]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, new RegExp(`^${file}:2:3: server\\.port: expected an integer, got "eighty"$`, "m"));
    assert.match(r.stderr, new RegExp(`^${file}:7:\\d+: users\\[0\\]\\.sources\\[0\\]\\.url: expected an http\\(s\\) URL, got "ftp://x"$`, "m"));
    assert.ok(!r.stderr.includes("topsecret"));
  });

  test("a missing -c file → exit 1", async () => {
    const r = await cli(["check-config", "-c", join(dir, "missing.yaml")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot read config file: no such file/);
  });

  test("config.example.yaml passes with its variables set (the calgate process, shown relative to its working directory)", async () => {
    const r = await spawnCli(["check-config", "-c", "config.example.yaml"], {
      env: { CALGATE_SECRET_KEY: "x".repeat(32), ALICE_PASSWORD: "a", ICLOUD_APP_PASSWORD: "b" },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok: config\.example\.yaml \(1 user, 2 sources\)$/m);
  });
});

describe("cli: hash-password", () => {
  test("piped stdin → a hash that verifies (the calgate process)", async () => {
    const r = await spawnCli(["hash-password"], { input: "s3cret pass\nsecond line ignored\n" });
    assert.equal(r.code, 0, r.stderr);
    const hash = r.stdout.trim();
    assert.equal(r.stdout, `${hash}\n`);
    assert.equal(await verifyPassword("s3cret pass", hash), true);
    assert.equal(await verifyPassword("second line ignored", hash), false);
  });

  test("no trailing newline and CRLF are handled; empty input is an error", async () => {
    const a = await cli(["hash-password"], { input: "abc" });
    assert.equal(await verifyPassword("abc", a.stdout.trim()), true);
    const b = await cli(["hash-password"], { input: "abc\r\n" });
    assert.equal(await verifyPassword("abc", b.stdout.trim()), true);
    const c = await cli(["hash-password"], { input: "" });
    assert.equal(c.code, 1);
    assert.match(c.stderr, /empty password/);
  });
});
