/**
 * Scale simulation (issue 16): N users with three sources each (a Radicale calendar, a Google
 * account on the Google emulator, a Microsoft account on the Graph emulator), served by K calgate
 * instances on one PostgreSQL database. It measures what an operator needs to size a deployment:
 * the first sync of every source, then a steady state of scheduled polls with some upstream churn:
 * how late each poll starts after its tick, whether every source is polled once per tick (not
 * twice, not skipped), how the sources spread over the instances, upstream requests, database
 * connections and commits, and the CPU and memory of every process.
 *
 *   node --import tsx bench/scale.ts [--users 1000] [--instances 2] [--minutes 3] [--interval 60]
 *        [--jitter 30] [--concurrency 8] [--pool 4] [--churn 2] [--tsx] [--cpu-prof]
 *        [--out bench/results/scale.json]
 *
 * --cpu-prof runs instance 0 under node --cpu-prof and prints its hot spots at the end.
 *
 * Everything runs on this machine: the figures include the emulators (in this process), Radicale
 * and PostgreSQL competing for the same cores, which is said next to them.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "../test/helpers/calgate.ts";
import { basicAuth, peerAvailable, startRadicale, type PeerServer } from "../test/helpers/peers.ts";
import { postgresMissing, startPostgres, type PgCluster } from "../test/helpers/postgres.ts";
import { freePort, startProcess, waitForHttp, type ManagedProcess } from "../test/helpers/proc.ts";
import { graphSource, GRAPH_CLIENT_ID, signIn } from "../test/helpers/graph-source.ts";
import { startGoogleEmulator, type GoogleEmulator } from "../test/emulators/google/index.ts";
import { startGraphEmulator, type GraphEmulator } from "../test/emulators/graph/index.ts";
import { openDb, type Db } from "../src/store/db.ts";
import { SecretStore } from "../src/store/secrets.ts";
import { SecretBox } from "../src/auth/crypto.ts";
import { buildCalgate } from "./servers.ts";
import { summarizeProfiles } from "./profile.ts";
import { ProcSampler } from "./scale-sampler.ts";
import { analyse, type SyncEventRow } from "./scale-analysis.ts";

const { values: argv } = parseArgs({
  options: {
    users: { type: "string", default: "1000" },
    instances: { type: "string", default: "2" },
    minutes: { type: "string", default: "3" },
    interval: { type: "string", default: "60" },
    jitter: { type: "string", default: "30" },
    concurrency: { type: "string", default: "8" },
    pool: { type: "string", default: "4" },
    churn: { type: "string", default: "2" },
    tsx: { type: "boolean", default: false },
    "cpu-prof": { type: "boolean", default: false },
    out: { type: "string", default: join(REPO_ROOT, "bench", "results", "scale.json") },
  },
});
const USERS = Number(argv.users);
const INSTANCES = Number(argv.instances);
const STEADY_MS = Number(argv.minutes) * 60_000;
const INTERVAL_S = Number(argv.interval);
const JITTER_S = Number(argv.jitter);
const CONCURRENCY = Number(argv.concurrency);
const POOL = Number(argv.pool);
/** Upstream changes per second during the steady state, spread over the three providers. */
const CHURN_PER_S = Number(argv.churn);
const SECRET_KEY = "scale-simulation-secret-key-0123456789abcdef";
const GOOGLE_CLIENT = { clientId: "calgate-scale.apps.googleusercontent.com", clientSecret: "scale-client-secret" };
const PASSWORD = "scale-pw";

if (![1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60].includes(INTERVAL_S)) throw new Error("--interval must divide 60 (seconds)");
const schedule = INTERVAL_S === 60 ? "* * * * *" : `*/${INTERVAL_S} * * * * *`;
const userName = (i: number): string => `u${String(i).padStart(4, "0")}`;
const log = (s: string): void => console.log(`[scale ${new Date().toISOString().slice(11, 19)}] ${s}`);

function vevent(uid: string, summary: string, day: number): string {
  const d = `202612${String(1 + (day % 28)).padStart(2, "0")}`;
  return ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate scale//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20261201T000000Z", `DTSTART:${d}T100000Z`, `DTEND:${d}T110000Z`, `SUMMARY:${summary}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");
}

