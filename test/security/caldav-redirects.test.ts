/**
 * Upstream credentials and redirects (defect 13). The CalDAV source follows redirects itself; the
 * Authorization header must go only to the origin (scheme + host + port) it was configured for:
 *   - a redirect to another origin (here: another loopback port) is followed without it;
 *   - a same-origin redirect keeps it;
 *   - a redirect from https to http is refused with a Permanent error naming both URLs;
 *   - iCloud's partition redirects (caldav.icloud.com → pNN-caldav.icloud.com, https) keep it, the
 *     one cross-origin case handled explicitly.
 * Both the adapter's own requests (CaldavHttp.request) and the fetch it hands to tsdav for discovery
 * follow this policy. Loopback servers only; the https server uses a throwaway self-signed
 * certificate made with openssl and trusted through the caCert option.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AuthRequired, Permanent } from "../../src/sources/adapter.ts";
import { CaldavHttp, redirectDecision } from "../../src/sources/caldav/http.ts";

interface Seen {
  path: string;
  authorization: string | undefined;
}

/** A loopback server that logs each request's path and Authorization header and answers with `route`. */
async function listen(route: (req: IncomingMessage, res: ServerResponse) => void, server: Server = createServer(), scheme = "http"): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    seen.push({ path: req.url ?? "", authorization: req.headers.authorization });
    req.resume();
    req.on("end", () => route(req, res));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

const multistatus = '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"/>';
const answer = (res: ServerResponse, status: number, headers: Record<string, string> = {}, body = ""): void => {
  res.writeHead(status, headers);
  res.end(body);
};

const AUTH = "Basic " + Buffer.from("user:upstream-secret").toString("base64");
const signal = new AbortController().signal;

describe("redirectDecision: which redirects keep the credentials", () => {
  test("same origin keeps them; default ports are the same origin", () => {
    assert.deepEqual(redirectDecision("https://dav.example.com/a", "https://dav.example.com/b"), { follow: true, credentials: true });
    assert.deepEqual(redirectDecision("https://dav.example.com/a", "https://dav.example.com:443/b"), { follow: true, credentials: true });
    assert.deepEqual(redirectDecision("http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b"), { follow: true, credentials: true });
  });

  test("another host, another port or another scheme is another origin: followed without them", () => {
    assert.deepEqual(redirectDecision("https://dav.example.com/a", "https://evil.example.net/a"), { follow: true, credentials: false });
    assert.deepEqual(redirectDecision("https://dav.example.com/a", "https://other.example.com/a"), { follow: true, credentials: false });
    assert.deepEqual(redirectDecision("http://127.0.0.1:8080/a", "http://127.0.0.1:8081/a"), { follow: true, credentials: false });
    assert.deepEqual(redirectDecision("http://dav.example.com/a", "https://dav.example.com/a"), { follow: true, credentials: false });
  });

  test("https to http is refused, same host or not; so is a non-http scheme", () => {
    for (const to of ["http://dav.example.com/a", "http://evil.example.net/a", "http://p01-caldav.icloud.com/a"]) {
      const d = redirectDecision(to.includes("icloud") ? "https://caldav.icloud.com/" : "https://dav.example.com/a", to);
      assert.equal(d.follow, false, to);
      assert.match((d as { why: string }).why, /https to http/);
    }
    assert.equal(redirectDecision("https://dav.example.com/a", "file:///etc/passwd").follow, false);
  });

  test("iCloud partition redirects (https, within icloud.com) keep them; look-alike hosts do not", () => {
    assert.deepEqual(redirectDecision("https://caldav.icloud.com/", "https://p52-caldav.icloud.com/123/principal/"), { follow: true, credentials: true });
    assert.deepEqual(redirectDecision("https://p01-caldav.icloud.com/", "https://p52-caldav.icloud.com:443/x/"), { follow: true, credentials: true });
    assert.deepEqual(redirectDecision("https://caldav.icloud.com/", "https://evilicloud.com/"), { follow: true, credentials: false });
    assert.deepEqual(redirectDecision("https://caldav.icloud.com/", "https://icloud.com.evil.example/"), { follow: true, credentials: false });
    assert.deepEqual(redirectDecision("https://dav.example.com/", "https://p01-caldav.icloud.com/"), { follow: true, credentials: false });
    assert.deepEqual(redirectDecision("http://caldav.icloud.com/", "https://p01-caldav.icloud.com/"), { follow: true, credentials: false });
  });
});

