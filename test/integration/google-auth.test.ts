/**
 * Google OAuth end to end against the Google emulator: the real `calgate auth google` process (the
 * test plays the browser, or the user pasting the redirect address), the encrypted token it stores,
 * and authorisedClient's behaviour when Google revokes a token or expires access tokens early.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startGoogleEmulator } from "../emulators/google/index.ts";
import { openDb } from "../../src/store/db.ts";
import { SecretStore } from "../../src/store/secrets.ts";
import { SecretBox } from "../../src/auth/crypto.ts";
import { AuthRequired, Transient } from "../../src/sources/adapter.ts";
import { authorisedClient, forgetRefusedTokens, parseStoredToken, serializeToken, type StoredGoogleToken } from "../../src/sources/google/auth.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const SECRET_KEY = "integration-test-secret-key-0123456789";
const EMAIL = "alice@example.com";
const CLIENT = { clientId: "calgate-test.apps.googleusercontent.com", clientSecret: "test-client-secret" };

type Emulator = Awaited<ReturnType<typeof startGoogleEmulator>>;
let emu: Emulator;
let dir: string;

before(async () => {
  emu = await startGoogleEmulator();
  emu.addClient(CLIENT);
  emu.addAccount(EMAIL);
  emu.setConsent(EMAIL);
  dir = mkdtempSync(join(tmpdir(), "calgate-gauth-"));
});

after(async () => {
  await emu?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const source = () => ({ id: "work", type: "google" as const, ...CLIENT, authUrl: emu.authUrl, tokenUrl: emu.tokenUrl, apiUrl: emu.apiUrl });

/** A config file with its own database, for one CLI run. */
function writeConfig(name: string): { configPath: string; dbPath: string } {
  const dbPath = join(dir, `${name}.sqlite`);
  const configPath = join(dir, `${name}.yaml`);
  const s = source();
  writeFileSync(
    configPath,
    [
      `storage: { filename: ${JSON.stringify(dbPath)} }`,
      `secretKey: ${SECRET_KEY}`,
      "users:",
      "  - username: alice",
      "    password: pw-alice",
      "    sources:",
      `      - { id: work, type: google, clientId: ${JSON.stringify(s.clientId)}, clientSecret: ${JSON.stringify(s.clientSecret)}, authUrl: ${JSON.stringify(s.authUrl)}, tokenUrl: ${JSON.stringify(s.tokenUrl)}, apiUrl: ${JSON.stringify(s.apiUrl)} }`,
      "",
    ].join("\n"),
  );
  return { configPath, dbPath };
}

interface Cli {
  child: ChildProcess;
  out(): string;
  /** The authorization URL the CLI printed. */
  authUrl(): Promise<URL>;
  exit(): Promise<number | null>;
}

