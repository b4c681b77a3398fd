/**
 * `npm run bench -- --sync`: the sync side of calgate against a real Radicale, each upstream behind
 * the tests' counting proxy (test/helpers/fault-proxy.ts, no faults injected), so every upstream
 * request is counted where it is sent:
 *
 * 1. Import: Radicale holds --events generated events in one calendar (written straight into its
 *    storage, then read once so its item cache is warm); calgate starts with that Radicale as a CalDAV
 *    source and imports it in its start-up sync. Reported: the engine's own duration (sync.started →
 *    sync.completed), the wall time from spawning calgate, upstream requests by method, calgate's CPU
 *    and peak RSS; the gateway's PROPFIND Depth 1 must list exactly the upstream's objects.
 * 2. Change latency (same calgate): an event is changed in Radicale directly, POST /sync is sent, and
 *    a client's sync-collection (with its last token) is polled every 10 ms until it names the
 *    event: trigger → visible to the client. A scheduled poll adds up to one `sync.schedule` period
 *    plus `sync.jitterSeconds` in front of this.
 * 3. Idle poll: a second Radicale user with 50 calendars of 20 events each, a second calgate; after
 *    the import and one settling sync, 10 polls (POST /sync) with nothing changed upstream: upstream
 *    requests and calgate CPU (/proc, 10 ms ticks, so averaged over the polls) per poll.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startFaultProxy, type FaultProxy } from "../test/helpers/fault-proxy.ts";
import { peerAvailable, startRadicale, type PeerServer } from "../test/helpers/peers.ts";
import { SseReader, type SseEvent } from "../test/helpers/sse-client.ts";
import { generateEvents, type BenchEvent } from "./generate.ts";
import { Client, cpuMs, memMB, percentile, round } from "./http.ts";
import { readMultistatus } from "./multistatus.ts";
import { fmtNum, table } from "./report.ts";
import { startCalgateBench, USER, type BenchTarget } from "./servers.ts";

export const POLL_CALENDARS = 50;
const POLL_EVENTS_PER_CALENDAR = 20;
const POLLS = 10;
const CHANGES = 5;
/** How long one sync may take before the bench gives up (a 100k import is slow). */
const SYNC_TIMEOUT_MS = 60 * 60_000;

export interface SyncResult {
  events: number;
  import?: {
    /** sync.completed's own duration (ms), engine's request count. */
    engineMs: number;
    engineRequests: number;
    /** From spawning calgate to receiving sync.completed (start-up included). */
    wallSeconds: number;
    eventsPerSec: number;
    proxyRequests: number;
    byMethod: Record<string, number>;
    calgateCpuSeconds: number;
    hwmMB: number;
    /** null when the gateway lists exactly the upstream's objects. */
    wrong: string | null;
  };
  change?: { trials: number; msToVisible: number[]; p50: number; max: number; proxyRequestsPerSync: number[] };
  idlePoll?: { calendars: number; polls: number; proxyRequests: number[]; engineRequests: number[]; cpuMsPerPoll: number; engineMs: number[] };
  error?: string;
}

