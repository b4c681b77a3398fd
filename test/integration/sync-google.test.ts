/**
 * A Google source end to end: calgate serving CalDAV in this process, its Google adapter talking to
 * the Google Calendar API emulator (test/emulators/google) through the official client libraries with
 * only the URLs changed. Covers: initial import (single, all-day, recurring series with an exception
 * and a cancelled occurrence), emulator-side changes reaching a CalDAV client's sync-collection,
 * write-through of client PUT/DELETE (UID kept), read-only calendars, 412 conflicts, 410 full resync
 * without duplicates or losses, a lost answer to a stored insert, token revocation, a rate-limit storm
 * during a 5,000-event import, and push notifications.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import pino from "pino";
import { startGoogleEmulator, type GoogleEmulator } from "../emulators/google/index.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { startServer } from "../../src/main.ts";
import type { ServerHandle } from "../../src/cli/contract.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { SecretStore } from "../../src/store/secrets.ts";
import { SecretBox } from "../../src/auth/crypto.ts";
import { GoogleAdapter } from "../../src/sources/google/adapter.ts";
import type { GoogleSourceConfig } from "../../src/config/schema.ts";
import { parseXml } from "../../src/xml/parse.ts";
import { child, elements, text } from "../../src/xml/tree.ts";

const EMAIL = "alice@example.com";
const CLIENT = { clientId: "calgate-test.apps.googleusercontent.com", clientSecret: "test-client-secret" };
const SECRET_KEY = "google-test-secret-key-0123456789abcdef";
const AUTH = "Basic " + Buffer.from("alice:secret-a").toString("base64");

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** Waits for a condition (polling with a deadline); fails naming what did not happen. */
async function until<T>(what: string, f: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function req(url: string, method: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: string }> {
  const h: Record<string, string> = { authorization: AUTH, ...headers };
  if (body !== undefined && !h["content-type"]) h["content-type"] = body.startsWith("BEGIN:") ? "text/calendar; charset=utf-8" : "application/xml; charset=utf-8";
  const r = await fetch(url, { method, headers: h, body });
  return { status: r.status, headers: r.headers, body: await r.text() };
}

async function syncCollection(url: string, token: string): Promise<{ token: string; changed: string[]; removed: string[] }> {
  const r = await req(url, "REPORT", `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`, { depth: "1" });
  assert.equal(r.status, 207, r.body);
  const ms = parseXml(r.body);
  const changed: string[] = [];
  const removed: string[] = [];
  for (const resp of elements(ms, "{DAV:}response")) {
    const name = decodeURIComponent(text(child(resp, "{DAV:}href")!).split("/").pop()!);
    const st = child(resp, "{DAV:}status");
    if (st && /404/.test(text(st))) removed.push(name);
    else changed.push(name);
  }
  return { token: text(child(ms, "{DAV:}sync-token")!), changed, removed };
}

/** name → calendar-data of every object in a collection. */
async function objects(url: string): Promise<Map<string, string>> {
  const r = await req(url, "REPORT", `<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>`, { depth: "1" });
  assert.equal(r.status, 207, r.body);
  const out = new Map<string, string>();
  for (const resp of elements(parseXml(r.body), "{DAV:}response")) {
    const href = text(child(resp, "{DAV:}href")!);
    const ps = elements(resp, "{DAV:}propstat").find((p) => /200/.test(text(child(p, "{DAV:}status")!)));
    const data = ps ? child(child(ps, "{DAV:}prop")!, "{urn:ietf:params:xml:ns:caldav}calendar-data") : undefined;
    if (data) out.set(decodeURIComponent(href.split("/").pop()!), text(data));
  }
  return out;
}

const unfold = (ics: string): string => ics.replace(/\r?\n[ \t]/g, "");
const summaries = (m: Map<string, string>): string[] => [...m.values()].flatMap((ics) => [...unfold(ics).matchAll(/^SUMMARY[^:]*:(.*)$/gm)].map((x) => x[1]!.trim())).sort();
const uidOf = (ics: string): string => /^UID:(.*)$/m.exec(unfold(ics))![1]!.trim();

const vevent = (uid: string, summary: string, lines: string[] = ["DTSTART:20261210T100000Z", "DTEND:20261210T110000Z"]): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate google test//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20261201T000000Z", ...lines, `SUMMARY:${summary}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

interface World {
  emu: GoogleEmulator;
  server: ServerHandle;
  db: Db;
  dir: string;
  base: string;
  team: string;
  holidays: string;
}

async function startWorld(opts: { push?: boolean; seed?: number; testingApp?: boolean; obtainedAt?: number } = {}): Promise<World> {
  const emu = await startGoogleEmulator({ seed: opts.seed ?? 7, requireHttpsWebhooks: false });
  emu.addClient(CLIENT);
  emu.addAccount(EMAIL, { timeZone: "Europe/Zurich" });
  const team = emu.addCalendar(EMAIL, { summary: "Team", timeZone: "America/New_York", accessRole: "owner", backgroundColor: "#9fe1e7" });
  const holidays = emu.addCalendar(EMAIL, { summary: "Holidays", timeZone: "Europe/Zurich", accessRole: "reader" });
  const dir = mkdtempSync(join(tmpdir(), "calgate-google-"));
  const filename = join(dir, "db.sqlite");
  // The refresh token `calgate auth google work` would have stored (that flow has its own test).
  const db = await openDb(filename);
  const grant = emu.grant(CLIENT.clientId, EMAIL, ["https://www.googleapis.com/auth/calendar"]);
  await new SecretStore(db, SecretBox.fromSecretKey(SECRET_KEY)).put("alice", "work", "oauth", JSON.stringify({ refresh_token: grant.refresh_token, scope: "https://www.googleapis.com/auth/calendar", obtained_at: opts.obtainedAt ?? Date.now(), client_id: CLIENT.clientId }));
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
      - { id: work, type: google, clientId: ${CLIENT.clientId}, clientSecret: ${CLIENT.clientSecret}, apiUrl: "${emu.apiUrl}", authUrl: "${emu.authUrl}", tokenUrl: "${emu.tokenUrl}"${opts.testingApp ? ", testingApp: true" : ""} }
`;
  const config = parseConfigText(yaml, "google-test.yaml", {});
  const server = await startServer(config, {
    configPath: null, generatedPassword: null, logger: pino({ level: process.env.TEST_LOG ?? "silent" }),
    // Short backoff steps, so storms and faults take milliseconds rather than seconds.
    adapters: { google: (s, d) => new GoogleAdapter(s as GoogleSourceConfig, { timeoutMs: d.timeoutMs, backoffBaseMs: 5, maxAttempts: 8 }) },
  });
  return { emu, server, db, dir, base: server.url.replace(/\/$/, ""), team, holidays };
}

async function stopWorld(w: World): Promise<void> {
  await w.server.close();
  await w.db.destroy();
  await w.emu.close();
  rmSync(w.dir, { recursive: true, force: true });
}

/** POST /sync, then waits for a sync that STARTED after the request to complete (or fail). */
const syncNow = async (w: World, timeoutMs = 30_000): Promise<void> => {
  const mark = Number((await w.db("status_events").max({ m: "id" }).first())?.m ?? 0);
  const r = await req(`${w.base}/sync`, "POST");
  assert.equal(r.status, 202, r.body);
  await until("a sync to finish", async () => {
    const rows = await w.db("status_events").where("id", ">", mark).whereIn("type", ["sync.started", "sync.completed", "sync.failed"]).orderBy("id");
    const started = rows.findIndex((e) => e.type === "sync.started");
    return started >= 0 && rows.slice(started + 1).some((e) => e.type !== "sync.started");
  }, timeoutMs);
};
const sourceRow = (w: World) => w.db("sources").where({ owner: "alice", id: "work" }).first();
const col = (w: World, name: string): string => `${w.base}/dav/calendars/alice/${name}/`;

describe("Google source against the emulator", () => {
  let w: World;
  before(async () => {
    w = await startWorld();
  });
  after(async () => {
    if (w) await stopWorld(w);
  });

  test("initial import: calendars with names, colours and access; events of every shape", async () => {
    w.emu.insertEvent(w.team, { summary: "Kick-off", start: { dateTime: "2026-12-14T09:00:00-05:00", timeZone: "America/New_York" }, end: { dateTime: "2026-12-14T10:00:00-05:00", timeZone: "America/New_York" } });
    w.emu.insertEvent(w.team, { summary: "Offsite", start: { date: "2026-12-17" }, end: { date: "2026-12-19" } });
    const series = w.emu.insertEvent(w.team, {
      summary: "Standup", start: { dateTime: "2026-12-07T09:30:00", timeZone: "America/New_York" }, end: { dateTime: "2026-12-07T09:45:00", timeZone: "America/New_York" },
      recurrence: ["RRULE:FREQ=DAILY;COUNT=10"],
    });
    w.emu.patchEvent(w.team, w.emu.instanceId(w.team, series.id, "2026-12-08T09:30:00-05:00"), { summary: "Standup (moved)", start: { dateTime: "2026-12-08T11:00:00-05:00", timeZone: "America/New_York" }, end: { dateTime: "2026-12-08T11:15:00-05:00", timeZone: "America/New_York" } });
    w.emu.deleteEvent(w.team, w.emu.instanceId(w.team, series.id, "2026-12-09T09:30:00-05:00"));
    w.emu.insertEvent(w.holidays, { summary: "Holiday", start: { date: "2026-12-25" }, end: { date: "2026-12-26" } });
    await syncNow(w);

    const home = await req(`${w.base}/dav/calendars/alice/`, "PROPFIND", `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:displayname/><d:current-user-privilege-set/></d:prop></d:propfind>`, { depth: "1" });
    assert.equal(home.status, 207);
    assert.match(home.body, /work-team\//);
    assert.match(home.body, /work-holidays\//);
    assert.match(home.body, /work-primary\//, "the primary calendar is 'primary'");

    const team = await objects(col(w, "work-team"));
    assert.deepEqual(summaries(team), ["Kick-off", "Offsite", "Standup", "Standup (moved)"]);
    const standup = [...team.values()].find((i) => i.includes("Standup (moved)"))!;
    assert.match(unfold(standup), /RRULE:FREQ=DAILY;COUNT=10/);
    assert.match(unfold(standup), /RECURRENCE-ID[^:]*:20261208T0930/, "the exception is an override in the same object");
    assert.match(unfold(standup), /EXDATE[^:]*:20261209T0930/, "the cancelled occurrence is an EXDATE");
    assert.match(unfold(standup), /DTSTART;TZID=America\/New_York:20261207T093000/, "the event's own zone is kept");
    const offsite = [...team.values()].find((i) => i.includes("Offsite"))!;
    assert.match(unfold(offsite), /DTSTART;VALUE=DATE:20261217/);
    assert.match(unfold(offsite), /DTEND;VALUE=DATE:20261219/);
  });

  test("read-only calendars refuse writes with 403 before anything reaches Google", async () => {
    const privs = await req(col(w, "work-holidays"), "PROPFIND", `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-privilege-set/></d:prop></d:propfind>`, { depth: "0" });
    assert.doesNotMatch(privs.body, /<[a-z]+:write\/>/i, "no write privilege on a reader calendar");
    w.emu.resetRequests();
    const r = await req(`${col(w, "work-holidays")}new.ics`, "PUT", vevent("ro-1@calgate.test", "Not allowed"));
    assert.equal(r.status, 403, r.body);
    const [name] = (await objects(col(w, "work-holidays"))).keys();
    const del = await req(`${col(w, "work-holidays")}${name}`, "DELETE");
    assert.equal(del.status, 403);
    assert.equal(w.emu.requests.filter((x) => x.method !== "GET").length, 0, "no write request reached Google");
  });

  test("emulator-side changes reach a CalDAV client's sync-collection", async () => {
    const url = col(w, "work-team");
    const start = await syncCollection(url, "");
    const kick = w.emu.events(w.team).find((e) => e.summary === "Kick-off");
    const offsite = w.emu.events(w.team).find((e) => e.summary === "Offsite");
    w.emu.patchEvent(w.team, kick.id, { summary: "Kick-off (room 2)" });
    w.emu.deleteEvent(w.team, offsite.id);
    w.emu.insertEvent(w.team, { summary: "Retro", start: { dateTime: "2026-12-18T15:00:00Z" }, end: { dateTime: "2026-12-18T16:00:00Z" } });
    await syncNow(w);
    const delta = await syncCollection(url, start.token);
    assert.equal(delta.changed.length, 2, `changed: ${delta.changed.join(", ")}`);
    assert.equal(delta.removed.length, 1, `removed: ${delta.removed.join(", ")}`);
    assert.deepEqual(summaries(await objects(url)), ["Kick-off (room 2)", "Retro", "Standup", "Standup (moved)"]);
  });

  test("client PUT and DELETE are written through (UID kept), and a recurring override reaches its instance", async () => {
    const url = col(w, "work-team");
    const put = await req(`${url}phone-1.ics`, "PUT", vevent("phone-1@calgate.test", "Dentist", ["DTSTART;TZID=Europe/Zurich:20261211T140000", "DTEND;TZID=Europe/Zurich:20261211T150000", "LOCATION:Main St 1"]), { "if-none-match": "*" });
    assert.ok(put.status === 201 || put.status === 204, `${put.status} ${put.body}`);
    const atGoogle = await until("the event at Google", async () => w.emu.events(w.team).find((e) => e.iCalUID === "phone-1@calgate.test"));
    assert.equal(atGoogle.summary, "Dentist");
    assert.equal(atGoogle.location, "Main St 1");
    assert.equal(atGoogle.start.timeZone, "Europe/Zurich");

    // Move one occurrence of the standup from the phone.
    const [name, ics] = [...(await objects(url))].find(([, i]) => i.includes("SUMMARY:Standup"))!;
    const moved = unfold(ics).replace("END:VCALENDAR", ["BEGIN:VEVENT", `UID:${uidOf(ics)}`, "DTSTAMP:20261201T000000Z", "RECURRENCE-ID;TZID=America/New_York:20261211T093000", "DTSTART;TZID=America/New_York:20261211T130000", "DTEND;TZID=America/New_York:20261211T131500", "SUMMARY:Standup (Friday)", "END:VEVENT", "END:VCALENDAR"].join("\r\n"));
    const etag = (await req(`${url}${name}`, "GET")).headers.get("etag")!;
    const r = await req(`${url}${name}`, "PUT", moved, { "if-match": etag });
    assert.ok(r.status === 204 || r.status === 201, `${r.status} ${r.body}`);
    await until("the override at Google", async () => w.emu.events(w.team).find((e) => e.summary === "Standup (Friday)" && e.recurringEventId));

    const del = await req(`${url}phone-1.ics`, "DELETE");
    assert.equal(del.status, 204);
    await until("the delete at Google", async () => w.emu.events(w.team).every((e) => e.iCalUID !== "phone-1@calgate.test"));
  });

  test("a stale client ETag is 412; a write over a change made at Google is merged (policy merge): both edits kept on both sides", async () => {
    const url = col(w, "work-team");
    const [name, ics] = [...(await objects(url))].find(([, i]) => i.includes("Retro"))!;
    const etag = (await req(`${url}${name}`, "GET")).headers.get("etag")!;
    const stale = await req(`${url}${name}`, "PUT", ics.replace("SUMMARY:Retro", "SUMMARY:Retro v2"), { "if-match": '"not-the-etag"' });
    assert.equal(stale.status, 412);
    const retro = w.emu.events(w.team).find((e) => e.summary === "Retro");
    w.emu.patchEvent(w.team, retro.id, { description: "changed in Google" });
    // The phone renames it without having seen Google's change: Google answers the write-through 412,
    // and the three-way merge against the base keeps both edits.
    const mine = await req(`${url}${name}`, "PUT", ics.replace("SUMMARY:Retro", "SUMMARY:Retro (phone)"), { "if-match": etag });
    assert.ok(mine.status === 204 || mine.status === 201, `${mine.status} ${mine.body}`);
    assert.equal(mine.headers.get("etag"), null, "no ETag: the server stores something else than what was sent (RFC 4791 5.3.4)");
    const atGoogle = w.emu.events(w.team).find((e) => e.id === retro.id);
    assert.equal(atGoogle.summary, "Retro (phone)");
    assert.equal(atGoogle.description, "changed in Google");
    const served = await req(`${url}${name}`, "GET");
    assert.match(served.body, /SUMMARY:Retro \(phone\)/);
    assert.match(unfold(served.body), /DESCRIPTION:changed in Google/);
    const conflict = (await w.db("conflicts").select()).find((c) => String(c.ours).includes("Retro (phone)"));
    assert.ok(conflict, "the conflict is recorded with both versions");
    assert.equal(conflict.outcome, "merged");
    assert.equal(conflict.policy, "merge");
    assert.match(String(conflict.theirs), /changed in Google/);
    assert.match(String(conflict.result), /Retro \(phone\)/);
  });

  test("410 fullSyncRequired: a full resync with neither duplicates nor losses", async () => {
    const url = col(w, "work-team");
    const before = await objects(url);
    w.emu.expireSyncTokens();
    w.emu.insertEvent(w.team, { summary: "After expiry", start: { dateTime: "2026-12-21T15:00:00Z" }, end: { dateTime: "2026-12-21T16:00:00Z" } });
    await syncNow(w);
    const afterObjs = await objects(url);
    assert.equal(afterObjs.size, before.size + 1);
    assert.deepEqual(summaries(afterObjs), [...summaries(before), "After expiry"].sort());
    assert.equal(new Set([...afterObjs.values()].map(uidOf)).size, afterObjs.size, "no duplicate UID");
    assert.ok(w.emu.requests.some((r) => r.status === 410), "the emulator answered 410 to the stale token");
  });

  test("a lost answer to a stored insert: the event exists once at Google and the write is confirmed", async () => {
    const url = col(w, "work-team");
    w.emu.fault({ method: "POST", path: /\/events$/, status: 200, loseAnswer: true, times: 1 });
    const put = await req(`${url}lost.ics`, "PUT", vevent("lost-answer@calgate.test", "Lost answer"));
    assert.ok(put.status < 300, `${put.status} ${put.body}`);
    await until("the write to be confirmed", async () => (await w.db("outbox").where({ object_name: "lost.ics" }).whereNot({ state: "done" })).length === 0 && (await w.db("outbox").where({ object_name: "lost.ics", state: "done" })).length > 0);
    assert.equal(w.emu.events(w.team, { includeCancelled: true }).filter((e) => e.iCalUID === "lost-answer@calgate.test").length, 1, "no duplicate at Google");
    assert.equal((await w.db("conflicts").select()).filter((c) => JSON.stringify(c).includes("Lost answer")).length, 0, "not taken for a conflict");
  });

  test("an idle poll costs one events.list per calendar plus one calendarList", async () => {
    await syncNow(w); // settle
    w.emu.resetRequests();
    await syncNow(w);
    // Follow-up pages (pageToken) appear only because the emulator serves short and empty pages at
    // random (reference section 3); the poll itself is one list per calendar plus one calendarList.
    const first = w.emu.requests.filter((r) => r.query.pageToken === undefined);
    const calls = first.map((r) => `${r.method} ${r.path.replace(/calendars\/[^/]+/, "calendars/{id}")}`);
    assert.equal(calls.filter((c) => c.includes("calendarList")).length, 1, calls.join("\n"));
    assert.equal(calls.filter((c) => c.endsWith("/events")).length, 3, calls.join("\n"));
    assert.equal(calls.length, 4, calls.join("\n"));
    assert.ok(w.emu.requests.every((r) => r.method === "GET"), "an idle poll writes nothing");
    console.log(`# idle poll: ${calls.length} API calls for 3 calendars (+${w.emu.requests.length - calls.length} follow-up pages the emulator made short or empty)`);
  });

  test("an event from Gmail: a new title is refused with a CalDAV error and nothing changes at Google; a new reminder is written", async () => {
    const flight = w.emu.seedEvent(w.team, { eventType: "fromGmail", summary: "Flight LX 318", start: { dateTime: "2026-12-23T07:00:00Z" }, end: { dateTime: "2026-12-23T09:00:00Z" } });
    await syncNow(w);
    const url = col(w, "work-team");
    const [name, ics] = [...(await objects(url))].find(([, i]) => i.includes("Flight LX 318"))!;
    const etag = (await req(`${url}${name}`, "GET")).headers.get("etag")!;
    const renamed = await req(`${url}${name}`, "PUT", unfold(ics).replace("SUMMARY:Flight LX 318", "SUMMARY:My flight"), { "if-match": etag });
    assert.ok(renamed.status >= 400, `${renamed.status} ${renamed.body}`);
    assert.match(renamed.body, /Gmail/, renamed.body);
    assert.equal(w.emu.events(w.team).find((e) => e.id === flight.id).summary, "Flight LX 318", "nothing changed at Google");
    const served = (await req(`${url}${name}`, "GET"));
    assert.match(served.body, /SUMMARY:Flight LX 318/, "the cache serves Google's version again");
    const alarm = ["BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Flight", "TRIGGER:-PT2H", "END:VALARM", "END:VEVENT"].join("\r\n");
    const reminded = await req(`${url}${name}`, "PUT", unfold(served.body).replace(/BEGIN:VALARM[\s\S]*?END:VALARM\r?\n/g, "").replace(/END:VEVENT/, alarm), { "if-match": served.headers.get("etag")! });
    assert.ok(reminded.status < 300, `${reminded.status} ${reminded.body}`);
    await until("the reminder at Google", async () => w.emu.events(w.team).find((e) => e.id === flight.id).reminders?.overrides?.some((o: { minutes: number }) => o.minutes === 120));
  });

  test("a birthday takes a new title (what Google allows on birthdays) without any other field or marker", async () => {
    const bday = w.emu.seedEvent(w.team, {
      eventType: "birthday", summary: "Ada's birthday", start: { date: "2026-12-10" }, end: { date: "2026-12-11" },
      recurrence: ["RRULE:FREQ=YEARLY"], transparency: "transparent", visibility: "private", birthdayProperties: { type: "birthday" },
    });
    await syncNow(w);
    const url = col(w, "work-team");
    const [name, ics] = [...(await objects(url))].find(([, i]) => i.includes("Ada's birthday"))!;
    const etag = (await req(`${url}${name}`, "GET")).headers.get("etag")!;
    const r = await req(`${url}${name}`, "PUT", unfold(ics).replace("SUMMARY:Ada's birthday", "SUMMARY:Ada Lovelace's birthday"), { "if-match": etag });
    assert.ok(r.status < 300, `${r.status} ${r.body}`);
    const now = await until("the new title at Google", async () => { const e = w.emu.events(w.team).find((x) => x.id === bday.id); return e?.summary === "Ada Lovelace's birthday" ? e : null; });
    assert.equal(now.eventType, "birthday");
    assert.equal(now.extendedProperties, undefined, "no extendedProperties on a birthday");
  });

  test("calendars added or removed at Google follow (a removed one after three listings without it)", async () => {
    const extra = w.emu.addCalendar(EMAIL, { summary: "Side project", timeZone: "UTC", accessRole: "writer" });
    await syncNow(w);
    assert.equal((await req(col(w, "work-side-project"), "PROPFIND", undefined, { depth: "0" })).status, 207, "the new calendar is served");
    w.emu.removeCalendar(EMAIL, extra);
    for (let i = 0; i < 3; i++) await syncNow(w);
    assert.equal((await req(col(w, "work-side-project"), "PROPFIND", undefined, { depth: "0" })).status, 404, "the removed calendar is dropped");
  });

  test("an access token Google stopped accepting early is refreshed on the 401, and the sync goes on", async () => {
    w.emu.expireAccessTokens();
    const before = w.emu.tokenRequests();
    await syncNow(w);
    assert.equal((await sourceRow(w)).status, "ok");
    assert.ok(w.emu.tokenRequests() > before, "a refresh was forced");
  });

  test("a revoked token marks the source auth_required with the command that fixes it, without a retry loop", async () => {
    w.emu.revokeAll(EMAIL);
    w.emu.expireAccessTokens();
    await syncNow(w);
    const row = await sourceRow(w);
    assert.equal(row.status, "auth_required");
    assert.match(row.status_message, /calgate auth google work/);
    w.emu.resetRequests();
    await syncNow(w);
    assert.equal(w.emu.requests.length, 0, "no API request while the sign-in is refused");
  });
});

