/**
 * The sync engine against two real CalDAV upstreams at once (Radicale behind a fault-injecting proxy,
 * and Xandikos), behind one gateway user of the real `calgate serve`: initial import, incremental
 * upstream changes (create, modify, delete, recurring override) seen by a client's sync-collection,
 * write-through of gateway edits, 412 conflicts, upstream refusals, a rejected sync token (full
 * resync without duplicates or losses), faults (delay, 503 + Retry-After, reset, truncated body),
 * degraded status, SSE with Last-Event-ID resume, POST /sync and `calgate sync --once` beside serve.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { summariesByUid, summariesOf } from "../helpers/collection.ts";
import { readFileSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { startRadicale, startXandikos, type PeerServer } from "../helpers/peers.ts";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.ts";
import { freePort, startProcess, waitForHttp, type ManagedProcess } from "../helpers/proc.ts";
import { REPO_ROOT } from "../helpers/calgate.ts";
import { CORPUS_ICS_DIR } from "../helpers/fixtures.ts";
import { parseXml } from "../../src/xml/parse.ts";
import { child, elements, text } from "../../src/xml/tree.ts";
import { parseCalendarObject } from "../../src/ical/parse.ts";
import { openDb, type Db } from "../../src/store/db.ts";

const RADICALE_EVENTS = 1000;
const XANDIKOS_EVENTS = 120;
const USER = "alice";
const PASS = "secret-a";
const AUTH = "Basic " + Buffer.from(`${USER}:${PASS}`).toString("base64");

const ev = (uid: string, i: number, summary = `Event ${i}`, extra: string[] = []): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate sync test//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20240101T000000Z",
    `DTSTART:2024${String(1 + (i % 12)).padStart(2, "0")}${String(1 + (i % 28)).padStart(2, "0")}T100000Z`, "DURATION:PT1H", `SUMMARY:${summary}`, ...extra, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");
const recurring = (uid: string, overrideSummary: string | null): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate sync test//EN",
    "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20240101T000000Z", "DTSTART:20240301T090000Z", "DURATION:PT30M", "RRULE:FREQ=DAILY;COUNT=10", "SUMMARY:Standup", "END:VEVENT",
    ...(overrideSummary ? ["BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20240101T000000Z", "RECURRENCE-ID:20240303T090000Z", "DTSTART:20240303T100000Z", "DURATION:PT30M", `SUMMARY:${overrideSummary}`, "END:VEVENT"] : []),
    "END:VCALENDAR", ""].join("\r\n");

const summaryOf = (ics: string): string | undefined => /^SUMMARY[^:]*:(.*)$/m.exec(ics.replace(/\r?\n[ \t]/g, ""))?.[1]?.trim();

// --- tiny HTTP helpers --------------------------------------------------------------------------

async function req(url: string, method: string, opts: { auth?: string | null; body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: Headers; body: string }> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.auth !== null && opts.auth !== undefined) headers.authorization = opts.auth;
  if (opts.body !== undefined && !headers["content-type"]) headers["content-type"] = opts.body.startsWith("BEGIN:") ? "text/calendar; charset=utf-8" : "application/xml; charset=utf-8";
  const r = await fetch(url, { method, headers, body: opts.body, redirect: "manual" });
  return { status: r.status, headers: r.headers, body: await r.text() };
}

/** href → etag of every object in a collection (PROPFIND Depth 1). */
async function listing(url: string, auth: string): Promise<Map<string, string>> {
  const r = await req(url, "PROPFIND", { auth, headers: { depth: "1" }, body: `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>` });
  assert.equal(r.status, 207, `PROPFIND ${url}: ${r.status} ${r.body.slice(0, 300)}`);
  const out = new Map<string, string>();
  for (const resp of elements(parseXml(r.body), "{DAV:}response")) {
    const href = text(child(resp, "{DAV:}href")!);
    if (href.endsWith("/")) continue;
    const ps = elements(resp, "{DAV:}propstat").find((p) => /200/.test(text(child(p, "{DAV:}status")!)));
    const etag = ps ? child(child(ps, "{DAV:}prop")!, "{DAV:}getetag") : undefined;
    out.set(decodeURIComponent(href.split("/").pop()!), etag ? text(etag) : "");
  }
  return out;
}


async function syncCollection(url: string, token: string): Promise<{ token: string; changed: string[]; removed: string[] }> {
  const r = await req(url, "REPORT", { auth: AUTH, headers: { depth: "1" }, body: `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>` });
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
  return { token: text(child(ms, "{DAV:}sync-token")!), changed: changed.sort(), removed: removed.sort() };
}

// --- SSE client ---------------------------------------------------------------------------------

interface Sse {
  events: { id: string; event: string; data: Record<string, unknown> }[];
  status: number;
  close(): void;
  waitFor(pred: (e: { id: string; event: string; data: Record<string, unknown> }) => boolean, timeoutMs?: number, fromIndex?: number): Promise<{ id: string; event: string; data: Record<string, unknown> }>;
}

