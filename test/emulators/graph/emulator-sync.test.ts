/**
 * Graph emulator: calendarView delta (reference §2, §11.1–3, §11.5) and the recurrence model
 * (§4, §11.6), driven through the Graph SDK (PageIterator + getDeltaLink) and raw HTTPS.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PageIterator } from "@microsoft/microsoft-graph-client";
import type { GraphEmulator } from "./index.ts";
import { ALICE, api, deltaRound, failure, raw, sample, setup } from "./harness.ts";

const WEU = "W. Europe Standard Time";
const WINDOW = "startDateTime=2025-01-01T00:00:00Z&endDateTime=2025-07-01T00:00:00Z";

/** The sample's second-Tuesday series with one moved exception and one cancelled occurrence. */
function opsSync(emu: GraphEmulator, calId: string): { master: any; exceptionId: string } {
  const master = emu.createEvent(ALICE, calId, {
    subject: "Ops sync",
    start: { dateTime: "2025-01-14T10:00:00", timeZone: WEU }, end: { dateTime: "2025-01-14T11:00:00", timeZone: WEU },
    recurrence: {
      pattern: { type: "relativeMonthly", interval: 1, daysOfWeek: ["tuesday"], index: "second" },
      range: { type: "endDate", startDate: "2025-01-14", endDate: "2025-06-10" },
    },
  });
  const exceptionId = emu.occurrenceId(ALICE, master.id, "2025-03-11");
  emu.updateEvent(ALICE, exceptionId, {
    subject: "Ops sync (moved to Wednesday)",
    start: { dateTime: "2025-03-12T14:00:00", timeZone: WEU }, end: { dateTime: "2025-03-12T15:00:00", timeZone: WEU },
  });
  emu.deleteEvent(ALICE, emu.occurrenceId(ALICE, master.id, "2025-02-11"));
  return { master, exceptionId };
}

