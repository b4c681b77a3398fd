/** RFC 4791 9.7 filters (Appendix B style), prefilter and calendar-data, on small inputs with known answers. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseXml } from "../../src/xml/parse.ts";
import { DavError, Conditions } from "../../src/dav/errors.ts";
import { parseCalendarObject } from "../../src/ical/parse.ts";
import { parseFilter, SUPPORTED_COLLATION } from "../../src/dav/filters/parse.ts";
import { matchesFilter } from "../../src/dav/filters/evaluate.ts";
import { prefilter } from "../../src/dav/filters/prefilter.ts";
import { parseCalendarDataRequest, renderCalendarData } from "../../src/dav/filters/calendar-data.ts";

const NS = 'xmlns:C="urn:ietf:params:xml:ns:caldav"';
const filter = (inner: string) => parseFilter(parseXml(`<C:filter ${NS}><C:comp-filter name="VCALENDAR">${inner}</C:comp-filter></C:filter>`));
const cal = (body: string) => `BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n${body.trim()}\nEND:VCALENDAR\n`.replace(/\n/g, "\r\n");
const OPTS = { floatingZone: null, maxInstances: 1000 };
const match = (ics: string, inner: string, opts = OPTS) => matchesFilter(parseCalendarObject(ics), filter(inner), opts);
const tr = (comp: string, start: string, end: string, inner = "") =>
  `<C:comp-filter name="${comp}"><C:time-range start="${start}" end="${end}"/>${inner}</C:comp-filter>`;

const EVENT = cal(`
BEGIN:VEVENT
UID:e1
DTSTAMP:20060206T001102Z
DTSTART:20060104T140000Z
DURATION:PT1H
SUMMARY:Event #2
ORGANIZER:mailto:cyrus@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:cyrus@example.com
ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:lisa@example.com
RRULE:FREQ=DAILY;COUNT=5
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:remind
TRIGGER:-PT15M
END:VALARM
END:VEVENT
BEGIN:VEVENT
UID:e1
DTSTAMP:20060206T001102Z
RECURRENCE-ID:20060106T140000Z
DTSTART:20060106T180000Z
DURATION:PT1H
SUMMARY:Event #2 bis
END:VEVENT`);

describe("time-range on VEVENT (recurrence-aware)", () => {
  test("instances, overrides and edges", () => {
    assert.equal(match(EVENT, tr("VEVENT", "20060104T000000Z", "20060105T000000Z")), true);
    assert.equal(match(EVENT, tr("VEVENT", "20060108T143000Z", "20060108T150000Z")), true, "instance overlaps");
    assert.equal(match(EVENT, tr("VEVENT", "20060108T150000Z", "20060108T160000Z")), false, "end is exclusive");
    assert.equal(match(EVENT, tr("VEVENT", "20060106T140000Z", "20060106T150000Z")), false, "overridden slot is gone");
    assert.equal(match(EVENT, tr("VEVENT", "20060106T180000Z", "20060106T181000Z")), true, "override's own time");
    assert.equal(match(EVENT, tr("VEVENT", "20060109T000000Z", "20060110T000000Z")), false, "after COUNT=5");
    assert.equal(match(EVENT, `<C:comp-filter name="VTODO"/>`), false);
    assert.equal(match(EVENT, `<C:comp-filter name="VEVENT"/>`), true);
  });

  test("prop-filter inside a time-ranged comp-filter applies to the instance's component", () => {
    const summary = (v: string) => `<C:prop-filter name="SUMMARY"><C:text-match match-type="equals">${v}</C:text-match></C:prop-filter>`;
    assert.equal(match(EVENT, tr("VEVENT", "20060106T000000Z", "20060107T000000Z", summary("event #2 bis"))), true);
    assert.equal(match(EVENT, tr("VEVENT", "20060106T000000Z", "20060107T000000Z", summary("Event #2"))), false);
  });

  test("zero-duration and all-day rules of the 9.9 table", () => {
    const zero = cal("BEGIN:VEVENT\nUID:z\nDTSTAMP:20060101T000000Z\nDTSTART:20060104T140000Z\nEND:VEVENT");
    assert.equal(match(zero, tr("VEVENT", "20060104T140000Z", "20060104T150000Z")), true, "start <= DTSTART");
    assert.equal(match(zero, tr("VEVENT", "20060104T130000Z", "20060104T140000Z")), false, "end > DTSTART");
    const allday = cal("BEGIN:VEVENT\nUID:a\nDTSTAMP:20060101T000000Z\nDTSTART;VALUE=DATE:20060104\nEND:VEVENT");
    assert.equal(match(allday, tr("VEVENT", "20060104T230000Z", "20060105T000000Z")), true);
    assert.equal(match(allday, tr("VEVENT", "20060104T230000Z", "20060105T000000Z"), { floatingZone: "Asia/Tokyo", maxInstances: 10 }), false, "DATE is floating: Tokyo day ends 15:00Z");
  });
});

describe("time-range on VTODO (RFC 4791 9.9 table rows)", () => {
  const todo = (p: string) => cal(`BEGIN:VTODO\nUID:t\nDTSTAMP:20060101T000000Z\n${p}\nEND:VTODO`);
  const R = (s: string, e: string) => tr("VTODO", s, e);
  test("DTSTART+DURATION", () => {
    const t = todo("DTSTART:20060104T100000Z\nDURATION:PT2H");
    assert.equal(match(t, R("20060104T120000Z", "20060104T130000Z")), true, "start <= DTSTART+DURATION");
    assert.equal(match(t, R("20060104T120001Z", "20060104T130000Z")), false);
    assert.equal(match(t, R("20060104T080000Z", "20060104T100000Z")), false, "end > DTSTART fails, end >= DTSTART+DURATION fails");
  });
  test("DTSTART+DUE", () => {
    const t = todo("DTSTART:20060104T100000Z\nDUE:20060104T120000Z");
    assert.equal(match(t, R("20060104T110000Z", "20060104T113000Z")), true);
    assert.equal(match(t, R("20060104T120000Z", "20060104T130000Z")), false);
  });
  test("DTSTART only, DUE only, COMPLETED/CREATED, nothing", () => {
    assert.equal(match(todo("DTSTART:20060104T100000Z"), R("20060104T100000Z", "20060104T100001Z")), true);
    assert.equal(match(todo("DTSTART:20060104T100000Z"), R("20060104T090000Z", "20060104T100000Z")), false);
    assert.equal(match(todo("DUE:20060104T100000Z"), R("20060104T090000Z", "20060104T100000Z")), true, "end >= DUE");
    assert.equal(match(todo("DUE:20060104T100000Z"), R("20060104T100000Z", "20060104T110000Z")), false, "start < DUE");
    assert.equal(match(todo("COMPLETED:20060104T100000Z\nCREATED:20060101T000000Z"), R("20060102T000000Z", "20060103T000000Z")), true);
    assert.equal(match(todo("COMPLETED:20060104T100000Z"), R("20060104T100000Z", "20060104T100000Z".replace("100000", "100001"))), true);
    assert.equal(match(todo("CREATED:20060104T100000Z"), R("20060104T090000Z", "20060104T100000Z")), false, "end > CREATED");
    assert.equal(match(todo("SUMMARY:x"), R("19000101T000000Z", "19000102T000000Z")), true, "no dates: TRUE");
  });
  test("uncompleted tasks (is-not-defined, RFC 4791 7.8.9)", () => {
    const f = `<C:comp-filter name="VTODO"><C:prop-filter name="COMPLETED"><C:is-not-defined/></C:prop-filter><C:prop-filter name="STATUS"><C:text-match negate-condition="yes">CANCELLED</C:text-match></C:prop-filter></C:comp-filter>`;
    assert.equal(match(todo("STATUS:NEEDS-ACTION"), f), true);
    assert.equal(match(todo("STATUS:NEEDS-ACTION\nCOMPLETED:20060101T000000Z"), f), false);
    assert.equal(match(todo("STATUS:CANCELLED"), f), false);
  });
});

describe("VALARM, text-match, param-filter, prop time-range", () => {
  test("alarm time-range across recurrence instances (RFC 4791 7.8.5 style)", () => {
    const alarm = (s: string, e: string) => `<C:comp-filter name="VEVENT"><C:comp-filter name="VALARM"><C:time-range start="${s}" end="${e}"/></C:comp-filter></C:comp-filter>`;
    assert.equal(match(EVENT, alarm("20060104T134500Z", "20060104T135000Z")), true, "first alarm at 13:45");
    assert.equal(match(EVENT, alarm("20060108T134500Z", "20060108T134600Z")), true, "fifth instance's alarm");
    assert.equal(match(EVENT, alarm("20060104T140000Z", "20060104T150000Z")), false);
    assert.equal(match(EVENT, alarm("20060106T134500Z", "20060106T134600Z")), false, "override has no alarm");
  });

  test("ATTENDEE text-match with PARTSTAT param-filter (RFC 4791 7.8.7)", () => {
    const f = (who: string, ps: string) => `<C:comp-filter name="VEVENT"><C:prop-filter name="ATTENDEE"><C:text-match collation="i;ascii-casemap">${who}</C:text-match><C:param-filter name="PARTSTAT"><C:text-match collation="i;ascii-casemap">${ps}</C:text-match></C:param-filter></C:prop-filter></C:comp-filter>`;
    assert.equal(match(EVENT, f("mailto:LISA@example.com", "NEEDS-ACTION")), true);
    assert.equal(match(EVENT, f("mailto:lisa@example.com", "ACCEPTED")), false);
    assert.equal(match(EVENT, f("cyrus", "accepted")), true);
  });

  test("collations, match types and negation", () => {
    const f = (attrs: string, v: string) => `<C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY"><C:text-match ${attrs}>${v}</C:text-match></C:prop-filter></C:comp-filter>`;
    assert.equal(match(EVENT, f('collation="i;octet"', "event")), false);
    assert.equal(match(EVENT, f('collation="i;octet"', "Event")), true);
    assert.equal(match(EVENT, f('match-type="starts-with"', "EVENT")), true);
    assert.equal(match(EVENT, f('match-type="ends-with"', "#3")), false);
    assert.equal(match(EVENT, f('negate-condition="yes"', "meeting")), true);
    assert.equal(match(EVENT, f('negate-condition="yes"', "event")), false);
    assert.equal(match(cal("BEGIN:VEVENT\nUID:x\nDTSTART:20060101T000000Z\nSUMMARY:Café\nEND:VEVENT"), f('collation="i;unicode-casemap"', "CAFÉ")), true);
  });

  test("prop-filter time-range on DTSTAMP and is-not-defined on a component", () => {
    const f = (s: string, e: string) => `<C:comp-filter name="VEVENT"><C:prop-filter name="DTSTAMP"><C:time-range start="${s}" end="${e}"/></C:prop-filter></C:comp-filter>`;
    assert.equal(match(EVENT, f("20060206T000000Z", "20060207T000000Z")), true);
    assert.equal(match(EVENT, f("20060207T000000Z", "20060208T000000Z")), false);
    assert.equal(match(EVENT, `<C:comp-filter name="VTODO"><C:is-not-defined/></C:comp-filter>`), true);
  });
});

describe("filter parsing errors and prefilter", () => {
  const err = (xml: string, status: number, condition: string) =>
    assert.throws(() => parseFilter(parseXml(xml)), (e: unknown) => e instanceof DavError && e.status === status && e.condition === condition);
  test("non-UTC time-range, bad collation, wrong top-level", () => {
    err(`<C:filter ${NS}><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20060104T000000"/></C:comp-filter></C:comp-filter></C:filter>`, 403, Conditions.validFilter);
    err(`<C:filter ${NS}><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY"><C:text-match collation="i;klingon">x</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter></C:filter>`, 403, SUPPORTED_COLLATION);
    err(`<C:filter ${NS}><C:comp-filter name="VEVENT"/></C:filter>`, 403, Conditions.validFilter);
    err(`<C:filter ${NS}><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20060105T000000Z" end="20060104T000000Z"/></C:comp-filter></C:comp-filter></C:filter>`, 403, Conditions.validFilter);
  });
  test("prefilter", () => {
    assert.deepEqual(prefilter(filter("")), { component: null, range: null, exact: true });
    assert.deepEqual(prefilter(filter(`<C:comp-filter name="VTODO"/>`)), { component: "VTODO", range: null, exact: true, rangeOnly: false });
    assert.deepEqual(prefilter(filter(tr("VEVENT", "20060104T000000Z", "20060105T000000Z"))), { component: "VEVENT", range: { start: Date.UTC(2006, 0, 4), end: Date.UTC(2006, 0, 5) }, exact: false, rangeOnly: true });
    assert.deepEqual(prefilter(filter(`<C:comp-filter name="VEVENT"><C:prop-filter name="UID"/></C:comp-filter>`)), { component: "VEVENT", range: null, exact: false, rangeOnly: false });
  });
});

describe("calendar-data", () => {
  const req = (inner: string, attrs = "") => parseCalendarDataRequest(parseXml(`<C:calendar-data ${NS} ${attrs}>${inner}</C:calendar-data>`));
  test("novalue keeps the property without its value", () => {
    const spec = req(`<C:comp name="VCALENDAR"><C:comp name="VEVENT"><C:prop name="UID"/><C:prop name="ORGANIZER" novalue="yes"/></C:comp></C:comp>`);
    const out = renderCalendarData(parseCalendarObject(EVENT), spec, OPTS);
    assert.match(out, /BEGIN:VEVENT\r\nUID:e1\r\nORGANIZER:\r\nEND:VEVENT/);
  });
  test("fast path returns the stored text", () => {
    const obj = parseCalendarObject(EVENT);
    assert.equal(renderCalendarData(obj, req(""), OPTS), obj.text);
  });
  test("unsupported content type is 403 supported-calendar-data", () => {
    assert.throws(() => req("", 'content-type="application/calendar+json"'), (e: unknown) => e instanceof DavError && e.status === 403 && e.condition === Conditions.supportedCalendarData);
  });
  test("comp/prop selection with novalue, and expand", () => {
    const spec = req(`<C:comp name="VCALENDAR"><C:prop name="VERSION"/><C:comp name="VEVENT"><C:prop name="SUMMARY"/><C:prop name="UID"/><C:prop name="DESCRIPTION" novalue="yes"/><C:prop name="RECURRENCE-ID"/><C:prop name="DTSTART"/></C:comp></C:comp><C:expand start="20060105T000000Z" end="20060107T000000Z"/>`);
    const out = renderCalendarData(parseCalendarObject(EVENT), spec, OPTS);
    assert.equal(out, [
      "BEGIN:VCALENDAR", "VERSION:2.0",
      "BEGIN:VEVENT", "UID:e1", "DTSTART:20060105T140000Z", "SUMMARY:Event #2", "RECURRENCE-ID:20060105T140000Z", "END:VEVENT",
      "BEGIN:VEVENT", "UID:e1", "RECURRENCE-ID:20060106T140000Z", "DTSTART:20060106T180000Z", "SUMMARY:Event #2 bis", "END:VEVENT",
      "END:VCALENDAR", "",
    ].join("\r\n"));
  });
});
