/**
 * The Microsoft adapter's time window and request budget, against the Graph emulator with a virtual
 * clock for the adapter:
 *  - the window slides (a new full round once its start is more than 30 days behind), and an event that
 *    leaves it is not a deletion: its copy stays (listed with its known version), a removal reported for
 *    it is ignored, and an event moved out of the window by Outlook is read again rather than deleted;
 *  - the mailbox budget (here 10 requests per 10 minutes) spaces requests in virtual time, retries
 *    after a 429 included, and a fractional Retry-After is waited exactly.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Clock } from "../../src/sources/budget.ts";
import { MicrosoftAdapter } from "../../src/sources/microsoft/adapter.ts";
import { parseRetryAfter } from "../../src/sources/microsoft/errors.ts";
import { startGraphEmulator, type GraphEmulator } from "../emulators/graph/index.ts";
import { graphSource, GRAPH_CLIENT_ID, signIn } from "../helpers/graph-source.ts";
import { memoryContext } from "../helpers/memory-upstream.ts";
import { pullAll } from "../contract/source-adapter.ts";

const UPN = "window@contoso.example";
const DAY = 86_400_000;
let emu: GraphEmulator;
let secrets: Map<string, string>;

before(async () => {
  emu = await startGraphEmulator({ seed: 5, deviceCodeIntervalSec: 1 });
  emu.addClient(GRAPH_CLIENT_ID);
  emu.addAccount(UPN);
  secrets = await signIn(emu, graphSource(emu), UPN);
});
after(async () => {
  await emu?.close();
});

function setup(opts: { clock: Clock; window?: { pastDays: number; futureDays: number }; perTenMinutes?: number }) {
  const calId = emu.addCalendar(UPN, { name: `Window ${Math.random().toString(36).slice(2, 8)}` });
  const adapter = new MicrosoftAdapter(graphSource(emu, opts.window ? { window: opts.window } : {}), { timeoutMs: 10_000, backoffBaseMs: 5, clock: opts.clock, ...(opts.perTenMinutes ? { perTenMinutes: opts.perTenMinutes } : {}) });
  const ctx = memoryContext();
  for (const [k, v] of secrets) ctx.secretValues.set(k, v);
  return { calId, adapter, ctx };
}

const iso = (ms: number): string => new Date(ms).toISOString().slice(0, 19);
const slot = (ms: number) => ({ start: { dateTime: iso(ms), timeZone: "UTC" }, end: { dateTime: iso(ms + 3_600_000), timeZone: "UTC" } });
const summaries = (ctx: ReturnType<typeof memoryContext>, calId: string): string[] =>
  [...(ctx.cache.get(calId)?.values() ?? [])].map((o) => /^SUMMARY:(.*)$/m.exec(o.ics)![1]!.trim()).sort();

test("the window slides; events leaving it stay as they were; a move out of the window is read, not deleted", async () => {
  const t0 = Math.floor(Date.now() / DAY) * DAY + 10 * 3_600_000;
  let t = t0;
  const clock: Clock = { now: () => t, sleep: async (ms) => void (t += ms) };
  const { calId, adapter, ctx } = setup({ clock, window: { pastDays: 30, futureDays: 30 } });
  const cal = (await adapter.listCalendars(ctx)).find((c) => c.id === calId)!;
  const a = emu.createEvent(UPN, calId, { subject: "A", ...slot(t0 + 10 * DAY) });
  const b = emu.createEvent(UPN, calId, { subject: "B", ...slot(t0 + 25 * DAY) });
  emu.createEvent(UPN, calId, { subject: "Far", ...slot(t0 + 45 * DAY) });
  const first = await pullAll(adapter, cal, null, ctx);
  assert.equal(first.full, true);
  assert.deepEqual(summaries(ctx, calId), ["A", "B"], "only the window is imported");

  t += 45 * DAY; // the window [t0-30d, t0+31d] is now 45 days behind: the next pull lists [t0+15d, t0+76d]
  const slid = await pullAll(adapter, cal, first.next, ctx);
  assert.equal(slid.full, true, "a slide is a full listing");
  assert.ok(slid.listed?.has(a.id), "A (now before the window) is listed with its known version");
  assert.deepEqual(summaries(ctx, calId), ["A", "B", "Far"], "A stays; Far came into the window");

  emu.deleteEvent(UPN, a.id);
  emu.updateEvent(UPN, b.id, { subject: "B moved", ...slot(t0 + 120 * DAY) });
  const later = await pullAll(adapter, cal, slid.next, ctx);
  assert.equal(later.full, false);
  assert.ok(!later.changes.some((c) => c.kind === "delete"), `no deletion: ${JSON.stringify(later.changes.map((c) => c.kind))}`);
  assert.deepEqual(summaries(ctx, calId), ["A", "B moved", "Far"], "A outside the window is frozen; B moved out is updated, not deleted");
});

test("the mailbox budget spaces requests (retries included) and Retry-After is waited exactly", async () => {
  assert.equal(parseRetryAfter("2.128"), 2128);
  assert.equal(parseRetryAfter("10"), 10_000);
  assert.equal(parseRetryAfter(new Date(Date.now() + 5_000).toUTCString(), Date.now()) !== null, true);
  assert.equal(parseRetryAfter(null), null);
  let t = Date.now();
  const sleeps: number[] = [];
  const clock: Clock = { now: () => t, sleep: async (ms) => { sleeps.push(ms); t += ms; } };
  const { calId, adapter, ctx } = setup({ clock, perTenMinutes: 10 });
  const cal = (await adapter.listCalendars(ctx)).find((c) => c.id === calId)!;
  emu.fault({ method: "GET", path: /\/calendarView\/delta/, status: 429, code: "TooManyRequests", retryAfter: "2.128", times: 1 });
  const start = t;
  emu.resetRequests();
  for (let i = 0; i < 12; i++) await adapter.pull(cal, null, ctx);
  const graph = emu.requests.filter((r) => r.path.startsWith("/v1.0"));
  assert.equal(graph.length, 13, "12 delta requests and one retry after the 429");
  assert.equal(adapter.requests, 1 + 13, "every attempt is counted (the calendar list too)");
  assert.ok(sleeps.includes(2128), `Retry-After 2.128 s waited exactly (slept ${sleeps.join(", ")})`);
  assert.ok(t - start >= 600_000, `14 requests at 10 per 10 minutes need a second window (took ${((t - start) / 60_000).toFixed(1)} virtual minutes)`);
});