describe("Graph emulator: calendarView delta", () => {
  let emu: GraphEmulator;
  let calId: string;
  let series: { master: any; exceptionId: string };
  before(async () => {
    emu = await setup();
    calId = emu.addCalendar(ALICE, { name: "Ops", color: "lightBlue" });
    series = opsSync(emu, calId);
    for (let i = 0; i < 12; i++) {
      emu.createEvent(ALICE, calId, { subject: `Single ${i}`, start: { dateTime: `2025-02-${String(i + 1).padStart(2, "0")}T09:00:00`, timeZone: "UTC" }, end: { dateTime: `2025-02-${String(i + 1).padStart(2, "0")}T09:30:00`, timeZone: "UTC" } });
    }
    emu.createEvent(ALICE, calId, { subject: "Team lunch", isAllDay: true, start: { dateTime: "2025-01-24T00:00:00", timeZone: WEU }, end: { dateTime: "2025-01-25T00:00:00", timeZone: WEU } });
    emu.createEvent(ALICE, calId, { subject: "Outside", start: { dateTime: "2025-09-01T09:00:00", timeZone: "UTC" }, end: { dateTime: "2025-09-01T10:00:00", timeZone: "UTC" } });
  });
  after(() => emu.close());

  test("initial round: ragged and empty pages, links never together, skeletal occurrences, no masters", async () => {
    const { client } = api(emu);
    const { items, pages, deltaLink } = await deltaRound(client, `/me/calendars/${calId}/calendarView/delta?${WINDOW}`, "odata.maxpagesize=3");
    assert.match(deltaLink, new RegExp(`^https://${emu.host.replace(/\./g, "\\.")}/v1\\.0/me/calendars/.+/calendarView/delta\\?\\$deltatoken=`));
    for (const p of pages) {
      assert.ok(!(p["@odata.nextLink"] && p["@odata.deltaLink"]), "never both links");
      assert.ok(p.value.length <= 4); // at most maxpagesize, plus a possible duplicate
      if (p["@odata.nextLink"]) assert.match(p["@odata.nextLink"], /^https:\/\/127\.0\.0\.1:\d+\/v1\.0\/.*\$skiptoken=/);
    }
    assert.ok(pages.some((p) => p.value.length === 0 && p["@odata.nextLink"]), `an empty page with a nextLink: ${JSON.stringify(pages.map((p) => [p.value.length, !!p["@odata.nextLink"]]))}`);
    const byId = new Map(items.map((i) => [i.id, i]));
    assert.equal(byId.size, 12 + 1 + 4 + 1); // singles + all-day + occurrences (Jan, Apr, May, Jun) + the March exception
    assert.ok(![...byId.values()].some((i) => i.type === "seriesMaster"));
    assert.ok(![...byId.values()].some((i) => i.subject === "Outside"));
    const occ = [...byId.values()].filter((i) => i.type === "occurrence");
    const sOcc = sample("graph-calendarview-delta-page-nextLink.json").response.body.value[1];
    for (const o of occ) {
      assert.deepEqual(Object.keys(o).sort(), Object.keys(sOcc).sort());
      assert.equal(o.seriesMasterId, series.master.id);
    }
    assert.deepEqual(occ.map((o) => o.start.dateTime).sort(), ["2025-01-14T09:00:00.0000000", "2025-04-08T08:00:00.0000000", "2025-05-13T08:00:00.0000000", "2025-06-10T08:00:00.0000000"]);
    const ex = byId.get(series.exceptionId);
    assert.equal(ex.type, "exception");
    assert.equal(ex.subject, "Ops sync (moved to Wednesday)");
    assert.equal(ex.originalStart, "2025-03-11T09:00:00Z");
    assert.deepEqual(ex.start, { dateTime: "2025-03-12T13:00:00.0000000", timeZone: "UTC" });
    const lunch = [...byId.values()].find((i) => i.subject === "Team lunch");
    const sLunch = sample("graph-calendarview-delta-page-deltaLink-removed.json").response.body.value[1];
    assert.deepEqual(lunch.start, sLunch.start);
    assert.deepEqual(lunch.end, sLunch.end);

    // The same round through PageIterator: getDeltaLink() is set once iteration completes.
    const first = await client.api(`/me/calendars/${calId}/calendarView/delta?${WINDOW}`).header("Prefer", "odata.maxpagesize=5").get();
    const seen = new Set<string>();
    const it = new PageIterator(client, first, (e: any) => (seen.add(e.id), true), { headers: { Prefer: "odata.maxpagesize=5" } });
    await it.iterate();
    assert.equal(it.isComplete(), true);
    assert.ok(it.getDeltaLink());
    assert.equal(seen.size, byId.size);
  });

  test("later rounds: changes, @removed for deletions and out-of-window changes, cancelled occurrence silent", async () => {
    const { client } = api(emu);
    const r0 = await deltaRound(client, `/me/calendars/${calId}/calendarView/delta?${WINDOW}`);
    const nothing = await deltaRound(client, r0.deltaLink);
    assert.deepEqual(nothing.items, []);

    const single = emu.events(ALICE, calId).find((e) => e.subject === "Single 3");
    emu.updateEvent(ALICE, single.id, { subject: "Single 3 (renamed)" });
    const gone = emu.events(ALICE, calId).find((e) => e.subject === "Single 4");
    emu.deleteEvent(ALICE, gone.id);
    const outside = emu.events(ALICE, calId).find((e) => e.subject === "Outside");
    emu.updateEvent(ALICE, outside.id, { subject: "Outside (renamed)" });
    const r1 = await deltaRound(client, r0.deltaLink);
    const ids = new Map<string, any>();
    for (const i of r1.items) ids.set(i.id, i); // merge idempotently: duplicates are allowed
    assert.equal(ids.get(single.id).subject, "Single 3 (renamed)");
    assert.deepEqual(ids.get(gone.id)["@removed"], { reason: "deleted" });
    assert.deepEqual(ids.get(outside.id), { "@odata.type": "#microsoft.graph.event", id: outside.id, "@removed": { reason: "deleted" } });

    // Cancelling one occurrence: not reported as removed; the other occurrences carry the master's new etag.
    const may = emu.occurrenceId(ALICE, series.master.id, "2025-05-13");
    emu.deleteEvent(ALICE, may);
    const r2 = await deltaRound(client, r1.deltaLink);
    assert.ok(!r2.items.some((i) => i.id === may), "the cancelled occurrence is not reported");
    const apr = r2.items.find((i) => i.id === emu.occurrenceId(ALICE, series.master.id, "2025-04-08"));
    assert.equal(apr.type, "occurrence");
    const master = await client.api(`/me/events/${series.master.id}`).select("cancelledOccurrences").get();
    assert.deepEqual(master.cancelledOccurrences, [`OID.${series.master.id}.2025-02-11`, `OID.${series.master.id}.2025-05-13`]);
  });

  test("moves across the window edge; raggedPages false gives full pages; /me/calendar/calendarView/delta", async () => {
    const e2 = await setup({ raggedPages: false, pageSize: 2 });
    try {
      const { client } = api(e2);
      const cal = e2.defaultCalendarId(ALICE);
      const mk = (subject: string, day: string) => e2.createEvent(ALICE, cal, { subject, start: { dateTime: `${day}T09:00:00`, timeZone: "UTC" }, end: { dateTime: `${day}T10:00:00`, timeZone: "UTC" } });
      const a = mk("A", "2025-02-01");
      mk("B", "2025-02-02");
      mk("C", "2025-02-03");
      const out = mk("Later", "2025-08-01");
      const r0 = await deltaRound(client, `/me/calendar/calendarView/delta?${WINDOW}`);
      assert.deepEqual(r0.pages.map((p) => p.value.length), [2, 1]);
      assert.match(r0.deltaLink, /\/v1\.0\/me\/calendar\/calendarView\/delta\?\$deltatoken=/);
      e2.updateEvent(ALICE, a.id, { start: { dateTime: "2025-09-01T09:00:00", timeZone: "UTC" }, end: { dateTime: "2025-09-01T10:00:00", timeZone: "UTC" } });
      e2.updateEvent(ALICE, out.id, { start: { dateTime: "2025-03-01T09:00:00", timeZone: "UTC" }, end: { dateTime: "2025-03-01T10:00:00", timeZone: "UTC" } });
      const r1 = await deltaRound(client, r0.deltaLink);
      assert.deepEqual(r1.items.find((i) => i.id === a.id)["@removed"], { reason: "deleted" });
      assert.equal(r1.items.find((i) => i.id === out.id).subject, "Later");
      assert.equal(r1.items.length, 2);
    } finally {
      await e2.close();
    }
  });

  test("reportCancelledOccurrences: a cancelled occurrence comes as @removed", async () => {
    const e2 = await setup({ reportCancelledOccurrences: true, raggedPages: false });
    try {
      const { client } = api(e2);
      const cal = e2.defaultCalendarId(ALICE);
      const m = e2.createEvent(ALICE, cal, {
        subject: "Daily", start: { dateTime: "2025-02-03T09:00:00", timeZone: "UTC" }, end: { dateTime: "2025-02-03T09:30:00", timeZone: "UTC" },
        recurrence: { pattern: { type: "daily", interval: 1 }, range: { type: "numbered", startDate: "2025-02-03", numberOfOccurrences: 3 } },
      });
      const r0 = await deltaRound(client, `/me/calendarView/delta?${WINDOW}`);
      assert.equal(r0.items.length, 3);
      const mid = e2.occurrenceId(ALICE, m.id, "2025-02-04");
      e2.deleteEvent(ALICE, mid);
      const r1 = await deltaRound(client, r0.deltaLink);
      assert.deepEqual(r1.items.find((i) => i.id === mid)["@removed"], { reason: "deleted" });
      assert.equal(r1.items.filter((i) => i.type === "occurrence").length, 2); // new master etag
    } finally {
      await e2.close();
    }
  });

  test("resets: 410 with Location, 400 syncStateNotFound, 410 resyncRequired; unsupported $select", async () => {
    const { client } = api(emu);
    const r0 = await deltaRound(client, `/me/calendarView/delta?${WINDOW}`);
    emu.resetDelta(undefined, "410");
    const e410 = await failure(client.api(r0.deltaLink).get());
    assert.equal(e410.statusCode, 410);
    assert.equal(e410.code, "syncStateNotFound");
    const loc = e410.headers.get("location");
    assert.match(loc, /^https:\/\/127\.0\.0\.1:\d+\/v1\.0\/me\/calendarView\/delta\?startDateTime=/);
    const fresh = await deltaRound(client, loc);
    emu.resetDelta(emu.defaultCalendarId(ALICE), "syncStateNotFound");
    const e400 = await failure(client.api(fresh.deltaLink).get());
    assert.equal(e400.statusCode, 400);
    assert.equal(e400.code, "syncStateNotFound");
    const again = await deltaRound(client, `/me/calendarView/delta?${WINDOW}`);
    emu.resetDelta(undefined, "resyncRequired");
    const eRes = await failure(client.api(again.deltaLink).get());
    assert.equal(eRes.code, "resyncRequired");
    const sel = await failure(client.api(`/me/calendarView/delta?${WINDOW}&$select=subject`).get());
    assert.equal(sel.statusCode, 400);
    const noWindow = await failure(client.api("/me/calendarView/delta").get());
    assert.equal(noWindow.statusCode, 400);
  });
});

