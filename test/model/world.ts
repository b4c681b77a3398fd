/**
 * The world of one model run: a memory upstream, calgate's primary process (and, on demand, a second
 * process on the same database file), the client's view and a record of everything that happened,
 * with the invariants checked after every command and after quiescence.
 *
 * Objects are edited property by property (objects.ts) and every version's lineage is recorded (what
 * it was made from), for the conflict-policy oracle and the "no version disappears" check (lineage.ts).
 *
 * Time is the test's: Date and setTimeout are mocked (node:test mock.timers) by the test file, so
 * write deadlines, retry backoffs, claims and leases move only when a command ticks the clock.
 * Everything that may block (client requests, syncs, replays) runs as an "actor": started, then the
 * world settles (no query running or waiting on either connection, no upstream call unanswered
 * except those parked on a hold) before the next command.
 */
import { performance } from "node:perf_hooks";
import { rmSync } from "node:fs";
import { sameContent } from "../../src/sync/conflict.ts";
import { MemoryUpstream, idForName, type FaultAction, type Hold, type Op } from "../helpers/memory-upstream.ts";
import { Instance, type Answer } from "./calgate.ts";
import { contentKey } from "../../src/sync/conflict.ts";
import { edit, fieldsOf, maskText, render, resolutionProblems, summaryOf, type Policy } from "./objects.ts";
import { coverage, etagProblems, finalProblems, report } from "./invariants.ts";
export { slotUid } from "./objects.ts";

export const CAL = "cal1";

/** Mocked time, driven by the test file. */
export interface Clock {
  tick(ms: number): void;
}

export interface RunParams {
  /** Objects the client and the other client work on (names s0.ics ...). */
  readonly slots: number;
  /** Slots the other client created upstream before the first sync. */
  readonly initial: readonly boolean[];
  readonly pageSize: number;
  readonly nullEtags: false | "pull";
  readonly cursorExpiry: "full" | "throw";
  readonly writeDeadlineMs: number;
  /** sync.conflictPolicy of the run (default merge). */
  readonly policy?: Policy;
  /** Known defects (regressions.test.ts, todo) whose exact symptom the checks look past; none by default. */
  readonly lookPast?: readonly string[];
}

export const slotName = (slot: number): string => `s${slot}.ics`;
/** A created object (every property set, stamped at logical time n). */
export function slotEvent(slot: number, summary: string, n = 0): string {
  return render(slot, edit(null, 0, summary, false), n);
}


type OpStatus = "pending" | "ok" | "412" | "404" | "409" | "refused" | "error";

export interface ClientOp {
  readonly n: number;
  readonly slot: number;
  readonly kind: "put" | "delete";
  readonly text: string | null;
  /** DELETE: the version the cache served when it was sent (null: none), i.e. what the client meant to delete. */
  readonly target?: string | null;
  readonly cond: string;
  /** upstream.history.length when the request was made. */
  readonly issuedHist: number;
  /** Highest conflict id when the request was made. */
  readonly issuedConflict: number;
  status: OpStatus;
  detail: string;
  /** The ETag a 2xx answer carried (none: the client must refetch). */
  etag?: string;
}

export class ModelViolation extends Error {
  override name = "ModelViolation";
}

interface Actor {
  readonly id: number;
  readonly label: string;
  readonly instance: Instance;
  readonly promise: Promise<void>;
  done: boolean;
}

/** Counters over all runs of a process (MODEL_STATS=1 prints them): is the model reaching the interesting states? */
export const stats = new Map<string, number>();
export const lookedPastCounts = new Map<string, number>();
export function count(key: string, n = 1): void {
  stats.set(key, (stats.get(key) ?? 0) + n);
}

export class World {
  readonly upstream: MemoryUpstream;
  primary!: Instance;
  conn2: Instance | null = null;
  readonly ops: ClientOp[] = [];
  readonly trace: string[] = [];
  private readonly actors = new Set<Actor>();
  private actorIds = 0;
  private version = 0;
  private restarts = 0;
  /** ETag the client last saw per slot: a string, "absent" (it saw it deleted / not there), or unknown. */
  private readonly seen = new Map<number, string | "absent">();
  private readonly outboxSeen = new Set<number>();
  private calendarId: number | null = null;
  /** Holds created by commands, in order. */
  readonly holds: Hold[] = [];

