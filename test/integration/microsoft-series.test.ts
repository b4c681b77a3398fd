/**
 * The Microsoft adapter's series writes against the Graph emulator: a recurring event created with an
 * override and an EXDATE in one PUT (POST, then a PATCH and a DELETE of occurrences found through
 * /instances); an override dropped later goes back to the series' values (Graph cannot turn an exception
 * back into a plain occurrence); dropping an EXDATE is refused before anything is written (Graph cannot
 * restore a cancelled occurrence); a refused RRULE names the rule part.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Permanent } from "../../src/sources/adapter.ts";
import { MicrosoftAdapter } from "../../src/sources/microsoft/adapter.ts";
import { startGraphEmulator, type GraphEmulator } from "../emulators/graph/index.ts";
import { graphSource, GRAPH_CLIENT_ID, signIn } from "../helpers/graph-source.ts";
import { memoryContext } from "../helpers/memory-upstream.ts";

const UPN = "series@contoso.example";
let emu: GraphEmulator;
let secrets: Map<string, string>;

before(async () => {
  emu = await startGraphEmulator({ seed: 9, deviceCodeIntervalSec: 1 });
  emu.addClient(GRAPH_CLIENT_ID);
  emu.addAccount(UPN, { timeZone: "W. Europe Standard Time" });
  secrets = await signIn(emu, graphSource(emu), UPN);
});
after(async () => {
  await emu?.close();
});

const series = (extra: string[] = [], overrides: string[][] = []): string =>
  [
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate series test//EN",
    "BEGIN:VEVENT", "UID:weekly@calgate.test", "DTSTAMP:20261201T000000Z", "DTSTART;TZID=Europe/Berlin:20270104T090000",
    "DTEND;TZID=Europe/Berlin:20270104T093000", "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6", ...extra, "SUMMARY:Weekly", "END:VEVENT",
    ...overrides.flatMap((o) => ["BEGIN:VEVENT", "UID:weekly@calgate.test", "DTSTAMP:20261201T000000Z", ...o, "END:VEVENT"]),
    "END:VCALENDAR", "",
  ].join("\r\n");

const moved = ["RECURRENCE-ID;TZID=Europe/Berlin:20270111T090000", "DTSTART;TZID=Europe/Berlin:20270111T140000", "DTEND;TZID=Europe/Berlin:20270111T143000", "SUMMARY:Weekly (afternoon)"];

test("a series with an override and an EXDATE in one create; an override dropped goes back; an EXDATE dropped is refused", async () => {
  const calId = emu.addCalendar(UPN, { name: "Series" });
  const adapter = new MicrosoftAdapter(graphSource(emu), { timeoutMs: 10_000, backoffBaseMs: 5 });
  const ctx = memoryContext();
  for (const [k, v] of secrets) ctx.secretValues.set(k, v);
  const cal = (await adapter.listCalendars(ctx)).find((c) => c.id === calId)!;

  const created = await adapter.write(cal, { name: "weekly.ics", ref: null, ics: series(["EXDATE;TZID=Europe/Berlin:20270118T090000"], [moved]) }, ctx);
  const events = () => emu.events(UPN, calId);
  const master = events().find((e) => e.type === "seriesMaster");
  assert.ok(master, "a series master at Graph");
  assert.equal(created.ref.id, master.id);
  const exception = events().find((e) => e.type === "exception");
  assert.equal(exception?.subject, "Weekly (afternoon)", "the override is an exception of the series");
  const got = await adapter.get(cal, master.id, ctx);
  assert.match(got!.ics, /EXDATE;TZID=[^:]+:20270118T090000/, "the EXDATE cancelled its occurrence");
  assert.match(got!.ics, /RECURRENCE-ID;TZID=[^:]+:20270111T090000/);

  // The client drops the override (keeping the EXDATE): the occurrence takes the series' values again.
  const back = await adapter.write(cal, { name: "weekly.ics", ref: got!.ref, ics: series(["EXDATE;TZID=Europe/Berlin:20270118T090000"]) }, ctx);
  const ex = events().find((e) => e.type === "exception");
  assert.ok(ex, "Graph keeps the exception (it cannot turn it back into an occurrence)");
  assert.equal(ex.subject, "Weekly", "the former exception has the series' title");
  assert.equal(Date.parse(`${ex.start.dateTime}Z`), Date.parse("2027-01-11T08:00:00Z"), "and its slot");
  assert.equal(back.stored, "changed", "the client is told that Graph keeps an override");

  // Dropping the EXDATE would need Graph to restore a cancelled occurrence: refused, nothing written.
  emu.resetRequests();
  await assert.rejects(adapter.write(cal, { name: "weekly.ics", ref: back.ref, ics: series() }, ctx), (e: Error) => e instanceof Permanent && /cannot restore cancelled occurrences \(2027-01-18\)/.test(e.message));
  assert.equal(emu.requests.filter((r) => r.method !== "GET").length, 0, "no write reached Graph");

  // A rule Graph cannot express is refused before any request, naming it.
  emu.resetRequests();
  const monthly = series().replace("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6", "RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15").replace("UID:weekly", "UID:monthly");
  await assert.rejects(adapter.write(cal, { name: "monthly.ics", ref: null, ics: monthly }, ctx), (e: Error) => e instanceof Permanent && (e as Permanent).status === 403 && /BYMONTHDAY/.test(e.message));
  assert.equal(emu.requests.length, 0, "nothing reached Graph");
});
