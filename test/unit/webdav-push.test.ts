/**
 * WebDAV-Push units: reading push-register bodies (DAVx5's shape and the draft's), the push resource
 * address checks (https only; loopback/private refused unless allowed, including names that resolve
 * there and IPv4-mapped IPv6), and Push-Dont-Notify parsing.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseXml } from "../../src/xml/parse.ts";
import { parsePushRegister, PushRegisterRefused } from "../../src/dav/push.ts";
import { checkPushResource, guardedLookup, isPrivateAddress, PushAddressRefused } from "../../src/status/push-address.ts";
import { createServer, get } from "node:http";
import type { AddressInfo } from "node:net";
import { parseDontNotify } from "../../src/status/webpush.ts";
import { FIXTURES_DIR } from "../helpers/fixtures.ts";

const DAVX5 = readFileSync(join(FIXTURES_DIR, "webdav-push/davx5-push-register.xml"), "utf8");
const DRAFT = readFileSync(join(FIXTURES_DIR, "webdav-push/draft-push-register.xml"), "utf8");
const KEY = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH = "BTBZMqHH6r4Tts7J_aSIgg";
const fill = (tpl: string, o: Partial<Record<"resource" | "key" | "auth" | "expires", string>> = {}): string =>
  tpl.replace("{{push-resource}}", o.resource ?? "https://push.example.net/sub/abc").replace("{{subscription-public-key}}", o.key ?? KEY)
    .replace("{{auth-secret}}", o.auth ?? AUTH).replace("{{expires}}", o.expires ?? "Sat, 05 Dec 2026 10:00:00 GMT");
const parse = (xml: string) => parsePushRegister(parseXml(xml));
const refusal = (xml: string): PushRegisterRefused => {
  try {
    parse(xml);
  } catch (e) {
    if (e instanceof PushRegisterRefused) return e;
    throw e;
  }
  assert.fail("expected a refusal");
};

describe("push-register bodies", () => {
  test("DAVx5's body (no trigger, no content-encoding, subscription-public-key) is a content-update registration", () => {
    const r = parse(fill(DAVX5));
    assert.deepEqual(r.subscription, { pushResource: "https://push.example.net/sub/abc", contentEncoding: "aes128gcm", p256dh: KEY, auth: AUTH });
    assert.equal(r.expires?.toISOString(), "2026-12-05T10:00:00.000Z");
  });
  test("the draft's example (client-public-key, content-encoding, content and property triggers) is accepted", () => {
    const r = parse(DRAFT.replace("{{push-resource}}", "https://up.example.net/yohd4yai5Phiz1wi"));
    assert.equal(r.subscription.pushResource, "https://up.example.net/yohd4yai5Phiz1wi");
    assert.equal(r.subscription.p256dh, KEY);
    assert.equal(r.expires?.toUTCString(), "Wed, 20 Dec 2023 10:03:31 GMT");
  });
  test("without expires the server chooses", () => {
    assert.equal(parse(fill(DAVX5).replace(/<n0:expires>.*<\/n0:expires>/, "")).expires, null);
  });
  test("refusals name what was wrong", () => {
    const cases: [string, string, number, RegExp, string?][] = [
      ["http", fill(DAVX5, { resource: "http://push.example.net/x" }), 403, /https/, "invalid-subscription"],
      ["not a URL", fill(DAVX5, { resource: "push.example.net/x" }), 403, /absolute URL/, "invalid-subscription"],
      ["compressed key", fill(DAVX5, { key: Buffer.alloc(33, 2).toString("base64url") }), 403, /uncompressed P-256/, "invalid-subscription"],
      ["auth of 8 bytes", fill(DAVX5, { auth: Buffer.alloc(8, 1).toString("base64url") }), 403, /16 bytes/, "invalid-subscription"],
      ["auth not base64url", fill(DAVX5, { auth: "not base64!" }), 403, /16 bytes/, "invalid-subscription"],
      ["key type", fill(DAVX5).replace('type="p256dh"', 'type="x25519"'), 403, /p256dh/, "invalid-subscription"],
      ["no subscription", `<push-register xmlns="https://bitfire.at/webdav-push"/>`, 403, /web-push-subscription/, "invalid-subscription"],
      ["no push-resource", fill(DAVX5).replace(/<n0:push-resource>.*<\/n0:push-resource>/, ""), 403, /push-resource/, "invalid-subscription"],
      ["aesgcm", fill(DAVX5).replace("</n0:push-resource>", "</n0:push-resource><n0:content-encoding>aesgcm</n0:content-encoding>"), 403, /aes128gcm/, "invalid-subscription"],
      ["property trigger only", fill(DAVX5).replace("<n0:expires>", "<n0:trigger><n0:property-update/></n0:trigger><n0:expires>"), 403, /content-update/, "no-supported-trigger"],
      ["RFC 850 date", fill(DAVX5, { expires: "Saturday, 05-Dec-26 10:00:00 GMT" }), 400, /IMF-fixdate/],
      ["ISO date", fill(DAVX5, { expires: "2026-12-05T10:00:00Z" }), 400, /IMF-fixdate/],
    ];
    for (const [what, xml, status, re, condition] of cases) {
      const e = refusal(xml);
      assert.equal(e.status, status, what);
      assert.match(e.message, re, what);
      assert.equal(e.condition, condition ? `{https://bitfire.at/webdav-push}${condition}` : undefined, what);
    }
  });
});

describe("push resource addresses", () => {
  test("loopback, private, link-local, CGNAT, multicast, documentation and mapped addresses are not public", () => {
    for (const a of ["127.0.0.1", "127.8.9.1", "10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255",
      "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.1.1.1", "64:ff9b::10.0.0.1", "[::1]", "not-an-ip"]) {
      assert.equal(isPrivateAddress(a), true, a);
    }
    for (const a of ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8"]) {
      assert.equal(isPrivateAddress(a), false, a);
    }
  });

  const resolver = (map: Record<string, string[]>) => async (host: string): Promise<string[]> => {
    const r = map[host];
    if (!r) throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
    return r;
  };
  const dns = resolver({ "push.example.net": ["93.184.216.34", "2606:2800:220:1::1"], "sneaky.example.net": ["93.184.216.34", "10.0.0.7"], "intranet.example": ["192.168.0.10"] });
  const refused = async (url: string, allow: boolean, re: RegExp): Promise<void> => {
    await assert.rejects(checkPushResource(url, allow, dns), (e: unknown) => e instanceof PushAddressRefused && re.test(e.message), url);
  };

  test("https only, whatever allowPrivateEndpoints says; no credentials in the URL", async () => {
    await refused("http://push.example.net/x", false, /https/);
    await refused("http://127.0.0.1/x", true, /https/);
    await refused("ftp://push.example.net/x", true, /https/);
    await refused("https://user:pw@push.example.net/x", true, /credentials/);
    await refused("nope", true, /absolute URL/);
  });
  test("public names and addresses pass; loopback/private ones (literal or resolved, any of the addresses) are refused", async () => {
    assert.equal((await checkPushResource("https://push.example.net/x", false, dns)).hostname, "push.example.net");
    assert.ok(await checkPushResource("https://93.184.216.34:8443/x", false, dns));
    await refused("https://127.0.0.1/x", false, /loopback or private.*allowPrivateEndpoints/);
    await refused("https://[::1]:8443/x", false, /loopback or private/);
    await refused("https://[::ffff:192.168.0.1]/x", false, /loopback or private/);
    await refused("https://intranet.example/x", false, /192\.168\.0\.10/);
    await refused("https://sneaky.example.net/x", false, /10\.0\.0\.7/);
    await refused("https://unknown.example/x", false, /does not resolve \(ENOTFOUND\)/);
  });
  test("allowPrivateEndpoints lets loopback and private push services through", async () => {
    for (const u of ["https://127.0.0.1:8443/x", "https://[::1]/x", "https://intranet.example/x", "https://localhost/x"]) {
      assert.ok(await checkPushResource(u, true, dns), u);
    }
  });
});

describe("the connection-time check", () => {
  test("a name that resolves to loopback is refused when connecting, unless private endpoints are allowed", async () => {
    const server = createServer((_req, res) => res.end("ok")).listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const port = (server.address() as AddressInfo).port;
    const fetchVia = (allow: boolean) =>
      new Promise<string>((resolve, reject) => {
        get({ host: "localhost", port, path: "/", family: 4, lookup: guardedLookup(allow) as never }, (res) => {
          let b = "";
          res.on("data", (c: Buffer) => (b += c.toString()));
          res.on("end", () => resolve(b));
        }).on("error", reject);
      });
    try {
      await assert.rejects(fetchVia(false), (e: unknown) => e instanceof PushAddressRefused && /localhost resolves to 127\.0\.0\.1/.test(e.message));
      assert.equal(await fetchVia(true), "ok");
    } finally {
      server.close();
    }
  });
});

describe("Push-Dont-Notify", () => {
  test("quoted or bare registration URLs, absolute or not, comma-separated; * for all; others ignored", () => {
    assert.equal(parseDontNotify(undefined), null);
    assert.equal(parseDontNotify("  "), null);
    assert.equal(parseDontNotify("*"), "all");
    assert.deepEqual(parseDontNotify('"https://cal.example.com/dav/push/abc"'), new Set(["abc"]));
    assert.deepEqual(parseDontNotify('"https://cal.example.com/dav/push/abc", /dav/push/d_e-f ,"https://elsewhere/x/y"'), new Set(["abc", "d_e-f"]));
    assert.deepEqual(parseDontNotify("https://cal.example.com/dav/push/abc"), new Set(["abc"]), "unquoted, as older DAVx5 sends it");
  });
});
