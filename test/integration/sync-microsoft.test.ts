/**
 * A Microsoft source end to end: calgate serving CalDAV in this process, its Graph adapter talking to
 * the Graph emulator (test/emulators/graph, HTTPS with a test CA) through the official SDK and MSAL with
 * only the URLs changed. Covers: initial import (single, all-day, the sample's relativeMonthly series
 * with an exception and a cancelled occurrence), Outlook-side changes reaching a CalDAV client's
 * sync-collection, write-through of client PUT/DELETE (an override and an EXDATE included), a refused
 * RRULE, read-only calendars, 412 conflicts, delta resets (410 and syncStateNotFound), a lost answer to
 * a create, expired and revoked sign-ins, a 429 storm during a 5,000-event import, and subscriptions.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { startGraphEmulator, type GraphEmulator } from "../emulators/graph/index.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { startServer } from "../../src/main.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { SecretStore } from "../../src/store/secrets.ts";
import { SecretBox } from "../../src/auth/crypto.ts";
import { MicrosoftAdapter } from "../../src/sources/microsoft/adapter.ts";
import type { MicrosoftSourceConfig } from "../../src/config/schema.ts";
import { graphSource, GRAPH_CLIENT_ID, signIn } from "../helpers/graph-source.ts";
import { col, freePort, objects, req, summaries, syncCollection, syncNow, unfold, uidOf, until, vevent, type World } from "../helpers/dav-world.ts";

const UPN = "alice@contoso.example";
const SECRET_KEY = "microsoft-test-secret-key-0123456789abcdef";
const WEU = "W. Europe Standard Time";

/** One sign-in per process (the device code flow has its own test); copied into each world's store. */
let signedIn: Map<string, string> | null = null;

async function startWorld(opts: { push?: boolean; seed?: number } = {}): Promise<World & { emu: GraphEmulator; team: string; holidays: string; primary: string }> {
  const emu = await startGraphEmulator({ seed: opts.seed ?? 7, requireHttpsWebhooks: false, deviceCodeIntervalSec: 1 });
  emu.addClient(GRAPH_CLIENT_ID);
  emu.addAccount(UPN, { timeZone: WEU });
  const team = emu.addCalendar(UPN, { name: "Team", hexColor: "#9fe1e7" });
  const holidays = emu.addCalendar(UPN, { name: "Holidays", color: "lightGreen", canEdit: false });
  const dir = mkdtempSync(join(tmpdir(), "calgate-microsoft-"));
  const filename = join(dir, "db.sqlite");
  const db = await openDb(filename);
  const secrets = await signIn(emu, graphSource(emu), UPN);
  signedIn ??= secrets;
  const store = new SecretStore(db, SecretBox.fromSecretKey(SECRET_KEY));
  for (const [k, v] of secrets) await store.put("alice", "office", k, v);
  const port = await freePort();
  const publicUrl = opts.push ? `, publicUrl: "http://127.0.0.1:${port}/"` : "";
  const yaml = `server: { host: 127.0.0.1, port: ${port}${publicUrl} }
storage: { client: sqlite, filename: ${filename} }
secretKey: ${SECRET_KEY}
sync: { schedule: "0 0 1 1 *", jitterSeconds: 0 }
users:
  - username: alice
    password: secret-a
    sources:
      - { id: office, type: microsoft, clientId: ${GRAPH_CLIENT_ID}, authority: "${emu.authority}", apiUrl: "${emu.apiUrl}", caCert: "${emu.caCertPath}", window: { pastDays: 730, futureDays: 730 } }
`;
  const config = parseConfigText(yaml, "microsoft-test.yaml", {});
  const server = await startServer(config, {
    configPath: null, generatedPassword: null, logger: pino({ level: process.env.TEST_LOG ?? "silent" }),
    // Short backoff steps, so storms and faults take milliseconds rather than seconds.
    adapters: { microsoft: (s, d) => new MicrosoftAdapter(s as MicrosoftSourceConfig, { timeoutMs: d.timeoutMs, backoffBaseMs: 5, maxAttempts: 8 }) },
  });
  return { emu, server, db, dir, base: server.url.replace(/\/$/, ""), team, holidays, primary: emu.defaultCalendarId(UPN) };
}

