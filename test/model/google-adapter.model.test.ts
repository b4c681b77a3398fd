/**
 * A model test of the Google adapter's write path against the emulator (fast-check commands): writes
 * (create, update, delete) retried the way the writer retries them, mixed with lost answers, 5xx,
 * rate-limit answers and edits made at Google by another client. After every step:
 *  - Google holds exactly one live event per UID the model says exists, none for deleted ones
 *    (no duplicate from a retried insert, no resurrection), with the content of the last write that
 *    was reported as done, unless another client changed it since;
 *  - a write over another client's change is refused with PreconditionFailedUpstream, never applied;
 *  - every failure is a typed UpstreamError.
 * GOOGLE_MODEL_RUNS (default 25) sets the number of runs.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { GoogleSourceConfig } from "../../src/config/schema.ts";
import { GoogleAdapter } from "../../src/sources/google/adapter.ts";
import { PreconditionFailedUpstream, UpstreamError, isRetryable, type RemoteCalendar, type RemoteRef } from "../../src/sources/adapter.ts";
import { startGoogleEmulator, type GoogleEmulator } from "../emulators/google/index.ts";
import { memoryContext } from "../helpers/memory-upstream.ts";

const RUNS = Number(process.env.GOOGLE_MODEL_RUNS ?? 25);
const CLIENT = { clientId: "model.apps.googleusercontent.com", clientSecret: "model-secret" };
const EMAIL = "model@example.com";
const SLOTS = 3;

interface Slot {
  uid: string;
  /** What Google must hold (null: nothing live). */
  summary: string | null;
  /** The version calgate knows (null: not created, or unknown after another client's edit). */
  ref: RemoteRef | null;
  /** Another client changed it since calgate's last read: the next write must be refused. */
  theirs: boolean;
}

interface Real {
  emu: GoogleEmulator;
  adapter: GoogleAdapter;
  ctx: ReturnType<typeof memoryContext>;
  cal: RemoteCalendar;
  slots: Slot[];
  n: number;
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

function check(r: Real): void {
  const live = r.emu.events(r.cal.id).filter((e) => e.status !== "cancelled" && !e.recurringEventId);
  for (const s of r.slots) {
    const mine = live.filter((e) => e.iCalUID === s.uid);
    if (s.summary === null) assert.equal(mine.length, 0, `${s.uid} must not exist at Google`);
    else {
      assert.equal(mine.length, 1, `exactly one event for ${s.uid}, found ${mine.length}`);
      assert.equal(mine[0].summary, s.summary, `${s.uid} holds the last write`);
    }
  }
}

class Write implements fc.AsyncCommand<object, Real> {
  constructor(readonly slot: number) {}
  check = (): boolean => true;
  async run(_m: object, r: Real): Promise<void> {
    const s = r.slots[this.slot]!;
    const summary = `v${++r.n}`;
    const text = ics(s.uid, summary);
    try {
      const w = await persist(() => r.adapter.write(r.cal, { name: `${this.slot}.ics`, ref: s.summary === null ? null : s.ref, ics: text }, r.ctx));
      assert.ok(!s.theirs, "a write over another client's change was applied");
      s.summary = summary;
      s.ref = w.ref;
    } catch (e) {
      if (e instanceof PreconditionFailedUpstream && s.theirs) {
        // What the writer does on a clash: read what Google holds now; the next write goes on it.
        const got = await persist(() => r.adapter.get(r.cal, s.ref!.id, r.ctx));
        s.ref = got?.ref ?? null;
        s.theirs = false;
      } else throw e;
    }
    check(r);
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
      const got = await persist(() => r.adapter.get(r.cal, s.ref!.id, r.ctx));
      s.ref = got?.ref ?? null;
      s.theirs = false;
    }
    check(r);
  }
  toString = (): string => `Remove(${this.slot})`;
}

