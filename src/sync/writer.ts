/**
 * Write-back: replays the outbox to the upstream that owns each object. A client's PUT/DELETE on a
 * sourced calendar has committed the object, its change-log row and an outbox row in one transaction;
 * flush then drains the object's queue at once, within the write deadline, so the client's answer can
 * reflect the outcome:
 *  - the upstream holds the write → its RemoteRef becomes the object's upstream version and base;
 *  - the upstream's version clashes (412) → a conflict: the newest queued version is kept in
 *    `conflicts` with theirs, the cache takes theirs, a waiting client gets 412;
 *  - a refusal for good → kept in `conflicts`, the cache goes back to the upstream's version, a
 *    waiting client gets a CalDAV error;
 *  - anything else (network, 5xx, 429, auth, the deadline) → the write stays queued (durably) and is
 *    replayed with backoff; the client got its 2xx.
 * Writes of one object reach the upstream in order, one at a time, across processes (claims).
 */
import type { Logger } from "pino";
import type { CalendarRow, CalendarStore } from "../store/calendars.ts";
import type { ObjectRow, ObjectWrite } from "../store/objects.ts";
import type { OutboxRow, OutboxStore } from "../store/outbox.ts";
import { ClaimLost, type ConflictDecision, type Theirs, type WriteBackStore } from "../store/writeback.ts";
import type { StatusBus } from "../status/bus.ts";
import type { ConflictPolicyName } from "../config/schema.ts";
import { AuthRequired, NotFoundUpstream, Permanent, PreconditionFailedUpstream, Transient, retryHintMs, type RemoteCalendar, type RemoteRef, type SourceAdapter, type SourceContext } from "../sources/adapter.ts";
import { parseCalendarObject } from "../ical/parse.ts";
import { sameContent } from "../ical/content.ts";
import { objectWrite } from "./object-write.ts";
import { resolveConflict, type Resolution } from "./conflict.ts";
import { retryDelayMs } from "./retry.ts";
import type { Catalog } from "./catalog.ts";
import { newHolder, retireHolder } from "./holders.ts";
import { localLiveness, type HolderLiveness } from "./liveness.ts";

export interface WriterDeps {
  calendars: CalendarStore;
  outbox: OutboxStore;
  writeback: WriteBackStore;
  catalog: Catalog;
  bus: StatusBus;
  log: Logger;
  deadlineMs: number;
  policy: ConflictPolicyName;
  /** Whether a claim's holder stopped (default: only processes on this machine are recognised). */
  liveness?: HolderLiveness;
}

/** What a client waiting on its write learns. */
export type FlushOutcome =
  | { kind: "stored" }
  | { kind: "queued" }
  | { kind: "conflict"; conflictId: number | null; message: string }
  | { kind: "refused"; status: number; message: string };

type Step = "next" | "stop";

/**
 * How long a claim on an outbox row lasts before another process may take the row over: longer than
 * any upstream request may take (sync.timeoutMs is at most 10 minutes). Every outcome is recorded only
 * by the claim's holder, so an attempt that outlived its claim stops instead of overwriting.
 */
const CLAIM_MS = 15 * 60_000;

/** Prefix of `last_error` for a failure that provably sent nothing (see retry). */
const NOT_SENT = "not sent: ";

/** HTTP status for the client when the upstream refused a change for good. */
function clientStatus(upstream: number | null): number {
  if (upstream === 403 || upstream === 409 || upstream === 413 || upstream === 507) return upstream;
  return 403;
}

function storedWrite(name: string, ics: string): ObjectWrite {
  return objectWrite(name, parseCalendarObject(ics));
}
function theirsOf(name: string, t: { ref: RemoteRef; ics: string }): Theirs {
  return { id: t.ref.id, etag: t.ref.etag, write: storedWrite(name, t.ics) };
}

export class Writer {
  readonly holder = newHolder();
  /** The drain running per object ("calendarId/name"). */
  private readonly drains = new Map<string, Promise<void>>();
  private readonly background = new Set<Promise<unknown>>();
  /** Refusal details of rows settled by this process (for the client waiting on them). */
  private readonly refusals = new Map<number, { status: number; message: string }>();
  private readonly abort = new AbortController();