  private constructor(readonly params: RunParams, readonly file: string, readonly clock: Clock) {
    this.upstream = new MemoryUpstream({ pageSize: params.pageSize, cursorExpiry: params.cursorExpiry, calendars: [CAL] });
  }

  /**
   * The upstream with the initial objects, calgate's primary process, and a first sync without faults
   * (the calendar exists before the first command). With `synced`, `file` already holds the database
   * of exactly that first sync (a copy of a template: the upstream is deterministic), and it is skipped.
   */
  static async create(params: RunParams, file: string, clock: Clock, synced = false): Promise<World> {
    const w = new World(params, file, clock);
    params.initial.forEach((on, slot) => {
      if (on) w.upstream.other.put(CAL, slotName(slot), slotEvent(slot, `init${slot}`));
    });
    w.primary = await Instance.open("primary", file, w.upstream, params.writeDeadlineMs, false, true, w.policy);
    if (!synced) {
      const r = await w.drive(w.primary.syncNow(), "initial sync");
      if (!r.ok) throw new Error(`initial sync failed: ${r.error}`);
    }
    w.upstream.nullEtags = params.nullEtags;
    await w.clientSync(1000);
    await w.checkStep("setup");
    return w;
  }

  log(line: string): void {
    this.trace.push(line);
  }

  // --- running things -----------------------------------------------------------------------------

  private quiet(): boolean {
    return this.upstream.active === 0 && this.primary.idle() && (this.conn2?.idle() ?? true);
  }

  /** Waits until nothing runs (queries, unanswered upstream calls) for two turns of the event loop. */
  async settle(what = "settle"): Promise<void> {
    const t0 = performance.now();
    let quiet = 0;
    while (quiet < 2) {
      await new Promise<void>((r) => setImmediate(r));
      this.clock.tick(0);
      quiet = this.quiet() ? quiet + 1 : 0;
      if (performance.now() - t0 > 10_000) {
        throw new ModelViolation(`${what}: calgate did not settle within 10 s (a connection held or an upstream call running: upstream.active=${this.upstream.active}, primary idle=${this.primary.idle()}, conn2 idle=${this.conn2?.idle() ?? "-"}); parked holds: ${this.upstream.parked().map((h) => h.label).join(", ") || "none"}`);
      }
    }
  }

  /** Starts a piece of work and lets the world settle; it may stay blocked on a hold. */
  async launch(label: string, instance: Instance, work: () => Promise<void>, settle = true): Promise<void> {
    const actor: Actor = {
      id: ++this.actorIds,
      label,
      instance,
      done: false,
      promise: work().then(
        () => {
          actor.done = true;
        },
        (e: unknown) => {
          actor.done = true;
          this.violation(`${label} threw instead of answering: ${(e as Error)?.stack ?? String(e)}`);
        },
      ),
    };
    this.actors.add(actor);
    void actor.promise.finally(() => this.actors.delete(actor));
    if (settle) await this.settle(label);
  }

  /** Runs work to completion, ticking the clock (500 ms at a time, up to 2 minutes) when it waits on a timer. */
  async drive<T>(p: Promise<T>, what: string): Promise<T> {
    let done = false;
    let out: { v: T } | { e: unknown } | null = null;
    void p.then((v) => ((done = true), (out = { v })), (e: unknown) => ((done = true), (out = { e })));
    for (let i = 0; ; i++) {
      await this.settle(what);
      if (done) break;
      if (i >= 240) throw new ModelViolation(`${what} did not finish (2 minutes of mocked time); parked holds: ${this.upstream.parked().map((h) => h.label).join(", ") || "none"}`);
      this.clock.tick(500);
    }
    const o = out as unknown as { v: T } | { e: unknown };
    if ("e" in o) throw o.e;
    return o.v;
  }

  pending(): string[] {
    return [...this.actors].filter((a) => !a.done).map((a) => a.label);
  }

  private violations: string[] = [];
  violation(msg: string): void {
    this.violations.push(msg);
  }

  // --- the client ---------------------------------------------------------------------------------

