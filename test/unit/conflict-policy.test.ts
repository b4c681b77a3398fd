/** resolveConflict under every policy, for each scenario of issue 11 (deliverable 2). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { IcalError } from "../../src/ical/errors.ts";
import { resolveConflict, sameContent, type ConflictOutcome } from "../../src/sync/conflict.ts";
import { componentKey, normProp, parseModel, type Comp } from "../../src/ical/merge-model.ts";
import { parseCalendarObject } from "../../src/ical/parse.ts";

// The object builders of ical-merge.test.ts (a test file imports no other test file: its tests would run twice).
const BERLIN = ["BEGIN:VTIMEZONE", "TZID:Europe/Berlin", "BEGIN:STANDARD", "DTSTART:19701025T030000", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "END:STANDARD", "BEGIN:DAYLIGHT", "DTSTART:19700329T020000", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "END:DAYLIGHT", "END:VTIMEZONE"];

/** A calendar with the given components (each a list of lines without BEGIN/END) of type `type`. */
function cal(comps: string[][], type = "VEVENT", tz = true): string {
  const body = comps.flatMap((c) => [`BEGIN:${type}`, ...c, `END:${type}`]);
  return ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//merge//EN", ...(tz ? BERLIN : []), ...body, "END:VCALENDAR", ""].join("\r\n");
}

/** A master event; `set` replaces or adds lines by property name (undefined value: removes it). */
function master(set: Record<string, string | undefined> = {}, extra: string[] = []): string[] {
  const base: Record<string, string | undefined> = {
    UID: "UID:ev1@example.com",
    DTSTAMP: "DTSTAMP:20260101T000000Z",
    "LAST-MODIFIED": "LAST-MODIFIED:20260101T000000Z",
    SEQUENCE: "SEQUENCE:0",
    DTSTART: "DTSTART;TZID=Europe/Berlin:20260105T100000",
    DTEND: "DTEND;TZID=Europe/Berlin:20260105T110000",
    RRULE: "RRULE:FREQ=DAILY;COUNT=10",
    SUMMARY: "SUMMARY:Standup",
    LOCATION: "LOCATION:Room 1",
  };
  for (const [k, v] of Object.entries(set)) base[k] = v === undefined ? undefined : `${k}${v.startsWith(";") ? "" : ":"}${v}`;
  return [...Object.values(base).filter((v): v is string => v !== undefined), ...extra];
}


/** The main components of a result by key ("" master, else the RECURRENCE-ID instant). */
function comps(ics: string): Map<string, Comp> {
  const root = parseCalendarObject(ics).root;
  return new Map(parseModel(ics).subs.filter((c) => c.name.startsWith("V") && c.name !== "VTIMEZONE").map((c) => [componentKey(c, root), c]));
}
/** Values of a property in a component of the result. */
function values(ics: string, name: string, key = ""): string[] {
  const c = comps(ics).get(key);
  assert.ok(c, `no component ${key || "master"}`);
  return c.props.filter((p) => p.name === name).map((p) => (name === "ATTENDEE" ? normProp(p) : p.value));
}

type Policy = Parameters<typeof resolveConflict>[0];
const POLICIES: readonly Policy[] = ["merge", "upstream-wins", "client-wins", "newest-wins"];
const lm = (day: number): Record<string, string> => ({ "LAST-MODIFIED": `202601${String(day).padStart(2, "0")}T120000Z` });
const base = cal([master()]);
const title = cal([master({ ...lm(2), SUMMARY: "Daily standup" })]);
const time = cal([master({ ...lm(3), DTSTART: ";TZID=Europe/Berlin:20260105T093000" })]);
const override = cal([master(lm(2)), [...master({ ...lm(2), RRULE: undefined, SUMMARY: "Moved" }).filter((l) => !l.startsWith("RRULE")), "RECURRENCE-ID;TZID=Europe/Berlin:20260107T100000"]]);
const series = cal([master({ ...lm(3), SUMMARY: "Team standup" })]);

interface Expect {
  readonly outcome: ConflictOutcome;
  /** The expected content: a version, null (deleted), or a check of the merged text. */
  readonly ics: string | null | ((ics: string) => void);
  readonly clashes?: number;
}
interface Scenario {
  readonly name: string;
  readonly base: string | null;
  readonly ours: string | null;
  readonly theirs: string | null;
  readonly expect: Readonly<Record<Policy, Expect>>;
}