describe("Graph emulator: recurrence", () => {
  let emu: GraphEmulator;
  let calId: string;
  before(async () => {
    emu = await setup();
    calId = emu.defaultCalendarId(ALICE);
  });
  after(() => emu.close());

  test("series master with cancelledOccurrences/exceptionOccurrences and /instances match the sample", async () => {
    const { client } = api(emu);
    const { master, exceptionId } = opsSync(emu, calId);
    const [sGet, sInst] = sample("graph-seriesmaster-relativeMonthly-exception-cancelled.json");
    const got = await client.api(`/me/events/${master.id}?$select=subject,start,end,type,recurrence,originalStartTimeZone,occurrenceId,exceptionOccurrences,cancelledOccurrences&$expand=exceptionOccurrences`)
      .header("Prefer", `outlook.timezone="${WEU}"`).get();
    const want = sGet.response.body;
    const swap = (s: string) => s.replaceAll("AAMkAGI2TG93AAABEgAQAAbTxWuAACAIXQAA=", exceptionId).replaceAll("AAMkAGI2TG93AAA=", master.id);
    assert.deepEqual(got.start, want.start);
    assert.deepEqual(got.recurrence, want.recurrence);
    assert.equal(got.occurrenceId, null);
    assert.deepEqual(got.cancelledOccurrences, want.cancelledOccurrences.map(swap));
    assert.deepEqual(got.exceptionOccurrences, JSON.parse(swap(JSON.stringify(want.exceptionOccurrences))));
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());

    const inst = await client.api(`/me/events/${master.id}/instances?startDateTime=2025-01-01T00:00:00Z&endDateTime=2025-04-30T00:00:00Z&$select=subject,start,end,type,seriesMasterId,originalStart,occurrenceId`).get();
    const strip = (v: any[]) => v.map(({ "@odata.etag": _e, id: _i, ...rest }) => rest);
    assert.deepEqual(strip(inst.value), JSON.parse(swap(JSON.stringify(strip(sInst.response.body.value)))));
    assert.equal(inst.value[0].id, emu.occurrenceId(ALICE, master.id, "2025-01-14"));
    // A cancelled occurrence is gone for GET too.
    const e = await failure(client.api(`/me/events/${emu.occurrenceId(ALICE, master.id, "2025-02-11")}`).get());
    assert.equal(e.statusCode, 404);
    // Listing events: singleInstance + seriesMaster only.
    const list = await client.api(`/me/calendars/${calId}/events`).top(50).get();
    assert.deepEqual([...new Set(list.value.map((x: any) => x.type))], ["seriesMaster"]);
  });

  test("Graph rules: first occurrence is the first matching date, startDate must match, unsupported values → 400", async () => {
    const { client } = api(emu);
    // Weekly on Mon/Wed starting on a Sunday: the Sunday is not an occurrence (unlike RFC 5545).
    const ev = await client.api("/me/events").post({
      subject: "Standup", start: { dateTime: "2026-03-01T09:00:00", timeZone: "UTC" }, end: { dateTime: "2026-03-01T09:15:00", timeZone: "UTC" },
      recurrence: { pattern: { type: "weekly", interval: 1, daysOfWeek: ["Monday", "Wednesday"] }, range: { type: "numbered", startDate: "2026-03-01", numberOfOccurrences: 3 } },
    });
    assert.equal(ev.type, "seriesMaster");
    assert.deepEqual(ev.recurrence.pattern.daysOfWeek, ["monday", "wednesday"]);
    const inst = await client.api(`/me/events/${ev.id}/instances?startDateTime=2026-02-01T00:00:00Z&endDateTime=2026-04-01T00:00:00Z`).get();
    assert.deepEqual(inst.value.map((i: any) => i.start.dateTime.slice(0, 10)), ["2026-03-02", "2026-03-04", "2026-03-09"]);
    // relativeMonthly with several days: one occurrence per month, on the first matching day.
    const rel = emu.createEvent(ALICE, calId, {
      subject: "First weekday", start: { dateTime: "2026-03-02T08:00:00", timeZone: "UTC" }, end: { dateTime: "2026-03-02T09:00:00", timeZone: "UTC" },
      recurrence: { pattern: { type: "relativeMonthly", interval: 1, daysOfWeek: ["monday", "tuesday", "wednesday", "thursday", "friday"], index: "first" }, range: { type: "numbered", startDate: "2026-03-02", numberOfOccurrences: 3 } },
    });
    const ri = await client.api(`/me/events/${rel.id}/instances?startDateTime=2026-03-01T00:00:00Z&endDateTime=2026-07-01T00:00:00Z`).get();
    assert.deepEqual(ri.value.map((i: any) => i.start.dateTime.slice(0, 10)), ["2026-03-02", "2026-04-01", "2026-05-01"]);

    const base = { subject: "x", start: { dateTime: "2026-03-02T09:00:00", timeZone: "UTC" }, end: { dateTime: "2026-03-02T10:00:00", timeZone: "UTC" } };
    const bads = [
      { pattern: { type: "daily", interval: 1 }, range: { type: "noEnd", startDate: "2026-03-03" } }, // startDate ≠ start date
      { pattern: { type: "daily", interval: 1, index: "fifth" }, range: { type: "noEnd", startDate: "2026-03-02" } },
      { pattern: { type: "weekly", interval: 1 }, range: { type: "noEnd", startDate: "2026-03-02" } }, // daysOfWeek missing
      { pattern: { type: "daily", interval: 1, dayOfMonth: 5 }, range: { type: "noEnd", startDate: "2026-03-02" } }, // not for daily
      { pattern: { type: "daily", interval: 1 }, range: { type: "numbered", startDate: "2026-03-02", numberOfOccurrences: 0 } },
      { pattern: { type: "hourly", interval: 1 }, range: { type: "noEnd", startDate: "2026-03-02" } },
    ];
    for (const recurrence of bads) {
      const e = await failure(client.api("/me/events").post({ ...base, recurrence }));
      assert.equal(e.statusCode, 400, JSON.stringify(recurrence));
    }
    // Graph's own zero-filled rendering is accepted back.
    const ok = await client.api("/me/events").post({ ...base, recurrence: ev.recurrence && { ...ev.recurrence, range: { ...ev.recurrence.range, startDate: "2026-03-02" } } });
    assert.equal(ok.recurrence.range.numberOfOccurrences, 3);
  });

  test("occurrence PATCH over HTTP: If-Match is the master's etag, a refused PATCH leaves no exception", async () => {
    const { client } = api(emu);
    const m = await client.api("/me/events").post({
      subject: "Weekly", start: { dateTime: "2026-04-06T09:00:00", timeZone: "UTC" }, end: { dateTime: "2026-04-06T10:00:00", timeZone: "UTC" },
      recurrence: { pattern: { type: "weekly", interval: 1, daysOfWeek: ["monday"] }, range: { type: "numbered", startDate: "2026-04-06", numberOfOccurrences: 4 } },
    });
    const occ = emu.occurrenceId(ALICE, m.id, "2026-04-13");
    const bad = await failure(client.api(`/me/events/${occ}`).patch({ start: { dateTime: "2026-04-13T11:00:00", timeZone: "Nowhere/Land" }, end: { dateTime: "2026-04-13T12:00:00", timeZone: "UTC" } }));
    assert.equal(bad.code, "TimeZoneNotSupportedException");
    assert.equal(emu.events(ALICE, calId).filter((e) => e.seriesMasterId === m.id).length, 0);
    const got = await client.api(`/me/events/${occ}`).get();
    assert.equal(got.type, "occurrence");
    assert.equal(got["@odata.etag"], m["@odata.etag"]);
    const ex = await client.api(`/me/events/${occ}`).header("If-Match", got["@odata.etag"]).patch({ subject: "Weekly (special)" });
    assert.equal(ex.type, "exception");
    assert.equal(ex.id, occ);
    assert.equal(ex.seriesMasterId, m.id);
    assert.equal(ex.uid, m.uid);
    assert.notEqual(ex.iCalUId, m.iCalUId);
    assert.equal(ex.originalStart, "2026-04-13T09:00:00Z");
    assert.notEqual(ex.changeKey, m.changeKey);
    await client.api(`/me/events/${occ}`).delete();
    const after = await client.api(`/me/events/${m.id}?$select=cancelledOccurrences,exceptionOccurrences`).get();
    assert.deepEqual(after.cancelledOccurrences, [`OID.${m.id}.2026-04-13`]);
    assert.deepEqual(after.exceptionOccurrences, []);
    const inst = await client.api(`/me/events/${m.id}/instances?startDateTime=2026-04-01T00:00:00Z&endDateTime=2026-05-01T00:00:00Z`).get();
    assert.deepEqual(inst.value.map((i: any) => i.start.dateTime.slice(0, 10)), ["2026-04-06", "2026-04-20", "2026-04-27"]);
  });

  test("series edits keep exceptions by default; seriesEditDropsExceptions discards them", async () => {
    for (const drop of [false, true]) {
      const e2 = await setup({ seriesEditDropsExceptions: drop });
      try {
        const cal = e2.defaultCalendarId(ALICE);
        const m = e2.createEvent(ALICE, cal, {
          subject: "Daily", start: { dateTime: "2026-03-02T09:00:00", timeZone: "UTC" }, end: { dateTime: "2026-03-02T10:00:00", timeZone: "UTC" },
          recurrence: { pattern: { type: "daily", interval: 1 }, range: { type: "numbered", startDate: "2026-03-02", numberOfOccurrences: 5 } },
        });
        e2.updateEvent(ALICE, e2.occurrenceId(ALICE, m.id, "2026-03-03"), { subject: "Special" });
        e2.deleteEvent(ALICE, e2.occurrenceId(ALICE, m.id, "2026-03-04"));
        assert.equal(e2.events(ALICE, cal).filter((e) => e.type === "exception").length, 1);
        e2.updateEvent(ALICE, m.id, { start: { dateTime: "2026-03-02T11:00:00", timeZone: "UTC" }, end: { dateTime: "2026-03-02T12:00:00", timeZone: "UTC" } });
        assert.equal(e2.events(ALICE, cal).filter((e) => e.type === "exception").length, drop ? 0 : 1);
      } finally {
        await e2.close();
      }
    }
  });
});
