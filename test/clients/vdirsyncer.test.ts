/**
 * vdirsyncer (Debian 0.19): a filesystem storage (.ics files) paired with the caldav storage at the
 * calendar home. Seeded files from the iCalendar corpus (test/fixtures) travel to the server; edits, creations and
 * deletions on either side travel across; a conflicting edit fails without a resolution and is
 * resolved by "a wins". File contents and server GETs are asserted, not only exit codes.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTarget, type DavTarget } from "../helpers/target.ts";
import { which } from "../helpers/proc.ts";
import { CORPUS_ICS_DIR } from "../helpers/fixtures.ts";
import { basic, d, normPath, okProp, parseMultistatus, unfold } from "./replay.ts";
import { text } from "../../src/xml/tree.ts";

const missing = which("vdirsyncer") === null ? 'vdirsyncer is not installed (Debian package "vdirsyncer"; test/run.sh installs it when run as root)' : null;

const SEED = [
  { file: "cyrus/color-categories.ics", uid: "2a358cee-6489-4f14-a57f-c104db4dc357" }, // single event
  { file: "nextcloud-calendar-js/apple-weekly-count-override.ics", uid: "24C45485-7943-4A1A-9551-12AD83DF1F6D" }, // weekly + override
  { file: "radicale/davdroid-vtodo-weekly.ics", uid: "todo9" }, // recurring VTODO
  { file: "icalendar-py/google-alarms.ics", uid: "79fs7pkqvht9m5igs0vjv1sfra@google.com" }, // event with VALARM
];
const COLLECTION = "vdir-work";

const uidOf = (ics: string): string | undefined => /^UID:(.*)$/m.exec(unfold(ics))?.[1]?.trim();
const summaryOf = (ics: string): string | undefined => /^SUMMARY[^:]*:(.*)$/m.exec(unfold(ics))?.[1]?.trim();
/** Replace (or add) the SUMMARY of every component that has one. */
const withSummary = (ics: string, s: string): string => unfold(ics).replace(/^SUMMARY[^:\n]*:.*$/gm, `SUMMARY:${s}`).replace(/\n/g, "\r\n") + "\r\n";

