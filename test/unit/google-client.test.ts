/** The Google adapter's pure parts: request budgets, series grouping and versions, error classification. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SlidingWindowBudget, type Clock } from "../../src/sources/budget.ts";
import { groupSeries, isLive, parseVersion, versionOf, withoutMark, WRITE_MARK, writeMarkOf } from "../../src/sources/google/groups.ts";
import { failureOf, upstreamErrorOf } from "../../src/sources/google/errors.ts";
import { AuthRequired, CursorExpired, NotFoundUpstream, Permanent, PreconditionFailedUpstream, RateLimited, Transient } from "../../src/sources/adapter.ts";
import { rootUrlOf } from "../../src/sources/google/client.ts";
import { parseConfigText } from "../../src/config/load.ts";

function fakeClock(): Clock & { t: number; slept: number[] } {
  const c = {
    t: 0,
    slept: [] as number[],
    now: () => c.t,
    sleep: async (ms: number) => {
      c.slept.push(ms);
      c.t += ms;
    },
  };
  return c;
}

test("a sliding one-minute budget lets `limit` requests through, then waits until the oldest leaves the window", async () => {
  const clock = fakeClock();
  const b = new SlidingWindowBudget(3, 60_000, clock);
  for (let i = 0; i < 3; i++) {
    assert.equal(await b.take(1), 0);
    clock.t += 1_000;
  }
  // t = 3 s: the first request (t = 0) leaves the window at 60 s.
  assert.equal(await b.take(1), 57_000);
  assert.equal(clock.t, 60_000);
  assert.equal(b.waitFor(1), 1_000, "the next one waits for the second request (t = 1 s) to leave");
  assert.equal(b.waitFor(4), 60_000, "more than the limit at once waits a whole window");
});

test("a budget spends weighted units (events.patch costs 3)", async () => {
  const clock = fakeClock();
  const b = new SlidingWindowBudget(5, 60_000, clock);
  await b.take(3);
  assert.equal(b.waitFor(2), 0);
  assert.equal(b.waitFor(3), 60_000);
});

const ev = (id: string, etag: string, extra: Record<string, unknown> = {}) => ({ id, etag, ...extra });

test("events group into series by recurringEventId; the version changes when any exception changes", () => {
  const items = [
    ev("m1", '"1"', { recurrence: ["RRULE:FREQ=DAILY"] }),
    ev("x1", '"2"', { recurringEventId: "m1", originalStartTime: { dateTime: "2026-01-02T10:00:00Z" } }),
    ev("s1", '"3"'),
    ev("x2", '"4"', { recurringEventId: "m1", status: "cancelled" }),
    ev("o1", '"5"', { recurringEventId: "gone-master" }),
  ];
  const g = groupSeries(items);
  assert.deepEqual([...g.keys()].sort(), ["gone-master", "m1", "s1"]);
  assert.equal(versionOf(g.get("s1")!), '"3"', "a plain event's version is its etag");
  const v = versionOf(g.get("m1")!);
  assert.deepEqual(parseVersion(v), { m: '"1"', x: new Map([["x1", '"2"'], ["x2", '"4"']]) });
  const changed = groupSeries([...items.slice(0, 1), ev("x1", '"9"', { recurringEventId: "m1" }), items[3]!]);
  assert.notEqual(versionOf(changed.get("m1")!), v);
  assert.equal(isLive(g.get("gone-master")!), true, "an orphan instance is live");
  assert.equal(isLive(groupSeries([ev("d", '"1"', { status: "cancelled" })]).get("d")!), false);
});

test("the write marker is bookkeeping: stable per text, and stripped before translation", () => {
  assert.equal(writeMarkOf("A"), writeMarkOf("A"));
  assert.notEqual(writeMarkOf("A"), writeMarkOf("B"));
  const e = { id: "a", extendedProperties: { private: { [WRITE_MARK]: "x", keep: "1" } } };
  assert.deepEqual(withoutMark(e).extendedProperties, { private: { keep: "1" } });
});

test("Google errors map to the typed upstream errors", () => {
  const gerr = (status: number, reason: string) => ({ response: { status, data: { error: { errors: [{ domain: "global", reason, message: reason }], code: status, message: reason } } } });
  const map = (e: unknown) => upstreamErrorOf(failureOf(e), "events.list", "work", 1000);
  assert.ok(map(gerr(403, "rateLimitExceeded")) instanceof RateLimited);
  assert.ok(map(gerr(403, "userRateLimitExceeded")) instanceof RateLimited);
  assert.ok(map(gerr(429, "rateLimitExceeded")) instanceof RateLimited);
  assert.ok(map(gerr(403, "forbiddenForNonOrganizer")) instanceof Permanent);
  assert.ok(map(gerr(410, "fullSyncRequired")) instanceof CursorExpired);
  assert.ok(map(gerr(410, "updatedMinTooLongAgo")) instanceof CursorExpired);
  assert.ok(map(gerr(410, "deleted")) instanceof NotFoundUpstream);
  assert.ok(map(gerr(412, "conditionNotMet")) instanceof PreconditionFailedUpstream);
  assert.ok(map(gerr(500, "backendError")) instanceof Transient);
  assert.ok(map({ code: "ECONNRESET", message: "socket hang up" }) instanceof Transient);
  const grant = map({ response: { status: 400, data: { error: "invalid_grant", error_description: "Token has been expired or revoked." } } });
  assert.ok(grant instanceof AuthRequired);
  assert.match(grant.message, /calgate auth google work/);
});

test("apiUrl must be the Calendar API base; the client library gets its root", () => {
  assert.equal(rootUrlOf("https://www.googleapis.com/calendar/v3"), "https://www.googleapis.com/");
  assert.equal(rootUrlOf("http://127.0.0.1:9/calendar/v3/"), "http://127.0.0.1:9/");
  assert.throws(() => rootUrlOf("https://example.com/api"), /must end with \/calendar\/v3/);
});

test("check-config refuses a Google apiUrl that is not the Calendar API base, naming the line and what was expected", () => {
  const yaml = (api: string) => `secretKey: abcdefghijklmnopqrstuvwxyz0123456789abcd\nusers:\n  - username: a\n    password: x\n    sources:\n      - { id: work, type: google, clientId: c, clientSecret: s, apiUrl: "${api}" }\n`;
  assert.throws(() => parseConfigText(yaml("https://example.com/api"), "g.yaml", {}), /g\.yaml:6:.*apiUrl: expected the Calendar API base URL, ending with \/calendar\/v3/);
  assert.doesNotThrow(() => parseConfigText(yaml("http://127.0.0.1:9/calendar/v3"), "g.yaml", {}));
});
