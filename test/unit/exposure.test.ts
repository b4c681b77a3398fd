import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { isLoopbackHost, plainHttpWarning } from "../../src/config/exposure.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { runCalgate } from "../helpers/cli-run.ts";

const config = (server: string) => parseConfigText(`server: ${server}\nusers: [{ username: a, password: p, sources: [] }]\n`, "t.yaml", {});

describe("plain-HTTP exposure warning", () => {
  test("loopback addresses", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST", "::ffff:127.0.0.1"]) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ["0.0.0.0", "::", "192.168.1.10", "cal.example.com", "128.0.0.1", "::2"]) assert.equal(isLoopbackHost(h), false, h);
  });

  test("warns for a non-loopback host over plain HTTP, names the host, the port and the ways out", () => {
    const w = plainHttpWarning(config("{ host: 0.0.0.0, port: 5232 }"));
    assert.match(w!, /every network interface \(port 5232\) over plain HTTP with Basic auth/);
    assert.match(w!, /docs\/SELF-HOSTING\.md/);
    assert.match(w!, /trustProxy: true/);
    assert.match(plainHttpWarning(config("{ host: 192.168.1.10 }"))!, /listens on 192\.168\.1\.10 /);
  });

  test("no warning on loopback, nor behind a proxy calgate is told to trust", () => {
    assert.equal(plainHttpWarning(config("{ host: 127.0.0.1 }")), null);
    assert.equal(plainHttpWarning(config("{ host: 0.0.0.0, trustProxy: true }")), null);
  });

  const dir = mkdtempSync(join(tmpdir(), "calgate-exposure-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  test("check-config reports it as a warning and still says ok", async () => {
    writeFileSync(join(dir, "calgate.yaml"), "server: { host: 0.0.0.0 }\nusers: [{ username: a, password: p, sources: [] }]\n");
    const r = await runCalgate(["check-config"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok: calgate\.yaml/m);
    assert.match(r.stderr, /^warning: calgate\.yaml: server\.host: calgate listens on every network interface/m);
  });
});
