/**
 * Mirror rules with a Google calendar (the Google Calendar API emulator, test/emulators/google) as target
 * and as source: busy blocks created, moved and deleted at Google (checked on the emulator: title, private
 * visibility, no description, location or attendees, iCalUID), the two-rule loop local ↔ Google (exact
 * counts, none re-mirrored), a 410 full resync at Google and a restart, without duplicates.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { startGoogleEmulator, type GoogleEmulator } from "../emulators/google/index.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { startServer } from "../../src/main.ts";
import { openDb } from "../../src/store/db.ts";
import { SecretStore } from "../../src/store/secrets.ts";
import { SecretBox } from "../../src/auth/crypto.ts";
import { GoogleAdapter } from "../../src/sources/google/adapter.ts";
import type { GoogleSourceConfig } from "../../src/config/schema.ts";
import { MIRROR_UID_SUFFIX } from "../../src/sync/mirror-copy.ts";
import { col, objects, req, syncNow, uidOf, unfold, until, type World } from "../helpers/dav-world.ts";

const EMAIL = "alice@example.com";
const CLIENT = { clientId: "calgate-test.apps.googleusercontent.com", clientSecret: "test-client-secret" };
const SECRET_KEY = "google-test-secret-key-0123456789abcdef";
const RULES = { busy: "home/personal -> work/team", teamToA: "work/team -> home/a", aToTeam: "home/a -> work/team" };

const iso = (days: number, hour: number): string => new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000 + days * 86_400_000 + hour * 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
const stamp = (days: number, hour: number): string => iso(days, hour).replace(/[-:]/g, "");
const timed = (uid: string, summary: string, days: number, extra: string[] = []): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate mirror google test//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20260101T000000Z", `DTSTART:${stamp(days, 10)}`, `DTEND:${stamp(days, 11)}`, `SUMMARY:${summary}`, ...extra, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

let emu: GoogleEmulator;
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
      - { id: work, type: google, clientId: ${CLIENT.clientId}, clientSecret: ${CLIENT.clientSecret}, apiUrl: "${emu.apiUrl}", authUrl: "${emu.authUrl}", tokenUrl: "${emu.tokenUrl}", calendars: [Team] }
    mirrors:
      - { from: home/personal, to: work/team, mode: busy }
      - { from: work/team, to: home/a, mode: busy }
      - { from: home/a, to: work/team, mode: busy }
`;
  const server = await startServer(parseConfigText(yaml, "mirrors-google.yaml", {}), {
    configPath: null, generatedPassword: null, logger: pino({ level: process.env.TEST_LOG ?? "silent" }),
    adapters: { google: (s, d) => new GoogleAdapter(s as GoogleSourceConfig, { timeoutMs: d.timeoutMs, backoffBaseMs: 5, maxAttempts: 8 }) },
  });
  w = { server, db: w?.db ?? (await openDb(filename)), dir, base: server.url.replace(/\/$/, "") };
}

async function ruleState(key: string): Promise<{ created: number; updated: number; deleted: number; errors: number; last_run_at: number }> {
  const r = await w.db("mirror_rules").where({ owner: "alice", rule_key: key }).first();
  return { created: Number(r?.created ?? 0), updated: Number(r?.updated ?? 0), deleted: Number(r?.deleted ?? 0), errors: Number(r?.errors ?? 0), last_run_at: Number(r?.last_run_at ?? 0) };
}
/** Syncs Google, then waits until every rule ran after that sync completed. */
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
const atGoogle = (): { iCalUID: string; summary?: string; description?: string; location?: string; attendees?: unknown[]; visibility?: string; start: { dateTime?: string } }[] => emu.events(team);
const googleCopies = () => atGoogle().filter((e) => e.iCalUID.endsWith(MIRROR_UID_SUFFIX));

