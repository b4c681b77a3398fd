/**
 * WebDAV-Push end to end against a push-service stub (test/helpers/push-service.ts) that checks the
 * VAPID token (RFC 8292) and decrypts every message (RFC 8291). The client side replays DAVx5's
 * request shapes: its Depth 1 PROPFIND of the home (corpus), its push-register body (fixture rebuilt
 * from DAVx5's source), its Push-Dont-Notify header and its DELETE of the registration URL.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { parseConfigText } from "../../src/config/load.ts";
import { startServer } from "../../src/main.ts";
import type { ServerHandle } from "../../src/cli/contract.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { parseXml } from "../../src/xml/parse.ts";
import { child, text } from "../../src/xml/tree.ts";
import { basic, dav, propsByHref } from "../helpers/inproc.ts";
import { CLIENT_REQUESTS_DIR, FIXTURES_DIR } from "../helpers/fixtures.ts";
import { PushServiceStub, type PushSubscriptionKeys, type ReceivedMessage } from "../helpers/push-service.ts";

const P = "{https://bitfire.at/webdav-push}";
const HOME = "/dav/calendars/alice/";
const DAVX5_HOME_PROPFIND = readFileSync(join(CLIENT_REQUESTS_DIR, "davx5/06-home-propfind.xml"), "utf8");
const DAVX5_REGISTER = readFileSync(join(FIXTURES_DIR, "webdav-push/davx5-push-register.xml"), "utf8");
const DRAFT_REGISTER = readFileSync(join(FIXTURES_DIR, "webdav-push/draft-push-register.xml"), "utf8");

/** The body DAVx5 sends (its expiry: three days from now, as an HTTP date). */
function davx5Register(sub: Pick<PushSubscriptionKeys, "endpoint" | "p256dh" | "auth">, expires = new Date(Date.now() + 3 * 86_400_000)): string {
  return DAVX5_REGISTER.replace("{{push-resource}}", sub.endpoint).replace("{{subscription-public-key}}", sub.p256dh).replace("{{auth-secret}}", sub.auth).replace("{{expires}}", expires.toUTCString());
}

const vevent = (uid: string, summary: string): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate push test//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20261201T000000Z", "DTSTART:20261210T100000Z", "DTEND:20261210T110000Z", `SUMMARY:${summary}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

/** topic and sync-token of a push message (DAVx5's PushMessageParser reads the topic). */
function parseMessage(m: ReceivedMessage): { topic: string; syncToken: string } {
  const root = parseXml(m.body);
  assert.equal(root.name, `${P}push-message`, m.body);
  const cu = child(root, `${P}content-update`);
  return { topic: text(child(root, `${P}topic`)!), syncToken: cu ? text(child(cu, "{DAV:}sync-token")!) : "" };
}

interface Server {
  handle: ServerHandle;
  base: string;
  db: Db;
}

async function start(dir: string, push: string, users?: string): Promise<Server> {
  const filename = join(dir, "db.sqlite");
  const yaml = `server: { host: 127.0.0.1, port: 0 }
storage: { client: sqlite, filename: ${filename} }
sync: { schedule: "0 0 1 1 *", jitterSeconds: 0 }
${push}
${users ?? `users:
  - username: alice
    password: secret-a
    sources: [{ id: home, type: local, calendars: [{ id: personal, name: Personal }, { id: work, name: Work }] }]
    merged:
      - { id: everything, name: Everything, include: ["home/*"] }
  - username: bob
    password: secret-b
    sources: [{ id: home, type: local, calendars: [{ id: personal, name: Personal }] }]
`}`;
  const handle = await startServer(parseConfigText(yaml, "push-test.yaml", {}), { configPath: null, generatedPassword: null, logger: pino({ level: process.env.TEST_LOG ?? "silent" }) });
  return { handle, base: handle.url.replace(/\/$/, ""), db: await openDb(filename) };
}
async function stop(s: Server): Promise<void> {
  await s.handle.close();
  await s.db.destroy();
}

