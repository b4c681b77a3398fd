/** The real-world corpus: valid files parse; every malformed file follows the NORMALISATION.md decision table. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Conditions, fromIcalError } from "../../src/dav/errors.ts";
import { IcalError, decodeCalendarBytes, parseCalendarObject, type CalendarObject } from "../../src/ical/parse.ts";
import { occurrenceBounds } from "../../src/ical/bounds.ts";
import { instancesInRange } from "../../src/ical/expand.ts";
import { CORPUS_ICS_DIR } from "../helpers/fixtures.ts";

const rows = readFileSync(join(CORPUS_ICS_DIR, "INDEX.tsv"), "utf8").trim().split("\n").slice(1).map((l) => l.split("\t") as [string, string, string, string, string]);

const VALID = Conditions.validCalendarData;
const OBJECT = Conditions.validCalendarObject;
/** Rejections: file → [condition, what the message must say]. Everything else is accepted. */
const REJECT: Record<string, [string, RegExp]> = {
  // Calendar exports holding several events: valid iCalendar, but not one calendar object resource (RFC 4791 4.1).
  "ha-ical/icloud-caldav-feed.ics": [OBJECT, /two UIDs/],
  "ha-ical/o365-customized-time-zone.ics": [OBJECT, /two UIDs/],
  "ical4j/ical15-yearly-holidays.ics": [OBJECT, /two UIDs/],
  "nextcloud-calendar-js/basel-waste-dtstart-only.ics": [OBJECT, /two UIDs/],
  "ha-ical/o365-new-zealand.ics": [OBJECT, /two UIDs/],
  "kcalendarcore/ical15-vtodo-alarms.ics": [OBJECT, /two UIDs/],
  "khal/ns-rail-ticket-brussels.ics": [OBJECT, /two UIDs/],
  "khal/owncloud-mixed-floating-utc.ics": [OBJECT, /two UIDs/],
  "nextcloud-calendar-js/sabredav-unicode-noncharacter.ics": [OBJECT, /two UIDs/],
  "node-ical/apple-macos11-tentative.ics": [OBJECT, /two UIDs/],
  "node-ical/busycal-bad-rrule.ics": [OBJECT, /two UIDs/],
  "node-ical/exchange-customized-time-zone-1.ics": [OBJECT, /two UIDs/],
  "node-ical/exchange-tzone-microsoft-custom.ics": [OBJECT, /two UIDs/],
  "node-ical/ical1-request-mixed-time-forms.ics": [OBJECT, /two UIDs/],
  "node-ical/ical1-todo-journal-freebusy.ics": [OBJECT, /two UIDs/],
  "node-ical/numeric-tzid.ics": [OBJECT, /two UIDs/],
  "recurring-ical-events/exchange-allday-biweekly-overrides.ics": [OBJECT, /two UIDs/],
  // No UID.
  "icalendar-py/khal-thisandfuture-rdate-period.ics": [OBJECT, /line 5\) has no UID/],
  "icalendar-py/outlook-utc-offset-tzid-nonascii.ics": [OBJECT, /has no UID/],
  "nextcloud-calendar-js/apple-missing-uid.ics": [OBJECT, /line 13\) has no UID/],
  "node-ical/owa-2012-display-name-tzid.ics": [OBJECT, /has no UID/],
  "nylas/meetup-publish.ics": [OBJECT, /has no UID/],
  "thunderbird/import-latin1.ics": [OBJECT, /has no UID/],
  // Structure.
  "nextcloud-calendar-js/apple-multiple-vcalendars.ics": [OBJECT, /line 53: a second VCALENDAR/],
  "icalendar-py/utf8-bom.ics": [OBJECT, /no VEVENT, VTODO, VJOURNAL or VFREEBUSY/],
  "nextcloud-calendar-js/wordpress-mec-date-dtstamp.ics": [VALID, /BEGIN:VCALENDAR at line 1 is never closed/],
  "radicale/broken-vevent-lic-error.ics": [VALID, /BEGIN:VEVENT at line 4 is never closed/],
  // Values the server must compute with.
  "davx5/latin1-encoded.ics": [VALID, /line 7: DTSTART value '20131009T170000T' is not a DATE-TIME/],
  "ical-js/google-birthdays-rdate-override.ics": [VALID, /line 12: RDATE value '20131210Z'/],
  "ical4j/outlook2003-freebusy-bad-date.ics": [VALID, /line 6: DTSTART value '2006717T080000Z'/],
  "node-ical/festival-date-with-time.ics": [VALID, /line 4: DTEND value '20110804T120000' is not a DATE/],
  "icalendar-py/broken-double-semicolon.ics": [VALID, /line 4: cannot parse content line 'DTSTART;;VALUE/],
  "node-ical/exchange-many-windows-zones.ics": [VALID, /line 152: cannot parse content line/],
  "icalendar-py/exchange-cdo-request-gmt-tzid.ics": [VALID, /line 25: .*invalid BYDAY value/],
};

