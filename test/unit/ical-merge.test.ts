/** Three-way merge of calendar objects (issue 11 deliverable 2): concrete scenarios, then fast-check properties. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import fc from "fast-check";
import { IcalError } from "../../src/ical/errors.ts";
import { mergeObjects } from "../../src/ical/merge.ts";
import { componentKey, normProp, parseModel, splitValues, type Comp } from "../../src/ical/merge-model.ts";
import { parseCalendarObject } from "../../src/ical/parse.ts";
import { sameContent } from "../../src/ical/content.ts";

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

const lm = (day: number): Record<string, string> => ({ "LAST-MODIFIED": `202601${String(day).padStart(2, "0")}T120000Z` });

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
const one = (ics: string, name: string, key = ""): string | undefined => values(ics, name, key)[0];
const merged = (b: string | null, o: string | null, t: string | null): { ics: string; clashes: readonly string[] } => {
  const r = mergeObjects(b, o, t);
  assert.ok(r.ics !== null, "expected an object");
  parseCalendarObject(r.ics);
  return { ics: r.ics, clashes: r.clashes };
};

describe("mergeObjects: scenarios", () => {
  const base = cal([master()]);

  test("title changed on the phone, time changed in Google: both kept, SEQUENCE bumped past both", () => {
    const ours = cal([master({ ...lm(2), SUMMARY: "Daily standup" })]);
    const theirs = cal([master({ ...lm(3), DTSTART: ";TZID=Europe/Berlin:20260105T093000", DTEND: ";TZID=Europe/Berlin:20260105T103000", SEQUENCE: "1" })]);
    const r = merged(base, ours, theirs);
    assert.deepEqual(r.clashes, []);
    assert.equal(one(r.ics, "SUMMARY"), "Daily standup");
    assert.equal(one(r.ics, "DTSTART"), "20260105T093000");
    assert.equal(one(r.ics, "LAST-MODIFIED"), "20260103T120000Z");
    assert.equal(one(r.ics, "SEQUENCE"), "2", "max(0, 1) + 1: neither side had the merged event");
    assert.equal(values(r.ics, "RRULE").length, 1);
    assert.match(r.ics, /BEGIN:VTIMEZONE\r\nTZID:Europe\/Berlin/);
  });

  test("the same field: newest by LAST-MODIFIED, then DTSTAMP, then SEQUENCE, ties to theirs", () => {
    const o = (s: Record<string, string>): string => cal([master({ SUMMARY: "Ours", LOCATION: "Room 2", ...s })]);
    const t = (s: Record<string, string>): string => cal([master({ SUMMARY: "Theirs", ...s })]);
    let r = merged(base, o(lm(3)), t(lm(2)));
    assert.equal(one(r.ics, "SUMMARY"), "Ours");
    assert.equal(one(r.ics, "LOCATION"), "Room 2", "changed on one side only");
    assert.deepEqual(r.clashes, ["SUMMARY: ours (newer LAST-MODIFIED)"]);
    r = merged(base, o(lm(2)), t(lm(3)));
    assert.equal(one(r.ics, "SUMMARY"), "Theirs");
    r = merged(base, o({ DTSTAMP: "20260104T000000Z" }), t({ DTSTAMP: "20260103T000000Z" }));
    assert.deepEqual(r.clashes, ["SUMMARY: ours (newer DTSTAMP)"]);
    r = merged(base, o({ SEQUENCE: "1" }), t({ SEQUENCE: "3" }));
    assert.deepEqual(r.clashes, ["SUMMARY: theirs (higher SEQUENCE)"]);
    assert.equal(one(r.ics, "SEQUENCE"), "4");
    r = merged(base, o({}), t({}));
    assert.equal(one(r.ics, "SUMMARY"), "Theirs");
    assert.match(r.clashes[0]!, /^SUMMARY: theirs \(.*upstream wins ties\)$/);
  });

  test("the time is one unit: an end from one side never pairs with a start from the other", () => {
    const ours = cal([master({ ...lm(2), DTEND: ";TZID=Europe/Berlin:20260105T120000" })]);
    const theirs = cal([master({ ...lm(3), DTSTART: ";TZID=Europe/Berlin:20260105T150000", DTEND: undefined, DURATION: "PT30M" })]);
    const r = merged(base, ours, theirs);
    assert.deepEqual(r.clashes, ["DTSTART/DTEND/DURATION: theirs (newer LAST-MODIFIED)"]);
    assert.deepEqual([values(r.ics, "DTSTART"), values(r.ics, "DTEND"), values(r.ics, "DURATION")], [["20260105T150000"], [], ["PT30M"]]);
    const moved = merged(base, cal([master({ ...lm(2), SUMMARY: "Other" })]), theirs);
    assert.deepEqual([values(moved.ics, "SUMMARY"), values(moved.ics, "DTEND"), values(moved.ics, "DURATION")], [["Other"], [], ["PT30M"]]);
  });

  test("edit against delete, both directions: the edit is kept; delete against no change: deleted", () => {
    const edited = cal([master({ ...lm(2), SUMMARY: "Moved" })]);
    assert.equal(mergeObjects(base, edited, null).ics, edited);
    assert.equal(mergeObjects(base, null, edited).ics, edited);
    assert.match(mergeObjects(base, null, edited).clashes[0]!, /deleted by ours, edited by theirs/);
    assert.equal(mergeObjects(base, base, null).ics, null);
    assert.equal(mergeObjects(base, null, base).ics, null);
    assert.deepEqual(mergeObjects(base, null, null), { ics: null, clashes: [] });
  });

  const override = (rid: string, summary: string, extra: Record<string, string> = {}): string[] =>
    master({ RRULE: undefined, RECURRENCE: undefined, ...extra, SUMMARY: summary }, [rid]).filter((l) => !l.startsWith("RRULE"));

  test("an override of one occurrence against a change to the series: both kept", () => {
    const ours = cal([master(lm(2)), override("RECURRENCE-ID;TZID=Europe/Berlin:20260107T100000", "Standup (moved)", { ...lm(2), DTSTART: ";TZID=Europe/Berlin:20260107T140000", DTEND: ";TZID=Europe/Berlin:20260107T150000" })]);
    const theirs = cal([master({ ...lm(3), SUMMARY: "Team standup", RRULE: "FREQ=DAILY;COUNT=20" })]);
    const r = merged(base, ours, theirs);
    assert.deepEqual(r.clashes, []);
    assert.equal(one(r.ics, "SUMMARY"), "Team standup");
    assert.equal(one(r.ics, "RRULE"), "FREQ=DAILY;COUNT=20");
    assert.equal(one(r.ics, "SUMMARY", "20260107T090000Z"), "Standup (moved)");
  });

  test("overrides merge per RECURRENCE-ID (normalised to an instant): removal, removal against edit, both edited", () => {
    const ov = (summary: string, rid = "RECURRENCE-ID;TZID=Europe/Berlin:20260107T100000", day = 1): string[] => override(rid, summary, lm(day));
    const b = cal([master(), ov("X")]);
    assert.equal(comps(merged(b, cal([master()]), b).ics).size, 1, "removed on one side, unchanged on the other: removed");
    const r = merged(b, cal([master()]), cal([master(), ov("Y", undefined, 3)]));
    assert.equal(one(r.ics, "SUMMARY", "20260107T090000Z"), "Y", "removed against edited: the edit");
    assert.match(r.clashes[0]!, /RECURRENCE-ID 20260107T090000Z: removed by ours, changed by theirs/);
    const both = merged(b, cal([master(), ov("X", "RECURRENCE-ID:20260107T090000Z", 1).map((l) => (l.startsWith("LOCATION") ? "LOCATION:Room 9" : l))]), cal([master(), ov("Z", undefined, 2)]));
    assert.equal(comps(both.ics).size, 2, "one override: the UTC and the zoned RECURRENCE-ID name the same instance");
    assert.equal(one(both.ics, "SUMMARY", "20260107T090000Z"), "Z");
    assert.equal(one(both.ics, "LOCATION", "20260107T090000Z"), "Room 9");
  });

  test("attendees: one side adds one, the other changes another's PARTSTAT (address case-insensitive); a PARTSTAT clash goes to the newest", () => {
    const att = (addr: string, ps: string): string => `ATTENDEE;CN=${addr[0]};PARTSTAT=${ps}:mailto:${addr}@example.com`;
    const b = cal([master({}, [att("ann", "NEEDS-ACTION"), att("bob", "NEEDS-ACTION")])]);
    const ours = cal([master(lm(2), [att("ann", "NEEDS-ACTION"), att("bob", "NEEDS-ACTION"), att("cyd", "NEEDS-ACTION")])]);
    const theirs = cal([master(lm(3), [att("ann", "NEEDS-ACTION"), "ATTENDEE;PARTSTAT=ACCEPTED;CN=b:MAILTO:BOB@example.com"])]);
    const r = merged(b, ours, theirs);
    assert.deepEqual(r.clashes, []);
    assert.deepEqual(values(r.ics, "ATTENDEE").sort(), [
      "ATTENDEE;CN=a;PARTSTAT=NEEDS-ACTION:mailto:ann@example.com",
      "ATTENDEE;CN=b;PARTSTAT=ACCEPTED:MAILTO:BOB@example.com",
      "ATTENDEE;CN=c;PARTSTAT=NEEDS-ACTION:mailto:cyd@example.com",
    ]);
    const c = merged(b, cal([master(lm(4), [att("ann", "DECLINED"), att("bob", "NEEDS-ACTION")])]), cal([master(lm(3), [att("ann", "TENTATIVE"), att("bob", "NEEDS-ACTION")])]));
    assert.ok(values(c.ics, "ATTENDEE").includes("ATTENDEE;CN=a;PARTSTAT=DECLINED:mailto:ann@example.com"));
    assert.deepEqual(c.clashes, ["ATTENDEE ann@example.com PARTSTAT: ours (newer LAST-MODIFIED)"]);
  });

  test("categories: adds and removals from both sides applied", () => {
    const b = cal([master({ CATEGORIES: "Work,Blue" })]);
    const r = merged(b, cal([master({ ...lm(2), CATEGORIES: "Work,Blue,Red" })]), cal([master({ ...lm(3), CATEGORIES: "Work" })]));
    assert.deepEqual(r.clashes, []);
    assert.deepEqual(values(r.ics, "CATEGORIES").flatMap((v) => splitValues(v)).sort(), ["Red", "Work"]);
  });

  test("VALARM added on one side, another changed on the other; keyed by UID when present", () => {
    const alarm = (trigger: string, desc: string, uid?: string): string[] => ["BEGIN:VALARM", ...(uid ? [`UID:${uid}`] : []), "ACTION:DISPLAY", `TRIGGER:${trigger}`, `DESCRIPTION:${desc}`, "END:VALARM"];
    const b = cal([master({}, alarm("-PT15M", "Reminder"))]);
    const r = merged(b, cal([master(lm(2), [...alarm("-PT15M", "Reminder"), ...alarm("-PT1H", "Soon")])]), cal([master(lm(3), alarm("-PT15M", "Get up"))]));
    assert.deepEqual(r.clashes, []);
    const alarms = comps(r.ics).get("")!.subs;
    assert.deepEqual(alarms.map((a) => a.props.map((p) => p.value).join("|")).sort(), ["DISPLAY|-PT15M|Get up", "DISPLAY|-PT1H|Soon"]);
    const u = cal([master({}, alarm("-PT15M", "Reminder", "a1"))]);
    const moved = merged(u, cal([master(lm(2), alarm("-PT30M", "Reminder", "a1"))]), cal([master(lm(3), alarm("-PT15M", "Coffee", "a1"))]));
    assert.deepEqual(comps(moved.ics).get("")!.subs.map((a) => a.props.map((p) => p.value).join("|")), ["a1|DISPLAY|-PT30M|Coffee"]);
  });

  test("EXDATE added on both sides: a set of instants (the same instant in another form counted once)", () => {
    const r = merged(base, cal([master(lm(2), ["EXDATE;TZID=Europe/Berlin:20260106T100000,20260108T100000"])]), cal([master(lm(3), ["EXDATE:20260108T090000Z", "EXDATE:20260110T090000Z"])]));
    const all = values(r.ics, "EXDATE").flatMap((v) => splitValues(v));
    assert.equal(all.length, 3);
    parseCalendarObject(r.ics);
  });

  test("base null: both created the object with the same UID", () => {
    const a = cal([master({ DTSTAMP: "20260102T000000Z" })]);
    assert.deepEqual(mergeObjects(null, a, cal([master()])), { ics: a, clashes: [] });
    const r = merged(null, cal([master({ ...lm(2), DESCRIPTION: "Agenda" })]), cal([master({ ...lm(3), SUMMARY: "Sync", LOCATION: undefined })]));
    assert.equal(one(r.ics, "DESCRIPTION"), "Agenda", "only one side has it");
    assert.equal(one(r.ics, "SUMMARY"), "Sync");
    assert.equal(one(r.ics, "LOCATION"), "Room 1", "with an empty base, a property one side lacks is not a removal");
    assert.deepEqual(r.clashes, ["SUMMARY: theirs (newer LAST-MODIFIED)"]);
    assert.equal(mergeObjects(null, null, a).ics, a);
  });

  test("identical edits, folded lines and reordered parameters are no clash", () => {
    const edit = cal([master({ ...lm(2), SUMMARY: "Same" })]);
    assert.deepEqual(mergeObjects(base, edit, edit), { ics: edit, clashes: [] });
    const refolded = base.replace("DTSTART;TZID=Europe/Berlin:20260105T100000", "DTSTART;TZID=Europe/Berlin:20260\r\n 105T100000");
    const theirs = cal([master({ ...lm(2), SUMMARY: "New" })]);
    assert.deepEqual(mergeObjects(base, refolded, theirs), { ics: theirs, clashes: [] });
    const b2 = cal([master({}, ["ATTENDEE;CN=A;PARTSTAT=ACCEPTED:mailto:a@x"])]);
    const reordered = cal([master({}, ["ATTENDEE;PARTSTAT=ACCEPTED;CN=\"A\":mailto:a@x"])]);
    const t2 = cal([master({ ...lm(2), SUMMARY: "New" }, ["ATTENDEE;CN=A;PARTSTAT=ACCEPTED:mailto:a@x"])]);
    const r = merged(b2, reordered, t2);
    assert.deepEqual(r.clashes, []);
    assert.ok(sameContent(r.ics, t2));
  });

  test("VTODO: status on one side, summary on the other", () => {
    const todo = (s: Record<string, string>): string => cal([master({ RRULE: undefined, DTEND: undefined, DTSTART: undefined, STATUS: "NEEDS-ACTION", ...s })], "VTODO", false);
    const r = merged(todo({}), todo({ ...lm(2), STATUS: "COMPLETED", COMPLETED: "20260102T100000Z" }), todo({ ...lm(3), SUMMARY: "Buy milk" }));
    assert.equal(one(r.ics, "STATUS"), "COMPLETED");
    assert.equal(one(r.ics, "SUMMARY"), "Buy milk");
    assert.match(r.ics, /BEGIN:VTODO/);
    assert.doesNotMatch(r.ics, /VTIMEZONE/, "only the time zones the result needs");
  });

  test("a real object (Google override, corpus): series edit on one side, override edit on the other", () => {
    const g = readFileSync(new URL("../fixtures/corpus/ics/ha-ical/google-daily-count-override.ics", import.meta.url), "utf8");
    const ours = g.replace("SUMMARY:Edited Title", "SUMMARY:Edited again").replace(/LAST-MODIFIED:20260202T005757Z(\r?\nSEQUENCE:0\r?\nSTATUS:CONFIRMED\r?\nSUMMARY:Edited again)/, "LAST-MODIFIED:20260203T000000Z$1");
    const theirs = g.replace("SUMMARY:Initial Title", "SUMMARY:Series title").replace("COUNT=3", "COUNT=5");
    const r = merged(g, ours, theirs);
    assert.deepEqual(r.clashes, []);
    assert.equal(one(r.ics, "SUMMARY", "20260202T150000Z"), "Edited again");
    assert.equal(one(r.ics, "SUMMARY"), "Series title");
    assert.equal(one(r.ics, "RRULE"), "FREQ=DAILY;COUNT=5");
    assert.doesNotMatch(r.ics, /METHOD/);
  });

  test("invalid iCalendar on either side, or two different objects: IcalError, never a partial merge", () => {
    const bad = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VCALENDAR\r\n";
    assert.throws(() => mergeObjects(base, bad, base), IcalError);
    assert.throws(() => mergeObjects(base, base, bad), IcalError);
    assert.throws(() => mergeObjects(bad, base, base), IcalError);
    assert.throws(() => mergeObjects(base, base, cal([master({ UID: "other" })])), (e: unknown) => e instanceof IcalError && e.reason === "invalid-object");
    assert.throws(() => mergeObjects(base, cal([master()], "VTODO"), base), IcalError);
  });
});

// ---- properties --------------------------------------------------------------------------------

interface Gen {
  summary: string;
  location: string | null;
  description: string | null;
  day: number;
  categories: string[];
  attendees: { addr: string; ps: string }[];
  overrides: { day: number; summary: string }[];
  exdates: number[];
  alarms: { trigger: string; text: string }[];
  lm: number;
  fold: boolean;
  reorder: boolean;
}
const arbGen: fc.Arbitrary<Gen> = fc.record({
  summary: fc.constantFrom("Standup", "Review", "Lunch"),
  location: fc.option(fc.constantFrom("Room 1", "Room 2"), { nil: null }),
  description: fc.option(fc.constantFrom("Agenda", "Notes\\, with a comma\\; and more text to fold"), { nil: null }),
  day: fc.integer({ min: 5, max: 6 }),
  categories: fc.subarray(["Work", "Home", "Red"]),
  attendees: fc.uniqueArray(fc.record({ addr: fc.constantFrom("ann", "bob", "cyd"), ps: fc.constantFrom("NEEDS-ACTION", "ACCEPTED", "DECLINED") }), { selector: (a) => a.addr, maxLength: 3 }),
  overrides: fc.uniqueArray(fc.record({ day: fc.constantFrom(7, 8, 9), summary: fc.constantFrom("Moved", "Cancelled") }), { selector: (o) => o.day, maxLength: 2 }),
  exdates: fc.subarray([6, 8, 10]),
  alarms: fc.uniqueArray(fc.record({ trigger: fc.constantFrom("-PT15M", "-PT1H"), text: fc.constantFrom("Reminder", "Go") }), { selector: (a) => a.trigger, maxLength: 2 }),
  lm: fc.integer({ min: 1, max: 28 }),
  fold: fc.boolean(),
  reorder: fc.boolean(),
});
const dd = (d: number): string => String(d).padStart(2, "0");

function toIcs(g: Gen): string {
  const m = [
    "UID:prop@example.com", "DTSTAMP:20260101T000000Z", `LAST-MODIFIED:202601${dd(g.lm)}T120000Z`, `DTSTART:202601${dd(g.day)}T090000Z`, "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT=10", `SUMMARY:${g.summary}`,
    ...(g.location ? [`LOCATION:${g.location}`] : []), ...(g.description ? [`DESCRIPTION:${g.description}`] : []), ...(g.categories.length ? [`CATEGORIES:${g.categories.join(",")}`] : []),
    ...g.attendees.map((a) => (g.reorder ? `ATTENDEE;PARTSTAT=${a.ps};CN="${a.addr}":mailto:${a.addr}@example.com` : `ATTENDEE;CN=${a.addr};PARTSTAT=${a.ps}:mailto:${a.addr}@example.com`)),
    ...(g.exdates.length ? [`EXDATE:${g.exdates.map((d) => `202601${dd(d)}T090000Z`).join(",")}`] : []),
    ...g.alarms.flatMap((a) => ["BEGIN:VALARM", "ACTION:DISPLAY", `TRIGGER:${a.trigger}`, `DESCRIPTION:${a.text}`, "END:VALARM"]),
  ];
  const ovs = g.overrides.map((o) => ["UID:prop@example.com", "DTSTAMP:20260101T000000Z", `RECURRENCE-ID:202601${dd(o.day)}T090000Z`, `DTSTART:202601${dd(o.day)}T100000Z`, "DURATION:PT1H", `SUMMARY:${o.summary}`]);
  const text = cal([m, ...ovs], "VEVENT", false);
  return g.fold ? text.split("\r\n").map((l) => (l.length > 30 ? `${l.slice(0, 30)}\r\n ${l.slice(30)}` : l)).join("\r\n") : text;
}

/** What the merge must preserve, flattened: "<component key>|<field>" → value (categories and attendees per element). */
function view(ics: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, c] of comps(ics)) {
    out.set(`${key}|EXISTS`, "1");
    for (const p of c.props) {
      if (p.name === "CATEGORIES") for (const v of splitValues(p.value)) out.set(`${key}|CATEGORIES:${v}`, "1");
      else if (p.name === "EXDATE") for (const v of splitValues(p.value)) out.set(`${key}|EXDATE:${v}`, "1");
      else if (p.name === "ATTENDEE") out.set(`${key}|ATTENDEE:${p.value.toLowerCase()}`, normProp({ ...p, value: "" }));
      else if (!["DTSTAMP", "LAST-MODIFIED", "SEQUENCE"].includes(p.name)) out.set(`${key}|${p.name}`, p.value);
    }
    for (const a of c.subs) out.set(`${key}|VALARM:${a.props.find((p) => p.name === "TRIGGER")?.value}`, a.props.map(normProp).sort().join("|"));
  }
  return out;
}
const fieldsOf = (...vs: Map<string, string>[]): Set<string> => new Set(vs.flatMap((v) => [...v.keys()]));
const RUNS = { numRuns: Number(process.env.MERGE_RUNS ?? 150) };