async function openSse(base: string, auth: string | null, lastEventId?: string): Promise<Sse> {
  const ac = new AbortController();
  const res = await fetch(`${base}/events`, { headers: { ...(auth ? { authorization: auth } : {}), accept: "text/event-stream", ...(lastEventId ? { "last-event-id": lastEventId } : {}) }, signal: ac.signal });
  const events: Sse["events"] = [];
  const waiters = new Set<() => void>();
  if (res.ok && res.body) {
    void (async () => {
      const decoder = new TextDecoder();
      let buf = "";
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += decoder.decode(chunk, { stream: true });
          let i: number;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let id = "";
            let event = "message";
            let data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("id:")) id = line.slice(3).trim();
              else if (line.startsWith("event:")) event = line.slice(6).trim();
              else if (line.startsWith("data:")) data += line.slice(5).trim();
            }
            if (data) {
              events.push({ id, event, data: JSON.parse(data) as Record<string, unknown> });
              for (const w of waiters) w();
            }
          }
        }
      } catch {
        /* aborted */
      }
    })();
  } else await res.body?.cancel();
  return {
    events,
    status: res.status,
    close: () => ac.abort(),
    waitFor(pred, timeoutMs = 30_000, fromIndex = 0) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = events.slice(fromIndex).find(pred);
          if (found) {
            waiters.delete(w);
            clearTimeout(t);
            resolve(found);
            return true;
          }
          return false;
        };
        const w = (): void => void check();
        const t = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no matching SSE event within ${timeoutMs} ms; got: ${events.slice(fromIndex).map((e) => `${e.event}(${JSON.stringify(e.data)})`).join(", ")}`));
        }, timeoutMs);
        waiters.add(w);
        check();
      });
    },
  };
}

// --- the fixture ----------------------------------------------------------------------------------

let radicale: PeerServer;
let xandikos: PeerServer;
let proxy: FaultProxy;
let gw: ManagedProcess;
let base: string;
let dir: string;
let configFile: string;
let sse: Sse;
let db: Db;
const R_CAL = `/dav/calendars/${USER}/r-personal/`;
const X_CAL = `/dav/calendars/${USER}/x-calendar/`;
const corpusUids = { r: [] as string[], x: [] as string[] };

/**
 * POST /sync?source=… and wait for the end (sync.completed or sync.failed) of a run that started after
 * the POST was sent: a run already under way (e.g. a backoff retry) may have listed the upstream before
 * the change the caller just made.
 */
async function syncNow(source: string, expect: "completed" | "failed" | "any" = "completed"): Promise<Record<string, unknown>> {
  const from = sse.events.length;
  const r = await req(`${base}/sync?source=${source}`, "POST", { auth: AUTH });
  assert.equal(r.status, 202, r.body);
  const started = await sse.waitFor((e) => e.event === "sync.started" && e.data.source === source, 60_000, from);
  const e = await sse.waitFor((e) => (e.event === "sync.completed" || e.event === "sync.failed") && e.data.source === source && Number(e.id) > Number(started.id), 60_000, from);
  if (expect !== "any") assert.equal(e.event, `sync.${expect}`, JSON.stringify(e.data));
  return e.data;
}

/** Valid corpus files our parser accepts, PUT to an upstream calendar; returns the UIDs the upstream took. */
async function putCorpus(calUrl: string, auth: string, limit: number): Promise<string[]> {
  const index = readFileSync(join(CORPUS_ICS_DIR, "INDEX.tsv"), "utf8").split("\n").slice(1).map((l) => l.split("\t"));
  const uids: string[] = [];
  const seen = new Set<string>();
  for (const [path, , comps, , valid] of index) {
    if (uids.length >= limit) break;
    if (!path || valid !== "yes" || !comps?.includes("VEVENT")) continue;
    const ics = readFileSync(join(CORPUS_ICS_DIR, path), "utf8");
    let uid: string;
    try {
      uid = parseCalendarObject(ics).uid;
    } catch {
      continue;
    }
    if (seen.has(uid)) continue;
    seen.add(uid);
    const r = await req(`${calUrl}corpus-${uids.length}.ics`, "PUT", { auth, body: ics, headers: { "content-type": "text/calendar; charset=utf-8" } });
    if (r.status === 201 || r.status === 204) uids.push(uid);
  }
  return uids;
}

before(async () => {
  [radicale, xandikos] = await Promise.all([startRadicale({ calendars: ["personal"] }), startXandikos()]);
  proxy = await startFaultProxy(radicale.baseUrl);
  // Radicale: 1,000 generated events written straight into its storage (fast), plus corpus files by PUT.
  const rdir = join(radicale.dataDir, "collections", "collection-root", radicale.username, "personal");
  for (let i = 0; i < RADICALE_EVENTS; i++) writeFileSync(join(rdir, `gen-${i}.ics`), ev(`r-${i}`, i));
  writeFileSync(join(rdir, "standup.ics"), recurring("r-standup", null));
  corpusUids.r = await putCorpus(radicale.calendarUrls[0]!, radicale.authHeader, 20);
  // Xandikos: generated events and corpus files, all by PUT.
  const xcal = xandikos.calendarUrls[0]!;
  for (let i = 0; i < XANDIKOS_EVENTS; i += 8) {
    await Promise.all(Array.from({ length: Math.min(8, XANDIKOS_EVENTS - i) }, (_, k) => req(`${xcal}gen-${i + k}.ics`, "PUT", { body: ev(`x-${i + k}`, i + k) }).then((r) => assert.equal(r.status, 201))));
  }
  await req(`${xcal}standup.ics`, "PUT", { body: recurring("x-standup", null) });
  corpusUids.x = await putCorpus(xcal, xandikos.authHeader, 20);

  dir = mkdtempSync(join(tmpdir(), "calgate-sync-it-"));
  const port = await freePort();
  configFile = join(dir, "calgate.yaml");
  writeFileSync(
    configFile,
    `server: { host: 127.0.0.1, port: ${port} }
storage: { client: sqlite, filename: ${JSON.stringify(join(dir, "calgate.sqlite"))} }
logging: { level: ${process.env.CALGATE_TEST_LOG ?? "warn"} }
sync: { schedule: "0 0 1 1 *", jitterSeconds: 0, writeDeadlineMs: 4000, timeoutMs: 5000 }
users:
  - username: ${USER}
    password: ${PASS}
    sources:
      - { id: local, type: local, calendars: [{ id: personal, name: Personal }] }
      - { id: r, type: caldav, url: "${proxy.url}/", username: ${radicale.username}, password: ${radicale.password} }
      - { id: x, type: caldav, url: "${xandikos.baseUrl}/", username: user, password: unused }