/** Accepted malformed files must say what was tolerated or changed (unless the defect is in data the server never reads). */
const ACCEPTED_WITH_NOTE: Record<string, RegExp> = {
  "cyrus/windows-tzid-no-vtimezone.ics": /TZID 'Eastern Standard Time' has no VTIMEZONE; resolved as America\/New_York/,
  "ha-ical/o365-extended-tz-no-vtimezone.ics": /resolved as Europe\/Berlin/,
  "ha-ical/o365-tzid-undefined-custom.ics": /'Customized Time Zone' has no VTIMEZONE and is unknown; .* floating/,
  "ha-ical/google-until-date-vs-datetime.ics": /UNTIL is a DATE while DTSTART is a DATE-TIME/,
  "ha-ical/google-vtimezone-bad-offset.ics": /EXDATE is a DATE while DTSTART is a DATE-TIME/,
  "ha-ical/calendarlabs-dtend-equals-dtstart.ics": /DTEND equals DTSTART/,
  "ical4j/evolution-windows-tz.ics": /VTIMEZONE 'Arabian Standard Time' has invalid observances/,
  "node-ical/emclient-year-0001-vtimezone.ics": /VTIMEZONE 'W. Europe Standard Time' has invalid observances/,
  "ical4j/nextcloud-yearly-allday-alarms.ics": /TRIGGER '-P1W6DT15H' is not an RFC 5545 duration/,
  "kcalendarcore/connectdaily-hourly-byminute.ics": /removed 2 blank line\(s\)/,
  "kcalendarcore/korganizer-thisandfuture.ics": /RANGE=THISANDFUTURE/,
  "recurring-ical-events/fastmail-two-rrules.ics": /2 RRULEs/,
  "node-ical/windows-display-tzid-no-vtimezone.ics": /'\(UTC-05:00\) Eastern Time \(US and Canada\)' has no VTIMEZONE; resolved as America\/New_York/,
  "davx5/orphan-exception-only.ics": /overrides only/,
  "thunderbird/cancel-repeat-event.ics": /removed METHOD:CANCEL.*VEVENT without DTSTART/,
  "kcalendarcore/kalarm-minutely.ics": /DTSTAMP value '20050522T130601' is not a UTC date-time/,
  "node-ical/zimbra-freebusy.ics": /VFREEBUSY has no UID; indexed under the synthetic UID/,
};

function load(path: string): string {
  return decodeCalendarBytes(readFileSync(join(CORPUS_ICS_DIR, path))).text;
}

describe("corpus decision table", () => {
  for (const [path, , , features, valid] of rows) {
    test(path, () => {
      const text = load(path);
      const reject = REJECT[path];
      if (reject) {
        assert.throws(() => parseCalendarObject(text), (e: unknown) => {
          assert.ok(e instanceof IcalError, `expected IcalError, got ${String(e)}`);
          assert.equal(fromIcalError(e).condition, reject[0]);
          assert.match(e.message, reject[1]);
          return true;
        });
        return;
      }
      const obj = parseCalendarObject(text);
      assert.ok(obj.uid.length > 0);
      const lf = !text.includes("\r\n");
      if (lf) {
        assert.equal(obj.changed, true, "LF-only input is normalised to CRLF");
        assert.ok(obj.notes.some((n) => /CRLF/.test(n)));
      }
      assert.ok(!/\n/.test(obj.text.replace(/\r\n/g, "")), "served text has CRLF line endings only");
      if (features.split(",").includes("itip-publish")) assert.ok(!/^METHOD:/m.test(obj.text), "METHOD is stripped");
      const note = ACCEPTED_WITH_NOTE[path];
      if (note) assert.match(obj.notes.join(" | "), note);
      if (valid === "yes" && !lf && !/METHOD|BOM/i.test(obj.notes.join(" "))) assert.equal(obj.changed, false);
      exercise(obj);
    });
  }
});

