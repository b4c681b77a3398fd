/**
 * Isolation matrix: user B ("bob@example.com") tries every method on every kind of user A's
 * ("alice") resources, and on the same places of a user who does not exist ("carol"):
 *   - every answer is 403 or 404 (never 2xx, never a 5xx);
 *   - no body or header carries anything of A's (UIDs, summaries, calendar names, ETags, hrefs);
 *   - A's space and a nonexistent user's space answer identically (status and body), so B cannot
 *     even learn which usernames or calendar names exist;
 *   - A's data is unchanged afterwards (every object's ETag, every calendar's ctag and sync-token);
 *   - B's own reports (multiget with A's hrefs, sync-collection, calendar-query, PROPFIND of the
 *     root) never reach into A's space;
 *   - path traversal and encoding tricks ('..', %2e%2e, double encoding, overlong UTF-8, fullwidth
 *     and NFD forms, encoded slashes and backslashes, absolute-form targets) cannot escape B's space;
 *   - SSE /events (resume and live) and POST /sync only ever concern B's own sources.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { join } from "node:path";
import { basic, dav, propsByHref, startInproc, type InprocServer } from "../helpers/inproc.ts";
import knexFactory, { type Knex } from "knex";
import { text } from "../../src/xml/tree.ts";
import { rawRequest } from "./raw-http.ts";

const ALICE = basic("alice", "secret-a");
const BOB = basic("bob@example.com", "secret-b");
const BOB_SEG = encodeURIComponent("bob@example.com");
const TAG = `x${Math.random().toString(36).slice(2, 10)}`;
// Markers that exist only in alice's data: any of them in a response to bob is a leak.
const A = {
  uid: `alice-uid-${TAG}`,
  summary: `ALICE-PRIVATE-SUMMARY-${TAG}`,
  location: `ALICE-PRIVATE-LOCATION-${TAG}`,
  calName: `alicework${TAG}`,
  display: `ALICE-CALENDAR-DISPLAY-${TAG}`,
  objName: `alice-secret-${TAG}.ics`,
};
const CAROL = "carol"; // no such user

const ics = (uid: string, summary: string, extra: string[] = []): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate isolation test//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20240101T000000Z",
    "DTSTART:20240105T100000Z", "DURATION:PT1H", `SUMMARY:${summary}`, ...extra, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

const PROPFIND_ALL = `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>`;
const PROPFIND_SOME = `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/"><d:prop><d:displayname/><d:getetag/><cs:getctag/><d:sync-token/><c:calendar-data/><c:calendar-home-set/><d:current-user-principal/><d:owner/></d:prop></d:propfind>`;
const PROPPATCH = `<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>pwned by bob</d:displayname></d:prop></d:set></d:propertyupdate>`;
const MKCAL = `<?xml version="1.0"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop><d:displayname>bob was here</d:displayname></d:prop></d:set></c:mkcalendar>`;
const QUERY = `<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>`;
const SYNC = `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`;
const FREEBUSY = `<?xml version="1.0"?><c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav"><c:time-range start="20240101T000000Z" end="20250101T000000Z"/></c:free-busy-query>`;
const multiget = (hrefs: string[]): string =>
  `<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>${hrefs.map((h) => `<d:href>${h.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</d:href>`).join("")}</c:calendar-multiget>`;

let srv: InprocServer;
let db: Knex;
let aliceEtag = "";
const leaks: string[] = []; // filled after setup: every string that must never reach bob

/** Every method bob may try, with the body that makes it meaningful. */
const ATTEMPTS: { method: string; body?: string; headers?: Record<string, string> }[] = [
  { method: "OPTIONS" },
  { method: "PROPFIND", body: PROPFIND_ALL, headers: { depth: "0" } },
  { method: "PROPFIND", body: PROPFIND_SOME, headers: { depth: "1" } },
  { method: "PROPFIND", body: PROPFIND_SOME, headers: { depth: "infinity" } },
  { method: "PROPFIND", headers: { depth: "1" } },
  { method: "PROPPATCH", body: PROPPATCH },
  { method: "GET" },
  { method: "HEAD" },
  { method: "PUT", body: ics(`bob-plant-${TAG}`, "planted by bob"), headers: { "content-type": "text/calendar" } },
  { method: "PUT", body: ics(A.uid, "overwritten by bob"), headers: { "content-type": "text/calendar", "if-match": "*" } },
  { method: "DELETE" },
  { method: "DELETE", headers: { "if-match": "*" } },
  { method: "MKCALENDAR", body: MKCAL },
  { method: "MKCOL" },
  { method: "REPORT", body: QUERY, headers: { depth: "1" } },
  { method: "REPORT", body: SYNC },
  { method: "REPORT", body: FREEBUSY, headers: { depth: "1" } },
  { method: "REPORT", body: "MULTIGET" }, // filled per target with the target's own hrefs
  { method: "COPY", headers: { destination: `/dav/calendars/${BOB_SEG}/local-personal/stolen.ics` } },
  { method: "MOVE", headers: { destination: `/dav/calendars/${BOB_SEG}/local-personal/stolen.ics` } },
  { method: "LOCK" },
  { method: "ACL" },
];