const XML = { "content-type": "application/xml; charset=utf-8" };
const syncBody = (token: string): string =>
  `<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:">${token ? `<d:sync-token>${token.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</d:sync-token>` : "<d:sync-token/>"}<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`;
const lastSegment = (href: string): string => decodeURIComponent(href.replace(/\/$/, "").slice(href.replace(/\/$/, "").lastIndexOf("/") + 1));

function calgateConfig(upstream: string, user: { username: string; password: string }): (port: number, dataDir: string) => string {
  const q = JSON.stringify;
  return (port, dataDir) =>
    [
      `server: { host: 127.0.0.1, port: ${port} }`,
      `storage: { client: sqlite, filename: ${q(join(dataDir, "calgate.sqlite"))} }`,
      `logging: { level: warn }`,
      // Only the start-up sync and POST /sync run: the yearly schedule never fires during the bench.
      `sync: { schedule: "0 0 1 1 *", jitterSeconds: 0, timeoutMs: 600000 }`,
      `users:`,
      `  - username: ${q(USER.username)}`,
      `    password: ${q(USER.password)}`,
      `    sources: [{ id: r, type: caldav, url: ${q(upstream + "/")}, username: ${q(user.username)}, password: ${q(user.password)} }]`,
      "",
    ].join("\n");
}

/** Writes events straight into a Radicale calendar (as its PUT would leave them), then reads it once to build Radicale's item cache. */
async function fillRadicale(r: PeerServer, user: string, calendar: string, events: BenchEvent[]): Promise<void> {
  const dir = join(r.dataDir, "collections", "collection-root", user, calendar);
  for (const ev of events) writeFileSync(join(dir, ev.name), ev.ics);
  const res = await fetch(`${r.baseUrl}/${user}/${calendar}/`, { method: "PROPFIND", headers: { ...XML, depth: "1", authorization: r.authHeader }, body: `<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>` });
  await res.arrayBuffer();
  if (res.status !== 207) throw new Error(`Radicale warm-up PROPFIND of ${calendar} → ${res.status}`);
}

interface Gateway {
  t: BenchTarget;
  sse: SseReader;
  client: Client;
  /** Spawn → ready, ms since the bench's clock origin. */
  spawnedAt: number;
}

/** How calgate is started: from dist/ or the sources, with which extra node options. */
interface Launch { built: boolean; image: boolean; nodeArgs: string[] }
async function startGateway(proxy: FaultProxy, user: { username: string; password: string }, launch: Launch): Promise<Gateway> {
  const spawnedAt = performance.now();
  const t = await startCalgateBench({ ...launch, config: calgateConfig(proxy.url, user) });
  const sse = await SseReader.open(`${t.baseUrl}/events`, { authorization: t.auth, "last-event-id": "0" });
  return { t, sse, client: new Client(t.auth, 4), spawnedAt };
}
async function stopGateway(g: Gateway | undefined): Promise<void> {
  g?.sse.close();
  g?.client.close();
  await g?.t.stop();
}

/** The first sync.completed / sync.failed of source r from index `from` on (after a sync.started found there, when `afterStart`). */
async function syncEnd(g: Gateway, from: number, afterStart: boolean): Promise<SseEvent> {
  let startId = -1;
  if (afterStart) {
    await g.sse.until("sync.started", (s) => s.events.slice(from).some((e) => e.event === "sync.started"), SYNC_TIMEOUT_MS);
    startId = Number(g.sse.events.slice(from).find((e) => e.event === "sync.started")!.id);
  }
  const end = (e: SseEvent): boolean => (e.event === "sync.completed" || e.event === "sync.failed") && Number(e.id) > startId;
  await g.sse.until("sync.completed", (s) => s.events.slice(from).some(end), SYNC_TIMEOUT_MS);
  const e = g.sse.events.slice(from).find(end)!;
  if (e.event === "sync.failed") throw new Error(`sync failed: ${JSON.stringify(e.data)}`);
  return e;
}

/** POST /sync and wait for the end of a run that started after it (a run under way may have read the upstream before). */
async function syncNow(g: Gateway): Promise<SseEvent> {
  const from = g.sse.events.length;
  const r = await g.client.request({ method: "POST", url: `${g.t.baseUrl}/sync?source=r` });
  if (r.status !== 202) throw new Error(`POST /sync → ${r.status}: ${r.body.slice(0, 200)}`);
  return syncEnd(g, from, true);
}

async function syncCollection(g: Gateway, url: string, token: string): Promise<{ token: string; names: string[] }> {
  const r = await g.client.request({ method: "REPORT", url, headers: { ...XML, depth: "1" }, body: syncBody(token) });
  if (r.status !== 207) throw new Error(`sync-collection on ${url} → ${r.status}: ${r.body.slice(0, 300)}`);
  const m = readMultistatus(r.body);
  return { token: m.syncToken ?? "", names: m.responses.map((x) => lastSegment(x.href)).filter((n) => n !== lastSegment(url)) };
}

async function importAndChange(res: SyncResult, events: BenchEvent[], launch: Launch, log: (...a: unknown[]) => void): Promise<void> {
  const user = { username: "imp", password: "imp" };
  const r = await startRadicale({ users: [user], calendars: ["big"] });
  let proxy: FaultProxy | undefined;
  let g: Gateway | undefined;
  try {
    log(`  sync: writing ${events.length} events into Radicale and warming its cache`);
    await fillRadicale(r, user.username, "big", events);
    proxy = await startFaultProxy(r.baseUrl);
    log(`  sync: starting calgate with Radicale as a CalDAV source (import of ${events.length} events)`);
    g = await startGateway(proxy, user, launch);
    const done = await syncEnd(g, 0, false);
    const wallSeconds = (performance.now() - g.spawnedAt) / 1000;
    const byMethod: Record<string, number> = {};
    for (const l of proxy.log) byMethod[l.method] = (byMethod[l.method] ?? 0) + 1;
    const calUrl = `${g.t.baseUrl}/dav/calendars/${USER.username}/r-big/`;
    const listing = await g.client.request({ method: "PROPFIND", url: calUrl, headers: { ...XML, depth: "1" }, body: `<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>` });
    const got = new Set(listing.status === 207 ? readMultistatus(listing.body).responses.map((x) => lastSegment(x.href)).filter((n) => n !== "r-big") : []);
    const missing = events.filter((e) => !got.has(e.name)).length;
    const engineMs = Number(done.data.ms);
    res.import = {
      engineMs,
      engineRequests: Number(done.data.requests),
      wallSeconds: round(wallSeconds, 2),
      eventsPerSec: round(events.length / (engineMs / 1000), 1),
      proxyRequests: proxy.requests(),
      byMethod,
      calgateCpuSeconds: round((cpuMs(g.t.pid) ?? NaN) / 1000, 2),
      hwmMB: memMB(g.t.pid)?.hwm ?? NaN,
      wrong: listing.status !== 207 ? `gateway PROPFIND → ${listing.status}` : missing || got.size !== events.length ? `gateway lists ${got.size} objects, ${missing} of the ${events.length} upstream objects missing` : null,
    };
    log(`  sync: imported in ${engineMs} ms (engine), ${res.import.proxyRequests} upstream requests${res.import.wrong ? "; WRONG: " + res.import.wrong : ""}`);

    let token = (await syncCollection(g, calUrl, "")).token;
    const change: NonNullable<SyncResult["change"]> = { trials: 0, msToVisible: [], p50: NaN, max: NaN, proxyRequestsPerSync: [] };
    for (let k = 0; k < CHANGES; k++) {
      const ev = events[(k * 7919) % events.length]!;
      const ics = ev.ics.replace("BEGIN:VEVENT\r\n", `BEGIN:VEVENT\r\nX-BENCH-CHANGE:${k}\r\n`);
      const put = await fetch(`${r.calendarUrls[0]}${encodeURIComponent(ev.name)}`, { method: "PUT", headers: { authorization: r.authHeader, "content-type": "text/calendar; charset=utf-8" }, body: ics });
      await put.arrayBuffer();
      if (put.status >= 300) throw new Error(`PUT to Radicale → ${put.status}`);
      const before = proxy.requests();
      const from = g.sse.events.length;
      const t0 = performance.now();
      const post = await g.client.request({ method: "POST", url: `${g.t.baseUrl}/sync?source=r` });
      if (post.status !== 202) throw new Error(`POST /sync → ${post.status}`);
      for (;;) {
        const s = await syncCollection(g, calUrl, token);
        if (s.names.includes(ev.name)) {
          change.msToVisible.push(round(performance.now() - t0, 1));
          token = s.token;
          break;
        }
        if (performance.now() - t0 > SYNC_TIMEOUT_MS) throw new Error(`${ev.name} changed upstream did not reach sync-collection`);
        await new Promise((res) => setTimeout(res, 10));
      }
      await syncEnd(g, from, true);
      change.proxyRequestsPerSync.push(proxy.requests() - before);
      change.trials++;
    }
    const sorted = [...change.msToVisible].sort((a, b) => a - b);
    change.p50 = percentile(sorted, 0.5);
    change.max = sorted[sorted.length - 1]!;
    res.change = change;
    log(`  sync: change → client's sync-collection p50 ${change.p50} ms over ${change.trials}`);
  } finally {
    await stopGateway(g);
    await proxy?.close();
    await r.stop();
  }
}

async function idlePolls(res: SyncResult, seed: number, launch: Launch, log: (...a: unknown[]) => void): Promise<void> {
  const user = { username: "poll", password: "poll" };
  const names = Array.from({ length: POLL_CALENDARS }, (_, i) => `cal-${String(i).padStart(2, "0")}`);
  const r = await startRadicale({ users: [user], calendars: names });
  let proxy: FaultProxy | undefined;
  let g: Gateway | undefined;
  try {
    log(`  sync: ${POLL_CALENDARS} calendars of ${POLL_EVENTS_PER_CALENDAR} events in Radicale`);
    for (let i = 0; i < names.length; i++) await fillRadicale(r, user.username, names[i]!, generateEvents(seed, POLL_EVENTS_PER_CALENDAR, 1_000_000 + i * POLL_EVENTS_PER_CALENDAR));
    proxy = await startFaultProxy(r.baseUrl);
    g = await startGateway(proxy, user, launch);
    await syncEnd(g, 0, false);
    // Settle: a sync overlapping the start stored the change marker read before its pull, so the next poll may re-check once.
    await syncNow(g);
    const out: NonNullable<SyncResult["idlePoll"]> = { calendars: POLL_CALENDARS, polls: POLLS, proxyRequests: [], engineRequests: [], cpuMsPerPoll: NaN, engineMs: [] };
    const cpu0 = cpuMs(g.t.pid) ?? NaN;
    for (let k = 0; k < POLLS; k++) {
      const before = proxy.requests();
      const e = await syncNow(g);
      out.proxyRequests.push(proxy.requests() - before);
      out.engineRequests.push(Number(e.data.requests));
      out.engineMs.push(Number(e.data.ms));
    }
    out.cpuMsPerPoll = round(((cpuMs(g.t.pid) ?? NaN) - cpu0) / POLLS, 1);
    res.idlePoll = out;
    log(`  sync: idle poll of ${POLL_CALENDARS} calendars: ${out.proxyRequests.join(",")} upstream requests, ${out.cpuMsPerPoll} ms calgate CPU per poll`);
  } finally {
    await stopGateway(g);
    await proxy?.close();
    await r.stop();
  }
}

export async function runSyncBench(opts: { events: number; seed: number; built: boolean; image: boolean; nodeArgs?: string[]; log: (...a: unknown[]) => void }): Promise<SyncResult> {
  const res: SyncResult = { events: opts.events };
  const missing = peerAvailable("radicale");
  if (missing) return { ...res, error: missing };
  try {
    opts.log(`generating ${opts.events} events (seed ${opts.seed})`);
    const launch: Launch = { built: opts.built, image: opts.image, nodeArgs: opts.nodeArgs ?? [] };
    await importAndChange(res, generateEvents(opts.seed, opts.events), launch, opts.log);
    await idlePolls(res, opts.seed, launch, opts.log);
  } catch (e) {
    res.error = (e as Error).stack ?? String(e);
    opts.log(`  sync FAILED: ${res.error}`);
  }
  return res;
}

const med = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 0.5);

