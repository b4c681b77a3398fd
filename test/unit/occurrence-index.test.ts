/**
 * The occurrence index (issue 15 item 1) answers a plain VEVENT/VTODO time-range exactly as full
 * evaluation does (matchesFilter with the recurrence engine): as pure spans, and through the store on
 * SQLite and PostgreSQL (writes, updates, deletes, renames, the start-up pass), for generated
 * recurring objects and for the benchmark generator's events (whose instances it computes itself).
 * The store part on PostgreSQL is occurrence-index-postgres.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseCalendarObject } from "../../src/ical/parse.ts";
import { covers, floatingZoneKey, matchSpan, occurrenceSet, spanMatches } from "../../src/ical/occurrences.ts";
import { contextFor, overlaps, walkInstances } from "../../src/ical/engine.ts";
import { openDb } from "../../src/store/db.ts";
import { evaluate, storeSuite } from "../helpers/occurrence-store.ts";
import { edgeRange, edgeWindow, recurringIcs, recurringObject, timeWindow, floatingZone } from "../helpers/recurring-ics.ts";
import { generateEvents, QUERY_MONTH } from "../../bench/generate.ts";
import { runs, SEED } from "../fuzz/arbitraries.ts";

const NOW = Date.UTC(2026, 11, 1);
describe("occurrence spans", () => {
  test("each instance's span matches a range exactly when the RFC 4791 9.9 overlap test does", () => {
    fc.assert(
      fc.property(recurringObject, fc.array(timeWindow, { maxLength: 3 }), fc.array(edgeWindow, { minLength: 1, maxLength: 6 }), (spec, random, edges) => {
        const obj = parseCalendarObject(recurringIcs(spec, "u"));
        const windows = [...random, ...edges.map((e) => edgeRange(spec, e))];
        const ctx = contextFor(obj, null);
        walkInstances(obj, { start: null, end: Date.UTC(2030, 0, 1) }, ctx, 1000, (i) => {
          const span = matchSpan(i);
          for (const w of windows) assert.equal(span !== null && spanMatches(span, w), overlaps(i, w), JSON.stringify({ i: { ...i, component: undefined }, w }));
          return false;
        });
      }),
      { numRuns: runs(300), seed: SEED },
    );
  });

  test("an object's set answers every window it covers as matchesFilter does", () => {
    let decided = 0;
    let checked = 0;
    fc.assert(
      fc.property(recurringObject, fc.array(timeWindow, { maxLength: 4 }), fc.array(edgeWindow, { minLength: 1, maxLength: 6 }), floatingZone, (spec, random, edges, zone) => {
        const ics = recurringIcs(spec, "u");
        const windows = [...random, ...edges.map((e) => edgeRange(spec, e))];
        const set = occurrenceSet(parseCalendarObject(ics), NOW);
        for (const w of windows) {
          checked++;
          if (!covers(set, w, floatingZoneKey(zone))) continue;
          decided++;
          const fromIndex = set.spans.some((s) => spanMatches(s, w));
          assert.equal(fromIndex, evaluate(ics, spec.component, w, zone), `window ${JSON.stringify(w)} zone ${zone}\n${ics}`);
        }
      }),
      { numRuns: runs(400), seed: SEED },
    );
    // Not a vacuous pass: most windows (all but those beyond the horizon or in another floating zone) are decided by the index.
    assert.ok(decided > checked * 0.6, `the index decided only ${decided} of ${checked} windows`);
  });

  test("the benchmark's events: spans agree with the generator's own instances and with matchesFilter", () => {
    const events = generateEvents(42, 400);
    let matched = 0;
    for (const ev of events) {
      const set = occurrenceSet(parseCalendarObject(ev.ics), NOW);
      const windows = [QUERY_MONTH, { start: Date.UTC(2026, 1, 3), end: Date.UTC(2026, 1, 10) }, { start: Date.UTC(2025, 5, 1, 10), end: Date.UTC(2025, 5, 1, 11) }, { start: Date.UTC(2029, 0, 1), end: Date.UTC(2029, 11, 31) }];
      for (const w of windows) {
        assert.ok(covers(set, w, floatingZoneKey(null)), `${ev.kind} ${ev.name} is not covered for ${JSON.stringify(w)}`);
        const fromIndex = set.spans.some((s) => spanMatches(s, w));
        // The generator reads floating (all-day) times as UTC, as a calendar without a timezone does.
        const expected = ev.instances.some((i) => i.start < w.end && (i.end > i.start ? i.end > w.start : i.start >= w.start));
        assert.equal(fromIndex, expected, `${ev.kind} ${ev.name} ${JSON.stringify(w)}`);
        assert.equal(fromIndex, evaluate(ev.ics, "VEVENT", w, null), `${ev.kind} ${ev.name} vs matchesFilter`);
        if (fromIndex) matched++;
      }
    }
    assert.ok(matched > 50, `only ${matched} matches: the windows miss the generated events`);
  });
});


storeSuite("SQLite", (_name, opts) => openDb(":memory:", opts));
