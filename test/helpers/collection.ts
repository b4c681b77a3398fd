/** What a client sees in a CalDAV collection, read the same way from calgate and from upstream servers. */
import assert from "node:assert/strict";
import { parseXml } from "../../src/xml/parse.ts";
import { child, elements, text } from "../../src/xml/tree.ts";

const ALL_OBJECTS = `<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>`;

/** UID → unfolded iCalendar text of every object (calendar-query); fails on a status other than 207 or a UID seen twice. */
export async function objectsByUid(url: string, auth: string): Promise<Map<string, string>> {
  const r = await fetch(url, { method: "REPORT", headers: { authorization: auth, depth: "1", "content-type": "application/xml; charset=utf-8" }, body: ALL_OBJECTS });
  const body = await r.text();
  assert.equal(r.status, 207, `calendar-query ${url}: ${r.status} ${body.slice(0, 300)}`);
  const out = new Map<string, string>();
  for (const resp of elements(parseXml(body), "{DAV:}response")) {
    for (const ps of elements(resp, "{DAV:}propstat")) {
      const data = child(child(ps, "{DAV:}prop")!, "{urn:ietf:params:xml:ns:caldav}calendar-data");
      if (!data) continue;
      const ics = text(data).replace(/\r?\n[ \t]/g, "");
      const uid = /^UID:(.*)$/m.exec(ics)?.[1]?.trim() ?? "?";
      assert.ok(!out.has(uid), `${url}: UID ${uid} twice`);
      out.set(uid, ics);
    }
  }
  return out;
}

/** The SUMMARY values of an unfolded object, " / "-joined (master and overrides). */
export function summariesOf(ics: string): string {
  return [...ics.matchAll(/^SUMMARY[^:]*:(.*)$/gm)].map((m) => m[1]!.trim()).join(" / ");
}

/** UID → SUMMARY (first one) of every object. */
export async function summariesByUid(url: string, auth: string, pick: (ics: string) => string = (ics) => /^SUMMARY[^:]*:(.*)$/m.exec(ics)?.[1]?.trim() ?? ""): Promise<Map<string, string>> {
  return new Map([...(await objectsByUid(url, auth))].map(([uid, ics]) => [uid, pick(ics)]));
}
