/**
 * `calgate conflicts list|show|restore` end to end: a real conflict (a client's PUT meets an upstream
 * edit: 412 from the memory upstream) on an in-process server, then the real CLI spawned on the same
 * database while the server runs (list and restore; the other calls run the same runCli in this process,
 * with its own database connection, to save a process start-up each). The CLI's own write attempt cannot reach the upstream (the memory
 * upstream lives in this process; the CLI's CalDAV adapter points at a closed port), so the restored
 * version waits in the outbox and the running server delivers it, as it would any queued client write.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { parseConfigText } from "../../src/config/load.ts";
import { startServer } from "../../src/main.ts";
import type { ServerHandle } from "../../src/cli/contract.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { ConflictStore } from "../../src/store/conflicts.ts";
import { MemoryUpstream, idForName } from "../helpers/memory-upstream.ts";
import { basic, dav } from "../helpers/inproc.ts";
import { runCalgateHere, type CliResult } from "../helpers/cli-run.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const ev = (uid: string, summary: string): string =>
  `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250301T100000Z\r\nDTEND:20250301T110000Z\r\nSUMMARY:${summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
const summary = (ics: string | null | undefined): string | null => (ics ? (/^SUMMARY:(.*)$/m.exec(ics.replace(/\r\n/g, "\n"))?.[1] ?? null) : null);

function yaml(file: string, sources = `[{ id: up, type: caldav, url: "http://127.0.0.1:1/", username: u, password: p }]`): string {
  return `server: { host: 127.0.0.1, port: 0 }
storage: { client: sqlite, filename: "${file}" }
sync: { schedule: "0 0 1 1 *", jitterSeconds: 0, writeDeadlineMs: 20000, timeoutMs: 2000, conflictPolicy: upstream-wins }
logging: { level: error }
users:
  - username: alice
    password: secret-a
    sources: ${sources}
`;
}

/** The CLI in this process (runCli, its own database connection): what it prints, without a start-up. */
function cli(args: string[]): Promise<CliResult> {
  return runCalgateHere(args, { cwd: ROOT, env: { ...process.env } });
}

