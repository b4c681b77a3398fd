/**
 * `calgate import <calendar> FILE.ics` with corpus files (one object per UID, overrides with their
 * master, refusals with reasons), into a local calendar of a running server and into a calendar of a
 * Radicale source (the events reach Radicale); and the export: GET of a calendar collection is the
 * whole calendar as one text/calendar document, one VTIMEZONE per TZID, read back by ical.js.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import ICAL from "ical.js";
import { splitCalendar } from "../../src/ical/bundle.ts";
import { REPO_ROOT, startCalgate } from "../helpers/calgate.ts";
import { runCalgateHere as runCalgate } from "../helpers/cli-run.ts";
import { objectsByUid } from "../helpers/collection.ts";
import { basicAuth, peerAvailable, startRadicale } from "../helpers/peers.ts";

const CORPUS = join(REPO_ROOT, "test/fixtures/corpus/ics");
const HOLIDAYS = join(CORPUS, "ical4j/ical15-yearly-holidays.ics"); // 37 VEVENTs, 36 UIDs: one master with an override
const ICLOUD = join(CORPUS, "ha-ical/icloud-caldav-feed.ics"); // 8 events sharing one VTIMEZONE
const MIXED = join(CORPUS, "node-ical/ical1-todo-journal-freebusy.ics"); // VEVENT, VTODO, VJOURNAL, VFREEBUSY
const OVERRIDDEN = "9C89D887-4E3C-11D9-A619-000A958A3252";
const AUTH = basicAuth("alice", "secret-a");

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const uidsOf = (file: string): Set<string> => new Set([...readFileSync(file, "utf8").matchAll(/^UID:(.*?)\r?$/gm)].map((m) => m[1]!.trim()));

describe("import and export", () => {
  test("import into a local calendar of a running server, then export it with GET", async () => {
    const server = await startCalgate();
    cleanups.push(() => server.stop());
    const cfg = join(server.dataDir, "calgate.yaml");
    const cal = `${server.baseUrl}/dav/calendars/alice/local-personal/`;

    const r = await runCalgate(["import", "local-personal", HOLIDAYS, "-u", "alice", "-c", cfg], { cwd: REPO_ROOT });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^imported 36 of 36 objects \(37 components\) into local-personal of alice$/m);
    const stored = await objectsByUid(cal, AUTH);
    assert.deepEqual(new Set(stored.keys()), uidsOf(HOLIDAYS));
    const series = stored.get(OVERRIDDEN)!;
    assert.match(series, /^RRULE:/m, "the master is there");
    assert.match(series, /^RECURRENCE-ID;VALUE=DATE:20040303$/m, "its override travels with it");

    const again = await runCalgate(["import", "local-personal", HOLIDAYS, "-u", "alice", "-c", cfg], { cwd: REPO_ROOT });
    assert.equal(again.code, 1);
    assert.match(again.stdout, /^imported 0 of 36 objects/m);
    assert.match(again.stdout, /^refused 36:$/m);
    assert.match(again.stdout, new RegExp(`UID ${OVERRIDDEN}, with 1 override\\): already in the calendar .*import never overwrites`));

    const mixed = await runCalgate(["import", "local-personal", MIXED, "-u", "alice", "-c", cfg], { cwd: REPO_ROOT });
    assert.equal(mixed.code, 1);
    assert.match(mixed.stdout, /^  VFREEBUSY.*: a VFREEBUSY is not stored in calendars/m);
    assert.match(mixed.stdout, /^  VJOURNAL .*: this calendar accepts VEVENT, VTODO; the object is a VJOURNAL$/m);
    assert.match(mixed.stdout, /^imported 4 of 5 objects/m);

    const icloud = await runCalgate(["import", "local-personal", ICLOUD, "-u", "alice", "-c", cfg], { cwd: REPO_ROOT });
    assert.equal(icloud.code, 0, icloud.stdout + icloud.stderr);

    // Export: one document with every object, each VTIMEZONE once.
    const res = await fetch(cal, { headers: { authorization: AUTH } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/calendar; charset=utf-8/);
    assert.match(res.headers.get("content-disposition")!, /filename="local-personal\.ics"/);
    const body = await res.text();
    const all = await objectsByUid(cal, AUTH);
    const doc = splitCalendar(body);
    assert.deepEqual(doc.problems, []);
    const exportedUids = new Set(doc.components.filter((c) => c.uid !== null).map((c) => c.uid!));
    assert.deepEqual(exportedUids, new Set(all.keys()), "every object of the calendar is in the export");
    const tzids = doc.components.filter((c) => c.name === "VTIMEZONE").map((c) => c.tzid);
    assert.equal(tzids.length, new Set(tzids).size, `one VTIMEZONE per TZID: ${tzids.join(", ")}`);
    assert.ok(tzids.length >= 1);
    const components = [...all.values()].reduce((n, ics) => n + (ics.match(/^BEGIN:(VEVENT|VTODO|VJOURNAL)$/gm)?.length ?? 0), 0);
    assert.equal(doc.components.filter((c) => c.name !== "VTIMEZONE").length, components);
    assert.match(body, /^X-WR-CALNAME:Personal\r$/m);

    // A real iCalendar parser reads it as one calendar.
    const parsed = new ICAL.Component(ICAL.parse(body));
    assert.equal(parsed.name, "vcalendar");
    assert.equal(parsed.getAllSubcomponents("vevent").length + parsed.getAllSubcomponents("vtodo").length, components);

    // Conditional GET with the export's ETag; HEAD has the headers without the body.
    const etag = res.headers.get("etag")!;
    const cached = await fetch(cal, { headers: { authorization: AUTH, "if-none-match": etag } });
    assert.equal(cached.status, 304);
    const head = await fetch(cal, { method: "HEAD", headers: { authorization: AUTH } });
    assert.equal(head.headers.get("content-length"), String(Buffer.byteLength(body)));
  });

  test("import into a calendar of a CalDAV source sends the events upstream (Radicale)", async (t) => {
    const why = peerAvailable("radicale");
    if (why) return t.skip(why);
    const radicale = await startRadicale({ calendars: ["personal"] });
    cleanups.push(() => radicale.stop());
    const dir = mkdtempSync(join(tmpdir(), "calgate-import-up-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const cfg = join(dir, "calgate.yaml");
    writeFileSync(
      cfg,
      `storage: { filename: ${JSON.stringify(join(dir, "calgate.sqlite"))} }
logging: { level: error }
users:
  - username: alice
    password: secret-a
    sources:
      - { id: r, type: caldav, url: "${radicale.baseUrl}/", username: ${radicale.username}, password: ${radicale.password} }
`,
    );
    const sync = await runCalgate(["sync", "--once", "-c", cfg], { cwd: dir });
    assert.equal(sync.code, 0, sync.stdout + sync.stderr);
    const r = await runCalgate(["import", "r-personal", HOLIDAYS, "-c", cfg], { cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^imported 36 of 36 objects \(37 components\) into r-personal of alice$/m);
    const upstream = await objectsByUid(radicale.calendarUrls[0]!, radicale.authHeader);
    assert.deepEqual(new Set(upstream.keys()), uidsOf(HOLIDAYS), "Radicale holds every imported object");
    assert.match(upstream.get(OVERRIDDEN)!, /^RECURRENCE-ID;VALUE=DATE:20040303$/m);
  });
});
