/** Shared pieces of the conformance tests over HTTP (dav-conformance, dav-copymove-principals). */
import assert from "node:assert/strict";
import { dav, propsByHref, type DavReply } from "./inproc.ts";

export const C = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"';
export const ics = (body: string): string => `BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//calgate test//EN\n${body.trim()}\nEND:VCALENDAR\n`.replace(/\n/g, "\r\n");
export const query = (filter: string, data = "<C:calendar-data/>"): string =>
  `<C:calendar-query ${C}><D:prop><D:getetag/>${data}</D:prop><C:filter><C:comp-filter name="VCALENDAR">${filter}</C:comp-filter></C:filter></C:calendar-query>`;

export function report(base: string, path: string, body: string): Promise<DavReply> {
  return dav(base, "REPORT", path, { headers: { depth: "1" }, body });
}
export function hrefs(r: DavReply): string[] {
  assert.equal(r.status, 207, r.body);
  return [...propsByHref(r.xml()).keys()].sort();
}
