/**
 * Depth 1 member listings (StoreCalendarService.members, dav/listing-cache.ts): a calendar up to
 * keepMembers keeps one listing while unchanged; a larger one is read in pages as the response
 * streams and never held whole. Either way a PROPFIND Depth 1 lists every member once, in a
 * well-formed multistatus with its current ETag.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import pino from "pino";
import { openDb, type Db } from "../../src/store/db.ts";
import { CalendarStore } from "../../src/store/calendars.ts";
import { ObjectStore } from "../../src/store/objects.ts";
import { StoreCalendarService, objectWrite } from "../../src/sync/service.ts";
import { parseCalendarObject } from "../../src/ical/parse.ts";
import { DavHandler } from "../../src/dav/handler.ts";
import type { DavContext } from "../../src/dav/context.ts";
import type { CalendarMeta, ObjectHead } from "../../src/dav/service.ts";
import { DEFAULT_LIMITS } from "../../src/main.ts";
import { bothStores } from "../helpers/both-stores.ts";

/**
 * The stores the paging properties run on: the page reads (countUpTo, headsPage: LIMIT, name >
 * after, ORDER BY name) are SQL that must mean the same on both.
 */
const STORES = bothStores("member listings");

const USER = { username: "alice" };
const DIRECTORY = { info: () => ({ type: "local", configured: true, synced: false }), defaultLocal: () => "home" };
const ics = (uid: string): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20260101T000000Z", "DTSTART:20260105T100000Z", "DTEND:20260105T110000Z", "SUMMARY:x", "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

async function calendarWith(db: Db, name: string, count: number, listing: { keepMembers: number; pageMembers: number }) {
  const calendars = new CalendarStore(db);
  await calendars.create({ owner: USER.username, name, sourceId: "home", components: ["VEVENT"] });
  const objects = new ObjectStore(db);
  const row = (await calendars.get(USER.username, name))!;
  for (let i = 0; i < count; i++) {
    const uid = `${name}-${String(i).padStart(3, "0")}`;
    await objects.put(row.id, objectWrite(`${uid}.ics`, parseCalendarObject(ics(uid))), { ifMatch: null, ifNoneMatch: "*" });
  }
  const service = new StoreCalendarService(calendars, objects, DIRECTORY, null, 0, listing);
  return { service, objects, row, cal: (await service.calendar(USER, name))! };
}

async function listed(service: StoreCalendarService, cal: CalendarMeta): Promise<{ kept: boolean; pages: number[]; names: string[] }> {
  const l = await service.members(cal);
  if (Array.isArray(l)) return { kept: true, pages: [l.length], names: (l as readonly ObjectHead[]).map((h) => h.name) };
  const pages: number[] = [];
  const names: string[] = [];
  for await (const p of l as AsyncIterable<readonly ObjectHead[]>) {
    pages.push(p.length);
    names.push(...p.map((h) => h.name));
  }
  return { kept: false, pages, names };
}

/** A DAV request on the calendar through the real handler; the 207's status and whole body. */
async function davRequest(service: StoreCalendarService, cal: CalendarMeta, method: string, depth: "0" | "1", body: string): Promise<{ status: number; text: string }> {
  const ctx: DavContext = {
    user: USER, service, log: pino({ level: "silent" }), limits: { ...DEFAULT_LIMITS, maxResourceBytes: 1 << 20 }, depth, minimal: false,
    req: { method, path: `/dav/calendars/alice/${cal.name}/`, header: () => undefined, body },
  };
  const res = await new DavHandler().handle(ctx);
  let text = "";
  for await (const chunk of res.body as AsyncIterable<Buffer>) text += chunk.toString("utf8");
  return { status: res.status, text };
}

for (const store of STORES) test(`every member is listed once, in name order, whether kept or paged (${store.label})`, async () => {
  const db = await store.open("members_listed");
  let n = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 1, max: 5 }), async (count, keepMembers, pageMembers) => {
        const { service, cal } = await calendarWith(db, `c${n++}`, count, { keepMembers, pageMembers });
        const got = await listed(service, cal);
        const expected = Array.from({ length: count }, (_, i) => `${cal.name}-${String(i).padStart(3, "0")}.ics`);
        assert.deepEqual(got.names, expected);
        assert.equal(got.kept, count <= keepMembers, `${count} members, keep up to ${keepMembers}`);
        if (!got.kept) assert.ok(got.pages.every((p) => p > 0 && p <= pageMembers), `pages hold 1 to ${pageMembers} members: ${got.pages.join(",")}`);
      }),
      { numRuns: 60 },
    );
  } finally {
    await db.destroy();
  }
});

