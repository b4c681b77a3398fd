/**
 * Property-based fuzzing of the two parsers that read hostile input, and of what runs on their output:
 *   - parseXml: any string either parses to one element tree or throws XmlParseError (never another
 *     error, never a hang); DOCTYPE, entity declarations, billion laughs and XXE are always refused.
 *   - parseCalendarObject + occurrenceBounds + instance expansion: any text (generated objects with
 *     random recurrence rules and time zones, mutated corpus files, random strings) either parses or
 *     throws IcalError; expansion either returns at most maxInstances instances or throws the
 *     ExpansionLimit (a 403 once dav/ maps it); every case finishes within a time bound.
 * Case counts: FUZZ_RUNS per property (npm run fuzz: 100,000), else the CI defaults below.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseXml, XmlParseError } from "../../src/xml/parse.ts";
import { decodeCalendarBytes, IcalError, parseCalendarObject } from "../../src/ical/parse.ts";
import { occurrenceBounds } from "../../src/ical/bounds.ts";
import { ExpansionLimit, instancesInRange } from "../../src/ical/expand.ts";
import { fromIcalError } from "../../src/dav/errors.ts";
import { HOSTILE_XML, SEED, corpusFiles, icsObject, mutate, mutation, runs, xmlBody } from "./arbitraries.ts";

/** A single case may take this long at most (a hang or a blow-up shows as a failure, not a stuck run). */
const CASE_MS = Number(process.env.FUZZ_CASE_MS ?? 3000);
const MAX_INSTANCES = 10_000;
const counts: Record<string, number> = {};
const tally = (k: string): void => void (counts[k] = (counts[k] ?? 0) + 1);

/**
 * CPU time this process spent since `t0` (ms): parsing is synchronous, so this is the parser's own cost,
 * and a busy machine (other processes on the same cores) does not make a fast parser look slow.
 */
const cpuMs = (t0: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1000;
};

function timed<T>(what: string, input: string, f: () => T): T {
  const t0 = process.cpuUsage();
  try {
    return f();
  } finally {
    const ms = cpuMs(t0);
    assert.ok(ms < CASE_MS, `${what} took ${Math.round(ms)} ms of CPU (limit ${CASE_MS}) on input of ${input.length} chars: ${JSON.stringify(input.slice(0, 300))}`);
  }
}

function checkXml(body: string): void {
  timed("parseXml", body, () => {
    try {
      const root = parseXml(body);
      assert.equal(typeof root.name, "string");
      assert.match(root.name, /^\{[^}]*\}./, "element names are Clark names");
      tally("xml:parsed");
    } catch (e) {
      if (!(e instanceof XmlParseError)) throw new Error(`parseXml threw ${(e as Error)?.name}: ${(e as Error)?.message} for ${JSON.stringify(body.slice(0, 300))}`);
      assert.ok(e.message.length <= 1000, `error message of ${e.message.length} chars`);
      tally("xml:refused");
    }
  });
}

function checkIcs(text: string): void {
  timed("parse+bounds+expand", text, () => {
    let obj;
    try {
      obj = parseCalendarObject(text, { maxBytes: 2 * 1024 * 1024 });
    } catch (e) {
      if (!(e instanceof IcalError)) throw new Error(`parseCalendarObject threw ${(e as Error)?.name}: ${(e as Error)?.message} for ${JSON.stringify(text.slice(0, 400))}`);
      assert.match(fromIcalError(e).condition ?? "", /^\{urn:ietf:params:xml:ns:caldav\}/);
      tally("ics:refused");
      return;
    }
    tally("ics:parsed");
    const b = occurrenceBounds(obj);
    assert.ok(b.start === null || Number.isFinite(b.start));
    assert.ok(b.end === null || Number.isFinite(b.end));
    for (const range of [
      { start: Date.UTC(2024, 0, 1), end: Date.UTC(2025, 0, 1) },
      { start: Date.UTC(1990, 0, 1), end: Date.UTC(2030, 0, 1) },
    ]) {
      try {
        const list = instancesInRange(obj, range, { floatingZone: "Europe/Berlin", maxInstances: MAX_INSTANCES });
        assert.ok(list.length <= MAX_INSTANCES);
        for (const i of list) assert.ok(!Number.isNaN(i.start) && !Number.isNaN(i.end));
        tally("ics:expanded");
      } catch (e) {
        if (e instanceof ExpansionLimit) {
          tally("ics:expansion-limit");
          continue;
        }
        throw new Error(`expansion threw ${(e as Error)?.name}: ${(e as Error)?.message} for ${JSON.stringify(text.slice(0, 400))}`);
      }
    }
  });
}

