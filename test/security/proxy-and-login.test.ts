/**
 * Reverse-proxy trust and login throttling.
 *   - server.trustProxy false (the default): X-Forwarded-For cannot dodge the failed-login throttle
 *     (keyed by the socket's address and the username, whatever the header says), and
 *     X-Forwarded-Proto/-Host change nothing the server sends back;
 *   - server.trustProxy true: the client address is taken from X-Forwarded-For, so clients behind
 *     the proxy are throttled one by one: the throttle refuses even the right password from the
 *     throttled (address, user) pair with 429 + Retry-After, but locks nobody out from elsewhere.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { basic, dav, type InprocServer } from "../helpers/inproc.ts";

const USERS = `users:
  - username: alice
    password: secret-a
    sources: [{ id: local, type: local, calendars: [{ id: personal, name: Personal }] }]
  - username: "bob@example.com"
    password: secret-b
    sources: [{ id: local, type: local, calendars: [{ id: personal, name: Personal }] }]
`;

/** A failed login as `user`, claiming to come from `xff`. */
const fail = (srv: InprocServer, xff: string, user: string) => dav(srv.url, "PROPFIND", "/dav/", { auth: basic(user, "wrong"), headers: { depth: "0", "x-forwarded-for": xff } });
const login = (srv: InprocServer, user: string, pass: string, xff?: string) =>
  dav(srv.url, "PROPFIND", "/dav/", { auth: basic(user, pass), headers: { depth: "0", ...(xff ? { "x-forwarded-for": xff } : {}) } });

describe("trustProxy false (default): X-Forwarded-* are ignored", () => {
  let srv: InprocServer;
  before(async () => {
    srv = await startInprocWithServer("");
  });
  after(async () => srv?.stop());

  test("a spoofed X-Forwarded-For does not escape the throttle", { timeout: 60_000 }, async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await fail(srv, `203.0.113.${i}`, "alice")).status);
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
    assert.deepEqual(statuses.slice(10), [429, 429], `after 10 failures from one socket address, fresh X-Forwarded-For values are still throttled: ${statuses}`);
    const r = await login(srv, "alice", "secret-a", "192.0.2.1");
    assert.equal(r.status, 429, "even the right password is refused from the throttled address");
    assert.match(r.headers.get("retry-after") ?? "", /^\d+$/);
    assert.equal((await login(srv, "bob@example.com", "secret-b", "192.0.2.1")).status, 207, "another user from the same address is not locked out");
  });

  test("X-Forwarded-Proto and -Host do not change hrefs or redirects", async () => {
    const plain = await dav(srv.url, "GET", "/.well-known/caldav", { auth: null });
    const forged = await dav(srv.url, "GET", "/.well-known/caldav", { auth: null, headers: { "x-forwarded-proto": "https", "x-forwarded-host": "evil.example" } });
    assert.equal(forged.status, plain.status);
    assert.equal(forged.headers.get("location"), plain.headers.get("location"));
    assert.ok(!(forged.headers.get("location") ?? "").includes("evil.example"));
    const pf = await dav(srv.url, "PROPFIND", "/dav/", { auth: basic("bob@example.com", "secret-b"), headers: { depth: "1", "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" } });
    assert.equal(pf.status, 207);
    assert.ok(!pf.body.includes("evil.example"));
  });
});

describe("trustProxy true: the client address comes from X-Forwarded-For", () => {
  let srv: InprocServer;
  before(async () => {
    srv = await startInprocWithServer("trustProxy: true");
  });
  after(async () => srv?.stop());

  test("one client's failures throttle that client only", { timeout: 60_000 }, async () => {
    for (let i = 0; i < 10; i++) assert.equal((await fail(srv, "203.0.113.50", "alice")).status, 401);
    const locked = await login(srv, "alice", "secret-a", "203.0.113.50");
    assert.equal(locked.status, 429, "the failing client is throttled, even with the right password");
    assert.match(locked.headers.get("retry-after") ?? "", /^\d+$/);
    assert.equal((await login(srv, "alice", "secret-a", "203.0.113.51")).status, 207, "the same user from another client behind the proxy still logs in");
    // Without the header the proxy's own address is used, and it has no failures.
    assert.equal((await login(srv, "alice", "secret-a")).status, 207);
  });
});

/** startInproc with extra keys in the server section (the helper writes `server: { host, port }`). */
async function startInprocWithServer(extra: string): Promise<InprocServer> {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const pino = (await import("pino")).default;
  const { parseConfigText } = await import("../../src/config/load.ts");
  const { startServer } = await import("../../src/main.ts");
  const dir = mkdtempSync(join(tmpdir(), "calgate-proxy-"));
  const config = parseConfigText(`server: { host: 127.0.0.1, port: 0${extra ? `, ${extra}` : ""} }\nstorage: { client: sqlite, filename: ${join(dir, "db.sqlite")} }\n${USERS}`, "test.yaml", {});
  // Short failure delays: what is tested here is whose failures count, not how long they wait (dav-core.test.ts
  // checks the default delays).
  const handle = await startServer(config, { configPath: null, generatedPassword: null, logger: pino({ level: "silent" }), loginThrottle: { delayStepMs: 20, maxDelayMs: 200 } });
  return {
    url: handle.url.replace(/\/$/, ""),
    dir,
    async stop() {
      await handle.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