  constructor(private readonly d: WriterDeps) {}

  close(): void {
    this.abort.abort(new Error("calgate is shutting down"));
    retireHolder(this.holder);
  }

  /** After the client's write committed: drain the object's queue now, and wait for this row until the deadline. */
  async flush(outboxId: number, cal: CalendarRow): Promise<FlushOutcome> {
    const row = await this.d.outbox.get(outboxId);
    if (!row) return { kind: "queued" };
    await this.d.bus.publish({ type: "write.queued", owner: cal.owner, source: cal.source_id, calendar: cal.name, object: row.object_name, op: row.op, outboxId });
    const drained = this.drain(row.calendar_id, row.object_name);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"deadline">((r) => (timer = setTimeout(() => r("deadline"), this.d.deadlineMs)));
    await Promise.race([drained, deadline]);
    clearTimeout(timer);
    const now = await this.d.outbox.answer(outboxId);
    switch (now?.state) {
      case "done":
      case "superseded":
        return { kind: "stored" };
      case "conflict":
        return { kind: "conflict", conflictId: Number(/conflict (\d+)/.exec(now.last_error ?? "")?.[1] ?? NaN) || null, message: now.last_error ?? "conflict" };
      case "failed": {
        const r = this.refusals.get(outboxId);
        this.refusals.delete(outboxId);
        return { kind: "refused", status: r?.status ?? 403, message: r?.message ?? now.last_error ?? "the upstream refused the change" };
      }
      default:
        return { kind: "queued" };
    }
  }

  /** Replays every due write of a source (or of all sources), oldest first per object. */
  async replay(owner: string | null, sourceId: string | null): Promise<void> {
    const due = await this.d.outbox.due(Date.now(), 1000, owner ?? undefined, sourceId ?? undefined);
    const objects = new Map<string, OutboxRow>();
    for (const r of due) if (!objects.has(`${r.calendar_id}/${r.object_name}`)) objects.set(`${r.calendar_id}/${r.object_name}`, r);
    // Objects whose queue is already being sent by this process are left to that drain (a held upstream
    // call must not stall the sync that replays before pulling).
    for (const r of objects.values()) if (!this.drains.has(`${r.calendar_id}/${r.object_name}`)) await this.drain(r.calendar_id, r.object_name);
  }

  /** Resolves when no write-back runs in this process. */
  async idle(): Promise<void> {
    while (this.background.size > 0 || this.drains.size > 0) await Promise.allSettled([...this.background, ...this.drains.values()]);
  }

  /** Sends the object's pending rows, oldest first, until none is left or one must wait. One drain per object at a time. */
  private drain(calendarId: number, name: string): Promise<void> {
    const k = `${calendarId}/${name}`;
    const running = this.drains.get(k);
    // A drain already running picks up rows queued after it started (it loops until none is due).
    const p = (running ?? Promise.resolve())
      .then(() => this.drainNow(calendarId, name))
      .catch((e: unknown) => this.d.log.error({ err: (e as Error).message, calendarId, object: name }, "write-back drain failed; queued writes wait for the next replay"))
      .finally(() => {
        if (this.drains.get(k) === p) this.drains.delete(k);
      });
    this.drains.set(k, p);
    this.track(p);
    return p;
  }

  private track(p: Promise<unknown>): void {
    this.background.add(p);
    void p.catch(() => undefined).finally(() => this.background.delete(p));
  }

  private async drainNow(calendarId: number, name: string): Promise<void> {
    for (let guard = 0; guard < 1000; guard++) {
      if (this.abort.signal.aborted) return;
      const next = (await this.d.outbox.pendingOf(calendarId, name))[0];
      if (!next || next.next_attempt_at > Date.now()) return;
      const step = await this.run(next).catch(async (e: unknown) => {
        // A bug or a database error: keep the row queued, never lose it.
        this.d.log.error({ err: (e as Error).message, outboxId: next.id }, "write-back failed unexpectedly; kept queued");
        await this.d.outbox.reschedule(next.id, next.attempts + 1, Date.now() + retryDelayMs(next.attempts + 1, null), (e as Error).message, this.holder).catch(() => undefined);
        return "stop" as Step;
      });
      if (step === "stop") return;
    }
  }