const both = (ics: string): void => {
  assert.equal(values(ics, "SUMMARY")[0], "Daily standup");
  assert.equal(values(ics, "DTSTART")[0], "20260105T093000");
};
const SCENARIOS: readonly Scenario[] = [
  {
    name: "both sides edit different fields (title on the phone, time in Google)",
    base, ours: title, theirs: time,
    expect: { merge: { outcome: "merged", ics: both, clashes: 0 }, "upstream-wins": { outcome: "upstream-won", ics: time }, "client-wins": { outcome: "client-won", ics: title }, "newest-wins": { outcome: "newest-won", ics: time } },
  },
  {
    name: "both sides edit the same field (ours newer)",
    base, ours: cal([master({ ...lm(4), SUMMARY: "Ours" })]), theirs: cal([master({ ...lm(3), SUMMARY: "Theirs" })]),
    expect: {
      merge: { outcome: "merged", ics: (ics) => assert.equal(values(ics, "SUMMARY")[0], "Ours"), clashes: 1 },
      "upstream-wins": { outcome: "upstream-won", ics: cal([master({ ...lm(3), SUMMARY: "Theirs" })]) },
      "client-wins": { outcome: "client-won", ics: cal([master({ ...lm(4), SUMMARY: "Ours" })]) },
      "newest-wins": { outcome: "newest-won", ics: cal([master({ ...lm(4), SUMMARY: "Ours" })]) },
    },
  },
  {
    name: "the client deleted, the upstream edited",
    base, ours: null, theirs: time,
    expect: { merge: { outcome: "kept-edit", ics: time, clashes: 1 }, "upstream-wins": { outcome: "upstream-won", ics: time }, "client-wins": { outcome: "client-won", ics: null }, "newest-wins": { outcome: "kept-edit", ics: time } },
  },
  {
    name: "the client edited, the upstream deleted",
    base, ours: title, theirs: null,
    expect: { merge: { outcome: "kept-edit", ics: title, clashes: 1 }, "upstream-wins": { outcome: "upstream-won", ics: null }, "client-wins": { outcome: "client-won", ics: title }, "newest-wins": { outcome: "kept-edit", ics: title } },
  },
  {
    name: "a delete against no change",
    base, ours: null, theirs: base,
    expect: { merge: { outcome: "merged", ics: null }, "upstream-wins": { outcome: "upstream-won", ics: base }, "client-wins": { outcome: "client-won", ics: null }, "newest-wins": { outcome: "newest-won", ics: null } },
  },
  {
    name: "deleted on both sides",
    base, ours: null, theirs: null,
    expect: { merge: { outcome: "merged", ics: null }, "upstream-wins": { outcome: "upstream-won", ics: null }, "client-wins": { outcome: "client-won", ics: null }, "newest-wins": { outcome: "newest-won", ics: null } },
  },
  {
    name: "an override of one occurrence (client) against a change to the series (upstream)",
    base, ours: override, theirs: series,
    expect: {
      merge: { outcome: "merged", clashes: 0, ics: (ics) => (assert.equal(values(ics, "SUMMARY")[0], "Team standup"), assert.equal(values(ics, "SUMMARY", "20260107T090000Z")[0], "Moved")) },
      "upstream-wins": { outcome: "upstream-won", ics: series },
      "client-wins": { outcome: "client-won", ics: override },
      "newest-wins": { outcome: "newest-won", ics: series },
    },
  },
  {
    name: "identical edits",
    base, ours: title, theirs: cal([master({ ...lm(2), SUMMARY: "Daily standup", DTSTAMP: "20260109T000000Z" })]),
    expect: { merge: { outcome: "merged", ics: title, clashes: 0 }, "upstream-wins": { outcome: "upstream-won", ics: title }, "client-wins": { outcome: "client-won", ics: title }, "newest-wins": { outcome: "newest-won", ics: title } },
  },
  {
    name: "no base: both created the object (same UID)",
    base: null, ours: title, theirs: time,
    expect: {
      merge: { outcome: "merged", clashes: 2, ics: (ics) => (assert.equal(values(ics, "SUMMARY")[0], "Standup"), assert.equal(values(ics, "DTSTART")[0], "20260105T093000")) },
      "upstream-wins": { outcome: "upstream-won", ics: time },
      "client-wins": { outcome: "client-won", ics: title },
      "newest-wins": { outcome: "newest-won", ics: time },
    },
  },
];

describe("resolveConflict: every scenario under every policy", () => {
  for (const s of SCENARIOS) {
    for (const policy of POLICIES) {
      test(`${s.name}: ${policy}`, () => {
        const r = resolveConflict(policy, s.base, s.ours, s.theirs);
        const e = s.expect[policy];
        assert.equal(r.outcome, e.outcome);
        if (e.ics === null) assert.equal(r.ics, null);
        else {
          assert.ok(r.ics !== null, "expected an object");
          if (typeof e.ics === "string") assert.ok(sameContent(r.ics, e.ics), r.ics);
          else e.ics(r.ics);
        }
        if (e.clashes !== undefined) assert.equal(r.clashes.length, e.clashes, r.clashes.join("\n"));
      });
    }
  }
});

describe("resolveConflict: newest-wins and errors", () => {
  test("newest-wins compares the master by LAST-MODIFIED, then DTSTAMP, then SEQUENCE; ties go to the upstream", () => {
    const v = (s: Record<string, string>, summary: string): string => cal([master({ ...s, SUMMARY: summary })]);
    assert.equal(resolveConflict("newest-wins", base, v(lm(5), "O"), v(lm(4), "T")).ics, v(lm(5), "O"));
    assert.equal(resolveConflict("newest-wins", base, v({ DTSTAMP: "20260102T000000Z" }, "O"), v({}, "T")).ics, v({ DTSTAMP: "20260102T000000Z" }, "O"));
    assert.equal(resolveConflict("newest-wins", base, v({ SEQUENCE: "1" }, "O"), v({ SEQUENCE: "2" }, "T")).ics, v({ SEQUENCE: "2" }, "T"));
    assert.equal(resolveConflict("newest-wins", base, v({}, "O"), v({}, "T")).ics, v({}, "T"));
  });

  test("invalid iCalendar on either side is an IcalError under every policy", () => {
    const bad = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n";
    for (const policy of POLICIES) {
      assert.throws(() => resolveConflict(policy, base, bad, time), IcalError, policy);
      assert.throws(() => resolveConflict(policy, base, title, bad), IcalError, policy);
    }
  });


});
