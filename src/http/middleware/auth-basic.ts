/**
 * HTTP Basic authentication against the configured users. Plain passwords are compared as SHA-256
 * digests in constant time; scrypt hashes are verified once and the success cached (keyed by an HMAC
 * with a per-process key) so a polling client does not pay scrypt on every request. Failed logins are
 * delayed and, past a threshold per (IP, username) pair or a higher one per IP (password spraying),
 * refused with 429 + Retry-After. Not per username alone: that would let anyone lock a user out.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { verifyPassword } from "../../auth/password.ts";

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
const DEFAULT_THROTTLE: ThrottleOptions = { windowMs: 15 * 60_000, maxFailures: 10, maxFailuresPerIp: 100, delayStepMs: 200, maxDelayMs: 2_000 };

const sha = (s: string): Buffer => createHash("sha256").update(s).digest();

export class BasicAuth {
  private readonly users = new Map<string, Credential>();
  private readonly cacheKey = randomBytes(32);
  private readonly verified = new Map<string, number>(); // hmac → expiry
  private readonly failures = new Map<string, Failures>();
  private readonly dummyHash = sha("calgate-no-such-user");

  constructor(credentials: readonly Credential[], private readonly throttle: ThrottleOptions = DEFAULT_THROTTLE) {
    for (const c of credentials) this.users.set(c.username, c);
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
    if (!user) {
      // Same work as a plain-password user, so timing does not reveal which usernames exist.
      timingSafeEqual(sha(password), this.dummyHash);
      return false;
    }
    if (user.password !== undefined) return timingSafeEqual(sha(password), sha(user.password));
    if (user.passwordHash === undefined) return false;
    const key = createHmac("sha256", this.cacheKey).update(username).update("\0").update(password).digest("base64");
    const exp = this.verified.get(key);
    if (exp !== undefined && exp > now) return true;
    const ok = await verifyPassword(password, user.passwordHash);
    if (ok) {
      if (this.verified.size > 10_000) this.verified.clear();
      this.verified.set(key, now + 10 * 60_000);
    }
    return ok;
  }

  private prune(now: number): void {
    for (const [k, f] of this.failures) if (now - f.first >= this.throttle.windowMs) this.failures.delete(k);
  }
}