  private async run(pending: OutboxRow): Promise<Step> {
    // A claim left by a process that died (kill -9 here; a stale heartbeat anywhere) is taken over: its write may or may not have
    // reached the upstream, which the replay settles (If-Match, then a look at what the upstream holds).
    const takeOver = pending.claim_holder !== null && (await (this.d.liveness ?? localLiveness).isDead(pending.claim_holder, this.holder));
    const row = await this.d.outbox.claim(pending.id, this.holder, CLAIM_MS, takeOver ? pending.claim_holder : null);
    if (!row) return "stop"; // another process is sending it
    const cal = await this.d.calendars.byId(row.calendar_id);
    const adapter = cal ? this.d.catalog.adapter(cal.owner, cal.source_id) : null;
    if (!cal || !adapter) {
      // The source left the config: keep the write until it comes back (nothing is dropped).
      await this.d.outbox.reschedule(row.id, row.attempts, Date.now() + 60 * 60_000, "the source of this calendar is not configured; kept queued until it is");
      return "stop";
    }
    const w = new Attempt(this.d, this.holder, this.refusals, cal, adapter, this.d.catalog.remote(cal), this.d.catalog.context(cal.owner, cal.source_id, this.abort.signal), row);
    return w.run();
  }
}

/** One send of one outbox row. */
class Attempt {
  private readonly log: Logger;
  private readonly base;

  constructor(
    private readonly d: WriterDeps,
    private readonly holder: string,
    private readonly refusals: Map<number, { status: number; message: string }>,
    private readonly cal: CalendarRow,
    private readonly adapter: SourceAdapter,
    private readonly remote: RemoteCalendar,
    private readonly ctx: SourceContext,
    private row: OutboxRow,
  ) {
    this.log = d.log.child({ owner: cal.owner, source: cal.source_id, calendar: cal.name, object: row.object_name, op: row.op, outboxId: row.id });
    this.base = { owner: cal.owner, source: cal.source_id, calendar: cal.name, object: row.object_name, op: row.op, outboxId: row.id } as const;
  }

  /** The version the first write of this chain replaced (what the upstream held when we last agreed). */
  private get agreed(): string | null {
    const previous = this.row.previous_json ? (JSON.parse(this.row.previous_json) as ObjectRow) : null;
    return previous ? (previous.base_ics ?? previous.ics) : null;
  }

  async run(): Promise<Step> {
    try {
      return await this.attempt();
    } catch (e) {
      if (e instanceof ClaimLost) {
        this.log.warn({ err: e.message }, "another process took this write over; this attempt stops");
        return "stop";
      }
      throw e;
    }
  }

  private async attempt(): Promise<Step> {
    try {
      return this.row.op === "put" ? await this.put() : await this.remove();
    } catch (e) {
      if (e instanceof ClaimLost) throw e;
      if (e instanceof PreconditionFailedUpstream || (e instanceof NotFoundUpstream && this.row.op === "put" && this.row.upstream_href)) return this.clash(0);
      if (e instanceof Permanent) return this.refuse(`the upstream refused this change: ${e.message}`, e.status, undefined);
      return this.retry(e as Error);
    }
  }

  /** The target to send against: never blind. An unknown upstream version is looked up first. */
  private async target(): Promise<{ ref: RemoteRef | null } | { step: Step }> {
    if (this.row.upstream_href === null) return { ref: null };
    if (this.row.if_match !== null) return { ref: { id: this.row.upstream_href, etag: this.row.if_match } };
    const theirs = await this.adapter.get(this.remote, this.row.upstream_href, this.ctx);
    if (theirs === null) return { ref: null };
    const agreed = this.agreed;
    if (theirs.ref.etag !== null && agreed !== null && sameContent(theirs.ics, agreed)) {
      if (!(await this.d.outbox.retarget(this.row.id, theirs.ref.etag, theirs.ref.id, this.holder))) throw new ClaimLost(`outbox row ${this.row.id} was taken over`);
      this.row = { ...this.row, if_match: theirs.ref.etag, upstream_href: theirs.ref.id };
      return { ref: theirs.ref };
    }
    return { step: await this.settleAgainst(theirs, 0) };
  }

