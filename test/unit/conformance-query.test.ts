/** Issue 17 items 1 and 2: calendar-query filters and calendar-data expand, on inputs with known answers. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseXml } from "../../src/xml/parse.ts";
import { parseCalendarObject } from "../../src/ical/parse.ts";
import { parseFilter } from "../../src/dav/filters/parse.ts";
import { matchesFilter, textMatches } from "../../src/dav/filters/evaluate.ts";
import { prefilter } from "../../src/dav/filters/prefilter.ts";
import { parseCalendarDataRequest, renderCalendarData } from "../../src/dav/filters/calendar-data.ts";

const NS = 'xmlns:C="urn:ietf:params:xml:ns:caldav"';
const filter = (inner: string) => parseFilter(parseXml(`<C:filter ${NS}><C:comp-filter name="VCALENDAR">${inner}</C:comp-filter></C:filter>`));
const cal = (body: string) => `BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n${body.trim()}\nEND:VCALENDAR\n`.replace(/\n/g, "\r\n");
const OPTS = { floatingZone: null, maxInstances: 1000 };
const match = (ics: string, inner: string) => matchesFilter(parseCalendarObject(ics), filter(inner), OPTS);
const tr = (comp: string, start: string, end: string, inner = "") =>
  `<C:comp-filter name="${comp}"><C:time-range start="${start}" end="${end}"/>${inner}</C:comp-filter>`;
const expand = (ics: string, start: string, end: string) =>
  renderCalendarData(parseCalendarObject(ics), parseCalendarDataRequest(parseXml(`<C:calendar-data ${NS}><C:expand start="${start}" end="${end}"/></C:calendar-data>`)), OPTS);
const vevents = (out: string) => out.split("BEGIN:VEVENT").slice(1).map((b) => b.split("END:VEVENT")[0]!);

describe("item 1: calendar-query filters", () => {
  const alarmed = cal(`
BEGIN:VEVENT
UID:a1
DTSTAMP:20060101T000000Z
DTSTART:20060104T140000Z
DURATION:PT1H
RRULE:FREQ=DAILY;COUNT=3
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:x
TRIGGER:-PT15M
END:VALARM
END:VEVENT
BEGIN:VEVENT
UID:a1
DTSTAMP:20060101T000000Z
RECURRENCE-ID:20060105T140000Z
DTSTART:20060105T160000Z
DURATION:PT1H
END:VEVENT`);
  const plain = cal("BEGIN:VEVENT\nUID:p\nDTSTAMP:20060101T000000Z\nDTSTART:20060104T140000Z\nDURATION:PT1H\nEND:VEVENT");
  const noAlarm = `<C:comp-filter name="VEVENT"><C:comp-filter name="VALARM"><C:is-not-defined/></C:comp-filter></C:comp-filter>`;

  test("comp-filter VALARM is-not-defined excludes an object that has a VALARM (in any of its components)", () => {
    assert.equal(match(plain, noAlarm), true);
    assert.equal(match(alarmed, noAlarm), false, "the master has a VALARM: the object has one");
    assert.equal(match(alarmed, tr("VEVENT", "20060105T000000Z", "20060106T000000Z", `<C:comp-filter name="VALARM"><C:is-not-defined/></C:comp-filter>`)), true,
      "inside a time-range the test applies to the instance (the override has no alarm)");
  });

  test("a prefilter never decides an is-not-defined test on its own", () => {
    assert.equal(prefilter(filter(noAlarm)).exact, false);
  });

  const tf = cal(`
BEGIN:VEVENT
UID:tf
DTSTAMP:20060101T000000Z
DTSTART:20060102T100000Z
DURATION:PT1H
RRULE:FREQ=DAILY;COUNT=10
SUMMARY:morning
END:VEVENT
BEGIN:VEVENT
UID:tf
DTSTAMP:20060101T000000Z
RECURRENCE-ID;RANGE=THISANDFUTURE:20060105T100000Z
DTSTART:20060105T150000Z
DURATION:PT2H
SUMMARY:afternoon
END:VEVENT`);

  test("a time-range matches the instances a RANGE=THISANDFUTURE override moved", () => {
    assert.equal(match(tf, tr("VEVENT", "20060107T150000Z", "20060107T160000Z")), true, "7th moved to 15:00");
    assert.equal(match(tf, tr("VEVENT", "20060107T100000Z", "20060107T110000Z")), false, "7th no longer at 10:00");
    assert.equal(match(tf, tr("VEVENT", "20060104T100000Z", "20060104T110000Z")), true, "4th (before the range) unchanged");
    assert.equal(match(tf, tr("VEVENT", "20060108T160000Z", "20060108T165900Z")), true, "duration of the override applies (2h)");
    const summary = `<C:prop-filter name="SUMMARY"><C:text-match>afternoon</C:text-match></C:prop-filter>`;
    assert.equal(match(tf, tr("VEVENT", "20060109T000000Z", "20060110T000000Z", summary)), true, "moved instances take the override's properties");
    assert.equal(match(tf, tr("VEVENT", "20060111T150000Z", "20060112T000000Z")), true, "the 11th (last of COUNT=10)");
    assert.equal(match(tf, tr("VEVENT", "20060112T000000Z", "20060113T000000Z")), false, "COUNT still bounds the series");
  });

  test("instances of a recurring VTODO inside the range match (RFC 4791 9.9 VTODO rows)", () => {
    const todo = (p: string) => cal(`BEGIN:VTODO\nUID:t\nDTSTAMP:20060101T000000Z\n${p}\nRRULE:FREQ=WEEKLY;COUNT=4\nEND:VTODO`);
    const R = (s: string, e: string) => tr("VTODO", s, e);
    assert.equal(match(todo("DTSTART:20060102T100000Z\nDUE:20060102T120000Z"), R("20060116T110000Z", "20060116T113000Z")), true, "3rd instance, DTSTART+DUE row");
    assert.equal(match(todo("DTSTART:20060102T100000Z\nDUE:20060102T120000Z"), R("20060130T000000Z", "20060131T000000Z")), false, "after COUNT");
    assert.equal(match(todo("DTSTART:20060102T100000Z\nDURATION:PT1H"), R("20060109T103000Z", "20060109T104000Z")), true, "DTSTART+DURATION row");
    assert.equal(match(todo("DTSTART:20060102T100000Z"), R("20060123T100000Z", "20060123T100001Z")), true, "DTSTART only row");
    assert.equal(match(todo("DTSTART;VALUE=DATE:20060102\nDUE;VALUE=DATE:20060103"), R("20060109T120000Z", "20060109T130000Z")), true, "all-day task, 2nd week");
  });

  test("i;unicode-casemap follows RFC 5051 (simple titlecase + NFKD): no extra matches", () => {
    const m = (value: string, pattern: string, matchType: "contains" | "equals" = "contains") =>
      textMatches(value, { value: pattern, collation: "i;unicode-casemap", negate: false, matchType });
    assert.equal(m("Café", "CAFÉ", "equals"), true);
    assert.equal(m("Cafe\u0301", "CAFÉ", "equals"), true, "NFC and NFD are one string");
    assert.equal(m("room ①", "ROOM 1", "equals"), true, "compatibility decomposition (NFKD)");
    assert.equal(m("Straße", "STRASSE"), false, "ß has no simple case mapping to SS");
    assert.equal(m("STRASSE", "straße"), false);
    assert.equal(m("ǆ", "Ǆ", "equals"), true, "titlecase digraphs fold together");
    assert.equal(m("ΟΔΟΣ", "οδος", "equals"), true, "final sigma folds like sigma, with no context rule");
    assert.equal(m("ς", "Σ", "equals"), true);
    // ascii-casemap stays ASCII-only
    assert.equal(textMatches("CAFÉ", { value: "café", collation: "i;ascii-casemap", negate: false, matchType: "equals" }), false);
  });

  test("a query without a component-type filter returns every component", () => {
    const journal = cal("BEGIN:VJOURNAL\nUID:j\nDTSTAMP:20060101T000000Z\nDTSTART;VALUE=DATE:20060104\nEND:VJOURNAL");
    const fb = cal("BEGIN:VFREEBUSY\nUID:f\nDTSTAMP:20060101T000000Z\nDTSTART:20060104T000000Z\nDTEND:20060105T000000Z\nEND:VFREEBUSY");
    for (const ics of [plain, alarmed, journal, fb, cal("BEGIN:VTODO\nUID:t\nDTSTAMP:20060101T000000Z\nEND:VTODO")]) assert.equal(match(ics, ""), true);
    assert.deepEqual(prefilter(filter("")), { component: null, range: null, exact: true });
  });
});

describe("item 2: calendar-data expand", () => {
  test("a non-recurring timed event expands to itself", () => {
    const ics = cal("BEGIN:VEVENT\nUID:n\nDTSTAMP:20060101T000000Z\nDTSTART;TZID=Europe/Paris:20060104T140000\nDTEND;TZID=Europe/Paris:20060104T150000\nSUMMARY:one\nEND:VEVENT");
    const ev = vevents(expand(ics, "20060101T000000Z", "20060201T000000Z"));
    assert.equal(ev.length, 1);
    assert.match(ev[0]!, /DTSTART:20060104T130000Z/);
    assert.match(ev[0]!, /SUMMARY:one/);
    assert.doesNotMatch(ev[0]!, /RECURRENCE-ID|RRULE/);
  });

  test("a non-recurring all-day event expands to itself", () => {
    const ics = cal("BEGIN:VEVENT\nUID:d\nDTSTAMP:20060101T000000Z\nDTSTART;VALUE=DATE:20060104\nDTEND;VALUE=DATE:20060105\nSUMMARY:day\nEND:VEVENT");
    const ev = vevents(expand(ics, "20060104T000000Z", "20060105T000000Z"));
    assert.equal(ev.length, 1, "the all-day event is in the range");
    assert.match(ev[0]!, /DTSTART;VALUE=DATE:20060104/);
    const noEnd = cal("BEGIN:VEVENT\nUID:d2\nDTSTAMP:20060101T000000Z\nDTSTART;VALUE=DATE:20060104\nSUMMARY:day\nEND:VEVENT");
    assert.equal(vevents(expand(noEnd, "20060101T000000Z", "20060201T000000Z")).length, 1, "DTSTART only");
  });

  test("EXDATEs and cancelled overrides never appear; every instance has a RECURRENCE-ID and no RRULE/RDATE/EXDATE", () => {
    const ics = cal(`
BEGIN:VEVENT
UID:r
DTSTAMP:20060101T000000Z
DTSTART:20060102T100000Z
DURATION:PT1H
RRULE:FREQ=DAILY;COUNT=5
RDATE:20060110T100000Z
EXDATE:20060103T100000Z
END:VEVENT
BEGIN:VEVENT
UID:r
DTSTAMP:20060101T000000Z
RECURRENCE-ID:20060104T100000Z
DTSTART:20060104T100000Z
DURATION:PT1H
STATUS:CANCELLED
END:VEVENT`);
    const ev = vevents(expand(ics, "20060101T000000Z", "20060201T000000Z"));
    const rids = ev.map((e) => /RECURRENCE-ID:(\S+)/.exec(e)?.[1]);
    assert.deepEqual(rids, ["20060102T100000Z", "20060105T100000Z", "20060106T100000Z", "20060110T100000Z"]);
    for (const e of ev) assert.doesNotMatch(e, /RRULE|RDATE|EXDATE|EXRULE/);
  });

  test("all-day series: instances carry a DATE RECURRENCE-ID", () => {
    const ics = cal("BEGIN:VEVENT\nUID:ad\nDTSTAMP:20060101T000000Z\nDTSTART;VALUE=DATE:20060102\nRRULE:FREQ=DAILY;COUNT=3\nEXDATE;VALUE=DATE:20060103\nEND:VEVENT");
    const ev = vevents(expand(ics, "20060101T000000Z", "20060201T000000Z"));
    assert.deepEqual(ev.map((e) => /RECURRENCE-ID;VALUE=DATE:(\d+)/.exec(e)?.[1]), ["20060102", "20060104"]);
  });
});

describe("item 2: expand of a RANGE=THISANDFUTURE series", () => {
  test("moved instances come out at their new time, each with its own RECURRENCE-ID and no RANGE", () => {
    const ics = cal(`
BEGIN:VEVENT
UID:tf
DTSTAMP:20060101T000000Z
DTSTART:20060102T100000Z
DURATION:PT1H
RRULE:FREQ=DAILY;COUNT=4
END:VEVENT
BEGIN:VEVENT
UID:tf
DTSTAMP:20060101T000000Z
RECURRENCE-ID;RANGE=THISANDFUTURE:20060103T100000Z
DTSTART:20060103T150000Z
DURATION:PT1H
END:VEVENT`);
    const ev = vevents(expand(ics, "20060101T000000Z", "20060201T000000Z"));
    const pairs = ev.map((e) => [/RECURRENCE-ID:(\S+)/.exec(e)?.[1], /DTSTART:(\S+)/.exec(e)?.[1]]);
    assert.deepEqual(pairs, [
      ["20060102T100000Z", "20060102T100000Z"], ["20060103T100000Z", "20060103T150000Z"],
      ["20060104T100000Z", "20060104T150000Z"], ["20060105T100000Z", "20060105T150000Z"],
    ]);
    for (const e of ev) assert.doesNotMatch(e, /RANGE=/);
  });
});

describe("recurrence engine: DTSTART is the first instance", () => {
  test("a DTSTART the RRULE does not produce still expands (ical4j yearly-holidays corpus file)", () => {
    const ics = cal("BEGIN:VEVENT\nUID:h\nDTSTAMP:20040101T000000Z\nDTSTART;VALUE=DATE:20040303\nDTEND;VALUE=DATE:20040304\nRRULE:FREQ=YEARLY;UNTIL=20051231;BYMONTH=2;BYDAY=2WE\nEND:VEVENT");
    const ev = vevents(expand(ics, "20040101T000000Z", "20060101T000000Z"));
    assert.deepEqual(ev.map((e) => /DTSTART;VALUE=DATE:(\d+)/.exec(e)?.[1]), ["20040303", "20050209"]);
  });
});
