/**
 * The model's commands (fast-check `fc.commands`): what a client, another client of the upstream,
 * the upstream's failures, time, a second process and restarts can do. Each command acts on the
 * World, lets it settle, and checks the step invariants.
 */
import fc from "fast-check";
import type { FaultAction, Op } from "../helpers/memory-upstream.ts";
import { performance } from "node:perf_hooks";
import { CAL, count, type World } from "./world.ts";
import { maskText } from "./objects.ts";

/** The model proper is the World's record of what happened; fast-check's model object stays empty. */
export type Model = Record<string, never>;
export type Cmd = fc.AsyncCommand<Model, World>;

abstract class Base implements Cmd {
  /** False for commands that only arm faults or change the upstream: calgate does nothing, nothing to check. */
  readonly touchesCalgate: boolean = true;
  check(): boolean {
    return true;
  }
  async run(_m: Model, w: World): Promise<void> {
    w.log(`» ${this.toString()}`);
    const t0 = performance.now();
    await this.act(w);
    const t1 = performance.now();
    if (this.touchesCalgate) await w.checkStep(this.toString());
    if (process.env.MODEL_STATS) {
      count(`cmd ${this.constructor.name} n`);
      count(`cmd ${this.constructor.name} ms`, Math.round(t1 - t0));
      count("cmd checkStep ms", Math.round(performance.now() - t1));
    }
  }
  abstract act(w: World): Promise<void>;
  abstract toString(): string;
}

const slotOf = (w: World, slot: number): number => slot % w.params.slots;

/**
 * One PUT in five carries a SUMMARY with a comma (what Radicale 3.1.8 cuts short when a rewrite fault
 * is armed). `mask` (objects.ts: 1 SUMMARY, 2 LOCATION, 4 DESCRIPTION, 8 CATEGORIES) names the
 * properties the edit changes; a create sets them all.
 */
export class ClientPut extends Base {
  constructor(readonly slot: number, readonly mode: "fresh" | "stale" | "blind", readonly comma: boolean, readonly mask = 1) {
    super();
  }
  act(w: World): Promise<void> {
    return w.clientPut(slotOf(w, this.slot), this.mode, this.comma, this.mask);
  }
  toString(): string {
    return `ClientPut(s${this.slot}, ${this.mode}${this.comma ? ", comma" : ""}${this.mask !== 1 ? `, ${maskText(this.mask)}` : ""})`;
  }
}

export class ClientDelete extends Base {
  constructor(readonly slot: number, readonly mode: "fresh" | "stale") {
    super();
  }
  act(w: World): Promise<void> {
    return w.clientDelete(slotOf(w, this.slot), this.mode);
  }
  toString(): string {
    return `ClientDelete(s${this.slot}, ${this.mode})`;
  }
}

export class OtherPut extends Base {
  override readonly touchesCalgate = false;
  constructor(readonly slot: number, readonly mask = 1) {
    super();
  }
  async act(w: World): Promise<void> {
    w.otherPut(slotOf(w, this.slot), this.mask);
  }
  toString(): string {
    return `OtherPut(s${this.slot}${this.mask !== 1 ? `, ${maskText(this.mask)}` : ""})`;
  }
}

export class OtherDelete extends Base {
  override readonly touchesCalgate = false;
  constructor(readonly slot: number) {
    super();
  }
  async act(w: World): Promise<void> {
    w.otherDelete(slotOf(w, this.slot));
  }
  toString(): string {
    return `OtherDelete(s${this.slot})`;
  }
}

export class Sync extends Base {
  constructor(readonly which: "primary" | "conn2") {
    super();
  }
  act(w: World): Promise<void> {
    return w.sync(this.which);
  }
  toString(): string {
    return `Sync(${this.which})`;
  }
}

/** A CalDAV client's sync-collection, `limit` members per report. */
export class ClientSync extends Base {
  constructor(readonly limit: number) {
    super();
  }
  act(w: World): Promise<void> {
    return w.clientSync(this.limit);
  }
  toString(): string {
    return `ClientSync(${this.limit})`;
  }
}

export class Replay extends Base {
  act(w: World): Promise<void> {
    return w.replay();
  }
  toString(): string {
    return "Replay()";
  }
}

const describe = (a: FaultAction): string => (a.kind === "omit-calendar" ? `omit ${a.calendar}` : a.kind === "rate-limited" ? `rate-limited ${a.retryAfterMs ?? ""}` : a.kind);

export class Fault extends Base {
  override readonly touchesCalgate = false;
  constructor(readonly op: Op, readonly action: FaultAction) {
    super();
  }
  async act(w: World): Promise<void> {
    w.fault(this.op, this.action);
  }
  toString(): string {
    return `Fault(${this.op}, ${describe(this.action)})`;
  }
}

export class HoldNext extends Base {
  override readonly touchesCalgate = false;
  constructor(readonly op: Op, readonly when: "before" | "after") {
    super();
  }
  async act(w: World): Promise<void> {
    w.hold(this.op, this.when);
  }
  toString(): string {
    return `Hold(${this.op}, ${this.when})`;
  }
}

