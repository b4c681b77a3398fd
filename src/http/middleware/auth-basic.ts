/**
 * HTTP Basic authentication against the configured users. Plain passwords are compared as SHA-256
 * digests in constant time; scrypt hashes are verified once and the success cached (keyed by an HMAC
 * with a per-process key) so a polling client does not pay scrypt on every request. Failed logins are
 * delayed and, past a threshold per (IP, username) pair or a higher one per IP (password spraying),
 * refused with 429 + Retry-After. Not per username alone: that would let anyone lock a user out.
 *
 * Whether a username exists must not show in the answer, nor in how long it takes. So every login
 * that is not a cached success does the same work, whoever it names:
 *  - when any user has a passwordHash, one scrypt verification with the parameters the configured
 *    hashes use (the most common ones): against the user's hash, or against a dummy hash no password
 *    matches, for unknown users and for users with a plain password (whose success is then cached
 *    like a hash user's, so a polling client pays it once);
 *  - then one constant-time digest comparison (against a dummy for unknown and hash users).
 * The throttle counts failures per (IP, username) and per IP whether the user exists or not, so its
 * delays and 429s are the same for a made-up name as for a real one.
 */
import { createHmac, randomBytes } from "node:crypto";
import { dummyPasswordHash, hashParams, safeEqual, verifyPassword, type HashParams } from "../../auth/password.ts";

export interface Credential {
  readonly username: string;
  readonly password?: string | undefined;
  readonly passwordHash?: string | undefined;
}

export type AuthResult =
  | { ok: true; username: string }
  | { ok: false; reason: "missing" | "invalid"; delayMs: number }
  | { ok: false; reason: "throttled"; retryAfterS: number };

interface Failures {
  count: number;
  first: number;
}

export interface ThrottleOptions {
  windowMs: number;
  /** Failures allowed per (IP, username) in the window. */
  maxFailures: number;
  /** Failures allowed per IP across all usernames in the window. */
  maxFailuresPerIp: number;
  delayStepMs: number;
  maxDelayMs: number;
}
export const DEFAULT_THROTTLE: ThrottleOptions = { windowMs: 15 * 60_000, maxFailures: 10, maxFailuresPerIp: 100, delayStepMs: 200, maxDelayMs: 2_000 };

export class BasicAuth {
  private readonly users = new Map<string, Credential>();
  private readonly cacheKey = randomBytes(32);
  private readonly verified = new Map<string, number>(); // hmac → expiry
  private readonly failures = new Map<string, Failures>();
  /** What unknown and plain-password users are verified against: null when no user has a hash (then nobody pays scrypt). */
  private readonly dummyHash: string | null;
  private readonly dummyPassword = randomBytes(32).toString("base64");

  constructor(credentials: readonly Credential[], private readonly throttle: ThrottleOptions = DEFAULT_THROTTLE) {
    for (const c of credentials) this.users.set(c.username, c);
    const params = commonParams(credentials);
    this.dummyHash = params ? dummyPasswordHash(params) : null;
  }

  async check(authorization: string | undefined, ip: string, now = Date.now()): Promise<AuthResult> {
    if (!authorization || !/^basic /i.test(authorization)) return { ok: false, reason: "missing", delayMs: 0 };
    const decoded = Buffer.from(authorization.slice(6).trim(), "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    const username = colon < 0 ? decoded : decoded.slice(0, colon);
    const password = colon < 0 ? "" : decoded.slice(colon + 1);
    const keys = [`pair:${ip}|${username}`, `ip:${ip}`];
    for (const k of keys) {
      const f = this.failures.get(k);
      const max = k.startsWith("ip:") ? this.throttle.maxFailuresPerIp : this.throttle.maxFailures;
      if (f && now - f.first < this.throttle.windowMs && f.count >= max) {
        return { ok: false, reason: "throttled", retryAfterS: Math.ceil((f.first + this.throttle.windowMs - now) / 1000) };
      }
    }
    if (await this.verify(username, password, now)) {
      this.failures.delete(keys[0]!);
      return { ok: true, username };
    }
    let worst = 0;
    for (const k of keys) {
      const f = this.failures.get(k);
      const next = f && now - f.first < this.throttle.windowMs ? { count: f.count + 1, first: f.first } : { count: 1, first: now };
      this.failures.set(k, next);
      if (k.startsWith("pair:")) worst = next.count;
    }
    if (this.failures.size > 100_000) this.prune(now);
    return { ok: false, reason: "invalid", delayMs: Math.min(this.throttle.maxDelayMs, worst * this.throttle.delayStepMs) };
  }

  private async verify(username: string, password: string, now: number): Promise<boolean> {
    const user = this.users.get(username);
    const stored = user?.passwordHash ?? this.dummyHash;
    // Only successes are cached, so a hit needs the right password and tells nothing new. Without
    // any hash configured (stored is null for every name alike) nothing is cached, nor keyed.
    const key = stored !== null ? createHmac("sha256", this.cacheKey).update(JSON.stringify([username, password])).digest("base64") : null;
    const exp = user && key !== null ? this.verified.get(key) : undefined;
    if (exp !== undefined && exp > now) return true;
    const hashOk = stored !== null ? await verifyPassword(password, stored) : false;
    const plainOk = safeEqual(password, user?.password ?? this.dummyPassword);
    const ok = user?.passwordHash !== undefined ? hashOk : user?.password !== undefined && plainOk;
    if (ok && key !== null) {
      if (this.verified.size > 10_000) this.verified.clear();
      this.verified.set(key, now + 10 * 60_000);
    }
    return ok;
  }

  private prune(now: number): void {
    for (const [k, f] of this.failures) if (now - f.first >= this.throttle.windowMs) this.failures.delete(k);
  }
}

/**
 * The scrypt parameters (and salt and key sizes) most of the configured hashes use, ties going to the
 * costlier; null when no user has a hash. Hashes made by `calgate hash-password` all share one set,
 * so a dummy with these costs what a real verification costs. (A user whose hash was made with other
 * parameters stays distinguishable by timing; rehash it to close that.)
 */
function commonParams(credentials: readonly Credential[]): HashParams | null {
  const counts = new Map<string, { params: HashParams; n: number }>();
  for (const c of credentials) {
    const params = c.passwordHash !== undefined ? hashParams(c.passwordHash) : null;
    if (!params) continue;
    const k = JSON.stringify(params);
    const e = counts.get(k) ?? { params, n: 0 };
    e.n++;
    counts.set(k, e);
  }
  const cost = (p: HashParams): number => 2 ** p.ln * p.r * p.p;
  let best: { params: HashParams; n: number } | null = null;
  for (const e of counts.values()) if (!best || e.n > best.n || (e.n === best.n && cost(e.params) > cost(best.params))) best = e;
  return best?.params ?? null;
}
