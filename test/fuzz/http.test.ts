/**
 * Fuzzing the running server over HTTP (in-process, loopback): generated and mutated XML bodies for
 * PROPFIND / PROPPATCH / REPORT / MKCALENDAR and generated or mutated iCalendar bodies for PUT.
 *   - never a 5xx, never a hang (every request answers within a deadline);
 *   - never a partial write: a refused PUT leaves no object and does not move the calendar's
 *     sync-token; an accepted one is readable back, parses, and moved the token;
 *   - hostile bodies (billion laughs, XXE, DOCTYPE, 100k-deep nesting, huge attributes, 10 MB bodies,
 *     RRULEs that expand to millions of instances) are refused or bounded with clear 4xx errors;
 *   - the server still answers normally afterwards.
 * Case counts: FUZZ_RUNS / 10 per property (npm run fuzz: 10,000), else the `npm test` defaults below
 * (a few hundred; fast-check picks a new seed each run).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { dav, startInproc, type InprocServer } from "../helpers/inproc.ts";
import { text, child } from "../../src/xml/tree.ts";
import { parseCalendarObject } from "../../src/ical/parse.ts";
import { HOSTILE_XML, SEED, corpusFiles, icsObject, mutate, mutation, runs, xmlBody } from "./arbitraries.ts";

const CAL = "/dav/calendars/alice/local-personal/";
const DEADLINE_MS = Number(process.env.FUZZ_HTTP_DEADLINE_MS ?? 15_000);
let srv: InprocServer;
const statuses: Record<string, number> = {};
let seq = 0;

async function call(method: string, path: string, body: string | undefined, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Headers }> {
  const ct = method === "PUT" ? "text/calendar; charset=utf-8" : "application/xml; charset=utf-8";
  const res = await fetch(srv.url + path, {
    method,
    headers: { authorization: "Basic " + Buffer.from("alice:secret-a").toString("base64"), ...(body !== undefined ? { "content-type": ct } : {}), ...headers },
    body,
    signal: AbortSignal.timeout(DEADLINE_MS),
  });
  const out = { status: res.status, body: await res.text(), headers: res.headers };
  statuses[`${method} ${res.status}`] = (statuses[`${method} ${res.status}`] ?? 0) + 1;
  assert.ok(res.status < 500, `${method} ${path} → ${res.status}: ${out.body.slice(0, 300)}\nrequest body: ${JSON.stringify((body ?? "").slice(0, 400))}`);
  return out;
}

async function syncToken(): Promise<string> {
  const r = await dav(srv.url, "PROPFIND", CAL, { headers: { depth: "0" }, body: `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:sync-token/></d:prop></d:propfind>` });
  assert.equal(r.status, 207);
  const el = r.xml();
  const resp = child(el, "{DAV:}response")!;
  const ps = child(resp, "{DAV:}propstat")!;
  return text(child(child(ps, "{DAV:}prop")!, "{DAV:}sync-token")!);
}

/** One PUT of `ics` to a fresh name; checks the all-or-nothing outcome. */
async function putChecked(ics: string): Promise<void> {
  const name = `fuzz-${++seq}.ics`;
  const before = await syncToken();
  const r = await call("PUT", CAL + name, ics);
  const after = await syncToken();
  const get = await dav(srv.url, "GET", CAL + name);
  if (r.status === 201 || r.status === 204) {
    assert.equal(get.status, 200, `accepted PUT of ${name} is readable`);
    parseCalendarObject(get.body); // what we serve parses
    assert.notEqual(after, before, "an accepted PUT moves the sync-token");
    // Clean up so UIDs of later cases do not clash with this one.
    assert.equal((await call("DELETE", CAL + name, undefined)).status, 204);
  } else {
    assert.ok(r.status >= 400 && r.status < 500, `PUT → ${r.status}`);
    assert.equal(get.status, 404, `refused PUT (${r.status}) left an object behind: ${r.body.slice(0, 200)}`);
    assert.equal(after, before, `refused PUT (${r.status}) moved the sync-token: a partial write`);
  }
}

const XML_TARGETS: [string, string, Record<string, string>][] = [
  ["PROPFIND", CAL, { depth: "1" }],
  ["PROPFIND", "/dav/calendars/alice/", { depth: "1" }],
  ["PROPFIND", "/dav/", { depth: "0" }],
  ["REPORT", CAL, { depth: "1" }],
  ["REPORT", "/dav/calendars/alice/", { depth: "1" }],
  ["PROPPATCH", CAL, {}],
  ["MKCALENDAR", "/dav/calendars/alice/fuzzcal/", {}],
];

before(async () => {
  srv = await startInproc();
  // Some objects for reports to chew on, including a recurring one.
  for (const f of corpusFiles().slice(0, 40)) {
    const res = await fetch(`${srv.url}${CAL}corpus-${++seq}.ics`, { method: "PUT", headers: { authorization: "Basic " + Buffer.from("alice:secret-a").toString("base64"), "content-type": "text/calendar" }, body: f.bytes });
    await res.arrayBuffer();
  }
});
after(async () => {
  console.log(`# fuzz http statuses: ${JSON.stringify(statuses)}`);
  await srv?.stop();
});