class OtherEdit implements fc.AsyncCommand<object, Real> {
  constructor(readonly slot: number) {}
  check = (): boolean => true;
  async run(_m: object, r: Real): Promise<void> {
    const s = r.slots[this.slot]!;
    const ev = r.emu.events(r.cal.id).find((e) => e.iCalUID === s.uid && e.status !== "cancelled" && !e.recurringEventId);
    if (!ev) return;
    s.summary = `theirs${++r.n}`;
    s.theirs = true;
    r.emu.patchEvent(r.cal.id, ev.id, { summary: s.summary });
  }
  toString = (): string => `OtherEdit(${this.slot})`;
}

class Fault implements fc.AsyncCommand<object, Real> {
  constructor(readonly method: "POST" | "PUT" | "DELETE" | "GET", readonly kind: "lost" | "500" | "503" | "rate") {}
  check = (): boolean => true;
  async run(_m: object, r: Real): Promise<void> {
    const path = new RegExp(`/calendars/${r.cal.id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/`);
    if (this.kind === "lost") r.emu.fault({ method: this.method, path, status: 200, loseAnswer: true, times: 1 });
    else if (this.kind === "rate") r.emu.fault({ method: this.method, path, status: 403, reason: "rateLimitExceeded", times: 1 });
    else r.emu.fault({ method: this.method, path, status: Number(this.kind), reason: "backendError", times: 1 });
  }
  toString = (): string => `Fault(${this.method}, ${this.kind})`;
}

let emu: GoogleEmulator;
before(async () => {
  emu = await startGoogleEmulator({ seed: 2 });
  emu.addClient(CLIENT);
  emu.addAccount(EMAIL, { timeZone: "UTC" });
});
after(async () => {
  await emu?.close();
});

test(`the Google adapter's writes under lost answers, 5xx, rate limits and concurrent edits (${RUNS} runs)`, async () => {
  let calendars = 0;
  const slot = fc.integer({ min: 0, max: SLOTS - 1 });
  const cmds = [
    slot.map((s) => new Write(s)),
    slot.map((s) => new Write(s)),
    slot.map((s) => new Remove(s)),
    slot.map((s) => new OtherEdit(s)),
    fc.tuple(fc.constantFrom("POST" as const, "PUT" as const, "DELETE" as const, "GET" as const), fc.constantFrom("lost" as const, "500" as const, "503" as const, "rate" as const)).map(([m, k]) => new Fault(m, k)),
  ];
  await fc.assert(
    fc.asyncProperty(fc.commands(cmds, { maxCommands: 25 }), async (commands) => {
      const calId = emu.addCalendar(EMAIL, { summary: `Model ${++calendars}`, timeZone: "UTC", accessRole: "owner" });
      const cfg = { id: "model", type: "google", ...CLIENT, apiUrl: emu.apiUrl, authUrl: emu.authUrl, tokenUrl: emu.tokenUrl } as GoogleSourceConfig;
      const adapter = new GoogleAdapter(cfg, { timeoutMs: 10_000, backoffBaseMs: 1, maxAttempts: 2 });
      const ctx = memoryContext();
      const grant = emu.grant(CLIENT.clientId, EMAIL, ["https://www.googleapis.com/auth/calendar"]);
      ctx.secretValues.set("oauth", JSON.stringify({ refresh_token: grant.refresh_token, scope: "https://www.googleapis.com/auth/calendar", obtained_at: Date.now(), client_id: CLIENT.clientId }));
      const cal = (await adapter.listCalendars(ctx)).find((c) => c.id === calId)!;
      const slots = Array.from({ length: SLOTS }, (_, i) => ({ uid: `model-${calendars}-${i}@calgate.test`, summary: null, ref: null, theirs: false }));
      try {
        await fc.asyncModelRun(() => ({ model: {}, real: { emu, adapter, ctx, cal, slots, n: 0 } }), commands);
      } finally {
        emu.clearFaults(); // faults a run armed but did not meet must not hit the next run
      }
    }),
    { numRuns: RUNS },
  );
});
