/** Recurrence, time zones, bounds, expand and free-busy against hand-computed answers (RFC 5545 3.8.5.3 examples). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Conditions, fromIcalError } from "../../src/dav/errors.ts";
import { ExpansionLimit } from "../../src/ical/errors.ts";
import { parseCalendarObject } from "../../src/ical/parse.ts";
import { occurrenceBounds } from "../../src/ical/bounds.ts";
import { expandCalendarData, instancesInRange, limitRecurrenceSet } from "../../src/ical/expand.ts";
import { busyPeriods, freeBusyCalendar } from "../../src/ical/freebusy.ts";
import { etagOf } from "../../src/ical/hash.ts";
import { ianaNameFor, zoneForName } from "../../src/ical/timezones.ts";

const NY_VTIMEZONE = `BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:19870405T020000
RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU;UNTIL=20060402T070000Z
END:DAYLIGHT
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:20070311T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:19671029T020000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU;UNTIL=20061029T060000Z
END:STANDARD
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:20071104T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE`;

const cal = (body: string, head = ""): string =>
  `BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n${head}${body.trim()}\nEND:VCALENDAR\n`.replace(/\n/g, "\r\n");
const ev = (props: string, uid = "u1"): string => `BEGIN:VEVENT\nUID:${uid}\nDTSTAMP:20240101T000000Z\n${props.trim()}\nEND:VEVENT`;
const U = (s: string): number => Date.parse(s);
const iso = (ms: number): string => new Date(ms).toISOString().replace(".000", "");
const ALL = { start: null, end: null };
const OPTS = { floatingZone: null, maxInstances: 1000 };
const starts = (ics: string, range: { start: number | null; end: number | null } = ALL, opts = OPTS): string[] =>
  instancesInRange(parseCalendarObject(ics), range, opts).map((i) => iso(i.start));

describe("RFC 5545 3.8.5.3 examples", () => {
  test("daily for 10 occurrences (America/New_York, with and without VTIMEZONE)", () => {
    const expected = Array.from({ length: 10 }, (_, k) => `1997-09-${String(2 + k).padStart(2, "0")}T13:00:00Z`);
    const body = ev("DTSTART;TZID=America/New_York:19970902T090000\nRRULE:FREQ=DAILY;COUNT=10");
    assert.deepEqual(starts(cal(body)), expected);
    assert.deepEqual(starts(cal(NY_VTIMEZONE + "\n" + body)), expected);
  });

  test("every other week on MO,WE,FR until 1997-12-24, across the DST change", () => {
    const got = starts(cal(ev("DTSTART;TZID=America/New_York:19970901T090000\nRRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR")));
    const edt = ["09-01", "09-03", "09-05", "09-15", "09-17", "09-19", "09-29", "10-01", "10-03", "10-13", "10-15", "10-17"].map((d) => `1997-${d}T13:00:00Z`);
    const est = ["10-27", "10-29", "10-31", "11-10", "11-12", "11-14", "11-24", "11-26", "11-28", "12-08", "12-10", "12-12", "12-22"].map((d) => `1997-${d}T14:00:00Z`);
    assert.deepEqual(got, [...edt, ...est]);
  });

  test("monthly on the first Friday, 10 occurrences", () => {
    const got = starts(cal(ev("DTSTART;TZID=America/New_York:19970905T090000\nRRULE:FREQ=MONTHLY;COUNT=10;BYDAY=1FR")));
    assert.deepEqual(got.map((s) => s.slice(0, 10)), ["1997-09-05", "1997-10-03", "1997-11-07", "1997-12-05", "1998-01-02", "1998-02-06", "1998-03-06", "1998-04-03", "1998-05-01", "1998-06-05"]);
    assert.equal(got[0], "1997-09-05T13:00:00Z");
    assert.equal(got[3], "1997-12-05T14:00:00Z");
  });
});

describe("recurrence details", () => {
  test("weekly event crossing the November DST change keeps 10:00 local", () => {
    const ics = cal(NY_VTIMEZONE + "\n" + ev("DTSTART;TZID=America/New_York:20241027T100000\nDTEND;TZID=America/New_York:20241027T110000\nRRULE:FREQ=WEEKLY;COUNT=3"));
    const inst = instancesInRange(parseCalendarObject(ics), ALL, OPTS);
    assert.deepEqual(inst.map((i) => [iso(i.start), iso(i.end)]), [
      ["2024-10-27T14:00:00Z", "2024-10-27T15:00:00Z"],
      ["2024-11-03T15:00:00Z", "2024-11-03T16:00:00Z"],
      ["2024-11-10T15:00:00Z", "2024-11-10T16:00:00Z"],
    ]);
    assert.equal(inst[1]!.recurrenceId!.toICALString(), "20241103T150000Z");
  });

  test("nonexistent local time (spring-forward gap) uses the offset before the gap", () => {
    assert.deepEqual(starts(cal(ev("DTSTART;TZID=America/New_York:20240310T023000"))), ["2024-03-10T07:30:00Z"]);
    // ambiguous 01:30 on the fall-back day is the first (EDT) one
    assert.deepEqual(starts(cal(ev("DTSTART;TZID=America/New_York:20241103T013000"))), ["2024-11-03T05:30:00Z"]);
  });

  test("all-day daily with DATE EXDATE; DATE values follow the floating zone", () => {
    const ics = cal(ev("DTSTART;VALUE=DATE:20240101\nRRULE:FREQ=DAILY;COUNT=5\nEXDATE;VALUE=DATE:20240103"));
    assert.deepEqual(starts(ics), ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-04T00:00:00Z", "2024-01-05T00:00:00Z"]);
    const berlin = instancesInRange(parseCalendarObject(ics), ALL, { floatingZone: "Europe/Berlin", maxInstances: 100 });
    assert.equal(iso(berlin[0]!.start), "2023-12-31T23:00:00Z");
    assert.equal(iso(berlin[0]!.end), "2024-01-01T23:00:00Z");
    assert.equal(berlin[0]!.recurrenceId!.toICALString(), "20240101");
    const b = occurrenceBounds(parseCalendarObject(ics));
    assert.equal(iso(b.start!), "2023-12-31T09:59:59Z");
    assert.equal(iso(b.end!), "2024-01-06T14:00:01Z");
  });

  test("DTEND vs DURATION vs neither", () => {
    const one = (p: string) => instancesInRange(parseCalendarObject(cal(ev(p))), ALL, OPTS).map((i) => [iso(i.start), iso(i.end)])[0];
    assert.deepEqual(one("DTSTART:20240101T100000Z\nDTEND:20240101T113000Z"), ["2024-01-01T10:00:00Z", "2024-01-01T11:30:00Z"]);
    assert.deepEqual(one("DTSTART:20240101T100000Z\nDURATION:PT45M"), ["2024-01-01T10:00:00Z", "2024-01-01T10:45:00Z"]);
    assert.deepEqual(one("DTSTART:20240101T100000Z"), ["2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"]);
    assert.deepEqual(one("DTSTART;VALUE=DATE:20240101"), ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"]);
    // DURATION in days is nominal: P1D across the DST change is 23 hours
    assert.deepEqual(one("DTSTART;TZID=America/New_York:20240309T120000\nDURATION:P1D"), ["2024-03-09T17:00:00Z", "2024-03-10T16:00:00Z"]);
  });

  test("UNTIL as DATE against a DATE-TIME DTSTART includes the whole UNTIL day", () => {
    assert.deepEqual(starts(cal(ev("DTSTART;TZID=America/New_York:20240101T100000\nRRULE:FREQ=DAILY;UNTIL=20240103"))), ["2024-01-01T15:00:00Z", "2024-01-02T15:00:00Z", "2024-01-03T15:00:00Z"]);
    // UNTIL in UTC equal to the last instance is inclusive; zones east of UTC are compared in UTC, not floating
    assert.deepEqual(starts(cal(ev("DTSTART;TZID=Europe/Berlin:20240101T100000\nRRULE:FREQ=DAILY;UNTIL=20240102T090000Z"))), ["2024-01-01T09:00:00Z", "2024-01-02T09:00:00Z"]);
  });

  const series = ev("DTSTART:20240101T100000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;COUNT=5");
  const moved = ev("RECURRENCE-ID:20240108T100000Z\nDTSTART:20240301T100000Z\nDURATION:PT1H\nSUMMARY:moved out");
  const movedIn = ev("RECURRENCE-ID:20240122T100000Z\nDTSTART:20240110T120000Z\nDURATION:PT1H\nSUMMARY:moved in");

  test("overrides moved out of and into a range", () => {
    const ics = cal(`${series}\n${moved}\n${movedIn}`);
    const jan = instancesInRange(parseCalendarObject(ics), { start: U("2024-01-01T00:00:00Z"), end: U("2024-02-01T00:00:00Z") }, OPTS);
    assert.deepEqual(jan.map((i) => iso(i.start)), ["2024-01-01T10:00:00Z", "2024-01-10T12:00:00Z", "2024-01-15T10:00:00Z", "2024-01-29T10:00:00Z"]);
    assert.equal(jan[1]!.recurrenceId!.toICALString(), "20240122T100000Z");
    assert.equal(jan[1]!.component.getFirstPropertyValue("summary"), "moved in");
    const mar = instancesInRange(parseCalendarObject(ics), { start: U("2024-03-01T00:00:00Z"), end: U("2024-03-02T00:00:00Z") }, OPTS);
    assert.deepEqual(mar.map((i) => [iso(i.start), i.recurrenceId!.toICALString()]), [["2024-03-01T10:00:00Z", "20240108T100000Z"]]);
    const b = occurrenceBounds(parseCalendarObject(ics));
    assert.deepEqual([iso(b.start!), iso(b.end!)], ["2024-01-01T09:59:59Z", "2024-03-01T11:00:01Z"]);
  });

  test("orphan override (no master) is its own instance", () => {
    const inst = instancesInRange(parseCalendarObject(cal(moved)), ALL, OPTS);
    assert.deepEqual(inst.map((i) => [iso(i.start), i.recurrenceId!.toICALString()]), [["2024-03-01T10:00:00Z", "20240108T100000Z"]]);
  });

  test("RDATE with PERIOD values and EXDATE", () => {
    const ics = cal(ev("DTSTART:20240101T100000Z\nDURATION:PT1H\nRDATE;VALUE=PERIOD:20240105T120000Z/PT3H,20240110T080000Z/20240110T090000Z\nRDATE:20240120T100000Z\nEXDATE:20240120T100000Z"));
    const inst = instancesInRange(parseCalendarObject(ics), ALL, OPTS);
    assert.deepEqual(inst.map((i) => [iso(i.start), iso(i.end)]), [
      ["2024-01-01T10:00:00Z", "2024-01-01T11:00:00Z"],
      ["2024-01-05T12:00:00Z", "2024-01-05T15:00:00Z"],
      ["2024-01-10T08:00:00Z", "2024-01-10T09:00:00Z"],
    ]);
  });

  test("floating times use the calendar zone, X-WR-TIMEZONE first; bounds widen by 14h", () => {
    const ics = cal(ev("DTSTART:20240101T100000\nDTEND:20240101T110000"));
    assert.deepEqual(starts(ics), ["2024-01-01T10:00:00Z"]);
    assert.deepEqual(starts(ics, ALL, { floatingZone: "America/New_York", maxInstances: 10 }), ["2024-01-01T15:00:00Z"]);
    assert.deepEqual(starts(cal(ev("DTSTART:20240101T100000"), "X-WR-TIMEZONE:Asia/Tokyo\n")), ["2024-01-01T01:00:00Z"]);
    const b = occurrenceBounds(parseCalendarObject(ics));
    assert.deepEqual([iso(b.start!), iso(b.end!)], ["2023-12-31T19:59:59Z", "2024-01-02T01:00:01Z"]);
  });

  test("Windows and Outlook-style TZIDs without VTIMEZONE", () => {
    assert.equal(ianaNameFor("W. Europe Standard Time"), "Europe/Berlin");
    assert.equal(ianaNameFor("Pacific Standard Time"), "America/Los_Angeles");
    assert.equal(ianaNameFor("(UTC-05:00) Eastern Time (US & Canada)"), "America/New_York");
    assert.equal(ianaNameFor("/freeassociation.sourceforge.net/Tzfile/Europe/Vienna"), "Europe/Vienna");
    assert.equal(ianaNameFor("Pacific Time (US & Canada), Tijuana"), "America/Los_Angeles");
    assert.equal(ianaNameFor("Customized Time Zone"), null);
    assert.equal(zoneForName("Customized Time Zone"), null);
    assert.deepEqual(starts(cal(ev("DTSTART;TZID=W. Europe Standard Time:20240701T100000"))), ["2024-07-01T08:00:00Z"]);
    // unknown TZID → floating
    assert.deepEqual(starts(cal(ev("DTSTART;TZID=Nowhere Special:20240701T100000"))), ["2024-07-01T10:00:00Z"]);
  });

  test("infinite RRULE: bounds end is null; a narrow range far away is still cheap", () => {
    const ics = cal(ev("DTSTART:20000103T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY"));
    const b = occurrenceBounds(parseCalendarObject(ics));
    assert.deepEqual([iso(b.start!), b.end], ["2000-01-03T08:59:59Z", null]);
    assert.deepEqual(starts(ics, { start: U("2030-06-01T00:00:00Z"), end: U("2030-06-03T00:00:00Z") }), ["2030-06-01T09:00:00Z", "2030-06-02T09:00:00Z"]);
  });

  test("FREQ=SECONDLY: capped with a 403 number-of-matches-within-limits, never a hang", () => {
    const ics = cal(ev("DTSTART:20000101T000000Z\nRRULE:FREQ=SECONDLY"));
    const is403 = (e: unknown) => e instanceof ExpansionLimit && fromIcalError(e).status === 403 && fromIcalError(e).condition === Conditions.numberOfMatchesWithinLimits;
    assert.throws(() => starts(ics, { start: U("2024-01-01T00:00:00Z"), end: U("2024-01-02T00:00:00Z") }), is403);
    assert.throws(() => starts(cal(ev("DTSTART:20000101T000000Z\nRRULE:FREQ=SECONDLY;BYMONTH=12;BYHOUR=1")), { start: U("2024-01-01T00:00:00Z"), end: U("2024-01-02T00:00:00Z") }), is403);
    assert.throws(() => starts(cal(ev("DTSTART:20000101T000000Z\nRRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"))), is403);
    assert.deepEqual(starts(ics, { start: U("2024-01-01T00:00:00Z"), end: U("2024-01-01T00:00:03Z") }), ["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "2024-01-01T00:00:02Z"]);
    assert.equal(occurrenceBounds(parseCalendarObject(cal(ev("DTSTART:20000101T000000Z\nRRULE:FREQ=SECONDLY;COUNT=100000")))).end, null);
    assert.equal(iso(occurrenceBounds(parseCalendarObject(cal(ev("DTSTART:20000101T000000Z\nRRULE:FREQ=SECONDLY;COUNT=100")))).end!), "2000-01-01T00:01:40Z");
  });

  test("COUNT with a fast-forwarded range keeps the right last instance", () => {
    const ics = cal(ev("DTSTART:20200101T090000Z\nRRULE:FREQ=DAILY;COUNT=1000"));
    assert.deepEqual(starts(ics, { start: U("2022-09-20T00:00:00Z"), end: U("2022-10-01T00:00:00Z") }), [20, 21, 22, 23, 24, 25, 26].map((d) => `2022-09-${d}T09:00:00Z`));
  });

  test("VTODO bounds follow the RFC 4791 9.9 table", () => {
    const todo = (p: string) => cal(`BEGIN:VTODO\nUID:t\nDTSTAMP:20240101T000000Z\n${p}\nEND:VTODO`);
    assert.deepEqual(occurrenceBounds(parseCalendarObject(todo("SUMMARY:x"))), { start: null, end: null });
    const b = occurrenceBounds(parseCalendarObject(todo("DUE:20240105T120000Z\nCREATED:20231201T000000Z")));
    assert.deepEqual([iso(b.start!), iso(b.end!)], ["2023-11-30T23:59:59Z", "2024-01-05T12:00:01Z"]);
  });
});

describe("expand, limit-recurrence-set, free-busy, etag", () => {
  test("expand: UTC instances with RECURRENCE-ID, no RRULE/EXDATE/VTIMEZONE", () => {
    const ics = cal(NY_VTIMEZONE + "\n" + ev("DTSTART;TZID=America/New_York:20241027T100000\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;COUNT=4\nEXDATE;TZID=America/New_York:20241110T100000\nSUMMARY:Weekly") + "\n" + ev("RECURRENCE-ID;TZID=America/New_York:20241103T100000\nDTSTART;TZID=America/New_York:20241103T120000\nDURATION:PT1H\nSUMMARY:Moved"));
    const out = expandCalendarData(parseCalendarObject(ics), { start: U("2024-11-01T00:00:00Z"), end: U("2024-12-01T00:00:00Z") }, OPTS);
    assert.ok(!/RRULE|EXDATE|VTIMEZONE|TZID/.test(out), out);
    assert.deepEqual([...out.matchAll(/^RECURRENCE-ID:(.*)\r$/gm)].map((m) => m[1]), ["20241103T150000Z", "20241117T150000Z"]);
    assert.deepEqual([...out.matchAll(/^DTSTART:(.*)\r$/gm)].map((m) => m[1]), ["20241103T170000Z", "20241117T150000Z"]);
    assert.ok(out.endsWith("END:VCALENDAR\r\n"));
    const limited = limitRecurrenceSet(parseCalendarObject(ics), { start: U("2024-11-15T00:00:00Z"), end: U("2024-12-01T00:00:00Z") }, OPTS);
    assert.ok(/RRULE:FREQ=WEEKLY;COUNT=4/.test(limited) && /BEGIN:VTIMEZONE/.test(limited) && !/SUMMARY:Moved/.test(limited));
  });

  test("free-busy: transparent and cancelled excluded, tentative typed, periods merged", () => {
    const obj = parseCalendarObject(cal(ev("DTSTART:20240101T100000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=3\nSTATUS:TENTATIVE")));
    const opaque = parseCalendarObject(cal(ev("DTSTART:20240101T103000Z\nDTEND:20240101T120000Z", "u2")));
    const overlapping = parseCalendarObject(cal(ev("DTSTART:20240101T113000Z\nDTEND:20240101T130000Z", "u3")));
    const transparent = parseCalendarObject(cal(ev("DTSTART:20240101T150000Z\nDTEND:20240101T160000Z\nTRANSP:TRANSPARENT", "u4")));
    const cancelled = parseCalendarObject(cal(ev("DTSTART:20240101T170000Z\nDTEND:20240101T180000Z\nSTATUS:CANCELLED", "u5")));
    const range = { start: U("2024-01-01T00:00:00Z"), end: U("2024-01-02T10:30:00Z") };
    const periods = [obj, opaque, overlapping, transparent, cancelled].flatMap((o) => busyPeriods(o, range, OPTS));
    const text = freeBusyCalendar(periods, range, new Date(U("2024-06-01T12:00:00.500Z")));
    assert.equal(text, [
      "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate//calgate//EN", "CALSCALE:GREGORIAN", "BEGIN:VFREEBUSY",
      "DTSTAMP:20240601T120000Z", "DTSTART:20240101T000000Z", "DTEND:20240102T103000Z",
      "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20240101T100000Z/20240101T110000Z",
      "FREEBUSY:20240101T103000Z/20240101T130000Z",
      "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20240102T100000Z/20240102T103000Z",
      "END:VFREEBUSY", "END:VCALENDAR", "",
    ].join("\r\n"));
  });

  test("etagOf is a quoted strong tag of 22 base64url characters", () => {
    assert.match(etagOf("x"), /^"[A-Za-z0-9_-]{22}"$/);
    assert.equal(etagOf("x"), etagOf("x"));
    assert.notEqual(etagOf("x"), etagOf("y"));
  });
});
