/**
 * The Google emulator's push channels (§8), quotas and rate limits (§7, §11.6) and scripted faults.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ALICE, api, BOB, Clock, failure, raw, receiver, sample, setup, timed } from "./harness.ts";

const body = () => ({ summary: "x", ...timed("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z") });

describe("quotas and rate limits (§7, §11.6)", () => {
  it("per-user sliding window: 403 userRateLimitExceeded, recovers after a minute; patch costs 3", async (t) => {
    const clock = new Clock();
    const emu = await setup({ now: clock.now, quota: { perUserPerMinute: 5 } });
    t.after(() => emu.close());
    const { cal } = api(emu);
    for (let i = 0; i < 5; i++) await cal.events.list({ calendarId: "primary" });
    const over = await failure(cal.events.list({ calendarId: "primary" }));
    assert.equal(over.status, 403);
    assert.deepEqual(over.data.error.errors[0], { domain: "usageLimits", reason: "userRateLimitExceeded", message: "User Rate Limit Exceeded" });
    clock.advance(30_000);
    assert.equal((await failure(cal.events.list({ calendarId: "primary" }))).status, 403, "still inside the window (rejected calls count too)");
    clock.advance(60_001);
    const ev = (await cal.events.insert({ calendarId: "primary", requestBody: body() })).data;
    await cal.events.patch({ calendarId: "primary", eventId: ev.id!, requestBody: { summary: "y" } });
    await cal.events.get({ calendarId: "primary", eventId: ev.id! }); // 1 + 3 + 1 = 5 units
    assert.equal((await failure(cal.events.get({ calendarId: "primary", eventId: ev.id! }))).status, 403);
    assert.equal((await api(emu, undefined, BOB).cal.events.list({ calendarId: "primary" })).status, 200, "another user has their own window");
  });

  it("per-project window: rateLimitExceeded as 403 or 429", async (t) => {
    const emu = await setup({ quota: { perProjectPerMinute: 4 }, seed: 5 });
    t.after(() => emu.close());
    const a = (await api(emu).auth.getAccessToken()).token!;
    const b = (await api(emu, undefined, BOB).auth.getAccessToken()).token!;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await raw(emu, "GET", "calendar/v3/calendars/primary/events", { token: i % 2 ? a : b })).status);
    assert.deepEqual(statuses.slice(0, 4), [200, 200, 200, 200]);
    assert.ok(statuses.slice(4).every((s) => s === 403 || s === 429));
    assert.ok(statuses.includes(403) && statuses.includes(429), `both statuses occur: ${statuses}`);
  });

  it("§11.6 the storm answers rateLimitExceeded as 403 or 429; the SDK retries only the 429 on GETs", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    const a = api(emu);
    const token = (await a.auth.getAccessToken()).token!;
    emu.rateLimitStorm({ probability: 1 });
    const seen = new Map<number, any>();
    for (let i = 0; i < 16; i++) {
      const r = await raw(emu, "GET", "calendar/v3/calendars/primary/events", { token });
      seen.set(r.status, r.body);
    }
    assert.deepEqual([...seen.keys()].sort(), [403, 429]);
    assert.deepEqual(seen.get(403), sample("google-error-403-rateLimitExceeded.json").response.body);
    assert.equal(seen.get(429).error.errors[0].reason, "rateLimitExceeded");
    emu.rateLimitStorm(null);

    emu.resetRequests();
    emu.fault({ method: "GET", path: /\/events$/, status: 429, reason: "rateLimitExceeded" });
    assert.equal((await a.cal.events.list({ calendarId: "primary" })).status, 200);
    assert.deepEqual(emu.requests.map((r) => r.status), [429, 200], "gaxios retried the 429");
    emu.resetRequests();
    emu.fault({ method: "GET", path: /\/events$/, status: 403, reason: "rateLimitExceeded" });
    assert.equal((await failure(a.cal.events.list({ calendarId: "primary" }))).status, 403);
    assert.deepEqual(emu.requests.map((r) => r.status), [403], "no retry of the 403");
  });
});

describe("scripted faults", () => {
  it("a lost answer: the write is stored though the client saw a socket error", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    const { cal } = api(emu);
    emu.fault({ method: "POST", path: /\/events$/, status: 200, loseAnswer: true });
    const lost = await failure(cal.events.insert({ calendarId: "primary", requestBody: { id: "lostansv3r01", ...body() } }));
    assert.equal(lost.status, undefined, `a network error, not an HTTP answer (${lost.error.code ?? lost.error.message})`);
    assert.deepEqual(emu.events(ALICE).map((e) => e.id), ["lostansv3r01"]);
    assert.equal((await failure(cal.events.insert({ calendarId: "primary", requestBody: { id: "lostansv3r01", ...body() } }))).status, 409, "the retry collides with the stored write");

    emu.fault({ method: "POST", status: 503, times: 2 });
    assert.equal((await failure(cal.events.insert({ calendarId: "primary", requestBody: body() }))).status, 503);
    const second = await failure(cal.events.insert({ calendarId: "primary", requestBody: body() }));
    assert.equal(second.data.error.errors[0].reason, "backendError");
    assert.equal(emu.events(ALICE).length, 1, "faulted requests are not performed");
    assert.equal((await cal.events.insert({ calendarId: "primary", requestBody: body() })).status, 200, "faults are consumed");
    emu.fault({ path: /calendarList/, status: 410, reason: "fullSyncRequired" });
    assert.equal((await failure(cal.calendarList.list())).data.error.errors[0].location, "syncToken");
  });
});

describe("push notifications (§8, §11.8)", () => {
  it("watch → immediate sync, body-less exists on every change, stop, renewal with a new id", async (t) => {
    const emu = await setup({ requireHttpsWebhooks: false });
    const hook = await receiver();
    t.after(async () => {
      await emu.close();
      await hook.close();
    });
    const { cal } = api(emu);
    const ch = (await cal.events.watch({ calendarId: "primary", requestBody: { id: "chan-1", type: "web_hook", address: hook.url, token: "tok=1" } })).data;
    assert.equal(ch.kind, "api#channel");
    assert.equal(ch.id, "chan-1");
    assert.equal(ch.token, "tok=1");
    assert.match(ch.resourceUri!, /^https:\/\/www\.googleapis\.com\/calendar\/v3\/calendars\/alice%40example\.com\/events/);
    assert.equal(typeof ch.expiration, "string");
    assert.ok(Math.abs(Number(ch.expiration) - (Date.now() + 604_800_000)) < 60_000, "default ttl one week");
    const sync = await hook.next();
    assert.equal(sync.body, "");
    assert.equal(sync.headers["x-goog-resource-state"], "sync");
    assert.equal(sync.headers["x-goog-message-number"], "1");
    assert.equal(sync.headers["x-goog-channel-id"], "chan-1");
    assert.equal(sync.headers["x-goog-channel-token"], "tok=1");
    assert.equal(sync.headers["x-goog-resource-id"], ch.resourceId);
    assert.equal(sync.headers["x-goog-resource-uri"], ch.resourceUri);
    assert.equal(sync.headers["x-goog-channel-expiration"], new Date(Number(ch.expiration)).toUTCString());

    await cal.events.insert({ calendarId: "primary", requestBody: body() });
    const e1 = await hook.next();
    assert.equal(e1.headers["x-goog-resource-state"], "exists");
    assert.equal(e1.body, "");
    emu.insertEvent(ALICE, body()); // a change made in Google's web UI
    const e2 = await hook.next();
    assert.ok(Number(e2.headers["x-goog-message-number"]) > Number(e1.headers["x-goog-message-number"]));
    await emu.notify(ALICE);
    assert.equal((await hook.next()).headers["x-goog-resource-state"], "exists");

    assert.equal((await failure(cal.events.watch({ calendarId: "primary", requestBody: { id: "chan-1", type: "web_hook", address: hook.url } }))).status, 400, "duplicate channel id");
    const renewed = (await cal.events.watch({ calendarId: "primary", requestBody: { id: "chan-2", type: "web_hook", address: hook.url, params: { ttl: "3600" } } })).data;
    assert.equal(renewed.resourceId, ch.resourceId, "resourceId is stable per calendar");
    assert.ok(Math.abs(Number(renewed.expiration) - (Date.now() + 3_600_000)) < 60_000);
    assert.equal((await hook.next()).headers["x-goog-channel-id"], "chan-2");
    await emu.notify(ALICE);
    const overlap = [await hook.next(), await hook.next()].map((n) => n.headers["x-goog-channel-id"]).sort();
    assert.deepEqual(overlap, ["chan-1", "chan-2"], "both channels fire during the overlap");

    assert.equal((await failure(cal.channels.stop({ requestBody: { id: "chan-1", resourceId: "wrong" } }))).status, 404);
    assert.equal((await cal.channels.stop({ requestBody: { id: "chan-1", resourceId: ch.resourceId! } })).status, 204);
    await cal.channels.stop({ requestBody: { id: "chan-2", resourceId: ch.resourceId! } });
    const before = hook.all.length;
    await emu.notify(ALICE);
    emu.insertEvent(ALICE, body());
    await emu.notify(ALICE);
    assert.equal(hook.all.length, before, "stopped channels get nothing");
    assert.deepEqual(emu.channels.map((c) => [c.id, c.stopped]), [["chan-1", true], ["chan-2", true]]);
  });

  it("https required by default; 5xx answers are retried; dropped notifications; expired channels get nothing", async (t) => {
    const clock = new Clock(Date.now());
    const strict = await setup();
    const emu = await setup({ requireHttpsWebhooks: false, now: clock.now });
    let failFirst = 1;
    const hook = await receiver(() => (failFirst-- > 0 ? 503 : 200));
    t.after(async () => {
      await strict.close();
      await emu.close();
      await hook.close();
    });
    const refused = await failure(api(strict).cal.events.watch({ calendarId: "primary", requestBody: { id: "c", type: "web_hook", address: hook.url } }));
    assert.equal(refused.status, 400);
    assert.match(refused.data.error.message, /HTTPS/);
    const { cal } = api(emu);
    assert.equal((await failure(cal.events.watch({ calendarId: "primary", requestBody: { id: "c0", type: "email", address: hook.url } }))).status, 400);
    await cal.events.watch({ calendarId: "primary", requestBody: { id: "c1", type: "web_hook", address: hook.url, params: { ttl: "60" } } });
    const first = await hook.next();
    const retried = await hook.next();
    assert.equal(first.headers["x-goog-message-number"], "1");
    assert.equal(retried.headers["x-goog-message-number"], "1", "the sync message was redelivered after a 503");
    emu.dropNotifications({ probability: 1 });
    await emu.notify(ALICE);
    assert.equal(hook.all.length, 2, "a dropped notification never arrives");
    emu.dropNotifications(null);
    await emu.notify(ALICE);
    assert.equal((await hook.next()).headers["x-goog-resource-state"], "exists");
    clock.advance(61_000);
    await emu.notify(ALICE);
    assert.equal(hook.pending(), 0);
    assert.equal(hook.all.length, 3, "expired channels get nothing");
  });
});