`,
  );
  db = await openDb(join(dir, "calgate.sqlite")); // migrations run here; serve opens the same database
  gw = startProcess(process.execPath, ["--import", "tsx", "src/cli/index.ts", "serve", "-c", configFile], { cwd: REPO_ROOT, env: { ...process.env } });
  base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/healthz`, { proc: gw, timeoutMs: 30_000, name: "calgate serve" });
  sse = await openSse(base, AUTH, "0");
});

after(async () => {
  if (process.env.CALGATE_TEST_LOG) writeFileSync("/tmp/calgate-sync-it.log", gw?.output() ?? "");
  sse?.close();
  await db?.destroy();
  await gw?.stop(10_000);
  await proxy?.close();
  await Promise.all([radicale?.stop(), xandikos?.stop()]);
  if (dir && !process.env.CALGATE_TEST_KEEP) rmSync(dir, { recursive: true, force: true });
});

describe("sync with Radicale and Xandikos behind one gateway user", () => {
  let rToken = "";
  let xToken = "";

  test("initial import: every upstream calendar is a direct child of the home, with every event", async () => {
    // The start-up sync of both sources (events from id 0 are replayed to us).
    await sse.waitFor((e) => e.event === "sync.completed" && e.data.source === "r", 90_000);
    await sse.waitFor((e) => e.event === "sync.completed" && e.data.source === "x", 90_000);
    const home = await req(`${base}/dav/calendars/${USER}/`, "PROPFIND", { auth: AUTH, headers: { depth: "1" }, body: `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:displayname/><d:resourcetype/></d:prop></d:propfind>` });
    assert.equal(home.status, 207);
    assert.match(home.body, new RegExp(R_CAL.replace(/\//g, "\\/")));
    assert.match(home.body, new RegExp(X_CAL.replace(/\//g, "\\/")));
    assert.match(home.body, /<D:displayname>personal<\/D:displayname>/);
    assert.match(home.body, /<D:displayname>calendar<\/D:displayname>/);

    const rUp = await listing(radicale.calendarUrls[0]!, radicale.authHeader);
    const rGw = await listing(`${base}${R_CAL}`, AUTH);
    assert.equal(rUp.size, RADICALE_EVENTS + 1 + corpusUids.r.length);
    assert.deepEqual([...rGw.keys()].sort(), [...rUp.keys()].sort(), "gateway names = upstream names");
    const xUp = await listing(xandikos.calendarUrls[0]!, xandikos.authHeader);
    const xGw = await listing(`${base}${X_CAL}`, AUTH);
    assert.equal(xUp.size, XANDIKOS_EVENTS + 1 + corpusUids.x.length);
    assert.deepEqual([...xGw.keys()].sort(), [...xUp.keys()].sort());
    // Corpus content arrived intact (UIDs present in the gateway).
    const xContents = await summariesByUid(`${base}${X_CAL}`, AUTH, summariesOf);
    for (const uid of corpusUids.x) assert.ok(xContents.has(uid), `corpus UID ${uid} in the gateway`);
    rToken = (await syncCollection(`${base}${R_CAL}`, "")).token;
    xToken = (await syncCollection(`${base}${X_CAL}`, "")).token;
  });

  test(`request counts at ${RADICALE_EVENTS} events: an idle poll costs 1 request, one changed event at most 3`, async () => {
    // Settle first: a sync that overlapped the seeding (or follows our own write-through) stored the
    // change marker read before its pull, so the next poll rightly re-checks once with sync-collection.
    await syncNow("r");
    let before = proxy.requests();
    const idle = await syncNow("r");
    const idleProxy = proxy.requests() - before;
    assert.equal(idle.requests, 1, "engine count for an idle poll");
    assert.equal(idleProxy, 1, "requests seen by the proxy for an idle poll");
    const r = await req(`${radicale.calendarUrls[0]}gen-7.ics`, "PUT", { auth: radicale.authHeader, body: ev("r-7", 7, "Event 7 (moved)") });
    assert.ok(r.status < 300);
    before = proxy.requests();
    const one = await syncNow("r");
    const oneProxy = proxy.requests() - before;
    assert.ok(Number(one.requests) <= 3, `one change cost ${one.requests} requests`);
    assert.equal(oneProxy, one.requests);
    assert.equal(one.updated, 1);
    console.log(`# requests at ${RADICALE_EVENTS} events (Radicale): idle poll = ${idleProxy}, one changed event = ${oneProxy}`);
    const c = await syncCollection(`${base}${R_CAL}`, rToken);
    assert.deepEqual(c.changed, ["gen-7.ics"]);
    rToken = c.token;
  });

  for (const which of ["r", "x"] as const) {
    test(`upstream create / modify / delete / recurring override (${which}) reach the gateway and a client's sync-collection`, async () => {
      const peer = which === "r" ? radicale : xandikos;
      const calUrl = peer.calendarUrls[0]!;
      const gwCal = `${base}${which === "r" ? R_CAL : X_CAL}`;
      const token = which === "r" ? rToken : xToken;
      assert.equal((await req(`${calUrl}new-1.ics`, "PUT", { auth: peer.authHeader, body: ev(`${which}-new-1`, 3, "Brand new") })).status, 201);
      assert.equal((await req(`${calUrl}gen-1.ics`, "PUT", { auth: peer.authHeader, body: ev(`${which}-1`, 1, "Event 1 renamed") })).status < 300, true);
      assert.equal((await req(`${calUrl}gen-2.ics`, "DELETE", { auth: peer.authHeader })).status < 300, true);
      assert.equal((await req(`${calUrl}standup.ics`, "PUT", { auth: peer.authHeader, body: recurring(`${which}-standup`, "Standup (moved to 10:00)") })).status < 300, true);
      const done = await syncNow(which);
      assert.equal(done.created, 1);
      assert.equal(done.updated, 2);
      assert.equal(done.deleted, 1);
      const c = await syncCollection(gwCal, token);
      assert.deepEqual(c.changed, ["gen-1.ics", "new-1.ics", "standup.ics"]);
      assert.deepEqual(c.removed, ["gen-2.ics"]);
      const got = await req(`${gwCal}standup.ics`, "GET", { auth: AUTH });
      assert.match(got.body, /RECURRENCE-ID:20240303T090000Z/);
      assert.match(got.body, /Standup \(moved to 10:00\)/);
      assert.match((await req(`${gwCal}gen-1.ics`, "GET", { auth: AUTH })).body, /Event 1 renamed/);
      assert.equal((await req(`${gwCal}gen-2.ics`, "GET", { auth: AUTH })).status, 404);
      if (which === "r") rToken = c.token;
      else xToken = c.token;
    });

    test(`gateway PUT / modify / DELETE write through to the upstream (${which})`, async () => {
      const peer = which === "r" ? radicale : xandikos;
      const calUrl = peer.calendarUrls[0]!;
      const gwCal = `${base}${which === "r" ? R_CAL : X_CAL}`;
      const created = await req(`${gwCal}from-client.ics`, "PUT", { auth: AUTH, body: ev(`${which}-client-1`, 9, "Made on the phone"), headers: { "if-none-match": "*" } });
      assert.equal(created.status, 201, created.body);
      const up = await req(`${calUrl}from-client.ics`, "GET", { auth: peer.authHeader });
      assert.equal(up.status, 200);
      assert.match(up.body, /Made on the phone/);
      const etag = created.headers.get("etag") ?? (await listing(gwCal, AUTH)).get("from-client.ics")!;
      const modified = await req(`${gwCal}from-client.ics`, "PUT", { auth: AUTH, body: ev(`${which}-client-1`, 9, "Made on the phone (edited)"), headers: { "if-match": etag } });
      assert.equal(modified.status, 204, modified.body);
      assert.match((await req(`${calUrl}from-client.ics`, "GET", { auth: peer.authHeader })).body, /edited/);
      // The next poll sees our own write echoed back and changes nothing for clients.
      const tok = (await syncCollection(gwCal, "")).token;
      const echo = await syncNow(which);
      assert.equal(Number(echo.created) + Number(echo.updated) + Number(echo.deleted), 0, JSON.stringify(echo));
      assert.deepEqual((await syncCollection(gwCal, tok)).changed, []);
      const del = await req(`${gwCal}gen-3.ics`, "DELETE", { auth: AUTH });
      assert.equal(del.status, 204, del.body);
      assert.equal((await req(`${calUrl}gen-3.ics`, "GET", { auth: peer.authHeader })).status, 404);
    });

    test(`a change on both sides → 412 to the client and a recorded conflict (${which})`, async () => {
      const peer = which === "r" ? radicale : xandikos;
      const calUrl = peer.calendarUrls[0]!;
      const gwCal = `${base}${which === "r" ? R_CAL : X_CAL}`;
      const etag = (await listing(gwCal, AUTH)).get("gen-4.ics")!;
      assert.equal((await req(`${calUrl}gen-4.ics`, "PUT", { auth: peer.authHeader, body: ev(`${which}-4`, 4, "Changed upstream") })).status < 300, true);
      const from = sse.events.length;
      const r = await req(`${gwCal}gen-4.ics`, "PUT", { auth: AUTH, body: ev(`${which}-4`, 4, "Changed on the phone"), headers: { "if-match": etag } });
      assert.equal(r.status, 412, r.body);
      const rows = await db("conflicts as c").join("calendars as k", "k.id", "c.calendar_id").where({ "k.name": which === "r" ? "r-personal" : "x-calendar", "c.object_name": "gen-4.ics" }).select("c.*");
      assert.equal(rows.length, 1);
      assert.match(String(rows[0].ours), /Changed on the phone/);
      assert.match(String(rows[0].theirs), /Changed upstream/);
      await sse.waitFor((e) => e.event === "conflict.detected" && e.data.source === which && e.data.object === "gen-4.ics", 10_000, from);
      // The client refetches and gets the upstream's version; the upstream kept its own.
      assert.match((await req(`${gwCal}gen-4.ics`, "GET", { auth: AUTH })).body, /Changed upstream/);
      assert.match((await req(`${calUrl}gen-4.ics`, "GET", { auth: peer.authHeader })).body, /Changed upstream/);
    });
  }

  test("an upstream refusal (403) reaches the client as a CalDAV error and the change is rolled back", async () => {
    proxy.inject({ fault: { kind: "status", code: 403 }, match: (m) => m === "PUT" });
    const r = await req(`${base}${R_CAL}refused.ics`, "PUT", { auth: AUTH, body: ev("r-refused", 5, "Refused") });
    assert.equal(r.status, 403, r.body);
    assert.match(r.body, /refused/);
    assert.equal((await req(`${base}${R_CAL}refused.ics`, "GET", { auth: AUTH })).status, 404, "rolled back");
    assert.equal((await req(`${radicale.calendarUrls[0]}refused.ics`, "GET", { auth: radicale.authHeader })).status, 404);
    const before = (await req(`${base}${R_CAL}gen-5.ics`, "GET", { auth: AUTH })).body;
    proxy.inject({ fault: { kind: "status", code: 403 }, match: (m) => m === "DELETE" });
    assert.equal((await req(`${base}${R_CAL}gen-5.ics`, "DELETE", { auth: AUTH })).status, 403);
    assert.equal((await req(`${base}${R_CAL}gen-5.ics`, "GET", { auth: AUTH })).body, before, "delete rolled back");
  });

  test("a write the upstream answers 2xx but does not store is caught, reported and undone", async () => {
    const cal = radicale.calendarUrls[0]!;
    const outbox = async (name: string) => db("outbox as o").join("calendars as k", "k.id", "o.calendar_id").where({ "k.name": "r-personal", "o.object_name": name }).orderBy("o.id", "desc").first("o.*");
    // 1. A purposely bad payload: Radicale 3 cuts an unescaped comma in SUMMARY ("Event 30, …" → "Event 30"),
    //    which here equals the stored version, and answers 201 with the ETag our If-Match named.
    const etag30 = (await listing(`${base}${R_CAL}`, AUTH)).get("gen-30.ics")!;
    let from = sse.events.length;
    let r = await req(`${base}${R_CAL}gen-30.ics`, "PUT", { auth: AUTH, body: ev("r-30", 30, "Event 30, with an unescaped comma"), headers: { "if-match": etag30 } });
    assert.equal(r.status, 403, r.body);
    assert.match(r.body, /did not store/);
    let e = await sse.waitFor((e) => e.event === "write.replayed" && e.data.object === "gen-30.ics", 10_000, from);
    assert.equal(e.data.outcome, "refused");
    assert.equal(e.data.reason, "not-stored");
    const row30 = await outbox("gen-30.ics");
    assert.equal(row30.state, "failed");
    assert.match(String(row30.ics), /with an unescaped comma/, "the client's version is kept in the outbox record");
    assert.match(String(row30.last_error), /did not store/);
    // The client's view is the upstream's again.
    assert.equal(summaryOf((await req(`${base}${R_CAL}gen-30.ics`, "GET", { auth: AUTH })).body), "Event 30");
    assert.equal(summaryOf((await req(`${cal}gen-30.ics`, "GET", { auth: radicale.authHeader })).body), "Event 30");

    // 2. An upstream (here the proxy) that answers 204 without an ETag and stores nothing: read back, caught.
    const etag31 = (await listing(`${base}${R_CAL}`, AUTH)).get("gen-31.ics")!;
    proxy.inject({ fault: { kind: "status", code: 204, body: "" }, match: (m) => m === "PUT" });
    from = sse.events.length;
    r = await req(`${base}${R_CAL}gen-31.ics`, "PUT", { auth: AUTH, body: ev("r-31", 31, "Event 31 edited"), headers: { "if-match": etag31 } });
    assert.equal(r.status, 403, r.body);
    e = await sse.waitFor((e) => e.event === "write.replayed" && e.data.object === "gen-31.ics", 10_000, from);
    assert.equal(e.data.reason, "not-stored");
    assert.equal(summaryOf((await req(`${base}${R_CAL}gen-31.ics`, "GET", { auth: AUTH })).body), "Event 31");
    // … and a create answered 201 that never reached the upstream is not served.
    proxy.inject({ fault: { kind: "status", code: 201, body: "" }, match: (m) => m === "PUT" });
    r = await req(`${base}${R_CAL}ghost.ics`, "PUT", { auth: AUTH, body: ev("r-ghost", 3, "Ghost"), headers: { "if-none-match": "*" } });
    assert.equal(r.status, 403, r.body);
    assert.equal((await req(`${base}${R_CAL}ghost.ics`, "GET", { auth: AUTH })).status, 404);
    assert.equal((await req(`${cal}ghost.ics`, "GET", { auth: radicale.authHeader })).status, 404);

    // 3. An ordinary write costs two requests (PUT, then the GET that reads back what the upstream kept) and is kept.
    const etag32 = (await listing(`${base}${R_CAL}`, AUTH)).get("gen-32.ics")!;
    const before = proxy.requests();
    r = await req(`${base}${R_CAL}gen-32.ics`, "PUT", { auth: AUTH, body: ev("r-32", 32, "Event 32 edited"), headers: { "if-match": etag32 } });
    assert.equal(r.status, 204, r.body);
    assert.ok(r.headers.get("etag"), "stored as sent: the PUT answers with its ETag");
    assert.equal(proxy.requests() - before, 2);

    // 4. Defects 3 and 11: Radicale stores "Event 33 edited, with Bob" as "Event 33 edited" under a NEW ETag (not the old
    //    version, not ours). The read-back sees it: the cache takes the upstream's rendering, the PUT answers without an
    //    ETag (RFC 4791 5.3.4), and the gateway and the upstream agree (no version is skipped later as "our own echo").
    const etag33 = (await listing(`${base}${R_CAL}`, AUTH)).get("gen-33.ics")!;
    r = await req(`${base}${R_CAL}gen-33.ics`, "PUT", { auth: AUTH, body: ev("r-33", 33, "Event 33 edited, with Bob"), headers: { "if-match": etag33 } });
    assert.ok(r.status === 204 || r.status === 201, r.body);
    assert.equal(r.headers.get("etag"), null, "no ETag: what is stored is not what the client sent");
    assert.equal(summaryOf((await req(`${base}${R_CAL}gen-33.ics`, "GET", { auth: AUTH })).body), "Event 33 edited");
    assert.equal(summaryOf((await req(`${cal}gen-33.ics`, "GET", { auth: radicale.authHeader })).body), "Event 33 edited");
    // The gateway and the upstream agree on all three after a sync.
    await syncNow("r");
    const up = await summariesByUid(cal, radicale.authHeader, summariesOf);
    const mine = await summariesByUid(`${base}${R_CAL}`, AUTH, summariesOf);
    for (const uid of ["r-30", "r-31", "r-32", "r-33"]) assert.equal(mine.get(uid), up.get(uid), uid);
    assert.equal(mine.get("r-32"), "Event 32 edited");
  });

  test("a rejected sync token (valid-sync-token) → full resync without duplicates, losses or ETag churn", async () => {
    const beforeList = await listing(`${base}${R_CAL}`, AUTH);
    const tok = (await syncCollection(`${base}${R_CAL}`, "")).token;
    await db("calendars").where({ name: "r-personal" }).update({ upstream_cursor: JSON.stringify({ mode: "sync", token: "http://radicale.org/ns/sync/0000000000000000000000000000000000000000000000000000000000000000" }), upstream_ctag: null });
    // One more upstream change while the token is bad: it must arrive through the full listing.
    assert.equal((await req(`${radicale.calendarUrls[0]}gen-6.ics`, "PUT", { auth: radicale.authHeader, body: ev("r-6", 6, "Event 6 edited during resync") })).status < 300, true);
    assert.equal((await req(`${radicale.calendarUrls[0]}gen-8.ics`, "DELETE", { auth: radicale.authHeader })).status < 300, true);
    const done = await syncNow("r");
    assert.match(String(done.note ?? ""), /valid-sync-token/);
    assert.equal(done.updated, 1);
    assert.equal(done.deleted, 1);
    assert.equal(done.created, 0);
    const afterList = await listing(`${base}${R_CAL}`, AUTH);
    for (const [name, etag] of beforeList) {
      if (name === "gen-6.ics" || name === "gen-8.ics") continue;
      assert.equal(afterList.get(name), etag, `ETag of ${name} is stable across the refetch`);
    }
    assert.deepEqual([...afterList.keys()].sort(), [...(await listing(radicale.calendarUrls[0]!, radicale.authHeader)).keys()].sort());
    const c = await syncCollection(`${base}${R_CAL}`, tok);
    assert.deepEqual(c.changed, ["gen-6.ics"]);
    assert.deepEqual(c.removed, ["gen-8.ics"]);
  });

  test("faults between gateway and upstream (delay, 503 + Retry-After, reset, truncated body) lose nothing", async () => {
    const cal = radicale.calendarUrls[0]!;
    const faults = [
      { kind: "delay", ms: 800 },
      { kind: "503", retryAfterS: 1 },
      { kind: "reset" },
      { kind: "truncate" },
    ] as const;
    let n = 0;
    for (const fault of faults) {
      n++;
      assert.equal((await req(`${cal}fault-${n}.ics`, "PUT", { auth: radicale.authHeader, body: ev(`r-fault-${n}`, n, `Fault ${fault.kind}`) })).status, 201);
      assert.equal((await req(`${cal}gen-${10 + n}.ics`, "PUT", { auth: radicale.authHeader, body: ev(`r-${10 + n}`, 10 + n, `Edited under ${fault.kind}`) })).status < 300, true);
      // Fault the sync-collection REPORT and the multiget that follows it.
      const seen = proxy.log.length;
      proxy.inject({ fault, match: (m) => m === "REPORT", times: 2 });
      await syncNow("r", "any");
      assert.ok(proxy.log.slice(seen).some((l) => l.fault === fault.kind), `the ${fault.kind} fault was applied`);
      proxy.clear();
      await syncNow("r"); // whatever the fault did, the next sync converges
    }
    // A write made through the gateway while the upstream answers 503: queued, 2xx to the client, replayed later.
    proxy.inject({ fault: { kind: "503", retryAfterS: 1 }, match: (m) => m === "PUT", times: 3 });
    const from = sse.events.length;
    const w = await req(`${base}${R_CAL}queued.ics`, "PUT", { auth: AUTH, body: ev("r-queued", 12, "Queued while down") });
    assert.equal(w.status, 201, w.body);
    assert.ok(proxy.log.some((l) => l.method === "PUT" && l.fault === "503"), "the upstream answered 503 to the write");
    await sse.waitFor((e) => e.event === "write.replayed" && e.data.object === "queued.ics" && e.data.outcome === "ok", 30_000, from);
    assert.match((await req(`${cal}queued.ics`, "GET", { auth: radicale.authHeader })).body, /Queued while down/);
    // The cache equals the upstream, event by event.
    const up = await summariesByUid(cal, radicale.authHeader, summariesOf);
    const mine = await summariesByUid(`${base}${R_CAL}`, AUTH, summariesOf);
    assert.deepEqual([...mine.entries()].sort(), [...up.entries()].sort());
  });

  test("a source that keeps failing is degraded (reads still served) and recovers", async () => {
    const from = sse.events.length;
    proxy.inject({ fault: { kind: "503", retryAfterS: 0 }, times: 100 });
    await syncNow("r", "failed");
    await syncNow("r", "failed");
    const st = await sse.waitFor((e) => e.event === "source.status" && e.data.source === "r", 10_000, from);
    assert.ok(st.data.status === "degraded" || st.data.status === "offline", JSON.stringify(st.data));
    assert.equal((await req(`${base}${R_CAL}gen-20.ics`, "GET", { auth: AUTH })).status, 200, "reads are served from the cache");
    proxy.clear();
    await syncNow("r");
    const ok = await sse.waitFor((e) => e.event === "source.status" && e.data.source === "r" && e.data.status === "ok", 10_000, from);
    assert.ok(ok);
  });

  test("calgate sync --once works beside serve on the same database", async () => {
    assert.equal((await req(`${xandikos.calendarUrls[0]}by-cli.ics`, "PUT", { body: ev("x-cli", 2, "Synced by the CLI") })).status, 201);
    const from = sse.events.length;
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/index.ts", "sync", "--once", "x", "-c", configFile], { cwd: REPO_ROOT, encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match((await req(`${base}${X_CAL}by-cli.ics`, "GET", { auth: AUTH })).body, /Synced by the CLI/);
    // Its events reach the serve process's SSE stream.
    const e = await sse.waitFor((e) => e.event === "sync.completed" && e.data.source === "x", 10_000, from);
    assert.equal(e.data.created, 1);
  });

  test("/metrics: sync runs by source and outcome, upstream requests, outbox queue depth, conflicts", async () => {
    const scrape = async (): Promise<string> => {
      const r = await req(`${base}/metrics`, "GET");
      assert.equal(r.status, 200);
      return r.body;
    };
    const value = (body: string, name: string, labels: Record<string, string>): number | undefined => {
      for (const line of body.split("\n")) {
        const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const got = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
        if (Object.keys(labels).length === Object.keys(got).length && Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
      }
      return undefined;
    };
    /** The sum of every sample of `name` whose labels include `labels`. */
    const sum = (body: string, name: string, labels: Record<string, string>): number => {
      let total = 0;
      for (const line of body.split("\n")) {
        const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const got = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
        if (Object.entries(labels).every(([k, v]) => got[k] === v)) total += Number(m[3]);
      }
      return total;
    };
    // A write queued while the upstream answers 503 shows in the queue depth, and leaves it when replayed.
    proxy.inject({ fault: { kind: "503", retryAfterS: 0 }, match: (m) => m === "PUT", times: 1000 });
    const from = sse.events.length;
    const w = await req(`${base}${R_CAL}metrics-queued.ics`, "PUT", { auth: AUTH, body: ev("r-metrics", 14, "Queued for the metrics"), headers: { "if-none-match": "*" } });
    assert.equal(w.status, 201, w.body);
    let m = await scrape();
    assert.equal(value(m, "calgate_outbox_queue_depth", { source: "r" }), 1, m.split("\n").filter((l) => l.includes("outbox")).join("\n"));
    assert.equal(value(m, "calgate_outbox_queue_depth", { source: "x" }), 0);
    proxy.clear();
    await sse.waitFor((e) => e.event === "write.replayed" && e.data.object === "metrics-queued.ics" && e.data.outcome === "ok", 30_000, from);
    await syncNow("r");
    await syncNow("x");
    m = await scrape();
    assert.equal(value(m, "calgate_outbox_queue_depth", { source: "r" }), 0);
    assert.ok(value(m, "calgate_sync_runs_total", { source: "r", outcome: "ok" })! >= 10, "successful syncs of r are counted");
    assert.ok(value(m, "calgate_sync_runs_total", { source: "r", outcome: "failed" })! >= 2, "failed syncs of r (the degraded test) are counted");
    assert.ok(value(m, "calgate_sync_runs_total", { source: "x", outcome: "ok" })! >= 3);
    assert.ok(sum(m, "calgate_conflicts_total", { source: "r" }) >= 1, "conflicts are counted (by policy and outcome)");
    assert.ok(sum(m, "calgate_conflicts_total", { source: "x" }) >= 1, "conflicts are counted (by policy and outcome)");
    assert.ok(value(m, "calgate_upstream_writes_total", { source: "r", outcome: "retry" })! >= 1);
    assert.ok(value(m, "calgate_upstream_writes_total", { source: "r", outcome: "refused" })! >= 1);
    assert.ok(value(m, "calgate_sync_changes_total", { source: "r", kind: "updated" })! >= 1);
    // Every request to Radicale went through the proxy: the gateway's count is the proxy's count.
    assert.equal(value(m, "calgate_upstream_requests_total", { source: "r" }), proxy.requests());
    assert.ok(value(m, "calgate_upstream_requests_total", { source: "x" })! > 0);
    assert.match(m, /# TYPE calgate_sync_runs_total counter/);
    assert.doesNotMatch(m, /alice/, "no usernames on the unauthenticated /metrics");
  });

  test("defect 6: DELETE and PROPPATCH of upstream-owned properties on a mirrored calendar are refused with 403, not faked", async () => {
    const del = await req(`${base}${R_CAL}`, "DELETE", { auth: AUTH });
    assert.equal(del.status, 403, del.body);
    assert.match(del.body, /<[^>]*error[\s\S]*source "r"/, "a DAV:error saying why");
    const pp = await req(`${base}${R_CAL}`, "PROPPATCH", {
      auth: AUTH,
      body: `<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:a="http://apple.com/ns/ical/"><d:set><d:prop><d:displayname>Renamed here</d:displayname></d:prop></d:set></d:propertyupdate>`,
    });
    assert.equal(pp.status, 207, pp.body);
    assert.match(pp.body, /403/);
    assert.match(pp.body, /cannot-modify-protected-property/);
    // A presentation property the upstream does not own stays settable.
    const order = await req(`${base}${R_CAL}`, "PROPPATCH", {
      auth: AUTH,
      body: `<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:a="http://apple.com/ns/ical/"><d:set><d:prop><a:calendar-order>3</a:calendar-order></d:prop></d:set></d:propertyupdate>`,
    });
    assert.equal(order.status, 207, order.body);
    assert.match(order.body, /200 OK/);
    assert.equal((await req(`${base}${R_CAL}`, "PROPFIND", { auth: AUTH, headers: { depth: "0" } })).status, 207, "the calendar is still there");
    await syncNow("r");
    assert.equal((await req(`${base}${R_CAL}`, "PROPFIND", { auth: AUTH, headers: { depth: "0" } })).status, 207);
  });

  test("SSE: authenticated, scoped to the user, resumable with Last-Event-ID", async () => {
    const anon = await openSse(base, null);
    assert.equal(anon.status, 401);
    const bob = "Basic " + Buffer.from("alice:wrong").toString("base64");
    assert.equal((await openSse(base, bob)).status, 401);
    for (const e of sse.events) {
      assert.ok(e.id !== "" && typeof e.data.at === "string" && typeof e.data.source === "string", JSON.stringify(e));
      assert.equal(e.data.owner, undefined);
    }
    const conflicts = sse.events.filter((e) => e.event === "conflict.detected");
    assert.ok(conflicts.length >= 2);
    const pivot = conflicts[0]!;
    const resumed = await openSse(base, AUTH, pivot.id);
    const next = await resumed.waitFor((e) => e.event === "conflict.detected", 5000);
    assert.equal(next.id, conflicts[1]!.id, "resume starts right after Last-Event-ID");
    assert.ok(Number(resumed.events[0]!.id) > Number(pivot.id));
    resumed.close();
    assert.equal((await req(`${base}/sync?source=nope`, "POST", { auth: AUTH })).status, 404);
    assert.equal((await req(`${base}/sync`, "POST", { auth: null })).status, 401);
  });

  test("upstream calendars added, renamed (and recoloured) and removed are followed; an empty listing deletes nothing", async () => {
    /** href → { displayname, color } of the calendars in the gateway home. */
    const home = async (): Promise<Map<string, { displayname: string; color: string }>> => {
      const r = await req(`${base}/dav/calendars/${USER}/`, "PROPFIND", {
        auth: AUTH,
        headers: { depth: "1" },
        body: `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:a="http://apple.com/ns/ical/"><d:prop><d:displayname/><a:calendar-color/><d:resourcetype/></d:prop></d:propfind>`,
      });
      assert.equal(r.status, 207, r.body);
      const out = new Map<string, { displayname: string; color: string }>();
      for (const resp of elements(parseXml(r.body), "{DAV:}response")) {
        const href = text(child(resp, "{DAV:}href")!);
        const ok = elements(resp, "{DAV:}propstat").find((p) => /200/.test(text(child(p, "{DAV:}status")!)));
        const prop = ok ? child(ok, "{DAV:}prop")! : undefined;
        if (!prop || !child(child(prop, "{DAV:}resourcetype")!, "{urn:ietf:params:xml:ns:caldav}calendar")) continue;
        const dn = child(prop, "{DAV:}displayname");
        const color = child(prop, "{http://apple.com/ns/ical/}calendar-color");
        out.set(href, { displayname: dn ? text(dn) : "", color: color ? text(color) : "" });
      }
      return out;
    };
    const W_CAL = `/dav/calendars/${USER}/r-work/`;
    const workUrl = `${radicale.calendarHomeUrl}work/`;
    // Added: MKCALENDAR straight on Radicale, with an event in it.
    const mk = await req(workUrl, "MKCALENDAR", {
      auth: radicale.authHeader,
      body: `<?xml version="1.0"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:a="http://apple.com/ns/ical/"><d:set><d:prop><d:displayname>Work</d:displayname><a:calendar-color>#10b981</a:calendar-color><c:supported-calendar-component-set><c:comp name="VEVENT"/></c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>`,
    });
    assert.equal(mk.status, 201, mk.body);
    assert.equal((await req(`${workUrl}w-1.ics`, "PUT", { auth: radicale.authHeader, body: ev("r-work-1", 1, "Work event") })).status, 201);
    await syncNow("r");
    let h = await home();
    assert.deepEqual(h.get(W_CAL), { displayname: "Work", color: "#10b981" }, [...h.keys()].join(", "));
    assert.ok(h.has(R_CAL) && h.has(X_CAL));
    assert.equal(summaryOf((await req(`${base}${W_CAL}w-1.ics`, "GET", { auth: AUTH })).body), "Work event");

    // Renamed and recoloured upstream (PROPPATCH): same gateway URL, new displayname and color.
    const pp = await req(workUrl, "PROPPATCH", {
      auth: radicale.authHeader,
      body: `<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:a="http://apple.com/ns/ical/"><d:set><d:prop><d:displayname>Work (renamed)</d:displayname><a:calendar-color>#ef4444</a:calendar-color></d:prop></d:set></d:propertyupdate>`,
    });
    assert.equal(pp.status, 207, pp.body);
    await syncNow("r");
    h = await home();
    assert.deepEqual(h.get(W_CAL), { displayname: "Work (renamed)", color: "#ef4444" });
    assert.equal(summaryOf((await req(`${base}${W_CAL}w-1.ics`, "GET", { auth: AUTH })).body), "Work event", "contents survive a rename");

    // A transient empty listing of the home (the upstream answers 207 with no calendars): the sync fails
    // loudly, and neither calendar nor any event is dropped (vdirsyncer's StorageEmpty guard).
    const countBefore = (await listing(`${base}${R_CAL}`, AUTH)).size;
    const emptyHome = `<?xml version="1.0" encoding="utf-8"?><multistatus xmlns="DAV:"><response><href>/${radicale.username}/</href><propstat><prop><resourcetype><collection/></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>`;
    proxy.inject({ fault: { kind: "status", code: 207, body: emptyHome }, match: (m, p) => m === "PROPFIND" && p === `/${radicale.username}/`, times: 2 });
    const failed = await syncNow("r", "failed");
    assert.match(String(failed.error), /listed no calendars/);
    h = await home();
    assert.ok(h.has(R_CAL) && h.has(W_CAL), "no calendar dropped on an empty listing");
    assert.equal((await listing(`${base}${R_CAL}`, AUTH)).size, countBefore, "no event dropped on an empty listing");
    proxy.clear();
    await syncNow("r");
    assert.ok((await home()).has(W_CAL));

    // Removed upstream (DELETE on the collection). Defect 5: one listing without it drops nothing (it may be a
    // glitch of the upstream, and dropping would invalidate every client's sync token); after three it is gone.
    const del = await req(workUrl, "DELETE", { auth: radicale.authHeader });
    assert.ok(del.status === 200 || del.status === 204, `DELETE ${workUrl} → ${del.status}`);
    await syncNow("r");
    h = await home();
    assert.ok(h.has(W_CAL), "a calendar missing from one listing is kept");
    assert.equal(summaryOf((await req(`${base}${W_CAL}w-1.ics`, "GET", { auth: AUTH })).body), "Work event");
    await syncNow("r");
    await syncNow("r");
    h = await home();
    assert.ok(!h.has(W_CAL), "the removed upstream calendar left the gateway home after three listings without it");
    assert.ok(h.has(R_CAL) && h.has(X_CAL));
    const gone = (await req(`${base}${W_CAL}w-1.ics`, "GET", { auth: AUTH })).status;
    assert.ok(gone === 404 || gone === 409, `GET in the removed calendar → ${gone}`); // 409: the parent collection does not exist
    assert.equal((await listing(`${base}${R_CAL}`, AUTH)).size, countBefore);
  });
});
