/**
 * Secrets at rest: AES-256-GCM with secretKey (src/auth/crypto.ts), the encrypted secrets table
 * (src/store/secrets.ts) and `calgate rotate-key` (src/cli/rotate-key.ts).
 *   - round trip; every tampered byte, a wrong key, and a ciphertext moved to another user's or
 *     source's row fail to decrypt; nonces are fresh; the sealed text reveals nothing of the plaintext;
 *   - the database file and its WAL never contain a stored token in clear;
 *   - rotate-key re-encrypts everything under the new key in one transaction, is idempotent, takes
 *     the old key only from the environment or stdin, and with a wrong old key changes nothing.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SecretBox, SecretDecryptError } from "../../src/auth/crypto.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { SecretStore } from "../../src/store/secrets.ts";
import { REPO_ROOT } from "../helpers/calgate.ts";
import { runCalgateHere, type CliResult } from "../helpers/cli-run.ts";

const OLD_KEY = "old-secret-key-0123456789abcdefghijklmnopqrstuvwxyz";
const NEW_KEY = "new-secret-key-zyxwvutsrqponmlkjihgfedcba9876543210";
const TOKEN_A = `1//alice-refresh-token-${Math.random().toString(36).slice(2)}`;
const TOKEN_B = `1//bob-refresh-token-${Math.random().toString(36).slice(2)}`;

/** rotate-key in this process (runCli, as the binary runs it), saving a process start-up per call. */
function cli(args: string[], opts: { env?: Record<string, string> } = {}): Promise<CliResult> {
  return runCalgateHere(args, { cwd: REPO_ROOT, env: { PATH: process.env.PATH, ...opts.env } });
}

/** The real `calgate` process (the old key piped on its stdin). */
function spawnCli(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/index.ts", ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? "");
  });
}

describe("secrets: authenticated encryption", () => {
  const box = SecretBox.fromSecretKey(OLD_KEY);
  const other = SecretBox.fromSecretKey(NEW_KEY);

  test("round trip; fresh nonces; nothing of the plaintext in the sealed text", () => {
    const a = box.seal(TOKEN_A, "alice\0work\0refresh_token");
    const b = box.seal(TOKEN_A, "alice\0work\0refresh_token");
    assert.notEqual(a, b, "two seals of the same value differ (random nonce)");
    assert.equal(box.open(a, "alice\0work\0refresh_token"), TOKEN_A);
    assert.ok(!a.includes(TOKEN_A) && !a.includes(Buffer.from(TOKEN_A).toString("base64").slice(0, 12)));
    assert.equal(SecretBox.keyIdOf(a), box.keyId);
    assert.notEqual(box.keyId, other.keyId);
    assert.equal(SecretBox.fromSecretKey(OLD_KEY).keyId, box.keyId, "the key id is stable for a key");
  });

  test("every tampered character, a wrong key and a moved ciphertext are refused", () => {
    const ctx = "alice\0work\0refresh_token";
    const sealed = box.seal(TOKEN_A, ctx);
    const parts = sealed.split(".");
    let refused = 0;
    for (const seg of [2, 3, 4]) {
      const bytes = Buffer.from(parts[seg]!, "base64url");
      for (let i = 0; i < bytes.length; i++) {
        const t = Buffer.from(bytes);
        t[i] = t[i]! ^ 0x01;
        const forged = parts.map((p, k) => (k === seg ? t.toString("base64url") : p)).join(".");
        assert.throws(() => box.open(forged, ctx), SecretDecryptError, `nonce/tag/ciphertext byte ${i} of part ${seg} flipped`);
        refused++;
      }
    }
    assert.ok(refused > 40);
    assert.throws(() => other.open(sealed, ctx), SecretDecryptError, "another key");
    assert.throws(() => box.open(sealed, "bob\0work\0refresh_token"), SecretDecryptError, "moved to bob's row");
    assert.throws(() => box.open(sealed, "alice\0other\0refresh_token"), SecretDecryptError, "moved to another source");
    assert.throws(() => box.open(sealed, "alice\0work\0password"), SecretDecryptError, "moved to another kind");
    assert.throws(() => box.open("plain text token", ctx), SecretDecryptError);
    assert.throws(() => SecretBox.fromSecretKey("short"), /at least 32/);
  });
});