describe("mergeObjects: properties", () => {
  test("merge(b, x, x) has x's content; merge(b, b, x) and merge(b, x, b) are x", () => {
    fc.assert(
      fc.property(arbGen, arbGen, (gb, gx) => {
        const [b, x] = [toIcs(gb), toIcs(gx)];
        for (const r of [mergeObjects(b, x, x), mergeObjects(b, b, x), mergeObjects(b, x, b)]) {
          assert.ok(r.ics !== null && sameContent(r.ics, x));
          assert.deepEqual(r.clashes, []);
        }
      }),
      RUNS,
    );
  });

  test("merge(b, x, y) and merge(b, y, x) agree on what one side changed, and entirely when LAST-MODIFIED differs; nothing unchanged is lost; the result is one valid object", () => {
    fc.assert(
      fc.property(arbGen, arbGen, arbGen, (gb, gx, gy) => {
        const [b, x, y] = [toIcs(gb), toIcs(gx), toIcs(gy)];
        const [r1, r2] = [mergeObjects(b, x, y), mergeObjects(b, y, x)];
        assert.ok(r1.ics !== null && r2.ics !== null);
        for (const r of [r1.ics, r2.ics]) {
          const obj = parseCalendarObject(r);
          assert.equal(obj.uid, "prop@example.com");
          assert.equal(obj.component, "VEVENT");
        }
        const [vb, vx, vy, v1, v2] = [view(b), view(x), view(y), view(r1.ics), view(r2.ics)];
        for (const f of fieldsOf(vb, vx, vy, v1, v2)) {
          const [cx, cy] = [vx.get(f) !== vb.get(f), vy.get(f) !== vb.get(f)];
          if (!cx && !cy) assert.equal(v1.get(f), vb.get(f), `unchanged ${f} kept`);
          if (cx !== cy) {
            assert.equal(v1.get(f), v2.get(f), `${f} changed on one side only: both orders agree`);
            const key = f.slice(0, f.indexOf("|"));
            const everywhere = [vb, vx, vy].every((v) => v.has(`${key}|EXISTS`));
            if (everywhere) assert.equal(v1.get(f), (cx ? vx : vy).get(f), `${f} takes the side that changed it`);
          }
        }
        if (gx.lm !== gy.lm) {
          assert.deepEqual(v1, v2, "the clash decision does not depend on which side is which");
          assert.equal(r1.clashes.length, r2.clashes.length);
        }
      }),
      RUNS,
    );
  });
});
