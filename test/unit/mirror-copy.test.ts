/**
 * The mirror copy (src/sync/mirror-copy.ts): what a busy block and a full copy keep, the deterministic
 * copy UID, which objects a rule copies, and two properties checked on generated events and on every
 * VEVENT of the real-world corpus: a busy copy carries no text of the original, a copy is never
 * copied again, and a copy has exactly the original's instances.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { decodeCalendarBytes, parseCalendarObject, type CalendarObject } from "../../src/ical/parse.ts";
import { occurrenceBounds } from "../../src/ical/bounds.ts";
import { instancesInRange } from "../../src/ical/expand.ts";
import { copyNameFor, copyUidFor, decide, isMirrorCopy, mirrorCopy, MIRROR_UID_SUFFIX, type RuleFilter } from "../../src/sync/mirror-copy.ts";
import { CORPUS_ICS_DIR } from "../helpers/fixtures.ts";
import { runs, SEED } from "../fuzz/arbitraries.ts";

const unfold = (s: string): string => s.replace(/\r?\n[ \t]/g, "");
const spec = (obj: CalendarObject, mode: "busy" | "full", busyText = "Busy") => ({ mode, busyText, uid: copyUidFor("alice/icloud-family", obj.uid), origin: `work/primary/${obj.uid}` });
const BUSY: RuleFilter = { mode: "busy", includeFree: false, window: null };
const FULL: RuleFilter = { mode: "full", includeFree: true, window: null };

const MEETING = [
  "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "X-WR-TIMEZONE:Europe/Berlin",
  "BEGIN:VTIMEZONE", "TZID:Europe/Berlin", "BEGIN:STANDARD", "DTSTART:19701025T030000", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "END:STANDARD", "END:VTIMEZONE",
  "BEGIN:VEVENT", "UID:board-1@example.com", "DTSTAMP:20260101T000000Z", "DTSTART;TZID=Europe/Berlin;X-NOTE=secret-param:20261201T100000", "DTEND;TZID=Europe/Berlin:20261201T110000",
  "RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE;TZID=Europe/Berlin:20261208T100000", "SUMMARY;LANGUAGE=en:Board meeting", "DESCRIPTION:Quarterly numbers", "LOCATION:Room 4",
  "ATTENDEE;CN=Bob:mailto:bob@example.com", "ORGANIZER;CN=Ann:mailto:ann@example.com", "URL:https://meet.example.com/x", "CONFERENCE;VALUE=URI:https://meet.example.com/x",
  "CATEGORIES:Board", "COMMENT:bring slides", "CONTACT:Ann", "ATTACH:https://files.example.com/deck.pdf", "X-EXTRA:private thing", "CLASS:PUBLIC", "TRANSP:OPAQUE",
  "BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Board soon", "TRIGGER:-PT10M", "END:VALARM", "END:VEVENT",
  "BEGIN:VEVENT", "UID:board-1@example.com", "DTSTAMP:20260101T000000Z", "RECURRENCE-ID;TZID=Europe/Berlin:20261215T100000", "DTSTART;TZID=Europe/Berlin:20261215T140000",
  "DTEND;TZID=Europe/Berlin:20261215T150000", "SUMMARY:Board meeting (moved)", "LOCATION:Room 9", "TRANSP:TRANSPARENT", "END:VEVENT",
  "END:VCALENDAR", "",
].join("\r\n");
const SECRETS = ["Board", "Quarterly", "Room", "bob@", "ann@", "meet.example", "slides", "deck.pdf", "private thing", "secret-param", "Ann"];

function instances(obj: CalendarObject): string[] {
  return instancesInRange(obj, { start: Date.UTC(1970, 0, 1), end: Date.UTC(2040, 0, 1) }, { floatingZone: null, maxInstances: 3000 }).map((i) => `${i.start}-${i.end}`);
}

describe("a busy block", () => {
  const orig = parseCalendarObject(MEETING);
  const text = mirrorCopy(orig, spec(orig, "busy", "Blocked"));
  const copy = parseCalendarObject(text);

  test("keeps times, recurrence, exceptions, overrides, transparency and time zones; nothing else", () => {
    assert.deepEqual(instances(copy), instances(orig));
    const u = unfold(text);
    assert.match(u, /^RRULE:FREQ=WEEKLY;COUNT=4$/m);
    assert.match(u, /^EXDATE;TZID=Europe\/Berlin:20261208T100000$/m);
    assert.match(u, /^RECURRENCE-ID;TZID=Europe\/Berlin:20261215T100000$/m);
    assert.match(u, /^TRANSP:TRANSPARENT$/m, "the override stays free");
    assert.match(u, /^BEGIN:VTIMEZONE$/m);
    assert.match(u, /^X-WR-TIMEZONE:Europe\/Berlin$/m);
    assert.equal([...u.matchAll(/^SUMMARY:Blocked$/gm)].length, 2, "master and override are titled with busyText");
    assert.equal([...u.matchAll(/^CLASS:PRIVATE$/gm)].length, 2);
    for (const gone of ["DESCRIPTION", "LOCATION", "ATTENDEE", "ORGANIZER", "URL", "CONFERENCE", "CATEGORIES", "COMMENT", "CONTACT", "ATTACH", "X-EXTRA", "BEGIN:VALARM"]) {
      assert.doesNotMatch(u, new RegExp(`^${gone}[;:]`, "m"), `${gone} is not in a busy block`);
    }
    for (const s of SECRETS) assert.ok(!u.includes(s), `"${s}" of the original leaks into the busy block:\n${u}`);
  });

  test("has the derived UID and X-CALGATE-MIRROR-OF, so it is a copy", () => {
    assert.equal(copy.uid, copyUidFor("alice/icloud-family", "board-1@example.com"));
    assert.ok(copy.uid.endsWith(MIRROR_UID_SUFFIX));
    assert.match(unfold(text), /^X-CALGATE-MIRROR-OF:work\/primary\/board-1@example.com$/m);
    assert.equal(isMirrorCopy(copy), true);
    assert.equal(isMirrorCopy(orig), false);
    assert.deepEqual(decide(copy, { start: null, end: null }, BUSY), { kind: "ignore", reason: "is-a-copy" });
  });

  test("is the same text every time (deterministic: no stamps of its own)", () => {
    assert.equal(mirrorCopy(orig, spec(orig, "busy", "Blocked")), text);
  });
});

describe("a full copy", () => {
  const orig = parseCalendarObject(MEETING);
  const text = unfold(mirrorCopy(orig, spec(orig, "full")));
  test("keeps the event's details; leaves out attendees, organizer and alarms; is marked a copy", () => {
    for (const kept of ["SUMMARY;LANGUAGE=en:Board meeting", "DESCRIPTION:Quarterly numbers", "LOCATION:Room 4", "URL:https://meet.example.com/x", "CATEGORIES:Board", "CLASS:PUBLIC", "SUMMARY:Board meeting (moved)"]) {
      assert.ok(text.includes(kept), `${kept} is kept in a full copy`);
    }
    for (const gone of ["ATTENDEE", "ORGANIZER", "BEGIN:VALARM"]) assert.doesNotMatch(text, new RegExp(`^${gone}[;:]`, "m"));
    const copy = parseCalendarObject(text);
    assert.deepEqual(instances(copy), instances(orig));
    assert.equal(isMirrorCopy(copy), true);
  });
});

describe("which objects a rule copies", () => {
  const ev = (lines: string[], comp = "VEVENT"): CalendarObject =>
    parseCalendarObject(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", `BEGIN:${comp}`, "UID:x-1", "DTSTAMP:20260101T000000Z", "DTSTART:20261201T100000Z", ...(comp === "VEVENT" ? ["DTEND:20261201T110000Z"] : []), ...lines, `END:${comp}`, "END:VCALENDAR", ""].join("\r\n"));
  const b = { start: Date.UTC(2026, 11, 1, 10), end: Date.UTC(2026, 11, 1, 11) };
  test("busy: opaque events yes; free, cancelled, tasks and copies no", () => {
    assert.deepEqual(decide(ev([]), b, BUSY), { kind: "copy" });
    assert.deepEqual(decide(ev(["TRANSP:TRANSPARENT"]), b, BUSY), { kind: "drop", reason: "free" });
    assert.deepEqual(decide(ev(["TRANSP:TRANSPARENT"]), b, { ...BUSY, includeFree: true }), { kind: "copy" });
    assert.deepEqual(decide(ev(["STATUS:CANCELLED"]), b, BUSY), { kind: "drop", reason: "cancelled" });
    assert.deepEqual(decide(ev([], "VTODO"), b, BUSY), { kind: "drop", reason: "not-an-event" });
    assert.deepEqual(decide(ev(["X-CALGATE-MIRROR-OF:home/personal/x-1"]), b, FULL), { kind: "ignore", reason: "is-a-copy" });
  });
  test("full: free events yes (by default), cancelled ones too (the copy says cancelled)", () => {
    assert.deepEqual(decide(ev(["TRANSP:TRANSPARENT"]), b, FULL), { kind: "copy" });
    assert.deepEqual(decide(ev(["STATUS:CANCELLED"]), b, FULL), { kind: "copy" });
  });
  test("the window: events reaching into it are copied, others not; unbounded series always reach it", () => {
    const now = Date.UTC(2026, 11, 1);
    const w: RuleFilter = { ...BUSY, window: { start: now - 90 * 86_400_000, end: now + 365 * 86_400_000 } };
    assert.deepEqual(decide(ev([]), b, w), { kind: "copy" });
    assert.deepEqual(decide(ev([]), { start: Date.UTC(2028, 0, 1), end: Date.UTC(2028, 0, 1, 1) }, w), { kind: "drop", reason: "outside-window" });
    assert.deepEqual(decide(ev([]), { start: Date.UTC(2025, 0, 1), end: Date.UTC(2025, 0, 1, 1) }, w), { kind: "drop", reason: "outside-window" });
    assert.deepEqual(decide(ev([]), { start: Date.UTC(2020, 0, 1), end: null }, w), { kind: "copy" });
  });
  test("the copy UID depends on the target calendar and the original UID only; names follow it", () => {
    assert.equal(copyUidFor("alice/a", "u1"), copyUidFor("alice/a", "u1"));
    assert.notEqual(copyUidFor("alice/a", "u1"), copyUidFor("alice/b", "u1"));
    assert.notEqual(copyUidFor("alice/a", "u1"), copyUidFor("alice/a", "u2"));
    assert.match(copyNameFor(copyUidFor("alice/a", "u1")), /^[0-9a-f]{32}\.ics$/);
  });
});

// --- properties -----------------------------------------------------------------------------------

const token = fc.stringMatching(/^[a-z]{6,10}$/).map((s) => `LEAK${s}`);
const stamp = fc.record({ d: fc.integer({ min: 1, max: 28 }), h: fc.integer({ min: 0, max: 22 }) }).map(({ d, h }) => `202612${String(d).padStart(2, "0")}T${String(h).padStart(2, "0")}0000`);
const event = fc.record({
  uid: fc.uuid(),
  tz: fc.constantFrom("", ";TZID=Europe/Berlin"),
  start: stamp,
  rrule: fc.option(fc.constantFrom("FREQ=DAILY;COUNT=5", "FREQ=WEEKLY;COUNT=3", "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=6")),
  transp: fc.constantFrom("OPAQUE", "TRANSPARENT", null),
  texts: fc.array(fc.tuple(fc.constantFrom("SUMMARY", "DESCRIPTION", "LOCATION", "COMMENT", "CONTACT", "X-NOTES", "SUMMARY;LANGUAGE=de", "URL"), token), { maxLength: 6 }),
  attendees: fc.array(token, { maxLength: 3 }),
  alarm: fc.option(token),
  paramLeak: fc.option(token),
  override: fc.option(fc.tuple(fc.integer({ min: 1, max: 2 }), token)),
});
type Ev = typeof event extends fc.Arbitrary<infer T> ? T : never;
function eventText(e: Ev): { ics: string; secrets: string[] } {
  const tz = e.tz ? ["BEGIN:VTIMEZONE", "TZID:Europe/Berlin", "BEGIN:STANDARD", "DTSTART:19701025T030000", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "END:STANDARD", "END:VTIMEZONE"] : [];
  const z = e.tz ? "" : "Z";
  const master = ["BEGIN:VEVENT", `UID:${e.uid}`, "DTSTAMP:20260101T000000Z", `DTSTART${e.tz}${e.paramLeak ? `;X-P=${e.paramLeak}` : ""}:${e.start}${z}`, "DURATION:PT1H",
    ...(e.rrule ? [`RRULE:${e.rrule}`] : []), ...(e.transp ? [`TRANSP:${e.transp}`] : []), ...e.texts.map(([k, v]) => `${k}:${v}`),
    ...e.attendees.map((a) => `ATTENDEE;CN=${a}:mailto:${a}@example.com`), ...(e.attendees.length ? [`ORGANIZER;CN=${e.attendees[0]}:mailto:o${e.attendees[0]}@example.com`] : []),
    ...(e.alarm ? ["BEGIN:VALARM", "ACTION:DISPLAY", `DESCRIPTION:${e.alarm}`, "TRIGGER:-PT5M", "END:VALARM"] : []), "END:VEVENT"];
  const rid = e.start.slice(0, 6) + String(Number(e.start.slice(6, 8)) + (e.override?.[0] ?? 0)).padStart(2, "0") + e.start.slice(8);
  const override = e.rrule && e.override ? ["BEGIN:VEVENT", `UID:${e.uid}`, "DTSTAMP:20260101T000000Z", `RECURRENCE-ID${e.tz}:${rid}${z}`, `DTSTART${e.tz}:${rid}${z}`, "DURATION:PT2H", `SUMMARY:${e.override[1]}`, "END:VEVENT"] : [];
  const secrets = [...e.texts.map(([, v]) => v), ...e.attendees, ...(e.alarm ? [e.alarm] : []), ...(e.paramLeak ? [e.paramLeak] : []), ...(override.length ? [e.override![1]] : [])];
  return { ics: ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//prop//EN", ...tz, ...master, ...override, "END:VCALENDAR", ""].join("\r\n"), secrets };
}

describe("properties of generated events", () => {
  test("a busy copy carries no text of the original; a copy (busy or full) of anything is never copied again; instances are kept", () => {
    fc.assert(
      fc.property(event, fc.constantFrom("busy", "full" as const), fc.constantFrom(BUSY, FULL, { ...BUSY, includeFree: true }), (e, mode, filter) => {
        const { ics, secrets } = eventText(e);
        const orig = parseCalendarObject(ics);
        const text = mirrorCopy(orig, spec(orig, mode as "busy" | "full"));
        const copy = parseCalendarObject(text);
        if (mode === "busy") for (const s of secrets) assert.ok(!unfold(text).includes(s), `busy copy leaks "${s}":\n${text}`);
        assert.deepEqual(decide(copy, occurrenceBounds(copy), filter), { kind: "ignore", reason: "is-a-copy" });
        // A copy of a copy is never produced: whatever copied it again would first have to decide "copy".
        assert.equal(isMirrorCopy(copy), true);
        assert.deepEqual(instances(copy), instances(orig));
        assert.equal(mirrorCopy(orig, spec(orig, mode as "busy" | "full")), text, "deterministic");
      }),
      { numRuns: runs(200), ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
  });
});

// --- the corpus -----------------------------------------------------------------------------------

describe("every VEVENT of the real-world corpus", () => {
  const rows = readFileSync(join(CORPUS_ICS_DIR, "INDEX.tsv"), "utf8").trim().split("\n").slice(1).map((l) => l.split("\t")[0]!);
  const events: [string, CalendarObject][] = [];
  for (const path of rows) {
    try {
      const obj = parseCalendarObject(decodeCalendarBytes(readFileSync(join(CORPUS_ICS_DIR, path))).text);
      if (obj.component === "VEVENT") events.push([path, obj]);
    } catch {
      /* rejected files are ical-corpus.test.ts's subject */
    }
  }
  test(`copies round-trip: they parse, keep every instance, and a busy block keeps only what it may (${events.length} files)`, () => {
    assert.ok(events.length >= 60, `expected the corpus to hold at least 60 VEVENT objects, found ${events.length}`);
    const ALLOWED = new Set(["UID", "DTSTAMP", "DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "EXRULE", "RECURRENCE-ID", "TRANSP", "STATUS", "SEQUENCE", "CREATED", "LAST-MODIFIED", "SUMMARY", "CLASS", "X-CALGATE-MIRROR-OF"]);
    let compared = 0;
    for (const [path, orig] of events) {
      for (const mode of ["busy", "full"] as const) {
        const text = mirrorCopy(orig, spec(orig, mode));
        const copy = parseCalendarObject(text);
        assert.equal(isMirrorCopy(copy), true, path);
        assert.deepEqual(occurrenceBounds(copy), occurrenceBounds(orig), `${path} (${mode}): occurrence span`);
        try {
          assert.deepEqual(instances(copy), instances(orig), `${path} (${mode}): instances`);
          compared++;
        } catch (e) {
          if ((e as Error).name !== "ExpansionLimit") throw e;
        }
        if (mode === "busy") {
          for (const ev of copy.root.getAllSubcomponents("vevent")) {
            assert.deepEqual(ev.getAllSubcomponents(), [], `${path}: a busy block has no VALARM`);
            for (const p of ev.getAllProperties()) assert.ok(ALLOWED.has(p.name.toUpperCase()), `${path}: busy block has ${p.name}`);
            assert.equal(ev.getFirstPropertyValue("summary"), "Busy");
          }
        }
      }
    }
    assert.ok(compared > events.length, `instances compared for most files (${compared} of ${events.length * 2})`);
  });
});
