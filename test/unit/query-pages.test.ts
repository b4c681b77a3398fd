/**
 * A time-range calendar-query answered from the occurrence index (CalendarService.rangeQuery,
 * dav/reports/calendar-query.ts): the members the index decides are read in pages of heads as the
 * 207 streams, after the candidates it cannot decide were evaluated. Whatever the page size and
 * DAV:limit, the answer is exactly the members that overlap the range (at most nresults of them,
 * then a 507 for the calendar), each once with its current ETag.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import pino from "pino";
import type { Db } from "../../src/store/db.ts";
import { CalendarStore } from "../../src/store/calendars.ts";
import { ObjectStore } from "../../src/store/objects.ts";
import { StoreCalendarService, objectWrite } from "../../src/sync/service.ts";
import { parseCalendarObject } from "../../src/ical/parse.ts";
import { DavHandler } from "../../src/dav/handler.ts";
import type { DavContext } from "../../src/dav/context.ts";
import type { CalendarMeta } from "../../src/dav/service.ts";
import { DEFAULT_LIMITS } from "../../src/main.ts";
import { parseXml } from "../../src/xml/parse.ts";
import { child, elements, text } from "../../src/xml/tree.ts";
import { bothStores } from "../helpers/both-stores.ts";

/** matchingIds and headsByIds are SQL that must mean the same on both stores. */
const STORES = bothStores("paged calendar-query answers");

const USER = { username: "alice" };
const DIRECTORY = { info: () => ({ type: "local", configured: true, synced: false }), defaultLocal: () => "home" };

/**
 * Kinds of member, by how the query over March 2040 (past the index's five-year horizon) meets them:
 * single events are decided by the index (their cover is unbounded); endless rules are not (their
 * cover ends at the horizon), so they are evaluated.
 */
const KINDS = {
  singleIn: { body: ["DTSTART:20400310T100000Z", "DTEND:20400310T110000Z"], matches: true },
  singleOut: { body: ["DTSTART:20400510T100000Z", "DTEND:20400510T110000Z"], matches: false },
  dailyForever: { body: ["DTSTART:20260105T100000Z", "DTEND:20260105T110000Z", "RRULE:FREQ=DAILY"], matches: true },
  junesForever: { body: ["DTSTART:20260605T100000Z", "DTEND:20260605T110000Z", "RRULE:FREQ=YEARLY"], matches: false },
  // In the range but a VTODO: the index's ids include it, the VEVENT query must not.
  todoIn: { component: "VTODO", body: ["DTSTART:20400310T100000Z", "DUE:20400310T110000Z"], matches: false },
} as const;
type Kind = keyof typeof KINDS;
const ics = (uid: string, kind: Kind): string => {
  const k: { component?: string; body: readonly string[] } = KINDS[kind];
  const c = k.component ?? "VEVENT";
  return ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", `BEGIN:${c}`, `UID:${uid}`, "DTSTAMP:20260101T000000Z", ...k.body, "SUMMARY:x", `END:${c}`, "END:VCALENDAR", ""].join("\r\n");
};

const QUERY = (limit: number | null): string =>
  `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>` +
  `<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20400301T000000Z" end="20400401T000000Z"/></C:comp-filter></C:comp-filter></C:filter>` +
  (limit === null ? "" : `<D:limit><D:nresults>${limit}</D:nresults></D:limit>`) +
  `</C:calendar-query>`;

async function calendarWith(db: Db, name: string, kinds: readonly Kind[], pageMembers: number) {
  const calendars = new CalendarStore(db);
  await calendars.create({ owner: USER.username, name, sourceId: "home", components: ["VEVENT", "VTODO"] });
  const objects = new ObjectStore(db);
  const row = (await calendars.get(USER.username, name))!;
  const etags = new Map<string, string>();
  for (const [i, kind] of kinds.entries()) {
    const w = objectWrite(`m${i}.ics`, parseCalendarObject(ics(`${name}-${i}`, kind)));
    await objects.put(row.id, w, { ifMatch: null, ifNoneMatch: "*" });
    etags.set(`/dav/calendars/alice/${name}/m${i}.ics`, w.etag);
  }
  const service = new StoreCalendarService(calendars, objects, DIRECTORY, null, 0, { keepMembers: 0, pageMembers });
  return { service, cal: (await service.calendar(USER, name))!, etags };
}

async function report(service: StoreCalendarService, cal: CalendarMeta, body: string): Promise<{ etags: Map<string, string>; hrefs: string[]; truncated: boolean }> {
  const ctx: DavContext = {
    user: USER, service, log: pino({ level: "silent" }), limits: { ...DEFAULT_LIMITS, maxResourceBytes: 1 << 20 }, depth: "1", minimal: false,
    req: { method: "REPORT", path: `/dav/calendars/alice/${cal.name}/`, header: () => undefined, body },
  };
  const res = await new DavHandler().handle(ctx);
  assert.equal(res.status, 207);
  let xml = "";
  for await (const chunk of res.body as AsyncIterable<Buffer>) xml += chunk.toString("utf8");
  const etags = new Map<string, string>();
  const hrefs: string[] = [];
  let truncated = false;
  for (const r of elements(parseXml(xml), "{DAV:}response")) {
    const href = text(child(r, "{DAV:}href")!);
    const status = child(r, "{DAV:}status");
    if (status) {
      assert.equal(href, `/dav/calendars/alice/${cal.name}/`);
      assert.match(text(status), / 507 /);
      truncated = true;
      continue;
    }
    hrefs.push(href);
    const prop = child(child(r, "{DAV:}propstat")!, "{DAV:}prop")!;
    etags.set(href, text(child(prop, "{DAV:}getetag")!));
  }
  return { etags, hrefs, truncated };
}

for (const store of STORES) {
  test(`a calendar-query answer read in pages is every overlapping member once, within DAV:limit (${store.label})`, async () => {
    const db = await store.open("query_pages");
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.constantFrom<Kind>("singleIn", "singleOut", "dailyForever", "junesForever", "todoIn"), { maxLength: 14 }),
          fc.integer({ min: 1, max: 4 }),
          fc.option(fc.integer({ min: 1, max: 10 }), { nil: null }),
          async (kinds, pageMembers, limit) => {
            const { service, cal, etags } = await calendarWith(db, `c${n++}`, kinds, pageMembers);
            const expected = new Set(kinds.flatMap((k, i) => (KINDS[k].matches ? [`/dav/calendars/alice/${cal.name}/m${i}.ics`] : [])));
            const got = await report(service, cal, QUERY(limit));
            assert.equal(new Set(got.hrefs).size, got.hrefs.length, "no member twice");
            for (const h of got.hrefs) {
              assert.ok(expected.has(h), `${h} overlaps the range`);
              assert.equal(got.etags.get(h), etags.get(h), `${h}'s ETag`);
            }
            const room = limit ?? Number.POSITIVE_INFINITY;
            assert.equal(got.hrefs.length, Math.min(expected.size, room), "every overlapping member, up to the limit");
            assert.equal(got.truncated, expected.size > room, "a 507 exactly when members were left out");
          },
        ),
        { numRuns: store.label === "SQLite" ? 150 : 40 },
      );
    } finally {
      await db.destroy();
    }
  });
}