/** Runs `f` over 0..n-1 with `width` at once. */
async function pool(n: number, width: number, f: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    for (let i = next++; i < n; i = next++) await f(i);
  }));
}

/**
 * Each user's Radicale calendar with two events, written straight into Radicale's storage as its
 * MKCALENDAR and PUT leave them (one folder with .Radicale.props, one file per object): 1,000 users
 * by HTTP took minutes (four requests each) and measure Radicale, not calgate.
 */
function seedRadicale(rad: PeerServer): void {
  const root = join(rad.dataDir!, "collections", "collection-root");
  for (let i = 0; i < USERS; i++) {
    const dir = join(root, userName(i), "home");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, ".Radicale.props"), JSON.stringify({ "C:supported-calendar-component-set": "VEVENT", "D:displayname": "Home", tag: "VCALENDAR" }));
    for (let k = 0; k < 2; k++) writeFileSync(join(dir, `e${k}.ics`), vevent(`${userName(i)}-r${k}`, `Radicale ${k}`, i + k));
  }
}

function seedGoogle(g: GoogleEmulator): void {
  g.addClient(GOOGLE_CLIENT);
  for (let i = 0; i < USERS; i++) {
    const email = `${userName(i)}@gmail.example`;
    g.addAccount(email, { timeZone: "Europe/Berlin" });
    for (let k = 0; k < 2; k++) g.insertEvent(email, { summary: `Google ${k}`, start: { dateTime: `2026-12-${String(1 + ((i + k) % 28)).padStart(2, "0")}T09:00:00Z` }, end: { dateTime: `2026-12-${String(1 + ((i + k) % 28)).padStart(2, "0")}T10:00:00Z` } });
  }
}

function seedGraph(m: GraphEmulator): void {
  m.addClient(GRAPH_CLIENT_ID);
  for (let i = 0; i < USERS; i++) {
    const upn = `${userName(i)}@contoso.example`;
    m.addAccount(upn, { timeZone: "UTC" });
    for (let k = 0; k < 2; k++) {
      const day = `2026-12-${String(1 + ((i + k) % 28)).padStart(2, "0")}`;
      m.createEvent(upn, m.defaultCalendarId(upn), { subject: `Outlook ${k}`, start: { dateTime: `${day}T11:00:00`, timeZone: "UTC" }, end: { dateTime: `${day}T12:00:00`, timeZone: "UTC" } });
    }
  }
}

/** Stores the sign-ins `calgate auth` would have made: a Google refresh token and an MSAL cache per user. */
async function storeSignIns(db: Db, g: GoogleEmulator, m: GraphEmulator): Promise<void> {
  const store = new SecretStore(db, SecretBox.fromSecretKey(SECRET_KEY));
  const msSource = graphSource(m);
  await pool(USERS, 16, async (i) => {
    const grant = g.grant(GOOGLE_CLIENT.clientId, `${userName(i)}@gmail.example`, ["https://www.googleapis.com/auth/calendar"]);
    await store.put(userName(i), "work", "oauth", JSON.stringify({ refresh_token: grant.refresh_token, scope: "https://www.googleapis.com/auth/calendar", obtained_at: Date.now(), client_id: GOOGLE_CLIENT.clientId }));
    for (const [k, v] of await signIn(m, msSource, `${userName(i)}@contoso.example`)) await store.put(userName(i), "office", k, v);
  });
}

function configYaml(port: number, pgUrl: string, rad: PeerServer, g: GoogleEmulator, m: GraphEmulator): string {
  const lines = [
    `server: { host: 127.0.0.1, port: ${port} }`,
    `storage: { client: postgres, connection: "${pgUrl}", poolMax: ${POOL} }`,
    `secretKey: ${SECRET_KEY}`,
    `sync: { schedule: "${schedule}", jitterSeconds: ${JITTER_S}, concurrency: ${CONCURRENCY} }`,
    "logging: { level: warn }",
    "users:",
  ];
  for (let i = 0; i < USERS; i++) {
    const u = userName(i);
    lines.push(
      `  - username: ${u}`,
      `    password: ${PASSWORD}`,
      "    sources:",
      `      - { id: rad, type: caldav, url: "${rad.baseUrl}/${u}/", username: ${u}, password: ${PASSWORD} }`,
      `      - { id: work, type: google, clientId: ${GOOGLE_CLIENT.clientId}, clientSecret: ${GOOGLE_CLIENT.clientSecret}, apiUrl: "${g.apiUrl}", authUrl: "${g.authUrl}", tokenUrl: "${g.tokenUrl}" }`,
      `      - { id: office, type: microsoft, clientId: ${GRAPH_CLIENT_ID}, authority: "${m.authority}", apiUrl: "${m.apiUrl}", caCert: "${m.caCertPath}" }`,
    );
  }
  return lines.join("\n") + "\n";
}