describe("Google: a rate-limit storm during a 5,000-event import", () => {
  let w: World;
  before(async () => {
    w = await startWorld({ seed: 11 });
  });
  after(async () => {
    if (w) await stopWorld(w);
  });

  test("every event arrives once, and client writes under the storm reach Google once", async () => {
    for (let i = 0; i < 5000; i++) {
      const day = String(1 + (i % 28)).padStart(2, "0");
      w.emu.insertEvent(w.team, { summary: `Bulk ${i}`, start: { dateTime: `2027-01-${day}T10:00:00Z` }, end: { dateTime: `2027-01-${day}T11:00:00Z` } });
    }
    w.emu.resetRequests();
    w.emu.rateLimitStorm({ probability: 0.4 });
    const t0 = Date.now();
    await syncNow(w, 300_000);
    console.log(`# 5,000-event import under the storm took ${Date.now() - t0} ms`);
    const got = await objects(col(w, "work-team"));
    assert.equal(got.size, 5000);
    assert.equal(new Set([...got.values()].map(uidOf)).size, 5000, "no duplicate");
    const limited = w.emu.requests.filter((r) => r.status === 403 || r.status === 429).length;
    console.log(`# 5,000-event import: ${w.emu.requests.length} API calls (${limited} refused by the storm and retried)`);

    const url = col(w, "work-team");
    // 40 PUTs at once: each may wait up to sync.writeDeadlineMs for Google, so calgate's load shedding
    // can answer some 503 + Retry-After; a client sends those again, as real clients do.
    const put = async (i: number): Promise<number> => {
      for (;;) {
        const r = await req(`${url}storm-${i}.ics`, "PUT", vevent(`storm-${i}@calgate.test`, `Storm ${i}`));
        if (r.status !== 503) return r.status;
        await new Promise((ok) => setTimeout(ok, 1000 * Number(r.headers.get("retry-after") ?? 1)));
      }
    };
    const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => put(i)));
    assert.ok(statuses.every((st) => st === 201 || st === 204), `PUT statuses: ${statuses.join(" ")}`);
    try {
      await until("every storm write at Google", async () => w.emu.events(w.team).filter((e) => String(e.iCalUID).startsWith("storm-")).length === 40, 90_000);
    } catch (e) {
      const open = await w.db("outbox").whereNot({ state: "done" }).select("object_name", "state", "attempts", "last_error", "next_attempt_at");
      throw new Error(`${(e as Error).message}; outbox rows not done: ${JSON.stringify(open)}; conflicts: ${(await w.db("conflicts").count({ n: "*" }).first())?.n}`);
    }
    w.emu.rateLimitStorm(null);
    await until("the outbox to drain", async () => (await w.db("outbox").whereNot({ state: "done" }).whereNot({ state: "superseded" })).length === 0, 60_000);
    const uids = w.emu.events(w.team, { includeCancelled: true }).filter((e) => String(e.iCalUID).startsWith("storm-")).map((e) => e.iCalUID);
    assert.equal(uids.length, 40, "exactly one event per write");
  });
});