test("a kept listing is the same array while unchanged and a new one after a write; a paged one is never kept", async () => {
  const db = await openDb(":memory:");
  try {
    const small = await calendarWith(db, "small", 4, { keepMembers: 5, pageMembers: 2 });
    const a = await small.service.members(small.cal);
    assert.equal(await small.service.members(small.cal), a, "unchanged: the kept listing");
    assert.equal(await small.service.heads(small.cal), a, "heads() shares it");
    await small.objects.put(small.row.id, objectWrite("new.ics", parseCalendarObject(ics("new"))), { ifMatch: null, ifNoneMatch: "*" });
    const fresh = (await small.service.calendar(USER, "small"))!;
    const b = await small.service.members(fresh);
    assert.notEqual(b, a);
    assert.equal((b as readonly ObjectHead[]).length, 5);
    // Past keepMembers the calendar is listed in pages; back under it, a listing is kept again.
    await small.objects.put(small.row.id, objectWrite("newer.ics", parseCalendarObject(ics("newer"))), { ifMatch: null, ifNoneMatch: "*" });
    const grown = await listed(small.service, (await small.service.calendar(USER, "small"))!);
    assert.deepEqual([grown.kept, grown.names.length], [false, 6]);
    await small.objects.remove(small.row.id, "newer.ics", { ifMatch: null, ifNoneMatch: null });
    const back = (await small.service.calendar(USER, "small"))!;
    const c = await small.service.members(back);
    assert.ok(Array.isArray(c) && c.length === 5 && c !== b);
    assert.equal(await small.service.members(back), c);

    const large = await calendarWith(db, "large", 9, { keepMembers: 5, pageMembers: 2 });
    const first = await listed(large.service, large.cal);
    const second = await listed(large.service, large.cal);
    assert.deepEqual(first.pages, [2, 2, 2, 2, 1], "never more than a page in hand");
    assert.deepEqual(second, first, "listed again from the store, the same members");
  } finally {
    await db.destroy();
  }
});

test("PROPFIND Depth 1 of a paged calendar lists every member with its ETag", async () => {
  const db = await openDb(":memory:");
  try {
    const { service, cal, objects, row } = await calendarWith(db, "big", 13, { keepMembers: 5, pageMembers: 2 });
    const { status, text } = await davRequest(service, cal, "PROPFIND", "1", `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>`);
    assert.equal(status, 207);
    const responses = text.split("</D:response>").slice(0, -1).map((r) => ({
      href: /<D:href>([^<]+)<\/D:href>/.exec(r)![1]!,
      etag: /<D:getetag>([^<]+)<\/D:getetag>/.exec(r)?.[1]?.replace(/&quot;/g, '"'),
    }));
    assert.equal(responses.length, 14, "the collection and its 13 members");
    assert.equal(new Set(responses.map((r) => r.href)).size, 14);
    const stored = new Map((await objects.heads(row.id)).map((h) => [h.name, h.etag]));
    for (const r of responses.slice(1)) {
      const name = decodeURIComponent(r.href.split("/").pop()!);
      assert.equal(r.etag, stored.get(name), `ETag of ${name}`);
    }
    assert.ok(text.trimEnd().endsWith("</D:multistatus>"));
  } finally {
    await db.destroy();
  }
});

test("concurrent listings of a calendar too large to keep share one read, and none is kept", async () => {
  const db = await openDb(":memory:");
  try {
    const { service, cal } = await calendarWith(db, "shared", 9, { keepMembers: 5, pageMembers: 2 });
    let reads = 0;
    db.on("query", (q: { sql: string }) => {
      if (/^select `name`, `etag`, `size`, `modified_at`, `component` from `objects` where `calendar_id` = \? order by `name` asc$/.test(q.sql)) reads++;
    });
    const lists = await Promise.all([service.heads(cal), service.heads(cal), service.heads(cal)]);
    assert.equal(reads, 1, "one read for three concurrent listings");
    assert.ok(lists.every((l) => l === lists[0] && l.length === 9));
    const again = await service.heads(cal);
    assert.equal(reads, 2, "not kept once answered (too large)");
    assert.notEqual(again, lists[0]);
  } finally {
    await db.destroy();
  }
});


