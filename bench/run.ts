/**
 * `npm run bench`: calgate side by side with Radicale and Xandikos on the same generated calendar.
 * See bench/README.md for what is measured and how to read it.
 *
 *   npm run bench                         quick: 1,000 events, 3 s per operation and concurrency
 *   npm run bench -- --events 5000        another size
 *   npm run bench -- --full               10,000 events everywhere, loaded by PUT into every server
 *                                         (~40+ min per peer), calgate also at 1k/10k/100k (scaling)
 *   npm run bench -- --duration 10        seconds per operation per concurrency
 *   npm run bench -- --servers calgate    a subset (calgate,radicale,xandikos)
 *   npm run bench -- --cpu-prof           calgate under node --cpu-prof; hot spots printed at the end
 *   npm run bench -- --node-args="--trace-gc"  more node options for calgate (space-separated; they win over NODE_OPTIONS)
 *   npm run bench -- --image  calgate with the Docker image's ENV (NODE_OPTIONS heap limit, MALLOC_*), read
 *   from the Dockerfile; by default node's defaults (no heap limit), as `node dist/src/cli/index.js`
 *   npm run bench -- --ops query-month    only some operations (comma-separated)
 *   npm run bench -- --scaling            calgate alone at 1k/10k/100k events (or --sizes a,b,c): the scaling table
 *   npm run bench -- --sync               the sync side: import from Radicale, idle polls of 50 calendars, change latency
 *   npm run bench -- --client-procs 4     load-client processes (a phase at concurrency c uses min(c, this))
 *   (default) calgate runs from `npm run build` output (dist/), as deployed; --tsx runs the sources via tsx
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { cpus, totalmem, release } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import http from "node:http";
import { generateEvents, QUERY_MONTH, selfCheckZones, type BenchEvent } from "./generate.ts";
import { Client, memMB, round, RssSampler, type LoadStats } from "./http.ts";
import { loadByPut, loadDirect, tenths } from "./load.ts";
import { CalendarState, OPS, operation, readTokens, type OpName } from "./ops.ts";
import { ClientPool } from "./client-pool.ts";
import { buildCalgate, runtimeLine, startCalgateBench, startPeer, type BenchTarget, type ServerName } from "./servers.ts";
import { summarizeProfiles } from "./profile.ts";
import { evaluate, fmtNum, report, type AllResults, type OpResult, type ServerResult } from "./report.ts";
import { runSyncBench, syncReport } from "./sync.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: argv } = parseArgs({
  options: {
    events: { type: "string" },
    full: { type: "boolean", default: false },
    duration: { type: "string" },
    seed: { type: "string", default: "42" },
    servers: { type: "string", default: "calgate,radicale,xandikos" },
    "peer-put": { type: "string" },
    "cpu-prof": { type: "boolean", default: false },
    "node-args": { type: "string", default: "" },
    image: { type: "boolean", default: false },
    built: { type: "boolean", default: true },
    tsx: { type: "boolean", default: false },
    ops: { type: "string" },
    "client-procs": { type: "string", default: "4" },
    scaling: { type: "boolean", default: false },
    sizes: { type: "string" },
    sync: { type: "boolean", default: false },
    out: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (argv.help) {
  console.log(`usage: npm run bench -- [--events N] [--full | --scaling [--sizes a,b,c] | --sync] [--duration S] [--seed N] [--servers calgate,radicale,xandikos] [--peer-put K] [--cpu-prof] [--node-args="..."] [--image] [--tsx] [--ops a,b] [--client-procs N] [--out FILE]
  (default)   side by side with Radicale and Xandikos at --events (1000)      → bench/results/latest.json
  --full      10,000 events by PUT everywhere, calgate also at 1k/10k/100k   → bench/results/latest.json
  --scaling   calgate alone at 1,000 / 10,000 / 100,000 events (--sizes)     → bench/results/scaling.json
  --sync      calgate syncing from Radicale: import of --events, idle poll of 50 calendars, change latency → bench/results/sync.json
see bench/README.md`);
  process.exit(0);
}

const FULL = argv.full;
const SCALING = argv.scaling;
const SEED = Number(argv.seed);
const SIZES = argv.sizes ? argv.sizes.split(",").map((x) => Number(x.trim())) : [1_000, 10_000, 100_000];
if (SIZES.some((n) => !Number.isInteger(n) || n < 1) || SIZES.some((n, i) => i > 0 && n <= SIZES[i - 1]!)) throw new Error(`--sizes: expected increasing whole numbers, got ${argv.sizes}`);
const CALGATE_SIZES = FULL || SCALING ? SIZES : [Number(argv.events ?? 1000)];
/** The size of the side-by-side tables (the largest calgate size in --scaling). */
const MAIN = FULL ? 10_000 : SCALING ? SIZES[SIZES.length - 1]! : Number(argv.events ?? 1000);
const DURATION_MS = Number(argv.duration ?? (FULL ? 10 : SCALING ? 2 : 3)) * 1000;
const OUT = argv.out ?? join(HERE, "results", SCALING ? "scaling.json" : argv.sync ? "sync.json" : "latest.json");
/** How calgate runs: from dist/ or tsx, with the image's heap limit or node's defaults, and any --node-args. */
const RUNTIME = `${argv.built && !argv.tsx ? "dist/ (npm run build)" : "tsx"}, ${runtimeLine(argv.image)}${argv["node-args"] ? `, node ${argv["node-args"]}` : ""}`;
const COMMAND = `npm run bench${process.argv.length > 2 ? " -- " + process.argv.slice(2).join(" ") : ""}`;
/** Quick mode: how many of a peer's events go in by PUT (measured); the rest are written to its storage. */
const PEER_PUT = FULL ? MAIN : Math.min(MAIN, Number(argv["peer-put"] ?? 100));
const SERVERS = SCALING ? (["calgate"] as ServerName[]) : (argv.servers!.split(",").map((s) => s.trim()) as ServerName[]);
const CONCURRENCY = [1, 8] as const;
/** --ops: measure only these operations (e.g. to profile one): names as in OPS. */
const SELECTED_OPS: readonly OpName[] = argv.ops ? (argv.ops.split(",").map((s) => s.trim()) as OpName[]) : OPS;
for (const o of SELECTED_OPS) if (!OPS.includes(o)) throw new Error(`--ops: unknown operation ${o}; known: ${OPS.join(", ")}`);
/** Load-client processes (client-pool.ts): a phase at concurrency c uses min(c, this) of them. */
const CLIENT_PROCS = Math.max(1, Number(argv["client-procs"]));
const log = (...a: unknown[]): void => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