describe("vdirsyncer ⇄ CalDAV", { skip: missing ?? false }, () => {
  let target: DavTarget;
  let dir: string;
  let localRoot: string;
  let cfg: string;
  let auth: string;
  let colUrl: string;

  const writeConfig = (conflict: string): void => {
    const u = target.users[0]!;
    writeFileSync(
      cfg,
      `[general]
status_path = "${join(dir, "status")}/"

[pair cal]
a = "cal_local"
b = "cal_remote"
collections = ["from a", "from b"]
conflict_resolution = ${conflict}
metadata = []

[storage cal_local]
type = "filesystem"
path = "${localRoot}/"
fileext = ".ics"

[storage cal_remote]
type = "caldav"
url = "${target.homeUrl(u)}"
username = "${u.username}"
password = "${u.password}"
`,
    );
  };
  const vdir = (args: string[], input = ""): { status: number | null; out: string } => {
    const r = spawnSync("vdirsyncer", ["-c", cfg, ...args], { input, encoding: "utf8", timeout: 90_000, env: { ...process.env, LC_ALL: "C.UTF-8", LANG: "C.UTF-8" } });
    if (r.error) throw r.error;
    return { status: r.status, out: `$ vdirsyncer ${args.join(" ")} → exit ${r.status}\n${r.stdout}${r.stderr}` };
  };
  const ok = (r: { status: number | null; out: string }): void => assert.equal(r.status, 0, `${r.out}\n--- server output ---\n${target.logs().slice(-4000)}`);

  /** uid → { url, etag, body } of every object in the server collection. */
  async function serverItems(url = colUrl): Promise<Map<string, { url: string; etag: string; body: string }>> {
    const r = await fetch(url, { method: "PROPFIND", headers: { authorization: auth, depth: "1", "content-type": "application/xml" }, body: `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/></D:prop></D:propfind>` });
    const body = await r.text();
    assert.equal(r.status, 207, `PROPFIND ${url}: ${r.status}\n${body}`);
    const out = new Map<string, { url: string; etag: string; body: string }>();
    for (const e of parseMultistatus(body).responses) {
      if (e.path === normPath(url)) continue;
      const href = new URL(e.rawHref, url).toString();
      const g = await fetch(href, { headers: { authorization: auth } });
      const ics = await g.text();
      assert.equal(g.status, 200, `GET ${href}: ${g.status}`);
      const uid = uidOf(ics);
      assert.ok(uid, `server object without UID: ${href}`);
      out.set(uid, { url: href, etag: g.headers.get("etag") ?? text(okProp(e, d("getetag"))!), body: ics });
    }
    return out;
  }
  /** uid → { file, body } of the local collection directory. */
  function localItems(collection = COLLECTION): Map<string, { file: string; body: string }> {
    const out = new Map<string, { file: string; body: string }>();
    const p = join(localRoot, collection);
    for (const f of readdirSync(p).filter((x) => x.endsWith(".ics"))) {
      const body = readFileSync(join(p, f), "utf8");
      out.set(uidOf(body)!, { file: join(p, f), body });
    }
    return out;
  }
  const sortedKeys = (m: Map<string, unknown>): string[] => [...m.keys()].sort();

  before(async () => {
    target = await startTarget();
    const u = target.users[0]!;
    auth = basic(u.username, u.password);
    dir = mkdtempSync(join(tmpdir(), "vdirsyncer-it-"));
    localRoot = join(dir, "local");
    mkdirSync(join(localRoot, COLLECTION), { recursive: true });
    for (const s of SEED) copyFileSync(join(CORPUS_ICS_DIR, s.file), join(localRoot, COLLECTION, `${s.file.split("/").pop()}`));
    cfg = join(dir, "config");
    colUrl = new URL(`${COLLECTION}/`, target.homeUrl(u)).toString();
    writeConfig("null");
  });
  after(async () => {
    await target?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("discover creates the local collection on the server and the server's calendar locally", async () => {
    const r = vdir(["discover"], "y\n".repeat(20));
    ok(r);
    const home = await fetch(target.homeUrl(target.users[0]!), { method: "PROPFIND", headers: { authorization: auth, depth: "1" } });
    const ms = parseMultistatus(await home.text());
    const col = ms.byPath(colUrl);
    assert.ok(col, `collection ${COLLECTION} not created on the server (extended MKCOL/MKCALENDAR)\n${r.out}`);
    const rt = okProp(col, d("resourcetype"));
    assert.ok(rt && rt.children.some((c) => typeof c === "object" && c.name === "{urn:ietf:params:xml:ns:caldav}calendar"), "created collection is not a calendar");
    const defName = normPath(target.defaultCalendarUrl(target.users[0]!)).split("/").filter(Boolean).pop()!;
    assert.ok(readdirSync(localRoot).includes(defName), `server calendar ${defName} was not created locally: ${readdirSync(localRoot).join(", ")}\n${r.out}`);
  });

  test("first sync uploads the seeded objects unchanged", async () => {
    ok(vdir(["sync"]));
    const srv = await serverItems();
    assert.deepEqual(sortedKeys(srv), SEED.map((s) => s.uid).sort());
    for (const s of SEED) {
      const original = unfold(readFileSync(join(CORPUS_ICS_DIR, s.file), "utf8"));
      const got = unfold(srv.get(s.uid)!.body);
      for (const line of original.split("\n").filter((l) => /^(UID|RRULE|RECURRENCE-ID|DTSTART|SUMMARY|BEGIN:V(EVENT|TODO|ALARM))/.test(l))) {
        assert.ok(got.includes(line), `server copy of ${s.file} lost the line ${JSON.stringify(line)}\n${got}`);
      }
    }
    ok(vdir(["sync"])); // idempotent
    assert.deepEqual(sortedKeys(localItems()), SEED.map((s) => s.uid).sort());
  });

  test("server edit (PUT If-Match) + server create, local edit + local delete → both sides agree", async () => {
    const [A, B, C] = [SEED[0]!.uid, SEED[1]!.uid, SEED[2]!.uid];
    let srv = await serverItems();
    const put = await fetch(srv.get(A)!.url, { method: "PUT", headers: { authorization: auth, "if-match": srv.get(A)!.etag, "content-type": "text/calendar; charset=utf-8" }, body: withSummary(srv.get(A)!.body, "Edited on server") });
    assert.ok([200, 201, 204].includes(put.status), `PUT If-Match → ${put.status} ${await put.text()}`);
    const newUid = "vdirsyncer-server-created@calgate.test";
    const created = await fetch(new URL("server-created.ics", colUrl), {
      method: "PUT", headers: { authorization: auth, "if-none-match": "*", "content-type": "text/calendar; charset=utf-8" },
      body: ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate test//EN", "BEGIN:VEVENT", `UID:${newUid}`, "DTSTAMP:20240101T000000Z", "DTSTART:20240301T100000Z", "DURATION:PT1H", "SUMMARY:Created on server", "END:VEVENT", "END:VCALENDAR", ""].join("\r\n"),
    });
    assert.equal(created.status, 201, await created.text());
    let local = localItems();
    writeFileSync(local.get(B)!.file, withSummary(local.get(B)!.body, "Edited locally"));
    unlinkSync(local.get(C)!.file);

    ok(vdir(["sync"]));
    srv = await serverItems();
    local = localItems();
    const expectUids = [A, B, SEED[3]!.uid, newUid].sort();
    assert.deepEqual(sortedKeys(srv), expectUids, "server side after sync");
    assert.deepEqual(sortedKeys(local), expectUids, "local side after sync");
    assert.equal(summaryOf(local.get(A)!.body), "Edited on server");
    assert.equal(summaryOf(srv.get(B)!.body), "Edited locally");
    assert.equal(summaryOf(local.get(newUid)!.body), "Created on server");
    for (const uid of expectUids) assert.equal(summaryOf(srv.get(uid)!.body), summaryOf(local.get(uid)!.body), `sides disagree on ${uid}`);
  });

  test("conflicting edit: no resolution → sync reports the conflict; 'a wins' → local version on the server", async () => {
    const A = SEED[0]!.uid;
    const srv = await serverItems();
    const put = await fetch(srv.get(A)!.url, { method: "PUT", headers: { authorization: auth, "if-match": srv.get(A)!.etag, "content-type": "text/calendar; charset=utf-8" }, body: withSummary(srv.get(A)!.body, "Conflict: server") });
    assert.ok([200, 201, 204].includes(put.status), `PUT → ${put.status}`);
    const local = localItems();
    writeFileSync(local.get(A)!.file, withSummary(local.get(A)!.body, "Conflict: local"));

    const r = vdir(["sync"]);
    assert.notEqual(r.status, 0, `sync with a conflict and conflict_resolution = null should fail\n${r.out}`);
    assert.match(r.out, /conflict/i, r.out);
    assert.equal(summaryOf((await serverItems()).get(A)!.body), "Conflict: server", "unresolved conflict changed the server copy");
    assert.equal(summaryOf(localItems().get(A)!.body), "Conflict: local", "unresolved conflict changed the local copy");

    writeConfig('"a wins"');
    ok(vdir(["sync"]));
    assert.equal(summaryOf((await serverItems()).get(A)!.body), "Conflict: local");
    assert.equal(summaryOf(localItems().get(A)!.body), "Conflict: local");
  });

  test("deletions propagate both ways", async () => {
    const B = SEED[1]!.uid;
    const newUid = "vdirsyncer-server-created@calgate.test";
    let srv = await serverItems();
    const del = await fetch(srv.get(newUid)!.url, { method: "DELETE", headers: { authorization: auth, "if-match": srv.get(newUid)!.etag } });
    assert.ok([200, 204].includes(del.status), `DELETE → ${del.status}`);
    const bUrl = srv.get(B)!.url;
    unlinkSync(localItems().get(B)!.file);
    ok(vdir(["sync"]));
    srv = await serverItems();
    const local = localItems();
    assert.ok(!local.has(newUid), "server deletion did not reach the local side");
    assert.ok(!srv.has(B), "local deletion did not reach the server");
    assert.equal((await fetch(bUrl, { headers: { authorization: auth } })).status, 404);
    assert.deepEqual(sortedKeys(srv), sortedKeys(local));
  });
});
