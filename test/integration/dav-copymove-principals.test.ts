/** Issue 17 items 6 and 7 and issue 14 item 12 over HTTP: COPY/MOVE, principal searches, collection dates. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startInproc, dav, propsByHref, type DavReply, type InprocServer } from "../helpers/inproc.ts";
import { child, elements, text } from "../../src/xml/tree.ts";
import { C, hrefs, ics, query, report } from "../helpers/conformance.ts";


let s: InprocServer;
before(async () => {
  s = await startInproc();
});
after(async () => {
  await s.stop();
});


describe("item 6: COPY and MOVE of calendar objects", () => {
  const A = "/dav/calendars/alice/cm-a/";
  const B = "/dav/calendars/alice/cm-b/";
  const event = (uid: string, summary = "x") => ics(`BEGIN:VEVENT\nUID:${uid}\nDTSTAMP:20060101T000000Z\nDTSTART:20060104T100000Z\nDURATION:PT1H\nSUMMARY:${summary}\nEND:VEVENT`);
  const go = (method: string, from: string, to: string, headers: Record<string, string> = {}) => dav(s.url, method, from, { headers: { destination: to, ...headers } });
  const exists = async (href: string) => (await dav(s.url, "GET", href)).status === 200;
  before(async () => {
    assert.equal((await dav(s.url, "MKCALENDAR", A)).status, 201);
    const todoOnly = `<C:mkcalendar ${C}><D:set><D:prop><C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>`;
    assert.equal((await dav(s.url, "MKCALENDAR", B, { body: todoOnly.replace('name="VTODO"/>', 'name="VTODO"/><C:comp name="VEVENT"/>') })).status, 201);
    assert.equal((await dav(s.url, "MKCALENDAR", "/dav/calendars/alice/cm-todo/", { body: todoOnly })).status, 201);
  });

  test("OPTIONS and Allow name COPY and MOVE on calendar objects", async () => {
    assert.equal((await dav(s.url, "PUT", A + "o.ics", { body: event("o") })).status, 201);
    const r = await dav(s.url, "OPTIONS", A + "o.ics");
    assert.match(r.headers.get("allow") ?? "", /COPY/);
    assert.match(r.headers.get("allow") ?? "", /MOVE/);
    assert.match(r.headers.get("dav") ?? "", /^1\b/);
  });

  test("COPY between calendars creates (201), overwrites (204), and honours Overwrite: F (412)", async () => {
    assert.equal((await dav(s.url, "PUT", A + "c1.ics", { body: event("c1", "first") })).status, 201);
    const r = await go("COPY", A + "c1.ics", s.url + B + "c1-copy.ics");
    assert.equal(r.status, 201, r.body);
    assert.match((await dav(s.url, "GET", B + "c1-copy.ics")).body, /SUMMARY:first/);
    assert.ok(await exists(A + "c1.ics"), "COPY keeps the source");
    assert.equal((await dav(s.url, "PUT", A + "c1.ics", { body: event("c1", "second") })).status, 204);
    assert.equal((await go("COPY", A + "c1.ics", B + "c1-copy.ics", { overwrite: "F" })).status, 412);
    assert.match((await dav(s.url, "GET", B + "c1-copy.ics")).body, /SUMMARY:first/, "Overwrite: F changed nothing");
    assert.equal((await go("COPY", A + "c1.ics", B + "c1-copy.ics", { overwrite: "T" })).status, 204);
    assert.match((await dav(s.url, "GET", B + "c1-copy.ics")).body, /SUMMARY:second/);
  });

  test("COPY inside one calendar is a UID conflict (RFC 4791 no-uid-conflict); a component the target refuses is supported-calendar-component", async () => {
    const same = await go("COPY", A + "c1.ics", A + "c1-twin.ics");
    assert.equal(same.status, 409, same.body);
    assert.match(same.body, /no-uid-conflict/);
    const todo = await go("COPY", A + "c1.ics", "/dav/calendars/alice/cm-todo/c1.ics");
    assert.equal(todo.status, 403, todo.body);
    assert.match(todo.body, /supported-calendar-component/);
  });

  test("MOVE inside a calendar renames; the old name is gone and sync reports both", async () => {
    assert.equal((await dav(s.url, "PUT", A + "m1.ics", { body: event("m1") })).status, 201);
    const sync = (token: string) => dav(s.url, "REPORT", A, { body: `<D:sync-collection xmlns:D="DAV:"><D:sync-token>${token}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>` });
    const before = text(child((await sync("")).xml(), "{DAV:}sync-token")!);
    const r = await go("MOVE", A + "m1.ics", A + "m1-renamed.ics");
    assert.equal(r.status, 201, r.body);
    const changes = propsByHref((await sync(before)).xml());
    assert.match(changes.get(A + "m1.ics")?.status ?? "", /404/, "the old name is reported removed");
    assert.ok(changes.get(A + "m1-renamed.ics")?.props.has("{DAV:}getetag"), "the new name is reported changed");
    assert.equal(await exists(A + "m1.ics"), false);
    assert.match((await dav(s.url, "GET", A + "m1-renamed.ics")).body, /UID:m1/);
    assert.equal((await dav(s.url, "PUT", A + "m2.ics", { body: event("m2") })).status, 201);
    assert.equal((await go("MOVE", A + "m2.ics", A + "m1-renamed.ics", { overwrite: "F" })).status, 412);
    assert.equal((await go("MOVE", A + "m2.ics", A + "m1-renamed.ics")).status, 204, "Overwrite: T replaces");
    assert.match((await dav(s.url, "GET", A + "m1-renamed.ics")).body, /UID:m2/);
    assert.equal(await exists(A + "m2.ics"), false);
  });

  test("MOVE between calendars creates at the target, then removes the source", async () => {
    assert.equal((await dav(s.url, "PUT", A + "x1.ics", { body: event("x1") })).status, 201);
    const r = await go("MOVE", A + "x1.ics", B + "x1.ics");
    assert.equal(r.status, 201, r.body);
    assert.equal(await exists(A + "x1.ics"), false);
    assert.match((await dav(s.url, "GET", B + "x1.ics")).body, /UID:x1/);
    // A refused create at the target leaves the source where it was.
    assert.equal((await dav(s.url, "PUT", A + "x2.ics", { body: event("x2") })).status, 201);
    const refused = await go("MOVE", A + "x2.ics", "/dav/calendars/alice/cm-todo/x2.ics");
    assert.equal(refused.status, 403);
    assert.ok(await exists(A + "x2.ics"), "the object is not lost");
  });

  test("Destination errors: missing header 400, other server 502, missing calendar 409, same resource 403, another user 403, collections 403", async () => {
    assert.equal((await dav(s.url, "MOVE", A + "x2.ics")).status, 400);
    assert.equal((await go("COPY", A + "x2.ics", "http://elsewhere.example:1/dav/calendars/alice/cm-b/x.ics")).status, 502);
    assert.equal((await go("COPY", A + "x2.ics", "/dav/calendars/alice/nowhere/x.ics")).status, 409);
    assert.equal((await go("MOVE", A + "x2.ics", A + "x2.ics")).status, 403);
    assert.equal((await go("COPY", A + "x2.ics", "/dav/calendars/bob%40example.com/local-personal/x.ics")).status, 403);
    assert.equal((await go("COPY", A + "x2.ics", B)).status, 403);
    assert.equal((await go("MOVE", A, "/dav/calendars/alice/cm-c/")).status, 403);
    assert.equal((await go("COPY", A + "x2.ics", B + "y.ics", { overwrite: "maybe" })).status, 400);
  });
});

describe("item 7: principal searches (RFC 3744 9.4, 9.5) and mixed-component calendars", () => {
  const search = (match: string, extra = "", prop = "<D:displayname/>") =>
    `<D:principal-property-search xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" ${extra}><D:property-search><D:prop>${prop}</D:prop><D:match>${match}</D:match></D:property-search><D:prop><D:displayname/><C:calendar-home-set/></D:prop><D:apply-to-principal-collection-set/></D:principal-property-search>`;

  test("the principal collection is a collection that lists only the user's own principal", async () => {
    const r = await dav(s.url, "PROPFIND", "/dav/principals/", { headers: { depth: "1" }, body: `<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:supported-report-set/></D:prop></D:propfind>` });
    assert.equal(r.status, 207, r.body);
    assert.deepEqual([...propsByHref(r.xml()).keys()].sort(), ["/dav/principals/", "/dav/principals/alice/"]);
    assert.match(r.body, /principal-property-search/);
  });

  test("principal-property-search finds the user's own principal and nobody else", async () => {
    for (const path of ["/dav/principals/", "/dav/principals/alice/"]) {
      const r = await dav(s.url, "REPORT", path, { headers: { depth: "0" }, body: search("ALI") });
      assert.equal(r.status, 207, r.body);
      const found = propsByHref(r.xml());
      assert.deepEqual([...found.keys()], ["/dav/principals/alice/"]);
      assert.equal(text(child(found.get("/dav/principals/alice/")!.props.get("{urn:ietf:params:xml:ns:caldav}calendar-home-set")!.el, "{DAV:}href")!), "/dav/calendars/alice/");
    }
    const none = await dav(s.url, "REPORT", "/dav/principals/", { body: search("bob") });
    assert.equal(none.status, 207);
    assert.equal(propsByHref(none.xml()).size, 0, "other users are never listed");
    const bobAddr = await dav(s.url, "REPORT", "/dav/principals/", { body: search("mailto:bob", "", "<C:calendar-user-address-set/>") });
    assert.equal(propsByHref(bobAddr.xml()).size, 0);
    const starts = await dav(s.url, "REPORT", "/dav/principals/", { body: search("lic", "", "<D:displayname/>").replace("<D:match>", '<D:match match-type="starts-with">') });
    assert.equal(propsByHref(starts.xml()).size, 0, "starts-with does not match inside");
    assert.equal((await dav(s.url, "REPORT", "/dav/principals/", { body: `<D:principal-property-search xmlns:D="DAV:"/>` })).status, 400);
  });

  test("principal-search-property-set names the searchable properties", async () => {
    const r = await dav(s.url, "REPORT", "/dav/principals/", { headers: { depth: "0" }, body: `<D:principal-search-property-set xmlns:D="DAV:"/>` });
    assert.equal(r.status, 200, r.body);
    const names = elements(r.xml(), "{DAV:}principal-search-property").map((p) => elements(child(p, "{DAV:}prop")!)[0]!.name);
    assert.deepEqual(names, ["{DAV:}displayname", "{urn:ietf:params:xml:ns:caldav}calendar-user-address-set"]);
  });

  test("a calendar created for events, tasks and journals holds all three", async () => {
    const mixed = "/dav/calendars/alice/mixed/";
    const body = `<C:mkcalendar ${C}><D:set><D:prop><C:supported-calendar-component-set><C:comp name="VEVENT"/><C:comp name="VTODO"/><C:comp name="VJOURNAL"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>`;
    assert.equal((await dav(s.url, "MKCALENDAR", mixed, { body })).status, 201);
    for (const [n, b] of [
      ["e", "BEGIN:VEVENT\nUID:me\nDTSTAMP:20060101T000000Z\nDTSTART:20060104T100000Z\nEND:VEVENT"],
      ["t", "BEGIN:VTODO\nUID:mt\nDTSTAMP:20060101T000000Z\nEND:VTODO"],
      ["j", "BEGIN:VJOURNAL\nUID:mj\nDTSTAMP:20060101T000000Z\nEND:VJOURNAL"],
    ] as const) assert.equal((await dav(s.url, "PUT", `${mixed}${n}.ics`, { body: ics(b) })).status, 201, n);
    const fb = await dav(s.url, "PUT", `${mixed}f.ics`, { body: ics("BEGIN:VFREEBUSY\nUID:mf\nDTSTAMP:20060101T000000Z\nEND:VFREEBUSY") });
    assert.equal(fb.status, 403);
    assert.match(fb.body, /supported-calendar-component/);
    const all = await report(s.url, mixed, query("", ""));
    assert.deepEqual(hrefs(all), ["e", "j", "t"].map((n) => `${mixed}${n}.ics`));
  });
});

describe("issue 14 item 12: calendar collections have a creation and a modification date", () => {
  test("DAV:creationdate and DAV:getlastmodified of calendars in a Depth 1 listing; a change moves getlastmodified", async () => {
    const t0 = Date.now();
    const cal = "/dav/calendars/alice/dated/";
    assert.equal((await dav(s.url, "MKCALENDAR", cal)).status, 201);
    const list = async () => {
      const r = await dav(s.url, "PROPFIND", "/dav/calendars/alice/", { headers: { depth: "1" }, body: `<D:propfind xmlns:D="DAV:"><D:prop><D:creationdate/><D:getlastmodified/></D:prop></D:propfind>` });
      assert.equal(r.status, 207);
      const p = propsByHref(r.xml()).get(cal)!.props;
      return { created: text(p.get("{DAV:}creationdate")!.el), modified: text(p.get("{DAV:}getlastmodified")!.el), status: p.get("{DAV:}creationdate")!.status };
    };
    const first = await list();
    assert.match(first.status, /200/);
    assert.match(first.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, "RFC 3339");
    assert.ok(Math.abs(Date.parse(first.created) - t0) < 60_000, "the real creation time");
    assert.ok(Math.abs(Date.parse(first.modified) - t0) < 60_000);
    // HTTP dates have one-second resolution: change in a later second.
    const later = Math.ceil((Date.now() + 1) / 1000) * 1000;
    await new Promise((r) => setTimeout(r, later - Date.now() + 5));
    assert.equal((await dav(s.url, "PUT", cal + "e.ics", { body: ics("BEGIN:VEVENT\nUID:dated\nDTSTAMP:20060101T000000Z\nDTSTART:20060104T100000Z\nEND:VEVENT") })).status, 201);
    const second = await list();
    assert.equal(second.created, first.created);
    assert.ok(Date.parse(second.modified) > Date.parse(first.modified), `${second.modified} after ${first.modified}`);
  });
});
