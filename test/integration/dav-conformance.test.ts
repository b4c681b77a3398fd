/** Issue 17 items 1-5 over HTTP: calendar-query and expand, error statuses and preconditions, PUT rules, dead properties. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startInproc, dav, propsByHref, type DavReply, type InprocServer } from "../helpers/inproc.ts";
import { child, elements, text } from "../../src/xml/tree.ts";
import { C, hrefs, ics, query, report } from "../helpers/conformance.ts";

const CAL = "/dav/calendars/alice/local-personal/";

let s: InprocServer;
before(async () => {
  s = await startInproc();
});
after(async () => {
  await s.stop();
});

const dataOf = (r: DavReply, href: string): string => text(propsByHref(r.xml()).get(href)!.props.get("{urn:ietf:params:xml:ns:caldav}calendar-data")!.el);

describe("item 1 and 2 over HTTP: calendar-query and expand", () => {
  const base = "/dav/calendars/alice/q/";
  before(async () => {
    assert.equal((await dav(s.url, "MKCALENDAR", base)).status, 201);
    const put = async (name: string, body: string) => assert.equal((await dav(s.url, "PUT", base + name, { body: ics(body) })).status, 201, name);
    await put("alarm.ics", "BEGIN:VEVENT\nUID:alarm\nDTSTAMP:20060101T000000Z\nDTSTART:20060104T140000Z\nDURATION:PT1H\nBEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:x\nTRIGGER:-PT15M\nEND:VALARM\nEND:VEVENT");
    await put("plain.ics", "BEGIN:VEVENT\nUID:plain\nDTSTAMP:20060101T000000Z\nDTSTART:20060104T160000Z\nDTEND:20060104T170000Z\nSUMMARY:plain\nEND:VEVENT");
    await put("day.ics", "BEGIN:VEVENT\nUID:day\nDTSTAMP:20060101T000000Z\nDTSTART;VALUE=DATE:20060110\nDTEND;VALUE=DATE:20060111\nSUMMARY:day\nEND:VEVENT");
    await put("todo.ics", "BEGIN:VTODO\nUID:todo\nDTSTAMP:20060101T000000Z\nDTSTART:20060102T100000Z\nDUE:20060102T120000Z\nRRULE:FREQ=WEEKLY;COUNT=4\nEND:VTODO");
  });

  test("is-not-defined VALARM excludes the event with an alarm", async () => {
    const r = await report(s.url, base, query(`<C:comp-filter name="VEVENT"><C:comp-filter name="VALARM"><C:is-not-defined/></C:comp-filter></C:comp-filter>`, ""));
    assert.deepEqual(hrefs(r), [base + "day.ics", base + "plain.ics"]);
  });

  test("a recurring VTODO's later instance matches a time-range", async () => {
    const r = await report(s.url, base, query(`<C:comp-filter name="VTODO"><C:time-range start="20060116T110000Z" end="20060116T113000Z"/></C:comp-filter>`, ""));
    assert.deepEqual(hrefs(r), [base + "todo.ics"]);
  });

  test("a filter without a component type returns every object", async () => {
    const r = await report(s.url, base, query("", ""));
    assert.deepEqual(hrefs(r), ["alarm.ics", "day.ics", "plain.ics", "todo.ics"].map((n) => base + n));
  });

  test("expand returns a non-recurring timed or all-day event as itself", async () => {
    const r = await report(s.url, base, query(`<C:comp-filter name="VEVENT"><C:time-range start="20060101T000000Z" end="20060201T000000Z"/></C:comp-filter>`,
      `<C:calendar-data><C:expand start="20060101T000000Z" end="20060201T000000Z"/></C:calendar-data>`));
    assert.deepEqual(hrefs(r), ["alarm.ics", "day.ics", "plain.ics"].map((n) => base + n));
    assert.match(dataOf(r, base + "plain.ics"), /BEGIN:VEVENT[\s\S]*DTSTART:20060104T160000Z[\s\S]*END:VEVENT/);
    assert.match(dataOf(r, base + "day.ics"), /BEGIN:VEVENT[\s\S]*DTSTART;VALUE=DATE:20060110[\s\S]*END:VEVENT/);
  });

  test("expand of the all-day event with a range that covers only its day", async () => {
    const r = await report(s.url, base, query(`<C:comp-filter name="VEVENT"><C:time-range start="20060110T000000Z" end="20060111T000000Z"/></C:comp-filter>`,
      `<C:calendar-data><C:expand start="20060110T000000Z" end="20060111T000000Z"/></C:calendar-data>`));
    assert.deepEqual(hrefs(r), [base + "day.ics"]);
    assert.match(dataOf(r, base + "day.ics"), /BEGIN:VEVENT[\s\S]*SUMMARY:day/);
  });

  test("multiget expands in the calendar's timezone, like calendar-query matches (the all-day event is not lost)", async () => {
    const tz = "/dav/calendars/alice/tokyo/";
    const vtz = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n";
    const mk = `<C:mkcalendar ${C}><D:set><D:prop><C:calendar-timezone><![CDATA[${vtz}]]></C:calendar-timezone></D:prop></D:set></C:mkcalendar>`;
    assert.equal((await dav(s.url, "MKCALENDAR", tz, { body: mk })).status, 201);
    assert.equal((await dav(s.url, "PUT", tz + "day.ics", { body: ics("BEGIN:VEVENT\nUID:tday\nDTSTAMP:20060101T000000Z\nDTSTART;VALUE=DATE:20060110\nDTEND;VALUE=DATE:20060111\nEND:VEVENT") })).status, 201);
    // Tokyo's 10 January is 9 January 15:00Z to 10 January 15:00Z.
    const range = `start="20060109T150000Z" end="20060109T230000Z"`;
    const q = await report(s.url, tz, query(`<C:comp-filter name="VEVENT"><C:time-range ${range}/></C:comp-filter>`, `<C:calendar-data><C:expand ${range}/></C:calendar-data>`));
    assert.deepEqual(hrefs(q), [tz + "day.ics"]);
    assert.match(dataOf(q, tz + "day.ics"), /BEGIN:VEVENT/);
    const mg = await report(s.url, tz, `<C:calendar-multiget ${C}><D:prop><C:calendar-data><C:expand ${range}/></C:calendar-data></D:prop><D:href>${tz}day.ics</D:href></C:calendar-multiget>`);
    assert.match(dataOf(mg, tz + "day.ics"), /BEGIN:VEVENT/, "multiget returns the same instance");
  });
});

describe("item 3: errors with the right status and precondition", () => {
  const VALID_FILTER = "urn:ietf:params:xml:ns:caldav}valid-filter";
  const refused = async (filter: string, condition = VALID_FILTER) => {
    const r = await report(s.url, CAL, query(filter, ""));
    assert.equal(r.status, 403, `${filter}\n${r.body}`);
    assert.ok(r.body.includes(condition.split("}")[1]!) && r.body.includes(condition.split("}")[0]!), r.body);
  };

  test("invalid filters are 403 CALDAV:valid-filter (or supported-collation), never 207 or 400", async () => {
    await refused(`<C:comp-filter name="VEVENT"><C:comp-filter name="VEVENT"/></C:comp-filter>`);
    await refused(`<C:comp-filter name="VTODO"><C:comp-filter name="VTIMEZONE"/></C:comp-filter>`);
    await refused(`<C:comp-filter name="VALARM"/>`);
    await refused(`<C:comp-filter name="VEVENT"><C:time-range start="20060105T000000Z" end="20060104T000000Z"/></C:comp-filter>`);
    await refused(`<C:comp-filter name="VEVENT"><C:time-range start="2006-01-04"/></C:comp-filter>`);
    await refused(`<C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY"><C:text-match negate-condition="maybe">x</C:text-match></C:prop-filter></C:comp-filter>`);
    await refused(`<C:comp-filter name="VEVENT" test="someof"/>`);
    await refused(`<C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY"><C:text-match collation="i;klingon">x</C:text-match></C:prop-filter></C:comp-filter>`, "urn:ietf:params:xml:ns:caldav}supported-collation");
    const noFilter = await report(s.url, CAL, `<C:calendar-query ${C}><D:prop><D:getetag/></D:prop></C:calendar-query>`);
    assert.equal(noFilter.status, 403);
    assert.match(noFilter.body, /valid-filter/);
  });

  test("X- components may nest anywhere", async () => {
    const r = await report(s.url, CAL, query(`<C:comp-filter name="VEVENT"><C:comp-filter name="X-THING"><C:is-not-defined/></C:comp-filter></C:comp-filter>`, ""));
    assert.equal(r.status, 207);
  });

  test("a PROPFIND body with invalid elements is 400", async () => {
    for (const body of [
      `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop><D:allprop/></D:propfind>`,
      `<D:propfind xmlns:D="DAV:"><D:bogus/></D:propfind>`,
      `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop><D:foo/></D:propfind>`,
      `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop><D:include><D:displayname/></D:include></D:propfind>`,
      `<D:propfind xmlns:D="DAV:"/>`,
    ]) {
      const r = await dav(s.url, "PROPFIND", CAL, { headers: { depth: "0" }, body });
      assert.equal(r.status, 400, body);
    }
    const ok = await dav(s.url, "PROPFIND", CAL, { headers: { depth: "0" }, body: `<D:propfind xmlns:D="DAV:" xmlns:X="urn:x"><D:prop><D:getetag/></D:prop><X:ext/></D:propfind>` });
    assert.equal(ok.status, 207, "elements of other namespaces are ignored");
  });

  test("an invalid sync-level is 400; infinite on a calendar is level 1", async () => {
    const sync = (level: string) => `<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>${level}</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`;
    assert.equal((await dav(s.url, "REPORT", CAL, { body: sync("2") })).status, 400);
    assert.equal((await dav(s.url, "REPORT", CAL, { body: sync("deep") })).status, 400);
    assert.equal((await dav(s.url, "REPORT", CAL, { body: sync("infinite") })).status, 207);
    assert.equal((await dav(s.url, "REPORT", CAL, { body: sync("1") })).status, 207);
  });

  test("MKCALENDAR and MKCOL inside a calendar are 403 CALDAV:calendar-collection-location-ok (not 404)", async () => {
    const mkcol = `<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype></D:prop></D:set></D:mkcol>`;
    for (const [method, path, body] of [
      ["MKCALENDAR", CAL + "inner/", undefined], ["MKCALENDAR", CAL + "inner", undefined],
      ["MKCOL", CAL + "inner/", undefined], ["MKCOL", CAL + "inner/", mkcol], ["MKCOL", CAL + "inner", undefined],
      ["MKCOL", CAL + "a/b/", undefined],
    ] as const) {
      const r = await dav(s.url, method, path, body ? { body } : {});
      assert.equal(r.status, 403, `${method} ${path}: ${r.body}`);
      assert.match(r.body, /calendar-collection-location-ok/);
      assert.match(r.body, /cannot contain|only be created/);
    }
  });

  test("PROPFIND Depth 1 of a missing resource is 404; PUT into a missing calendar is 409", async () => {
    for (const path of ["/dav/calendars/alice/nope/", "/dav/calendars/alice/nope/x.ics", CAL + "nope.ics", CAL + "nope/"]) {
      const r = await dav(s.url, "PROPFIND", path, { headers: { depth: "1" }, body: `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>` });
      assert.equal(r.status, 404, path);
    }
    assert.equal((await dav(s.url, "GET", "/dav/calendars/alice/nope/x.ics")).status, 404);
    const put = await dav(s.url, "PUT", "/dav/calendars/alice/nope/x.ics", { body: ics("BEGIN:VEVENT\nUID:x\nDTSTAMP:20060101T000000Z\nDTSTART:20060101T000000Z\nEND:VEVENT") });
    assert.equal(put.status, 409);
  });
});

describe("item 4: PUT validation order and rules", () => {
  const base = "/dav/calendars/alice/putrules/";
  const event = (uid: string, extra = "") => ics(`BEGIN:VEVENT\nUID:${uid}\nDTSTAMP:20060101T000000Z\nDTSTART:20060104T100000Z\nDURATION:PT1H\n${extra}SUMMARY:x\nEND:VEVENT`);
  const putBytes = async (path: string, bytes: Buffer) => {
    const r = await fetch(s.url + path, { method: "PUT", headers: { authorization: "Basic " + Buffer.from("alice:secret-a").toString("base64"), "content-type": "text/calendar" }, body: new Uint8Array(bytes) });
    return { status: r.status, etag: r.headers.get("etag"), body: await r.text() };
  };
  before(async () => {
    assert.equal((await dav(s.url, "MKCALENDAR", base)).status, 201);
    assert.equal((await dav(s.url, "PUT", base + "one.ics", { body: event("one") })).status, 201);
  });

  test("bytes that are neither UTF-8 nor Windows-1252 are refused with valid-calendar-data before the UID check (not 409)", async () => {
    const text = event("one").replace("SUMMARY:x", "SUMMARY:a\u0001b");
    const bytes = Buffer.from(text, "latin1");
    bytes[bytes.indexOf(1)] = 0x81; // not UTF-8, and undefined in Windows-1252
    const r = await putBytes(base + "other.ics", bytes);
    assert.equal(r.status, 403, r.body);
    assert.match(r.body, /valid-calendar-data/);
    assert.match(r.body, /U\+0081/);
  });

  test("Latin-1 text is read as Windows-1252 and stored as UTF-8 (no ETag: the stored text differs)", async () => {
    const r = await putBytes(base + "latin.ics", Buffer.from(event("latin").replace("SUMMARY:x", "SUMMARY:caf\u00e9"), "latin1"));
    assert.equal(r.status, 201, r.body);
    assert.equal(r.etag, null);
    assert.match((await dav(s.url, "GET", base + "latin.ics")).body, /SUMMARY:café/);
  });

  test("control characters and bad TEXT escapes are refused with valid-calendar-data", async () => {
    for (const [what, extra] of [["NUL", "DESCRIPTION:a\u0000b\n"], ["BEL", "LOCATION:a\u0007b\n"], ["\\q escape", "DESCRIPTION:a\\qb\n"], ["trailing backslash", "COMMENT:ab\\\n"]] as const) {
      const r = await dav(s.url, "PUT", base + "ctl.ics", { body: event("ctl", extra) });
      assert.equal(r.status, 403, `${what}: ${r.body}`);
      assert.match(r.body, /valid-calendar-data/, what);
    }
    const ok = await dav(s.url, "PUT", base + "ok.ics", { body: event("ok", "DESCRIPTION:a\\nb\\, c\\; d\\\\ e\tf\n") });
    assert.equal(ok.status, 201, "valid escapes and HTAB are fine");
  });

  test("RECURRENCE-IDs of another value type than DTSTART, or of a master that does not recur, are refused with valid-calendar-data", async () => {
    const series = (rid: string, rrule = "RRULE:FREQ=DAILY;COUNT=3\n") => ics(`BEGIN:VEVENT\nUID:ser\nDTSTAMP:20060101T000000Z\nDTSTART:20060104T100000Z\nDURATION:PT1H\n${rrule}END:VEVENT\nBEGIN:VEVENT\nUID:ser\nDTSTAMP:20060101T000000Z\nRECURRENCE-ID${rid}\nDTSTART:20060105T120000Z\nDURATION:PT1H\nEND:VEVENT`);
    for (const [what, body] of [
      ["DATE against a DATE-TIME series", series(";VALUE=DATE:20060105")],
      ["master without RRULE", series(":20060105T100000Z", "")],
    ] as const) {
      const r = await dav(s.url, "PUT", base + "ser.ics", { body });
      assert.equal(r.status, 403, `${what}: ${r.body}`);
      assert.match(r.body, /valid-calendar-data/, what);
    }
    assert.equal((await dav(s.url, "PUT", base + "ser.ics", { body: series(":20060105T100000Z") })).status, 201, "a real instance");
    // Apple Calendar writes overrides at times the rule does not produce: accepted, served as their own instance.
    assert.equal((await dav(s.url, "PUT", base + "ser.ics", { body: series(":20060105T110000Z") })).status, 204);
  });

  test("a PUT that changes the UID of an existing resource is refused 409 CALDAV:no-uid-conflict", async () => {
    const r = await dav(s.url, "PUT", base + "one.ics", { body: event("another-uid") });
    assert.equal(r.status, 409, r.body);
    assert.match(r.body, /no-uid-conflict/);
    assert.match(r.body, /cannot change its UID/);
    assert.match((await dav(s.url, "GET", base + "one.ics")).body, /UID:one/, "the resource is unchanged");
    assert.equal((await dav(s.url, "PUT", base + "one.ics", { body: event("one", "LOCATION:here\n") })).status, 204, "same UID: fine");
  });

  test("a calendar made without a component set accepts every component (RFC 4791 5.2.3)", async () => {
    const all = "/dav/calendars/alice/anything/";
    assert.equal((await dav(s.url, "MKCALENDAR", all)).status, 201);
    const comps = [
      ["VTODO", "BEGIN:VTODO\nUID:t\nDTSTAMP:20060101T000000Z\nEND:VTODO"],
      ["VJOURNAL", "BEGIN:VJOURNAL\nUID:j\nDTSTAMP:20060101T000000Z\nEND:VJOURNAL"],
      ["VFREEBUSY", "BEGIN:VFREEBUSY\nUID:f\nDTSTAMP:20060101T000000Z\nDTSTART:20060101T000000Z\nDTEND:20060102T000000Z\nEND:VFREEBUSY"],
    ] as const;
    for (const [name, body] of comps) assert.equal((await dav(s.url, "PUT", `${all}${name}.ics`, { body: ics(body) })).status, 201, name);
    const p = await dav(s.url, "PROPFIND", all, { headers: { depth: "0" }, body: `<D:propfind ${C}><D:prop><C:supported-calendar-component-set/></D:prop></D:propfind>` });
    const set = propsByHref(p.xml()).get(all)!.props.get("{urn:ietf:params:xml:ns:caldav}supported-calendar-component-set")!.el;
    assert.deepEqual(elements(set).map((e) => e.attrs.name).sort(), ["VEVENT", "VFREEBUSY", "VJOURNAL", "VTODO"]);
  });
});

describe("item 4: calendars declared in the config may take VFREEBUSY", () => {
  let fb: InprocServer;
  before(async () => {
    fb = await startInproc(`users:
  - username: alice
    password: secret-a
    sources: [{ id: local, type: local, calendars: [{ id: busy, name: Busy, components: [VEVENT, VFREEBUSY] }] }]
`);
  });
  after(async () => {
    await fb.stop();
  });
  test("a VFREEBUSY object is stored in a config calendar that lists VFREEBUSY", async () => {
    const r = await dav(fb.url, "PUT", "/dav/calendars/alice/local-busy/fb.ics", { body: ics("BEGIN:VFREEBUSY\nUID:f\nDTSTAMP:20060101T000000Z\nDTSTART:20060101T000000Z\nDTEND:20060102T000000Z\nFREEBUSY:20060101T100000Z/PT1H\nEND:VFREEBUSY") });
    assert.equal(r.status, 201, r.body);
  });
});

describe("item 5: dead properties keep xml:lang and namespace declarations (RFC 4918 4.3)", () => {
  test("a QName in a dead property's text still resolves, and xml:lang (own or inherited) comes back", async () => {
    const body = `<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z" xmlns:q="urn:q" xml:lang="fr"><D:set><D:prop>
      <Z:qn>q:value</Z:qn><Z:inherit>bonjour</Z:inherit><Z:own xml:lang="de">hallo</Z:own><Z:nested xmlns:r="urn:r"><Z:inner>r:thing</Z:inner></Z:nested>
    </D:prop></D:set></D:propertyupdate>`;
    const r = await dav(s.url, "PROPPATCH", CAL, { body });
    assert.equal(r.status, 207, r.body);
    const p = await dav(s.url, "PROPFIND", CAL, { headers: { depth: "0" }, body: `<D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:qn/><Z:inherit/><Z:own/><Z:nested/></D:prop></D:propfind>` });
    assert.equal(p.status, 207);
    const props = propsByHref(p.xml()).get(CAL)!.props;
    const qn = props.get("{urn:z}qn")!.el;
    assert.equal(text(qn), "q:value");
    assert.equal(qn.scope?.ns.get("q"), "urn:q", `the prefix q is declared where the value is: ${p.body}`);
    assert.equal(qn.scope?.lang ?? qn.attrs["{http://www.w3.org/XML/1998/namespace}lang"], "fr");
    assert.equal(props.get("{urn:z}inherit")!.el.attrs["{http://www.w3.org/XML/1998/namespace}lang"], "fr", "inherited xml:lang is kept");
    assert.equal(props.get("{urn:z}own")!.el.attrs["{http://www.w3.org/XML/1998/namespace}lang"], "de");
    const inner = child(props.get("{urn:z}nested")!.el, "{urn:z}inner")!;
    assert.equal(inner.scope?.ns.get("r"), "urn:r", "declarations inside the value are kept too");
  });
});
