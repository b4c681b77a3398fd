/**
 * Username enumeration by timing (defect 12). A failed Basic login for a username that does not
 * exist must cost what a failed login for an existing user costs. The work is counted in scrypt
 * derivations (src/auth/password.ts counts them), not wall time: timed assertions are flaky on a
 * shared CI machine. One loose timing comparison (medians within a factor of 4) backs it up.
 * The throttle's delays and 429s must not differ between existing and made-up names either.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { hashPassword, scryptDerivations } from "../../src/auth/password.ts";
import { BasicAuth, type AuthResult } from "../../src/http/middleware/auth-basic.ts";
import { basic, dav, startInproc, type InprocServer } from "../helpers/inproc.ts";

/** Scrypt derivations `fn` started. */
async function derivationsOf(fn: () => Promise<unknown>): Promise<number> {
  const before = scryptDerivations();
  await fn();
  return scryptDerivations() - before;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe("failed logins cost the same for unknown and existing users", () => {
  let auth: BasicAuth;
  let hash: string;
  before(async () => {
    hash = await hashPassword("right-hash");
    auth = new BasicAuth([
      { username: "hashed", passwordHash: hash },
      { username: "plain", password: "right-plain" },
    ]);
  });

  test("an unknown user and a known user with a wrong password run the same number of scrypt derivations", async () => {
    // A fresh IP per attempt so the throttle never answers before the password is checked.
    let ip = 0;
    const fail = (user: string) => auth.check(basic(user, "wrong"), `198.51.100.${++ip}`);
    const unknown = await derivationsOf(() => fail("nobody"));
    const hashed = await derivationsOf(() => fail("hashed"));
    const plain = await derivationsOf(() => fail("plain"));
    assert.equal(hashed, 1, "a wrong password for a user with a passwordHash runs one scrypt verification");
    assert.equal(unknown, hashed, "an unknown user costs as many scrypt derivations as a known one (no timing oracle)");
    assert.equal(plain, hashed, "a user with a plain password costs the same too (else plain users stand out from unknown ones)");
    // Usernames that differ from a real one only slightly are unknown users like any other.
    assert.equal(await derivationsOf(() => fail("hashed ")), hashed);
    assert.equal(await derivationsOf(() => fail("")), hashed);
  });

  test("the right passwords still log in, and a repeated success is cached (no scrypt)", async () => {
    const ok = (await auth.check(basic("hashed", "right-hash"), "192.0.2.10")) as AuthResult;
    assert.deepEqual(ok, { ok: true, username: "hashed" });
    assert.equal(await derivationsOf(() => auth.check(basic("hashed", "right-hash"), "192.0.2.10")), 0);
    assert.deepEqual(await auth.check(basic("plain", "right-plain"), "192.0.2.10"), { ok: true, username: "plain" });
    assert.equal(await derivationsOf(() => auth.check(basic("plain", "right-plain"), "192.0.2.10")), 0);
    // Another user's password, or the hash itself as a password, is no login.
    assert.equal((await auth.check(basic("plain", "right-hash"), "192.0.2.11")).ok, false);
    assert.equal((await auth.check(basic("hashed", hash), "192.0.2.11")).ok, false);
  });

  test("the dummy uses the configured scrypt parameters (loose timing check, medians within 4x)", async () => {
    const time = async (user: string, i: number): Promise<number> => {
      const t0 = performance.now();
      await auth.check(basic(user, `wrong-${i}`), `203.0.113.${i}`);
      return performance.now() - t0;
    };
    const unknown: number[] = [];
    const known: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await time("hashed", i));
      unknown.push(await time("nobody", 100 + i));
    }
    const [u, k] = [median(unknown), median(known)];
    assert.ok(u > k / 4 && u < k * 4, `median failed login: unknown user ${u.toFixed(1)} ms, known user ${k.toFixed(1)} ms`);
  });

  test("with plain passwords only, nobody pays scrypt and the comparison does not depend on the user existing", async () => {
    const plainOnly = new BasicAuth([{ username: "p", password: "pw" }]);
    assert.equal(await derivationsOf(() => plainOnly.check(basic("p", "nope"), "192.0.2.20")), 0);
    assert.equal(await derivationsOf(() => plainOnly.check(basic("q", "nope"), "192.0.2.21")), 0);
    assert.deepEqual(await plainOnly.check(basic("p", "pw"), "192.0.2.22"), { ok: true, username: "p" });
    assert.equal((await plainOnly.check(basic("p", "pw "), "192.0.2.22")).ok, false);
  });

  test("throttle delays and 429s are the same for an unknown user as for a known one", async () => {
    const throttle = { windowMs: 60_000, maxFailures: 4, maxFailuresPerIp: 100, delayStepMs: 100, maxDelayMs: 300 };
    const a = new BasicAuth([{ username: "hashed", passwordHash: hash }], throttle);
    const seq = async (user: string, ip: string): Promise<unknown[]> => {
      const out: unknown[] = [];
      for (let i = 0; i < 6; i++) out.push(await a.check(basic(user, "wrong"), ip, 1_000_000));
      return out;
    };
    const known = await seq("hashed", "192.0.2.30");
    const unknown = await seq("nobody", "192.0.2.31");
    assert.deepEqual(unknown, known);
    assert.deepEqual(known.map((r) => (r as { reason: string }).reason), ["invalid", "invalid", "invalid", "invalid", "throttled", "throttled"]);
  });
});

describe("over HTTP: a login for an unknown user does the same scrypt work as a wrong password", () => {
  let srv: InprocServer;
  before(async () => {
    const hash = await hashPassword("secret-h");
    srv = await startInproc(`users:
  - username: hashed
    passwordHash: "${hash}"
    sources: [{ id: local, type: local, calendars: [{ id: personal, name: Personal }] }]
  - username: plain
    password: secret-p
    sources: [{ id: local, type: local, calendars: [{ id: personal, name: Personal }] }]
`);
  });
  after(async () => srv?.stop());

  test("PROPFIND /dav/ with bad credentials: same status, same body, same derivations", { timeout: 60_000 }, async () => {
    const replies: Record<string, { status: number; body: string; n: number }> = {};
    for (const user of ["hashed", "plain", "nobody"]) {
      let r!: Awaited<ReturnType<typeof dav>>;
      const n = await derivationsOf(async () => {
        r = await dav(srv.url, "PROPFIND", "/dav/", { auth: basic(user, "wrong"), headers: { depth: "0" } });
      });
      replies[user] = { status: r.status, body: r.body, n };
    }
    assert.deepEqual(replies.nobody, replies.hashed);
    assert.deepEqual(replies.plain, replies.hashed);
    assert.equal(replies.hashed!.n, 1);
    assert.equal((await dav(srv.url, "PROPFIND", "/dav/", { auth: basic("hashed", "secret-h"), headers: { depth: "0" } })).status, 207);
  });
});