  private async lookup(slot: number): Promise<string | "absent"> {
    const cur = await this.primary.get(slotName(slot));
    const v = cur ? cur.etag : "absent";
    this.seen.set(slot, v);
    this.seenText.set(slot, cur?.ics ?? null);
    return v;
  }
  /** The version the client last fetched per slot (what its edits start from; null: none). */
  private readonly seenText = new Map<number, string | null>();
  /** Lineage of versions (contentKey → the versions it was made from): what an edit, a merge or a rewrite started from. */
  readonly parents = new Map<string, Set<string>>();
  derive(child: string, ...from: (string | null | undefined)[]): void {
    const k = contentKey(child);
    let set = this.parents.get(k);
    if (!set) this.parents.set(k, (set = new Set()));
    for (const f of from) if (f) set.add(contentKey(f));
  }
  /** A known defect's symptom was looked past (counted; the test prints the counts). */
  lookedPast(defect: string): void {
    count(`known defect looked past: ${defect}`);
    lookedPastCounts.set(defect, (lookedPastCounts.get(defect) ?? 0) + 1);
  }
  get policy(): Policy {
    return this.params.policy ?? "merge";
  }

  /** Highest conflict id as of the last step check (nothing ran since: the world was settled). */
  private conflictMax = 0;

  /** A client PUT: "fresh" reads the ETag first, "stale" uses the one it last saw, "blind" sends no precondition. */
  async clientPut(slot: number, mode: "fresh" | "stale" | "blind", comma: boolean, mask = 1): Promise<void> {
    const n = ++this.version;
    let cond: { ifMatch: string[] | null; ifNoneMatch: "*" | null } = { ifMatch: null, ifNoneMatch: null };
    let fetched = false;
    if (mode !== "blind") {
      const known = mode === "stale" ? this.seen.get(slot) : undefined;
      fetched = known === undefined;
      const etag = known ?? (await this.lookup(slot));
      cond = etag === "absent" ? { ifMatch: null, ifNoneMatch: "*" } : { ifMatch: [etag], ifNoneMatch: null };
    }
    // The served version now (a PUT that matches it, or a blind one, overwrites it: the client's choice, so it counts as a parent).
    const served = fetched ? (this.seenText.get(slot) ?? null) : ((await this.primary.get(slotName(slot)))?.ics ?? null);
    // The edit starts from the version the client fetched (fresh: just now; stale: earlier; blind: the served one).
    const basis = mode === "blind" ? served : this.seenText.has(slot) ? this.seenText.get(slot)! : served;
    const text = render(slot, edit(basis ? fieldsOf(basis) : null, mask, `c${n}`, comma), n);
    this.derive(text, basis, served);
    const condText = cond.ifMatch ? `If-Match ${cond.ifMatch[0]}` : cond.ifNoneMatch ? "If-None-Match *" : "no precondition";
    await this.request({ n, slot, kind: "put", text, cond: condText }, (inst) => inst.put(slotName(slot), text, cond));
  }

  async clientDelete(slot: number, mode: "fresh" | "stale"): Promise<void> {
    const n = ++this.version;
    const known = mode === "stale" ? this.seen.get(slot) : undefined;
    const etag = known ?? (await this.lookup(slot));
    const cond = etag === "absent" ? { ifMatch: null, ifNoneMatch: null } : { ifMatch: [etag], ifNoneMatch: null };
    const target = (await this.primary.get(slotName(slot)))?.ics ?? null;
    await this.request({ n, slot, kind: "delete", text: null, target, cond: cond.ifMatch ? `If-Match ${cond.ifMatch[0]}` : "no precondition" }, (inst) => inst.remove(slotName(slot), cond));
  }

  private async request(o: Omit<ClientOp, "issuedHist" | "issuedConflict" | "status" | "detail">, send: (inst: Instance) => Promise<Answer>): Promise<void> {
    const op: ClientOp = { ...o, issuedHist: this.upstream.history.length, issuedConflict: this.conflictMax, status: "pending", detail: "" };
    this.ops.push(op);
    const label = `#${op.n} ${op.kind.toUpperCase()} ${slotName(op.slot)} "${summaryOf(op.text)}" (${op.cond})`;
    this.log(`${label}: sent`);
    const inst = this.primary;
    await this.launch(label, inst, async () => {
      const a = await send(inst);
      this.answered(op, a, label);
    });
  }

