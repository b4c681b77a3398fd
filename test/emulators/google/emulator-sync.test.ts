/**
 * The Google emulator's listings: recurrence (instances, exceptions, cancelled instances), full and
 * incremental sync, paging with ragged/empty pages, filters, calendarList (reference §1, §3, §4).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ALICE, allPages, api, BOB, failure, raw, sample, setup, timed } from "./harness.ts";

const ZRH = "Europe/Zurich";
const items = (pages: Array<{ items?: any[] }>) => pages.flatMap((p) => p.items ?? []);
/** Every calendarList entry, across (possibly ragged) pages. */
async function entries(cal: any, params: object): Promise<any[]> {
  const out: any[] = [];
  let pageToken: string | undefined;
  do {
    const r = (await cal.calendarList.list({ ...params, ...(pageToken ? { pageToken } : {}) })).data;
    out.push(...(r.items ?? []));
    pageToken = r.nextPageToken ?? undefined;
  } while (pageToken);
  return out;
}

describe("recurring series (§2, §4)", () => {
  it("an exception and a cancelled instance, in full and incremental sync, instances and iCalUID lookups", async (t) => {
    const emu = await setup({ raggedPages: false });
    t.after(() => emu.close());
    const { cal } = api(emu);
    const master = (await cal.events.insert({ calendarId: "primary", requestBody: {
      summary: "Weekly planning", ...timed("2026-03-02T09:00:00", "2026-03-02T09:30:00", ZRH), recurrence: ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6"],
    } })).data;
    const single = (await cal.events.insert({ calendarId: "primary", requestBody: { summary: "single", ...timed("2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z") } })).data;
    const first = await allPages(cal, { calendarId: "primary" });
    const token = first.at(-1)!.nextSyncToken!;
    assert.ok(token);

    const second = emu.instanceId(ALICE, master.id!, "2026-03-09T09:00:00+01:00");
    const third = emu.instanceId(ALICE, master.id!, "2026-03-16T09:00:00+01:00");
    const exception = (await cal.events.patch({ calendarId: "primary", eventId: second, requestBody: { summary: "moved", ...timed("2026-03-10T14:00:00", "2026-03-10T15:00:00", ZRH) } })).data;
    assert.equal(exception.id, second);
    assert.equal(exception.recurringEventId, master.id);
    assert.deepEqual(exception.originalStartTime, { dateTime: "2026-03-09T09:00:00+01:00", timeZone: ZRH });
    assert.equal(exception.recurrence, undefined);
    assert.notEqual(exception.etag, master.etag);
    await cal.events.delete({ calendarId: "primary", eventId: third });
    await cal.events.delete({ calendarId: "primary", eventId: single.id! });

    // Incremental: the exception in full, the cancelled instance and the deleted event as stubs (§11.3).
    const inc = items(await allPages(cal, { calendarId: "primary", syncToken: token }));
    const byId = new Map(inc.map((e) => [e.id, e]));
    assert.equal(inc.length, 3);
    assert.equal(byId.get(second).summary, "moved");
    const stub = byId.get(third);
    const sampleItems = sample("google-events-incremental-cancelled-and-exception.json").response.body.items;
    assert.deepEqual(Object.keys(stub).sort(), Object.keys(sampleItems[1]).sort());
    assert.deepEqual(stub.originalStartTime, { dateTime: "2026-03-16T09:00:00+01:00", timeZone: ZRH });
    assert.deepEqual(Object.keys(byId.get(single.id)).sort(), Object.keys(sampleItems[0]).sort());
    assert.deepEqual(Object.keys(byId.get(single.id)).sort(), ["etag", "id", "kind", "status"]);

    // Full list without showDeleted: master, exception and — as the discovery doc says — the
    // cancelled instance of the live series, but not the deleted single event.
    const full = items(await allPages(cal, { calendarId: "primary" }));
    assert.deepEqual(full.map((e) => e.id).sort(), [master.id, second, third].sort());
    assert.equal(full.find((e) => e.id === third).status, "cancelled");
    assert.ok(items(await allPages(cal, { calendarId: "primary", showDeleted: true })).some((e) => e.id === single.id));

    // singleEvents: expanded, exception applied, cancelled omitted (unless showDeleted), no masters.
    const expanded = items(await allPages(cal, { calendarId: "primary", singleEvents: true, orderBy: "startTime" }));
    assert.equal(expanded.length, 5);
    assert.ok(expanded.every((e) => e.recurringEventId === master.id && e.recurrence === undefined));
    assert.equal(expanded[1].summary, "moved");
    assert.equal(expanded[1].start.dateTime, "2026-03-10T14:00:00+01:00");
    assert.deepEqual(expanded.map((e) => e.start.dateTime).slice(2), ["2026-03-23T09:00:00+01:00", "2026-03-30T09:00:00+02:00", "2026-04-06T09:00:00+02:00"]);
    assert.equal(items(await allPages(cal, { calendarId: "primary", singleEvents: true, showDeleted: true })).filter((e) => e.recurringEventId).length, 6);
    const inst = (await cal.events.instances({ calendarId: "primary", eventId: master.id! })).data.items!;
    assert.equal(inst.length, 5);
    assert.equal((await cal.events.instances({ calendarId: "primary", eventId: master.id!, showDeleted: true })).data.items!.length, 6);
    assert.equal((await cal.events.get({ calendarId: "primary", eventId: inst[3]!.id! })).data.start!.dateTime, "2026-03-30T09:00:00+02:00");

    // iCalUID lookup: the master and its exception (plus the cancelled instance, as above).
    const byUid = items(await allPages(cal, { calendarId: "primary", iCalUID: master.iCalUID! }));
    assert.deepEqual(byUid.map((e) => e.id).sort(), [master.id, second, third].sort());
    assert.ok(byUid.every((e) => e.iCalUID === master.iCalUID || e.status === "cancelled"));

    // Changes made by Google's web UI show up the same way.
    const next = (await allPages(cal, { calendarId: "primary", syncToken: token })).at(-1)!.nextSyncToken!;
    emu.deleteEvent(ALICE, emu.instanceId(ALICE, master.id!, "2026-03-23T09:00:00+01:00"));
    emu.patchEvent(ALICE, master.id!, { summary: "Weekly planning (renamed)" });
    const inc2 = items(await allPages(cal, { calendarId: "primary", syncToken: next }));
    assert.equal(inc2.length, 2);
    assert.ok(inc2.some((e) => e.id === master.id && e.recurrence));
    assert.equal(emu.events(ALICE, { includeCancelled: true }).filter((e) => e.status === "cancelled").length, 3);
  });

  it("legacy instance ids are <master>_<UTC start> (timed) and <master>_<date> (all-day)", async (t) => {
    const emu = await setup({ instanceIds: "legacy" });
    t.after(() => emu.close());
    const { cal } = api(emu);
    const m = emu.insertEvent(ALICE, { ...timed("2026-03-02T09:00:00", "2026-03-02T10:00:00", ZRH), recurrence: ["RRULE:FREQ=DAILY;COUNT=2"] });
    const d = emu.insertEvent(ALICE, { start: { date: "2026-03-02" }, end: { date: "2026-03-03" }, recurrence: ["RRULE:FREQ=DAILY;COUNT=2"] });
    assert.deepEqual((await cal.events.instances({ calendarId: "primary", eventId: m.id })).data.items!.map((i) => i.id), [`${m.id}_20260302T080000Z`, `${m.id}_20260303T080000Z`]);
    assert.equal(emu.instanceId(ALICE, d.id, "2026-03-03"), `${d.id}_20260303`);
    assert.equal((await cal.events.get({ calendarId: "primary", eventId: `${d.id}_20260303` })).data.start!.date, "2026-03-03");
    // The case of t/z has been seen to differ (§2): both spellings address the same instance.
    const lower = (await cal.events.patch({ calendarId: "primary", eventId: `${m.id}_20260303t080000z`, requestBody: { summary: "exc" } })).data;
    assert.equal(lower.id, `${m.id}_20260303T080000Z`);
    await cal.events.patch({ calendarId: "primary", eventId: `${m.id}_20260303T080000Z`, requestBody: { location: "here" } });
    assert.deepEqual(emu.events(ALICE).filter((e) => e.recurringEventId).map((e) => [e.summary, e.location]), [["exc", "here"]]);
  });

  it("events.import: an existing iCalUID updates in place, or fails as duplicate (configurable, §5)", async (t) => {
    for (const mode of ["update", "error"] as const) {
      const emu = await setup({ importDuplicate: mode });
      t.after(() => emu.close());
      const { cal } = api(emu);
      const body = { iCalUID: "uid-1@example.org", summary: "v1", ...timed("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z") };
      const a = (await cal.events.import({ calendarId: "primary", requestBody: body })).data;
      assert.equal(a.iCalUID, "uid-1@example.org");
      const again = cal.events.import({ calendarId: "primary", requestBody: { ...body, summary: "v2" } });
      if (mode === "update") assert.equal((await again).data.id, a.id);
      else assert.equal((await failure(again)).status, 409);
      assert.equal((await failure(cal.events.import({ calendarId: "primary", requestBody: { summary: "no uid", ...timed("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z") } }))).status, 400);
    }
  });
});