/** One upstream change somewhere: a new event at a random user's Radicale, Google or Outlook calendar. */
async function churnOnce(n: number, rad: PeerServer, g: GoogleEmulator, m: GraphEmulator): Promise<void> {
  const i = Math.floor(Math.random() * USERS);
  const u = userName(i);
  if (n % 3 === 0) {
    const r = await fetch(`${rad.baseUrl}/${u}/home/c${n}.ics`, { method: "PUT", headers: { authorization: basicAuth(u, PASSWORD), "content-type": "text/calendar" }, body: vevent(`${u}-c${n}`, `Churn ${n}`, n) });
    await r.arrayBuffer();
  } else if (n % 3 === 1) {
    g.insertEvent(`${u}@gmail.example`, { summary: `Churn ${n}`, start: { dateTime: "2026-12-20T09:00:00Z" }, end: { dateTime: "2026-12-20T10:00:00Z" } });
  } else {
    const upn = `${u}@contoso.example`;
    m.createEvent(upn, m.defaultCalendarId(upn), { subject: `Churn ${n}`, start: { dateTime: "2026-12-21T11:00:00", timeZone: "UTC" }, end: { dateTime: "2026-12-21T12:00:00", timeZone: "UTC" } });
  }
}

async function main(): Promise<void> {
  const missing = postgresMissing() ?? peerAvailable("radicale");
  if (missing) throw new Error(`cannot run the scale simulation: ${missing}`);
  if (!argv.tsx) buildCalgate();
  const dir = mkdtempSync(join(tmpdir(), "calgate-scale-"));
  const stops: (() => Promise<void> | void)[] = [];
  const instances: { proc: ManagedProcess; base: string }[] = [];
  try {
    let t = Date.now();
    const cluster: PgCluster = await startPostgres();
    stops.push(() => cluster.stop());
    const pgUrl = await cluster.createDatabase("calgate");
    const rad = await startRadicale({ users: Array.from({ length: USERS }, (_, i) => ({ username: userName(i), password: PASSWORD })), calendars: [] });
    stops.push(() => rad.stop());
    const google = await startGoogleEmulator({ seed: 16, requireHttpsWebhooks: false });
    stops.push(() => google.close());
    const graph = await startGraphEmulator({ seed: 16, deviceCodeIntervalSec: 0 });
    stops.push(() => graph.close());
    const step = (what: string, since: number): number => (log(`${what} in ${((Date.now() - since) / 1000).toFixed(1)} s`), Date.now());
    let s0 = step("PostgreSQL, Radicale and the emulators started", t);
    seedRadicale(rad);
    s0 = step(`${USERS} Radicale calendars written to its storage (2 events each)`, s0);
    seedGoogle(google);
    seedGraph(graph);
    s0 = step(`${USERS} Google and ${USERS} Outlook accounts seeded (2 events each)`, s0);
    // Named, so that the connection counts leave the driver's own out.
    const db = await openDb({ client: "postgres", connection: `${pgUrl}?application_name=scale-driver`, poolMax: 4 });
    stops.push(() => db.destroy());
    await storeSignIns(db, google, graph);
    step(`${USERS} Google grants and ${USERS} Microsoft device-code sign-ins stored`, s0);
    const setupS = (Date.now() - t) / 1000;
    log(`set up ${USERS} users x 3 sources in ${setupS.toFixed(1)} s`);

    // The instances, started together as a deployment would be.
    const sampler = new ProcSampler(db);
    t = Date.now();
    for (let k = 0; k < INSTANCES; k++) {
      const port = await freePort();
      const file = join(dir, `calgate-${k}.yaml`);
      writeFileSync(file, configYaml(port, pgUrl, rad, google, graph));
      const entry = argv.tsx ? ["--import", "tsx", "src/cli/index.ts"] : ["dist/src/cli/index.js"];
      const prof = argv["cpu-prof"] && k === 0 ? ["--cpu-prof", `--cpu-prof-dir=${join(dir, "prof")}`] : [];
      const proc = startProcess(process.execPath, [...prof, ...entry, "serve", "-c", file], { cwd: REPO_ROOT, env: { ...process.env, NODE_ENV: "production" } });
      instances.push({ proc, base: `http://127.0.0.1:${port}` });
      stops.push(() => proc.stop(10_000));
    }
    for (const [k, inst] of instances.entries()) await waitForHttp(`${inst.base}/healthz`, { proc: inst.proc, timeoutMs: 120_000, name: `calgate ${k}` });
    const servingS = (Date.now() - t) / 1000;
    sampler.track(instances.map((x, k) => ({ name: `calgate ${k}`, pid: x.proc.child.pid! })), { name: "radicale", pid: rad.pid! });
    await sampler.start();
    log(`${INSTANCES} instances serving after ${servingS.toFixed(1)} s; waiting for the first sync of every source`);

    // Phase 1: the start-up sync of every source.
    const total = USERS * 3;
    let synced = 0;
    while (synced < total) {
      synced = Number(((await db("sources").whereNotNull("last_success_at").count({ n: "*" }).first()) as { n: number }).n);
      if (Date.now() - t > 30 * 60_000) throw new Error(`first sync incomplete after 30 min: ${synced}/${total}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    const firstSyncS = (Date.now() - t) / 1000;
    const phase1 = sampler.cut();
    log(`every source synced once after ${firstSyncS.toFixed(1)} s`);

    // Phase 2: steady state from the next tick on, with upstream churn.
    const nextTick = Math.ceil(Date.now() / (INTERVAL_S * 1000)) * INTERVAL_S * 1000;
    await new Promise((r) => setTimeout(r, nextTick - Date.now()));
    const steadyFrom = Date.now();
    log(`steady state for ${STEADY_MS / 60_000} min (ticks every ${INTERVAL_S} s, jitter ${JITTER_S} s, ${CHURN_PER_S} upstream changes/s)`);
    let changes = 0;
    const churn = setInterval(() => void churnOnce(changes++, rad, google, graph).catch((e: Error) => log(`churn failed: ${e.message}`)), 1000 / CHURN_PER_S);
    await new Promise((r) => setTimeout(r, STEADY_MS));
    clearInterval(churn);
    // Let the syncs of the last tick's jitter window finish before reading.
    await new Promise((r) => setTimeout(r, (JITTER_S + 10) * 1000));
    const steadyTo = steadyFrom + STEADY_MS;
    const phase2 = sampler.cut();
    sampler.stop();

    const rows = (await db("status_events").whereIn("type", ["sync.started", "sync.completed", "sync.failed"]).andWhere("at", ">=", steadyFrom).orderBy("id").select("type", "owner", "payload", "at")) as SyncEventRow[];
    const analysis = analyse(rows, { from: steadyFrom, to: steadyTo, intervalMs: INTERVAL_S * 1000, jitterMs: JITTER_S * 1000, sources: total });
    const result = {
      date: new Date().toISOString(),
      machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? "?", memGB: Math.round(totalmem() / 2 ** 30), node: process.version },
      config: { users: USERS, sources: total, instances: INSTANCES, intervalS: INTERVAL_S, jitterS: JITTER_S, concurrency: CONCURRENCY, poolMax: POOL, churnPerS: CHURN_PER_S, steadyMinutes: STEADY_MS / 60_000, runtime: argv.tsx ? "tsx" : "dist" },
      setupS, servingS, firstSyncS, changes,
      firstSync: phase1, steady: { ...phase2, ...analysis },
    };
    writeFileSync(argv.out!, JSON.stringify(result, null, 2) + "\n");
    console.log(JSON.stringify(result, null, 2));
    log(`written to ${argv.out}`);
    if (argv["cpu-prof"]) {
      await instances[0]!.proc.stop(10_000); // the profile is written at exit
      const profDir = join(dir, "prof");
      console.log(summarizeProfiles(readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile")).map((f) => join(profDir, f)), 30));
    }
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