/** The DAVx5 home listing: href → { topic, vapid key, sync-token }. */
async function davx5Listing(s: Server): Promise<Map<string, { topic: string; vapid: string; vapidType: string }>> {
  const r = await dav(s.base, "PROPFIND", HOME, { body: DAVX5_HOME_PROPFIND, headers: { depth: "1" } });
  assert.equal(r.status, 207, r.body);
  const out = new Map<string, { topic: string; vapid: string; vapidType: string }>();
  for (const [href, e] of propsByHref(r.xml())) {
    const topic = e.props.get(`${P}topic`);
    const transports = e.props.get(`${P}transports`);
    if (!topic || !/200/.test(topic.status)) continue;
    const key = child(child(transports!.el, `${P}web-push`)!, `${P}vapid-public-key`)!;
    out.set(href, { topic: text(topic.el), vapid: text(key), vapidType: key.attrs.type ?? "" });
  }
  return out;
}

async function syncToken(s: Server, path: string): Promise<string> {
  const r = await dav(s.base, "PROPFIND", path, { body: `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:sync-token/></d:prop></d:propfind>`, headers: { depth: "0" } });
  return text(child(child(child(child(r.xml(), "{DAV:}response")!, "{DAV:}propstat")!, "{DAV:}prop")!, "{DAV:}sync-token")!);
}

async function register(s: Server, path: string, sub: PushSubscriptionKeys, body = davx5Register(sub)): Promise<{ status: number; location: string; expires: string; body: string }> {
  const r = await dav(s.base, "POST", path, { body });
  return { status: r.status, location: r.headers.get("location") ?? "", expires: r.headers.get("expires") ?? "", body: r.body };
}