export class Release extends Base {
  constructor(readonly k: number, readonly outcome: FaultAction | null) {
    super();
  }
  act(w: World): Promise<void> {
    return w.release(this.k, this.outcome);
  }
  toString(): string {
    return `Release(${this.k}${this.outcome ? `, ${describe(this.outcome)}` : ""})`;
  }
}

export class Tick extends Base {
  constructor(readonly ms: number) {
    super();
  }
  act(w: World): Promise<void> {
    return w.tick(this.ms);
  }
  toString(): string {
    return `Tick(${this.ms})`;
  }
}

export class ExpireCursors extends Base {
  override readonly touchesCalgate = false;
  async act(w: World): Promise<void> {
    w.upstream.expireCursors(CAL);
    w.log("upstream: cursors expired");
  }
  toString(): string {
    return "ExpireCursors()";
  }
}

export class Restart extends Base {
  act(w: World): Promise<void> {
    return w.restart();
  }
  toString(): string {
    return "Restart()";
  }
}

/** Arms a hold on the next `op` call, then runs `inner` (which makes that call and parks on it). */
export class Held extends Base {
  constructor(readonly op: Op, readonly when: "before" | "after", readonly inner: Base) {
    super();
  }
  async act(w: World): Promise<void> {
    w.hold(this.op, this.when);
    await this.inner.act(w);
  }
  toString(): string {
    return `Held(${this.op}, ${this.when}, ${this.inner.toString()})`;
  }
}

/** The source leaves the configuration (restart), or comes back (restart). */
export class Configure extends Base {
  constructor(readonly configured: boolean) {
    super();
  }
  act(w: World): Promise<void> {
    return w.configure(this.configured);
  }
  toString(): string {
    return this.configured ? "RestoreSource()" : "RemoveSource()";
  }
}

/**
 * The other client changes the upstream, then (before any sync) the client writes the same object:
 * the client's write meets a version it never saw, a conflict its policy decides. Edits of different
 * properties merge; a DELETE against an edit (or an edit against the other client's delete) keeps the edit under merge.
 */
export class Race extends Base {
  constructor(readonly other: Base, readonly client: Base) {
    super();
  }
  async act(w: World): Promise<void> {
    await this.other.act(w);
    await this.client.act(w);
  }
  toString(): string {
    return `Race(${this.other.toString()}, ${this.client.toString()})`;
  }
}

/** The second process writes `n` status events while `inner` runs. */
export class Noisy extends Base {
  constructor(readonly n: number, readonly inner: Base) {
    super();
  }
  act(w: World): Promise<void> {
    return w.noise(this.n, () => this.inner.act(w));
  }
  toString(): string {
    return `Noisy(${this.n}, ${this.inner.toString()})`;
  }
}

// --- arbitraries -------------------------------------------------------------------------------------

const slot = fc.nat({ max: 2 });
/** Which properties an edit changes: mostly one (so the two sides often touch different ones), sometimes several. */
const mask = fc.constantFrom(1, 2, 4, 8, 1, 2, 4, 8, 3, 5, 9, 6, 12, 15);
const putModes = ["fresh", "fresh", "fresh", "stale", "stale", "blind"] as const;

const failures: Record<Op, FaultAction[]> = {
  write: [{ kind: "transient", status: 503 }, { kind: "rate-limited", retryAfterMs: 30_000 }, { kind: "permanent", status: 403 }, { kind: "precondition" }, { kind: "apply-then-fail" }, { kind: "rewrite" }, { kind: "drop" }, { kind: "auth" }],
  remove: [{ kind: "transient", status: 503 }, { kind: "permanent", status: 403 }, { kind: "precondition" }, { kind: "apply-then-fail" }],
  pull: [{ kind: "transient", status: 503 }, { kind: "rate-limited", retryAfterMs: 30_000 }, { kind: "auth" }],
  get: [{ kind: "transient", status: 503 }],
  locate: [{ kind: "transient", status: 503 }],
  listCalendars: [{ kind: "transient", status: 503 }, { kind: "omit-calendar", calendar: CAL }, { kind: "omit-calendar", calendar: CAL }],
};
const ops: Op[] = ["write", "remove", "pull", "get", "locate", "listCalendars"];

/**
 * Features that can be left out (MODEL_EXCLUDE=a,b), to look past a known failure: restart, conn2
 * (the second process altogether), conn2-sync (its syncs only), noise, hold, hold-after,
 * release-outcome, tick, expire, omit, drop, rewrite, apply-then-fail, refuse (permanent / auth),
 * 412, blind, delete, other-delete, remove-source.
 */