export function syncReport(s: SyncResult): string {
  const rows: string[][] = [];
  const i = s.import;
  if (i) {
    rows.push([`import of ${s.events} events: engine time (sync.started → completed)`, `${round(i.engineMs / 1000, 2)} s (${fmtNum(i.eventsPerSec)} events/s)${i.wrong ? " WRONG" : ""}`]);
    rows.push(["import: calgate spawned → sync.completed received", `${i.wallSeconds} s`]);
    rows.push(["import: upstream requests (proxy; engine's count)", `${i.proxyRequests} (${Object.entries(i.byMethod).map(([m, n]) => `${n} ${m}`).join(", ")}); engine ${i.engineRequests}`]);
    rows.push(["import: calgate CPU (start-up included), peak RSS", `${i.calgateCpuSeconds} s, VmHWM ${i.hwmMB} MB`]);
    rows.push(["import: gateway PROPFIND Depth 1 = upstream objects", i.wrong ?? "yes"]);
  }
  const c = s.change;
  if (c) {
    rows.push([`changed upstream → in a client's sync-collection after POST /sync (${c.trials} trials, 10 ms polling)`, `p50 ${c.p50} ms, max ${c.max} ms`]);
    rows.push(["  upstream requests per such sync", c.proxyRequestsPerSync.join(", ")]);
  }
  const p = s.idlePoll;
  if (p) {
    rows.push([`idle poll of ${p.calendars} calendars: upstream requests per poll (${p.polls} polls)`, `${p.proxyRequests.join(", ")} (engine: ${p.engineRequests.join(", ")})`]);
    rows.push(["idle poll: calgate CPU per poll (/proc, averaged)", `${p.cpuMsPerPoll} ms`]);
    rows.push(["idle poll: engine time per poll, p50", `${med(p.engineMs)} ms`]);
  }
  const out = [`Sync side (calgate ← Radicale through a counting proxy)`, table(["figure", "value"], rows)];
  if (s.error) out.push("", `sync part failed: ${s.error.split("\n")[0]}`);
  return out.join("\n");
}
