/**
 * Mirror rules with a Microsoft 365 calendar (the Graph emulator, test/emulators/graph) as target and
 * as source: a busy block created, moved and deleted in Outlook's calendar (checked on the emulator:
 * subject, private sensitivity, no body, location or attendees), and the two-rule loop local ↔ Graph
 * (exact counts, none re-mirrored, stable across syncs and a restart).
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
import { openDb } from "../../src/store/db.ts";
import { SecretStore } from "../../src/store/secrets.ts";
import { SecretBox } from "../../src/auth/crypto.ts";
import { MicrosoftAdapter } from "../../src/sources/microsoft/adapter.ts";
import type { MicrosoftSourceConfig } from "../../src/config/schema.ts";
import { MIRROR_UID_SUFFIX } from "../../src/sync/mirror-copy.ts";
import { graphSource, GRAPH_CLIENT_ID, signIn } from "../helpers/graph-source.ts";
import { col, objects, req, syncNow, uidOf, unfold, until, type World } from "../helpers/dav-world.ts";

const UPN = "alice@contoso.example";
const SECRET_KEY = "microsoft-test-secret-key-0123456789abcdef";
const RULES = { busy: "home/personal -> office/team", teamToA: "office/team -> home/a", aToTeam: "home/a -> office/team" };

const iso = (days: number, hour: number): string => new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000 + days * 86_400_000 + hour * 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
const stamp = (days: number, hour: number): string => iso(days, hour).replace(/[-:]/g, "");
const timed = (uid: string, summary: string, days: number, extra: string[] = []): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate mirror graph test//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20260101T000000Z", `DTSTART:${stamp(days, 10)}`, `DTEND:${stamp(days, 11)}`, `SUMMARY:${summary}`, ...extra, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

let emu: GraphEmulator;
let team: string;
let dir: string;
let w: World;

async function start(): Promise<void> {
  const filename = join(dir, "db.sqlite");
  const yaml = `server: { host: 127.0.0.1, port: 0 }
storage: { client: sqlite, filename: ${filename} }
secretKey: ${SECRET_KEY}
sync: { schedule: "0 0 1 1 *", jitterSeconds: 0 }
users:
  - username: alice
    password: secret-a
    sources:
      - { id: home, type: local, calendars: [{ id: personal, name: Personal }, { id: a, name: A }] }
      - { id: office, type: microsoft, clientId: ${GRAPH_CLIENT_ID}, authority: "${emu.authority}", apiUrl: "${emu.apiUrl}", caCert: "${emu.caCertPath}", calendars: [Team], window: { pastDays: 30, futureDays: 400 } }
    mirrors:
      - { from: home/personal, to: office/team, mode: busy }
      - { from: office/team, to: home/a, mode: busy }
      - { from: home/a, to: office/team, mode: busy }
`;
  const server = await startServer(parseConfigText(yaml, "mirrors-graph.yaml", {}), {
    configPath: null, generatedPassword: null, logger: pino({ level: process.env.TEST_LOG ?? "silent" }),
    adapters: { microsoft: (s, d) => new MicrosoftAdapter(s as MicrosoftSourceConfig, { timeoutMs: d.timeoutMs, backoffBaseMs: 5, maxAttempts: 8 }) },
  });
  w = { server, db: w?.db ?? (await openDb(filename)), dir, base: server.url.replace(/\/$/, "") };
}

async function ruleState(key: string): Promise<{ created: number; updated: number; deleted: number; last_run_at: number }> {
  const r = await w.db("mirror_rules").where({ owner: "alice", rule_key: key }).first();
  return { created: Number(r?.created ?? 0), updated: Number(r?.updated ?? 0), deleted: Number(r?.deleted ?? 0), last_run_at: Number(r?.last_run_at ?? 0) };
}
async function syncAndSettle(): Promise<void> {
  const mark = Number((await w.db("status_events").max({ m: "id" }).first())?.m ?? 0);
  await syncNow(w);
  const done = await w.db("status_events").where("id", ">", mark).whereIn("type", ["sync.completed", "sync.failed"]).orderBy("id", "desc").first();
  assert.equal(done?.type, "sync.completed", done?.payload);
  const since = Date.parse(JSON.parse(done.payload).at as string);
  for (const key of Object.values(RULES)) await until(`rule ${key} to run after the sync`, async () => (await ruleState(key)).last_run_at >= since);
}
const put = async (cal: string, uid: string, body: string): Promise<void> => {
  const r = await req(`${col(w, cal)}${uid}.ics`, "PUT", body);
  assert.ok(r.status === 201 || r.status === 204, `PUT ${cal}/${uid}: ${r.status} ${r.body}`);
};
type GraphEvent = { subject?: string; sensitivity?: string; body?: { content?: string }; location?: { displayName?: string }; attendees?: unknown[]; start: { dateTime: string; timeZone: string } };
const atGraph = (): GraphEvent[] => emu.events(UPN, team);
const busyAtGraph = (): GraphEvent[] => atGraph().filter((e) => e.subject === "Busy");

describe("mirror rules with a Microsoft 365 calendar (Graph emulator)", () => {
  before(async () => {
    emu = await startGraphEmulator({ seed: 5, requireHttpsWebhooks: false, deviceCodeIntervalSec: 1 });
    emu.addClient(GRAPH_CLIENT_ID);
    emu.addAccount(UPN, { timeZone: "UTC" });
    team = emu.addCalendar(UPN, { name: "Team" });
    dir = mkdtempSync(join(tmpdir(), "calgate-mirrors-graph-"));
    const db = await openDb(join(dir, "db.sqlite"));
    const store = new SecretStore(db, SecretBox.fromSecretKey(SECRET_KEY));
    for (const [k, v] of await signIn(emu, graphSource(emu), UPN)) await store.put("alice", "office", k, v);
    await db.destroy();
    await start();
    await syncAndSettle();
  });
  after(async () => {
    await w?.server.close();
    await w?.db.destroy();
    await emu?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("a busy block reaches Graph stripped and private, moves and goes with its original", async () => {
    await put("home-personal", "p-1", timed("p-1", "Doctor", 3, ["DESCRIPTION:results", "LOCATION:Clinic", "ATTENDEE;CN=Dr:mailto:dr@example.com"]));
    const [copy] = await until("the busy block at Graph", async () => busyAtGraph().length === 1 && busyAtGraph());
    assert.equal(copy!.sensitivity, "private");
    assert.equal((copy!.body?.content ?? "").replace(/<[^>]*>/g, "").trim(), "");
    assert.equal(copy!.location?.displayName ?? "", "");
    assert.equal(copy!.attendees?.length ?? 0, 0);
    assert.ok(!JSON.stringify(atGraph()).includes("Doctor") && !JSON.stringify(atGraph()).includes("Clinic"), "no text of the original at Graph");
    await put("home-personal", "p-1", timed("p-1", "Doctor", 4));
    await until("the block moved at Graph", async () => busyAtGraph().some((e) => Date.parse(`${e.start.dateTime.replace(/Z$/, "")}Z`) === Date.parse(iso(4, 10))));
    assert.equal(busyAtGraph().length, 1);
    assert.equal((await req(`${col(w, "home-personal")}p-1.ics`, "DELETE")).status, 204);
    await until("the block gone at Graph", async () => busyAtGraph().length === 0);
  });

  test("two rules pointing at each other (local ↔ Graph): N copies each way, none re-mirrored, stable across syncs and a restart", async () => {
    for (const i of [1, 2]) emu.createEvent(UPN, team, { subject: `Team event ${i}`, start: { dateTime: iso(10 + i, 9).replace("Z", ""), timeZone: "UTC" }, end: { dateTime: iso(10 + i, 10).replace("Z", ""), timeZone: "UTC" } });
    for (const i of [1, 2, 3]) await put("home-a", `a-${i}`, timed(`a-${i}`, `A event ${i}`, 20 + i));
    await syncAndSettle();
    const counts = async (): Promise<Record<string, number>> => {
      const a = [...(await objects(col(w, "home-a"))).values()];
      const cached = [...(await objects(col(w, "office-team"))).values()];
      const remirrored = [...a, ...cached].filter((t) => [...unfold(t).matchAll(/^X-CALGATE-MIRROR-OF[^:]*:(.*)$/gm)].some((m) => m[1]!.trim().endsWith(MIRROR_UID_SUFFIX))).length;
      return {
        aOriginals: a.filter((t) => !uidOf(t).endsWith(MIRROR_UID_SUFFIX)).length, aCopies: a.filter((t) => uidOf(t).endsWith(MIRROR_UID_SUFFIX)).length,
        graphOriginals: atGraph().filter((e) => e.subject !== "Busy").length, graphCopies: busyAtGraph().length, remirrored,
      };
    };
    const want = { aOriginals: 3, aCopies: 2, graphOriginals: 2, graphCopies: 3, remirrored: 0 };
    await until("both directions copied", async () => JSON.stringify(await counts()) === JSON.stringify(want));
    for (let i = 0; i < 2; i++) await syncAndSettle();
    await w.server.close();
    await start();
    await syncAndSettle();
    const after = await counts();
    const written = [(await ruleState(RULES.aToTeam)).created, (await ruleState(RULES.teamToA)).created, (await ruleState(RULES.aToTeam)).updated, (await ruleState(RULES.teamToA)).updated];
    console.log(`local ↔ Graph loop after 3 syncs and a restart: ${JSON.stringify(after)}; copies written home/a -> Graph ${written[0]}, Graph -> home/a ${written[1]}`);
    assert.deepEqual(after, want);
    assert.deepEqual(written, [3, 2, 0, 0], "exactly N copies written each way, none rewritten");
  });
});
