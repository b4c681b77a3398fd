/**
 * A Microsoft source's full listing fetched in pages (src/sources/microsoft/full-listing.ts), against
 * the Graph emulator: the first sync of a calendar spans several pulls (pages of the events list,
 * then the series read one by one), each with at most a page of changes, and only the last carries
 * `listed`; a restart mid-listing (a new adapter with the stored cursor) lists again and goes on;
 * changes made in Outlook between pages reach the cache by the end of the listing or by the next
 * delta; a write-back made between pages is in the last page's listing (not deleted).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { MicrosoftAdapter } from "../../src/sources/microsoft/adapter.ts";
import { parseCursor } from "../../src/sources/microsoft/full-listing.ts";
import type { Cursor, PullPage, RemoteCalendar } from "../../src/sources/adapter.ts";
import { startGraphEmulator, type GraphEmulator } from "../emulators/graph/index.ts";
import { graphSource, GRAPH_CLIENT_ID, signIn } from "../helpers/graph-source.ts";
import { applyPage, memoryContext } from "../helpers/memory-upstream.ts";

const UPN = "paged@contoso.example";
const DAY = 86_400_000;
const PAGE = 10;
let emu: GraphEmulator;
let secrets: Map<string, string>;

before(async () => {
  emu = await startGraphEmulator({ seed: 21, deviceCodeIntervalSec: 1 });
  emu.addClient(GRAPH_CLIENT_ID);
  emu.addAccount(UPN);
  secrets = await signIn(emu, graphSource(emu), UPN);
});
after(async () => {
  await emu?.close();
});

const iso = (ms: number): string => new Date(ms).toISOString().slice(0, 19);
const slot = (ms: number) => ({ start: { dateTime: iso(ms), timeZone: "UTC" }, end: { dateTime: iso(ms + 3_600_000), timeZone: "UTC" } });
const day0 = Math.floor(Date.now() / DAY) * DAY + 10 * 3_600_000;
const weekly = (uid: string, count: number, overrides: string[][] = []): string =>
  [
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate paged listing test//EN",
    "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20261201T000000Z", `DTSTART:${stamp(day0 + 3 * DAY)}`, `DTEND:${stamp(day0 + 3 * DAY + 1_800_000)}`,
    `RRULE:FREQ=WEEKLY;COUNT=${count}`, `SUMMARY:Weekly ${uid}`, "END:VEVENT",
    ...overrides.flatMap((o) => ["BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20261201T000000Z", ...o, "END:VEVENT"]),
    "END:VCALENDAR", "",
  ].join("\r\n");
const single = (uid: string, at: number): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate paged listing test//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20261201T000000Z",
    `DTSTART:${stamp(at)}`, `DTEND:${stamp(at + 3_600_000)}`, `SUMMARY:${uid}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").slice(0, 15) + "Z";
}

test("a full listing in pages: several pulls of at most a page, a restart, Outlook changes and a write-back between them", async () => {
  const calId = emu.addCalendar(UPN, { name: "Paged" });
  const singles = Array.from({ length: 45 }, (_, i) => emu.createEvent(UPN, calId, { subject: `S${i}`, ...slot(day0 + (i + 1) * DAY) }));
  const make = () => new MicrosoftAdapter(graphSource(emu), { timeoutMs: 10_000, backoffBaseMs: 5, listingPage: PAGE });
  let adapter = make();
  const ctx = memoryContext();
  for (const [k, v] of secrets) ctx.secretValues.set(k, v);
  // Outlook-side content written by another client (its own context: calgate's cache starts empty).
  const other = memoryContext();
  for (const [k, v] of secrets) other.secretValues.set(k, v);
  const cal: RemoteCalendar = (await adapter.listCalendars(ctx)).find((c) => c.id === calId)!;
  const moved = [`RECURRENCE-ID:${stamp(day0 + 10 * DAY)}`, `DTSTART:${stamp(day0 + 10 * DAY + 4 * 3_600_000)}`, `DTEND:${stamp(day0 + 10 * DAY + 5 * 3_600_000)}`, "SUMMARY:Moved"];
  for (let i = 0; i < 12; i++) await adapter.write(cal, { name: `w${i}.ics`, ref: null, ics: weekly(`series-${i}`, 4, i === 0 ? [moved] : []) }, other);

  const cache = (): Map<string, { ref: { id?: string; etag: string | null } }> => {
    const m = ctx.cache.get(cal.id) ?? new Map();
    ctx.cache.set(cal.id, m);
    return m;
  };
  const apply = (page: PullPage): void => applyPage(ctx.cache, cal, page);

  // What an earlier sync left in the cache (a listing after a reset delta link): S5 at an older
  // version, and an event deleted in Outlook since, which the listing's `listed` must take out.
  cache().set(singles[5].id, { ref: { id: singles[5].id, etag: 'W/"older"' }, ics: single("s5-older", day0), name: "s5.ics" } as never);
  cache().set("deleted-before", { ref: { id: "deleted-before", etag: 'W/"1"' }, ics: single("deleted-before", day0), name: "gone.ics" } as never);

  const first = await adapter.pull(cal, null, ctx);
  apply(first);
  assert.deepEqual([first.done, first.full, first.listed], [false, true, undefined], "page 1 of the listing: no listing yet");
  assert.ok(first.changes.length > 0 && first.changes.length <= PAGE, `at most a page of changes (${first.changes.length})`);
  assert.equal(parseCursor(first.next)?.listing?.phase, "bulk", "45 plain events: read from the events list");

  // Between pages, in Outlook: a single not fetched yet is deleted, a fetched one changed, one added.
  emu.deleteEvent(UPN, singles[44].id);
  emu.updateEvent(UPN, singles[0].id, { subject: "S0 changed" });
  const added = emu.createEvent(UPN, calId, { subject: "Added", ...slot(day0 + 2 * DAY) });

  // A restart: a new adapter knows nothing but the stored cursor.
  adapter = make();
  let cursor: Cursor | null = first.next;
  let last: PullPage = first;
  let pages = 1;
  let writtenBack: string | null = null;
  const phases = new Set<string>(["bulk"]);
  while (!last.done) {
    if (pages === 6) {
      // A client's create written back between two pages: in the cache with its version, at Graph, but
      // not in the round the pages walk. The last page's listing must still show it.
      const w = await adapter.write(cal, { name: "back.ics", ref: null, ics: single("written-back", day0 + 5 * DAY) }, ctx);
      writtenBack = w.ref.id;
      cache().set(w.ref.id, { ref: w.ref, ics: single("written-back", day0 + 5 * DAY), name: "back.ics" } as never);
    }
    last = await adapter.pull(cal, cursor, ctx);
    apply(last);
    cursor = last.next;
    pages++;
    assert.ok(pages < 40, "the listing ends");
    assert.ok(last.changes.length <= PAGE, `at most a page of changes (${last.changes.length})`);
    if (!last.done) {
      assert.equal(last.listed, undefined, "only the last page carries the listing");
      const at = parseCursor(last.next)!.listing!;
      phases.add(at.phase === "series" && at.after !== null ? "series, after a key" : at.phase);
    }
  }
  assert.deepEqual([...phases].sort(), ["bulk", "series", "series, after a key"], "pages of the events list, then more than one page of series");
  assert.ok(pages >= 7, `several pulls (${pages})`);
  assert.equal(parseCursor(cursor)?.listing, undefined, "then back to deltas");
  assert.ok(!cache().has(singles[44].id), "deleted in Outlook mid-listing: gone");
  assert.ok(writtenBack && cache().has(writtenBack), "written back mid-listing: kept (the last page reads what the cache holds)");
  assert.ok(!cache().has("deleted-before"), "cached but gone from Graph: deleted by the listing");
  assert.match((ctx.cache.get(cal.id)!.get(singles[5].id) as unknown as { ics: string }).ics, /SUMMARY:S5/, "cached at an older version: updated by the listing");

  // The next delta, from the first round's link, brings what changed since the listing began.
  apply(await adapter.pull(cal, cursor, ctx));
  const upstream = new Map<string, string | null>();
  for (const e of emu.events(UPN, calId)) {
    if (e.type === "exception") continue;
    upstream.set(e.id, (await adapter.get(cal, e.id, ctx))!.ref.etag);
  }
  assert.equal(upstream.size, 45 - 1 + 1 + 12 + 1, "44 singles, Added, 12 series and the write-back at Graph");
  assert.ok(upstream.has(added.id));
  assert.deepEqual(new Map([...cache()].map(([id, o]) => [id, o.ref.etag] as const).sort()), new Map([...upstream].sort()), "the cache is Graph: every event at its current version");
  assert.match((ctx.cache.get(cal.id)!.get(singles[0].id) as unknown as { ics: string }).ics, /SUMMARY:S0 changed/);
});
