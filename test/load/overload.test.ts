/**
 * Overload, from a second process on loopback: autocannon (in this test process) drives the real
 * `calgate serve` (a child process) with a CalDAV read mix (PROPFIND Depth 1 of a 300-event calendar,
 * calendar-query, GET) at increasing concurrency, while /healthz is polled and the server's memory
 * is read from /proc. The gateway must:
 *   - answer every request (no connection errors, no timeouts): either normally or with a quick
 *     503 + Retry-After once its limit of requests in flight and queued is reached;
 *   - keep answering /healthz promptly throughout;
 *   - keep its memory bounded (peak RSS);
 *   - recover at once when the load stops.
 * And upstream slowness (a proxy adding 10 s to every Radicale request) does not block CalDAV reads
 * of cached data, nor a client's write beyond writeDeadlineMs.
 * LOAD_LONG=1 (npm run load): longer steps and higher concurrency.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import autocannon from "autocannon";
import { freePort, sleep, startProcess, waitForHttp, type ManagedProcess } from "../helpers/proc.ts";
import { REPO_ROOT } from "../helpers/calgate.ts";
import { startRadicale, peerAvailable, type PeerServer } from "../helpers/peers.ts";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.ts";

// autocannon refuses methods outside RFC 7231/5789 unless they are in its (shared, mutable) list.
const acMethods = createRequire(import.meta.url)("autocannon/lib/httpMethods") as string[];
for (const m of ["PROPFIND", "REPORT"]) if (!acMethods.includes(m)) acMethods.push(m);

const LONG = process.env.LOAD_LONG === "1";
const STEP_S = LONG ? 15 : 3;
const LEVELS = LONG ? [1, 10, 50, 200, 500, 1000] : [10, 100, 600];
const RSS_LIMIT_MB = 600;
const AUTH = "Basic " + Buffer.from("alice:secret-a").toString("base64");
const CAL = "/dav/calendars/alice/local-personal/";
const EVENTS = 300;

const ev = (i: number): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate load//EN", "BEGIN:VEVENT", `UID:load-${i}`, "DTSTAMP:20240101T000000Z",
    `DTSTART:2024${String(1 + (i % 12)).padStart(2, "0")}${String(1 + (i % 28)).padStart(2, "0")}T100000Z`, "DURATION:PT1H", `SUMMARY:Load ${i}`, `DESCRIPTION:${"x".repeat(200)}`, ...(i % 10 === 0 ? ["RRULE:FREQ=WEEKLY;COUNT=20"] : []), "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

function rssMb(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? 0);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

interface Gw {
  proc: ManagedProcess;
  base: string;
  dir: string;
  stop(): Promise<void>;
}
async function startGw(extraYaml = "", sources = ""): Promise<Gw> {
  const dir = mkdtempSync(join(tmpdir(), "calgate-load-"));
  const port = await freePort();
  const configFile = join(dir, "calgate.yaml");
  writeFileSync(
    configFile,
    `server: { host: 127.0.0.1, port: ${port} }
storage: { client: sqlite, filename: ${JSON.stringify(join(dir, "calgate.sqlite"))} }
logging: { level: warn }
${extraYaml}
users:
  - username: alice
    password: secret-a
    sources:
      - { id: local, type: local, calendars: [{ id: personal, name: Personal }] }
${sources}`,
  );
  const proc = startProcess(process.execPath, ["--import", "tsx", "src/cli/index.ts", "serve", "-c", configFile], { cwd: REPO_ROOT, env: { ...process.env } });
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/healthz`, { proc, timeoutMs: 30_000, name: "calgate serve" });
  return {
    proc,
    base,
    dir,
    async stop() {
      await proc.stop(10_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const PROPFIND = `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><d:getetag/><d:displayname/><cs:getctag/></d:prop></d:propfind>`;
const QUERY = `<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="20240301T000000Z" end="20240401T000000Z"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`;

describe("overload: 503 + Retry-After instead of timeouts; /healthz answers; memory bounded", () => {
  let gw: Gw;
  const figures: Record<string, unknown>[] = [];
  before(async () => {
    gw = await startGw();
    for (let i = 0; i < EVENTS; i += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, EVENTS - i) }, async (_, k) => {
          const r = await fetch(`${gw.base}${CAL}load-${i + k}.ics`, { method: "PUT", headers: { authorization: AUTH, "content-type": "text/calendar" }, body: ev(i + k) });
          assert.equal(r.status, 201, await r.text());
        }),
      );
    }
  });
  after(async () => {
    console.log(`# load figures: ${JSON.stringify(figures)}`);
    await gw?.stop();
  });

  test(`increasing concurrency ${LEVELS.join(" → ")} (${STEP_S} s each)`, { timeout: (LEVELS.length * (STEP_S + 15) + 60) * 1000 }, async () => {
    const pid = gw.proc.child.pid!;
    const rss0 = rssMb(pid);
    for (const connections of LEVELS) {
      // /healthz, polled from here while the load runs.
      let polling = true;
      const health: number[] = [];
      let healthFailures = 0;
      const poller = (async () => {
        while (polling) {
          const t0 = performance.now();
          try {
            const r = await fetch(`${gw.base}/healthz`, { signal: AbortSignal.timeout(5000) });
            await r.arrayBuffer();
            if (r.status !== 200) healthFailures++;
            health.push(performance.now() - t0);
          } catch {
            healthFailures++;
          }
          await sleep(100);
        }
      })();
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid).rss)), 200);
      let result: autocannon.Result;
      try {
      result = await autocannon({
        url: gw.base,
        connections,
        duration: STEP_S,
        timeout: 10,
        requests: [
          { method: "PROPFIND", path: CAL, headers: { authorization: AUTH, depth: "1", "content-type": "application/xml" }, body: PROPFIND },
          { method: "REPORT", path: CAL, headers: { authorization: AUTH, depth: "1", "content-type": "application/xml" }, body: QUERY },
          { method: "GET", path: `${CAL}load-7.ics`, headers: { authorization: AUTH } },
        ],
      });
      } finally {
        clearInterval(sampler);
        polling = false;
        await poller;
      }
      const codes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([k, v]) => [k, (v as { count: number }).count]));
      const ok = (codes["200"] ?? 0) + (codes["207"] ?? 0);
      const f = {
        connections,
        reqPerSec: Math.round(result.requests.average),
        okPerSec: Math.round(ok / STEP_S),
        codes,
        errors: result.errors,
        timeouts: result.timeouts,
        p99ms: result.latency.p99,
        maxMs: result.latency.max,
        healthMaxMs: Math.round(Math.max(...health)),
        healthFailures,
        peakRssMb: Math.round(peak),
      };
      figures.push(f);
      assert.equal(result.timeouts, 0, `timeouts at ${connections} connections: ${JSON.stringify(f)}`);
      assert.equal(result.errors, 0, `connection errors at ${connections} connections: ${JSON.stringify(f)}`);
      for (const c of Object.keys(codes)) assert.ok(["200", "207", "503"].includes(c), `status ${c} at ${connections} connections: ${JSON.stringify(f)}`);
      assert.equal(healthFailures, 0, `/healthz failed under load: ${JSON.stringify(f)}`);
      assert.ok(Math.max(...health) < 1000, `/healthz took ${Math.max(...health)} ms under load`);
      assert.ok(ok > 0, "requests were served");
    }
    const top = figures[figures.length - 1] as { codes: Record<string, number> };
    assert.ok((top.codes["503"] ?? 0) > 0, `at ${LEVELS[LEVELS.length - 1]} connections the limiter shed load with 503s: ${JSON.stringify(top)}`);
    const { hwm } = rssMb(pid);
    figures.push({ rssStartMb: Math.round(rss0.rss), peakRssMb: Math.round(hwm) });
    assert.ok(hwm < RSS_LIMIT_MB, `peak RSS ${hwm} MB (limit ${RSS_LIMIT_MB} MB)`);
  });

  test("a 503 carries Retry-After, and the server recovers as soon as the load stops", async () => {
    const burst = await Promise.all(
      Array.from({ length: 700 }, () =>
        fetch(`${gw.base}${CAL}`, { method: "PROPFIND", headers: { authorization: AUTH, depth: "1", "content-type": "application/xml" }, body: PROPFIND, signal: AbortSignal.timeout(20_000) }).then(async (r) => ({ status: r.status, retry: r.headers.get("retry-after"), len: (await r.text()).length })),
      ),
    );
    const shed = burst.filter((r) => r.status === 503);
    const byStatus: Record<string, number> = {};
    for (const r of burst) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    assert.ok(shed.length > 0, `a burst of 700 was partly shed (${JSON.stringify(byStatus)})`);
    for (const r of shed) assert.match(r.retry ?? "", /^\d+$/, "503 has a numeric Retry-After");
    for (const r of burst) assert.ok(r.status === 207 || r.status === 503, `burst status ${r.status}`);
    const t0 = performance.now();
    const after = await fetch(`${gw.base}${CAL}`, { method: "PROPFIND", headers: { authorization: AUTH, depth: "1", "content-type": "application/xml" }, body: PROPFIND });
    await after.arrayBuffer();
    assert.equal(after.status, 207);
    assert.ok(performance.now() - t0 < 1000, "answers normally right after the load");
    figures.push({ burst: 700, shed: shed.length });
  });
});

describe("upstream slowness does not block reads of cached data", () => {
  let radicale: PeerServer;
  let proxy: FaultProxy;
  let gw: Gw;
  before(async () => {
    const missing = peerAvailable("radicale");
    if (missing) throw new Error(missing);
    radicale = await startRadicale({ calendars: ["personal"] });
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${radicale.calendarUrls[0]}slow-${i}.ics`, { method: "PUT", headers: { authorization: radicale.authHeader, "content-type": "text/calendar" }, body: ev(i) });
      assert.ok(r.status < 300);
    }
    proxy = await startFaultProxy(radicale.baseUrl);
    gw = await startGw(`sync: { schedule: "0 0 1 1 *", jitterSeconds: 0, writeDeadlineMs: 1000, timeoutMs: 30000 }`, `      - { id: r, type: caldav, url: "${proxy.url}/", username: ${radicale.username}, password: ${radicale.password} }\n`);
    const deadline = Date.now() + 30_000;
    // The import is done when its last event is served (the calendar itself appears before its events).
    while ((await fetch(`${gw.base}/dav/calendars/alice/r-personal/slow-19.ics`, { headers: { authorization: AUTH } })).status !== 200) {
      assert.ok(Date.now() < deadline, "r-personal was imported");
      await sleep(100);
    }
  });
  after(async () => {
    await gw?.stop();
    await proxy?.close();
    await radicale?.stop();
  });

  test("with 10 s added to every upstream request, cached reads answer at once and a PUT within its deadline", { timeout: 60_000 }, async () => {
    proxy.inject({ fault: { kind: "delay", ms: 10_000 }, times: 1000 });
    const s = await fetch(`${gw.base}/sync?source=r`, { method: "POST", headers: { authorization: AUTH } });
    assert.equal(s.status, 202);
    await sleep(300); // the sync is now waiting on the slow upstream
    const cal = "/dav/calendars/alice/r-personal/";
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      for (const [method, path, body, headers] of [
        ["PROPFIND", cal, PROPFIND, { depth: "1" }],
        ["REPORT", cal, QUERY.replace("20240301T000000Z", "20240101T000000Z").replace("20240401T000000Z", "20250101T000000Z"), { depth: "1" }],
        ["GET", `${cal}slow-3.ics`, undefined, {}],
      ] as const) {
        const t0 = performance.now();
        const r = await fetch(gw.base + path, { method, headers: { authorization: AUTH, "content-type": "application/xml", ...headers }, body, signal: AbortSignal.timeout(5000) });
        const text = await r.text();
        times.push(performance.now() - t0);
        assert.ok(r.status === 200 || r.status === 207, `${method} ${path}: ${r.status} ${text.slice(0, 200)}`);
        if (method === "GET") assert.match(text, /Load 3/);
      }
    }
    assert.ok(Math.max(...times) < 500, `cached reads took up to ${Math.round(Math.max(...times))} ms while the upstream hung`);
    const t0 = performance.now();
    const put = await fetch(`${gw.base}${cal}during-slowness.ics`, { method: "PUT", headers: { authorization: AUTH, "content-type": "text/calendar" }, body: ev(999), signal: AbortSignal.timeout(10_000) });
    const putMs = performance.now() - t0;
    assert.ok(put.status === 201 || put.status === 204, `PUT during slowness: ${put.status} ${await put.text()}`);
    assert.ok(putMs < 3000, `PUT answered after ${Math.round(putMs)} ms (writeDeadlineMs 1000)`);
    console.log(`# upstream +10 s: cached reads max ${Math.round(Math.max(...times))} ms over ${times.length}; PUT ${Math.round(putMs)} ms (queued)`);
    proxy.clear();
  });
});
