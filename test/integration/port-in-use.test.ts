/** `calgate serve` on a port another program holds: a short message naming the port, `ss -ltnp` and the key that changes it. */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCalgate } from "../helpers/cli-run.ts";

const dir = mkdtempSync(join(tmpdir(), "calgate-port-"));
let holder: Server;
let port: number;
before(async () => {
  holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
  port = (holder.address() as { port: number }).port;
});
after(async () => {
  await new Promise<void>((resolve) => holder.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const assertNoStack = (stderr: string): void => assert.doesNotMatch(stderr, /^\s+at /m, `no stack trace:\n${stderr}`);

describe("serve: port already in use", () => {
  test("with a config file: names the port, ss -ltnp and server.port in that file", async () => {
    writeFileSync(join(dir, "calgate.yaml"), `server: { port: ${port} }\nstorage: { filename: ./db/calgate.sqlite }\nusers: [{ username: a, password: p, sources: [] }]\n`);
    const r = await runCalgate(["serve"], { cwd: dir, env: { CALGATE_LOG_LEVEL: "error" } });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`calgate serve: port ${port} on 127\\.0\\.0\\.1 is already in use by another program`));
    assert.match(r.stderr, new RegExp(`ss -ltnp 'sport = :${port}'`));
    assert.match(r.stderr, /choose another port with server\.port in calgate\.yaml\./);
    assertNoStack(r.stderr);
  });

  test("embedded default: names CALGATE_PORT, and keeps no password it never printed", async () => {
    const fresh = mkdtempSync(join(dir, "default-"));
    const r = await runCalgate(["serve"], { cwd: fresh, env: { CALGATE_PORT: String(port), CALGATE_LOG_LEVEL: "error" } });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /choose another port with CALGATE_PORT \(the embedded default\)\./);
    assert.doesNotMatch(r.stdout, /password:/);
    assertNoStack(r.stderr);
    // The next (successful) first run must still print a password: none was stored for this failed one.
    assert.equal(existsSync(join(fresh, "data", "default-password.hash")), false);
  });
});

describe("serve: a database it cannot create", () => {
  test("names the database, the key that moves it and the Docker ownership rule, without a stack trace", async () => {
    const here = mkdtempSync(join(dir, "storage-"));
    writeFileSync(join(here, "not-a-folder"), "");
    writeFileSync(join(here, "calgate.yaml"), `server: { port: 0 }\nstorage: { filename: ./not-a-folder/calgate.sqlite }\nusers: [{ username: a, password: p, sources: [] }]\n`);
    const r = await runCalgate(["serve"], { cwd: here, env: { CALGATE_LOG_LEVEL: "error" } });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /calgate serve: cannot create or open the database \.\/not-a-folder\/calgate\.sqlite: /);
    assert.match(r.stderr, /choose another place with storage\.filename in calgate\.yaml\./);
    assert.match(r.stderr, /uid 1000/);
    assertNoStack(r.stderr);
  });

  test("EACCES of a folder is a storage problem, EACCES of listen a port problem", async () => {
    const { listenErrorMessage } = await import("../../src/cli/listen-error.ts");
    const { parseConfigText } = await import("../../src/config/load.ts");
    const config = parseConfigText("server: { port: 80 }\nusers: [{ username: a, password: p, sources: [] }]\n", "t.yaml", {});
    const err = (syscall: string) => Object.assign(new Error(`EACCES: permission denied, ${syscall}`), { code: "EACCES", syscall: syscall.split(" ")[0] });
    assert.match(listenErrorMessage(err("mkdir '/data'"), config, null)!, /^cannot create or open the database .*\n.*the embedded default's \.\/data/);
    assert.match(listenErrorMessage(err("listen"), config, null)!, /^not allowed to listen on port 80 on 127\.0\.0\.1 \(ports below 1024 need privileges\)/);
    assert.equal(listenErrorMessage(Object.assign(new Error("x"), { code: "ECONNREFUSED", syscall: "connect" }), config, null), null);
  });
});