describe("Google push", () => {
  let w: World;
  before(async () => {
    w = await startWorld({ push: true, seed: 3 });
  });
  after(async () => {
    if (w) await stopWorld(w);
  });

  test("a channel per calendar; an emulator-side change reaches the client's sync-collection without a poll", async () => {
    await syncNow(w);
    await until("a push channel per calendar", async () => w.emu.channels.filter((c) => !c.stopped).length === 3);
    assert.ok(w.emu.channels.every((c) => c.address.endsWith("/hooks/google") && c.token), "address and token set");
    const url = col(w, "work-team");
    const start = await syncCollection(url, "");
    const t0 = Date.now();
    w.emu.insertEvent(w.team, { summary: "Pushed", start: { dateTime: "2026-12-22T15:00:00Z" }, end: { dateTime: "2026-12-22T16:00:00Z" } });
    await until("the pushed change in sync-collection", async () => (await syncCollection(url, start.token)).changed.length === 1);
    console.log(`# push: emulator change → client sync-collection in ${Date.now() - t0} ms`);

    // A notification with a wrong token is refused, and one for an unknown channel too.
    const ch = w.emu.channels.find((c) => !c.stopped)!;
    const forged = await fetch(`${w.base}/hooks/google`, { method: "POST", headers: { "x-goog-channel-id": ch.id, "x-goog-channel-token": "forged", "x-goog-resource-state": "exists", "x-goog-resource-id": ch.resourceId, "x-goog-message-number": "9" } });
    assert.equal(forged.status, 403);
    const unknown = await fetch(`${w.base}/hooks/google`, { method: "POST", headers: { "x-goog-channel-id": "nope", "x-goog-resource-state": "exists" } });
    assert.equal(unknown.status, 404);
    assert.equal((await fetch(`${w.base}/hooks/google`, { method: "POST" })).status, 400, "not a notification: no channel headers");
    assert.equal((await fetch(`${w.base}/hooks/google`)).status, 405);
    assert.equal((await fetch(`${w.base}/hooks/google`, { method: "POST", body: "x".repeat(300 * 1024) })).status, 413, "a body no notification has");
  });

  test("a channel near its expiry is replaced by a new one (new id), and the old one is stopped", async () => {
    const before = w.emu.channels.filter((c) => !c.stopped).map((c) => c.id).sort();
    // calgate's clock a little over six days later: every channel expires within a day.
    await w.db("push_channels").update({ expires_at: Date.now() + 12 * 3600_000 });
    await syncNow(w);
    await until("renewed channels", async () => {
      const live = w.emu.channels.filter((c) => !c.stopped).map((c) => c.id);
      return live.length === 3 && live.every((id) => !before.includes(id));
    });
    assert.ok(before.every((id) => w.emu.channels.find((c) => c.id === id)!.stopped), "the old channels were stopped");
  });

  test("channels are stopped on shutdown", async () => {
    await w.server.close();
    assert.ok(w.emu.channels.length >= 3 && w.emu.channels.every((c) => c.stopped), "every channel stopped");
    w.server = { url: w.server.url, close: async () => {} };
  });
});

describe("Google: a Testing app's refresh token", () => {
  let w: World;
  before(async () => {
    w = await startWorld({ testingApp: true, obtainedAt: Date.now() - 6 * 24 * 3600_000, seed: 9 });
  });
  after(async () => {
    if (w) await stopWorld(w);
  });

  test("is announced on the status feed before it expires, naming the command that renews it", async () => {
    await syncNow(w);
    const warned = await until("a source.status warning", async () =>
      (await w.db("status_events").where({ type: "source.status" })).map((e) => JSON.parse(e.payload) as { message?: string }).find((p) => /expire/i.test(p.message ?? "")));
    assert.match(warned.message!, /calgate auth google work/);
    assert.equal((await sourceRow(w)).status, "ok", "a warning, not a failure");
  });
});
