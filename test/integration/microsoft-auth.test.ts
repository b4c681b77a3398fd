/**
 * Microsoft sign-in end to end against the Graph emulator (HTTPS with a test CA, identity endpoint
 * included): the real `calgate auth microsoft` process (the test plays the user who reads the code on
 * the terminal and approves or declines it), the encrypted MSAL cache it stores, and microsoftSession's
 * behaviour when the sign-in is revoked or access tokens expire early. MSAL is configured only through
 * the source (authority + caCert), so every request must stay on the emulator.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { startGraphEmulator } from "../emulators/graph/index.ts";
import { openDb } from "../../src/store/db.ts";
import { SecretStore } from "../../src/store/secrets.ts";
import { SecretBox } from "../../src/auth/crypto.ts";
import { AuthRequired } from "../../src/sources/adapter.ts";
import { MSAL_ACCOUNT_KIND, MSAL_CACHE_KIND, deviceCodeAuth, forgetRefusedSignIns, microsoftSession, parseStoredAccount } from "../../src/sources/microsoft/auth.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const SECRET_KEY = "integration-test-secret-key-0123456789";
const CLIENT_ID = "0b6f3c1e-5a7d-4c8e-9f10-1a2b3c4d5e6f";
const UPN = "alice@contoso.example";

type Emulator = Awaited<ReturnType<typeof startGraphEmulator>>;
let emu: Emulator;
let dir: string;

before(async () => {
  emu = await startGraphEmulator({ deviceCodeIntervalSec: 1 });
  emu.addClient(CLIENT_ID);
  emu.addAccount(UPN);
  dir = mkdtempSync(join(tmpdir(), "calgate-msauth-"));
});

after(async () => {
  await emu?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const source = () => ({ id: "office", type: "microsoft" as const, clientId: CLIENT_ID, tenant: "common", authority: emu.authority, caCert: emu.caCertPath, apiUrl: emu.apiUrl });

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
      `      - { id: office, type: microsoft, clientId: ${JSON.stringify(s.clientId)}, authority: ${JSON.stringify(s.authority)}, caCert: ${JSON.stringify(s.caCert)}, apiUrl: ${JSON.stringify(s.apiUrl)} }`,
      "",
    ].join("\n"),
  );
  return { configPath, dbPath };
}

/** The real CLI; the test reads the code it prints, as the person at the terminal would. */
function runCli(configPath: string) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.CALGATE_SECRET_KEY;
  delete env.NODE_EXTRA_CA_CERTS; // trust must come from the source's caCert
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/index.ts", "auth", "microsoft", "office", "-c", configPath], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  exited.then(() => clearTimeout(killer), () => {});
  return {
    out: () => out,
    exit: () => exited,
    async userCode(): Promise<string> {
      for (;;) {
        const code = emu.pendingDeviceCodes.find((c) => c.clientId === CLIENT_ID && out.includes(c.userCode))?.userCode;
        if (code !== undefined && out.includes(`${emu.url}devicelogin`)) return code;
        if (child.exitCode !== null) throw new Error(`calgate exited before printing the code:\n${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

async function storedSecrets(dbPath: string): Promise<{ cache: string | null; account: string | null }> {
  const db = await openDb(dbPath);
  try {
    const store = new SecretStore(db, SecretBox.fromSecretKey(SECRET_KEY));
    return { cache: await store.get("alice", "office", MSAL_CACHE_KIND), account: await store.get("alice", "office", MSAL_ACCOUNT_KIND) };
  } finally {
    await db.destroy();
  }
}

function memorySecrets(initial: Record<string, string> = {}) {
  const m = new Map(Object.entries(initial));
  return { map: m, get: async (k: string) => m.get(k) ?? null, set: async (k: string, v: string) => void m.set(k, v) };
}

/** Status of a Graph request with this access token (the emulator checks Bearer tokens). */
function graphStatus(token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${emu.apiUrl}/me/calendars`, { ca: emu.caCert, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

/** An in-process sign-in (deviceCodeAuth), approved as soon as the code is printed. */
async function signIn(secrets: ReturnType<typeof memorySecrets>): Promise<void> {
  let text = "";
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      const code = emu.pendingDeviceCodes.find((c) => text.includes(c.userCode));
      if (code) emu.approveDeviceCode(code.userCode, UPN);
      cb();
    },
  });
  assert.deepEqual(await deviceCodeAuth(source(), { stdout }, secrets), { username: UPN });
}

/** Every secret string (tokens) in a serialized MSAL cache. */
function cacheSecrets(cache: string): string[] {
  const c = JSON.parse(cache) as Record<string, Record<string, { secret?: string }>>;
  return Object.values(c).flatMap((group) => Object.values(group).map((e) => e.secret)).filter((s): s is string => typeof s === "string" && s.length > 8);
}

test("calgate auth microsoft: the code is printed, the person approves it, the sign-in is stored encrypted and works", async () => {
  const { configPath, dbPath } = writeConfig("approve");
  emu.resetRequests();
  const cli = runCli(configPath);
  const code = await cli.userCode();
  emu.approveDeviceCode(code, UPN);
  assert.equal(await cli.exit(), 0, cli.out());
  // MSAL found its endpoints on the emulator (knownAuthorities: no public-cloud instance discovery).
  assert.ok(emu.requests.some((r) => r.method === "GET" && r.path.endsWith("/common/v2.0/.well-known/openid-configuration")), JSON.stringify(emu.requests.map((r) => r.path)));
  assert.ok(emu.requests.some((r) => r.method === "POST" && r.path.endsWith("/common/oauth2/v2.0/devicecode")));
  assert.match(cli.out(), new RegExp(`Connected source office \\(Microsoft ${UPN.replace(/\./g, "\\.")}\\); calgate serve picks it up on its next sync\\.`));

  const stored = await storedSecrets(dbPath);
  assert.ok(stored.cache && stored.account);
  const account = parseStoredAccount(stored.account);
  assert.equal(account.username, UPN);
  assert.equal(account.client_id, CLIENT_ID);
  const tokens = cacheSecrets(stored.cache);
  assert.ok(tokens.length >= 2, "the cache holds the tokens");
  for (const t of tokens) assert.ok(!cli.out().includes(t), "no token is printed");

  const calls: boolean[] = [];
  const session = await microsoftSession(source(), { secrets: memorySecrets({ [MSAL_CACHE_KIND]: stored.cache, [MSAL_ACCOUNT_KIND]: stored.account }), tokenRefreshed: async (ok) => void calls.push(ok) });
  assert.equal(session.username, UPN);
  assert.equal(await graphStatus(await session.accessToken()), 200);
  assert.equal(session.expiryWarning(Date.now()), null);
  assert.deepEqual(calls, []);
});

test("calgate auth microsoft: a declined sign-in fails clearly (exit 1) and stores nothing", async () => {
  const { configPath, dbPath } = writeConfig("decline");
  const cli = runCli(configPath);
  emu.declineDeviceCode(await cli.userCode());
  assert.equal(await cli.exit(), 1, cli.out());
  assert.match(cli.out(), /sign-in for source "office" was declined; nothing was stored/);
  assert.match(cli.out(), /`calgate auth microsoft office`/);
  assert.doesNotMatch(cli.out(), /    at /); // advice, not a stack trace
  assert.deepEqual(await storedSecrets(dbPath), { cache: null, account: null });
});

test("microsoftSession: a revoked sign-in → AuthRequired and tokenRefreshed(false) once per call, never sent again; a new sign-in is picked up", async () => {
  forgetRefusedSignIns();
  const secrets = memorySecrets();
  await signIn(secrets);
  const calls: [boolean, string | undefined][] = [];
  const ctx = { secrets, tokenRefreshed: async (ok: boolean, message?: string) => void calls.push([ok, message]) };
  const session = await microsoftSession(source(), ctx);
  assert.equal(await graphStatus(await session.accessToken()), 200);

  emu.revokeAll(UPN);
  const before = emu.tokenRequests();
  await assert.rejects(session.accessToken(true), (e: Error) => e instanceof AuthRequired && /`calgate auth microsoft office`/.test(e.message));
  assert.equal(calls.length, 1);
  assert.equal(calls[0]![0], false);
  assert.match(calls[0]![1] ?? "", /`calgate auth microsoft office`/);
  assert.equal(emu.tokenRequests(), before + 1);

  await assert.rejects(session.accessToken(true), AuthRequired);
  await assert.rejects(session.accessToken(), AuthRequired); // not even the cached access token
  await assert.rejects(microsoftSession(source(), ctx), AuthRequired);
  assert.equal(calls.length, 4);
  assert.ok(calls.every(([ok]) => !ok));
  assert.equal(emu.tokenRequests(), before + 1, "a refused sign-in is not sent again");

  // `calgate auth microsoft office` again (while serving): the same session uses the new sign-in.
  await signIn(secrets);
  assert.equal(await graphStatus(await session.accessToken(true)), 200);
  assert.deepEqual(calls.at(-1), [true, undefined]);
  forgetRefusedSignIns();
});

test("microsoftSession: forceRefresh after the emulator expired access tokens gets a working one", async () => {
  const secrets = memorySecrets();
  await signIn(secrets);
  const signedIn = parseStoredAccount(secrets.map.get(MSAL_ACCOUNT_KIND)!);
  const calls: boolean[] = [];
  const session = await microsoftSession(source(), { secrets, tokenRefreshed: async (ok) => void calls.push(ok) });
  const first = await session.accessToken();
  assert.equal(await graphStatus(first), 200);
  emu.expireAccessTokens();
  assert.equal(await graphStatus(await session.accessToken()), 401); // MSAL still trusts the cached token's expiry
  const fresh = await session.accessToken(true);
  assert.notEqual(fresh, first);
  assert.equal(await graphStatus(fresh), 200);
  assert.equal(await session.accessToken(), fresh, "the refreshed token is cached (and stored)");
  assert.deepEqual(calls, []);
  const after = parseStoredAccount(secrets.map.get(MSAL_ACCOUNT_KIND)!);
  assert.equal(after.obtained_at, signedIn.obtained_at);
  assert.ok((after.refreshed_at ?? 0) >= signedIn.obtained_at, "the refresh is noted (90-day idle clock)");
});

test("deviceCodeAuth: an expired code, an unknown application and a cancelled wait fail in plain words and store nothing", async () => {
  // The code expires while the person is away (the emulator's clock jumps past expires_in).
  let shift = 0;
  const late = await startGraphEmulator({ deviceCodeIntervalSec: 1, now: () => Date.now() + shift });
  try {
    late.addClient(CLIENT_ID);
    late.addAccount(UPN);
    const secrets = memorySecrets();
    const stdout = new Writable({ write: (_c, _e, cb) => ((shift = 16 * 60_000), cb()) });
    const src = { ...source(), authority: late.authority, caCert: late.caCertPath };
    await assert.rejects(deviceCodeAuth(src, { stdout }, secrets), (e: Error) => /code for source "office" expired before the sign-in was completed; nothing was stored/.test(e.message));
    assert.equal(secrets.map.size, 0);
  } finally {
    await late.close();
  }

  const secrets = memorySecrets();
  const quiet = new Writable({ write: (_c, _e, cb) => cb() });
  await assert.rejects(deviceCodeAuth({ ...source(), clientId: "not-registered" }, { stdout: quiet }, secrets), (e: Error) => /did not start the sign-in for source "office" \(HTTP 400 unauthorized_client: AADSTS700016/.test(e.message) && /Check clientId/.test(e.message));

  const ac = new AbortController();
  const polls = emu.tokenRequests();
  const waiting = new Writable({ write: (_c, _e, cb) => (setTimeout(() => ac.abort(), 50), cb()) });
  await assert.rejects(deviceCodeAuth(source(), { stdout: waiting, signal: ac.signal }, secrets), (e: Error) => /sign-in for source "office" was cancelled; nothing was stored/.test(e.message));
  await new Promise((r) => setTimeout(r, 1500)); // one polling interval: MSAL stops instead of polling on
  assert.ok(emu.tokenRequests() <= polls + 1, "no polling after the cancel");
  assert.equal(secrets.map.size, 0);
});
