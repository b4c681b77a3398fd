/**
 * Password hashing for calgate users: scrypt from node:crypto, stored as
 * `$scrypt$ln=15,r=8,p=1$<salt base64>$<hash base64>` (base64 without padding, PHC style).
 * ln is log2 of the scrypt cost N. Verification is constant time.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from "node:crypto";

let derivations = 0;
const scrypt = (password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> => {
  derivations++;
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
};

/**
 * How many scrypt derivations this module has started (hashing and verifying). A login's cost is
 * dominated by them, so tests compare this count instead of wall time to check that a failed login
 * for an unknown user does the same work as one for a known user.
 */
export function scryptDerivations(): number {
  return derivations;
}

/** Parameters of new hashes: N = 2^15, r = 8, p = 1 (32 MiB, ~50-100 ms on a current CPU). */
const DEFAULT = { ln: 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

/** Bounds accepted when verifying, so a hand-edited hash cannot make every login take minutes. */
const LIMITS = { ln: [10, 20], r: [1, 32], p: [1, 16] } as const;

const HASH_RE = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{32,})$/;

interface Parsed {
  ln: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function parse(s: string): Parsed | null {
  const m = HASH_RE.exec(s);
  if (!m) return null;
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < LIMITS.ln[0] || ln > LIMITS.ln[1]) return null;
  if (r < LIMITS.r[0] || r > LIMITS.r[1]) return null;
  if (p < LIMITS.p[0] || p > LIMITS.p[1]) return null;
  const salt = Buffer.from(m[4]!, "base64");
  const hash = Buffer.from(m[5]!, "base64");
  if (salt.length < 8 || hash.length < 16) return null;
  return { ln, r, p, salt, hash };
}

const b64 = (b: Buffer): string => b.toString("base64").replace(/=+$/, "");

/** Memory scrypt needs (128·N·r) plus headroom; node's default maxmem (32 MiB) is exactly too small for N=2^15, r=8. */
const maxmem = (ln: number, r: number): number => 128 * 2 ** ln * r * 2 + 1024 * 1024;

/** True when `s` is a password hash calgate can verify (the format `calgate hash-password` prints). */
export function isPasswordHash(s: string): boolean {
  return parse(s) !== null;
}

/** Name of the scheme of a `$scheme$...` string (e.g. "argon2id"), or null; used for clear config errors. */
export function hashScheme(s: string): string | null {
  const m = /^\$([a-z0-9-]+)\$/i.exec(s);
  return m ? m[1]! : null;
}

/** The cost parameters of a stored hash (and its salt and key sizes), or null when it is not one. */
export interface HashParams {
  ln: number;
  r: number;
  p: number;
  saltBytes: number;
  keyBytes: number;
}

export function hashParams(stored: string): HashParams | null {
  const parsed = parse(stored);
  return parsed && { ln: parsed.ln, r: parsed.r, p: parsed.p, saltBytes: parsed.salt.length, keyBytes: parsed.hash.length };
}

/**
 * A well-formed hash that no password verifies against (random salt and random key), with the given
 * parameters (by default those of new hashes). Verifying a password against it costs exactly what
 * verifying against a real hash with the same parameters costs: logins for unknown users use it so
 * they cannot be told apart from wrong passwords of existing users by their response time.
 */
export function dummyPasswordHash(params: HashParams = { ...DEFAULT, saltBytes: SALT_BYTES, keyBytes: KEY_BYTES }): string {
  const { ln, r, p, saltBytes, keyBytes } = params;
  return `$scrypt$ln=${ln},r=${r},p=${p}$${b64(randomBytes(saltBytes))}$${b64(randomBytes(keyBytes))}`;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const { ln, r, p } = DEFAULT;
  const hash = await scrypt(password, salt, KEY_BYTES, { N: 2 ** ln, r, p, maxmem: maxmem(ln, r) });
  return `$scrypt$ln=${ln},r=${r},p=${p}$${b64(salt)}$${b64(hash)}`;
}

/** Constant-time check of `password` against a hash from hashPassword. Malformed hashes verify as false. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed) return false;
  const { ln, r, p, salt, hash } = parsed;
  const candidate = await scrypt(password, salt, hash.length, { N: 2 ** ln, r, p, maxmem: maxmem(ln, r) });
  return candidate.length === hash.length && timingSafeEqual(candidate, hash);
}

/** Constant-time comparison of two strings of any length (compares SHA-256 digests). */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash("sha256").update(a, "utf8").digest();
  const db = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(da, db);
}

/**
 * Checks a login against a configured user, whichever of `password` (plain, from config/env) or
 * `passwordHash` it has. CalDAV clients send Basic credentials with every request, so successful
 * scrypt verifications are remembered (keyed by a SHA-256 of hash and password, never the password)
 * to keep each request from paying ~100 ms; failures are never cached.
 */
export async function checkUserPassword(
  user: { password?: string | undefined; passwordHash?: string | undefined },
  given: string,
): Promise<boolean> {
  if (user.passwordHash !== undefined) {
    const key = createHash("sha256").update(user.passwordHash).update("\0").update(given, "utf8").digest("base64");
    if (verified.has(key)) return true;
    const ok = await verifyPassword(given, user.passwordHash);
    if (ok) {
      if (verified.size >= VERIFIED_MAX) verified.delete(verified.values().next().value!);
      verified.add(key);
    }
    return ok;
  }
  if (user.password !== undefined) return safeEqual(given, user.password);
  return false;
}

const VERIFIED_MAX = 1000;
const verified = new Set<string>();