describe("mirror rules with a Google calendar (emulator)", () => {
  before(async () => {
    emu = await startGoogleEmulator({ seed: 11, requireHttpsWebhooks: false });
    emu.addClient(CLIENT);
    emu.addAccount(EMAIL, { timeZone: "Europe/Zurich" });
    team = emu.addCalendar(EMAIL, { summary: "Team", timeZone: "Europe/Zurich", accessRole: "owner" });
    dir = mkdtempSync(join(tmpdir(), "calgate-mirrors-google-"));
    const db = await openDb(join(dir, "db.sqlite"));
    const grant = emu.grant(CLIENT.clientId, EMAIL, ["https://www.googleapis.com/auth/calendar"]);
    await new SecretStore(db, SecretBox.fromSecretKey(SECRET_KEY)).put("alice", "work", "oauth", JSON.stringify({ refresh_token: grant.refresh_token, scope: "https://www.googleapis.com/auth/calendar", obtained_at: Date.now(), client_id: CLIENT.clientId }));
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

  test("a busy block reaches Google stripped, moves and goes with its original", async () => {
    await put("home-personal", "p-1", timed("p-1", "Doctor", 3, ["DESCRIPTION:results", "LOCATION:Clinic", "ATTENDEE;CN=Dr:mailto:dr@example.com"]));
    const [copy] = await until("the busy block at Google", async () => googleCopies().length === 1 && googleCopies());
    assert.equal(copy!.summary, "Busy");
    assert.equal(copy!.visibility, "private");
    assert.equal(copy!.description ?? null, null);
    assert.equal(copy!.location ?? null, null);
    assert.equal(copy!.attendees?.length ?? 0, 0);
    assert.equal(Date.parse(copy!.start.dateTime!), Date.parse(iso(3, 10)));
    await put("home-personal", "p-1", timed("p-1", "Doctor", 4));
    await until("the block moved at Google", async () => googleCopies().some((e) => Date.parse(e.start.dateTime!) === Date.parse(iso(4, 10))));
    assert.equal(googleCopies().length, 1);
    assert.equal((await req(`${col(w, "home-personal")}p-1.ics`, "DELETE")).status, 204);
    await until("the block gone at Google", async () => googleCopies().length === 0);
  });

  test("two rules pointing at each other (local ↔ Google): N copies each way, none re-mirrored, stable across a 410 resync and a restart", async () => {
    for (const i of [1, 2]) emu.insertEvent(team, { summary: `Team event ${i}`, start: { dateTime: iso(10 + i, 9) }, end: { dateTime: iso(10 + i, 10) } });
    for (const i of [1, 2, 3]) await put("home-a", `a-${i}`, timed(`a-${i}`, `A event ${i}`, 20 + i));
    await syncAndSettle();
    const counts = async (): Promise<{ aOriginals: number; aCopies: number; googleOriginals: number; googleCopies: number; remirrored: number }> => {
      const a = [...(await objects(col(w, "home-a"))).values()];
      const g = atGoogle();
      const cached = [...(await objects(col(w, "work-team"))).values()];
      const remirrored = [...a, ...cached].filter((t) => [...unfold(t).matchAll(/^X-CALGATE-MIRROR-OF[^:]*:(.*)$/gm)].some((m) => m[1]!.trim().endsWith(MIRROR_UID_SUFFIX))).length;
      return {
        aOriginals: a.filter((t) => !uidOf(t).endsWith(MIRROR_UID_SUFFIX)).length, aCopies: a.filter((t) => uidOf(t).endsWith(MIRROR_UID_SUFFIX)).length,
        googleOriginals: g.filter((e) => !e.iCalUID.endsWith(MIRROR_UID_SUFFIX)).length, googleCopies: g.filter((e) => e.iCalUID.endsWith(MIRROR_UID_SUFFIX)).length, remirrored,
      };
    };
    const want = { aOriginals: 3, aCopies: 2, googleOriginals: 2, googleCopies: 3, remirrored: 0 };
    await until("both directions copied", async () => JSON.stringify(await counts()) === JSON.stringify(want));
    const totals = async (): Promise<number[]> => [(await ruleState(RULES.aToTeam)).created, (await ruleState(RULES.teamToA)).created, (await ruleState(RULES.aToTeam)).updated, (await ruleState(RULES.teamToA)).updated];
    assert.deepEqual(await totals(), [3, 2, 0, 0]);

    emu.expireSyncTokens(team);
    await syncAndSettle();
    assert.ok(emu.requests.some((r) => r.status === 410), "the emulator answered 410 to the stale sync token");
    await syncAndSettle();
    await w.server.close();
    await start();
    await syncAndSettle();
    const after = await counts();
    console.log(`local ↔ Google loop after a 410 resync and a restart: ${JSON.stringify(after)}; copies written home/a -> Google ${(await ruleState(RULES.aToTeam)).created}, Google -> home/a ${(await ruleState(RULES.teamToA)).created}`);
    assert.deepEqual(after, want);
    assert.deepEqual(await totals(), [3, 2, 0, 0], "no copy written again");
    assert.equal(new Set(atGoogle().map((e) => e.iCalUID)).size, atGoogle().length, "no duplicate iCalUID at Google");
  });
});