async function stopWorld(w: World & { emu: GraphEmulator }): Promise<void> {
  await w.server.close();
  await w.db.destroy();
  await w.emu.close();
  rmSync(w.dir, { recursive: true, force: true });
}

const sourceRow = (w: World) => w.db("sources").where({ owner: "alice", id: "office" }).first();
const utc = (d: string) => ({ dateTime: d, timeZone: "UTC" });
const at = (d: string) => ({ dateTime: d, timeZone: WEU });

describe("Microsoft source against the emulator", () => {
  let w: Awaited<ReturnType<typeof startWorld>>;
  let masterId = "";
  before(async () => {
    w = await startWorld();
  });
  after(async () => {
    if (w) await stopWorld(w);
  });

  test("initial import: calendars with names, colours and canEdit; singles, all-day and the sample series", async () => {
    w.emu.createEvent(UPN, w.team, { subject: "Kick-off", start: at("2026-12-14T09:00:00"), end: at("2026-12-14T10:00:00") });
    w.emu.createEvent(UPN, w.team, { subject: "Offsite", isAllDay: true, start: at("2026-12-17T00:00:00"), end: at("2026-12-19T00:00:00") });
    const master = w.emu.createEvent(UPN, w.team, {
      subject: "Ops sync", start: at("2025-01-14T10:00:00"), end: at("2025-01-14T11:00:00"),
      recurrence: { pattern: { type: "relativeMonthly", interval: 1, daysOfWeek: ["tuesday"], index: "second" }, range: { type: "endDate", startDate: "2025-01-14", endDate: "2025-06-10" } },
    });
    masterId = master.id;
    w.emu.updateEvent(UPN, w.emu.occurrenceId(UPN, master.id, "2025-03-11"), { subject: "Ops sync (moved to Wednesday)", start: at("2025-03-12T14:00:00"), end: at("2025-03-12T15:00:00") });
    w.emu.deleteEvent(UPN, w.emu.occurrenceId(UPN, master.id, "2025-02-11"));
    w.emu.createEvent(UPN, w.holidays, { subject: "Holiday", isAllDay: true, start: utc("2026-12-25T00:00:00"), end: utc("2026-12-26T00:00:00") });
    await syncNow(w);

    const home = await req(`${w.base}/dav/calendars/alice/`, "PROPFIND", `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:a="http://apple.com/ns/ical/"><d:prop><d:displayname/><a:calendar-color/></d:prop></d:propfind>`, { depth: "1" });
    assert.equal(home.status, 207);
    for (const c of ["office-team/", "office-holidays/", "office-primary/"]) assert.ok(home.body.includes(c), `${c} in ${home.body}`);
    assert.match(home.body, /#9FE1E7/i, "hexColor");
    assert.match(home.body, /#87D28E/i, "the colour enum mapped to hex");

    const team = await objects(col(w, "office-team"));
    assert.deepEqual(summaries(team), ["Kick-off", "Offsite", "Ops sync", "Ops sync (moved to Wednesday)"]);
    const ops = unfold([...team.values()].find((i) => i.includes("Ops sync (moved"))!);
    assert.match(ops, /RRULE:FREQ=MONTHLY;[^\r\n]*BYDAY=2TU/);
    assert.match(ops, /RECURRENCE-ID[^:]*:20250311T1000/, "the exception is an override in the same object");
    assert.match(ops, /EXDATE[^:]*:20250211/, "the cancelled occurrence is an EXDATE");
    const offsite = unfold([...team.values()].find((i) => i.includes("Offsite"))!);
    assert.match(offsite, /DTSTART;VALUE=DATE:20261217/);
    assert.match(offsite, /DTEND;VALUE=DATE:20261219/);
  });

  test("read-only calendars (canEdit false) refuse writes with 403 before anything reaches Graph", async () => {
    w.emu.resetRequests();
    const r = await req(`${col(w, "office-holidays")}new.ics`, "PUT", vevent("ro-1@calgate.test", "Not allowed"));
    assert.equal(r.status, 403, r.body);
    const [name] = (await objects(col(w, "office-holidays"))).keys();
    assert.equal((await req(`${col(w, "office-holidays")}${name}`, "DELETE")).status, 403);
    assert.equal(w.emu.requests.filter((x) => x.method !== "GET").length, 0, "no write request reached Graph");
  });

  test("Outlook-side changes reach a CalDAV client's sync-collection", async () => {
    const url = col(w, "office-team");
    const start = await syncCollection(url, "");
    const ev = (s: string) => w.emu.events(UPN, w.team).find((e) => e.subject === s);
    w.emu.updateEvent(UPN, ev("Kick-off").id, { subject: "Kick-off (room 2)" });
    w.emu.deleteEvent(UPN, ev("Offsite").id);
    w.emu.createEvent(UPN, w.team, { subject: "Retro", start: utc("2026-12-18T15:00:00"), end: utc("2026-12-18T16:00:00") });
    await syncNow(w);
    const delta = await syncCollection(url, start.token);
    assert.equal(delta.changed.length, 2, `changed: ${delta.changed.join(", ")}`);
    assert.equal(delta.removed.length, 1, `removed: ${delta.removed.join(", ")}`);
    assert.deepEqual(summaries(await objects(url)), ["Kick-off (room 2)", "Ops sync", "Ops sync (moved to Wednesday)", "Retro"]);
  });

  test("client PUT and DELETE are written through; an override and an EXDATE reach their occurrences", async () => {
    const url = col(w, "office-team");
    const put = await req(`${url}phone-1.ics`, "PUT", vevent("phone-1@calgate.test", "Dentist", ["DTSTART;TZID=Europe/Zurich:20261211T140000", "DTEND;TZID=Europe/Zurich:20261211T150000", "LOCATION:Main St 1"]), { "if-none-match": "*" });
    assert.ok(put.status === 201 || put.status === 204, `${put.status} ${put.body}`);
    const dentist = await until("the event at Graph", async () => w.emu.events(UPN, w.team).find((e) => e.subject === "Dentist"));
    assert.equal(dentist.location.displayName, "Main St 1");
    assert.equal((await req(`${url}phone-1.ics`, "GET")).body.includes("UID:phone-1@calgate.test"), true, "the UID is kept");

    const [name, ics] = [...(await objects(url))].find(([, i]) => i.includes("SUMMARY:Ops sync\r\n"))!;
    const override = ["BEGIN:VEVENT", `UID:${uidOf(ics)}`, "DTSTAMP:20261201T000000Z", "RECURRENCE-ID;TZID=Europe/Berlin:20250513T100000", "DTSTART;TZID=Europe/Berlin:20250513T130000", "DTEND;TZID=Europe/Berlin:20250513T140000", "SUMMARY:Ops sync (May, afternoon)", "END:VEVENT"].join("\r\n");
    const changed = unfold(ics).replace(/(RRULE:FREQ=MONTHLY[^\r\n]*\r\n)/, "$1EXDATE;TZID=Europe/Berlin:20250408T100000\r\n").replace("END:VCALENDAR", `${override}\r\nEND:VCALENDAR`);
    const etag = (await req(`${url}${name}`, "GET")).headers.get("etag")!;
    const r = await req(`${url}${name}`, "PUT", changed, { "if-match": etag });
    assert.ok(r.status === 204 || r.status === 201, `${r.status} ${r.body}`);
    await until("the override at Graph", async () => w.emu.events(UPN, w.team).find((e) => e.subject === "Ops sync (May, afternoon)" && e.seriesMasterId === masterId));
    const occ = w.emu.occurrenceId(UPN, masterId, "2025-04-08");
    await until("the April occurrence cancelled", async () => !w.emu.events(UPN, w.team).some((e) => e.id === occ) && (await objects(url)).get(name)?.includes("20250408"));

    assert.equal((await req(`${url}phone-1.ics`, "DELETE")).status, 204);
    await until("the delete at Graph", async () => w.emu.events(UPN, w.team).every((e) => e.subject !== "Dentist"));
  });

  test("an RRULE Graph cannot express is refused with a CalDAV error naming it, and nothing reaches Graph", async () => {
    w.emu.resetRequests();
    const r = await req(`${col(w, "office-team")}hourly.ics`, "PUT", vevent("hourly@calgate.test", "Every hour", ["DTSTART:20261210T100000Z", "DTEND:20261210T103000Z", "RRULE:FREQ=HOURLY;COUNT=5"]));
    assert.ok(r.status >= 400 && r.status < 500, `${r.status} ${r.body}`);
    assert.match(r.body, /HOURLY/, r.body);
    assert.equal(w.emu.requests.filter((x) => x.method === "POST").length, 0, "no create reached Graph");
  });

  test("a stale client ETag is 412; a write over a change made in Outlook is merged (policy merge): both edits kept on both sides", async () => {
    const url = col(w, "office-team");
    const [name, ics] = [...(await objects(url))].find(([, i]) => i.includes("Retro"))!;
    const etag = (await req(`${url}${name}`, "GET")).headers.get("etag")!;
    assert.equal((await req(`${url}${name}`, "PUT", ics.replace("SUMMARY:Retro", "SUMMARY:Retro v2"), { "if-match": '"not-the-etag"' })).status, 412);
    const retro = w.emu.events(UPN, w.team).find((e) => e.subject === "Retro");
    w.emu.updateEvent(UPN, retro.id, { body: { contentType: "text", content: "changed in Outlook" } });
    const mine = await req(`${url}${name}`, "PUT", ics.replace("SUMMARY:Retro", "SUMMARY:Retro (phone)"), { "if-match": etag });
    assert.ok(mine.status === 204 || mine.status === 201, `${mine.status} ${mine.body}`);
    assert.equal(mine.headers.get("etag"), null, "no ETag: calgate stores the merged version, not what was sent");
    const atGraph = w.emu.events(UPN, w.team).find((e) => e.id === retro.id);
    assert.equal(atGraph.subject, "Retro (phone)");
    assert.match(JSON.stringify(atGraph.body), /changed in Outlook/);
    const conflict = (await w.db("conflicts").select()).find((c) => String(c.ours).includes("Retro (phone)"));
    assert.ok(conflict, "the conflict is recorded with both versions");
    assert.equal(conflict.outcome, "merged");
    assert.match(String(conflict.result), /Retro \(phone\)/);
  });

  for (const how of ["410", "syncStateNotFound", "resyncRequired"] as const) {
    test(`delta reset (${how}): a full resync with neither duplicates nor losses`, async () => {
      const url = col(w, "office-team");
      const before = await objects(url);
      w.emu.resetDelta(w.team, how);
      w.emu.createEvent(UPN, w.team, { subject: `After ${how}`, start: utc("2026-12-21T15:00:00"), end: utc("2026-12-21T16:00:00") });
      w.emu.resetRequests();
      await syncNow(w);
      const now = await objects(url);
      assert.deepEqual(summaries(now), [...summaries(before), `After ${how}`].sort());
      assert.equal(new Set([...now.values()].map(uidOf)).size, now.size, "no duplicate UID");
      assert.ok(w.emu.requests.some((r) => r.status === (how === "syncStateNotFound" ? 400 : 410)), "the emulator refused the stale token");
    });
  }

  test("a lost answer to a create: one event at Graph (transactionId), the write confirmed", async () => {
    w.emu.fault({ method: "POST", path: /\/events$/, status: 201, loseAnswer: true, times: 1 });
    const put = await req(`${col(w, "office-team")}lost.ics`, "PUT", vevent("lost-answer@calgate.test", "Lost answer"));
    assert.ok(put.status < 300, `${put.status} ${put.body}`);
    await until("the write to be confirmed", async () => (await w.db("outbox").where({ object_name: "lost.ics" }).whereNot({ state: "done" })).length === 0 && (await w.db("outbox").where({ object_name: "lost.ics", state: "done" })).length > 0);
    assert.equal(w.emu.events(UPN, w.team).filter((e) => e.subject === "Lost answer").length, 1, "no duplicate at Graph");
    assert.equal((await w.db("conflicts").select()).filter((c) => JSON.stringify(c).includes("Lost answer")).length, 0, "not taken for a conflict");
  });

  test("an idle poll costs one delta request per calendar plus the calendar list", async () => {
    await syncNow(w); // settle
    w.emu.resetRequests();
    await syncNow(w);
    const calls = w.emu.requests.filter((r) => r.path.startsWith("/v1.0")).map((r) => `${r.method} ${r.path.replace(/calendars\/[^/]+/, "calendars/{id}")}`);
    assert.equal(calls.filter((c) => c.endsWith("/me/calendars")).length, 1, calls.join("\n"));
    assert.equal(calls.filter((c) => c.endsWith("/calendarView/delta")).length, 3, calls.join("\n"));
    assert.equal(calls.length, 4, calls.join("\n"));
    console.log(`# idle poll: ${calls.length} Graph requests for 3 calendars`);
  });

  test("an access token Graph stopped accepting early is refreshed on the 401, and the sync goes on", async () => {
    w.emu.expireAccessTokens();
    const before = w.emu.tokenRequests();
    await syncNow(w);
    assert.equal((await sourceRow(w)).status, "ok");
    assert.ok(w.emu.tokenRequests() > before, "a refresh was forced");
  });

  test("a revoked sign-in marks the source auth_required with the command that fixes it, without a retry loop", async () => {
    w.emu.revokeAll(UPN);
    w.emu.expireAccessTokens();
    await syncNow(w);
    const row = await sourceRow(w);
    assert.equal(row.status, "auth_required");
    assert.match(row.status_message, /calgate auth microsoft office/);
    w.emu.resetRequests();
    const tokens = w.emu.tokenRequests();
    await syncNow(w);
    await syncNow(w);
    assert.equal(w.emu.requests.filter((r) => r.path.startsWith("/v1.0")).length, 0, "no Graph request while the sign-in is refused");
    assert.equal(w.emu.tokenRequests(), tokens, "the refused sign-in is not tried again");
  });
});

describe("Microsoft: a 429 storm during a 5,000-event import", () => {
  let w: Awaited<ReturnType<typeof startWorld>>;
  before(async () => {
    w = await startWorld({ seed: 11 });
  });
  after(async () => {
    if (w) await stopWorld(w);
  });

  test("every event arrives once; client writes under the storm reach Graph once", async () => {
    for (let i = 0; i < 5000; i++) {
      const day = String(1 + (i % 28)).padStart(2, "0");
      w.emu.createEvent(UPN, w.team, { subject: `Bulk ${i}`, start: utc(`2027-01-${day}T10:00:00`), end: utc(`2027-01-${day}T11:00:00`) });
    }
    w.emu.resetRequests();
    w.emu.throttle({ probability: 0.4, retryAfter: "0.02" });
    const t0 = Date.now();
    await syncNow(w, 300_000);
    const got = await objects(col(w, "office-team"));
    assert.equal(got.size, 5000);
    assert.equal(new Set([...got.values()].map(uidOf)).size, 5000, "no duplicate");
    const graph = w.emu.requests.filter((r) => r.path.startsWith("/v1.0"));
    const limited = graph.filter((r) => r.status === 429).length;
    console.log(`# 5,000-event import: ${graph.length} Graph requests (${limited} answered 429 and retried) in ${Date.now() - t0} ms`);
    assert.ok(graph.every((r) => r.concurrent <= 4), "never more than 4 requests in flight");

    const url = col(w, "office-team");
    await Promise.all(Array.from({ length: 20 }, (_, i) => req(`${url}storm-${i}.ics`, "PUT", vevent(`storm-${i}@calgate.test`, `Storm ${i}`))));
    await until("every storm write at Graph", async () => w.emu.events(UPN, w.team).filter((e) => String(e.subject).startsWith("Storm ")).length === 20, 90_000);
    w.emu.throttle(null);
    await until("the outbox to drain", async () => (await w.db("outbox").whereNot({ state: "done" }).whereNot({ state: "superseded" })).length === 0, 60_000);
    assert.equal(w.emu.events(UPN, w.team).filter((e) => String(e.subject).startsWith("Storm ")).length, 20, "exactly one event per write");
  });
});

describe("Microsoft push (change notifications)", () => {
  let w: Awaited<ReturnType<typeof startWorld>>;
  before(async () => {
    w = await startWorld({ push: true, seed: 3 });
  });
  after(async () => {
    if (w) await stopWorld(w);
  });
  const live = () => w.emu.subscriptions.filter((s) => !s.deleted);

  test("a validated subscription per calendar; an Outlook change reaches sync-collection without a poll", async () => {
    await syncNow(w);
    await until("a subscription per calendar", async () => live().length === 3);
    assert.ok(live().every((s) => s.notificationUrl.endsWith("/hooks/microsoft") && s.lifecycleNotificationUrl?.endsWith("/hooks/microsoft") && s.clientState), "addresses and clientState set");
    const hs = await fetch(`${w.base}/hooks/microsoft?validationToken=${encodeURIComponent("a b+c")}`, { method: "POST" });
    assert.equal(hs.status, 200);
    assert.equal(await hs.text(), "a b+c", "the handshake echoes the decoded token");
    const url = col(w, "office-team");
    const start = await syncCollection(url, "");
    const t0 = Date.now();
    w.emu.createEvent(UPN, w.team, { subject: "Pushed", start: utc("2026-12-22T15:00:00"), end: utc("2026-12-22T16:00:00") });
    await until("the pushed change in sync-collection", async () => (await syncCollection(url, start.token)).changed.length === 1);
    console.log(`# push: Outlook change → client sync-collection in ${Date.now() - t0} ms`);

    // A forged clientState is answered 202 like any notification (Graph counts anything else as a failed
    // delivery) and triggers nothing: test/unit/push-channels.test.ts checks that without timing.
    const sub = live()[0]!;
    const forged = await fetch(`${w.base}/hooks/microsoft`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ value: [{ subscriptionId: sub.id, clientState: "forged", changeType: "updated" }] }) });
    assert.equal(forged.status, 202, "Graph always gets 202");

    const before = w.emu.requests.length;
    await w.emu.lifecycle(sub.id, "missed");
    await until("a sync after the lifecycle notification", async () => w.emu.requests.slice(before).some((r) => r.path.includes("/delta")));
  });

  test("a subscription Graph removed (lifecycle subscriptionRemoved) is replaced at once", async () => {
    const gone = live()[0]!;
    await w.emu.lifecycle(gone.id, "subscriptionRemoved");
    await until("a new subscription in its place", async () => live().length === 3 && !live().some((s) => s.id === gone.id));
  });

  test("a subscription near its expiry is replaced by a new one, and the old one is deleted", async () => {
    const before = live().map((s) => s.id).sort();
    await w.db("push_channels").update({ expires_at: Date.now() + 12 * 3600_000 });
    await syncNow(w);
    await until("renewed subscriptions", async () => live().length === 3 && live().every((s) => !before.includes(s.id)));
  });

  test("subscriptions are deleted on shutdown", async () => {
    await w.server.close();
    assert.ok(w.emu.subscriptions.length >= 3 && w.emu.subscriptions.every((s) => s.deleted), "every subscription deleted");
    w.server = { url: w.server.url, close: async () => {} };
  });
});