describe("events.list paging and sync tokens (§3, §4, §11.1, §11.2)", () => {
  it("§11.1 ragged and empty pages; nextSyncToken only on the last page; mid-pagination changes are not lost", async (t) => {
    const emu = await setup({ seed: 11 });
    t.after(() => emu.close());
    const { cal } = api(emu);
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(emu.insertEvent(ALICE, { summary: `e${i}`, ...timed(`2026-04-${String(1 + (i % 28)).padStart(2, "0")}T09:00:00Z`, `2026-04-${String(1 + (i % 28)).padStart(2, "0")}T10:00:00Z`) }).id);
    const pages: any[] = [];
    let pageToken: string | undefined;
    do {
      const r = await cal.events.list({ calendarId: "primary", maxResults: 4, ...(pageToken ? { pageToken } : {}) });
      pages.push(r.data);
      pageToken = r.data.nextPageToken ?? undefined;
      if (pages.length === 1) {
        // Changes while paging: a new event, an edit and a deletion.
        ids.push(emu.insertEvent(ALICE, { summary: "late", ...timed("2026-04-02T09:00:00Z", "2026-04-02T10:00:00Z") }).id);
        emu.patchEvent(ALICE, ids[39]!, { summary: "edited" });
        emu.deleteEvent(ALICE, ids[38]!);
      }
    } while (pageToken);
    assert.ok(pages.every((p) => !(p.nextPageToken && p.nextSyncToken)), "never both tokens");
    assert.ok(pages.slice(0, -1).every((p) => p.nextPageToken && !p.nextSyncToken));
    assert.ok(pages.at(-1).nextSyncToken);
    assert.ok(pages.some((p) => p.items.length === 0 && p.nextPageToken), "an empty page with nextPageToken");
    // The envelopes carry the same fields as the recorded first and last pages.
    assert.deepEqual(Object.keys(pages[0]).sort(), Object.keys(sample("google-events-list-page1-nextPageToken.json").response.body).sort());
    assert.deepEqual(Object.keys(pages.at(-1)).sort(), Object.keys(sample("google-events-list-last-page-nextSyncToken.json").response.body).sort());
    assert.ok(pages.some((p) => p.items.length > 0 && p.items.length < 4 && p.nextPageToken), "a short page");
    const seen = items(pages).map((e) => e.id);
    assert.equal(new Set(seen).size, 40, "the snapshot: every original event exactly once");
    const inc = items(await allPages(cal, { calendarId: "primary", syncToken: pages.at(-1).nextSyncToken }));
    assert.deepEqual(inc.map((e) => e.id).sort(), [ids[38], ids[39], ids[40]].sort());
    assert.equal(inc.find((e) => e.id === ids[38]).status, "cancelled");
    assert.equal(inc.find((e) => e.id === ids[39]).summary, "edited");
    // A page token belongs to its query.
    const p1 = (await cal.events.list({ calendarId: "primary", maxResults: 1 })).data;
    assert.equal((await failure(cal.events.list({ calendarId: "primary", maxResults: 2, pageToken: p1.nextPageToken! }))).status, 400);
  });

  it("raggedPages: false gives full pages; maxResults defaults to 250 and caps at 2500", async (t) => {
    const emu = await setup({ raggedPages: false });
    t.after(() => emu.close());
    const { cal } = api(emu);
    for (let i = 0; i < 7; i++) emu.insertEvent(ALICE, timed("2026-04-01T09:00:00Z", "2026-04-01T10:00:00Z"));
    const pages = await allPages(cal, { calendarId: "primary", maxResults: 3 });
    assert.deepEqual(pages.map((p) => p.items!.length), [3, 3, 1]);
    assert.equal((await cal.events.list({ calendarId: "primary", maxResults: 5000 })).data.items!.length, 7);
    assert.equal((await failure(cal.events.list({ calendarId: "primary", maxResults: 0 }))).status, 400);
  });

  it("§11.2 forbidden parameters with syncToken → 400; garbage, stale or expired tokens → 410 fullSyncRequired", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    const a = api(emu);
    emu.addCalendar(ALICE, { summary: "Team", id: "team.calendar@example.com" });
    const token = (await allPages(a.cal, { calendarId: "primary" })).at(-1)!.nextSyncToken!;
    const teamToken = (await allPages(a.cal, { calendarId: "team.calendar@example.com" })).at(-1)!.nextSyncToken!;
    const forbidden: Record<string, string> = { iCalUID: "x", orderBy: "updated", privateExtendedProperty: "a=b", q: "x", sharedExtendedProperty: "a=b", timeMin: "2026-01-01T00:00:00Z", timeMax: "2026-12-01T00:00:00Z", updatedMin: "2026-11-30T00:00:00Z" };
    const access = (await a.auth.getAccessToken()).token!;
    for (const [k, v] of Object.entries(forbidden)) {
      const r = await raw(emu, "GET", `calendar/v3/calendars/primary/events?syncToken=${encodeURIComponent(token)}&${k}=${encodeURIComponent(v)}`, { token: access });
      assert.equal(r.status, 400, k);
      assert.equal(r.body.error.errors[0].reason, "invalid");
    }
    const expected = sample("google-error-410-fullSyncRequired.json").response;
    const garbage = await raw(emu, "GET", "calendar/v3/calendars/primary/events?syncToken=CPjflvfe1YEDEPjflvfe1YEDGAUg0_uyjwI%3D", { token: access });
    assert.equal(garbage.status, expected.status);
    assert.deepEqual(garbage.body, expected.body);
    assert.match(garbage.headers.get("content-type")!, /^application\/json/);
    assert.equal((await failure(a.cal.events.list({ calendarId: "team.calendar@example.com", syncToken: token }))).status, 410, "a token of another calendar");
    emu.expireSyncTokens(ALICE);
    assert.equal((await failure(a.cal.events.list({ calendarId: "primary", syncToken: token }))).status, 410);
    assert.equal((await a.cal.events.list({ calendarId: "team.calendar@example.com", syncToken: teamToken })).status, 200, "other calendars keep their tokens");
    emu.expireSyncTokens();
    assert.equal((await failure(a.cal.events.list({ calendarId: "team.calendar@example.com", syncToken: teamToken }))).status, 410);
  });

  it("filters: timeMin/timeMax bounds, timeRangeEmpty, orderBy rules, updatedMin, q, extended properties", async (t) => {
    const emu = await setup({ raggedPages: false });
    t.after(() => emu.close());
    const { cal } = api(emu);
    const ev = emu.insertEvent(ALICE, { summary: "Dentist appointment", ...timed("2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z"), extendedProperties: { private: { origin: "caldav" } } });
    emu.insertEvent(ALICE, { summary: "other", start: { date: "2026-03-05" }, end: { date: "2026-03-06" } });
    const ids = async (p: object) => (await cal.events.list({ calendarId: "primary", ...p })).data.items!.map((e) => e.id);
    assert.deepEqual(await ids({ timeMin: "2026-03-02T11:00:00Z", timeMax: "2026-03-03T00:00:00Z" }), [], "timeMin is exclusive on end");
    assert.deepEqual(await ids({ timeMin: "2026-03-01T00:00:00Z", timeMax: "2026-03-02T10:00:00Z" }), [], "timeMax is exclusive on start");
    assert.deepEqual(await ids({ timeMin: "2026-03-02T10:59:00Z", timeMax: "2026-03-02T12:01:00+01:00" }), [ev.id]);
    assert.equal((await ids({ timeMin: "2026-03-04T23:30:00Z", timeMax: "2026-03-05T01:30:00+01:00" })).length, 1, "all-day events in the calendar zone");
    const empty = await failure(cal.events.list({ calendarId: "primary", timeMin: "2026-03-02T00:00:00Z", timeMax: "2026-03-02T00:00:00Z" }));
    assert.deepEqual(empty.data.error.errors[0], { domain: "calendar", reason: "timeRangeEmpty", message: "The specified time range is empty.", locationType: "parameter", location: "timeMax" });
    assert.equal((await failure(cal.events.list({ calendarId: "primary", timeMin: "2026-03-02T00:00:00" }))).status, 400, "offset is mandatory");
    assert.equal((await failure(cal.events.list({ calendarId: "primary", orderBy: "startTime" }))).status, 400);
    assert.deepEqual(await ids({ q: "dentist" }), [ev.id]);
    assert.deepEqual(await ids({ privateExtendedProperty: ["origin=caldav"] }), [ev.id]);
    assert.deepEqual(await ids({ updatedMin: new Date(Date.now() + 60_000).toISOString() }), []);
    assert.equal((await failure(cal.events.list({ calendarId: "primary", updatedMin: "2020-01-01T00:00:00Z" }))).data.error.errors[0].reason, "updatedMinTooLongAgo");
  });
});

