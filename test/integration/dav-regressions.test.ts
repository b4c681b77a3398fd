/** Regression tests for specific CalDAV defects, each named after what it guards. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startInproc, dav, propsByHref, type InprocServer } from "../helpers/inproc.ts";
import { child, text, type XmlElement } from "../../src/xml/tree.ts";

const ev = (uid: string, summary = "Meeting"): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate test//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20240101T000000Z", "DTSTART:20240105T100000Z", "DURATION:PT1H", `SUMMARY:${summary}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

let s: InprocServer;
before(async () => {
  s = await startInproc();
});
after(async () => {
  await s.stop();
});

describe("defect 9: sync-collection DAV:limit on an initial sync", () => {
  const base = "/dav/calendars/alice/paged/";
  const sync = async (token: string, limit: number | null) => {
    const body = `<D:sync-collection xmlns:D="DAV:"><D:sync-token>${token}</D:sync-token><D:sync-level>1</D:sync-level>${limit === null ? "" : `<D:limit><D:nresults>${limit}</D:nresults></D:limit>`}<D:prop><D:getetag/></D:prop></D:sync-collection>`;
    const r = await dav(s.url, "REPORT", base, { headers: { depth: "1" }, body });
    assert.equal(r.status, 207, r.body);
    const xml: XmlElement = r.xml();
    const entries = propsByHref(xml);
    const truncated = entries.get(base)?.status?.includes("507") ?? false;
    entries.delete(base);
    const changed = [...entries].filter(([, e]) => e.status === undefined).map(([h]) => h);
    const removed = [...entries].filter(([, e]) => e.status?.includes("404")).map(([h]) => h);
    return { truncated, changed, removed, token: text(child(xml, "{DAV:}sync-token")!) };
  };

  test("an initial sync-collection with DAV:limit is truncated (507) and its token continues with the remaining members", async () => {
    assert.equal((await dav(s.url, "MKCALENDAR", base)).status, 201);
    for (const n of ["e1", "e2", "e3", "e4", "e5", "e6"]) {
      assert.equal((await dav(s.url, "PUT", `${base}${n}.ics`, { body: ev(n) })).status, 201);
    }
    // History before the initial sync: a tombstone and a member whose change is newer than others'.
    assert.equal((await dav(s.url, "DELETE", `${base}e6.ics`)).status, 204);
    assert.equal((await dav(s.url, "PUT", `${base}e1.ics`, { body: ev("e1", "Moved") })).status, 204);
    const live = ["e1", "e2", "e3", "e4", "e5"].map((n) => `${base}${n}.ics`);

    const first = await sync("", 2);
    assert.equal(first.truncated, true, "a 507 response for the collection");
    assert.equal(first.changed.length, 2, "exactly DAV:nresults members");
    assert.deepEqual(first.removed, [], "an initial sync reports no tombstones");
    assert.notEqual(first.token, "");

    // Changes between pages: a listed member goes, a new one comes, an unlisted one is edited.
    const gone = first.changed[0]!;
    assert.equal((await dav(s.url, "DELETE", gone)).status, 204);
    assert.equal((await dav(s.url, "PUT", `${base}e7.ics`, { body: ev("e7") })).status, 201);
    const unseen = live.find((h) => !first.changed.includes(h))!;
    assert.equal((await dav(s.url, "PUT", unseen, { body: ev(unseen.slice(base.length, -4), "Edited") })).status, 204);

    const seen = new Set(first.changed);
    const removed = new Set<string>();
    let token = first.token;
    for (let page = 0; ; page++) {
      assert.ok(page < 10, "paging ends");
      const next = await sync(token, 2);
      assert.ok(next.changed.length + next.removed.length <= 2);
      for (const h of next.changed) seen.add(h);
      for (const h of next.removed) removed.add(h);
      token = next.token;
      if (!next.truncated) break;
    }
    for (const h of [...live, `${base}e7.ics`]) assert.ok(seen.has(h), `${h} is listed in some page`);
    assert.ok(removed.has(gone), "the member removed after it was listed is reported as removed");
    assert.ok(!removed.has(`${base}e6.ics`), "removals before the initial sync are not reported");

    const idle = await sync(token, 2);
    assert.deepEqual([idle.truncated, idle.changed, idle.removed], [false, [], []]);
    assert.equal(idle.token, token);
  });

  test("an initial sync-collection whose members fit DAV:limit is not truncated; forged continuation tokens are refused", async () => {
    const all = await sync("", 100);
    assert.equal(all.truncated, false);
    assert.equal(all.changed.length, 5);
    const id = /^urn:calgate:sync:(\d+):(\d+)$/.exec(all.token);
    assert.ok(id, all.token);
    for (const bad of [`urn:calgate:sync:${id[1]}:5:5`, `urn:calgate:sync:${id[1]}:5:3`, `urn:calgate:sync:${id[1]}:0:${Number(id[2]) + 1}`, `urn:calgate:sync:${id[1]}:0:x`]) {
      const r = await dav(s.url, "REPORT", base, { headers: { depth: "1" }, body: `<D:sync-collection xmlns:D="DAV:"><D:sync-token>${bad}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>` });
      assert.equal(r.status, 403, bad);
      assert.match(r.body, /valid-sync-token/, bad);
    }
  });
});

describe("defect 10: hrefs keep the client's exact name (no Unicode normalisation)", () => {
  const base = "/dav/calendars/alice/local-personal/";
  const nfd = "cafe%CC%81.ics"; // "café" with a combining acute accent
  const nfc = "caf%C3%A9.ics"; // "café" precomposed

  test("a PUT to an NFD name answers with that href, PROPFIND lists it, and the NFC name is a different resource", async () => {
    const put = await dav(s.url, "PUT", base + nfd, { body: ev("nfd-uid"), headers: { "if-none-match": "*" } });
    assert.equal(put.status, 201, put.body);
    assert.ok(put.headers.get("location")!.endsWith(base + nfd), `Location ${put.headers.get("location")}`);
    const again = await dav(s.url, "PUT", base + nfd, { body: ev("nfd-uid", "Again"), headers: { "if-none-match": "*" } });
    assert.equal(again.status, 412, "If-None-Match: * on the client's own href sees its object");
    assert.equal((await dav(s.url, "GET", base + nfd)).status, 200);
    assert.equal((await dav(s.url, "GET", base + nfc)).status, 404, "the NFC name is not the NFD resource");

    const other = await dav(s.url, "PUT", base + nfc, { body: ev("nfc-uid"), headers: { "if-none-match": "*" } });
    assert.equal(other.status, 201, other.body);
    assert.ok(other.headers.get("location")!.endsWith(base + nfc));

    const listing = propsByHref((await dav(s.url, "PROPFIND", base, { headers: { depth: "1" }, body: `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>` })).xml());
    assert.ok(listing.has(base + nfd), [...listing.keys()].join(" "));
    assert.ok(listing.has(base + nfc), [...listing.keys()].join(" "));

    const multiget = propsByHref((await dav(s.url, "REPORT", base, { headers: { depth: "1" }, body: `<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop><D:href>${base + nfd}</D:href><D:href>${base + nfc}</D:href></C:calendar-multiget>` })).xml());
    assert.match(text(multiget.get(base + nfd)!.props.get("{urn:ietf:params:xml:ns:caldav}calendar-data")!.el), /UID:nfd-uid/);
    assert.match(text(multiget.get(base + nfc)!.props.get("{urn:ietf:params:xml:ns:caldav}calendar-data")!.el), /UID:nfc-uid/);

    assert.equal((await dav(s.url, "DELETE", base + nfd)).status, 204);
    assert.equal((await dav(s.url, "GET", base + nfd)).status, 404);
    assert.equal((await dav(s.url, "GET", base + nfc)).status, 200, "deleting one leaves the other");
  });
});