  private async put(): Promise<Step> {
    const t = await this.target();
    if ("step" in t) return t.step;
    const written = await this.adapter.write(this.remote, { name: this.row.object_name, ref: t.ref, ics: this.row.ics ?? "" }, this.ctx);
    if (written.stored === "as-sent") return this.confirmed(written.ref, null);
    if (written.stored === "changed") {
      const agreed = this.agreed;
      if (agreed !== null && sameContent(written.ics, agreed)) {
        return this.refuse("the upstream answered the write with success but still holds the version it replaced", null, { ref: written.ref, ics: written.ics }, "not-stored");
      }
      this.log.warn({ id: written.ref.id }, "the upstream stored its own rendering of the write; the cache takes it unless a newer write is queued");
      return this.confirmed(written.ref, storedWrite(this.row.object_name, written.ics));
    }
    return this.refuse(`the upstream answered the write with success but did not store it (${written.why})`, null, written.ref && written.ics !== null ? { ref: written.ref, ics: written.ics } : written.ref ? undefined : null, "not-stored");
  }

  private async remove(): Promise<Step> {
    if (this.row.upstream_href === null) {
      // No confirmed create: it was merged away unsent, or it was sent and its answer lost. Look where a
      // create of this name lands; an item there with the object's UID is ours, and is deleted (If-Match).
      // Only a create that may have been sent can have put anything there: an item under the name with
      // the same UID is otherwise another client's, and is not ours to delete.
      const sent = await this.d.outbox.lastPutBefore(this.row.calendar_id, this.row.object_name, this.row.id);
      const previous = this.row.previous_json ? (JSON.parse(this.row.previous_json) as ObjectRow) : null;
      const uid = sent ? parseCalendarObject(sent).uid : previous?.upstream_href ? previous.uid : null;
      const found = await this.adapter.locate(this.remote, { name: this.row.object_name, uid }, this.ctx);
      if (!found || uid === null || parseCalendarObject(found.ics).uid !== uid) return this.confirmed(null, null);
      if (!(await this.d.outbox.retarget(this.row.id, found.ref.etag, found.ref.id, this.holder))) throw new ClaimLost(`outbox row ${this.row.id} was taken over`);
      this.row = { ...this.row, if_match: found.ref.etag, upstream_href: found.ref.id };
    }
    const t = await this.target();
    if ("step" in t) return t.step;
    if (t.ref !== null) await this.adapter.remove(this.remote, t.ref, this.ctx);
    return this.confirmed(null, null);
  }

  private async confirmed(ref: RemoteRef | null, stored: ObjectWrite | null): Promise<Step> {
    const version = this.row.op === "put" && this.row.ics ? storedWrite(this.row.object_name, this.row.ics) : null;
    await this.d.writeback.confirmed(this.row, this.holder, ref, stored, version);
    await this.d.bus.publish({ type: "write.replayed", ...this.base, outcome: "ok", attempts: this.row.attempts + 1 });
    return "next";
  }

  /** The UID of the version this row sends (providers that key items by UID locate a create by it). */
  private rowUid(): string | null {
    try {
      return this.row.ics ? parseCalendarObject(this.row.ics).uid : null;
    } catch {
      return null;
    }
  }

  /** A version clash (412): look at what the upstream holds now. */
  private async clash(depth: number): Promise<Step> {
    let theirs: { ref: RemoteRef; ics: string } | null;
    try {
      theirs = this.row.upstream_href ? await this.adapter.get(this.remote, this.row.upstream_href, this.ctx) : await this.adapter.locate(this.remote, { name: this.row.object_name, uid: this.rowUid() }, this.ctx);
    } catch (e) {
      return this.retry(new Error(`conflict check failed: ${(e as Error).message}`));
    }
    return this.settleAgainst(theirs, depth);
  }