describe("CaldavHttp over two loopback origins", () => {
  let a: Awaited<ReturnType<typeof listen>>;
  let b: Awaited<ReturnType<typeof listen>>;
  let http: CaldavHttp;
  before(async () => {
    b = await listen((req, res) => {
      if (req.url === "/private") return answer(res, 401, { "www-authenticate": 'Basic realm="b"' });
      answer(res, 207, { "content-type": "application/xml" }, multistatus);
    });
    a = await listen((req, res) => {
      if (req.url === "/cross") return answer(res, 307, { location: `${b.url}/landing` });
      if (req.url === "/cross-private") return answer(res, 302, { location: `${b.url}/private` });
      if (req.url === "/same") return answer(res, 301, { location: "/final" });
      answer(res, 207, { "content-type": "application/xml" }, multistatus);
    });
    http = new CaldavHttp({ username: "user", password: "upstream-secret", timeoutMs: 5_000, attempts: 1 });
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  test("a redirect to another origin is followed without the Authorization header", async () => {
    b.seen.length = 0;
    const reply = await http.request("PROPFIND", `${a.url}/cross`, { headers: { depth: "0" }, body: "<x/>" }, signal);
    assert.equal(reply.status, 207);
    assert.equal(reply.url, `${b.url}/landing`);
    assert.equal(a.seen.at(-1)!.authorization, AUTH, "the configured origin gets the credentials");
    assert.deepEqual(b.seen, [{ path: "/landing", authorization: undefined }], "the other origin never sees them");
  });

  test("a 401 from the other origin says the credentials were withheld after a redirect", async () => {
    b.seen.length = 0;
    await assert.rejects(http.request("PROPFIND", `${a.url}/cross-private`, { body: "<x/>" }, signal), (e: unknown) => {
      assert.ok(e instanceof AuthRequired);
      assert.match(e.message, /redirected to another origin/);
      return true;
    });
    assert.equal(b.seen[0]!.authorization, undefined);
  });

  test("a same-origin redirect keeps the Authorization header", async () => {
    a.seen.length = 0;
    const reply = await http.request("PROPFIND", `${a.url}/same`, { body: "<x/>" }, signal);
    assert.equal(reply.status, 207);
    assert.deepEqual(a.seen, [
      { path: "/same", authorization: AUTH },
      { path: "/final", authorization: AUTH },
    ]);
  });

  test("the fetch handed to tsdav follows the same policy", async () => {
    a.seen.length = 0;
    b.seen.length = 0;
    const res = await http.fetch(`${a.url}/cross`, { method: "PROPFIND", headers: { depth: "0" }, body: "<x/>" });
    assert.equal(res.status, 207);
    await res.text();
    assert.equal(a.seen[0]!.authorization, AUTH);
    assert.deepEqual(b.seen, [{ path: "/landing", authorization: undefined }]);
    const same = await http.fetch(`${a.url}/same`, { method: "PROPFIND" });
    await same.text();
    assert.deepEqual(a.seen.slice(1).map((s) => s.authorization), [AUTH, AUTH]);
    // redirect: "manual" (tsdav's well-known discovery) hands the redirect back untouched.
    const manual = await http.fetch(`${a.url}/cross`, { method: "PROPFIND", redirect: "manual" });
    assert.equal(manual.status, 307);
    assert.equal(b.seen.length, 1);
  });
});

describe("CaldavHttp: https → http redirects are refused", () => {
  let dir: string;
  let plain: Awaited<ReturnType<typeof listen>>;
  let tls: Awaited<ReturnType<typeof listen>>;
  let http: CaldavHttp;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "calgate-redirect-"));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
      "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    plain = await listen((_req, res) => answer(res, 207, { "content-type": "application/xml" }, multistatus));
    tls = await listen((req, res) => {
      if (req.url === "/downgrade") return answer(res, 301, { location: `${plain.url}/cleartext` });
      answer(res, 207, { "content-type": "application/xml" }, multistatus);
    }, createHttpsServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }), "https");
    assert.match(tls.url, /^https:/);
    http = new CaldavHttp({ username: "user", password: "upstream-secret", timeoutMs: 5_000, attempts: 1, caCert: join(dir, "cert.pem") });
  });
  after(async () => {
    await tls?.close();
    await plain?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the https server itself is reachable with the trusted test CA", async () => {
    assert.equal((await http.request("PROPFIND", `${tls.url}/ok`, { body: "<x/>" }, signal)).status, 207);
  });

  test("a redirect from https to http fails with a Permanent error naming both URLs, and nothing is sent over http", async () => {
    await assert.rejects(http.request("PROPFIND", `${tls.url}/downgrade`, { body: "<x/>" }, signal), (e: unknown) => {
      assert.ok(e instanceof Permanent, `expected Permanent, got ${String(e)}`);
      assert.ok(e.message.includes(`${tls.url}/downgrade`), e.message);
      assert.ok(e.message.includes(`${plain.url}/cleartext`), e.message);
      assert.match(e.message, /https to http/);
      return true;
    });
    await assert.rejects(http.fetch(`${tls.url}/downgrade`, { method: "PROPFIND" }), Permanent);
    assert.deepEqual(plain.seen, [], "the http server never got a request");
  });
});
