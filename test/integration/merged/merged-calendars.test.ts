/**
 * Merged calendars (issue 12, deliverable 1) served by an in-process calgate with two local calendars
 * and a CalDAV source on a real Radicale: the union, one copy per UID (the first included calendar's,
 * stable over a restart), the merged calendar's own sync tokens across its calendars (changes,
 * deletions, a hidden copy taking over), writes routed to the calendar that owns each member (and on
 * to Radicale), new events to writeTo or refused without one, and python3-caldav as a real client.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { parseConfigText } from "../../../src/config/load.ts";
import { startServer } from "../../../src/main.ts";
import { openDb } from "../../../src/store/db.ts";
import { peerAvailable, startRadicale, basicAuth, type PeerServer } from "../../helpers/peers.ts";
import { col, objects, req, syncCollection, syncNow, uidOf, unfold, until, vevent, type World } from "../../helpers/dav-world.ts";

const missing = peerAvailable("radicale");
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "python_caldav_merged.py");
const pyMissing = spawnSync(PYTHON, ["-c", "import caldav"]).status === 0 ? null : 'python3-caldav is not importable (Debian package "python3-caldav")';
const RAD = { username: "alice", password: "rad-secret" };

let radicale: PeerServer;
const radCal = (): string => `${radicale.baseUrl}/alice/cal/`;
const radAuth = (): Record<string, string> => ({ authorization: basicAuth(RAD.username, RAD.password) });
async function radPut(name: string, ics: string): Promise<void> {
  const r = await fetch(radCal() + name, { method: "PUT", headers: { ...radAuth(), "content-type": "text/calendar" }, body: ics });
  assert.ok(r.status === 201 || r.status === 204, `Radicale PUT ${name}: ${r.status} ${await r.text()}`);
}
async function radGet(name: string): Promise<string | null> {
  const r = await fetch(radCal() + name, { headers: radAuth() });
  const body = await r.text();
  return r.status === 200 ? body : null;
}

async function startWorld(dir: string): Promise<World> {
  const filename = join(dir, "db.sqlite");
  const yaml = `server: { host: 127.0.0.1, port: 0 }
storage: { client: sqlite, filename: ${filename} }
sync: { schedule: "0 0 1 1 *", jitterSeconds: 0, writeDeadlineMs: 5000, timeoutMs: 5000 }
users:
  - username: alice
    password: secret-a
    sources:
      - { id: home, type: local, calendars: [ { id: personal, name: Personal }, { id: family, name: Family } ] }
      - { id: r, type: caldav, url: "${radicale.baseUrl}/", username: ${RAD.username}, password: ${RAD.password} }
    merged:
      - { id: everything, name: Everything, include: ["home/*", "r/*"], writeTo: home/personal }
      - { id: family-only, name: Family only, include: ["home/family"] }
`;
  const server = await startServer(parseConfigText(yaml, "merged.yaml", {}), { configPath: null, generatedPassword: null, logger: pino({ level: process.env.TEST_LOG ?? "silent" }) });
  return { server, db: await openDb(filename), dir, base: server.url.replace(/\/$/, "") };
}
async function stopWorld(w: World): Promise<void> {
  await w.server.close();
  await w.db.destroy();
}
function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" }, timeout: 60_000 });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("error", reject);
    p.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}
const byUid = (m: Map<string, string>): Map<string, { name: string; ics: string }> => new Map([...m].map(([name, ics]) => [uidOf(ics), { name, ics }]));
const summary = (ics: string): string => /^SUMMARY[^:]*:(.*)$/m.exec(unfold(ics))![1]!.trim();
const meeting = (uid: string, summaryText: string): string =>
  vevent(uid, summaryText, ["DTSTART:20261211T100000Z", "DTEND:20261211T110000Z", "ORGANIZER:mailto:boss@example.com", "ATTENDEE:mailto:alice@example.com"]);

describe("merged calendars", { skip: missing ?? false }, () => {
  let dir: string;
  let w: World;
  let token: string;
  before(async () => {
    radicale = await startRadicale({ users: [RAD], calendars: [] });
    await (await fetch(`${radicale.baseUrl}/`, { method: "PROPFIND", headers: { ...radAuth(), depth: "0" } })).arrayBuffer();
    const r = await fetch(radCal(), { method: "MKCALENDAR", headers: radAuth() });
    assert.equal(r.status, 201, await r.text());
    dir = mkdtempSync(join(tmpdir(), "calgate-merged-"));
    w = await startWorld(dir);
  });
  after(async () => {
    if (w) await stopWorld(w);
    await radicale?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the merged calendar is a collection of the home, listing the union once per UID", async () => {
    assert.equal((await req(col(w, "home-personal") + "a.ics", "PUT", vevent("A", "Personal A"))).status, 201);
    assert.equal((await req(col(w, "home-family") + "b.ics", "PUT", vevent("B", "Family B"))).status, 201);
    assert.equal((await req(col(w, "home-family") + "d-family.ics", "PUT", meeting("D", "Meeting (family copy)"))).status, 201);
    await radPut("c.ics", vevent("C", "Radicale C"));
    await radPut("d-rad.ics", meeting("D", "Meeting (Radicale copy)"));
    await syncNow(w);

    const home = await req(`${w.base}/dav/calendars/alice/`, "PROPFIND", `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:displayname/><d:resourcetype/></d:prop></d:propfind>`, { depth: "1" });
    assert.equal(home.status, 207);
    assert.match(home.body, /\/dav\/calendars\/alice\/everything\/<\/d?:?href>|everything\//);
    assert.match(home.body, /Everything/);

    const all = byUid(await objects(col(w, "everything")));
    assert.deepEqual([...all.keys()].sort(), ["A", "B", "C", "D"]);
    assert.equal(all.get("A")!.name, "a.ics");
    assert.equal(all.get("C")!.name, "c.ics");
    assert.equal(summary(all.get("D")!.ics), "Meeting (family copy)", "the copy of the first included calendar (home/* before r/*)");
    assert.equal(all.get("D")!.name, "d-family.ics");
    const fam = byUid(await objects(col(w, "family-only")));
    assert.deepEqual([...fam.keys()].sort(), ["B", "D"]);

    const get = await req(col(w, "everything") + "c.ics", "GET");
    assert.equal(get.status, 200);
    const own = await req(col(w, "r-cal") + "c.ics", "GET");
    assert.equal(get.headers.get("etag"), own.headers.get("etag"), "a member has the ETag of the copy it shows");
    token = (await syncCollection(col(w, "everything"), "")).token;
  });

  test("multiget, time-range queries and free-busy answer over the union", async () => {
    const href = (n: string): string => new URL(col(w, "everything") + n).pathname;
    const mg = await req(col(w, "everything"), "REPORT", `<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><d:href>${href("a.ics")}</d:href><d:href>${href("c.ics")}</d:href><d:href>${href("missing.ics")}</d:href></c:calendar-multiget>`, { depth: "1" });
    assert.equal(mg.status, 207);
    assert.match(mg.body, /SUMMARY:Personal A/);
    assert.match(mg.body, /SUMMARY:Radicale C/);
    assert.match(mg.body, /missing\.ics<\/[^>]*href>\s*<[^>]*status>HTTP\/1\.1 404/);
    // D (the meeting) is on 2026-12-11, the others on 2026-12-10.
    const range = await req(col(w, "everything"), "REPORT", `<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="20261211T000000Z" end="20261212T000000Z"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`, { depth: "1" });
    assert.equal(range.status, 207);
    assert.deepEqual([...range.body.matchAll(/everything\/([^<]+)<\//g)].map((m) => m[1]), ["d-family.ics"]);
    const fb = await req(col(w, "everything"), "REPORT", `<?xml version="1.0"?><c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav"><c:time-range start="20261210T000000Z" end="20261212T000000Z"/></c:free-busy-query>`, { depth: "1" });
    assert.equal(fb.status, 200, fb.body);
    assert.match(fb.body, /FREEBUSY[^:]*:20261210T100000Z\/(PT1H|20261210T110000Z)/);
    assert.match(fb.body, /20261211T100000Z\/(PT1H|20261211T110000Z)/, "busy time from the meeting, present in two calendars");
  });

  test("a change or deletion in an included calendar shows in the merged calendar's sync-collection", async () => {
    const mark = Number((await w.db("status_events").max({ m: "id" }).first())?.m ?? 0);
    const a = await req(col(w, "home-personal") + "a.ics", "GET");
    assert.equal((await req(col(w, "home-personal") + "a.ics", "PUT", vevent("A", "Personal A moved"), { "if-match": a.headers.get("etag")! })).status, 204);
    assert.equal((await req(col(w, "home-family") + "b.ics", "DELETE")).status, 204);
    // The shown copy of D goes: the Radicale copy takes its place under the same name.
    assert.equal((await req(col(w, "home-family") + "d-family.ics", "DELETE")).status, 204);
    // Announced on the status feed as it happens, before any client reads the merged calendar.
    await until("merged.updated on the status feed", async () => (await w.db("status_events").where({ type: "merged.updated" }).andWhere("id", ">", mark)).some((e) => JSON.parse(e.payload).calendar === "everything"));
    const s = await syncCollection(col(w, "everything"), token);
    assert.deepEqual(s.changed.sort(), ["a.ics", "d-family.ics"]);
    assert.deepEqual(s.removed, ["b.ics"]);
    const d = byUid(await objects(col(w, "everything"))).get("D")!;
    assert.equal(summary(d.ics), "Meeting (Radicale copy)");
    assert.equal(d.name, "d-family.ics", "the member keeps its href when another copy takes over");
    const again = await syncCollection(col(w, "everything"), s.token);
    assert.deepEqual([again.changed, again.removed], [[], []], "nothing new after the token of the last answer");
    token = s.token;
  });

  test("writes go to the calendar that owns the member, and on to its provider", async () => {
    const c = await req(col(w, "everything") + "c.ics", "GET");
    const put = await req(col(w, "everything") + "c.ics", "PUT", vevent("C", "Radicale C edited in the merged calendar"), { "if-match": c.headers.get("etag")! });
    assert.equal(put.status, 204, put.body);
    assert.equal(summary((await radGet("c.ics"))!), "Radicale C edited in the merged calendar", "the edit reached Radicale");
    const stale = await req(col(w, "everything") + "c.ics", "PUT", vevent("C", "stale"), { "if-match": c.headers.get("etag")! });
    assert.equal(stale.status, 412, "a stale ETag is refused as in any collection");

    assert.equal((await req(col(w, "everything") + "a.ics", "DELETE")).status, 204);
    assert.equal((await req(col(w, "home-personal") + "a.ics", "GET")).status, 404, "the delete reached the owning calendar");

    const created = await req(col(w, "everything") + "e.ics", "PUT", vevent("E", "New in merged"), { "if-none-match": "*" });
    assert.equal(created.status, 201, created.body);
    assert.equal((await req(col(w, "home-personal") + "e.ics", "GET")).status, 200, "a new event goes to writeTo");
    assert.equal((await req(col(w, "everything") + "e.ics", "GET")).status, 200, "and is served under the name the client gave");

    const dup = await req(col(w, "everything") + "other.ics", "PUT", vevent("C", "same UID"));
    assert.equal(dup.status, 409, "a second object with a member's UID");

    const refused = await req(col(w, "family-only") + "f.ics", "PUT", vevent("F", "nowhere to go"));
    assert.equal(refused.status, 403);
    assert.match(refused.body, /no-write-target/);
    assert.match(refused.body, /no writeTo/);

    const s = await syncCollection(col(w, "everything"), token);
    assert.deepEqual(s.changed.sort(), ["c.ics", "e.ics"]);
    assert.deepEqual(s.removed, ["a.ics"]);
    token = s.token;
  });

  test("names, ETags and sync tokens survive a restart and a resync", async () => {
    const before = await objects(col(w, "everything"));
    await stopWorld(w);
    w = await startWorld(dir);
    await syncNow(w);
    const s = await syncCollection(col(w, "everything"), token);
    assert.deepEqual([s.changed, s.removed], [[], []], "the old token still works and nothing changed");
    assert.deepEqual(await objects(col(w, "everything")), before);
  });

  test("python3-caldav syncs the merged calendar, creates, edits and deletes through it", { skip: pyMissing ?? false }, async () => {
    // Asynchronously: the server answering the client runs in this process.
    const r = await run(PYTHON, [SCRIPT, `${w.base}/`, "alice", "secret-a", "everything", "C", "E"]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { displayname: string; initial: string[]; created_url: string; changed_hrefs: string[]; final: string[] };
    console.log(`python3-caldav on the merged calendar: ${JSON.stringify(out)}`);
    assert.equal(out.displayname, "Everything");
    assert.deepEqual(out.initial, ["C", "D", "E"]);
    assert.deepEqual(out.final, ["C", "D", "py-new@merged.test"]);
    const createdName = decodeURIComponent(out.created_url.split("/").pop()!);
    assert.deepEqual(out.changed_hrefs.map(decodeURIComponent).sort(), ["c.ics", "e.ics", createdName].sort());
    assert.equal(summary((await radGet("c.ics"))!), "Edited through the merged calendar");
    assert.equal((await req(col(w, "home-personal") + createdName, "GET")).status, 200);
  });
});