  private answered(op: ClientOp, a: Answer, label: string): void {
    if ("etag" in a) {
      op.status = "ok";
      // RFC 4791 5.3.4: no ETag when what is stored is not what was sent (defect 11).
      const rewritten = op.kind === "put" && this.upstream.history.some((h) => h.by === "adapter" && h.op === "put" && h.sent !== null && h.stored !== null && sameContent(h.sent, op.text!) && !sameContent(h.stored, op.text!));
      if (a.etag && rewritten) this.violation(`${label}: answered with ETag ${a.etag} although the upstream stored its own rendering of it (RFC 4791 5.3.4: no ETag then)`);
      if (op.kind === "delete") (this.seen.set(op.slot, "absent"), this.seenText.set(op.slot, null));
      else if (a.etag) (this.seen.set(op.slot, a.etag), this.seenText.set(op.slot, op.text));
      else (this.seen.delete(op.slot), this.seenText.delete(op.slot)); // no ETag: the client must refetch
      op.detail = `${a.status}${a.etag ? ` ${a.etag}` : ""}`;
      if (a.etag) op.etag = a.etag;
    } else if (a.status === 500) {
      op.status = "error";
      op.detail = a.message;
      this.violation(`${label}: answered 500: ${a.message}`);
    } else if (a.status === "refused") {
      op.status = "refused";
      op.detail = `${a.code} ${a.message}`;
    } else {
      op.status = String(a.status) as OpStatus;
      op.detail = (a as { message: string }).message;
    }
    this.log(`${label}: answered ${op.status} ${op.detail.split("\n")[0]!.slice(0, 160)}`);
    count(`answer ${op.kind} ${op.status}${op.status === "412" && /upstream/.test(op.detail) ? " (upstream)" : ""}`);
  }

  /** What a CalDAV client that syncs incrementally (sync-collection) believes is in the calendar: name → ETag. */
  readonly mirror = new Map<string, string>();
  private mirrorToken: string | null = null;

