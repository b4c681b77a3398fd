/**
 * parseListing (src/sources/caldav/listing.ts) reads an upstream listing from parser events, without
 * a tree: it must read exactly what parseMultistatus + propText read (href, status, getetag, sync
 * token) on any multistatus the upstreams send, whatever prefixes, whitespace, CDATA or entities,
 * and refuse the same broken bodies (as Transient, so the sync retries).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { parseListing } from "../../src/sources/caldav/listing.ts";
import { parseMultistatus, propText } from "../../src/sources/caldav/multistatus.ts";
import { Transient } from "../../src/sources/adapter.ts";

const viaTree = (body: string) => {
  const { responses, syncToken } = parseMultistatus(body, "t");
  return { responses: responses.map((r) => ({ href: r.href, status: r.status, etag: propText(r, "{DAV:}getetag") })), syncToken };
};

const prefixArb = fc.constantFrom("d", "D", "ns0", "");
const ws = fc.constantFrom("", " ", "\n  ", "\r\n\t");
const etagArb = fc.oneof(
  fc.stringMatching(/^"[0-9a-f]{1,12}"$/).map((e) => ({ xml: e.replace(/"/g, "&quot;"), kind: "entity" })),
  fc.stringMatching(/^"[0-9a-f]{1,12}"$/).map((e) => ({ xml: `<![CDATA[${e}]]>`, kind: "cdata" })),
  fc.stringMatching(/^W\/"[a-z0-9-]{1,10}"$/).map((e) => ({ xml: e, kind: "plain" })),
  fc.constant({ xml: "", kind: "empty" }),
);
const propstatArb = fc.record({ code: fc.constantFrom(200, 200, 404, 403), etag: fc.option(etagArb), extra: fc.boolean() });
const responseArb = fc.record({
  hrefs: fc.array(fc.stringMatching(/^\/cal\/[a-z0-9%@.-]{1,20}\.ics$/), { minLength: 1, maxLength: 2 }),
  status: fc.option(fc.constantFrom(404, 410, 507, 200)),
  propstats: fc.array(propstatArb, { maxLength: 3 }),
});

function render(p: string, responses: fc.infer<typeof fc.array<fc.infer<typeof responseArb>>>, token: string | null, sp: string): string {
  const q = (l: string): string => (p === "" ? l : `${p}:${l}`);
  const decl = p === "" ? `xmlns="DAV:"` : `xmlns:${p}="DAV:"`;
  let out = `<?xml version="1.0" encoding="utf-8"?>\n<${q("multistatus")} ${decl} xmlns:C="urn:ietf:params:xml:ns:caldav">${sp}`;
  for (const r of responses) {
    out += `<${q("response")}>${sp}`;
    for (const h of r.hrefs) out += `<${q("href")}>${sp}${h}${sp}</${q("href")}>`;
    if (r.status !== null) out += `<${q("status")}>HTTP/1.1 ${r.status} X</${q("status")}>`;
    for (const ps of r.propstats) {
      out += `<${q("propstat")}><${q("prop")}>`;
      if (ps.extra) out += `<${q("resourcetype")}/><C:href>not-a-dav-href</C:href>`;
      if (ps.etag) out += `<${q("getetag")}>${ps.etag.kind === "empty" ? "" : sp}${ps.etag.xml}</${q("getetag")}>`;
      out += `</${q("prop")}>${sp}<${q("status")}>HTTP/1.1 ${ps.code} X</${q("status")}></${q("propstat")}>`;
    }
    out += `</${q("response")}>${sp}`;
  }
  if (token !== null) out += `<${q("sync-token")}>${sp}${token}${sp}</${q("sync-token")}>`;
  return out + `</${q("multistatus")}>`;
}

test("parseListing reads what the tree parser reads, on generated listings", () => {
  fc.assert(
    fc.property(prefixArb, fc.array(responseArb, { maxLength: 6 }), fc.option(fc.stringMatching(/^http:\/\/x\/sync\/[0-9]{1,6}$/)), ws, (p, responses, token, sp) => {
      const body = render(p, responses, token, sp);
      assert.deepEqual(parseListing(body, "t"), viaTree(body));
    }),
    { numRuns: 400 },
  );
});

test("parseListing reads real servers' answers the same way", () => {
  // Radicale-style (default prefix, no declaration on children), Apple/iCloud-style (upper-case D:, getetag
  // in a 404 propstat too), and a sync-collection with a removed member and a truncation.
  const bodies = [
    `<?xml version='1.0' encoding='utf-8'?>\n<multistatus xmlns="DAV:"><response><href>/u/c/</href><propstat><prop><getetag/></prop><status>HTTP/1.1 404 Not Found</status></propstat></response><response><href>/u/c/a.ics</href><propstat><prop><getetag>"abc"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response><sync-token>http://radicale.org/ns/sync/123</sync-token></multistatus>`,
    `<?xml version="1.0" encoding="UTF-8"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/1/calendars/home/x%20y.ics</D:href><D:propstat><D:prop><D:getetag>&quot;C=1@U=2&quot;</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat><D:propstat><D:prop><D:getetag/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response><D:sync-token>HwoQEgwAAA</D:sync-token></D:multistatus>`,
    `<d:multistatus xmlns:d="DAV:"><d:response><d:href>/c/gone.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response><d:response><d:href>/c/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response><d:sync-token>t2</d:sync-token></d:multistatus>`,
  ];
  for (const b of bodies) assert.deepEqual(parseListing(b, "t"), viaTree(b));
  assert.deepEqual(parseListing(bodies[1]!, "t").responses, [{ href: "/1/calendars/home/x%20y.ics", status: null, etag: '"C=1@U=2"' }]);
});

test("parseListing refuses what the tree parser refuses, as a transient failure", () => {
  const good = `<d:multistatus xmlns:d="DAV:"><d:response><d:href>/c/a.ics</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>`;
  const broken = [
    good.slice(0, good.length - 20), // truncated answer
    "<html><body>502 Bad Gateway</body></html>",
    `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><d:multistatus xmlns:d="DAV:">&e;</d:multistatus>`,
    good.replace("<d:href>", "<x:href>"), // undeclared prefix
    good.replace('"1"', "&bogus;"),
    "",
  ];
  for (const b of broken) {
    assert.throws(() => parseListing(b, "REPORT /c/"), (e: unknown) => e instanceof Transient && /REPORT \/c\/: unreadable multistatus/.test((e as Error).message), JSON.stringify(b.slice(0, 60)));
    assert.throws(() => parseMultistatus(b, "REPORT /c/"), Transient);
  }
});