  /** Decide against the upstream's current version: already there, ours confirmed earlier, or a conflict. */
  private async settleAgainst(theirs: { ref: RemoteRef; ics: string } | null, depth: number): Promise<Step> {
    // The goal is reached whoever wrote it (an earlier attempt of this very row whose answer was lost).
    if (this.row.op === "put" && theirs && sameContent(theirs.ics, this.row.ics ?? "")) return this.confirmed(theirs.ref, null);
    if (this.row.op === "delete" && theirs === null) return this.confirmed(null, null);
    // Exactly a version one of our confirmed writes produced: the cache's record fell behind; go again on it.
    if (depth === 0 && theirs?.ref.etag && (await this.d.outbox.isOwnConfirmed(this.row.calendar_id, this.row.object_name, theirs.ref.id, theirs.ref.etag))) {
      this.log.info({ id: theirs.ref.id }, "the upstream holds a version we wrote and confirmed; retrying on its ETag");
      if (!(await this.d.outbox.retarget(this.row.id, theirs.ref.etag, theirs.ref.id, this.holder))) throw new ClaimLost(`outbox row ${this.row.id} was taken over`);
      this.row = { ...this.row, if_match: theirs.ref.etag, upstream_href: theirs.ref.id };
      try {
        return this.row.op === "put" ? await this.put() : await this.remove();
      } catch (e) {
        if (e instanceof PreconditionFailedUpstream) return this.clash(1);
        throw e;
      }
    }
    return this.decide(theirs, depth);
  }

  /**
   * A real conflict: the policy decides (sync/conflict.ts). When the result is what the upstream holds,
   * the cache takes it and the client's version is kept in the record (a waiting client is told). Else
   * the result goes to the upstream, on the version just read (If-Match), and to the cache, and every
   * queued write of the object is done (a waiting client gets its 2xx; without an ETag when the result
   * differs from what it sent). Another clash while writing it decides again, at most twice; then the
   * upstream's version is kept, as before policies existed.
   */
  private async decide(theirs: { ref: RemoteRef; ics: string } | null, depth: number): Promise<Step> {
    const { ours, base, upTo } = await this.d.writeback.conflictInputs(this.row);
    // The source's own policy, else sync.conflictPolicy.
    const source = this.d.catalog.source(this.cal.owner, this.cal.source_id);
    const policy: ConflictPolicyName = (source && "conflictPolicy" in source ? source.conflictPolicy : undefined) ?? this.d.policy;
    let r: Resolution;
    try {
      r = depth > 2 ? { ics: theirs?.ics ?? null, outcome: "upstream-won", clashes: ["the upstream kept changing while the resolution was written"] } : resolveConflict(policy, base, ours, theirs?.ics ?? null);
    } catch (e) {
      r = { ics: theirs?.ics ?? null, outcome: "upstream-won", clashes: [`the versions could not be merged (${(e as Error).message})`] };
    }
    const decision: ConflictDecision = { policy, outcome: r.outcome, result: r.ics };
    const note = [`${r.outcome} (policy ${policy})`, ...r.clashes].join("; ").slice(0, 500);
    const upstreamHolds = r.ics === null ? theirs === null : theirs !== null && sameContent(r.ics, theirs.ics);
    if (upstreamHolds) {
      const conflictId = await this.d.writeback.conflict(this.row, this.holder, theirs ? theirsOf(this.row.object_name, theirs) : null, note, decision);
      this.log.warn({ conflictId, outcome: r.outcome, upstreamDeleted: theirs === null }, "conflict: the object changed upstream and here; the upstream's version is kept");
      await this.announce(conflictId, r, note, policy);
      return "next";
    }
    // Recorded before the result leaves: if its answer is lost, the versions it replaces are still kept.
    const conflictId = await this.d.writeback.pendingConflict(this.row, this.holder, { theirs: theirs?.ics ?? null, ours, base, policy, result: r.ics, note });
    let ref: RemoteRef | null = null;
    let stored: ObjectWrite | null = null;
    try {
      if (r.ics === null) await this.adapter.remove(this.remote, theirs!.ref, this.ctx);
      else {
        const w = await this.adapter.write(this.remote, { name: this.row.object_name, ref: theirs?.ref ?? null, ics: r.ics }, this.ctx);
        if (w.stored === "dropped" || !w.ref) return this.refuse(`the upstream did not store the resolved version (${w.stored === "dropped" ? w.why : "no reference"})`, null, undefined, "not-stored");
        ref = w.ref;
        stored = storedWrite(this.row.object_name, w.stored === "changed" ? w.ics : r.ics);
      }
    } catch (e) {
      if (e instanceof PreconditionFailedUpstream) return this.clash(depth + 1);
      if (e instanceof Permanent) return this.refuse(`the upstream refused the resolved version: ${e.message}`, e.status, undefined);
      return this.retry(e as Error);
    }
    await this.d.writeback.resolved(this.row, this.holder, { conflictId, stored, ref, decision, note, upTo });
    this.log.warn({ conflictId, outcome: r.outcome, clashes: r.clashes.length }, "conflict: resolved and written to both sides");
    await this.announce(conflictId, r, note, policy);
    await this.d.bus.publish({ type: "write.replayed", ...this.base, outcome: "ok", attempts: this.row.attempts + 1 });
    return "next";
  }

