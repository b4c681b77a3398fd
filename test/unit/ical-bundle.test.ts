/** Splitting whole-calendar files by UID (import) and joining objects into one calendar (export). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bundleCalendar, splitCalendar } from "../../src/ical/bundle.ts";
import { splitForImport } from "../../src/ical/import-split.ts";

const tz = (id: string) => [`BEGIN:VTIMEZONE`, `TZID:${id}`, `BEGIN:STANDARD`, `DTSTART:19700101T000000`, `TZOFFSETFROM:+0100`, `TZOFFSETTO:+0100`, `END:STANDARD`, `END:VTIMEZONE`];
const ev = (uid: string | null, extra: string[] = []) => [`BEGIN:VEVENT`, ...(uid ? [`UID:${uid}`] : []), `DTSTAMP:20260101T000000Z`, ...extra, `END:VEVENT`];
const file = (...parts: string[][]) => ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "METHOD:PUBLISH", ...parts.flat(), "END:VCALENDAR", ""].join("\r\n");

describe("splitForImport", () => {
  test("one object per UID, overrides with their master, only the VTIMEZONEs each uses", () => {
    const text = file(tz("Europe/Berlin"), tz("America/New_York"),
      ev("a", ["DTSTART;TZID=Europe/Berlin:20260105T090000", "RRULE:FREQ=DAILY", "SUMMARY:Stand-up"]),
      ev("b", ["DTSTART:20260105T090000Z", "SUMMARY:Lunch"]),
      ev("a", ["RECURRENCE-ID;TZID=Europe/Berlin:20260106T090000", "DTSTART;TZID=Europe/Berlin:20260106T100000", "SUMMARY:Stand-up (late)"]));
    const { objects, setAside } = splitForImport(text);
    assert.deepEqual(setAside, []);
    assert.deepEqual(objects.map((o) => [o.uid, o.count]), [["a", 2], ["b", 1]]);
    const a = splitCalendar(objects[0]!.ics);
    assert.deepEqual(a.components.map((c) => c.name), ["VTIMEZONE", "VEVENT", "VEVENT"]);
    assert.equal(a.components[0]!.tzid, "Europe/Berlin");
    assert.ok(!a.props.some((p) => p.startsWith("METHOD")), "METHOD (an iTIP word) is not stored");
    assert.deepEqual(splitCalendar(objects[1]!.ics).components.map((c) => c.name), ["VEVENT"]);
  });

  test("sets aside what cannot be an object, with the reason", () => {
    const text = "junk before\r\n" + file(ev(null, ["SUMMARY:Nameless"]), ["BEGIN:VFREEBUSY", "UID:f", "END:VFREEBUSY"], ev("x"), ["BEGIN:VTODO", "UID:x", "END:VTODO"]);
    const { objects, setAside } = splitForImport(text);
    assert.deepEqual(objects, []);
    assert.deepEqual(setAside.map((s) => s.what), ["file", 'VEVENT "Nameless"', "VFREEBUSY (UID f)", "UID x"]);
    assert.match(setAside[0]!.reason, /line 1: text outside BEGIN:VCALENDAR/);
    assert.match(setAside[1]!.reason, /no UID/);
    assert.match(setAside[2]!.reason, /VFREEBUSY is not stored in calendars/);
    assert.match(setAside[3]!.reason, /different types \(VEVENT, VTODO\)/);
  });

  test("folded lines stay with their property; a folded UID is unfolded", () => {
    const { objects } = splitForImport(file(["BEGIN:VEVENT", "UID:long-", " uid", "SUMMARY:a very", "  long title", "END:VEVENT"]));
    assert.equal(objects[0]!.uid, "long-uid");
    assert.match(objects[0]!.ics, /SUMMARY:a very\r\n  long title\r\n/);
  });
});

describe("bundleCalendar", () => {
  test("each VTIMEZONE once, every other component in order, the display name escaped", () => {
    const out = bundleCalendar([file(tz("Europe/Berlin"), ev("a")), file(tz("Europe/Berlin"), ev("b")), file(tz("America/New_York"), ev("c"))], { displayname: "Work, home; misc" });
    const cal = splitCalendar(out);
    assert.deepEqual(cal.components.map((c) => c.name + (c.tzid ?? c.uid ?? "")), ["VTIMEZONEEurope/Berlin", "VTIMEZONEAmerica/New_York", "VEVENTa", "VEVENTb", "VEVENTc"]);
    assert.ok(cal.props.includes("X-WR-CALNAME:Work\\, home\\; misc"));
    assert.ok(out.startsWith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") && out.endsWith("END:VCALENDAR\r\n"));
  });

  test("an empty calendar is still a valid VCALENDAR", () => {
    assert.equal(bundleCalendar([], { displayname: null }), "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calgate//calendar export//EN\r\nCALSCALE:GREGORIAN\r\nEND:VCALENDAR\r\n");
  });
});