export function commandArb(exclude: ReadonlySet<string> = new Set()): fc.Arbitrary<Cmd> {
  const on = (f: string): boolean => !exclude.has(f);
  const keep = (a: FaultAction): boolean =>
    !((a.kind === "omit-calendar" && !on("omit")) || (a.kind === "drop" && !on("drop")) || (a.kind === "rewrite" && !on("rewrite")) || (a.kind === "apply-then-fail" && !on("apply-then-fail")) || ((a.kind === "permanent" || a.kind === "auth") && !on("refuse")) || (a.kind === "precondition" && !on("412")));
  const faultOps = ops.filter((op) => failures[op].some(keep));
  const modes = putModes.filter((m) => m !== "blind" || on("blind"));
  const clientPut = fc.tuple(slot, fc.constantFrom(...modes), fc.integer({ min: 0, max: 4 }), mask).map(([s, m, c, k]) => new ClientPut(s, m, c === 0, k));
  const outcomes: (FaultAction | null)[] = [null, null, null, ...(on("release-outcome") ? [{ kind: "precondition" } as const, { kind: "transient", status: 503 } as const, { kind: "permanent", status: 403 } as const].filter(keep) : [])];
  const whens = on("hold-after") ? (["before", "after"] as const) : (["before"] as const);
  const entries: { weight: number; arbitrary: fc.Arbitrary<Cmd> }[] = [
    { weight: 7, arbitrary: clientPut },
    ...(on("delete") ? [{ weight: 2, arbitrary: fc.tuple(slot, fc.constantFrom<"fresh" | "stale">("fresh", "stale")).map(([s, m]): Cmd => new ClientDelete(s, m)) }] : []),
    { weight: 3, arbitrary: fc.tuple(slot, mask).map(([s, k]): Cmd => new OtherPut(s, k)) },
    {
      weight: 2,
      arbitrary: fc.tuple(slot, mask, fc.integer({ min: 0, max: 9 }), fc.constantFrom(...modes), mask).map(([s, om, how, m, cm]): Cmd => {
        const other: Base = how === 0 && on("other-delete") ? new OtherDelete(s) : new OtherPut(s, om);
        const client: Base = how === 1 && on("delete") ? new ClientDelete(s, "fresh") : new ClientPut(s, m, false, cm);
        return new Race(other, client);
      }),
    },
    ...(on("other-delete") ? [{ weight: 1, arbitrary: slot.map((s): Cmd => new OtherDelete(s)) }] : []),
    { weight: 3, arbitrary: fc.constant<Cmd>(new Sync("primary")) },
    ...(on("conn2") && on("conn2-sync") ? [{ weight: 1, arbitrary: fc.constant<Cmd>(new Sync("conn2")) }] : []),
    { weight: 1, arbitrary: fc.constant<Cmd>(new Replay()) },
    { weight: 2, arbitrary: fc.constantFrom(1, 2, 100).map((n): Cmd => new ClientSync(n)) },
    { weight: 3, arbitrary: fc.constantFrom(...faultOps).chain((op) => fc.constantFrom(...failures[op].filter(keep)).map((a): Cmd => new Fault(op, a))) },
    ...(on("hold")
      ? [
          { weight: 3, arbitrary: fc.tuple(fc.constantFrom<Op>("write", "write", "remove", "pull", "pull", "get", "locate", "listCalendars"), fc.constantFrom<"before" | "after">(...whens)).map(([op, when]): Cmd => new HoldNext(op, when)) },
          { weight: 4, arbitrary: fc.tuple(fc.nat({ max: 3 }), fc.constantFrom(...outcomes)).map(([k, o]): Cmd => new Release(k, o)) },
          {
            weight: 4,
            arbitrary: fc.oneof(
              fc.tuple(fc.constantFrom<"before" | "after">(...whens), clientPut).map(([when, inner]): Cmd => new Held("write", when, inner)),
              fc.tuple(fc.constantFrom<"before" | "after">(...whens), fc.constantFrom<Op>("pull", "listCalendars", "write", "remove", "get", "locate")).map(([when, op]): Cmd => new Held(op, when, new Sync("primary"))),
              ...(on("delete") ? [fc.tuple(fc.constantFrom<"before" | "after">(...whens), slot).map(([when, sl]): Cmd => new Held("remove", when, new ClientDelete(sl, "fresh")))] : []),
            ),
          },
        ]
      : []),
    ...(on("tick") ? [{ weight: 1, arbitrary: fc.constantFrom(6_000, 3_600_000).map((ms): Cmd => new Tick(ms)) }] : []),
    ...(on("expire") ? [{ weight: 1, arbitrary: fc.constant<Cmd>(new ExpireCursors()) }] : []),
    ...(on("restart") ? [{ weight: 1, arbitrary: fc.constant<Cmd>(new Restart()) }] : []),
    ...(on("remove-source") ? [{ weight: 1, arbitrary: fc.boolean().map((b): Cmd => new Configure(b)) }] : []),
    ...(on("noise") && on("conn2") ? [{ weight: 1, arbitrary: fc.tuple(fc.integer({ min: 5, max: 30 }), fc.oneof(fc.constant<Base>(new Sync("primary")), clientPut as fc.Arbitrary<Base>)).map(([n, inner]): Cmd => new Noisy(n, inner)) }] : []),
  ];
  return fc.oneof(...entries);
}