  private async announce(conflictId: number, r: Resolution, note: string, policy: ConflictPolicyName): Promise<void> {
    const about = { owner: this.cal.owner, source: this.cal.source_id, calendar: this.cal.name, object: this.row.object_name, conflictId, uid: this.rowUid(), policy, outcome: r.outcome };
    await this.d.bus.publish({ type: "conflict.detected", ...about, resolution: note });
    await this.d.bus.publish({ type: "conflict.resolved", ...about, resolution: note });
  }

  /** A refusal for good: kept in `conflicts` unless a newer write of the object takes over. */
  private async refuse(message: string, status: number | null, known: { ref: RemoteRef; ics: string } | null | undefined, reason?: "not-stored"): Promise<Step> {
    let theirs = known;
    if (theirs === undefined && this.row.upstream_href) {
      // What the cache goes back to must be what the upstream holds: when that cannot be read now, the
      // write stays queued and is tried again (the refusal will come again), rather than guessing.
      try {
        theirs = await this.adapter.get(this.remote, this.row.upstream_href, this.ctx);
      } catch (e) {
        return this.retry(new Error(`the upstream refused this change (${message}) and its current version could not be read: ${(e as Error).message}`));
      }
    } else if (theirs === undefined && this.row.upstream_href === null) theirs = null; // a refused create: nothing upstream
    const full = `source "${this.cal.source_id}": ${message}`;
    const conflictId = await this.d.writeback.refused(this.row, this.holder, full, theirs === undefined ? undefined : theirs === null ? null : theirsOf(this.row.object_name, theirs));
    this.refusals.set(this.row.id, { status: clientStatus(status), message: conflictId === null ? full : `${full}; calgate kept your version (conflict ${conflictId}) and serves the upstream's` });
    if (this.refusals.size > 1000) this.refusals.delete(this.refusals.keys().next().value!);
    this.log.warn({ err: message, conflictId }, "the upstream refused a change");
    await this.d.bus.publish({ type: "write.replayed", ...this.base, outcome: "refused", ...(reason ? { reason } : {}), error: full, attempts: this.row.attempts + 1 });
    if (conflictId !== null) await this.d.bus.publish({ type: "conflict.detected", owner: this.cal.owner, source: this.cal.source_id, calendar: this.cal.name, object: this.row.object_name, conflictId, resolution: "refused by the upstream; the cache serves the upstream's version" });
    return "next";
  }

  private async retry(e: Error): Promise<Step> {
    // Nothing of this write has reached the upstream when this attempt and every earlier one were refused
    // before connecting (each such failure is recorded with NOT_SENT): it may still be merged into a newer
    // write (coalescing). Any other earlier failure may have sent it, and then it stays sent.
    const notSent = e instanceof Transient && e.notSent && (this.row.attempts === 0 || (this.row.last_error ?? "").startsWith(NOT_SENT));
    if (notSent) await this.d.outbox.unsend(this.row.id, this.holder);
    const attempts = this.row.attempts + 1;
    const delay = Math.max(retryDelayMs(attempts, retryHintMs(e)), e instanceof AuthRequired ? 5 * 60_000 : 0);
    await this.d.outbox.reschedule(this.row.id, attempts, Date.now() + delay, notSent ? `${NOT_SENT}${e.message}` : e.message, this.holder);
    this.log.warn({ err: e.message, attempts, retryInMs: delay }, "upstream write failed; queued for retry");
    await this.d.bus.publish({ type: "write.replayed", ...this.base, outcome: "retry", error: e.message, attempts });
    return "stop";
  }
}
