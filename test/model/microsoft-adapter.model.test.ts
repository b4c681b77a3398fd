/**
 * A model test of the Microsoft Graph adapter's write path against the Graph emulator (fast-check
 * commands): writes (create, update, delete) retried the way the writer retries them, mixed with lost
 * answers, 5xx, 429 answers and edits made in Outlook by another client. After every step:
 *  - Graph holds exactly one event per UID the model says exists, none for deleted ones (no duplicate
 *    from a repeated create: transactionId; no resurrection), with the content of the last write that
 *    was reported as done, unless another client changed it since;
 *  - a write over another client's change is refused with PreconditionFailedUpstream, never applied;
 *  - every failure is a typed UpstreamError.
 * MICROSOFT_MODEL_RUNS (default 20) sets the number of runs.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MicrosoftAdapter } from "../../src/sources/microsoft/adapter.ts";
import { PreconditionFailedUpstream, UpstreamError, isRetryable, type RemoteCalendar, type RemoteRef } from "../../src/sources/adapter.ts";
import { startGraphEmulator, type GraphEmulator } from "../emulators/graph/index.ts";
import { raw } from "../emulators/graph/harness.ts";
import { eventIdByUid, graphSource, GRAPH_CLIENT_ID, signIn } from "../helpers/graph-source.ts";
import { memoryContext } from "../helpers/memory-upstream.ts";

const RUNS = Number(process.env.MICROSOFT_MODEL_RUNS ?? 20);
const UPN = "model@contoso.example";
const SLOTS = 3;
/** Only the adapter's requests (/me/…): the test's own look-ups go through /users/{upn}/…. */
const EVENTS = /^\/v1\.0\/me\/(.*\/)?events(\/|$|\?)/;

interface Slot {
  uid: string;
  /** What Graph must hold (null: nothing). */
  summary: string | null;
  /** The version calgate knows (null: not created). */
  ref: RemoteRef | null;
  /** Another client changed it since calgate's last read: the next write must be refused. */
  theirs: boolean;
}

interface Real {
  emu: GraphEmulator;
  adapter: MicrosoftAdapter;
  ctx: ReturnType<typeof memoryContext>;
  cal: RemoteCalendar;
  slots: Slot[];
  n: number;
  faults: number;
}

