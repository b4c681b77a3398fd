/**
 * The quick start as a new user runs it: `calgate serve` with no config file in an empty folder.
 * The generated password is printed once, on the first run, and still works after a restart.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { startServe, waitForOutput } from "../helpers/cli-run.ts";
import { freePort, waitForHttp } from "../helpers/proc.ts";

const dir = mkdtempSync(join(tmpdir(), "calgate-first-run-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function propfindStatus(base: string, user: string, password: string): Promise<number> {
  const res = await fetch(`${base}/dav/calendars/${user}/`, {
    method: "PROPFIND",
    headers: { Depth: "0", Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` },
  });
  await res.arrayBuffer();
  return res.status;
}

describe("first run of the embedded default", () => {
  test("the generated password is printed once and kept across restarts", async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = { CALGATE_PORT: String(port), CALGATE_LOG_LEVEL: "warn" };

    const first = startServe([], { cwd: dir, env });
    let password: string;
    try {
      password = (await waitForOutput(first, /^password: (\S+)\s+\(generated on this first run/m))[1]!;
      await waitForHttp(`${base}/healthz`, { proc: first });
      assert.equal(await propfindStatus(base, "calgate", password), 207);
    } finally {
      await first.stop();
    }
    const file = join(dir, "data", "default-password.hash");
    assert.match(readFileSync(file, "utf8"), /^\$scrypt\$/, "the hash is kept in the data folder");
    assert.ok(!readFileSync(file, "utf8").includes(password), "only the hash is stored");
    assert.equal(statSync(file).mode & 0o077, 0, "the hash file is private to its owner");

    const second = startServe([], { cwd: dir, env });
    try {
      const line = (await waitForOutput(second, /^password: .*$/m))[0];
      assert.match(line, /the one printed on the first run/);
      assert.ok(!second.output().includes(password), "the password is not printed again");
      assert.equal(await propfindStatus(base, "calgate", password), 207, "the first run's password still works");
      assert.equal(await propfindStatus(base, "calgate", `${password}x`), 401);
    } finally {
      await second.stop();
    }
  });

  test("CALGATE_PASSWORD wins and nothing is stored", async () => {
    const own = mkdtempSync(join(tmpdir(), "calgate-first-run-env-"));
    try {
      const port = await freePort();
      const proc = startServe([], { cwd: own, env: { CALGATE_PORT: String(port), CALGATE_PASSWORD: "chosen-one", CALGATE_LOG_LEVEL: "warn" } });
      try {
        await waitForHttp(`http://127.0.0.1:${port}/healthz`, { proc });
        assert.equal(await propfindStatus(`http://127.0.0.1:${port}`, "calgate", "chosen-one"), 207);
      } finally {
        await proc.stop();
      }
      assert.equal(existsSync(join(own, "data", "default-password.hash")), false);
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });
});
