import assert from "node:assert/strict";
import { test } from "node:test";
import { checkUserPassword, hashPassword, isPasswordHash, safeEqual, verifyPassword } from "../../src/auth/password.ts";

test("hashPassword → verifyPassword round trip; wrong password is false", async () => {
  const hash = await hashPassword("correct horse battery staple");
  assert.match(hash, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.equal(isPasswordHash(hash), true);
  assert.equal(await verifyPassword("correct horse battery staple", hash), true);
  assert.equal(await verifyPassword("correct horse battery stapler", hash), false);
  assert.equal(await verifyPassword("", hash), false);
});

test("the same password hashes differently each time (random salt); unicode works", async () => {
  const [a, b] = await Promise.all([hashPassword("pässwörd 🔑"), hashPassword("pässwörd 🔑")]);
  assert.notEqual(a, b);
  assert.equal(await verifyPassword("pässwörd 🔑", b), true);
});

test("hashing stays fast enough for a login (< 500 ms even on a slow CI machine)", async () => {
  const t0 = performance.now();
  await hashPassword("x");
  assert.ok(performance.now() - t0 < 500);
});

test("malformed or foreign hashes are not hashes and never verify", async () => {
  for (const s of [
    "",
    "plain",
    "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    "$2b$12$abcdefghijklmnopqrstuuWZ0kM3Vh4Vbq5yOqN9Zc1rKc8sOV8mS",
    "$scrypt$ln=40,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "$scrypt$ln=15,r=8,p=1$short$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  ]) {
    assert.equal(isPasswordHash(s), false, s);
    assert.equal(await verifyPassword("x", s), false, s);
  }
});

test("checkUserPassword handles plain passwords and hashes", async () => {
  const hash = await hashPassword("pw1");
  assert.equal(await checkUserPassword({ passwordHash: hash }, "pw1"), true);
  assert.equal(await checkUserPassword({ passwordHash: hash }, "pw1"), true); // cached path
  assert.equal(await checkUserPassword({ passwordHash: hash }, "pw2"), false);
  assert.equal(await checkUserPassword({ password: "pw1" }, "pw1"), true);
  assert.equal(await checkUserPassword({ password: "pw1" }, "pw1 "), false);
  assert.equal(await checkUserPassword({}, "pw1"), false);
  assert.equal(safeEqual("a", "a"), true);
  assert.equal(safeEqual("a", "ab"), false);
});