/** The real `calgate` process beside the server. */
function spawnCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/index.ts", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function until(what: string, f: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("calgate conflicts (CLI beside a running server)", () => {
  let dir: string;
  let configFile: string;
  let server: ServerHandle;
  let db: Db;
  let base: string;
  let calName: string;
  const upstream = new MemoryUpstream();
  const auth = basic("alice", "secret-a");

  /**
   * POST /sync, then waits until both the sync it asked for (reason "requested") and the server's
   * start-up sync have finished, in whichever order they ran. Waiting for the first sync to finish
   * was flaky in CI: the other one, run after it, pulled the upstream edit below before the client's
   * PUT, which then met a stale gateway ETag (a plain 412, no conflict).
   */
  async function syncNow(): Promise<void> {
    const mark = Number(((await db("status_events").max({ m: "id" }).first()) as { m: number | null }).m ?? 0);
    assert.equal((await dav(base, "POST", "/sync", { auth })).status, 202);
    const finished = (rows: { type: string; payload: string }[], reason: string): boolean => {
      const i = rows.findIndex((e) => e.type === "sync.started" && JSON.parse(e.payload).reason === reason);
      return i >= 0 && rows.slice(i + 1).some((e) => e.type !== "sync.started");
    };
    await until("the requested and the start-up sync", async () => {
      const rows = await db("status_events").whereIn("type", ["sync.started", "sync.completed", "sync.failed"]).orderBy("id");
      return finished(rows.filter((e) => e.id > mark), "requested") && finished(rows, "startup");
    });
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "calgate-conflicts-"));
    const file = join(dir, "db.sqlite");
    configFile = join(dir, "calgate.yaml");
    writeFileSync(configFile, yaml(file));
    writeFileSync(join(dir, "gone.yaml"), yaml(file, "[]"));
    server = await startServer(parseConfigText(yaml(file), configFile, {}), { configPath: configFile, generatedPassword: null, logger: pino({ level: "silent" }), adapters: { caldav: () => upstream.adapter() } });
    base = server.url.replace(/\/$/, "");
    db = await openDb(file);
    upstream.other.put("cal1", "a.ics", ev("a-uid@test", "v0"));
    await syncNow();
    calName = ((await db("calendars").where({ owner: "alice", source_id: "up" }).first()) as { name: string }).name;
    // The conflict: the upstream copy is edited, then a client PUTs its own edit on the old ETag.
    const got = await dav(base, "GET", `/dav/calendars/alice/${calName}/a.ics`, { auth });
    assert.equal(got.status, 200);
    upstream.other.edit("cal1", idForName("a.ics"), ev("a-uid@test", "edited upstream"));
    const put = await dav(base, "PUT", `/dav/calendars/alice/${calName}/a.ics`, { auth, body: ev("a-uid@test", "edited here"), headers: { "if-match": got.headers.get("etag")! } });
    assert.equal(put.status, 412, put.body);
  });
  after(async () => {
    await db?.destroy();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("list --json shows the conflict with every field", async () => {
    const r = await spawnCli(["conflicts", "list", "--json", "-c", configFile]);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.equal(list.length, 1);
    const c = list[0]!;
    assert.equal(typeof c.id, "number");
    assert.equal(c.user, "alice");
    assert.equal(c.source, "up");
    assert.equal(c.calendar, calName);
    assert.equal(c.object, "a.ics");
    assert.equal(c.uid, "a-uid@test");
    assert.match(String(c.detectedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(c.policy, "upstream-wins");
    assert.equal(c.outcome, "upstream-won");
    assert.ok(c.resolvedAt === null || typeof c.resolvedAt === "string");
    // Filters.
    assert.deepEqual(JSON.parse((await cli(["conflicts", "list", "--json", "--user", "bob", "-c", configFile])).stdout), []);
    assert.equal((JSON.parse((await cli(["conflicts", "list", "--json", "--source", "up", "-c", configFile])).stdout) as unknown[]).length, 1);
    const text = await cli(["conflicts", "list", "-c", configFile]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^ID\s+DETECTED\s+USER\s+SOURCE\s+CALENDAR\s+OBJECT\s+UID\s+POLICY\s+OUTCOME\s+RESOLVED/);
    assert.match(text.stdout, new RegExp(`\\n${c.id}\\s.*alice\\s+up\\s+${calName}\\s+a\\.ics\\s+a-uid@test\\s+upstream-wins\\s+upstream-won`));
    // The writer's conflict.detected is on the status feed with the conflict's id.
    const detected = (await db("status_events").where({ type: "conflict.detected" })).map((e: { payload: string }) => JSON.parse(e.payload) as Record<string, unknown>);
    assert.ok(detected.some((e) => e.conflictId === c.id && e.object === "a.ics"));
  });

  test("show prints base, local, remote and result, labelled; --json has them with the list fields", async () => {
    const id = ((await db("conflicts").first("id")) as { id: number }).id;
    const j = await cli(["conflicts", "show", String(id), "--json", "-c", configFile]);
    assert.equal(j.code, 0, j.stderr);
    const c = JSON.parse(j.stdout) as Record<string, string | null>;
    assert.equal(summary(c.base), "v0");
    assert.equal(summary(c.local), "edited here");
    assert.equal(summary(c.remote), "edited upstream");
    assert.equal(summary(c.result), "edited upstream");
    for (const k of ["id", "user", "source", "calendar", "object", "uid", "detectedAt", "policy", "outcome", "resolvedAt"]) assert.ok(k in c, k);
    const t = await cli(["conflicts", "show", String(id), "-c", configFile]);
    assert.equal(t.code, 0, t.stderr);
    let at = 0;
    for (const part of ["--- base", "SUMMARY:v0", "--- local", "SUMMARY:edited here", "--- remote", "SUMMARY:edited upstream", "--- result", "SUMMARY:edited upstream"]) {
      at = t.stdout.indexOf(part, at);
      assert.ok(at >= 0, `${part} in order in:\n${t.stdout}`);
    }
  });

  test("errors: unknown id, a version the conflict does not have, a source no longer configured", async () => {
    const unknown = await cli(["conflicts", "restore", "999", "--version", "local", "-c", configFile]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no conflict with id 999/);
    assert.equal((await cli(["conflicts", "show", "999", "-c", configFile])).code, 1);
    // A conflict recorded without a base (the store's record(), as older callers use it).
    const cal = (await db("calendars").where({ owner: "alice", source_id: "up" }).first()) as { id: number };
    const noBase = await new ConflictStore(db).record({ calendarId: cal.id, name: "b.ics", ours: ev("b", "ours"), theirs: null, base: null, resolution: "upstream-wins" });
    const r = await cli(["conflicts", "restore", String(noBase), "--version", "base", "-c", configFile]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`conflict ${noBase} has no base version`));
    const id = ((await db("conflicts").orderBy("id").first("id")) as { id: number }).id;
    const gone = await cli(["conflicts", "restore", String(id), "--version", "local", "-c", join(dir, "gone.yaml")]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /source "up", which is no longer in the configuration/);
    await db("conflicts").where({ id: noBase }).delete();
  });

  test("restore --version local queues it through the write path; the upstream gets it; the conflict is resolved and announced", async () => {
    const id = ((await db("conflicts").orderBy("id").first("id")) as { id: number }).id;
    const r = await spawnCli(["conflicts", "restore", String(id), "--version", "local", "-c", configFile]);
    assert.equal(r.code, 0, r.stderr);
    const outboxId = Number(new RegExp(`^Restored the local version of conflict ${id} to alice/${calName}/a\\.ics: queued for source "up" \\(outbox (\\d+)\\)`).exec(r.stdout)?.[1]);
    assert.ok(outboxId > 0, r.stdout);
    assert.match(r.stdout, new RegExp(`Conflict ${id} is marked resolved`));
    // The cache serves the local version at once, and the outbox carries it.
    const served = await dav(base, "GET", `/dav/calendars/alice/${calName}/a.ics`, { auth });
    assert.equal(summary(served.body), "edited here");
    const queued = (await db("outbox").where({ state: "pending" })) as { id: number }[];
    const carried = (await db("outbox").where({ id: outboxId }).first()) as { id: number; ics: string; state: string };
    assert.equal(summary(carried.ics), "edited here");
    // The running server replays it (the CLI's attempt failed: its adapter cannot reach this process). Its
    // replay timer (every 2 s) may already have done so once the CLI's backoff (1-3 s) ran out: then the
    // row is done; otherwise it is the one pending row, and is made due now.
    if (carried.state !== "done") {
      assert.equal(carried.state, "pending");
      assert.deepEqual(queued.map((q) => q.id), [outboxId]);
      await db("outbox").where({ id: outboxId }).update({ next_attempt_at: 0 });
      await syncNow();
    }
    await until("the upstream to hold the restored version", async () => summary(upstream.itemByName("cal1", "a.ics")?.ics) === "edited here");
    assert.equal((await db("outbox").where({ id: outboxId }).first()).state, "done");
    const row = (await db("conflicts").where({ id }).first()) as { resolved_at: number | null; restored_version: string | null; resolution: string };
    assert.ok(row.resolved_at !== null);
    assert.equal(row.restored_version, "local");
    assert.match(row.resolution, /restored the local version/);
    // The writer announced the conflict as resolved when it happened; the restore is announced again.
    const resolved = (await db("status_events").where({ type: "conflict.resolved" })).map((e: { payload: string }) => JSON.parse(e.payload) as Record<string, unknown>).filter((e) => e.restored !== undefined);
    assert.equal(resolved.length, 1);
    assert.deepEqual(
      { conflictId: resolved[0]!.conflictId, object: resolved[0]!.object, uid: resolved[0]!.uid, policy: resolved[0]!.policy, outcome: resolved[0]!.outcome, source: resolved[0]!.source, calendar: resolved[0]!.calendar, restored: resolved[0]!.restored },
      { conflictId: id, object: "a.ics", uid: "a-uid@test", policy: "upstream-wins", outcome: "upstream-won", source: "up", calendar: calName, restored: "local" },
    );
    const listed = JSON.parse((await cli(["conflicts", "list", "--json", "-c", configFile])).stdout) as { id: number; resolvedAt: string | null; restored: string | null }[];
    assert.equal(listed.find((c) => c.id === id)?.restored, "local");
    assert.ok(listed.find((c) => c.id === id)?.resolvedAt);
  });
});