function runCli(configPath: string): Cli {
  const env: NodeJS.ProcessEnv = { ...process.env, DISPLAY: "", WAYLAND_DISPLAY: "" }; // never a real browser
  delete env.CALGATE_SECRET_KEY;
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/index.ts", "auth", "google", "work", "-c", configPath], { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  exited.then(() => clearTimeout(killer), () => {});
  return {
    child,
    out: () => out,
    async authUrl() {
      const re = new RegExp(`${emu.authUrl.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\?\\S+`);
      for (;;) {
        const m = re.exec(out);
        if (m) return new URL(m[0]);
        if (child.exitCode !== null) throw new Error(`calgate exited before printing the URL:\n${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    exit: () => exited,
  };
}

/** The browser's first step: the authorization endpoint answers with a redirect to the loopback listener. */
async function consent(authUrl: URL): Promise<string> {
  const res = await fetch(authUrl, { redirect: "manual" });
  assert.equal(res.status, 302, `authorization endpoint answered ${res.status}`);
  const location = res.headers.get("location");
  assert.ok(location);
  assert.match(location, /^http:\/\/127\.0\.0\.1:\d+\/\?/);
  return location;
}

async function storedToken(dbPath: string): Promise<StoredGoogleToken | null> {
  const db = await openDb(dbPath);
  try {
    const raw = await new SecretStore(db, SecretBox.fromSecretKey(SECRET_KEY)).get("alice", "work", "oauth");
    return raw === null ? null : parseStoredToken(raw);
  } finally {
    await db.destroy();
  }
}

/** Whether the emulator's token endpoint accepts the refresh token (a refresh_token grant). */
async function refreshWorks(refreshToken: string): Promise<boolean> {
  const res = await fetch(emu.tokenUrl, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret }),
  });
  return res.status === 200 && typeof ((await res.json()) as { access_token?: unknown }).access_token === "string";
}

test("calgate auth google: the browser's redirect reaches the loopback listener; the token is stored encrypted", async () => {
  const { configPath, dbPath } = writeConfig("browser");
  const cli = runCli(configPath);
  const url = await cli.authUrl();
  assert.equal(url.searchParams.get("code_challenge_method"), "S256");
  assert.equal(url.searchParams.get("access_type"), "offline");
  const page = await fetch(await consent(url));
  assert.equal(page.status, 200);
  assert.match(await page.text(), /You can close this window/);
  assert.equal(await cli.exit(), 0, cli.out());
  assert.match(cli.out(), /Connected source work \(Google\); calgate serve picks it up on its next sync\./);
  assert.doesNotMatch(cli.out(), new RegExp(CLIENT.clientSecret));
  const token = await storedToken(dbPath);
  assert.ok(token);
  assert.equal(token.client_id, CLIENT.clientId);
  assert.doesNotMatch(cli.out(), new RegExp(token.refresh_token.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  assert.ok(await refreshWorks(token.refresh_token));
});

test("calgate auth google: the redirect address pasted on stdin (SSH session) works the same", async () => {
  const { configPath, dbPath } = writeConfig("pasted");
  const cli = runCli(configPath);
  const location = await consent(await cli.authUrl());
  cli.child.stdin!.write(`${location}\n`);
  assert.equal(await cli.exit(), 0, cli.out());
  const token = await storedToken(dbPath);
  assert.ok(token);
  assert.ok(await refreshWorks(token.refresh_token));
});

test("calgate auth google: a pasted address with a wrong state fails clearly and stores nothing", async () => {
  const { configPath, dbPath } = writeConfig("wrong-state");
  const cli = runCli(configPath);
  const location = new URL(await consent(await cli.authUrl()));
  location.searchParams.set("state", "not-the-state");
  cli.child.stdin!.write(`${location.href}\n`);
  assert.equal(await cli.exit(), 1, cli.out());
  assert.match(cli.out(), /state does not match/);
  assert.match(cli.out(), /nothing was stored/);
  assert.doesNotMatch(cli.out(), /    at /); // advice, not a stack trace
  assert.equal(await storedToken(dbPath), null);
});

function memorySecrets(token: StoredGoogleToken) {
  const m = new Map([["oauth", serializeToken(token)]]);
  return { get: async (k: string) => m.get(k) ?? null, set: async (k: string, v: string) => void m.set(k, v) };
}

const tokenOf = (refreshToken: string): StoredGoogleToken => ({ refresh_token: refreshToken, scope: "https://www.googleapis.com/auth/calendar", obtained_at: Date.now(), client_id: CLIENT.clientId });

test("authorisedClient: a revoked token → AuthRequired and tokenRefreshed(false) once per call, no second token request", async () => {
  forgetRefusedTokens();
  const refreshToken = emu.grant({ email: EMAIL, clientId: CLIENT.clientId }).refresh_token;
  emu.revokeAll(EMAIL);
  const calls: [boolean, string | undefined][] = [];
  const ctx = { secrets: memorySecrets(tokenOf(refreshToken)), tokenRefreshed: async (ok: boolean, message?: string) => void calls.push([ok, message]) };
  const s = await authorisedClient(source(), ctx);
  const before = emu.tokenRequests();
  await assert.rejects(s.client.getAccessToken(), (e: Error) => e instanceof AuthRequired && /calgate auth google work/.test(e.message));
  assert.equal(calls.length, 1);
  assert.equal(calls[0]![0], false);
  assert.match(calls[0]![1] ?? "", /`calgate auth google work`/);
  assert.equal(emu.tokenRequests(), before + 1);
  await assert.rejects(s.forceRefresh(), AuthRequired);
  await assert.rejects(authorisedClient(source(), ctx), AuthRequired);
  assert.equal(calls.length, 3);
  assert.equal(emu.tokenRequests(), before + 1, "a refused token is not sent again");
  forgetRefusedTokens();
});

test("authorisedClient: forceRefresh after the emulator expired access tokens gets a working one", async () => {
  const refreshToken = emu.grant({ email: EMAIL, clientId: CLIENT.clientId }).refresh_token;
  const calls: boolean[] = [];
  const s = await authorisedClient(source(), { secrets: memorySecrets(tokenOf(refreshToken)), tokenRefreshed: async (ok) => void calls.push(ok) });
  const listCalendars = async (): Promise<number> => {
    const { token } = await s.client.getAccessToken();
    const res = await fetch(`${emu.apiUrl}/users/me/calendarList`, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return res.status;
  };
  assert.equal(await listCalendars(), 200);
  emu.expireAccessTokens();
  assert.equal(await listCalendars(), 401); // the library still trusts its expiry_date
  await s.forceRefresh();
  assert.equal(await listCalendars(), 200);
  assert.deepEqual(calls, []);
});

test("authorisedClient: a token endpoint behind TLS with a private CA is trusted through caCert only", async () => {
  const refreshToken = emu.grant({ email: EMAIL, clientId: CLIENT.clientId }).refresh_token;
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
  ], { stdio: "ignore" });
  // An HTTPS front for the emulator's token endpoint.
  const tls = createHttpsServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }, (req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", async () => {
      const up = await fetch(emu.tokenUrl, { method: "POST", headers: { "content-type": String(req.headers["content-type"]) }, body });
      res.writeHead(up.status, { "content-type": "application/json" }).end(await up.text());
    });
  });
  await new Promise<void>((r) => tls.listen(0, "127.0.0.1", () => r()));
  try {
    const tokenUrl = `https://127.0.0.1:${(tls.address() as AddressInfo).port}/token`;
    const ctx = () => ({ secrets: memorySecrets(tokenOf(refreshToken)), tokenRefreshed: async () => {} });
    const trusted = await authorisedClient({ ...source(), tokenUrl, caCert: join(dir, "cert.pem") }, ctx());
    assert.match((await trusted.client.getAccessToken()).token ?? "", /\S/);
    const untrusted = await authorisedClient({ ...source(), tokenUrl }, ctx());
    await assert.rejects(untrusted.forceRefresh(), (e: Error) => e instanceof Transient && /certificate/i.test(e.message));
  } finally {
    tls.closeAllConnections();
    await new Promise((r) => tls.close(r));
  }
});