describe("calendarList and calendars (§1)", () => {
  it("entries, paging, sync with deleted entries, minAccessRole, access roles", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    const { cal } = api(emu);
    const team = emu.addCalendar(ALICE, { summary: "Team", timeZone: "America/New_York", colorId: "7", description: "desc" });
    assert.match(team, /@group\.calendar\.google\.com$/);
    const shared = emu.addCalendar(ALICE, { summary: "Holidays", accessRole: "reader" });
    const list = (await cal.calendarList.list({ maxResults: 1 })).data;
    assert.equal(list.kind, "calendar#calendarList");
    const all: any[] = [];
    let pageToken: string | undefined;
    let last: any;
    do {
      last = (await cal.calendarList.list({ maxResults: 1, ...(pageToken ? { pageToken } : {}) })).data;
      all.push(...last.items);
      pageToken = last.nextPageToken;
    } while (pageToken);
    assert.deepEqual(all.map((e) => e.id).sort(), [ALICE, team, shared].sort());
    const primary = all.find((e) => e.id === ALICE);
    assert.equal(primary.primary, true);
    assert.equal(primary.timeZone, ZRH);
    const t2 = all.find((e) => e.id === team);
    assert.deepEqual([t2.summary, t2.timeZone, t2.colorId, t2.backgroundColor, t2.accessRole, t2.description], ["Team", "America/New_York", "7", "#42d692", "owner", "desc"]);
    for (const k of ["kind", "etag", "foregroundColor", "defaultReminders", "selected"]) assert.ok(k in t2, k);
    assert.equal((await cal.calendarList.list({ minAccessRole: "writer" })).data.items!.length, 2);
    const hidden = emu.addCalendar(ALICE, { summary: "Hidden", hidden: true, summaryOverride: "Mine" });
    assert.ok(!(await entries(cal, {})).some((e) => e.id === hidden));
    const h = (await entries(cal, { showHidden: true })).find((e) => e.id === hidden);
    assert.deepEqual([h.hidden, h.summary, h.summaryOverride], [true, "Hidden", "Mine"]);
    emu.removeCalendar(ALICE, hidden);

    emu.removeCalendar(ALICE, shared);
    const incPages: any[] = [];
    pageToken = undefined;
    do {
      incPages.push((await cal.calendarList.list({ syncToken: last.nextSyncToken, ...(pageToken ? { pageToken } : {}) })).data);
      pageToken = incPages.at(-1).nextPageToken;
    } while (pageToken);
    const inc = incPages.at(-1);
    assert.deepEqual(items(incPages).map((e) => [e.id, e.deleted]), [[shared, true], [hidden, true]], "deleted (and hidden) entries come back with a sync token");
    assert.equal((await failure(cal.calendarList.list({ syncToken: inc.nextSyncToken!, minAccessRole: "reader" }))).status, 400);
    assert.equal((await failure(cal.calendarList.list({ syncToken: "garbage" }))).status, 410);
    assert.equal((await cal.calendars.get({ calendarId: team })).data.timeZone, "America/New_York");
    assert.equal((await failure(cal.calendars.get({ calendarId: shared }))).status, 404, "unsubscribed");
    const reader = emu.addCalendar(ALICE, { summary: "Read only", accessRole: "reader" });
    assert.equal((await failure(cal.events.insert({ calendarId: reader, requestBody: timed("2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z") }))).status, 403);
    assert.equal((await failure(api(emu, undefined, BOB).cal.events.list({ calendarId: team }))).status, 404, "not bob's calendar");
  });
});