async function measureOps(t: BenchTarget, st: CalendarState): Promise<Partial<Record<OpName, OpResult>>> {
  const client = new Client(t.auth, 16);
  await readTokens(st, (r) => client.request(r));
  const out: Partial<Record<OpName, OpResult>> = {};
  const pool = new ClientPool(CLIENT_PROCS);
  try {
    await pool.setState((putBase) => st.snapshot(putBase), t.auth);
    for (const opName of SELECTED_OPS) {
      const op = operation(opName, st, { thorough: true });
      let wrong: string | null = null;
      let error: string | null = null;
      // Warm-up: two requests, each fully checked.
      for (let i = 0; i < 2; i++) {
        const req = op.make(1_000_000 + i);
        try {
          const res = await client.request(req);
          op.after?.(req, res);
          const why = op.check(res, req);
          if (why) wrong ??= `warm-up: ${why}`;
        } catch (e) {
          error ??= `warm-up: ${(e as Error).message}`;
        }
      }
      const stats: LoadStats[] = [];
      for (const c of CONCURRENCY) {
        const s = await pool.run(opName, c, DURATION_MS, t.pid);
        if (s.wrong > 0) wrong ??= `c=${c}: ${s.wrong}/${s.checked} checked answers wrong, first: ${s.firstWrong}`;
        if (s.errors > 0) error ??= `c=${c}: ${s.errors} errors, first: ${s.firstError}`;
        stats.push(s);
      }
      await op.finish?.((r) => client.request(r));
      await pool.finish(opName);
      const m = memMB(t.pid);
      const r: OpResult = { c1: stats[0]!, c8: stats[1]!, wrong, error, ...(m ? { rssAfter: { rssMB: m.rss, hwmMB: m.hwm } } : {}) };
      if (opName === "query-month") r.note = `${st.expectedMonth().definite.size} expected matches`;
      out[opName] = r;
      log(
        `  ${t.name} ${opName.padEnd(20)} c1 ${fmtNum(r.c1.rps)} req/s p50 ${r.c1.p50} ms ${cpuNote(r.c1)} | c8 ${fmtNum(r.c8.rps)} req/s p50 ${r.c8.p50} p99 ${r.c8.p99} ms ${cpuNote(r.c8)}${m ? ` [RSS ${m.rss} MB, peak ${m.hwm}]` : ""}${wrong ? "  WRONG: " + wrong : ""}${error ? "  ERROR: " + error : ""}`,
      );
    }
  } finally {
    pool.close();
    client.close();
  }
  return out;
}