describe("WebDAV-Push to DAVx5-shaped clients", () => {
  let stub: PushServiceStub;
  let s: Server;
  let dir: string;
  before(async () => {
    stub = await PushServiceStub.start();
    dir = mkdtempSync(join(tmpdir(), "calgate-push-"));
    s = await start(dir, `push: { allowPrivateEndpoints: true, caCert: ${stub.caCertPath} }`);
  });
  after(async () => {
    await stop(s);
    await stub.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("discovery: webdav-push in the DAV header; DAVx5's home PROPFIND gets transports (VAPID key) and a topic per calendar", async () => {
    const o = await dav(s.base, "OPTIONS", `${HOME}home-personal/`);
    assert.match(o.headers.get("dav") ?? "", /(^|,\s*)webdav-push(\s*,|$)/);
    assert.match(o.headers.get("allow") ?? "", /\bPOST\b/);
    const listing = await davx5Listing(s);
    assert.deepEqual([...listing.keys()].sort(), [`${HOME}everything/`, `${HOME}home-personal/`, `${HOME}home-work/`], "every calendar, merged ones too");
    const values = [...listing.values()];
    assert.equal(values.length, 3);
    assert.equal(new Set(values.map((v) => v.topic)).size, 3, "one topic per collection");
    assert.ok(values.every((v) => /^[A-Za-z0-9_-]{16,32}$/.test(v.topic)), "topics fit the Web Push Topic header");
    assert.equal(new Set(values.map((v) => v.vapid)).size, 1, "one VAPID key for the server");
    assert.equal(values[0]!.vapidType, "p256ecdsa");
    const key = Buffer.from(values[0]!.vapid, "base64url");
    assert.ok(key.length === 65 && key[0] === 4, "uncompressed P-256 point");
    const st = await dav(s.base, "PROPFIND", `${HOME}home-personal/`, { body: `<d:propfind xmlns:d="DAV:" xmlns:p="https://bitfire.at/webdav-push"><d:prop><p:supported-triggers/></d:prop></d:propfind>`, headers: { depth: "0" } });
    assert.match(st.body, /content-update/);
    assert.match(st.body, /sync-level[^>]*>1</);
  });

  test("push-register as DAVx5 sends it (no trigger): 201 + absolute Location + Expires; a change brings one encrypted, VAPID-signed message with the topic and new sync-token", async () => {
    const listing = await davx5Listing(s);
    const { topic, vapid } = listing.get(`${HOME}home-personal/`)!;
    const sub = stub.subscribe(vapid); // restricted to the advertised VAPID key, as DAVx5 creates it
    const asked = new Date(Math.floor(Date.now() / 1000) * 1000 + 3 * 86_400_000);
    const r = await register(s, `${HOME}home-personal/`, sub, davx5Register(sub, asked));
    assert.equal(r.status, 201, r.body);
    assert.match(r.location, new RegExp(`^${s.base}/dav/push/[A-Za-z0-9_-]+$`));
    assert.equal(r.expires, asked.toUTCString(), "the expiry asked for (within the server's limit)");
    // Renewal: the same registration (same Location), a new expiry.
    const later = new Date(asked.getTime() + 86_400_000);
    const again = await register(s, `${HOME}home-personal/`, sub, davx5Register(sub, later));
    assert.equal(again.status, 201);
    assert.equal(again.location, r.location);
    assert.equal(again.expires, later.toUTCString());

    const put = await dav(s.base, "PUT", `${HOME}home-personal/first.ics`, { body: vevent("first", "First") });
    assert.equal(put.status, 201, put.body);
    const m = await stub.next(sub.id);
    const msg = parseMessage(m);
    assert.equal(msg.topic, topic);
    assert.equal(msg.syncToken, await syncToken(s, `${HOME}home-personal/`), "the sync-token after the change");
    assert.equal(m.vapid.k, vapid, "signed with the advertised VAPID key");
    assert.equal(m.vapid.aud, stub.origin);
    assert.equal(m.headers.topic, topic, "Topic header: a newer message replaces an undelivered one");
    assert.deepEqual(stub.errors, []);
    // A change to another calendar does not wake this registration.
    await dav(s.base, "PUT", `${HOME}home-work/w.ics`, { body: vevent("w", "Work") });
    await dav(s.base, "PUT", `${HOME}home-personal/second.ics`, { body: vevent("second", "Second") });
    const m2 = await stub.next(sub.id, { skip: 1 });
    assert.equal(parseMessage(m2).syncToken, await syncToken(s, `${HOME}home-personal/`));
    assert.equal(stub.received(sub.id).length, 2, "the work calendar's change sent nothing here");
    const metrics = (await dav(s.base, "GET", "/metrics")).body;
    const sent = Number(/^calgate_webdav_push_messages_total\{outcome="sent"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
    assert.ok(sent >= 2, `the metric counts the messages sent (${sent})`);
  });

  test("Push-Dont-Notify: the client that made the change is not woken by it; others are", async () => {
    const path = `${HOME}home-work/`;
    const a = stub.subscribe();
    const b = stub.subscribe();
    const ra = await register(s, path, a);
    assert.equal((await register(s, path, b)).status, 201);
    await dav(s.base, "PUT", `${path}dn1.ics`, { body: vevent("dn1", "From A"), headers: { "push-dont-notify": `"${ra.location}"` } });
    const token1 = await syncToken(s, path);
    assert.equal(parseMessage(await stub.next(b.id)).syncToken, token1, "B hears of A's change");
    await dav(s.base, "DELETE", `${path}dn1.ics`, {});
    const token2 = await syncToken(s, path);
    // Messages of a collection go out in order: A's first message is the second change's.
    assert.equal(parseMessage(await stub.next(a.id)).syncToken, token2);
    assert.equal(stub.received(a.id).length, 1, "A got nothing for its own change");
    // "*" withholds from every registration of the collection.
    await dav(s.base, "PUT", `${path}dn2.ics`, { body: vevent("dn2", "Quiet"), headers: { "push-dont-notify": "*" } });
    await dav(s.base, "PUT", `${path}dn3.ics`, { body: vevent("dn3", "Loud") });
    const token4 = await syncToken(s, path);
    assert.equal(parseMessage(await stub.next(b.id, { skip: 2 })).syncToken, token4);
    assert.equal(stub.received(b.id).length, 3, "nothing for the change made with Push-Dont-Notify: *");
  });

  test("registrations can be deleted and expire; a subscription the push service forgot (410) is removed", async () => {
    const path = `${HOME}home-personal/`;
    const gone = stub.subscribe();
    const expired = stub.subscribe();
    const deleted = stub.subscribe();
    const sentinel = stub.subscribe();
    for (const x of [gone, expired, deleted, sentinel]) assert.equal((await register(s, path, x)).status, 201);
    const regOf = async (x: PushSubscriptionKeys) => s.db("webpush_registrations").where({ push_resource: x.endpoint }).first();
    const del = (await s.db("webpush_registrations").where({ push_resource: deleted.endpoint }).first()).id as string;
    const delUrl = `/dav/push/${del}`;
    assert.equal((await dav(s.base, "DELETE", delUrl, { auth: basic("bob", "secret-b") })).status, 404, "another user's registration is not found");
    assert.equal((await dav(s.base, "DELETE", delUrl, {})).status, 204);
    assert.equal((await dav(s.base, "DELETE", delUrl, {})).status, 404, "gone after the first DELETE");
    assert.equal((await dav(s.base, "DELETE", delUrl, { auth: null })).status, 401);
    // The registration's expiry passes (the clock is moved by moving the row's expiry).
    await s.db("webpush_registrations").where({ push_resource: expired.endpoint }).update({ expires_at: Date.now() - 1000 });
    stub.answer(gone.id, 410);
    const before = stub.received(sentinel.id).length;
    await dav(s.base, "PUT", `${path}exp.ics`, { body: vevent("exp", "After expiry") });
    await stub.next(sentinel.id, { skip: before });
    assert.equal(stub.received(expired.id).length, 0, "an expired registration is never used");
    assert.equal(stub.received(deleted.id).length, 0, "a deleted registration is never used");
    const expiredId = (await regOf(expired)).id as string;
    assert.equal((await dav(s.base, "DELETE", `/dav/push/${expiredId}`, {})).status, 404, "an expired registration answers 404");
    // The 410 was answered before the sentinel's message went out? Not necessarily: wait for the removal.
    const deadline = Date.now() + 10_000;
    while (await regOf(gone)) {
      if (Date.now() > deadline) assert.fail("the registration the push service answered 410 for was not removed");
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  test("refusals: http or malformed push resources, missing keys, other encodings, unsupported triggers, bad expiry, other bodies", async () => {
    const path = `${HOME}home-personal/`;
    const sub = stub.subscribe();
    const cases: [string, string, number, RegExp][] = [
      ["http push resource", davx5Register({ ...sub, endpoint: sub.endpoint.replace("https:", "http:") }), 403, /invalid-subscription[\s\S]*https/],
      ["relative push resource", davx5Register({ ...sub, endpoint: "/push/x" }), 403, /invalid-subscription/],
      ["no keys", davx5Register(sub).replace(/<n0:subscription-public-key[\s\S]*<\/n0:auth-secret>/, ""), 403, /invalid-subscription[\s\S]*RFC 8291/],
      ["short auth secret", davx5Register({ ...sub, auth: "AAAA" }), 403, /auth-secret/],
      ["aesgcm", davx5Register(sub).replace("</n0:push-resource>", "</n0:push-resource><n0:content-encoding>aesgcm</n0:content-encoding>"), 403, /aes128gcm/],
      ["property-update only", davx5Register(sub).replace("<n0:expires>", "<n0:trigger><n0:property-update/></n0:trigger><n0:expires>"), 403, /no-supported-trigger/],
      ["expires not an HTTP date", davx5Register(sub).replace(/<n0:expires>[^<]*/, "<n0:expires>tomorrow"), 400, /IMF-fixdate/],
      ["expires in the past", davx5Register(sub, new Date(Date.now() - 86_400_000)), 400, /past/],
      ["not push-register", `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"/>`, 400, /push-register/],
    ];
    for (const [what, body, status, re] of cases) {
      const r = await register(s, path, sub, body);
      assert.equal(r.status, status, `${what}: ${r.body}`);
      assert.match(r.body, re, what);
    }
    assert.equal((await register(s, HOME, sub)).status, 405, "POST on the home");
    // The draft's own example (client-public-key, content-encoding, a trigger with content updates) is accepted.
    const draft = await register(s, path, sub, DRAFT_REGISTER.replace("{{push-resource}}", sub.endpoint).replace("Wed, 20 Dec 2023 10:03:31 GMT", new Date(Date.now() + 86_400_000).toUTCString()));
    assert.equal(draft.status, 201, draft.body);
    assert.equal(await s.db("webpush_registrations").where({ push_resource: sub.endpoint }).count({ n: "*" }).first().then((r) => Number(r!.n)), 1);

    // At most 50 push resources per calendar (each change costs a message per resource); renewals still pass.
    const calId = (await s.db("webpush_registrations").where({ push_resource: sub.endpoint }).first()).calendar_id as number;
    const count = async (): Promise<number> => Number((await s.db("webpush_registrations").where({ calendar_id: calId }).count({ n: "*" }).first())!.n);
    for (let i = await count(); i < 50; i++) assert.equal((await register(s, path, { ...sub, endpoint: `${stub.origin}/push/filler-${i}` })).status, 201);
    const over = await register(s, path, { ...sub, endpoint: `${stub.origin}/push/one-too-many` });
    assert.equal(over.status, 403);
    assert.match(over.body, /already has 50 push registrations/);
    assert.equal((await register(s, path, sub)).status, 201, "a renewal is not a new registration");
    await s.db("webpush_registrations").where("push_resource", "like", "%/push/filler-%").delete();
  });

  test("a merged calendar's registrations hear of changes to the calendars it combines", async () => {
    const listing = await davx5Listing(s);
    const { topic } = listing.get(`${HOME}everything/`)!;
    const sub = stub.subscribe();
    assert.equal((await register(s, `${HOME}everything/`, sub)).status, 201);
    await dav(s.base, "PUT", `${HOME}home-work/merged-1.ics`, { body: vevent("merged-1", "Into work") });
    const m = await stub.next(sub.id);
    assert.equal(parseMessage(m).topic, topic);
    const r = await dav(s.base, "REPORT", `${HOME}everything/`, { body: `<d:sync-collection xmlns:d="DAV:"><d:sync-token>${parseMessage(m).syncToken}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`, headers: { depth: "1" } });
    assert.equal(r.status, 207, "the message's sync-token is one the merged calendar accepts");
  });

  test("the VAPID key pair and the topics survive a restart", async () => {
    const beforeRestart = await davx5Listing(s);
    await stop(s);
    s = await start(dir, `push: { allowPrivateEndpoints: true, caCert: ${stub.caCertPath} }`);
    const afterRestart = await davx5Listing(s);
    assert.deepEqual([...afterRestart.entries()].sort(), [...beforeRestart.entries()].sort());
  });
});

describe("WebDAV-Push with the default configuration", () => {
  let stub: PushServiceStub;
  let s: Server;
  let dir: string;
  before(async () => {
    stub = await PushServiceStub.start();
    dir = mkdtempSync(join(tmpdir(), "calgate-push-default-"));
    s = await start(dir, "");
  });
  after(async () => {
    await stop(s);
    await stub.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("is on, and refuses push resources on loopback addresses (push.allowPrivateEndpoints is false)", async () => {
    assert.equal((await davx5Listing(s)).size, 3, "every calendar offers push");
    const sub = stub.subscribe();
    for (const endpoint of [sub.endpoint, sub.endpoint.replace("127.0.0.1", "localhost"), "https://[::1]:9/push/x", "https://10.1.2.3/push/x", "https://192.168.1.1/x"]) {
      const r = await register(s, `${HOME}home-personal/`, { ...sub, endpoint });
      assert.equal(r.status, 403, `${endpoint}: ${r.body}`);
      assert.match(r.body, /invalid-subscription[\s\S]*loopback or private/, endpoint);
    }
    assert.equal(await s.db("webpush_registrations").count({ n: "*" }).first().then((r) => Number(r!.n)), 0);
  });
});
