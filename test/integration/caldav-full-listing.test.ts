/**
 * A CalDAV source's full listing fetched in pages (src/sources/caldav/full-listing.ts), against real
 * Radicale: the first sync of a calendar spans several pulls, only the last carries `listed`; a
 * restart mid-listing (a new adapter with the stored cursor) lists again and goes on; changes made
 * upstream between pages reach the cache by the end of the listing or by the next delta.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { CaldavSourceConfig } from "../../src/config/schema.ts";
import { CaldavAdapter } from "../../src/sources/caldav/adapter.ts";
import type { Cursor, PullPage, RemoteCalendar } from "../../src/sources/adapter.ts";
import { memoryContext } from "../helpers/memory-upstream.ts";
import { peerAvailable, startRadicale, type PeerServer } from "../helpers/peers.ts";

const missing = peerAvailable("radicale");
const ics = (uid: string, summary = "x"): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20260101T000000Z", "DTSTART:20260105T100000Z", "DTEND:20260105T110000Z", `SUMMARY:${summary}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

let peer: PeerServer | null = null;
before(async () => {
  if (!missing) peer = await startRadicale({ calendars: ["paged"] });
});
after(async () => {
  await peer?.stop();
});

test("a full listing in pages: several pulls, a restart between them, upstream changes between them", { skip: missing ?? false }, async () => {
  const p = peer!;
  const calUrl = p.calendarUrls[0]!;
  const send = async (method: string, name: string, body?: string): Promise<void> => {
    const r = await fetch(`${calUrl}${name}`, { method, headers: { authorization: p.authHeader, "content-type": "text/calendar; charset=utf-8" }, ...(body ? { body } : {}) });
    await r.arrayBuffer();
    assert.ok(r.status < 300, `${method} ${name} → ${r.status}`);
  };
  for (let i = 0; i < 7; i++) await send("PUT", `e${i}.ics`, ics(`e${i}`));
  const cfg = { id: "paged", type: "caldav", url: p.calendarHomeUrl, username: p.username, password: p.password } as CaldavSourceConfig;
  const ctx = memoryContext();
  let adapter = new CaldavAdapter(cfg, 10_000, { listingPage: 3 });
  const cal: RemoteCalendar = (await adapter.listCalendars(ctx)).find((c) => c.id === calUrl)!;
  assert.ok(cal, "the calendar is listed");
  const cache = new Map<string, string>();
  const apply = (page: PullPage): void => {
    for (const c of page.changes) {
      if (c.kind === "delete") cache.delete(c.id);
      else cache.set(c.ref.id, c.ref.etag ?? "");
    }
    if (page.done && page.full && page.listed) for (const id of [...cache.keys()]) if (!page.listed.has(id)) cache.delete(id);
    // memoryContext's known() is its own cache: keep it in step, as the engine's store would be.
    const m = ctx.cache.get(cal.id) ?? new Map();
    ctx.cache.set(cal.id, m);
    for (const c of page.changes) if (c.kind === "delete") m.delete(c.id); else m.set(c.ref.id, { ref: c.ref, ics: c.ics, name: c.nameHint ?? c.ref.id });
    if (page.done && page.full && page.listed) for (const id of [...m.keys()]) if (!page.listed.has(id)) m.delete(id);
  };

  const first = await adapter.pull(cal, null, ctx);
  apply(first);
  assert.deepEqual([first.changes.length, first.done, first.full, first.listed], [3, false, true, undefined], "page 1 of the listing: 3 members, no listing yet");
  assert.equal(JSON.parse(first.next!).mode, "listing");

  // Between pages, upstream: one member not fetched yet is deleted, one fetched is changed, one is added.
  await send("DELETE", "e6.ics");
  await send("PUT", "e0.ics", ics("e0", "changed"));
  await send("PUT", "e9.ics", ics("e9"));

  // A restart: a new adapter knows nothing but the stored cursor.
  adapter = new CaldavAdapter(cfg, 10_000, { listingPage: 3 });
  let cursor: Cursor | null = first.next;
  let pages = 1;
  let last: PullPage = first;
  const writtenBack = `${calUrl}w1.ics`;
  while (!last.done) {
    if (pages === 2) {
      // A client's create written back between two pages: in the cache with its upstream ETag, upstream,
      // but not in the listing the pages walk. The last page's listing must still show it.
      await send("PUT", "w1.ics", ics("w1"));
      const etag = (await fetch(writtenBack, { method: "HEAD", headers: { authorization: p.authHeader } })).headers.get("etag")!;
      cache.set(writtenBack, etag);
      ctx.cache.get(cal.id)!.set(writtenBack, { ref: { id: writtenBack, etag }, ics: ics("w1"), name: "w1.ics" });
    }
    last = await adapter.pull(cal, cursor, ctx);
    apply(last);
    cursor = last.next;
    pages++;
    assert.ok(pages < 10, "the listing ends");
    if (!last.done) assert.equal(last.listed, undefined, "only the last page carries the listing");
  }
  assert.ok(pages >= 3, `several pulls (${pages})`);
  assert.equal(JSON.parse(cursor!).mode, "sync", "then back to deltas");
  assert.ok(!cache.has(`${calUrl}e6.ics`), "deleted upstream mid-listing: gone");
  assert.ok(cache.has(writtenBack), "written back mid-listing: kept (the last page lists the calendar as it is now)");

  // The next delta, from the first listing's token, brings what changed since it began.
  const delta = await adapter.pull(cal, cursor, ctx);
  apply(delta);
  const upstream = new Map<string, string>();
  const listing = await fetch(calUrl, { method: "PROPFIND", headers: { authorization: p.authHeader, depth: "1", "content-type": "application/xml" }, body: `<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>` });
  for (const m of (await listing.text()).matchAll(/<(?:\w+:)?href>([^<]+\.ics)<\/(?:\w+:)?href>[\s\S]*?<(?:\w+:)?getetag>([^<]+)<\/(?:\w+:)?getetag>/g)) {
    upstream.set(new URL(m[1]!, calUrl).href, m[2]!.replace(/&quot;/g, '"'));
  }
  assert.equal(upstream.size, 8, "e0-e5, e9 and w1 upstream");
  assert.deepEqual(new Map([...cache].sort()), new Map([...upstream].sort()), "the cache is the upstream: every member at its current ETag");
});