describe("fuzz: the server over HTTP", () => {
  test("hostile XML bodies are 400 on every XML method, quickly", async () => {
    for (const [name, body] of HOSTILE_XML) {
      for (const [method, path, headers] of XML_TARGETS) {
        const t0 = Date.now();
        const r = await call(method, path, body, headers);
        assert.equal(r.status, 400, `${name} via ${method} ${path}: ${r.status} ${r.body.slice(0, 200)}`);
        assert.match(r.body, /<D:error/);
        assert.ok(r.body.length < 2000, `${name}: error body of ${r.body.length} bytes`);
        assert.ok(Date.now() - t0 < 5000, `${name} via ${method} took ${Date.now() - t0} ms`);
      }
    }
  });

  test("10 MB bodies: over the limit is 413 before parsing; just under is parsed without harm", async () => {
    const over = `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:displayname>${"x".repeat(10 * 1024 * 1024)}</d:displayname></d:prop></d:propfind>`;
    assert.equal((await call("PROPFIND", CAL, over, { depth: "0" })).status, 413);
    const under = `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:displayname>${"x".repeat(10_000_000)}</d:displayname></d:prop></d:propfind>`;
    const r = await call("PROPFIND", CAL, under, { depth: "0" });
    assert.equal(r.status, 207);
    const patch = `<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>${"y".repeat(9_000_000)}</d:displayname></d:prop></d:set></d:propertyupdate>`;
    const p = await call("PROPPATCH", "/dav/calendars/alice/local-personal/", patch);
    assert.ok(p.status === 207 || (p.status >= 400 && p.status < 500));
    const bigIcs = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x", "BEGIN:VEVENT", "UID:big", "DTSTAMP:20240101T000000Z", "DTSTART:20240101T000000Z", `DESCRIPTION:${"z".repeat(10_000_000)}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");
    const before = await syncToken();
    const put = await call("PUT", `${CAL}big.ics`, bigIcs);
    assert.ok(put.status === 413 || put.status === 403, `PUT of 10 MB: ${put.status}`);
    assert.match(put.body, /max-resource-size/);
    assert.equal(await syncToken(), before);
    const hugeAttr = `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" a="${"v".repeat(5_000_000)}"><d:allprop/></d:propfind>`;
    assert.ok([207, 400].includes((await call("PROPFIND", CAL, hugeAttr, { depth: "0" })).status));
  });

  test("RRULEs that expand to millions of instances: PUT is quick, queries are bounded with a clear 4xx", async () => {
    const ev = (uid: string, rule: string): string =>
      ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20240101T000000Z", "DTSTART:20240101T000000Z", "DURATION:PT1S", `RRULE:${rule}`, "SUMMARY:boom", "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");
    await srv.stop();
    srv = await startInproc(); // a calendar of its own, so the other tests' queries are not affected
    const rules = ["FREQ=SECONDLY", "FREQ=SECONDLY;COUNT=100000000", "FREQ=MINUTELY;BYSECOND=0,30", "FREQ=DAILY;BYMONTHDAY=-1;COUNT=10", "FREQ=DAILY;BYWEEKNO=1", "FREQ=YEARLY;BYYEARDAY=1;BYWEEKNO=1"];
    for (const [i, rule] of rules.entries()) {
      const t0 = Date.now();
      const put = await call("PUT", `${CAL}boom-${i}.ics`, ev(`boom-${i}`, rule));
      assert.ok(put.status === 201 || (put.status >= 400 && put.status < 500), `${rule}: ${put.status}`);
      assert.ok(Date.now() - t0 < 3000, `PUT of ${rule} took ${Date.now() - t0} ms`);
    }
    const queries = [
      `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data><c:expand start="20240101T000000Z" end="20340101T000000Z"/></c:calendar-data></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="20240101T000000Z" end="20340101T000000Z"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`,
      `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="20300101T000000Z" end="20300102T000000Z"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`,
      `<c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav"><c:time-range start="20240101T000000Z" end="20340101T000000Z"/></c:free-busy-query>`,
      `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data><c:limit-recurrence-set start="20240101T000000Z" end="20340101T000000Z"/></c:calendar-data></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>`,
    ];
    for (const q of queries) {
      const t0 = Date.now();
      const r = await call("REPORT", CAL, q, { depth: "1" });
      assert.ok(r.status === 207 || r.status === 200 || r.status === 403, `${r.status}: ${r.body.slice(0, 300)}`);
      if (r.status === 403) assert.match(r.body, /narrow the|cannot be expanded|can never match/);
      assert.ok(r.body.length < 50_000_000, "answer is bounded");
      assert.ok(Date.now() - t0 < 10_000, `query took ${Date.now() - t0} ms`);
    }
  });

  test(`generated and mutated XML bodies on every XML method (${runs(200, 0.1)} cases): never a 5xx`, async () => {
    await fc.assert(
      fc.asyncProperty(xmlBody, fc.nat({ max: XML_TARGETS.length - 1 }), async (body, i) => {
        const [method, path, headers] = XML_TARGETS[i]!;
        const r = await call(method, path, body, headers);
        if (method === "MKCALENDAR" && r.status === 201) assert.equal((await call("DELETE", path, undefined)).status, 204);
      }),
      { numRuns: runs(200, 0.1), seed: SEED },
    );
  });

  test(`generated iCalendar PUTs (${runs(150, 0.1)} cases): all or nothing`, async () => {
    await fc.assert(fc.asyncProperty(icsObject, putChecked), { numRuns: runs(150, 0.1), seed: SEED });
  });

  test(`mutated corpus PUTs (${runs(100, 0.05)} cases): all or nothing`, async () => {
    const files = corpusFiles().map((f) => f.bytes.toString("utf8"));
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: files.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), (i, edits) => putChecked(mutate(files[i]!, edits))),
      { numRuns: runs(100, 0.05), seed: SEED },
    );
  });

  test("the server still answers normally afterwards", async () => {
    const r = await dav(srv.url, "PROPFIND", CAL, { headers: { depth: "1" }, body: `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>` });
    assert.equal(r.status, 207);
    assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
  });
});
