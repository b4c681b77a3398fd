/**
 * The benchmark's fast multistatus scan (bench/multistatus.ts) judges answers under load, so it must
 * read every document it accepts exactly as the project's XML parser does, and decline (null) the
 * ones it cannot read. Checked on the shapes calgate, Radicale and Xandikos send (prefixes, default
 * namespace, sync-token before or after the responses, CDATA, entities, CR LF) and on random ones.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseMultistatusFull, scanDisagrees, scanMultistatus } from "../../bench/multistatus.ts";

const CAL = "urn:ietf:params:xml:ns:caldav";

interface Doc {
  davPrefix: string;
  calPrefix: string;
  tokenFirst: boolean;
  token: string | null;
  responses: { href: string; etag: string | null; data: string | null; cdata: boolean; missing: boolean; status404: boolean }[];
}

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
function render(d: Doc): string {
  const D = d.davPrefix ? `${d.davPrefix}:` : "";
  const C = `${d.calPrefix}:`;
  const xmlns = `${d.davPrefix ? ` xmlns:${d.davPrefix}="DAV:"` : ` xmlns="DAV:"`} xmlns:${d.calPrefix}="${CAL}"`;
  const token = d.token === null ? "" : `<${D}sync-token>${esc(d.token)}</${D}sync-token>`;
  const rs = d.responses.map((r) => {
    if (r.status404) return `<${D}response><${D}href>${esc(r.href)}</${D}href><${D}status>HTTP/1.1 404 Not Found</${D}status></${D}response>`;
    const props = [r.etag === null ? "" : `<${D}getetag>${esc(r.etag)}</${D}getetag>`, r.data === null ? "" : `<${C}calendar-data>${r.cdata ? `<![CDATA[${r.data}]]>` : esc(r.data)}</${C}calendar-data>`].join("");
    const missing = r.missing ? `<${D}propstat><${D}prop><${D}displayname/><${C}calendar-color /></${D}prop><${D}status>HTTP/1.1 404 Not Found</${D}status></${D}propstat>` : "";
    return `<${D}response>\r\n <${D}href>${esc(r.href)}</${D}href><${D}propstat><${D}prop>${props}</${D}prop><${D}status>HTTP/1.1 200 OK</${D}status></${D}propstat>${missing}</${D}response>`;
  });
  return `<?xml version="1.0" encoding="utf-8"?>\n<${D}multistatus${xmlns}>${d.tokenFirst ? token : ""}${rs.join("\n")}${d.tokenFirst ? "" : token}</${D}multistatus>`;
}

const text = fc.string({ unit: fc.constantFrom("a", "Z", "0", " ", "&", "<", ">", "\"", "'", "é", "佐", "😀", "\r\n", "\n", "\t", "/", "%20"), maxLength: 40 });
const docArb: fc.Arbitrary<Doc> = fc.record({
  davPrefix: fc.constantFrom("", "D", "d", "ns0"),
  calPrefix: fc.constantFrom("C", "cal", "ns1"),
  tokenFirst: fc.boolean(),
  token: fc.option(text.filter((s) => s.trim() !== "" && !s.includes("\r")), { nil: null }),
  responses: fc.array(
    fc.record({
      href: text.map((s) => `/cal/${s.replace(/[\r\n\t]/g, "")}.ics`),
      etag: fc.option(text.filter((s) => !s.includes("\r")).map((s) => `"${s}"`), { nil: null }),
      data: fc.option(text.map((s) => `BEGIN:VCALENDAR\r\nSUMMARY:${s}\r\nEND:VCALENDAR\r\n`), { nil: null }),
      cdata: fc.boolean(),
      missing: fc.boolean(),
      status404: fc.boolean(),
    }),
    { maxLength: 6 },
  ),
});

describe("bench multistatus scan", () => {
  test("reads what the XML parser reads, on random documents in the shapes the servers send", () => {
    fc.assert(
      fc.property(docArb, (d) => {
        const body = render(d).replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, (m, inner: string) => (inner.includes("]]>") ? esc(inner) : m));
        const scanned = scanMultistatus(body);
        assert.notEqual(scanned, null, "the scan reads a document with one prefix per namespace");
        assert.equal(scanDisagrees(body), null);
        assert.equal(scanned!.responses.length, d.responses.length);
      }),
      { numRuns: 300 },
    );
  });

  test("a CR LF in the text reads as LF, a &#13; stays a CR (XML 2.11), as in the parser", () => {
    const body = `<d:multistatus xmlns:d="DAV:" xmlns:c="${CAL}"><d:response><d:href>/a.ics</d:href><d:propstat><d:prop><c:calendar-data>A\r\nB&#13;\nC</c:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>`;
    assert.equal(scanMultistatus(body)!.responses[0]!.props.get(`{${CAL}}calendar-data`)!.text, "A\nB\r\nC");
    assert.equal(parseMultistatusFull(body).responses[0]!.props.get(`{${CAL}}calendar-data`)!.text, "A\nB\r\nC");
  });

  test("the sync-token is found before the responses (Radicale) and after them (RFC 6578)", () => {
    for (const d of [true, false]) {
      const body = render({ davPrefix: "", calPrefix: "C", tokenFirst: d, token: "http://x/sync/1", responses: [{ href: "/a.ics", etag: '"1"', data: null, cdata: false, missing: false, status404: false }] });
      assert.equal(scanMultistatus(body)!.syncToken, "http://x/sync/1");
    }
  });

  test("declines what it cannot read: a prefix bound to two namespaces, comments, two prefixes for DAV:", () => {
    const rebinding = `<d:multistatus xmlns:d="DAV:"><d:response xmlns:d="urn:other"><d:href>/a</d:href></d:response></d:multistatus>`;
    assert.equal(scanMultistatus(rebinding), null);
    assert.equal(scanMultistatus(`<d:multistatus xmlns:d="DAV:"><!-- <d:response> --></d:multistatus>`), null);
    assert.equal(scanMultistatus(`<d:multistatus xmlns:d="DAV:" xmlns:e="DAV:"><e:response><e:href>/a</e:href></e:response></d:multistatus>`), null);
    assert.equal(scanMultistatus(`<x:multistatus xmlns:x="urn:not-dav"/>`), null);
  });

  test("an answer whose shapes differ is caught by the cross-check, not passed", () => {
    // A response-level status and a propstat: the scan and the parser must agree on both.
    const body = `<multistatus xmlns="DAV:"><response><href>/a.ics</href><status>HTTP/1.1 404 Not Found</status></response><response><href>/b.ics</href><propstat><prop><getetag>"2"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>`;
    assert.equal(scanDisagrees(body), null);
    const s = scanMultistatus(body)!;
    assert.equal(s.responses[0]!.status, 404);
    assert.equal(s.responses[1]!.props.get("{DAV:}getetag")!.text, '"2"');
  });
});
