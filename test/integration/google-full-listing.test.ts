/**
 * A Google source's full listing fetched a page per pull (src/sources/google/full-listing.ts), against
 * the Google emulator: the first sync spans several pulls, plain events go out with their page and
 * recurring series (whose master and instances may lie on different pages) with the last, which
 * alone carries `listed`; a restart mid-listing lists again from the start; changes made in Google
 * between pages reach the cache by the end of the listing or by the next incremental sync; a
 * write-back made between pages is in the last page's listing (not deleted).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { GoogleSourceConfig } from "../../src/config/schema.ts";
import type { Cursor, PullPage, RemoteCalendar } from "../../src/sources/adapter.ts";
import { GoogleAdapter } from "../../src/sources/google/adapter.ts";
import { LISTING_PREFIX } from "../../src/sources/google/full-listing.ts";
import { startGoogleEmulator, type GoogleEmulator } from "../emulators/google/index.ts";
import { applyPage, memoryContext } from "../helpers/memory-upstream.ts";

const EMAIL = "paged@example.com";
const CLIENT = { clientId: "paged.apps.googleusercontent.com", clientSecret: "paged-secret" };
const PAGE = 4;
const DAY = 86_400_000;
let emu: GoogleEmulator;

before(async () => {
  emu = await startGoogleEmulator({ seed: 9 });
  emu.addClient(CLIENT);
  emu.addAccount(EMAIL, { timeZone: "Europe/Zurich" });
});
after(async () => {
  await emu?.close();
});

const at = (ms: number) => ({ start: { dateTime: new Date(ms).toISOString(), timeZone: "UTC" }, end: { dateTime: new Date(ms + 3_600_000).toISOString(), timeZone: "UTC" } });
const t0 = Date.UTC(2027, 2, 1, 9);
const single = (uid: string, ms: number): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate paged listing test//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20261201T000000Z",
    `DTSTART:${stamp(ms)}`, `DTEND:${stamp(ms + 3_600_000)}`, `SUMMARY:${uid}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").slice(0, 15) + "Z";
}

test("a full listing a page per pull: plain events with their page, series with the last; a restart, Google changes and a write-back between pages", async () => {
  const calId = emu.addCalendar(EMAIL, { summary: "Paged", timeZone: "Europe/Zurich", accessRole: "owner" });
  // The emulator lists in the order events were made: the masters come on the first page, their
  // exceptions (made last) on the last pages, so the pages in between must not lose the masters.
  const series = Array.from({ length: 3 }, (_, i) => emu.insertEvent(calId, { summary: `R${i}`, ...at(t0 + i * 3_600_000), recurrence: ["RRULE:FREQ=WEEKLY;COUNT=5"] }));
  const plain = Array.from({ length: 25 }, (_, i) => emu.insertEvent(calId, { summary: `P${i}`, ...at(t0 + i * DAY) }));
  // Each series has an exception (an instance event of its own); the last a cancelled occurrence too.
  for (const [i, s] of series.entries()) emu.patchEvent(calId, emu.instanceId(calId, s.id, new Date(t0 + i * 3_600_000 + 7 * DAY).toISOString().replace(".000Z", "Z")), { summary: `R${i} moved` });
  emu.deleteEvent(calId, emu.instanceId(calId, series[2].id, new Date(t0 + 2 * 3_600_000 + 14 * DAY).toISOString().replace(".000Z", "Z")));

  const cfg = { id: "paged-google", type: "google", ...CLIENT, apiUrl: emu.apiUrl, authUrl: emu.authUrl, tokenUrl: emu.tokenUrl } as GoogleSourceConfig;
  const make = () => new GoogleAdapter(cfg, { timeoutMs: 10_000, backoffBaseMs: 5, listingPage: PAGE });
  const ctx = memoryContext();
  const grant = emu.grant(CLIENT.clientId, EMAIL, ["https://www.googleapis.com/auth/calendar"]);
  ctx.secretValues.set("oauth", JSON.stringify({ refresh_token: grant.refresh_token, scope: "https://www.googleapis.com/auth/calendar", obtained_at: Date.now(), client_id: CLIENT.clientId }));
  let adapter = make();
  const cal: RemoteCalendar = (await adapter.listCalendars(ctx)).find((c) => c.id === calId)!;

  const cache = (): Map<string, { ref: { etag: string | null }; ics: string }> => {
    const m = ctx.cache.get(cal.id) ?? new Map();
    ctx.cache.set(cal.id, m);
    return m as never;
  };
  const apply = (page: PullPage): void => applyPage(ctx.cache, cal, page);
  const isSeries = (ics: string): boolean => /^RRULE:/m.test(ics);

  // What an earlier sync left in the cache (the listing after a 410): P20 at its version now, and an
  // event deleted in Google since, which the listing's `listed` must take out of the cache.
  const p20 = (await adapter.get(cal, plain[20].id, ctx))!;
  cache().set(plain[20].id, { ref: p20.ref, ics: p20.ics, name: "p20.ics" } as never);
  cache().set("deleted-before", { ref: { id: "deleted-before", etag: "\"1\"" }, ics: single("deleted-before@calgate.test", t0), name: "gone.ics" } as never);
  let p20Written: string | null = null;

  const first = await adapter.pull(cal, null, ctx);
  apply(first);
  assert.deepEqual([first.done, first.full, first.listed], [false, true, undefined], "page 1 of the listing: no listing yet");
  assert.ok(first.next?.startsWith(LISTING_PREFIX), "a listing cursor");
  assert.ok(first.changes.length < PAGE && first.changes.every((c) => c.kind === "upsert" && !isSeries(c.ics)), "plain events only: the series' masters on this page wait");

  // Between pages, in Google: a plain event deleted, one changed, one added.
  emu.deleteEvent(calId, plain[24].id);
  emu.patchEvent(calId, plain[0].id, { summary: "P0 changed" });
  const added = emu.insertEvent(calId, { summary: "Added", ...at(t0 + 40 * DAY) });

  let cursor: Cursor | null = first.next;
  let last: PullPage = first;
  let pages = 1;
  let writtenBack: string | null = null;
  let seriesSeen = 0;
  const listingId = (c: Cursor | null): string => JSON.parse(c!.slice(LISTING_PREFIX.length)).id;
  while (!last.done) {
    if (pages === 3) adapter = make(); // a restart: the next pull lists again from the first page
    if (pages === 4) assert.notEqual(listingId(cursor), listingId(first.next), "the restart began a new listing");
    if (pages === 5) {
      // A client's update of P20, confirmed between two pages: its page, later, shows the version
      // the listing began with, which must not be sent back over the client's.
      const w20 = await adapter.write(cal, { name: "p20.ics", ref: p20.ref, ics: p20.ics.replace(/^SUMMARY:.*$/m, "SUMMARY:P20 by the client") }, ctx);
      p20Written = w20.ref.etag;
      cache().set(plain[20].id, { ref: w20.ref, ics: w20.stored === "changed" ? w20.ics : p20.ics.replace(/^SUMMARY:.*$/m, "SUMMARY:P20 by the client"), name: "p20.ics" } as never);
      // A client's create written back between two pages: in the cache with its version, at Google, but
      // not in the snapshot the page tokens carry. The last page's listing must still show it.
      const w = await adapter.write(cal, { name: "back.ics", ref: null, ics: single("written-back@calgate.test", t0 + 50 * DAY) }, ctx);
      writtenBack = w.ref.id;
      cache().set(w.ref.id, { ref: w.ref, ics: single("written-back@calgate.test", t0 + 50 * DAY), name: "back.ics" } as never);
    }
    last = await adapter.pull(cal, cursor, ctx);
    apply(last);
    cursor = last.next;
    pages++;
    assert.ok(pages < 40, "the listing ends");
    seriesSeen += last.changes.filter((c) => c.kind === "upsert" && isSeries(c.ics)).length;
    if (!last.done) {
      assert.equal(last.listed, undefined, "only the last page carries the listing");
      assert.ok(last.changes.length <= PAGE, `at most a page of changes (${last.changes.length})`);
      assert.ok(last.changes.every((c) => c.kind === "upsert" && !isSeries(c.ics)), "series wait for the last page");
    }
  }
  assert.ok(pages >= 8, `several pulls (${pages})`);
  assert.equal(seriesSeen, 3, "the three series, each once, whole, with the last page");
  assert.ok(cursor?.startsWith("g1:"), "then incremental sync");
  assert.ok(writtenBack && cache().has(writtenBack), "written back mid-listing: kept (the last page reads what the cache holds)");
  assert.ok(!cache().has("deleted-before"), "cached but gone from Google: deleted by the listing");
  assert.equal(cache().get(plain[20].id)?.ref.etag, p20Written, "the client's write of P20 stands: the listing's older version was not sent over it");
  assert.match(cache().get(plain[20].id)!.ics, /SUMMARY:P20 by the client/);

  // The next incremental sync, from the listing's token, brings what changed since it began.
  apply(await adapter.pull(cal, cursor, ctx));
  const upstream = new Map<string, string | null>();
  for (const e of emu.events(calId)) {
    if (e.recurringEventId) continue;
    upstream.set(e.id, (await adapter.get(cal, e.id, ctx))!.ref.etag);
  }
  assert.equal(upstream.size, 25 - 1 + 1 + 3 + 1, "24 plain events, Added, 3 series and the write-back at Google");
  assert.ok(upstream.has(added.id) && !upstream.has(plain[24].id));
  assert.deepEqual(new Map([...cache()].map(([id, o]) => [id, o.ref.etag] as const).sort()), new Map([...upstream].sort()), "the cache is Google: every event at its current version");
  assert.match(cache().get(plain[0].id)!.ics, /SUMMARY:P0 changed/);
  assert.match(cache().get(plain[20].id)!.ics, /SUMMARY:P20 by the client/);
  const r2 = cache().get(series[2].id)!.ics;
  assert.match(r2, /RECURRENCE-ID/, "the exception is in its series");
  assert.match(r2, /EXDATE/, "and the cancelled occurrence");
});
