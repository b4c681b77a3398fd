/**
 * Google OAuth pieces (src/sources/google/auth.ts): PKCE, the stored token, the Testing-app warning,
 * reading a redirect back, and loopbackAuth against a tiny fake token endpoint (the emulator-backed
 * end-to-end runs are in test/integration/google-auth.test.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { AuthRequired, RateLimited, Transient } from "../../src/sources/adapter.ts";
import {
  GOOGLE_DEFAULTS,
  GoogleAuthError,
  authorisedClient,
  browserAvailable,
  forgetRefusedTokens,
  googleEndpoints,
  loopbackAuth,
  oauthClient,
  parseRedirect,
  parseStoredToken,
  pkceChallenge,
  pkcePair,
  randomState,
  resultPage,
  serializeToken,
  tokenExpiryWarning,
  type StoredGoogleToken,
} from "../../src/sources/google/auth.ts";

const DAY = 24 * 3600_000;
const source = { id: "work", clientId: "cid.apps.example", clientSecret: "not-so-secret" };

test("PKCE: a 43-character base64url verifier and its S256 challenge (RFC 7636 appendix B)", () => {
  const { verifier, challenge } = pkcePair();
  assert.match(verifier, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(challenge, createHash("sha256").update(verifier).digest("base64url"));
  assert.notEqual(pkcePair().verifier, verifier);
  assert.equal(pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  assert.match(randomState(), /^[A-Za-z0-9_-]{32}$/);
});

test("endpoints: Google's by default; revoke follows an overridden tokenUrl", () => {
  assert.deepEqual(googleEndpoints({}), { authUrl: GOOGLE_DEFAULTS.authUrl, tokenUrl: GOOGLE_DEFAULTS.tokenUrl, revokeUrl: GOOGLE_DEFAULTS.revokeUrl });
  assert.deepEqual(googleEndpoints({ authUrl: "http://127.0.0.1:9/o/auth", tokenUrl: "http://127.0.0.1:9/o/token" }), {
    authUrl: "http://127.0.0.1:9/o/auth",
    tokenUrl: "http://127.0.0.1:9/o/token",
    revokeUrl: "http://127.0.0.1:9/revoke",
  });
  const url = new URL(oauthClient({ ...source, authUrl: "http://127.0.0.1:9/o/auth" }, "http://127.0.0.1:1234/").generateAuthUrl({ scope: "s" }));
  assert.equal(url.origin + url.pathname, "http://127.0.0.1:9/o/auth");
  assert.equal(url.searchParams.get("redirect_uri"), "http://127.0.0.1:1234/");
  assert.throws(() => oauthClient({ ...source, caCert: "/nonexistent/ca.pem" }), /cannot read caCert "\/nonexistent\/ca\.pem"/);
});

test("parseStoredToken: round trip, and clear errors for malformed values", () => {
  const t: StoredGoogleToken = { refresh_token: "1//rt", scope: GOOGLE_DEFAULTS.scope, obtained_at: 1_700_000_000_000, client_id: "cid" };
  assert.deepEqual(parseStoredToken(serializeToken(t)), t);
  assert.deepEqual(parseStoredToken(JSON.stringify({ ...t, extra: 1 })), t);
  assert.throws(() => parseStoredToken("1//rt"), /not JSON/);
  assert.throws(() => parseStoredToken("[]"), /not a JSON object/);
  assert.throws(() => parseStoredToken(JSON.stringify({ ...t, refresh_token: "" })), /"refresh_token"/);
  assert.throws(() => parseStoredToken(JSON.stringify({ ...t, obtained_at: "yesterday" })), /"obtained_at" \(expected a number\)/);
  const { client_id: _omit, ...noClient } = t;
  assert.throws(() => parseStoredToken(JSON.stringify(noClient)), /"client_id"/);
});

test("tokenExpiryWarning: only for Testing apps, from two days before the 7-day expiry", () => {
  const obtained = Date.UTC(2026, 0, 1, 12, 0, 0);
  const t: StoredGoogleToken = { refresh_token: "x", scope: GOOGLE_DEFAULTS.scope, obtained_at: obtained, client_id: "cid" };
  assert.equal(tokenExpiryWarning(t, { id: "work" }, obtained + 6.9 * DAY), null);
  assert.equal(tokenExpiryWarning(t, { id: "work", testingApp: false }, obtained + 6.9 * DAY), null);
  assert.equal(tokenExpiryWarning(t, { id: "work", testingApp: true }, obtained + 4 * DAY), null);
  const soon = tokenExpiryWarning(t, { id: "work", testingApp: true }, obtained + 5.5 * DAY);
  assert.ok(soon);
  assert.match(soon, /expires on 2026-01-08 12:00:00 UTC/);
  assert.match(soon, /`calgate auth google work`/);
  assert.match(soon, /Testing/);
  const gone = tokenExpiryWarning(t, { id: "work", testingApp: true }, obtained + 8 * DAY);
  assert.match(gone ?? "", /expired on 2026-01-08/);
  assert.match(gone ?? "", /`calgate auth google work`/);
});

test("parseRedirect: full address, bare query, wrong state, access_denied, other text", () => {
  const st = "abc123";
  assert.deepEqual(parseRedirect(`http://127.0.0.1:5555/?state=${st}&code=4%2F0Axyz&scope=x`, st), { kind: "code", code: "4/0Axyz" });
  assert.deepEqual(parseRedirect(`  http://localhost:5555/?code=c1&state=${st}\r`, st), { kind: "code", code: "c1" });
  assert.deepEqual(parseRedirect(`/?state=${st}&code=c2`, st), { kind: "code", code: "c2" });
  assert.deepEqual(parseRedirect(`state=${st}&code=c3`, st), { kind: "code", code: "c3" });

  const wrong = parseRedirect("http://127.0.0.1:5555/?state=other&code=c", st);
  assert.equal(wrong.kind, "error");
  assert.match((wrong as { message: string }).message, /state does not match/);
  assert.match((wrong as { message: string }).message, /nothing was stored/);
  assert.equal(parseRedirect("http://127.0.0.1:5555/?code=c", st).kind, "error"); // no state at all

  const denied = parseRedirect(`http://127.0.0.1:5555/?error=access_denied&state=${st}`, st);
  assert.equal(denied.kind, "error");
  assert.match((denied as { message: string }).message, /access_denied/);
  const other = parseRedirect(`http://127.0.0.1:5555/?error=invalid_scope&error_description=Bad+scope&state=${st}`, st);
  assert.match((other as { message: string }).message, /invalid_scope: Bad scope/);
  assert.equal(parseRedirect(`http://127.0.0.1:5555/?state=${st}`, st).kind, "error"); // no code

  assert.deepEqual(parseRedirect("4/0Axyz", st), { kind: "unrecognised" });
  assert.deepEqual(parseRedirect("yes", st), { kind: "unrecognised" });
  assert.deepEqual(parseRedirect("http://127.0.0.1:5555/favicon.ico", st), { kind: "unrecognised" });
});

test("resultPage escapes the message; browserAvailable needs a display (Linux) and no SSH (macOS)", () => {
  assert.match(resultPage(false, "<b>&"), /&#60;b&#62;&#38;/);
  assert.match(resultPage(true, "ok"), /You can close this window/);
  assert.equal(browserAvailable({}, "linux"), false);
  assert.equal(browserAvailable({ DISPLAY: "" }, "linux"), false);
  assert.equal(browserAvailable({ DISPLAY: ":0" }, "linux"), true);
  assert.equal(browserAvailable({ WAYLAND_DISPLAY: "wayland-0" }, "linux"), true);
  assert.equal(browserAvailable({}, "darwin"), true);
  assert.equal(browserAvailable({ SSH_CONNECTION: "1.2.3.4 5 6.7.8.9 22" }, "darwin"), false);
});

// ---------------------------------------------------------------------------------------------
// loopbackAuth against a fake token endpoint

interface FakeToken {
  url: string;
  server: Server;
  bodies: URLSearchParams[];
}

async function fakeTokenEndpoint(answer: (body: URLSearchParams) => { status: number; json: unknown }): Promise<FakeToken> {
  const bodies: URLSearchParams[] = [];
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      const body = new URLSearchParams(raw);
      bodies.push(body);
      const a = answer(body);
      res.writeHead(a.status, { "content-type": "application/json" }).end(JSON.stringify(a.json));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, server, bodies };
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on("error", reject)
      .end();
  });
}

/** Runs loopbackAuth; `act` gets the printed authorization URL and plays the browser or the user. */
async function run(tokenUrl: string, act: (authUrl: URL, stdin: PassThrough) => Promise<void>, timeoutMs?: number) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  let printed = "";
  stdout.on("data", (c: Buffer) => (printed += c.toString()));
  const result = loopbackAuth({ ...source, authUrl: "https://accounts.example/auth", tokenUrl }, { stdin, stdout, openBrowser: async () => false, now: () => 42, ...(timeoutMs ? { timeoutMs } : {}) });
  result.catch(() => {});
  while (!/https:\/\/accounts\.example\/auth\?\S+/.test(printed)) await new Promise((r) => setTimeout(r, 5));
  const authUrl = new URL(/https:\/\/accounts\.example\/auth\?\S+/.exec(printed)![0]);
  await act(authUrl, stdin);
  return { result, printed: () => printed };
}