for (const store of STORES) test(`an initial sync of a paged calendar streams its pages; writes between pages reach the client by the next delta (${store.label})`, async () => {
  const db = await store.open("members_initial_sync");
  let n = 0;
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 6, max: 14 }),
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.record({ kind: fc.constantFrom("add", "change", "remove"), at: fc.nat(20) }), { maxLength: 4 }),
        async (count, writeAfterPage, writes) => {
          const { service, cal, objects, row } = await calendarWith(db, `s${n++}`, count, { keepMembers: 5, pageMembers: 3 });
          const initial = await service.changesSince(cal, null, 100);
          assert.ok(!Array.isArray(initial.changed), "more members than kept: pages");
          const replica = new Map<string, string>();
          let page = 0;
          for await (const heads of initial.changed as AsyncIterable<readonly ObjectHead[]>) {
            assert.ok(heads.length <= 3);
            for (const h of heads) replica.set(h.name, h.etag);
            if (page++ !== writeAfterPage) continue;
            // Writes land while the answer is half sent.
            for (const w of writes) {
              const names = (await objects.heads(row.id)).map((h) => h.name);
              const target = names[w.at % Math.max(1, names.length)];
              if (w.kind === "add") await objects.put(row.id, objectWrite(`late-${w.at}-${page}.ics`, parseCalendarObject(ics(`late-${w.at}-${page}`))), { ifMatch: null, ifNoneMatch: null });
              else if (target && w.kind === "remove") await objects.remove(row.id, target, { ifMatch: null, ifNoneMatch: null });
              else if (target) await objects.put(row.id, objectWrite(target, parseCalendarObject(ics(target.replace(/\.ics$/, "")).replace("SUMMARY:x", `SUMMARY:${w.at}`))), { ifMatch: null, ifNoneMatch: null });
            }
          }
          const delta = await service.changesSince((await service.calendar(USER, cal.name))!, initial.token, 100);
          for (const h of delta.changed as readonly ObjectHead[]) replica.set(h.name, h.etag);
          for (const name of delta.removed) replica.delete(name);
          assert.deepEqual(replica, new Map((await objects.heads(row.id)).map((h) => [h.name, h.etag])), "initial listing + delta = the calendar");
        },
      ),
      { numRuns: 60 },
    );
    // More members than the limit: the change log's truncated pages, as before (never one unbounded listing).
    const { service, cal } = await calendarWith(db, "limited", 8, { keepMembers: 5, pageMembers: 3 });
    const cut = await service.changesSince(cal, null, 6);
    assert.deepEqual([Array.isArray(cut.changed), (cut.changed as readonly ObjectHead[]).length, cut.truncated], [true, 6, true]);
  } finally {
    await db.destroy();
  }
});

test("REPORT sync-collection with an empty token over a paged calendar lists every member once with its ETag", async () => {
  const db = await openDb(":memory:");
  try {
    const { service, cal, objects, row } = await calendarWith(db, "synced", 11, { keepMembers: 4, pageMembers: 3 });
    const { status, text } = await davRequest(service, cal, "REPORT", "0", `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`);
    assert.equal(status, 207);
    const etags = new Map([...text.matchAll(/<D:href>[^<]*\/([^/<]+)<\/D:href>\s*<D:propstat>\s*<D:prop>\s*<D:getetag>([^<]+)<\/D:getetag>/g)].map((m) => [decodeURIComponent(m[1]!), m[2]!.replace(/&quot;/g, '"')]));
    assert.deepEqual(etags, new Map((await objects.heads(row.id)).map((h) => [h.name, h.etag])));
    assert.equal(text.split("</D:response>").length - 1, 11, "one response per member, nothing else");
    assert.match(text, /<D:sync-token>[^<]+<\/D:sync-token>\s*<\/D:multistatus>\s*$/);
  } finally {
    await db.destroy();
  }
});
