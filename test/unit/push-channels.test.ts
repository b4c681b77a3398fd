/**
 * sync/push.ts without timing: a notification is trusted only with its subscription's secret, a
 * handshake triggers nothing, a change triggers one (debounced) sync, and a subscription the provider
 * ended ("lost") is stopped and replaced at once.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import { openDb } from "../../src/store/db.ts";
import { ChannelStore } from "../../src/store/channels.ts";
import { CalendarStore } from "../../src/store/calendars.ts";
import { PushChannels } from "../../src/sync/push.ts";
import type { Catalog } from "../../src/sync/catalog.ts";
import type { PushSubscription, RemoteCalendar, SourceAdapter } from "../../src/sources/adapter.ts";
import { memoryContext } from "../helpers/memory-upstream.ts";

async function world(othersAlive = false) {
  const db = await openDb(":memory:");
  const calendars = new CalendarStore(db);
  const channels = new ChannelStore(db);
  await calendars.create({ owner: "alice", name: "work-team", sourceId: "work", sourceCalendarId: "team@cal", components: ["VEVENT"] });
  const opened: string[] = [];
  const stopped: string[] = [];
  let n = 0;
  const adapter = {
    watch: async (cal: RemoteCalendar): Promise<PushSubscription> => {
      const id = `sub-${++n}`;
      opened.push(`${id} ${cal.id}`);
      return { id, expiresAt: Date.now() + 7 * 86_400_000, secret: `secret-${n}`, data: null };
    },
    unwatch: async (sub: { id: string }) => void stopped.push(sub.id),
  } as unknown as SourceAdapter;
  const catalog = {
    adapter: () => adapter,
    source: () => ({ id: "work", type: "google" }),
    context: () => memoryContext(),
    remote: (row: { source_calendar_id: string }) => ({ id: row.source_calendar_id }) as RemoteCalendar,
  } as unknown as Catalog;
  const triggered: string[] = [];
  let fire: (() => void) | null = null;
  const fired = new Promise<void>((r) => (fire = r));
  const push = new PushChannels({
    catalog, calendars, channels, publicUrl: "https://cal.example.com/", log: pino({ level: "silent" }),
    trigger: (owner, source, reason) => {
      triggered.push(`${owner}/${source} ${reason}`);
      fire?.();
    },
    othersAlive: async () => othersAlive,
  });
  return { db, channels, push, opened, stopped, triggered, fired };
}

test("a notice needs its subscription's secret; a handshake triggers nothing; a change one sync", async () => {
  const w = await world();
  await w.push.ensure("alice", "work");
  assert.deepEqual(w.opened, ["sub-1 team@cal"]);
  assert.equal(await w.push.notice({ subscriptionId: "sub-1", secret: "forged", kind: "change" }), "forbidden");
  assert.equal(await w.push.notice({ subscriptionId: "sub-1", secret: null, kind: "change" }), "forbidden");
  assert.equal(await w.push.notice({ subscriptionId: "nope", secret: "secret-1", kind: "change" }), "unknown");
  assert.equal(await w.push.notice({ subscriptionId: "sub-1", secret: "secret-1", kind: "handshake" }), "ignored");
  assert.deepEqual(w.triggered, [], "nothing scheduled yet");
  assert.equal(await w.push.notice({ subscriptionId: "sub-1", secret: "secret-1", kind: "change" }), "accepted");
  assert.equal(await w.push.notice({ subscriptionId: "sub-1", secret: "secret-1", kind: "change" }), "accepted");
  await w.fired;
  assert.deepEqual(w.triggered, ["alice/work push"], "two notices, one sync");
  await w.push.close();
  assert.deepEqual(w.stopped, ["sub-1"], "stopped on close");
  await w.db.destroy();
});

test("a subscription the provider ended is stopped and replaced at once", async () => {
  const w = await world();
  await w.push.ensure("alice", "work");
  assert.equal(await w.push.notice({ subscriptionId: "sub-1", secret: "secret-1", kind: "lost" }), "accepted");
  await w.push.ensure("alice", "work"); // joins the replacement already running
  assert.deepEqual(w.stopped, ["sub-1"]);
  assert.deepEqual((await w.channels.bySource("alice", "work")).map((c) => c.id), ["sub-2"]);
  await w.fired;
  await w.push.close();
  await w.db.destroy();
});

test("subscriptions of a source no longer configured are forgotten at start-up (they cannot be stopped without its credentials)", async () => {
  const w = await world();
  await w.channels.add({ id: "orphan", owner: "alice", sourceId: "gone", calendarId: "x@cal", secret: "s", data: null, expiresAt: Date.now() + 86_400_000 });
  const catalog = { source: (_o: string, id: string) => (id === "work" ? { id: "work", type: "google" } : null) } as unknown as Catalog;
  const push = new PushChannels({ catalog, calendars: new CalendarStore(w.db), channels: w.channels, publicUrl: "https://cal.example.com/", log: pino({ level: "silent" }), trigger: () => {} });
  await push.forgetOrphans();
  assert.equal(await w.channels.byId("orphan"), null);
  await w.db.destroy();
});

test("with another instance alive on the database, shutdown keeps the subscriptions (the other one receives them)", async () => {
  const w = await world(true);
  await w.push.ensure("alice", "work");
  await w.push.close();
  assert.deepEqual(w.stopped, [], "nothing stopped");
  assert.deepEqual((await w.channels.bySource("alice", "work")).map((c) => c.id), ["sub-1"], "still in the database");
  await w.db.destroy();
});