  /** The client's sync-collection, `limit` members per report, until it is not truncated. */
  async clientSync(limit: number): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const c = await this.primary.changes(this.mirrorToken, limit);
      if (c === null) return;
      if (c === "invalid-token") {
        // The client starts over (RFC 6578: DAV:valid-sync-token): acceptable, but counted.
        count("client sync: token refused");
        this.log(`client sync: token ${this.mirrorToken} refused; full resync`);
        this.mirror.clear();
        this.mirrorToken = null;
        continue;
      }
      for (const h of c.changed) this.mirror.set(h.name, h.etag);
      for (const n of c.removed) this.mirror.delete(n);
      this.mirrorToken = c.token;
      if (!c.truncated) return;
    }
    this.violation("client sync: still truncated after 100 reports");
  }

  // --- the other client, faults, time ------------------------------------------------------------------

  /** The other client edits the upstream's current version (the properties in `mask`), or creates the object. */
  otherPut(slot: number, mask = 1): void {
    const n = ++this.version;
    const cur = this.upstream.items(CAL).get(idForName(slotName(slot)))?.ics ?? null;
    const text = render(slot, edit(cur ? fieldsOf(cur) : null, mask, `o${n}`, false), n);
    this.derive(text, cur);
    const it = this.upstream.other.put(CAL, slotName(slot), text);
    this.log(`other client: PUT ${slotName(slot)} "${summaryOf(text)}" (${cur ? `edits ${maskText(mask)}` : "creates"}) → ${it.etag}`);
  }
  otherDelete(slot: number): void {
    const gone = this.upstream.other.removeByName(CAL, slotName(slot));
    this.log(`other client: DELETE ${slotName(slot)}${gone ? "" : " (was not there)"}`);
  }
  fault(op: Op | "any", action: FaultAction): void {
    this.upstream.next(op, action);
  }
  hold(op: Op, when: "before" | "after"): void {
    const h = this.upstream.hold(op, { when }, `hold${this.holds.length + 1}(${op},${when})`);
    this.holds.push(h);
  }
  async release(k: number, outcome: FaultAction | null): Promise<void> {
    // Parked holds first (releasing one nobody waits on yet is rarely what makes a difference).
    const parked = this.holds.filter((h) => !h.isReleased && h.isReached);
    const open = parked.length ? parked : this.holds.filter((h) => !h.isReleased);
    if (open.length === 0) return;
    const h = open[k % open.length]!;
    this.log(`release ${h.name}${h.isReached ? ` (parked: ${h.label})` : " (not reached yet)"}${outcome ? ` with ${outcome.kind}` : ""}`);
    count(h.isReached ? "release of a parked hold" : "release of an unreached hold");
    if (h.isReached) count(`parked ${h.name.replace(/^hold\d+/, "")}`);
    h.release(outcome);
    await this.settle(`release ${h.name}`);
  }
  async tick(ms: number): Promise<void> {
    this.clock.tick(ms);
    await this.settle(`tick ${ms}`);
  }

  async sync(which: "primary" | "conn2"): Promise<void> {
    const inst = which === "primary" ? this.primary : await this.second();
    const label = `sync (${which})`;
    await this.launch(label, inst, async () => {
      const r = await inst.syncNow();
      this.log(`${label}: ${r.ok ? (r.busy ? "busy" : "ok") : `failed: ${r.error}`}`);
    });
  }
  async replay(): Promise<void> {
    const inst = this.primary;
    await this.launch("replay (primary)", inst, () => inst.replay());
  }
  /** A second process on the same database file (its own connection, sync rooms and adapter). */
  async second(): Promise<Instance> {
    if (!this.conn2) this.conn2 = await Instance.open("conn2", this.file, this.upstream, this.params.writeDeadlineMs, true, true, this.policy);
    return this.conn2;
  }
  /** The second process writes status events (one transaction each) while `during` runs. */
  async noise(n: number, during: () => Promise<void>): Promise<void> {
    const inst = await this.second();
    await this.launch(`conn2: ${n} status events`, inst, () => inst.statusEvents(n), false);
    await during();
    await this.settle("noise");
  }

  /** The source is in the primary's configuration (false: removed, its calendar read-only). */
  private configured = true;

  /** Restarts the primary with the source removed from (false) or restored to (true) its configuration. */
  async configure(configured: boolean): Promise<void> {
    if (configured === this.configured) return;
    this.configured = configured;
    this.log(configured ? "the source is back in the configuration" : "the source is removed from the configuration");
    await this.restart();
  }

  /** Closes the primary (in-flight upstream calls are aborted) and opens it again on the same file. */
  async restart(): Promise<void> {
    this.restarts++;
    const old = this.primary;
    this.log(`restart ${this.restarts}`);
    old.abort();
    await this.settle("restart: abort");
    // Client requests still waiting for their write deadline get their answers.
    for (let i = 0; i < 20 && [...this.actors].some((a) => a.instance === old && !a.done); i++) {
      this.clock.tick(this.params.writeDeadlineMs + 1);
      await this.settle("restart: deadlines");
    }
    const stuck = [...this.actors].filter((a) => a.instance === old && !a.done);
    if (stuck.length) throw new ModelViolation(`restart: work of the closed process never ended: ${stuck.map((a) => a.label).join("; ")}`);
    await this.drive(old.finish(), "restart: close");
    // Not driven: opening waits on no timer, and settle() would watch the closed connection meanwhile.
    this.primary = await Instance.open("primary", this.file, this.upstream, this.params.writeDeadlineMs, false, this.configured, this.policy);
  }

  // --- invariants -----------------------------------------------------------------------------------------

  private conflictsChecked = 0;

  /** After every command: no outbox row vanished, the calendar kept its id, acknowledged writes are visible or kept. */
  async checkStep(after: string): Promise<void> {
    const ids = await this.primary.calendarIds();
    const [outbox, cache, conflicts] = [await this.primary.outbox(), await this.primary.cache(ids), await this.primary.conflicts()];
    this.conflictMax = conflicts.length ? conflicts[conflicts.length - 1]!.id : 0;
    const problems: string[] = [];
    if (ids.length > 1) problems.push(`${ids.length} calendar rows for one upstream calendar: ${ids.join(", ")}`);
    if (ids.length === 1) {
      if (this.calendarId === null) this.calendarId = ids[0]!;
      else if (ids[0] !== this.calendarId) problems.push(`the calendar changed its id from ${this.calendarId} to ${ids[0]} (every client's sync token is invalidated)`);
    } else if (ids.length === 0 && this.calendarId !== null) problems.push(`the calendar (id ${this.calendarId}) is gone from the cache`);
    const present = new Set(outbox.map((r) => r.id));
    for (const id of this.outboxSeen) if (!present.has(id)) problems.push(`outbox row ${id} vanished`);
    for (const r of outbox) this.outboxSeen.add(r.id);
    problems.push(...coverage(this, cache, conflicts), ...etagProblems(this, cache));
    // Every decided conflict's result is what its policy says (objects.ts), checked once per record.
    for (const c of conflicts) {
      if (c.id <= this.conflictsChecked) continue;
      const slot = this.ops.find((o) => slotName(o.slot) === c.name)?.slot;
      const deleteQueued = this.ops.some((o) => o.slot === slot && o.kind === "delete" && o.issuedConflict < c.id);
      problems.push(...resolutionProblems(c, deleteQueued));
    }
    this.conflictsChecked = this.conflictMax;
    problems.push(...this.violations.splice(0));
    if (problems.length) throw new ModelViolation(`after ${after}:\n  - ${problems.join("\n  - ")}\n${await this.report()}`);
  }

  /** Releases every hold, clears the faults, lets time pass and replays + syncs until nothing changes. */
  async quiesce(): Promise<void> {
    this.log("— quiescence —");
    await this.configure(true);
    this.upstream.clearFaults();
    this.upstream.releaseAll();
    await this.settle("quiescence: release");
    for (let i = 0; i < 20 && this.pending().length; i++) {
      this.clock.tick(this.params.writeDeadlineMs + 1);
      await this.settle("quiescence: deadlines");
    }
    if (this.pending().length) throw new ModelViolation(`quiescence: work never finished after every hold was released: ${this.pending().join("; ")}\n${await this.report()}`);
    let last = "";
    for (let round = 1; round <= 8; round++) {
      this.clock.tick(2 * 3600_000);
      await this.settle("quiescence: time passes");
      await this.drive(this.primary.replay(), "quiescence: replay");
      const before = await this.fingerprint();
      const r = await this.drive(this.primary.syncNow(true), "quiescence: sync");
      const after = await this.fingerprint();
      const pending = (await this.primary.outbox()).filter((o) => o.state === "pending");
      last = `round ${round}: sync ${r.ok ? "ok" : `failed: ${r.error}`}, ${pending.length} pending outbox rows, ${before === after ? "nothing changed" : "changed"}`;
      this.log(`quiescence ${last}`);
      if (r.ok && !r.busy && pending.length === 0 && before === after) {
        count("runs");
        count(`quiescence rounds ${round}`);
        if (!process.env.MODEL_STATS) return;
        const [cache, conflicts, outbox] = [await this.primary.cache(), await this.primary.conflicts(), await this.primary.outbox()];
        count("conflict rows", conflicts.length);
        for (const c of conflicts) count(`conflict ${this.policy} ${c.outcome ?? "refused"}${c.outcome === "merged" && c.ours && c.theirs && c.result && !sameContent(c.result, c.ours) && !sameContent(c.result, c.theirs) ? " (both sides kept)" : ""}`);
        count("outbox rows", outbox.length);
        for (const o of outbox) count(`outbox ${o.state}`);
        count("cache objects at the end", cache.length);
        count("upstream calls", this.upstream.calls.length);
        count("upstream calls with a fault", this.upstream.calls.filter((c) => c.fault).length);
        count("restarts", this.restarts);
        return;
      }
    }
    throw new ModelViolation(`no quiescence after 8 rounds of replay + sync (${last})\n${await this.report()}`);
  }

  private async fingerprint(): Promise<string> {
    const cache = await this.primary.cache();
    return `${this.upstream.history.length}|${cache.map((c) => `${c.name}=${c.etag}`).join(",")}`;
  }

  /** After quiescence: the cache and the upstream agree; every acknowledged write is kept; refusals changed nothing; the outbox is drained. */
  async checkFinal(): Promise<void> {
    await this.checkStep("quiescence");
    const [cache, outbox] = [await this.primary.cache(), await this.primary.outbox()];
    await this.clientSync(2); // a client syncing incrementally since its first sync sees exactly what is served
    const problems = finalProblems(this, cache, outbox, await this.primary.conflicts());
    if (problems.length) throw new ModelViolation(`after quiescence:\n  - ${problems.join("\n  - ")}\n${await this.report()}`);
  }

  /** Everything a person needs to see what happened. */
  report(): Promise<string> {
    return report(this);
  }

  /** Stops both processes and closes their connections (the database file stays). */
  async close(): Promise<void> {
    this.upstream.clearFaults();
    this.upstream.releaseAll();
    for (const inst of [this.primary, this.conn2]) inst?.abort();
    await this.settle("dispose").catch(() => undefined);
    this.clock.tick(24 * 3600_000);
    await this.settle("dispose").catch(() => undefined);
    for (const inst of [this.primary, this.conn2]) await inst?.finish().catch(() => undefined);
  }

  async dispose(): Promise<void> {
    try {
      await this.close();
    } finally {
      for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(this.file + suffix, { force: true });
    }
  }
}