function exercise(obj: CalendarObject): void {
  const b = occurrenceBounds(obj);
  const from = b.start ?? Date.UTC(2020, 0, 1);
  const range = { start: from, end: from + 366 * 86_400_000 };
  const inst = instancesInRange(obj, range, { floatingZone: "Europe/Berlin", maxInstances: 10_000 });
  for (const i of inst) {
    if (b.start !== null) assert.ok(i.start >= b.start, "instances start inside bounds");
    if (b.end !== null) assert.ok(i.end <= b.end, "instances end inside bounds");
  }
}

test("valid files only fail for the RFC 4791 one-UID rule", () => {
  for (const [path, , , , valid] of rows) {
    if (valid !== "yes") continue;
    if (REJECT[path]) assert.equal(REJECT[path]![0], OBJECT, path);
  }
});

test("unchanged input is served byte-for-byte (CRLF, no METHOD)", () => {
  const text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:u1\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240101T100000Z\r\nSUMMARY:long line that is folded here and there and everywhere in the file to check t\r\n hat folding is kept as sent\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
  const o = parseCalendarObject(text);
  assert.equal(o.changed, false);
  assert.equal(o.text, text);
  assert.deepEqual(o.notes, []);
});

test("LF, blank lines, BOM and METHOD are normalised with notes", () => {
  const text = "\uFEFFBEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nMETHOD:PUBLISH\n\nBEGIN:VEVENT\nUID:u1\nDTSTAMP:20240101T000000Z\nDTSTART:20240101T100000Z\nEND:VEVENT\nEND:VCALENDAR\n";
  const o = parseCalendarObject(text);
  assert.equal(o.changed, true);
  assert.equal(o.text, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:u1\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
  assert.equal(o.notes.length, 4);
});

test("rule violations name the problem", () => {
  const mk = (body: string) => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n${body}END:VCALENDAR\r\n`;
  const ev = (uid: string, extra = "") => `BEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240101T100000Z\r\n${extra}END:VEVENT\r\n`;
  assert.throws(() => parseCalendarObject(mk(ev("a") + "BEGIN:VTODO\r\nUID:a\r\nEND:VTODO\r\n")), /mixes VEVENT and VTODO/);
  assert.throws(() => parseCalendarObject(mk(ev("a") + ev("a"))), /two VEVENT components with UID 'a' and no RECURRENCE-ID/);
  assert.throws(() => parseCalendarObject(mk(ev("a", "RECURRENCE-ID:20240101T100000Z\r\n") + ev("a", "RECURRENCE-ID:20240101T100000Z\r\n"))), /RECURRENCE-ID/);
  assert.throws(() => parseCalendarObject(mk("BEGIN:VTIMEZONE\r\nTZID:x\r\nEND:VTIMEZONE\r\n")), /no VEVENT/);
  assert.throws(() => parseCalendarObject(mk(ev("a")).replace("DTSTAMP:", "DTSTAMP")), (e: unknown) => e instanceof IcalError && /line 6: cannot parse content line 'DTSTAMP20240101T000000Z'/.test(e.message));
  assert.throws(() => parseCalendarObject(mk(ev("a")), { maxBytes: 10 }), (e: unknown) => e instanceof IcalError && fromIcalError(e).condition === Conditions.maxResourceSize);
  const ok = parseCalendarObject(mk(ev("a") + ev("a", "RECURRENCE-ID:20240102T100000Z\r\n")));
  assert.equal(ok.uid, "a");
  assert.equal(ok.component, "VEVENT");
});