/** "cpu server 95% client 12% (max 6%)": where the phase's CPU went, % of one core. */
const cpuNote = (s: LoadStats): string => `[cpu server ${s.serverCpuPct ?? "?"}% client ${s.clientCpuPct ?? "?"}% (busiest process ${s.clientCpuPctMax ?? "?"}%)${s.clientBound ? " CLIENT-BOUND" : ""}]`;

async function sseProbe(t: BenchTarget, n = 1000): Promise<ServerResult["sse"]> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: n + 10 });
  const u = new URL(`${t.baseUrl}/events`);
  const open = (): Promise<http.ClientRequest | number> =>
    new Promise((resolveOpen) => {
      const req = http.request({ agent, host: u.hostname, port: u.port, path: u.pathname, method: "GET", headers: { authorization: t.auth, accept: "text/event-stream" } }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          resolveOpen(res.statusCode ?? 0);
          return;
        }
        res.on("data", () => {});
        resolveOpen(req);
      });
      req.on("error", () => resolveOpen(-1));
      req.setTimeout(10_000, () => req.destroy());
      req.end();
    });
  const first = await open();
  if (typeof first === "number") return { skipped: `GET /events → ${first}` };
  first.destroy();
  await new Promise((r) => setTimeout(r, 500));
  const before = memMB(t.pid)!.rss;
  const reqs: http.ClientRequest[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, open));
    for (const b of batch) if (typeof b !== "number") reqs.push(b);
  }
  await new Promise((r) => setTimeout(r, 3000));
  const after = memMB(t.pid)!.rss;
  for (const r of reqs) r.destroy();
  agent.destroy();
  return { subscribers: reqs.length, extraMB: round(after - before, 1) };
}