describe("fuzz: XML request parser", () => {
  test("hostile bodies are refused with XmlParseError (DOCTYPE, entities, XXE, billion laughs, deep nesting)", () => {
    for (const [name, body] of HOSTILE_XML) {
      const t0 = process.cpuUsage();
      assert.throws(() => parseXml(body), XmlParseError, name);
      assert.ok(cpuMs(t0) < CASE_MS, `${name} took too long`);
    }
  });

  test("huge attributes, wide trees and long text are parsed or refused quickly", () => {
    checkXml(`<D:propfind xmlns:D="DAV:" x="${"y".repeat(2_000_000)}"><D:allprop/></D:propfind>`);
    checkXml(`<D:propfind xmlns:D="DAV:" ${Array.from({ length: 20_000 }, (_, i) => `a${i}="1"`).join(" ")}><D:allprop/></D:propfind>`);
    checkXml(`<D:propfind xmlns:D="DAV:"><D:prop>${"<D:getetag/>".repeat(250_000)}</D:prop></D:propfind>`);
    checkXml(`<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>${"x".repeat(5_000_000)}</D:displayname></D:prop></D:propfind>`);
    checkXml(`<D:propfind ${Array.from({ length: 5000 }, (_, i) => `xmlns:p${i}="urn:${i}"`).join(" ")} xmlns:D="DAV:"><D:prop/></D:propfind>`);
  });

  test(`generated and mutated XML bodies (${runs(3000)} cases): a tree or XmlParseError, nothing else`, () => {
    fc.assert(fc.property(xmlBody, checkXml), { numRuns: runs(3000), seed: SEED });
  });

  test(`arbitrary strings (${runs(1000, 0.2)} cases)`, () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: "binary", maxLength: 200 }).map((s) => `<a xmlns="DAV:">${s}</a>`)), checkXml), { numRuns: runs(1000, 0.2), seed: SEED });
  });
});

describe("fuzz: iCalendar parser and recurrence expansion", () => {
  test("rules that expand to millions of instances are bounded with a clear error", () => {
    const series = (rule: string, start = "20240101T000000Z"): string =>
      ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fuzz//EN", "BEGIN:VEVENT", "UID:boom", "DTSTAMP:20240101T000000Z", `DTSTART:${start}`, "DURATION:PT1S", `RRULE:${rule}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");
    for (const rule of ["FREQ=SECONDLY", "FREQ=SECONDLY;COUNT=100000000", "FREQ=MINUTELY;INTERVAL=1", "FREQ=SECONDLY;BYSECOND=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "FREQ=DAILY;BYSETPOS=400", "FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO;INTERVAL=400", "FREQ=DAILY;BYWEEKNO=-1", "FREQ=DAILY;BYMONTHDAY=-1;COUNT=10", "FREQ=WEEKLY;BYWEEKNO=20", "FREQ=HOURLY;BYMONTHDAY=-2,3", "FREQ=HOURLY;BYDAY=+2WE,-3SA;BYMINUTE=0;BYSECOND=0", "FREQ=DAILY;BYDAY=1MO"]) {
      const t0 = process.cpuUsage();
      let obj;
      try {
        obj = parseCalendarObject(series(rule));
      } catch (e) {
        assert.ok(e instanceof IcalError, `${rule}: ${(e as Error).message}`);
        continue;
      }
      try {
        const list = instancesInRange(obj, { start: Date.UTC(2024, 0, 1), end: Date.UTC(2034, 0, 1) }, { floatingZone: null, maxInstances: MAX_INSTANCES });
        assert.ok(list.length <= MAX_INSTANCES, rule);
      } catch (e) {
        assert.ok(e instanceof ExpansionLimit, `${rule}: ${(e as Error).message}`);
        assert.equal(fromIcalError(e).status, 403);
        assert.match(e.message, /narrow the range|can never match|cannot be expanded/, "the error says what to do");
      }
      occurrenceBounds(obj);
      assert.ok(cpuMs(t0) < CASE_MS, `${rule} took ${Math.round(cpuMs(t0))} ms of CPU`);
    }
  });

  test("every corpus file, as is: parsed or IcalError", () => {
    for (const f of corpusFiles()) checkIcs(decodeCalendarBytes(f.bytes).text);
  });

  test(`generated objects with random rules, zones and overrides (${runs(3000)} cases)`, () => {
    fc.assert(fc.property(icsObject, checkIcs), { numRuns: runs(3000), seed: SEED });
  });

  test(`mutated corpus files (${runs(1500, 0.5)} cases)`, () => {
    const files = corpusFiles().map((f) => decodeCalendarBytes(f.bytes).text);
    fc.assert(
      fc.property(fc.nat({ max: files.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, edits) => checkIcs(mutate(files[i]!, edits))),
      { numRuns: runs(1500, 0.5), seed: SEED },
    );
  });

  test(`arbitrary strings inside a VEVENT (${runs(1000, 0.2)} cases)`, () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 60 }), { maxLength: 8 }), (lines) =>
        checkIcs(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x", "BEGIN:VEVENT", "UID:u", "DTSTART:20240101T000000Z", ...lines, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n")),
      ),
      { numRuns: runs(1000, 0.2), seed: SEED },
    );
    console.log(`# fuzz parser outcomes: ${JSON.stringify(counts)}`);
  });
});
