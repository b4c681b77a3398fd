/** The CalDAV core over HTTP: discovery, properties, object CRUD with preconditions, reports, errors. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { startInproc, dav, basic, propsByHref, type InprocServer } from "../helpers/inproc.ts";
import { child, elements, text } from "../../src/xml/tree.ts";

const CAL = "/dav/calendars/alice/local-personal/";
const ev = (uid: string, start: string, extra = "", summary = "Meeting"): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate test//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20240101T000000Z", `DTSTART:${start}`, "DURATION:PT1H", `SUMMARY:${summary}`, ...(extra ? [extra] : []), "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");
const propfind = (props: string): string => `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/" xmlns:a="http://apple.com/ns/ical/"><d:prop>${props}</d:prop></d:propfind>`;

let s: InprocServer;
before(async () => {
  s = await startInproc();
});
after(async () => {
  await s.stop();
});

describe("discovery", () => {
  test("/.well-known/caldav redirects to the DAV root for any method", async () => {
    for (const m of ["GET", "PROPFIND"]) {
      const r = await dav(s.url, m, "/.well-known/caldav", { auth: null });
      assert.equal(r.status, 301);
      assert.equal(r.headers.get("location"), "/dav/");
    }
  });
  test("root → current-user-principal → calendar-home-set → calendars", async () => {
    const root = await dav(s.url, "PROPFIND", "/dav/", { headers: { depth: "0" }, body: propfind("<d:current-user-principal/><d:resourcetype/>") });
    assert.equal(root.status, 207);
    const principal = text(child(propsByHref(root.xml()).get("/dav/")!.props.get("{DAV:}current-user-principal")!.el, "{DAV:}href")!);
    assert.equal(principal, "/dav/principals/alice/");
    const p = await dav(s.url, "PROPFIND", principal, { headers: { depth: "0" }, body: propfind("<c:calendar-home-set/><c:calendar-user-address-set/><d:principal-URL/><d:displayname/><d:nonexistent/>") });
    const props = propsByHref(p.xml()).get(principal)!.props;
    assert.equal(text(child(props.get("{urn:ietf:params:xml:ns:caldav}calendar-home-set")!.el, "{DAV:}href")!), "/dav/calendars/alice/");
    assert.equal(text(props.get("{DAV:}displayname")!.el), "alice");
    assert.match(props.get("{DAV:}nonexistent")!.status, /404/);
    const home = await dav(s.url, "PROPFIND", "/dav/calendars/alice/", { headers: { depth: "1" }, body: propfind("<d:resourcetype/><d:displayname/><a:calendar-color/><cs:getctag/><d:sync-token/><d:current-user-privilege-set/>") });
    const entries = propsByHref(home.xml());
    const cal = entries.get(CAL)!;
    assert.ok(cal, `home lists ${CAL}: ${[...entries.keys()].join(", ")}`);
    assert.equal(text(cal.props.get("{DAV:}displayname")!.el), "Personal");
    assert.equal(text(cal.props.get("{http://apple.com/ns/ical/}calendar-color")!.el), "#3b82f6");
    assert.ok(child(cal.props.get("{DAV:}resourcetype")!.el, "{urn:ietf:params:xml:ns:caldav}calendar"));
  });
  test("OPTIONS advertises calendar-access", async () => {
    const r = await dav(s.url, "OPTIONS", CAL);
    assert.equal(r.status, 200);
    assert.match(r.headers.get("dav") ?? "", /calendar-access/);
    assert.match(r.headers.get("allow") ?? "", /REPORT/);
  });
  test("'@' in usernames is percent-encoded in hrefs", async () => {
    const auth = basic("bob@example.com", "secret-b");
    const r = await dav(s.url, "PROPFIND", "/dav/", { auth, headers: { depth: "0" }, body: propfind("<d:current-user-principal/>") });
    assert.match(r.body, /\/dav\/principals\/bob%40example\.com\//);
    const home = await dav(s.url, "PROPFIND", "/dav/calendars/bob%40example.com/", { auth, headers: { depth: "1" }, body: propfind("<d:resourcetype/>") });
    assert.equal(home.status, 207);
    assert.ok(propsByHref(home.xml()).has("/dav/calendars/bob%40example.com/local-personal/"));
  });
  test("propname and allprop", async () => {
    const pn = await dav(s.url, "PROPFIND", CAL, { headers: { depth: "0" }, body: `<propfind xmlns="DAV:"><propname/></propfind>` });
    assert.match(pn.body, /getctag/);
    const ap = await dav(s.url, "PROPFIND", CAL, { headers: { depth: "0" } });
    assert.equal(ap.status, 207);
    assert.match(ap.body, /<D:displayname>Personal<\/D:displayname>/);
  });
});

describe("isolation and auth", () => {
  test("no credentials → 401 with a Basic challenge; wrong password → 401", async () => {
    const r = await dav(s.url, "PROPFIND", CAL, { auth: null, headers: { depth: "0" } });
    assert.equal(r.status, 401);
    assert.match(r.headers.get("www-authenticate") ?? "", /Basic/);
    const w = await dav(s.url, "PROPFIND", CAL, { auth: basic("alice", "nope"), headers: { depth: "0" } });
    assert.equal(w.status, 401);
  });
  test("repeated failed logins are delayed, then refused with 429 + Retry-After; others are unaffected", async () => {
    const started = Date.now();
    for (let i = 0; i < 10; i++) assert.equal((await dav(s.url, "PROPFIND", CAL, { auth: basic("mallory", `guess${i}`), headers: { depth: "0" } })).status, 401);
    assert.ok(Date.now() - started >= 2_000, "failures are delayed");
    const r = await dav(s.url, "PROPFIND", CAL, { auth: basic("mallory", "guess-again"), headers: { depth: "0" } });
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers.get("retry-after")) > 0);
    assert.equal((await dav(s.url, "PROPFIND", CAL, { headers: { depth: "0" } })).status, 207, "alice from the same address still gets in");
  });
  test("another user's principal, home and calendars are 403", async () => {
    const auth = basic("bob@example.com", "secret-b");
    for (const path of ["/dav/principals/alice/", "/dav/calendars/alice/", CAL, `${CAL}x.ics`]) {
      const r = await dav(s.url, "PROPFIND", path, { auth, headers: { depth: "0" } });
      assert.equal(r.status, 403, path);
    }
  });
  test("traversal in hrefs is refused", async () => {
    // Raw requests: fetch() would resolve dot segments itself before sending.
    for (const path of ["/dav/calendars/alice/local-personal/%2e%2e/", "/dav/calendars/alice/local-personal/../../bob%40example.com/", "/dav/calendars/alice/%2E%2E%2Fbob/", "/dav/calendars/alice/local-personal/a%2Fb.ics", "/dav/calendars/alice/local-personal/%252e%252e/"]) {
      const status = await rawStatus(s.url, "GET", path);
      assert.ok(status === 400 || status === 403 || status === 404, `${path} → ${status}`);
    }
  });
});

describe("objects", () => {
  test("PUT creates with ETag, GET returns it, If-Match guards updates, DELETE removes", async () => {
    const put = await dav(s.url, "PUT", `${CAL}a.ics`, { body: ev("a", "20240105T100000Z"), headers: { "if-none-match": "*" } });
    assert.equal(put.status, 201, put.body);
    const etag = put.headers.get("etag")!;
    assert.match(etag, /^"[^"]+"$/);
    const again = await dav(s.url, "PUT", `${CAL}a.ics`, { body: ev("a", "20240105T100000Z"), headers: { "if-none-match": "*" } });
    assert.equal(again.status, 412);
    const get = await dav(s.url, "GET", `${CAL}a.ics`);
    assert.equal(get.status, 200);
    assert.equal(get.headers.get("etag"), etag);
    assert.match(get.body, /UID:a/);
    const stale = await dav(s.url, "PUT", `${CAL}a.ics`, { body: ev("a", "20240105T110000Z"), headers: { "if-match": '"stale"' } });
    assert.equal(stale.status, 412);
    const upd = await dav(s.url, "PUT", `${CAL}a.ics`, { body: ev("a", "20240105T110000Z"), headers: { "if-match": etag } });
    assert.equal(upd.status, 204);
    assert.notEqual(upd.headers.get("etag"), etag);
    const delStale = await dav(s.url, "DELETE", `${CAL}a.ics`, { headers: { "if-match": etag } });
    assert.equal(delStale.status, 412);
    const del = await dav(s.url, "DELETE", `${CAL}a.ics`, { headers: { "if-match": upd.headers.get("etag")! } });
    assert.equal(del.status, 204);
    assert.equal((await dav(s.url, "GET", `${CAL}a.ics`)).status, 404);
  });
  test("UID conflict, invalid data and wrong component are DAV:error preconditions", async () => {
    await dav(s.url, "PUT", `${CAL}u1.ics`, { body: ev("dup", "20240105T100000Z") });
    const dup = await dav(s.url, "PUT", `${CAL}u2.ics`, { body: ev("dup", "20240105T100000Z") });
    assert.equal(dup.status, 409);
    assert.match(dup.body, /no-uid-conflict/);
    const bad = await dav(s.url, "PUT", `${CAL}bad.ics`, { body: "BEGIN:VCALENDAR\r\nEND:VEVENT\r\n" });
    assert.ok(bad.status === 400 || bad.status === 403, String(bad.status));
    assert.match(bad.body, /valid-calendar-(data|object-resource)/);
    const journal = await dav(s.url, "PUT", `${CAL}j.ics`, { body: "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VJOURNAL\r\nUID:j\r\nDTSTAMP:20240101T000000Z\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n" });
    assert.equal(journal.status, 403);
    assert.match(journal.body, /supported-calendar-component/);
    assert.equal((await dav(s.url, "GET", `${CAL}bad.ics`)).status, 404, "nothing written");
  });
  test("LF-only bodies are normalised to CRLF and PUT then returns no ETag", async () => {
    const r = await dav(s.url, "PUT", `${CAL}lf.ics`, { body: ev("lf", "20240106T100000Z").replace(/\r\n/g, "\n") });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get("etag"), null);
    const g = await dav(s.url, "GET", `${CAL}lf.ics`);
    assert.match(g.body, /\r\nUID:lf\r\n/);
  });
  test("VTODO is stored and served", async () => {
    const todo = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:todo1\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:Buy milk\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
    assert.equal((await dav(s.url, "PUT", `${CAL}todo1.ics`, { body: todo })).status, 201);
    assert.equal((await dav(s.url, "GET", `${CAL}todo1.ics`)).body, todo);
  });
});

describe("collections", () => {
  test("MKCALENDAR with properties, PROPPATCH live and dead properties, DELETE", async () => {
    const body = `<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>Work</D:displayname><C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>`;
    assert.equal((await dav(s.url, "MKCALENDAR", "/dav/calendars/alice/work/", { body })).status, 201);
    assert.equal((await dav(s.url, "MKCALENDAR", "/dav/calendars/alice/work/", { body })).status, 403);
    const nested = await dav(s.url, "MKCALENDAR", "/dav/calendars/alice/work/inner/", { body });
    assert.ok(nested.status >= 400, String(nested.status));
    const pp = await dav(s.url, "PROPPATCH", "/dav/calendars/alice/work/", {
      body: `<D:propertyupdate xmlns:D="DAV:" xmlns:A="http://apple.com/ns/ical/" xmlns:X="urn:example"><D:set><D:prop><D:displayname>Work 2</D:displayname><A:calendar-color>#FF0000FF</A:calendar-color><A:calendar-order>3</A:calendar-order><X:custom attr="1"> 2024 <X:inner/></X:custom></D:prop></D:set></D:propertyupdate>`,
    });
    assert.equal(pp.status, 207);
    assert.doesNotMatch(pp.body, /424|403/);
    const pf = await dav(s.url, "PROPFIND", "/dav/calendars/alice/work/", { headers: { depth: "0" }, body: propfind('<d:displayname/><a:calendar-color/><a:calendar-order/><x:custom xmlns:x="urn:example"/><c:supported-calendar-component-set/>') });
    const props = propsByHref(pf.xml()).get("/dav/calendars/alice/work/")!.props;
    assert.equal(text(props.get("{DAV:}displayname")!.el), "Work 2");
    assert.equal(text(props.get("{http://apple.com/ns/ical/}calendar-order")!.el), "3");
    const custom = props.get("{urn:example}custom")!.el;
    assert.equal(custom.attrs.attr, "1");
    assert.equal(text(custom), " 2024 ");
    const prot = await dav(s.url, "PROPPATCH", "/dav/calendars/alice/work/", { body: `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>X</D:displayname><D:getetag>"x"</D:getetag></D:prop></D:set></D:propertyupdate>` });
    assert.match(prot.body, /403/);
    assert.match(prot.body, /424/);
    const still = await dav(s.url, "PROPFIND", "/dav/calendars/alice/work/", { headers: { depth: "0" }, body: propfind("<d:displayname/>") });
    assert.match(still.body, /Work 2/, "PROPPATCH is all-or-nothing");
    const ev1 = await dav(s.url, "PUT", "/dav/calendars/alice/work/t.ics", { body: "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20240101T000000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n" });
    assert.equal(ev1.status, 403, "VTODO refused by a VEVENT-only calendar");
    assert.equal((await dav(s.url, "DELETE", "/dav/calendars/alice/work/")).status, 204);
    assert.equal((await dav(s.url, "PROPFIND", "/dav/calendars/alice/work/", { headers: { depth: "0" } })).status, 404);
  });
  test("extended MKCOL creates a calendar; plain MKCOL is refused with a reason", async () => {
    const ok = await dav(s.url, "MKCOL", "/dav/calendars/alice/ext/", { body: `<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype><D:displayname>Ext</D:displayname></D:prop></D:set></D:mkcol>` });
    assert.equal(ok.status, 201);
    const plain = await dav(s.url, "MKCOL", "/dav/calendars/alice/plain/");
    assert.equal(plain.status, 403);
    assert.match(plain.body, /calendar/);
  });
});

describe("reports", () => {
  const base = "/dav/calendars/alice/rep/";
  before(async () => {
    await dav(s.url, "MKCALENDAR", base);
    await dav(s.url, "PUT", `${base}one.ics`, { body: ev("one", "20240110T100000Z") });
    await dav(s.url, "PUT", `${base}weekly.ics`, { body: ev("weekly", "20240101T090000Z", "RRULE:FREQ=WEEKLY;COUNT=10", "Standup") });
    await dav(s.url, "PUT", `${base}far.ics`, { body: ev("far", "20300101T100000Z") });
  });
  test("calendar-multiget returns data for known hrefs and 404 for unknown ones", async () => {
    const r = await dav(s.url, "REPORT", base, {
      headers: { depth: "1" },
      body: `<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>${base}one.ics</D:href><D:href>${base}missing.ics</D:href><D:href>/dav/calendars/bob%40example.com/local-personal/x.ics</D:href></C:calendar-multiget>`,
    });
    assert.equal(r.status, 207);
    const m = propsByHref(r.xml());
    assert.match(text(m.get(`${base}one.ics`)!.props.get("{urn:ietf:params:xml:ns:caldav}calendar-data")!.el), /UID:one/);
    assert.match(m.get(`${base}missing.ics`)!.status!, /404/);
    assert.match(m.get("/dav/calendars/bob%40example.com/local-personal/x.ics")!.status!, /404/);
  });
  test("calendar-query time-range is recurrence-aware", async () => {
    const q = (start: string, end: string) =>
      dav(s.url, "REPORT", base, {
        headers: { depth: "1" },
        body: `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="${start}" end="${end}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`,
      });
    const feb = propsByHref((await q("20240201T000000Z", "20240301T000000Z")).xml());
    assert.deepEqual([...feb.keys()].sort(), [`${base}weekly.ics`]);
    const jan10 = propsByHref((await q("20240110T000000Z", "20240111T000000Z")).xml());
    assert.deepEqual([...jan10.keys()].sort(), [`${base}one.ics`]);
    const after = propsByHref((await q("20240312T000000Z", "20290101T000000Z")).xml());
    assert.equal(after.size, 0, "COUNT=10 ends on 4 March");
  });
  test("calendar-data expand returns instances with RECURRENCE-ID in UTC", async () => {
    const r = await dav(s.url, "REPORT", base, {
      headers: { depth: "1" },
      body: `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data><C:expand start="20240101T000000Z" end="20240115T000000Z"/></C:calendar-data></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20240101T000000Z" end="20240115T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`,
    });
    const data = text(propsByHref(r.xml()).get(`${base}weekly.ics`)!.props.get("{urn:ietf:params:xml:ns:caldav}calendar-data")!.el);
    assert.equal((data.match(/RECURRENCE-ID/g) ?? []).length, 2);
    assert.doesNotMatch(data, /RRULE/);
  });
  test("sync-collection: empty token, delta with tombstones, invalid token", async () => {
    const sync = (token: string) =>
      dav(s.url, "REPORT", base, { headers: { depth: "1" }, body: `<D:sync-collection xmlns:D="DAV:"><D:sync-token>${token}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>` });
    const first = await sync("");
    assert.equal(first.status, 207);
    const token = text(child(first.xml(), "{DAV:}sync-token")!);
    assert.equal(propsByHref(first.xml()).size, 3);
    const idle = await sync(token);
    assert.equal(propsByHref(idle.xml()).size, 0);
    assert.equal(text(child(idle.xml(), "{DAV:}sync-token")!), token);
    await dav(s.url, "DELETE", `${base}far.ics`);
    await dav(s.url, "PUT", `${base}one.ics`, { body: ev("one", "20240110T120000Z") });
    const delta = propsByHref((await sync(token)).xml());
    assert.deepEqual([...delta.keys()].sort(), [`${base}far.ics`, `${base}one.ics`]);
    assert.match(delta.get(`${base}far.ics`)!.status!, /404/);
    const bad = await sync("urn:calgate:sync:9999:1");
    assert.equal(bad.status, 403);
    assert.match(bad.body, /valid-sync-token/);
  });
  test("free-busy-query answers a VFREEBUSY", async () => {
    const r = await dav(s.url, "REPORT", base, { headers: { depth: "1" }, body: `<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20240101T000000Z" end="20240120T000000Z"/></C:free-busy-query>` });
    assert.equal(r.status, 200);
    assert.match(r.body, /BEGIN:VFREEBUSY/);
    assert.match(r.body, /FREEBUSY/);
  });
});

describe("hostile input", () => {
  test("malformed XML, DOCTYPE and entity expansion are 400 with DAV:error", async () => {
    for (const body of ["<d:propfind xmlns:d='DAV:'><d:prop>", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&lol2;</d:displayname></d:prop></d:propfind>`, `<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>`]) {
      const r = await dav(s.url, "PROPFIND", CAL, { headers: { depth: "0" }, body });
      assert.equal(r.status, 400, body);
      assert.match(r.body, /<D:error/);
    }
  });
  test("bodies over the limit are 413 and nothing is stored", async () => {
    const huge = ev("huge", "20240101T000000Z", "DESCRIPTION:" + "x".repeat(11 * 1024 * 1024));
    const r = await dav(s.url, "PUT", `${CAL}huge.ics`, { body: huge });
    assert.ok(r.status === 413 || r.status === 403, String(r.status));
    assert.equal((await dav(s.url, "GET", `${CAL}huge.ics`)).status, 404);
  });
  test("unknown report and unknown method", async () => {
    const r = await dav(s.url, "REPORT", CAL, { body: `<x:nope xmlns:x="urn:x"/>` });
    assert.equal(r.status, 403);
    assert.match(r.body, /supported-report/);
    assert.equal((await dav(s.url, "LOCK", CAL)).status, 405);
  });
});

void elements;

function rawStatus(base: string, method: string, path: string): Promise<number> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { authorization: basic("alice", "secret-a") } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}
