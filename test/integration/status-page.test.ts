/**
 * GET /status.json, `source.status` payloads and the status page (GET /status) on an in-process
 * server whose source is a scripted memory upstream:
 *   - /status.json lists the user's sources (id, type, state, lastSyncAt, nextSyncAt, outbox,
 *     lastError, calendars) and conflicts, behind the login, and nothing of another user's;
 *   - a failing source turns offline with a `source.status` event that says what went wrong, what
 *     to do about it and when the next attempt is; a queued write shows as outbox backlog; an
 *     adapter's warning (a sign-in about to expire) reaches the event and /status.json;
 *   - the page, in headless Chromium (playwright-core driving the Debian chromium): loads, shows
 *     the source, and updates when a sync completes after "Sync now" is pressed; its screenshot
 *     is kept in test-artifacts/status-page.png.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { parseConfigText } from "../../src/config/load.ts";
import { startServer } from "../../src/main.ts";
import type { ServerHandle } from "../../src/cli/contract.ts";
import type { SourceContext } from "../../src/sources/adapter.ts";
import { MemoryUpstream } from "../helpers/memory-upstream.ts";
import { basic, dav } from "../helpers/inproc.ts";
import { SseReader, type SseEvent } from "../helpers/sse-client.ts";
import { openDb } from "../../src/store/db.ts";
import { statusRoutes } from "../../src/http/status-page.ts";
import type { StatusDocument } from "../../src/status/snapshot.ts";
import Koa from "koa";
import type { AddressInfo } from "node:net";

const ROOT = join(import.meta.dirname, "..", "..");
const CHROMIUM = "/usr/bin/chromium";
const ALICE = basic("alice", "secret-a");
const BOB = basic("bob", "secret-b");
const ev = (uid: string, summary: string): string =>
  `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250301T100000Z\r\nDTEND:20250301T110000Z\r\nSUMMARY:${summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;

function yaml(file: string): string {
  return `server: { host: 127.0.0.1, port: 0 }
storage: { client: sqlite, filename: "${file}" }
sync: { schedule: "0 0 1 1 *", jitterSeconds: 0, writeDeadlineMs: 300, timeoutMs: 2000 }
logging: { level: error }
users:
  - username: alice
    password: secret-a
    sources:
      - { id: up, type: caldav, url: "http://127.0.0.1:1/", username: u, password: p }
      - { id: home, type: local, calendars: [{ id: personal, name: Personal, color: "#3b82f6" }] }
  - username: bob
    password: secret-b
    sources: [{ id: bobs, type: local, calendars: [{ id: private, name: BobPrivate }] }]
`;
}

interface SourceJson {
  id: string;
  type: string;
  state: string;
  lastSyncAt: string | null;
  nextSyncAt: string | null;
  outbox: number;
  lastError: { message: string; advice: string; at: string | null } | null;
  warning: string | null;
  calendars: { id: string; name: string; color: string | null; href: string }[];
}
interface StatusJson {
  user: string;
  sources: SourceJson[];
  conflicts: { pending: number; items: unknown[] };
}

describe("status: /status.json, source.status and the status page", () => {
  let dir: string;
  let server: ServerHandle;
  let base: string;
  let feed: SseReader;
  const upstream = new MemoryUpstream();
  let warnNext: string | null = null;

  const statusJson = async (auth = ALICE): Promise<StatusJson> => {
    const r = await fetch(`${base}/status.json`, { headers: { authorization: auth } });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /application\/json/);
    return (await r.json()) as StatusJson;
  };
  /** POST /sync and the sync.completed / sync.failed event that ends it. */
  const syncNow = async (): Promise<SseEvent> => {
    const from = feed.events.length;
    assert.equal((await dav(base, "POST", "/sync?source=up", { auth: ALICE })).status, 202);
    await feed.until("the end of the sync", (r) => r.events.slice(from).some((e) => e.event === "sync.completed" || e.event === "sync.failed"));
    return feed.events.slice(from).find((e) => e.event === "sync.completed" || e.event === "sync.failed")!;
  };

  let file: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "calgate-status-"));
    file = join(dir, "db.sqlite");
    upstream.other.put("cal1", "a.ics", ev("a@test", "first"));
    const adapter = () => {
      const a = upstream.adapter();
      const list = a.listCalendars.bind(a);
      a.listCalendars = async (ctx: SourceContext) => {
        if (warnNext) await ctx.warn(warnNext);
        return list(ctx);
      };
      return a;
    };
    server = await startServer(parseConfigText(yaml(file), join(dir, "calgate.yaml"), {}), { configPath: null, generatedPassword: null, logger: pino({ level: "silent" }), adapters: { caldav: adapter } });
    base = server.url.replace(/\/$/, "");
    feed = await SseReader.open(`${base}/events`, { authorization: ALICE, "last-event-id": "0" });
    await feed.until("the start-up sync", (r) => r.events.some((e) => e.event === "sync.completed"));
  });
  after(async () => {
    feed?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("/status.json: every source with its state, times, outbox, last error and calendars; behind the login; only the user's own", async () => {
    assert.equal((await fetch(`${base}/status.json`)).status, 401);
    assert.equal((await fetch(`${base}/status`)).status, 401);
    const doc = await statusJson();
    assert.equal(doc.user, "alice");
    assert.deepEqual(doc.sources.map((s) => [s.id, s.type, s.state]), [["up", "caldav", "ok"], ["home", "local", "ok"]]);
    const up = doc.sources[0]!;
    assert.match(up.lastSyncAt ?? "", /^\d{4}-\d\d-\d\dT/);
    assert.ok(up.nextSyncAt !== null && Date.parse(up.nextSyncAt) > Date.now(), `the next scheduled sync is ahead: ${up.nextSyncAt}`);
    assert.equal(up.outbox, 0);
    assert.equal(up.lastError, null);
    assert.equal(up.calendars.length, 1);
    assert.match(up.calendars[0]!.href, /^\/dav\/calendars\/alice\/[^/]+\/$/);
    assert.deepEqual(doc.sources[1]!.calendars.map((c) => [c.name, c.color]), [["Personal", "#3b82f6"]]);
    assert.match(doc.sources[1]!.calendars[0]!.id, /personal/);
    assert.deepEqual(doc.conflicts, { pending: 0, items: [] });
    const bob = JSON.stringify(await statusJson(BOB));
    assert.ok(!bob.includes('"up"') && !bob.includes("Personal"), `bob sees nothing of alice's: ${bob}`);
  });

  test("a failing source: source.status says offline, what went wrong, what to do and when it retries; success clears it", async () => {
    upstream.fault({ op: "listCalendars", action: { kind: "transient", status: null }, times: 2 });
    const from = feed.events.length;
    assert.equal((await syncNow()).event, "sync.failed");
    assert.equal((await syncNow()).event, "sync.failed"); // the second failure in a row turns the state
    await feed.until("source.status offline", (r) => r.events.slice(from).some((e) => e.event === "source.status"));
    const st = feed.events.slice(from).find((e) => e.event === "source.status")!.data;
    assert.equal(st.status, "offline");
    const lastError = st.lastError as { message: string; advice: string };
    assert.match(lastError.message, /unreachable/);
    assert.match(lastError.advice, /network/);
    assert.match(lastError.advice, /cache/);
    assert.ok(typeof st.nextSyncAt === "string" && Date.parse(st.nextSyncAt) > Date.now() - 1000, "the retry time is announced");
    assert.equal(typeof st.outbox, "number");
    assert.match(String(st.lastSyncAt), /^\d{4}-/, "the last successful sync is still named");
    const doc = await statusJson();
    assert.equal(doc.sources[0]!.state, "offline");
    assert.deepEqual(doc.sources[0]!.lastError?.advice, lastError.advice);

    const back = feed.events.length;
    assert.equal((await syncNow()).event, "sync.completed");
    const ok = feed.events.slice(back).find((e) => e.event === "source.status")!.data;
    assert.equal(ok.status, "ok");
    assert.equal(ok.lastError, null);
    assert.equal((await statusJson()).sources[0]!.state, "ok");
  });

  test("a write waiting for its upstream shows as outbox backlog", async () => {
    upstream.fault({ op: "write", action: { kind: "transient", status: 503 }, times: Infinity });
    try {
      const cal = (await statusJson()).sources[0]!.calendars[0]!;
      const put = await dav(base, "PUT", `${cal.href}queued.ics`, { auth: ALICE, body: ev("queued@test", "queued") });
      assert.ok(put.status === 201 || put.status === 204, `PUT answered ${put.status}`);
      assert.equal((await statusJson()).sources[0]!.outbox, 1);
    } finally {
      upstream.clearFaults();
    }
    const from = feed.events.length;
    await feed.until("the queued write delivered", (r) => r.events.slice(from).some((e) => e.event === "write.replayed" && e.data.outcome === "ok"), 30_000);
    assert.equal((await statusJson()).sources[0]!.outbox, 0);
  });

  test("an adapter's warning (a sign-in about to expire) reaches source.status and /status.json, and goes once the cause does", async () => {
    warnNext = 'The sign-in of source "up" expires on 2099-01-01 00:00:00 UTC; run `calgate auth google up` before then to keep it syncing.';
    const from = feed.events.length;
    await syncNow();
    const st = feed.events.slice(from).find((e) => e.event === "source.status")!.data;
    assert.equal(st.message, warnNext);
    assert.equal(st.warning, warnNext);
    assert.equal((await statusJson()).sources[0]!.warning, warnNext);
    warnNext = null;
    await syncNow();
    assert.equal((await statusJson()).sources[0]!.warning, null);
  });

  test("the status page in headless Chromium: loads, shows the source, updates live when a sync completes", async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`${CHROMIUM} is missing (Debian package chromium; test/run.sh installs it when run as root)`);
      return;
    }
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
    try {
      const context = await browser.newContext({ httpCredentials: { username: "alice", password: "secret-a" }, viewport: { width: 1000, height: 1100 } });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      page.on("console", (m) => (m.type() === "error" ? errors.push(m.text()) : undefined));
      const res = await page.goto(`${base}/status`);
      assert.equal(res?.status(), 200);
      assert.equal(await page.locator("h1").textContent(), "calgate status");
      const up = page.locator('article[data-source="up"]');
      await up.waitFor();
      assert.match((await up.locator("h3").textContent()) ?? "", /up \(caldav\)/);
      assert.equal(await up.getAttribute("data-state"), "ok");
      assert.equal(await page.locator("#announce").getAttribute("aria-live"), "polite");
      await page.locator("#connection", { hasText: "connected" }).waitFor({ timeout: 10_000 });
      const before = await up.locator(".last-sync time").getAttribute("datetime");
      assert.ok(before, "the last sync time is shown");

      upstream.other.put("cal1", "b.ics", ev("b@test", "second"));
      await page.getByRole("button", { name: "Sync now", exact: true }).click();
      // The live list gets the sync.completed event, the polite region announces it, the source's time moves.
      // (Waited for by its content: on a loaded machine an earlier sync's event may still be arriving.)
      await page.locator('#live li[data-type="sync.completed"]', { hasText: "1 new" }).first().waitFor({ timeout: 15_000 });
      await page.locator("#announce", { hasText: "completed" }).waitFor({ timeout: 15_000 });
      await page.waitForFunction((prev) => document.querySelector('article[data-source="up"] .last-sync time')?.getAttribute("datetime") !== prev, before, { timeout: 15_000 });
      // An event kind the page does not know (as mirror rules will publish) is listed with its fields.
      const db = await openDb(file);
      try {
        const at = Date.now();
        await db("status_events").insert({ owner: "alice", type: "mirror.copied", at, payload: JSON.stringify({ type: "mirror.copied", owner: "alice", source: "up", at: new Date(at).toISOString(), from: "up/cal1", to: "home/personal" }) });
      } finally {
        await db.destroy();
      }
      const unknown = page.locator('#live li[data-type="mirror.copied"]');
      await unknown.waitFor({ timeout: 10_000 });
      assert.match((await unknown.textContent()) ?? "", /mirror\.copied up: from=up\/cal1, to=home\/personal/);
      mkdirSync(join(ROOT, "test-artifacts"), { recursive: true });
      const shot = join(ROOT, "test-artifacts", "status-page.png");
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`# status page screenshot: ${shot}`);
      assert.deepEqual(errors, [], "no script errors on the page");
    } finally {
      await browser.close();
    }
  });

  test("sections other parts add (merged calendars, mirror rules) appear in /status.json and render as generic tables", async () => {
    const doc = {
      user: "alice", at: new Date().toISOString(), sources: [], conflicts: { pending: 0, items: [] },
      merged: [{ id: "all", name: "Everything", include: ["home/*", "up/*"] }],
      mirrors: [{ from: "up/cal1", to: "home/personal", mode: "busy", lastCopyAt: null }],
    } as unknown as StatusDocument;
    const route = statusRoutes({ of: async () => doc });
    const app = new Koa();
    app.use(async (ctx) => {
      if (!(await route(ctx, null, async () => "alice"))) ctx.status = 404;
    });
    const srv = app.listen(0, "127.0.0.1");
    await new Promise((r) => srv.once("listening", r));
    try {
      const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
      const json = (await (await fetch(`${url}/status.json`)).json()) as Record<string, unknown>;
      assert.deepEqual(json.merged, doc.merged);
      const html = await (await fetch(`${url}/status`)).text();
      assert.match(html, /<h2 id="h-merged">Merged<\/h2>/);
      assert.match(html, /<th scope="col">include<\/th>/);
      assert.match(html, /<td>\[&quot;home\/\*&quot;,&quot;up\/\*&quot;\]<\/td>/);
      assert.match(html, /<h2 id="h-mirrors">Mirrors<\/h2>[\s\S]*<td>busy<\/td>/);
    } finally {
      srv.close();
    }
  });
});