/** Places in a user's space, as functions of the (encoded) username. */
const PLACES: { name: string; path: (u: string) => string }[] = [
  { name: "principal", path: (u) => `/dav/principals/${u}/` },
  { name: "principal (no slash)", path: (u) => `/dav/principals/${u}` },
  { name: "home", path: (u) => `/dav/calendars/${u}/` },
  { name: "calendar", path: (u) => `/dav/calendars/${u}/local-personal/` },
  { name: "second calendar", path: (u) => `/dav/calendars/${u}/${A.calName}/` },
  { name: "object", path: (u) => `/dav/calendars/${u}/local-personal/${A.objName}` },
  { name: "missing object", path: (u) => `/dav/calendars/${u}/local-personal/nothing-${TAG}.ics` },
  { name: "missing calendar", path: (u) => `/dav/calendars/${u}/nocal-${TAG}/` },
  { name: "object in missing calendar", path: (u) => `/dav/calendars/${u}/nocal-${TAG}/x.ics` },
];

/** `asked`: the request target; markers bob wrote into it himself may be echoed back (he knows them). */
function assertNoLeak(what: string, r: { status: number; headers: Headers | Record<string, unknown>; body: string }, asked = ""): void {
  const headerText = r.headers instanceof Headers ? [...r.headers.entries()].map(([k, v]) => `${k}: ${v}`).join("\n") : JSON.stringify(r.headers);
  for (const s of leaks) {
    if (asked.includes(s)) continue;
    assert.ok(!r.body.includes(s), `${what}: body leaks "${s}" (status ${r.status}):\n${r.body.slice(0, 600)}`);
    assert.ok(!headerText.includes(s), `${what}: headers leak "${s}":\n${headerText}`);
  }
  // Alice's URL space must never be named back to bob, other than the path he asked for (which he knows).
  assert.ok(!/<[^>]*href>[^<]*\/alice\//i.test(r.body), `${what}: a DAV:href into alice's space:\n${r.body.slice(0, 600)}`);
}

/** A snapshot of everything of alice's that bob's attempts could change. */
async function aliceState(): Promise<string> {
  const home = await dav(srv.url, "PROPFIND", "/dav/calendars/alice/", { auth: ALICE, headers: { depth: "1" }, body: PROPFIND_SOME });
  assert.equal(home.status, 207);
  const out: string[] = [];
  for (const [href, e] of propsByHref(home.xml())) {
    const get = (n: string): string => {
      const p = e.props.get(n);
      return p && p.status.includes("200") ? text(p.el) : "-";
    };
    out.push(`${href} ${get("{DAV:}displayname")} ${get("{http://calendarserver.org/ns/}getctag")} ${get("{DAV:}sync-token")}`);
    if (href.endsWith("/") && href !== "/dav/calendars/alice/") {
      const objs = await dav(srv.url, "PROPFIND", href, { auth: ALICE, headers: { depth: "1" }, body: `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>` });
      for (const [h, o] of propsByHref(objs.xml())) if (!h.endsWith("/")) out.push(`${h} ${text(o.props.get("{DAV:}getetag")!.el)}`);
    }
  }
  return out.sort().join("\n");
}

before(async () => {
  srv = await startInproc(`users:
  - username: alice
    password: secret-a
    sources:
      - { id: local, type: local, calendars: [{ id: personal, name: Personal }] }
      - { id: up, type: caldav, url: "http://127.0.0.1:9/", username: alice-upstream, password: upstream-secret-${TAG} }
  - username: "bob@example.com"
    password: secret-b
    sources: [{ id: local, type: local, calendars: [{ id: personal, name: Personal }] }]
`);
  const put = await dav(srv.url, "PUT", `/dav/calendars/alice/local-personal/${A.objName}`, { auth: ALICE, body: ics(A.uid, A.summary, [`LOCATION:${A.location}`]) });
  assert.equal(put.status, 201, put.body);
  aliceEtag = put.headers.get("etag") ?? "";
  assert.ok(aliceEtag.length > 4);
  const mk = await dav(srv.url, "MKCALENDAR", `/dav/calendars/alice/${A.calName}/`, { auth: ALICE, body: MKCAL.replace("bob was here", A.display) });
  assert.equal(mk.status, 201, mk.body);
  assert.equal((await dav(srv.url, "PUT", `/dav/calendars/alice/${A.calName}/second.ics`, { auth: ALICE, body: ics(`${A.uid}-2`, `${A.summary}-2`) })).status, 201);
  // Bob has an event of his own, so that his reports have something to return.
  assert.equal((await dav(srv.url, "PUT", `/dav/calendars/${BOB_SEG}/local-personal/bob.ics`, { auth: BOB, body: ics(`bob-uid-${TAG}`, "Bob's own") })).status, 201);
  leaks.push(A.uid, A.summary, A.location, A.calName, A.display, A.objName, aliceEtag.replace(/^W\//, "").replace(/"/g, ""), `upstream-secret-${TAG}`, "alice-upstream");
  db = knexFactory({ client: "sqlite3", connection: { filename: join(srv.dir, "db.sqlite") }, useNullAsDefault: true, pool: { min: 0, max: 1 } });
});

after(async () => {
  await db?.destroy();
  await srv?.stop();
});

describe("isolation: bob against alice's resources", () => {
  test("positive control: alice herself sees her data (so the leak checks can fail)", async () => {
    const r = await dav(srv.url, "REPORT", "/dav/calendars/alice/local-personal/", { auth: ALICE, headers: { depth: "1" }, body: QUERY });
    assert.equal(r.status, 207);
    assert.ok(r.body.includes(A.summary) && r.body.includes(A.uid));
    assert.throws(() => assertNoLeak("control", r));
  });

  test(`every method × every place: 403/404, no leak, and identical to a user who does not exist`, async () => {
    const before = await aliceState();
    const seen = new Map<string, number>();
    for (const place of PLACES) {
      for (const a of ATTEMPTS) {
        const answers: { status: number; body: string }[] = [];
        for (const owner of ["alice", CAROL]) {
          const path = place.path(owner);
          const body = a.body === "MULTIGET" ? multiget([`/dav/calendars/${owner}/local-personal/${A.objName}`, `/dav/calendars/${owner}/${A.calName}/second.ics`]) : a.body;
          const r = await dav(srv.url, a.method, path, { auth: BOB, body, headers: a.headers });
          const what = `bob ${a.method} ${path} ${JSON.stringify(a.headers ?? {})}`;
          assert.ok(r.status === 403 || r.status === 404, `${what}: expected 403 or 404, got ${r.status}\n${r.body.slice(0, 400)}`);
          assertNoLeak(what, r);
          seen.set(String(r.status), (seen.get(String(r.status)) ?? 0) + 1);
          answers.push({ status: r.status, body: r.body.replaceAll(owner, "<user>") });
        }
        assert.deepEqual(answers[0], answers[1], `bob ${a.method} ${place.name}: alice's space answers differently from a nonexistent user's`);
      }
    }
    assert.equal(await aliceState(), before, "alice's calendars, objects, ctags and sync-tokens are unchanged");
    console.log(`# isolation matrix: ${PLACES.length} places × ${ATTEMPTS.length} attempts × 2 owners; statuses ${JSON.stringify(Object.fromEntries(seen))}`);
  });

  test("unauthenticated and wrong-password requests for alice's object learn nothing", async () => {
    for (const auth of [null, basic("alice", "wrong"), basic("bob@example.com", "secret-a")]) {
      const r = await dav(srv.url, "GET", `/dav/calendars/alice/local-personal/${A.objName}`, { auth });
      assert.equal(r.status, 401);
      assertNoLeak("unauthenticated GET", r);
    }
  });

  test("bob's multiget on his own calendar and home, with hrefs of alice's objects, returns 404 entries only", async () => {
    const hrefs = [
      `/dav/calendars/alice/local-personal/${A.objName}`,
      `${srv.url}/dav/calendars/alice/local-personal/${A.objName}`,
      `/dav/calendars/${BOB_SEG}/local-personal/../../alice/local-personal/${A.objName}`,
      `/dav/calendars/${BOB_SEG}/local-personal/%2e%2e/%2e%2e/alice/local-personal/${A.objName}`,
      `/dav/calendars/${BOB_SEG}/local-personal/..%2f..%2falice%2fpersonal%2f${A.objName}`,
      `/dav/calendars/${BOB_SEG}/../alice/local-personal/${A.objName}`,
      `/dav/calendars/alice/${A.calName}/second.ics`,
      `/dav/calendars/Alice/local-personal/${A.objName}`,
      `/dav/calendars/${BOB_SEG}/local-personal/bob.ics`,
    ];
    for (const target of [`/dav/calendars/${BOB_SEG}/local-personal/`, `/dav/calendars/${BOB_SEG}/`]) {
      const r = await dav(srv.url, "REPORT", target, { auth: BOB, headers: { depth: "1" }, body: multiget(hrefs) });
      assert.equal(r.status, 207, r.body);
      const ms = propsByHref(r.xml());
      for (const [href, e] of ms) {
        if (href.endsWith("/bob.ics")) {
          assert.equal(e.props.get("{DAV:}getetag")?.status.includes("200"), true, "bob's own object is returned (control)");
          continue;
        }
        assert.match(e.status ?? "", /404/, `${href} must be a 404 entry`);
        assert.equal(e.props.size, 0, `${href} must carry no properties`);
      }
      const withoutEchoedHrefs = r.body.replace(/<D:href>[^<]*<\/D:href>/gi, "");
      for (const s of leaks.filter((l) => l !== A.objName && l !== A.calName)) assert.ok(!withoutEchoedHrefs.includes(s), `multiget leaks ${s}`);
      assert.ok(!r.body.includes(A.summary));
    }
  });

  test("bob's own listings, queries and sync reports contain only his data", async () => {
    const checks: [string, string, string, Record<string, string>][] = [
      ["PROPFIND", "/dav/", PROPFIND_SOME, { depth: "1" }],
      ["PROPFIND", "/", PROPFIND_SOME, { depth: "1" }],
      ["PROPFIND", `/dav/calendars/${BOB_SEG}/`, PROPFIND_SOME, { depth: "1" }],
      ["PROPFIND", `/dav/principals/${BOB_SEG}/`, PROPFIND_ALL, { depth: "0" }],
      ["REPORT", `/dav/calendars/${BOB_SEG}/local-personal/`, QUERY, { depth: "1" }],
      ["REPORT", `/dav/calendars/${BOB_SEG}/local-personal/`, SYNC, {}],
      ["REPORT", `/dav/calendars/${BOB_SEG}/local-personal/`, FREEBUSY, { depth: "1" }],
    ];
    for (const [m, p, body, headers] of checks) {
      const r = await dav(srv.url, m, p, { auth: BOB, body, headers });
      assert.ok(r.status === 207 || r.status === 200, `${m} ${p}: ${r.status} ${r.body.slice(0, 300)}`);
      assertNoLeak(`bob ${m} ${p}`, r);
      assert.ok(!/\/alice\b/.test(r.body), `${m} ${p} names alice`);
    }
  });

  test("path traversal and encoding tricks cannot escape bob's space", async () => {
    const o = A.objName;
    const tricks = [
      `/dav/calendars/${BOB_SEG}/../alice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/local-personal/../../alice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/%2e%2e/alice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/%2E%2E/alice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/.%2e/alice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/%252e%252e/alice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/..%2falice%2fpersonal%2f${o}`,
      `/dav/calendars/${BOB_SEG}/..%2Falice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/..%5calice%5cpersonal%5c${o}`,
      `/dav/calendars/${BOB_SEG}/..\\alice\\personal\\${o}`,
      `/dav/calendars/${BOB_SEG}/%c0%ae%c0%ae/alice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/%e0%80%ae%e0%80%ae/alice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/%ef%bc%8e%ef%bc%8e/alice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/%e2%80%a5/alice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/local-personal/%2e%2e%2f%2e%2e%2falice%2fpersonal%2f${o}`,
      `/dav/calendars/${BOB_SEG}%2f..%2falice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}%00/../alice/local-personal/${o}`,
      `/dav/calendars/alice%00/local-personal/${o}`,
      `/dav/calendars/alice%2f/local-personal/${o}`,
      `/dav/calendars/ALICE/local-personal/${o}`,
      `/dav/calendars/%61lice/local-personal/${o}`,
      `/dav/calendars/%2561lice/local-personal/${o}`,
      `/dav/calendars/alice%20/local-personal/${o}`,
      `/dav/calendars/a%CC%8Alice/local-personal/${o}`,
      `/dav//calendars/alice/local-personal/${o}`,
      `/dav/calendars//alice/local-personal/${o}`,
      `/dav/./calendars/alice/local-personal/${o}`,
      `/dav/calendars/./alice/local-personal/${o}`,
      `/dav/%2e/calendars/alice/local-personal/${o}`,
      `/%2e%2e/dav/calendars/alice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/local-personal/${o}/../../../alice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/local-personal/?/../../alice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/local-personal/#/../../alice/local-personal/${o}`,
      `/dav/calendars/${BOB_SEG}/local-personal/;/../../alice/local-personal/${o}`,
      `http://127.0.0.1/dav/calendars/alice/local-personal/${o}`,
      `http://127.0.0.1/dav/calendars/${BOB_SEG}/../alice/local-personal/${o}`,
      `//127.0.0.1/dav/calendars/alice/local-personal/${o}`,
    ];
    let refused = 0;
    for (const t of tricks) {
      const ownTarget = t.split(/[?#]/)[0]!.startsWith(`/dav/calendars/${BOB_SEG}/local-personal/`) && !t.split(/[?#]/)[0]!.includes("..");
      for (const method of ownTarget ? ["GET", "PROPFIND"] : ["GET", "PROPFIND", "DELETE"]) {
        let r;
        try {
          r = await rawRequest(srv.url, method, t, { headers: { authorization: BOB, depth: "1" } });
        } catch (e) {
          // The HTTP parser itself refusing the request line is fine.
          refused++;
          continue;
        }
        // A query string or fragment is not part of the path: those targets are bob's own calendar.
        const own = t.split(/[?#]/)[0]!.startsWith(`/dav/calendars/${BOB_SEG}/local-personal/`) && !t.split(/[?#]/)[0]!.includes("..");
        const allowed = own ? [200, 204, 207, 400, 403, 404, 405, 409] : [400, 403, 404, 405, 409];
        assert.ok(allowed.includes(r.status), `${method} ${t}: status ${r.status}\n${r.body.slice(0, 300)}`);
        assertNoLeak(`${method} ${t}`, r, t);
      }
    }
    // The object is still there for alice.
    const mine = await dav(srv.url, "GET", `/dav/calendars/alice/local-personal/${A.objName}`, { auth: ALICE });
    assert.equal(mine.status, 200);
    assert.ok(mine.body.includes(A.summary));
    console.log(`# traversal: ${tricks.length} targets × 3 methods, ${refused} refused by the HTTP parser, the rest 400/403/404/405/409`);
  });

  test("a PUT into bob's own calendar with alice's UID does not touch or reveal alice's object", async () => {
    const r = await dav(srv.url, "PUT", `/dav/calendars/${BOB_SEG}/local-personal/uid-clash.ics`, { auth: BOB, body: ics(A.uid, "bob reuses the UID") });
    assert.ok(r.status === 201 || r.status === 204, `${r.status} ${r.body}`);
    assertNoLeak("PUT with alice's UID", { ...r, body: r.body.replaceAll(A.uid, "") });
    const mine = await dav(srv.url, "GET", `/dav/calendars/alice/local-personal/${A.objName}`, { auth: ALICE });
    assert.ok(mine.body.includes(A.summary));
    assert.equal(mine.headers.get("etag"), aliceEtag);
    assert.equal((await dav(srv.url, "DELETE", `/dav/calendars/${BOB_SEG}/local-personal/uid-clash.ics`, { auth: BOB })).status, 204);
  });

  test("SSE /events: bob receives only his own events, on resume and live", async () => {
    const now = Date.now();
    const ins = (owner: string, source: string): Promise<number[]> =>
      db("status_events").insert({ owner, type: "sync.completed", payload: JSON.stringify({ type: "sync.completed", owner, source, calendar: owner === "alice" ? A.calName : "personal", marker: owner === "alice" ? A.summary : "bob", at: new Date(now).toISOString() }), at: now });
    const ids = [...(await ins("alice", "up")), ...(await ins("bob@example.com", "local"))];
    assert.equal(ids.length, 2);
    const read = async (auth: string, afterInsert?: () => Promise<unknown>): Promise<string> => {
      const ac = new AbortController();
      const res = await fetch(`${srv.url}/events`, { headers: { authorization: auth, accept: "text/event-stream", "last-event-id": "0" }, signal: ac.signal });
      assert.equal(res.status, 200);
      let buf = "";
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      const deadline = Date.now() + 1500;
      let inserted = false;
      let pending: ReturnType<typeof reader.read> | null = null;
      while (Date.now() < deadline) {
        pending ??= reader.read();
        const r = await Promise.race([pending, new Promise<null>((ok) => setTimeout(() => ok(null), 200))]);
        if (r) pending = null;
        if (r && !r.done) buf += dec.decode(r.value, { stream: true });
        if (!inserted && afterInsert) {
          inserted = true;
          await afterInsert();
        }
      }
      ac.abort();
      return buf;
    };
    let liveIds: number[] = [];
    const bobStream = await read(BOB, async () => {
      liveIds = [...(await ins("alice", "up")), ...(await ins("bob@example.com", "local"))];
    });
    for (const id of [ids[1], liveIds[1]]) assert.match(bobStream, new RegExp(`^id:${id}$`, "m"), `bob's event ${id} (resumed, then live) arrived`);
    const bobEvents = bobStream.split("\n").filter((l) => l.startsWith("data:"));
    assert.ok(bobEvents.length >= 2, `bob got his own resumed and live events:\n${bobStream}`);
    assert.ok(!bobStream.includes(A.summary) && !bobStream.includes('"up"') && !bobStream.includes(A.calName), `bob's stream leaks alice's events:\n${bobStream}`);
    const aliceStream = await read(ALICE);
    assert.ok(aliceStream.includes(A.summary), "alice's own stream carries her events (control)");
    assert.ok(!aliceStream.includes('"marker":"bob"'), "alice does not see bob's events either");
    const anon = await fetch(`${srv.url}/events`, { headers: { accept: "text/event-stream" } });
    assert.equal(anon.status, 401);
    await anon.body?.cancel();
  });

  test("POST /sync: bob cannot trigger or even name alice's sources", async () => {
    const named = await dav(srv.url, "POST", "/sync?source=up", { auth: BOB });
    assert.equal(named.status, 404);
    const nobody = await dav(srv.url, "POST", "/sync?source=nonexistent", { auth: BOB });
    assert.deepEqual({ s: named.status, b: named.body.replace("up", "X") }, { s: nobody.status, b: nobody.body.replace("nonexistent", "X") }, "alice's source id and a nonexistent one answer alike");
    const all = await dav(srv.url, "POST", "/sync", { auth: BOB });
    assert.equal(all.status, 202);
    assert.deepEqual(JSON.parse(all.body), { accepted: [] }, "bob's sync covers none of alice's sources");
    assert.equal((await dav(srv.url, "POST", "/sync?source=up", { auth: null })).status, 401);
    const control = await dav(srv.url, "POST", "/sync?source=up", { auth: ALICE });
    assert.equal(control.status, 202, "alice may sync her own source (control)");
  });

  test("unauthenticated endpoints (/healthz, /metrics, /, /.well-known) reveal no user data", async () => {
    for (const p of ["/healthz", "/metrics", "/", "/.well-known/caldav", "/status", "/nonexistent"]) {
      const r = await dav(srv.url, "GET", p, { auth: null });
      assert.ok(r.status < 500, `${p}: ${r.status}`);
      assertNoLeak(`GET ${p}`, r);
      assert.ok(!r.body.includes("alice") && !r.body.includes("bob@example.com"), `${p} names a user`);
    }
  });
});
