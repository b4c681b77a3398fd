/**
 * Users added without a restart: `kill -HUP` makes a running `calgate serve` read its config file
 * again. A valid file is served (a new user logs in), a file with problems is refused and the
 * running configuration kept, and a file whose port is taken falls back to the previous one.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { startServe, waitForOutput } from "../helpers/cli-run.ts";
import { freePort, waitForHttp } from "../helpers/proc.ts";

const dir = mkdtempSync(join(tmpdir(), "calgate-hup-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const yaml = (port: number, users: [string, string][], extra = ""): string =>
  `server: { host: 127.0.0.1, port: ${port} }
storage: { filename: ${JSON.stringify(join(dir, "calgate.sqlite"))} }
logging: { level: info }
users:
${users.map(([u, p]) => `  - { username: ${u}, password: ${p}, sources: [{ id: local, type: local, calendars: [{ id: personal, name: Personal }] }] }`).join("\n")}
${extra}`;

async function login(base: string, user: string, password: string): Promise<number> {
  const res = await fetch(`${base}/dav/calendars/${user}/`, { method: "PROPFIND", headers: { depth: "0", authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` } });
  await res.arrayBuffer();
  return res.status;
}

/** The n-th (1-based) occurrence of `msg` in the JSON log lines. */
const nth = (msg: string, n: number): RegExp => new RegExp(`(?:[^]*?"msg":"${msg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}){${n}}`);

describe("SIGHUP reloads the config file", () => {
  test("a new user logs in after SIGHUP; a broken file is refused and the running one kept", async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const cfg = join(dir, "calgate.yaml");
    writeFileSync(cfg, yaml(port, [["alice", "secret-a"]]));
    const proc = startServe(["-c", cfg], { cwd: dir });
    try {
      await waitForHttp(`${base}/healthz`, { proc });
      assert.equal(await login(base, "alice", "secret-a"), 207);
      assert.equal(await login(base, "bob", "secret-b"), 401, "bob is not configured yet");

      writeFileSync(cfg, yaml(port, [["alice", "secret-a"], ["bob", "secret-b"]]));
      proc.child.kill("SIGHUP");
      await waitForOutput(proc, nth("SIGHUP: configuration reloaded", 1));
      assert.equal(await login(base, "bob", "secret-b"), 207, "bob logs in without a restart");
      assert.equal(await login(base, "alice", "secret-a"), 207);

      // A file with a problem: refused, with the problem named, and both users keep working.
      writeFileSync(cfg, yaml(port, [["alice", "secret-a"], ["carol", "secret-c"]], "sync: { conflictPolicy: whoever-shouts }\n"));
      proc.child.kill("SIGHUP");
      const refused = await waitForOutput(proc, /\{[^\n]*"msg":"SIGHUP: the config file has problems; keeping the running configuration"\}/);
      assert.match(refused[0], /sync\.conflictPolicy/);
      assert.equal(await login(base, "bob", "secret-b"), 207, "the running configuration is kept");
      assert.equal(await login(base, "carol", "secret-c"), 401);

      // A valid file that cannot be served (its port is taken): the previous configuration is served again.
      const holder = createServer();
      await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
      const taken = (holder.address() as { port: number }).port;
      try {
        writeFileSync(cfg, yaml(taken, [["alice", "secret-a"]]));
        proc.child.kill("SIGHUP");
        const fallback = await waitForOutput(proc, /\{[^\n]*"msg":"SIGHUP: the new configuration could not be served; serving the previous one again"\}/);
        assert.match(fallback[0], new RegExp(`port ${taken} on 127\\.0\\.0\\.1 is already in use`));
        await waitForHttp(`${base}/healthz`, { proc });
        assert.equal(await login(base, "bob", "secret-b"), 207);
      } finally {
        await new Promise<void>((resolve) => holder.close(() => resolve()));
      }
      assert.equal(proc.exited(), null, "serve kept running through every SIGHUP");
    } finally {
      await proc.stop();
    }
    assert.equal(proc.exited()?.code, 0, proc.output());
  });
});
