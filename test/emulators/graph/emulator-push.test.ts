/**
 * Graph emulator: throttling (reference §7, §11.5) seen through the Graph SDK's RetryHandler, and
 * change notifications (§8) with the validation handshake, delivered to a receiver on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { GraphEmulator } from "./index.ts";
import { BUDGET, Limits } from "./limits.ts";
import { ALICE, BOB, api, failure, raw, receiver, sample, setup } from "./harness.ts";

/** Waits (polling, with a deadline) until held requests have all reached the emulator. */
async function arrived(done: () => boolean, state: () => string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!done()) {
    if (Date.now() > end) assert.fail(`the requests did not all reach the emulator: ${state()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("Graph emulator: throttling", () => {
  let emu: GraphEmulator;
  before(async () => {
    emu = await setup();
  });
  after(() => emu.close());

  test("429 with a fractional Retry-After is retried by the SDK's RetryHandler", async () => {
    const { client } = api(emu);
    emu.resetRequests();
    emu.fault({ method: "GET", path: /\/me\/calendars$/, status: 429, retryAfter: "0.05" });
    const t0 = Date.now();
    const r = await client.api("/me/calendars").get();
    assert.equal(r.value.length, 1);
    assert.ok(Date.now() - t0 >= 50);
    assert.deepEqual(emu.requests.map((x) => [x.status, x.retryAttempt]), [[429, undefined], [200, 1]]);
  });

  test("throttle knob: TooManyRequests body of the sample; the SDK gives up after its retries", async () => {
    const { client, token } = api(emu);
    emu.throttle({ probability: 1, retryAfter: "0.01" });
    try {
      const direct = await raw(emu, "GET", "v1.0/me/calendars", { token });
      const s = sample("graph-error-429-throttled.json").response;
      assert.equal(direct.status, 429);
      assert.equal(direct.headers.get("retry-after"), "0.01");
      assert.equal(direct.body.error.code, s.body.error.code);
      assert.deepEqual(Object.keys(direct.body.error.innerError).sort(), Object.keys(s.body.error.innerError).sort());
      emu.resetRequests();
      const e = await failure(client.api("/me/calendars").get());
      assert.equal(e.statusCode, 429);
      assert.equal(e.code, "TooManyRequests");
      assert.equal(emu.requests.length, 4); // first try + 3 retries (RetryHandler default)
    } finally {
      emu.throttle(null);
    }
  });

  test("at most 4 concurrent requests per (app, mailbox): the 5th gets 429 ApplicationThrottled", async () => {
    const { token } = api(emu);
    const bob = api(emu, BOB).token;
    emu.resetRequests();
    // Every request waits inside the emulator until all seven are in: they overlap by construction.
    const release = emu.hold();
    try {
      const pending = Promise.all([
        ...Array.from({ length: 6 }, () => raw(emu, "GET", "v1.0/me/calendars", { token })),
        raw(emu, "GET", "v1.0/me/calendars", { token: bob }),
      ]);
      await arrived(() => emu.inFlight(ALICE) >= 6 && emu.inFlight(BOB) >= 1, () => `alice ${emu.inFlight(ALICE)}, bob ${emu.inFlight(BOB)}`);
      release();
      const rs = await pending;
      const throttled = rs.filter((r) => r.status === 429);
      assert.equal(throttled.length, 2);
      assert.equal(throttled[0]!.body.error.code, "ApplicationThrottled");
      assert.ok(throttled[0]!.headers.get("retry-after"));
      assert.equal(rs[6]!.status, 200, "another mailbox is not affected");
      const alice = emu.requests.filter((r) => r.upn === ALICE);
      assert.equal(Math.max(...alice.map((r) => r.concurrent)), 6);
      assert.deepEqual(alice.filter((r) => r.concurrent > 4).map((r) => r.status), [429, 429]);
    } finally {
      release();
    }
  });

  test("two overlapping writes to one event: the later gets 409 ErrorIrresolvableConflict", async () => {
    const { token } = api(emu);
    const ev = emu.createEvent(ALICE, emu.defaultCalendarId(ALICE), { subject: "Busy", start: { dateTime: "2026-03-02T10:00:00", timeZone: "UTC" }, end: { dateTime: "2026-03-02T11:00:00", timeZone: "UTC" } });
    const release = emu.hold();
    try {
      const pending = Promise.all([
        raw(emu, "PATCH", `v1.0/me/events/${ev.id}`, { token, body: { subject: "one" } }),
        raw(emu, "PATCH", `v1.0/me/events/${ev.id}`, { token, body: { subject: "two" } }),
      ]);
      await arrived(() => emu.inFlight(ALICE) >= 2, () => `alice ${emu.inFlight(ALICE)}`);
      release();
      const [a, b] = await pending;
      assert.deepEqual([a.status, b.status].sort(), [200, 409]);
      assert.equal((a.status === 409 ? a : b).body.error.code, "ErrorIrresolvableConflict");
    } finally {
      release();
    }
  });

  test("10,000 requests per 10 minutes per (app, mailbox)", () => {
    let t = 0;
    const l = new Limits(() => t, () => 0.5);
    for (let i = 0; i < BUDGET; i++) assert.equal(l.check("app\u0000alice", 1), undefined);
    const e = l.check("app\u0000alice", 1);
    assert.equal(e?.status, 429);
    assert.equal(e?.code, "TooManyRequests");
    assert.equal(l.check("app\u0000bob", 1), undefined);
    t += 10 * 60_000 + 1;
    assert.equal(l.check("app\u0000alice", 1), undefined);
  });

  test("scripted faults: 503 + Retry-After, lost answers", async () => {
    const { client, token } = api(emu);
    emu.fault({ path: /\/me\/calendars$/, status: 503, retryAfter: "0.01", times: 1 });
    assert.equal((await client.api("/me/calendars").get()).value.length, 1);
    emu.fault({ method: "POST", path: /\/events$/, status: 200, loseAnswer: true });
    const body = { subject: "Lost", transactionId: "lost-1", start: { dateTime: "2026-03-02T10:00:00", timeZone: "UTC" }, end: { dateTime: "2026-03-02T11:00:00", timeZone: "UTC" } };
    await assert.rejects(raw(emu, "POST", "v1.0/me/events", { token, body }));
    const retry = await raw(emu, "POST", "v1.0/me/events", { token, body });
    assert.equal(retry.status, 201);
    assert.equal(emu.events(ALICE, emu.defaultCalendarId(ALICE)).filter((e) => e.subject === "Lost").length, 1);
  });
});

describe("Graph emulator: change notifications", () => {
  let emu: GraphEmulator;
  let hook: Awaited<ReturnType<typeof receiver>>;
  let failNext = 0;
  before(async () => {
    emu = await setup({ requireHttpsWebhooks: false });
    hook = await receiver({ status: () => (failNext-- > 0 ? 500 : 202) });
  });
  after(async () => {
    await emu.close();
    await hook.close();
  });

  const expiry = (min: number) => new Date(Date.now() + min * 60_000).toISOString();

  test("create with the validation handshake; notifications on changes; renew; delete", async () => {
    const { client } = api(emu);
    const calId = emu.defaultCalendarId(ALICE);
    const sub = await client.api("/subscriptions").post({
      changeType: "created,updated,deleted", notificationUrl: `${hook.url}/notify`, lifecycleNotificationUrl: `${hook.url}/lifecycle`,
      resource: `me/calendars/${calId}/events`, expirationDateTime: expiry(4000), clientState: "s3cret",
    });
    assert.deepEqual(hook.handshakes, ["/notify", "/lifecycle"]);
    assert.equal(emu.subscriptions.length, 1);
    const ev = emu.createEvent(ALICE, calId, { subject: "Hello", start: { dateTime: "2026-03-02T10:00:00", timeZone: "UTC" }, end: { dateTime: "2026-03-02T11:00:00", timeZone: "UTC" } });
    const n = (await hook.next()).body.value[0];
    const { oid, tid } = emu.accountIds(ALICE);
    assert.equal(n.subscriptionId, sub.id);
    assert.equal(n.changeType, "created");
    assert.equal(n.clientState, "s3cret");
    assert.equal(n.tenantId, tid);
    assert.equal(n.resource, `Users/${oid}/Events/${ev.id}`);
    assert.deepEqual(n.resourceData, { "@odata.type": "#Microsoft.Graph.Event", "@odata.id": n.resource, "@odata.etag": ev["@odata.etag"], id: ev.id });

    // A 5xx answer is retried.
    failNext = 1;
    const hits = hook.hits();
    emu.updateEvent(ALICE, ev.id, { subject: "Hello again" });
    const u = (await hook.next()).body.value[0];
    assert.equal(u.changeType, "updated");
    assert.equal(hook.hits() - hits, 2);

    // Deleting one occurrence: only an `updated` on the series master (§8).
    const m = emu.createEvent(ALICE, calId, {
      subject: "Daily", start: { dateTime: "2026-03-02T09:00:00", timeZone: "UTC" }, end: { dateTime: "2026-03-02T09:30:00", timeZone: "UTC" },
      recurrence: { pattern: { type: "daily", interval: 1 }, range: { type: "numbered", startDate: "2026-03-02", numberOfOccurrences: 3 } },
    });
    assert.equal((await hook.next()).body.value[0].changeType, "created");
    await client.api(`/me/events/${emu.occurrenceId(ALICE, m.id, "2026-03-03")}`).delete();
    const c = (await hook.next()).body.value[0];
    assert.equal(c.changeType, "updated");
    assert.equal(c.resourceData.id, m.id);

    const renewed = await client.api(`/subscriptions/${sub.id}`).patch({ expirationDateTime: expiry(10_000) });
    assert.equal(Date.parse(renewed.expirationDateTime) > Date.parse(sub.expirationDateTime), true);
    await emu.lifecycle(sub.id, "reauthorizationRequired");
    const lc = await hook.next();
    assert.equal(lc.path, "/lifecycle");
    assert.equal(lc.body.value[0].lifecycleEvent, "reauthorizationRequired");

    await client.api(`/subscriptions/${sub.id}`).delete();
    assert.equal(emu.subscriptions[0]!.deleted, true);
    emu.deleteEvent(ALICE, ev.id);
    await emu.notify();
    assert.deepEqual(hook.queue, []);
  });

  test("mailbox-wide subscription (me/events) sees every calendar; subscriptionRemoved ends it", async () => {
    const { client } = api(emu);
    const other = emu.addCalendar(ALICE, { name: "Side" });
    const sub = await client.api("/subscriptions").post({
      changeType: "created", notificationUrl: `${hook.url}/all`, lifecycleNotificationUrl: `${hook.url}/lc`, resource: "me/events", expirationDateTime: expiry(60),
    });
    const ev = emu.createEvent(ALICE, other, { subject: "Side event", start: { dateTime: "2026-03-02T10:00:00", timeZone: "UTC" }, end: { dateTime: "2026-03-02T11:00:00", timeZone: "UTC" } });
    const n = await hook.next();
    assert.equal(n.path, "/all");
    assert.equal(n.body.value[0].resourceData.id, ev.id);
    emu.updateEvent(ALICE, ev.id, { subject: "not subscribed to updates" });
    emu.createEvent(BOB, emu.defaultCalendarId(BOB), { subject: "Bob's", start: { dateTime: "2026-03-02T10:00:00", timeZone: "UTC" }, end: { dateTime: "2026-03-02T11:00:00", timeZone: "UTC" } });
    await emu.notify(sub.id);
    assert.deepEqual(hook.queue, []);
    await emu.lifecycle(sub.id, "subscriptionRemoved");
    assert.equal((await hook.next()).body.value[0].lifecycleEvent, "subscriptionRemoved");
    assert.equal(emu.subscriptions.find((s) => s.id === sub.id)?.deleted, true);
    const gone = await failure(client.api(`/subscriptions/${sub.id}`).get());
    assert.equal(gone.statusCode, 404);
  });

  test("refusals: failed handshake, too long, http when https is required, other users' calendars", async () => {
    const { client } = api(emu);
    const bad = await receiver({ validate: () => ({ status: 200, body: "wrong" }) });
    try {
      const e = await failure(client.api("/subscriptions").post({ changeType: "updated", notificationUrl: bad.url, resource: "me/events", expirationDateTime: expiry(60) }));
      assert.equal(e.statusCode, 400);
      assert.match(e.message, /validation/i);
    } finally {
      await bad.close();
    }
    const long = await failure(client.api("/subscriptions").post({ changeType: "updated", notificationUrl: hook.url, resource: "me/events", expirationDateTime: expiry(10_081) }));
    assert.equal(long.statusCode, 400);
    const strict = await setup();
    const secure = await receiver({ tls: strict.serverTls });
    try {
      const e = await failure(api(strict).client.api("/subscriptions").post({ changeType: "updated", notificationUrl: hook.url, resource: "me/events", expirationDateTime: expiry(60) }));
      assert.equal(e.statusCode, 400);
      assert.match(e.message, /HTTPS/);
      // An https receiver serving the emulator's own certificate is accepted and notified.
      await api(strict).client.api("/subscriptions").post({ changeType: "created", notificationUrl: `${secure.url}/n`, resource: "me/events", expirationDateTime: expiry(60) });
      strict.createEvent(ALICE, strict.defaultCalendarId(ALICE), { subject: "TLS", start: { dateTime: "2026-03-02T10:00:00", timeZone: "UTC" }, end: { dateTime: "2026-03-02T11:00:00", timeZone: "UTC" } });
      assert.equal((await secure.next()).body.value[0].changeType, "created");
    } finally {
      await secure.close();
      await strict.close();
    }
    const other = await failure(api(emu, BOB).client.api("/subscriptions").post({ changeType: "updated", notificationUrl: hook.url, resource: `me/calendars/${emu.defaultCalendarId(ALICE)}/events`, expirationDateTime: expiry(60) }));
    assert.equal(other.statusCode, 404);
  });
});