const ics = (uid: string, summary: string): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate model//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20261201T000000Z",
    "DTSTART:20270105T100000Z", "DTEND:20270105T110000Z", `SUMMARY:${summary}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

/** Retries a write the way the writer does: again after a retryable failure (same ref), at most 6 times. */
async function persist<T>(f: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await f();
    } catch (e) {
      assert.ok(e instanceof UpstreamError, `a typed upstream error, got ${(e as Error).stack}`);
      if (!isRetryable(e) || i >= 6) throw e;
    }
  }
}

async function check(r: Real): Promise<void> {
  const all = r.emu.events(UPN, r.cal.id);
  for (const s of r.slots) {
    const id = await eventIdByUid(r.emu, UPN, r.cal.id, s.uid);
    if (s.summary === null) assert.equal(id, null, `${s.uid} must not exist at Graph`);
    else {
      assert.ok(id, `an event for ${s.uid}`);
      assert.equal(all.filter((e) => e.subject === s.summary).length, 1, `exactly one event holds ${s.summary}`);
      assert.equal(all.find((e) => e.id === id)?.subject, s.summary, `${s.uid} holds the last write`);
    }
  }
  assert.equal(all.length, r.slots.filter((s) => s.summary !== null).length, "no other event at Graph (no duplicate)");
}

/** What the writer does on a clash: read what Graph holds now; the next write goes on it. */
async function reread(r: Real, s: Slot): Promise<void> {
  const got = await persist(() => r.adapter.get(r.cal, s.ref!.id, r.ctx));
  s.ref = got?.ref ?? null;
  s.theirs = false;
}

class Write implements fc.AsyncCommand<object, Real> {
  constructor(readonly slot: number) {}
  check = (): boolean => true;
  async run(_m: object, r: Real): Promise<void> {
    const s = r.slots[this.slot]!;
    const summary = `v${++r.n}`;
    try {
      const w = await persist(() => r.adapter.write(r.cal, { name: `${this.slot}.ics`, ref: s.summary === null ? null : s.ref, ics: ics(s.uid, summary) }, r.ctx));
      assert.ok(!s.theirs, "a write over another client's change was applied");
      s.summary = summary;
      s.ref = w.ref;
    } catch (e) {
      if (!(e instanceof PreconditionFailedUpstream && s.theirs)) throw e;
      await reread(r, s);
    }
    await check(r);
  }
  toString = (): string => `Write(${this.slot})`;
}

class Remove implements fc.AsyncCommand<object, Real> {
  constructor(readonly slot: number) {}
  check = (): boolean => true;
  async run(_m: object, r: Real): Promise<void> {
    const s = r.slots[this.slot]!;
    if (s.summary === null || s.ref === null) return;
    try {
      await persist(() => r.adapter.remove(r.cal, s.ref!, r.ctx));
      assert.ok(!s.theirs, "a delete over another client's change was applied");
      s.summary = null;
      s.ref = null;
    } catch (e) {
      if (!(e instanceof PreconditionFailedUpstream && s.theirs)) throw e;
      await reread(r, s);
    }
    await check(r);
  }
  toString = (): string => `Remove(${this.slot})`;
}

class OtherEdit implements fc.AsyncCommand<object, Real> {
  constructor(readonly slot: number) {}
  check = (): boolean => true;
  async run(_m: object, r: Real): Promise<void> {
    const s = r.slots[this.slot]!;
    const id = await eventIdByUid(r.emu, UPN, r.cal.id, s.uid);
    if (!id) return;
    s.summary = `theirs${++r.n}`;
    s.theirs = true;
    r.emu.updateEvent(UPN, id, { subject: s.summary });
  }
  toString = (): string => `OtherEdit(${this.slot})`;
}

class Fault implements fc.AsyncCommand<object, Real> {
  constructor(readonly method: "POST" | "PATCH" | "DELETE" | "GET", readonly kind: "lost" | "500" | "503" | "429") {}
  check = (): boolean => true;
  async run(_m: object, r: Real): Promise<void> {
    r.faults++;
    if (this.kind === "lost") r.emu.fault({ method: this.method, path: EVENTS, status: 200, loseAnswer: true, times: 1 });
    else if (this.kind === "429") r.emu.fault({ method: this.method, path: EVENTS, status: 429, code: "TooManyRequests", retryAfter: "0.01", times: 1 });
    else r.emu.fault({ method: this.method, path: EVENTS, status: Number(this.kind), code: "generalException", retryAfter: null, times: 1 });
  }
  toString = (): string => `Fault(${this.method}, ${this.kind})`;
}

/** Faults a run armed but did not meet must not hit the next run: meet them with harmless requests. */
async function drainFaults(emu: GraphEmulator, n: number): Promise<void> {
  const token = emu.grant(GRAPH_CLIENT_ID, UPN).access_token;
  for (let i = 0; i < n; i++) {
    for (const method of ["POST", "PATCH", "DELETE", "GET"]) await raw(emu, method, "v1.0/me/events/drain", { token, body: method === "GET" || method === "DELETE" ? undefined : {} }).catch(() => undefined);
  }
}

let emu: GraphEmulator;
let secrets: Map<string, string>;
before(async () => {
  emu = await startGraphEmulator({ seed: 2, deviceCodeIntervalSec: 1 });
  emu.addClient(GRAPH_CLIENT_ID);
  emu.addAccount(UPN, { timeZone: "UTC" });
  secrets = await signIn(emu, graphSource(emu), UPN);
});
after(async () => {
  await emu?.close();
});

test(`the Microsoft adapter's writes under lost answers, 5xx, 429 and concurrent edits (${RUNS} runs)`, async () => {
  let calendars = 0;
  const slot = fc.integer({ min: 0, max: SLOTS - 1 });
  const cmds = [
    slot.map((s) => new Write(s)),
    slot.map((s) => new Write(s)),
    slot.map((s) => new Remove(s)),
    slot.map((s) => new OtherEdit(s)),
    fc.tuple(fc.constantFrom("POST" as const, "PATCH" as const, "DELETE" as const, "GET" as const), fc.constantFrom("lost" as const, "500" as const, "503" as const, "429" as const)).map(([m, k]) => new Fault(m, k)),
  ];
  await fc.assert(
    fc.asyncProperty(fc.commands(cmds, { maxCommands: 25 }), async (commands) => {
      const calId = emu.addCalendar(UPN, { name: `Model ${++calendars}` });
      const adapter = new MicrosoftAdapter(graphSource(emu), { timeoutMs: 10_000, backoffBaseMs: 1, maxAttempts: 2 });
      const ctx = memoryContext();
      for (const [k, v] of secrets) ctx.secretValues.set(k, v);
      const cal = (await adapter.listCalendars(ctx)).find((c) => c.id === calId)!;
      const slots = Array.from({ length: SLOTS }, (_, i) => ({ uid: `model-${calendars}-${i}@calgate.test`, summary: null, ref: null, theirs: false }));
      const real: Real = { emu, adapter, ctx, cal, slots, n: 0, faults: 0 };
      try {
        await fc.asyncModelRun(() => ({ model: {}, real }), commands);
      } finally {
        await drainFaults(emu, real.faults);
      }
    }),
    { numRuns: RUNS },
  );
});