test("loopbackAuth: the browser's redirect is exchanged with the PKCE verifier; the page says it worked", async () => {
  const fake = await fakeTokenEndpoint(() => ({ status: 200, json: { access_token: "at", refresh_token: "rt-1", expires_in: 3599, scope: GOOGLE_DEFAULTS.scope, token_type: "Bearer" } }));
  try {
    let page = { status: 0, body: "" };
    let challenge = "";
    const { result, printed } = await run(fake.url, async (u) => {
      assert.equal(u.searchParams.get("access_type"), "offline");
      assert.equal(u.searchParams.get("prompt"), "consent");
      assert.equal(u.searchParams.get("code_challenge_method"), "S256");
      assert.equal(u.searchParams.get("scope"), GOOGLE_DEFAULTS.scope);
      assert.equal(u.searchParams.get("client_id"), source.clientId);
      challenge = u.searchParams.get("code_challenge")!;
      const redirect = u.searchParams.get("redirect_uri")!;
      assert.match(redirect, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.equal((await get(`${redirect}favicon.ico`)).status, 404);
      page = await get(`${redirect}?state=${u.searchParams.get("state")}&code=the-code`);
    });
    assert.deepEqual(await result, { refresh_token: "rt-1", scope: GOOGLE_DEFAULTS.scope, obtained_at: 42, client_id: source.clientId });
    assert.equal(page.status, 200);
    assert.match(page.body, /You can close this window/);
    assert.equal(fake.bodies.length, 1);
    const body = fake.bodies[0]!;
    assert.equal(body.get("grant_type"), "authorization_code");
    assert.equal(body.get("code"), "the-code");
    assert.equal(pkceChallenge(body.get("code_verifier")!), challenge);
    assert.doesNotMatch(printed(), /not-so-secret/);
  } finally {
    fake.server.close();
  }
});

test("loopbackAuth: a pasted address works too; text that is no address gets a hint", async () => {
  const fake = await fakeTokenEndpoint(() => ({ status: 200, json: { access_token: "at", refresh_token: "rt-2", expires_in: 3599, token_type: "Bearer" } }));
  try {
    const { result, printed } = await run(fake.url, async (u, stdin) => {
      stdin.write("4/just-a-code\n");
      const redirect = u.searchParams.get("redirect_uri")!;
      stdin.write(`${redirect}?state=${u.searchParams.get("state")}&code=pasted-code\r\n`);
    });
    const t = await result;
    assert.equal(t.refresh_token, "rt-2");
    assert.equal(t.scope, GOOGLE_DEFAULTS.scope); // no scope in the answer: the one asked for
    assert.match(printed(), /paste the whole address/);
    assert.equal(fake.bodies[0]!.get("code"), "pasted-code");
  } finally {
    fake.server.close();
  }
});

test("loopbackAuth: wrong state, access_denied, no refresh token, no calendar scope, timeout", async () => {
  const answers: unknown[] = [];
  const fake = await fakeTokenEndpoint(() => ({ status: 200, json: answers.shift() }));
  try {
    const wrong = await run(fake.url, async (u, stdin) => void stdin.write(`${u.searchParams.get("redirect_uri")}?state=nope&code=c\n`));
    await assert.rejects(wrong.result, (e: Error) => e instanceof GoogleAuthError && /state does not match/.test(e.message) && /calgate auth google work/.test(e.message));

    let page = { status: 0, body: "" };
    const denied = await run(fake.url, async (u) => {
      page = await get(`${u.searchParams.get("redirect_uri")}?error=access_denied&state=${u.searchParams.get("state")}`);
    });
    await assert.rejects(denied.result, /access_denied/);
    assert.equal(page.status, 400);
    assert.match(page.body, /access_denied/);
    assert.equal(fake.bodies.length, 0);

    answers.push({ access_token: "at", expires_in: 3599, token_type: "Bearer" });
    const noRefresh = await run(fake.url, async (u, stdin) => void stdin.write(`?state=${u.searchParams.get("state")}&code=c\n`));
    await assert.rejects(noRefresh.result, /no refresh token; revoke calgate's access at https:\/\/myaccount\.google\.com\/permissions/);

    answers.push({ access_token: "at", refresh_token: "r", expires_in: 3599, scope: "openid email", token_type: "Bearer" });
    const noScope = await run(fake.url, async (u, stdin) => void stdin.write(`?state=${u.searchParams.get("state")}&code=c\n`));
    await assert.rejects(noScope.result, /no access to the calendars/);

    const slow = await run(fake.url, async () => {}, 50);
    await assert.rejects(slow.result, /no answer from the browser within/);
  } finally {
    fake.server.close();
  }
});

test("loopbackAuth: a refused code becomes a plain message without the client secret", async () => {
  const fake = await fakeTokenEndpoint(() => ({ status: 400, json: { error: "invalid_grant", error_description: "Bad Request" } }));
  try {
    const r = await run(fake.url, async (u, stdin) => void stdin.write(`?state=${u.searchParams.get("state")}&code=c\n`));
    await assert.rejects(r.result, (e: Error) => /Google refused the sign-in code \(invalid_grant: Bad Request\)/.test(e.message) && !/not-so-secret/.test(`${e.message}${e.stack}`));
  } finally {
    fake.server.close();
  }
});

// ---------------------------------------------------------------------------------------------
// authorisedClient against a fake token endpoint

function memorySecrets(initial?: StoredGoogleToken) {
  const m = new Map<string, string>();
  if (initial) m.set("oauth", serializeToken(initial));
  return { m, secrets: { get: async (k: string) => m.get(k) ?? null, set: async (k: string, v: string) => void m.set(k, v) } };
}

function reporter() {
  const calls: [boolean, string | undefined][] = [];
  return { calls, tokenRefreshed: async (ok: boolean, message?: string) => void calls.push([ok, message]) };
}

const stored = (rt: string): StoredGoogleToken => ({ refresh_token: rt, scope: GOOGLE_DEFAULTS.scope, obtained_at: 1, client_id: source.clientId });

test("authorisedClient: nothing stored, another client id, or malformed → AuthRequired naming the command", async () => {
  for (const [initial, pattern] of [
    [undefined, /source "work" is not connected to Google: run `calgate auth google work`/],
    [{ ...stored("r"), client_id: "other" }, /another OAuth client.*`calgate auth google work`/],
  ] as const) {
    const { secrets } = memorySecrets(initial);
    const rep = reporter();
    await assert.rejects(authorisedClient(source, { secrets, tokenRefreshed: rep.tokenRefreshed }), (e: Error) => e instanceof AuthRequired && pattern.test(e.message));
    assert.equal(rep.calls.length, 1);
    assert.equal(rep.calls[0]![0], false);
  }
  const rep = reporter();
  const secrets = { get: async () => "garbage", set: async () => {} };
  await assert.rejects(authorisedClient(source, { secrets, tokenRefreshed: rep.tokenRefreshed }), (e: Error) => e instanceof AuthRequired && /not JSON.*calgate auth google work/.test(e.message));
});

test("authorisedClient: refresh, forceRefresh, rotation stored, invalid_grant → AuthRequired once and never sent again", async () => {
  forgetRefusedTokens();
  let n = 0;
  const fake = await fakeTokenEndpoint((b) => {
    if (b.get("refresh_token") === "dead") return { status: 400, json: { error: "invalid_grant", error_description: "Token has been expired or revoked." } };
    n++;
    return { status: 200, json: { access_token: `at-${n}`, expires_in: 3599, token_type: "Bearer", ...(n === 2 ? { refresh_token: "rt-rotated" } : {}) } };
  });
  try {
    const src = { ...source, tokenUrl: fake.url };
    const { m, secrets } = memorySecrets(stored("rt-1"));
    const rep = reporter();
    const s = await authorisedClient(src, { secrets, tokenRefreshed: rep.tokenRefreshed });
    assert.equal((await s.client.getAccessToken()).token, "at-1");
    assert.equal((await s.client.getAccessToken()).token, "at-1"); // cached
    await s.forceRefresh();
    assert.equal((await s.client.getAccessToken()).token, "at-2");
    assert.equal(parseStoredToken(m.get("oauth")!).refresh_token, "rt-rotated");
    assert.equal(s.client.credentials.refresh_token, "rt-rotated");
    assert.equal(fake.bodies.at(-1)!.get("refresh_token"), "rt-1");
    await s.forceRefresh();
    assert.equal(fake.bodies.at(-1)!.get("refresh_token"), "rt-rotated");
    assert.deepEqual(rep.calls, []);

    // A new sign-in stored meanwhile is used by the next refresh; a revoked one is refused once.
    m.set("oauth", serializeToken(stored("dead")));
    const before = fake.bodies.length;
    await assert.rejects(s.forceRefresh(), (e: Error) => e instanceof AuthRequired && /Google refused the saved sign-in of source "work" \(expired or revoked\); run `calgate auth google work`/.test(e.message));
    assert.equal(fake.bodies.length, before + 1);
    assert.equal(rep.calls.length, 1);
    assert.equal(rep.calls[0]![0], false);
    await assert.rejects(s.forceRefresh(), AuthRequired);
    await assert.rejects(authorisedClient(src, { secrets, tokenRefreshed: rep.tokenRefreshed }), AuthRequired);
    assert.equal(fake.bodies.length, before + 1, "a refused token is not sent again");
    assert.equal(rep.calls.length, 3);

    // Re-connecting heals the same client, and the recovery is reported.
    m.set("oauth", serializeToken(stored("rt-new")));
    await s.forceRefresh();
    assert.equal(fake.bodies.at(-1)!.get("refresh_token"), "rt-new");
    assert.deepEqual(rep.calls.at(-1), [true, undefined]);
    assert.ok(s.expiryWarning(Date.now()) === null);
  } finally {
    fake.server.close();
    forgetRefusedTokens();
  }
});

test("authorisedClient: a failing token endpoint is Transient (5xx, network), RateLimited (429)", async () => {
  forgetRefusedTokens();
  let status = 503;
  const fake = await fakeTokenEndpoint(() => ({ status, json: { error: "backend" } }));
  try {
    const rep = reporter();
    const s = await authorisedClient({ ...source, tokenUrl: fake.url }, { ...memorySecrets(stored("rt")), tokenRefreshed: rep.tokenRefreshed });
    await assert.rejects(s.forceRefresh(), (e: Error) => e instanceof Transient && /token refresh for source "work" failed/.test(e.message));
    status = 429;
    await assert.rejects(s.forceRefresh(), RateLimited);
    assert.deepEqual(rep.calls, []);
    const dead = await authorisedClient({ ...source, tokenUrl: "http://127.0.0.1:1/token" }, { ...memorySecrets(stored("rt")), tokenRefreshed: rep.tokenRefreshed });
    await assert.rejects(dead.forceRefresh(), (e: Error) => e instanceof Transient && /network error/.test(e.message));
  } finally {
    fake.server.close();
  }
});