describe("secrets: the store and rotate-key", () => {
  let dir: string;
  let dbFile: string;
  let configFile: string;
  let db: Db;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "calgate-secrets-"));
    dbFile = join(dir, "calgate.sqlite");
    configFile = join(dir, "calgate.yaml");
    writeFileSync(configFile, `storage: { client: sqlite, filename: ${JSON.stringify(dbFile)} }\nsecretKey: \${CALGATE_SECRET_KEY}\nusers:\n  - { username: alice, password: pw-alice-123, sources: [] }\n`);
    db = await openDb(dbFile);
    const store = new SecretStore(db, SecretBox.fromSecretKey(OLD_KEY));
    await store.put("alice", "work", "refresh_token", TOKEN_A);
    await store.put("bob", "office", "refresh_token", TOKEN_B);
    await store.put("alice", "work", "refresh_token", TOKEN_A); // upsert
    await store.put("alice", "icloud", "password", "app-specific-pw-xyz");
  });
  after(async () => {
    await db?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("stored tokens are in no file in clear (database and WAL), and read back", async () => {
    const store = new SecretStore(db, SecretBox.fromSecretKey(OLD_KEY));
    assert.equal(await store.get("alice", "work", "refresh_token"), TOKEN_A);
    assert.equal(await store.get("bob", "office", "refresh_token"), TOKEN_B);
    assert.equal(await store.get("bob", "nothing", "refresh_token"), null);
    const rows = (await db("secrets").select()) as { ciphertext: string }[];
    assert.equal(rows.length, 3);
    for (const f of readdirSync(dir).filter((f) => f.startsWith("calgate.sqlite"))) {
      const bytes = readFileSync(join(dir, f));
      for (const s of [TOKEN_A, TOKEN_B, "app-specific-pw-xyz"]) assert.equal(bytes.indexOf(s), -1, `${f} holds ${s} in clear`);
    }
  });

  test("a ciphertext copied into another user's row does not decrypt there", async () => {
    const a = (await db("secrets").where({ owner: "alice", source_id: "work" }).first()) as { ciphertext: string };
    await db("secrets").insert({ owner: "bob", source_id: "work", kind: "refresh_token", ciphertext: a.ciphertext, updated_at: 0 });
    const store = new SecretStore(db, SecretBox.fromSecretKey(OLD_KEY));
    await assert.rejects(store.get("bob", "work", "refresh_token"), SecretDecryptError);
    await store.delete("bob", "work");
  });

  test("rotate-key: a wrong old key changes nothing; the right one re-encrypts all; again is harmless", async () => {
    const snapshot = async (): Promise<string> => JSON.stringify(await db("secrets").orderBy(["owner", "source_id", "kind"]).select("owner", "source_id", "kind", "ciphertext"));
    const before = await snapshot();
    const help = await cli(["rotate-key", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /CALGATE_OLD_SECRET_KEY/);
    const positional = await cli(["rotate-key", "-c", configFile, OLD_KEY], { env: { CALGATE_SECRET_KEY: NEW_KEY } });
    assert.equal(positional.code, 2, "the old key is never taken from the command line");
    assert.ok(!positional.stderr.includes(OLD_KEY.slice(0, 20)) || /unexpected argument/.test(positional.stderr));
    const wrong = await cli(["rotate-key", "-c", configFile], { env: { CALGATE_SECRET_KEY: NEW_KEY, CALGATE_OLD_SECRET_KEY: "not-the-old-key-but-long-enough-0123456789" } });
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /nothing was changed/);
    assert.equal(await snapshot(), before, "a failed rotation leaves every row as it was");
    for (const s of [NEW_KEY, OLD_KEY, TOKEN_A, TOKEN_B]) assert.ok(!(wrong.stdout + wrong.stderr).includes(s), "no secret in the output");

    const ok = await spawnCli(["rotate-key", "-c", configFile], { input: `${OLD_KEY}\n`, env: { CALGATE_SECRET_KEY: NEW_KEY } });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /re-encrypted 3 secret/);
    for (const s of [NEW_KEY, OLD_KEY, TOKEN_A, TOKEN_B]) assert.ok(!(ok.stdout + ok.stderr).includes(s), "no secret in the output");
    await db.destroy(); // read what a restarted `calgate serve` would read
    db = await openDb(dbFile);
    const newBox = SecretBox.fromSecretKey(NEW_KEY);
    for (const r of (await db("secrets").select()) as { ciphertext: string }[]) assert.equal(SecretBox.keyIdOf(r.ciphertext), newBox.keyId);
    const store = new SecretStore(db, newBox);
    assert.equal(await store.get("alice", "work", "refresh_token"), TOKEN_A);
    assert.equal(await store.get("bob", "office", "refresh_token"), TOKEN_B);
    await assert.rejects(new SecretStore(db, SecretBox.fromSecretKey(OLD_KEY)).get("alice", "work", "refresh_token"), SecretDecryptError);

    const again = await cli(["rotate-key", "-c", configFile], { env: { CALGATE_SECRET_KEY: NEW_KEY, CALGATE_OLD_SECRET_KEY: OLD_KEY } });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /re-encrypted 0 secret.*3 already/);
  });
});