async function benchServer(name: ServerName, events: BenchEvent[]): Promise<ServerResult> {
  log(`starting ${name}`);
  const t = name === "calgate" ? await startCalgateBench({ built: (argv.built && !argv.tsx), image: argv.image, nodeArgs: [...(argv["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${join(HERE, "results", "prof")}`] : []), ...argv["node-args"].split(" ").filter(Boolean)] }) : await startPeer(name);
  const sampler = new RssSampler(t.pid);
  const st = new CalendarState(t.calendarUrl, SEED, name);
  const res: ServerResult = {
    name,
    load: { method: "", putEvents: 0, putSeconds: 0, putEventsPerSec: 0, putTenths: [], directEvents: 0, directSeconds: 0, failures: 0 },
    sizes: [],
    peakRssMB: 0,
    hwmMB: 0,
  };
  try {
    const sizes = name === "calgate" ? CALGATE_SIZES : [MAIN];
    const allLat: number[] = [];
    let loaded = 0;
    for (const size of sizes) {
      const batch = events.slice(loaded, size);
      const viaPut = name === "calgate" || FULL ? batch : batch.slice(0, Math.max(0, PEER_PUT - loaded));
      const direct = batch.slice(viaPut.length);
      if (viaPut.length) {
        log(`  ${name}: loading ${viaPut.length} events by PUT (concurrency 4)`);
        const l = await loadByPut(t, viaPut, { progress: (d) => (d % 5000 === 0 ? log(`    ${name}: ${loaded + d} PUT`) : undefined) });
        allLat.push(...l.latencies);
        res.load.putEvents += l.events;
        res.load.putSeconds = round(res.load.putSeconds + l.seconds, 2);
        res.load.failures += l.failures;
        if (l.firstFailure) res.load.firstFailure ??= l.firstFailure;
        st.add(l.loaded);
        log(`  ${name}: ${l.events} PUT in ${l.seconds} s (${l.eventsPerSec}/s), ${l.failures} failed${l.firstFailure ? ": " + l.firstFailure : ""}`);
      }
      if (direct.length) {
        log(`  ${name}: writing ${direct.length} events straight into its storage`);
        res.load.directSeconds = round(res.load.directSeconds + loadDirect(t, direct), 2);
        res.load.directEvents += direct.length;
        st.add(direct);
      }
      loaded = size;
      const afterLoad = memMB(t.pid);
      log(`  ${name}: measuring at ${st.present.size} objects${afterLoad ? ` (RSS ${afterLoad.rss} MB, peak ${afterLoad.hwm})` : ""}`);
      const ops = await measureOps(t, st);
      const m = memMB(t.pid);
      res.sizes.push({ events: size, ops, rss: { hwmMB: m?.hwm ?? NaN, rssMB: m?.rss ?? NaN } });
    }
    res.load.method = res.load.directEvents ? `${res.load.putEvents} by PUT + ${res.load.directEvents} into storage` : `${res.load.putEvents} by PUT`;
    res.load.putEventsPerSec = round(res.load.putEvents / res.load.putSeconds, 1);
    res.load.putTenths = tenths(allLat);
    if (name === "calgate") {
      log(`  calgate: 1,000 idle SSE subscribers`);
      res.sse = await sseProbe(t).catch((e: Error) => ({ skipped: e.message }));
    }
  } catch (e) {
    res.error = (e as Error).stack ?? String(e);
    log(`  ${name} FAILED: ${res.error}\n--- server output (tail) ---\n${t.logs().slice(-3000)}`);
  } finally {
    const s = sampler.stop();
    res.peakRssMB = s.peakRssMB;
    res.hwmMB = s.hwmMB;
    await t.stop();
  }
  return res;
}

// ---------------------------------------------------------------------------------------------

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 }).trim().split("\n")[0]!.replace(/^.*\//, "");
  } catch {
    return "not installed";
  }
}

function machineInfo(): Record<string, string | number> {
  return {
    cpu: cpus()[0]?.model ?? "?",
    cores: cpus().length,
    memGB: round(totalmem() / 2 ** 30, 1),
    kernel: release(),
    node: process.version,
    radicale: version("radicale", ["--version"]),
    xandikos: version("xandikos", ["--version"]),
  };
}
const machineLine = (m: Record<string, string | number>): string =>
  `Machine: ${m.cpu}, ${m.cores} cores, ${m.memGB} GB, Linux ${m.kernel}, Node ${m.node}; radicale ${m.radicale}; ${m.xandikos}; calgate via ${RUNTIME}`;

function writeJson(json: object): void {
  mkdirSync(dirname(resolve(OUT)), { recursive: true });
  writeFileSync(resolve(OUT), JSON.stringify(json, (k, v) => (k === "latencies" ? undefined : v), 2));
  log(`wrote ${resolve(OUT)}`);
}

async function main(): Promise<void> {
  const machine = machineInfo();
  log(`machine: ${machine.cpu} x${machine.cores}, ${machine.memGB} GB, node ${machine.node}, radicale ${machine.radicale}, ${machine.xandikos}`);
  if (argv.sync) {
    if (argv.built && !argv.tsx) buildCalgate();
    const events = Number(argv.events ?? 1000);
    const sync = await runSyncBench({ events, seed: SEED, built: argv.built && !argv.tsx, image: argv.image, nodeArgs: argv["node-args"].split(" ").filter(Boolean), log });
    const text = machineLine(machine) + "\n" + syncReport(sync);
    console.log("\n" + text);
    writeJson({ date: new Date().toISOString(), command: COMMAND, machine, config: { mode: "sync", seed: SEED, events, calgateRuntime: RUNTIME }, sync, table: text });
    process.exit(sync.error ? 1 : 0);
  }
  selfCheckZones();
  const maxSize = Math.max(MAIN, ...CALGATE_SIZES);
  log(`generating ${maxSize} events (seed ${SEED})`);
  const events = generateEvents(SEED, maxSize);
  if ((argv.built && !argv.tsx) && SERVERS.includes("calgate")) buildCalgate();
  const all: AllResults = {};
  for (const s of SERVERS) all[s] = await benchServer(s, events);
  const shape = { main: MAIN, calgateSizes: CALGATE_SIZES, durationS: DURATION_MS / 1000 };
  const targets = evaluate(all, shape);
  const text = machineLine(machine) + "\n" + report(all, targets, shape);
  console.log("\n" + text);
  writeJson({
    date: new Date().toISOString(),
    command: COMMAND,
    machine,
    config: { mode: FULL ? "full" : SCALING ? "scaling" : "side-by-side", full: FULL, clientProcs: CLIENT_PROCS, calgateRuntime: RUNTIME, seed: SEED, events: MAIN, calgateSizes: CALGATE_SIZES, durationS: DURATION_MS / 1000, peerPut: PEER_PUT, servers: SERVERS, queryMonth: { start: new Date(QUERY_MONTH.start).toISOString(), end: new Date(QUERY_MONTH.end).toISOString() } },
    servers: all,
    targets,
    table: text,
  });
  if (argv["cpu-prof"]) {
    const dir = join(HERE, "results", "prof");
    // One profile per thread (tsx's loader thread too): the main thread's is the largest.
    const files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).map((f) => join(dir, f)).sort((a, b) => statSync(b).size - statSync(a).size);
    if (files.length) console.log(`\n${files[0]}\n` + summarizeProfiles(files.slice(0, 1), 25));
  }
  process.exit(all.calgate?.error ? 1 : 0);
}

await main();
