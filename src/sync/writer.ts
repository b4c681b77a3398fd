/**
 * Write-through and outbox replay. A client's PUT/DELETE on a sourced calendar commits the object,
 * its change-log row and an outbox row in one transaction (enqueue); flush then tries the upstream
 * at once with If-Match on the upstream ETag (If-None-Match: * for creates). Within the write
 * deadline the client's answer reflects the outcome:
 *  - ok → the new upstream ETag and base are recorded;
 *  - 412 → a conflict: both versions kept (conflicts row), the cache takes the upstream's version,
 *    the client gets 412 and refetches;
 *  - a permanent refusal (4xx) → the local change is rolled back and the client gets a CalDAV error;
 *  - network errors, 5xx, 429, timeouts, or no answer within the deadline → the write stays queued
 *    (durably) and is replayed with exponential backoff and jitter; the client got its 2xx.
 */
import type { Knex } from "knex";
import type { Logger } from "pino";
import { PreconditionFailed, UpstreamRefused } from "../dav/service.ts";
import type { CalendarRow, CalendarStore } from "../store/calendars.ts";
import type { Db } from "../store/db.ts";
import { ObjectStore, type ObjectRow } from "../store/objects.ts";
import type { OutboxRow, OutboxStore } from "../store/outbox.ts";
import type { ConflictStore } from "../store/conflicts.ts";
import type { SourceStore } from "../store/sources.ts";
import type { StatusBus } from "../status/bus.ts";
import type { ConflictPolicyName } from "../config/schema.ts";
import { AuthRequired, NotFoundUpstream, Permanent, PreconditionFailedUpstream, RateLimited, Transient } from "../sources/adapter.ts";
import type { WriteThrough } from "./service.ts";
import type { SyncEngine, OutboxReplayer } from "./engine.ts";
import { upstreamWrite } from "./actions.ts";
import { describeResolution, sameContent } from "./conflict.ts";

export interface WriterDeps {
  db: Db;
  calendars: CalendarStore;
  objects: ObjectStore;
  outbox: OutboxStore;
  conflicts: ConflictStore;
  sources: SourceStore;
  bus: StatusBus;
  engine: SyncEngine;
  log: Logger;
  deadlineMs: number;
  policy: ConflictPolicyName;
}

type Outcome = { kind: "ok" } | { kind: "conflict"; conflictId: number } | { kind: "refused"; status: number | null; message: string } | { kind: "retry"; error: string } | { kind: "skipped" };

const RETRY = { baseMs: 2_000, maxMs: 10 * 60_000 };
const NO_CONDITIONS = { ifMatch: null, ifNoneMatch: null } as const;

/** Two ETags name the same version (weak/strong prefix and surrounding space ignored). */
function sameEtag(a: string, b: string): boolean {
  const n = (s: string): string => s.trim().replace(/^W\//i, "");
  return n(a) === n(b);
}

/** HTTP status for the client when the upstream refused a change for good. */
function clientStatus(upstream: number | null): number {
  if (upstream === 403 || upstream === 409 || upstream === 413 || upstream === 507) return upstream;
  return 403;
}

export class Writer implements WriteThrough, OutboxReplayer {
  private readonly inflight = new Map<number, Promise<Outcome>>();
  private readonly background = new Set<Promise<unknown>>();

  constructor(private readonly d: WriterDeps) {}

  async enqueue(trx: Knex.Transaction, cal: CalendarRow, change: { op: "put" | "delete"; name: string; ics: string | null; previous: ObjectRow | null }): Promise<number | null> {
    if (!cal.upstream_href) return null;
    return this.d.outbox.enqueue(trx, {
      calendarId: cal.id,
      owner: cal.owner,
      sourceId: cal.source_id,
      name: change.name,
      op: change.op,
      ics: change.ics,
      ifMatch: change.previous?.upstream_etag ?? null,
      upstreamHref: change.previous?.upstream_href ?? null,
      previous: change.previous,
    });
  }

  async flush(outboxId: number, cal: CalendarRow): Promise<void> {
    const row = await this.d.outbox.get(outboxId);
    if (row) await this.d.bus.publish({ type: "write.queued", owner: cal.owner, source: cal.source_id, calendar: cal.name, object: row.object_name, op: row.op, outboxId });
    const attempt = this.attempt(outboxId);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<null>((r) => (timer = setTimeout(() => r(null), this.d.deadlineMs)));
    const outcome = await Promise.race([attempt, deadline]);
    clearTimeout(timer);
    if (outcome === null) {
      this.track(attempt); // still running: its result is recorded and published when it comes
      return;
    }
    if (outcome.kind === "conflict") throw new PreconditionFailed(`the upstream copy of this object changed since it was last synced; calgate kept both versions (conflict ${outcome.conflictId}) and now serves the upstream's: fetch it again and reapply your change`);
    if (outcome.kind === "refused") throw new UpstreamRefused(clientStatus(outcome.status), outcome.message);
  }

  /** Replays every due write of a source (or of all sources), oldest first. */
  async replay(owner: string | null, sourceId: string | null, _signal?: AbortSignal): Promise<void> {
    for (;;) {
      const due = await this.d.outbox.due(Date.now(), 100, owner ?? undefined, sourceId ?? undefined);
      const fresh = due.filter((r) => !this.inflight.has(r.id));
      if (fresh.length === 0) return;
      let progressed = false;
      for (const r of fresh) {
        const o = await this.attempt(r.id);
        if (o.kind !== "retry" && o.kind !== "skipped") progressed = true;
      }
      if (!progressed) return;
    }
  }

  async idle(): Promise<void> {
    await Promise.allSettled([...this.background]);
  }

  private track(p: Promise<unknown>): void {
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  /** Last attempt started per object ("calendarId/name"): writes of one object reach the upstream in order. */
  private readonly objectChains = new Map<string, Promise<unknown>>();

  private attempt(id: number): Promise<Outcome> {
    let p = this.inflight.get(id);
    if (p) return p;
    p = this.chained(id).finally(() => this.inflight.delete(id));
    this.inflight.set(id, p);
    return p;
  }

  /**
   * A DELETE queued while the create it follows is still on its way must not overtake it (it would
   * find no upstream href, succeed vacuously, and the create would then land): runs wait for the
   * previous attempt on the same object.
   */
  private async chained(id: number): Promise<Outcome> {
    const row = await this.d.outbox.get(id);
    if (!row) return { kind: "skipped" };
    const key = `${row.calendar_id}/${row.object_name}`;
    const before = this.objectChains.get(key) ?? Promise.resolve();
    const mine = before.catch(() => undefined).then(() => this.run(id));
    this.objectChains.set(key, mine);
    void mine.finally(() => {
      if (this.objectChains.get(key) === mine) this.objectChains.delete(key);
    }).catch(() => undefined);
    return mine;
  }

  private async run(id: number): Promise<Outcome> {
    const row = await this.d.outbox.get(id);
    if (!row || row.state !== "pending") return { kind: "skipped" };
    const cal = await this.d.calendars.byId(row.calendar_id);
    const adapter = cal ? this.d.engine.adapterFor(cal.owner, cal.source_id) : null;
    if (!cal || !adapter || !cal.upstream_href) {
      await this.d.outbox.settle(id, "failed", "the calendar or its source no longer exists");
      return { kind: "skipped" };
    }
    const remote = this.d.engine.remoteOf(cal);
    const signal = this.d.engine.signal;
    const base = { owner: cal.owner, source: cal.source_id, calendar: cal.name, object: row.object_name, op: row.op, outboxId: id } as const;
    const log = this.d.log.child({ owner: cal.owner, source: cal.source_id, calendar: cal.name, object: row.object_name, op: row.op });
    try {
      if (row.op === "put") {
        const written = await adapter.write(remote, { name: row.object_name, href: row.upstream_href, ics: row.ics ?? "" }, row.if_match, signal);
        const v = await this.verify(cal, row, written, log);
        if (v.kind === "dropped") {
          const message = `the upstream CalDAV server of source "${cal.source_id}" answered the write with success but did not store it (${v.why}), so calgate did not keep the change and serves the upstream's version again`;
          await this.rollback(cal, row, message, log, v.theirs);
          await this.d.bus.publish({ type: "write.replayed", ...base, outcome: "refused", reason: "not-stored", error: message, attempts: row.attempts + 1 });
          return { kind: "refused", status: null, message };
        }
        await this.confirmed(cal, row, written.href, v.etag, v.kind === "rewritten" ? v.theirs : null);
      } else {
        // Without a recorded href the object may still exist upstream under its own name (its create
        // was in flight when this process stopped): delete that, and count "already gone" as done.
        const href = row.upstream_href ?? `${remote.href}${encodeURIComponent(row.object_name)}`;
        await adapter.remove(remote, href, row.upstream_href ? row.if_match : null, signal); // 404 counts as done
        await this.confirmed(cal, row, null, null);
      }
      await this.d.bus.publish({ type: "write.replayed", ...base, outcome: "ok", attempts: row.attempts + 1 });
      return { kind: "ok" };
    } catch (e) {
      if (e instanceof PreconditionFailedUpstream || (e instanceof NotFoundUpstream && row.op === "put" && row.if_match)) {
        return this.conflict(cal, row, remote, log);
      }
      if (e instanceof Permanent) {
        const message = `the upstream CalDAV server of source "${cal.source_id}" refused this change, so calgate did not keep it: ${e.message}`;
        await this.rollback(cal, row, message, log);
        await this.d.bus.publish({ type: "write.replayed", ...base, outcome: "refused", error: message, attempts: row.attempts + 1 });
        return { kind: "refused", status: e.status ?? 403, message };
      }
      const attempts = row.attempts + 1;
      const hint = e instanceof RateLimited ? e.retryAfterMs : e instanceof Transient ? e.retryAfterMs : null;
      const exp = Math.min(RETRY.maxMs, RETRY.baseMs * 2 ** (attempts - 1));
      const delay = Math.max(Math.round(exp * (0.5 + Math.random())), hint ?? 0, e instanceof AuthRequired ? 5 * 60_000 : 0);
      const error = (e as Error).message;
      await this.d.outbox.reschedule(id, attempts, Date.now() + delay, error);
      log.warn({ err: error, attempts, retryInMs: delay }, "upstream write failed; queued for retry");
      await this.d.bus.publish({ type: "write.replayed", ...base, outcome: "retry", error, attempts });
      return { kind: "retry", error };
    }
  }

  /**
   * Did the upstream really store what a 2xx PUT claims? Some servers answer 201/204 to a write they
   * dropped or cut short (Radicale 3 keeps "SUMMARY:Lunch, with Bob" as "Lunch" and, when that equals
   * the stored version, answers with the old ETag). Two answers are checked with one GET:
   *  - an If-Match PUT answered with the very ETag it matched: nothing changed upstream unless our
   *    content equals what was there;
   *  - no ETag in the answer (RFC 4791 §5.3.4: the server changed what we sent): the stored version
   *    is read back; equal to ours → ok; equal to the version we replaced (or absent) → dropped;
   *    anything else → the upstream rewrote it, and the cache takes the upstream's version.
   * Any other answer (a new ETag) is trusted without a request.
   */
  private async verify(cal: CalendarRow, row: OutboxRow, written: { href: string; etag: string | null }, log: Logger): Promise<
    { kind: "ok"; etag: string | null } | { kind: "rewritten"; etag: string | null; theirs: { etag: string | null; ics: string } } | { kind: "dropped"; why: string; theirs: { etag: string | null; ics: string } | null }
  > {
    const unchanged = row.if_match !== null && written.etag !== null && sameEtag(written.etag, row.if_match);
    if (written.etag !== null && !unchanged) return { kind: "ok", etag: written.etag };
    const adapter = this.d.engine.adapterFor(cal.owner, cal.source_id)!;
    let theirs: { etag: string | null; ics: string } | null;
    try {
      theirs = await adapter.fetch(this.d.engine.remoteOf(cal), written.href, this.d.engine.signal);
    } catch (e) {
      // Unverifiable now. An unchanged ETag is retried (the same If-Match PUT again: a 412 then means it
      // did land, and the conflict check sees our own version); a missing ETag is left to the next pull.
      if (unchanged) throw e;
      log.warn({ err: (e as Error).message }, "could not read back a write answered without an ETag");
      return { kind: "ok", etag: null };
    }
    const ours = row.ics ?? "";
    if (theirs === null) return { kind: "dropped", why: `${written.href} does not exist upstream after the PUT`, theirs: null };
    if (sameContent(theirs.ics, ours)) return { kind: "ok", etag: theirs.etag ?? written.etag };
    if (unchanged) return { kind: "dropped", why: `its answer carried the ETag ${written.etag} the write replaced, and the stored version is not ours`, theirs };
    const previous = row.previous_json ? (JSON.parse(row.previous_json) as ObjectRow) : null;
    const replaced = previous ? previous.base_ics ?? previous.ics : null;
    if (replaced !== null && sameContent(theirs.ics, replaced)) return { kind: "dropped", why: "it answered without an ETag and still holds the version the write replaced", theirs };
    log.warn({ href: written.href }, "the upstream stored a different version than the one written; the cache takes the upstream's");
    return { kind: "rewritten", etag: theirs.etag, theirs };
  }

  /** The upstream has our version: record its href/ETag as the new base; later queued writes of the object target it. */
  private async confirmed(cal: CalendarRow, row: OutboxRow, href: string | null, etag: string | null, rewritten: { etag: string | null; ics: string } | null = null): Promise<void> {
    await this.d.db.transaction(async (trx) => {
      if (row.op === "put" && rewritten && href) {
        // The upstream keeps its own rendering of our change: serve that (a change clients will see).
        const out = await new ObjectStore(trx as unknown as Knex).put(cal.id, upstreamWrite(row.object_name, rewritten.ics, href, etag), NO_CONDITIONS);
        if (!out.ok) throw new Error(`could not store the upstream version: ${out.reason}`);
        await this.d.outbox.retargetOthers(trx, cal.id, row.object_name, row.id, etag, href);
      } else if (row.op === "put") {
        await new ObjectStore(trx as unknown as Knex).setUpstream(cal.id, row.object_name, { upstreamHref: href, upstreamEtag: etag, baseIcs: row.ics }, trx);
        await this.d.outbox.retargetOthers(trx, cal.id, row.object_name, row.id, etag, href);
      } else {
        await this.d.outbox.retargetOthers(trx, cal.id, row.object_name, row.id, null, null);
      }
      await this.d.outbox.settle(row.id, "done", null, trx);
    });
  }

  /** 412: keep both versions, serve the upstream's. A version equal to ours means an earlier attempt of ours landed. */
  private async conflict(cal: CalendarRow, row: OutboxRow, remote: ReturnType<SyncEngine["remoteOf"]>, log: Logger): Promise<Outcome> {
    const adapter = this.d.engine.adapterFor(cal.owner, cal.source_id)!;
    const href = row.upstream_href ?? `${remote.href}${encodeURIComponent(row.object_name)}`;
    let theirs: { etag: string | null; ics: string } | null;
    try {
      theirs = await adapter.fetch(remote, href, this.d.engine.signal);
    } catch (e) {
      const error = `conflict check failed: ${(e as Error).message}`;
      await this.d.outbox.reschedule(row.id, row.attempts + 1, Date.now() + RETRY.baseMs, error);
      return { kind: "retry", error };
    }
    if (row.op === "put" && theirs && row.ics && sameContent(theirs.ics, row.ics)) {
      await this.confirmed(cal, row, href, theirs.etag);
      return { kind: "ok" };
    }
    if (row.op === "delete" && theirs === null) {
      await this.confirmed(cal, row, null, null);
      return { kind: "ok" };
    }
    const previous = row.previous_json ? (JSON.parse(row.previous_json) as ObjectRow) : null;
    // The upstream holds the local version this write replaced: an earlier write of ours landed but its
    // confirmation was lost (e.g. the process died in between). Not a conflict: retarget and go again.
    if (theirs && theirs.etag && theirs.etag !== row.if_match && (await this.isOwnEarlierVersion(cal, row, previous, theirs.ics))) {
      log.info({ href }, "the upstream already has our previous version (its confirmation was lost); retrying on its ETag");
      await this.d.outbox.retarget(row.id, theirs.etag, href);
      return this.run(row.id);
    }
    const resolution = describeResolution(this.d.policy);
    const conflictId = await this.d.db.transaction(async (trx) => {
      const objects = new ObjectStore(trx as unknown as Knex);
      const id = await this.d.conflicts.record({ calendarId: cal.id, name: row.object_name, ours: row.ics, theirs: theirs?.ics ?? null, base: previous?.base_ics ?? previous?.ics ?? null, resolution: null }, trx);
      if (theirs) {
        const out = await objects.put(cal.id, upstreamWrite(row.object_name, theirs.ics, href, theirs.etag), NO_CONDITIONS);
        if (!out.ok) throw new Error(`could not store the upstream version: ${out.reason}`);
      } else await objects.remove(cal.id, row.object_name, NO_CONDITIONS);
      await this.d.outbox.closePending(trx, cal.id, row.object_name, "conflict", `conflict ${id}`);
      return id;
    });
    log.warn({ conflictId, upstreamDeleted: theirs === null }, "conflict: the object changed upstream and here");
    await this.d.bus.publish({ type: "conflict.detected", owner: cal.owner, source: cal.source_id, calendar: cal.name, object: row.object_name, conflictId, resolution });
    return { kind: "conflict", conflictId };
  }

  /** Is `ics` a version this gateway itself wrote (or replaced) for this object? */
  private async isOwnEarlierVersion(cal: CalendarRow, row: OutboxRow, previous: ObjectRow | null, ics: string): Promise<boolean> {
    if (previous && sameContent(ics, previous.ics)) return true;
    const earlier = await this.d.outbox.recentVersions(cal.id, row.object_name, row.id, 20);
    return earlier.some((v) => sameContent(ics, v));
  }

  /**
   * The upstream refused the change: undo it locally. The upstream's current version is what the
   * cache should hold (it may have moved on while the write was queued); without it, the version the
   * write replaced is restored.
   */
  private async rollback(cal: CalendarRow, row: OutboxRow, message: string, log: Logger, known?: { etag: string | null; ics: string } | null): Promise<void> {
    const previous = row.previous_json ? (JSON.parse(row.previous_json) as ObjectRow) : null;
    let theirs: { etag: string | null; ics: string } | null | undefined;
    const href = row.upstream_href ?? (known ? `${this.d.engine.remoteOf(cal).href}${encodeURIComponent(row.object_name)}` : null);
    if (known !== undefined) theirs = known;
    else if (href) {
      try {
        theirs = await this.d.engine.adapterFor(cal.owner, cal.source_id)!.fetch(this.d.engine.remoteOf(cal), href, this.d.engine.signal);
      } catch {
        theirs = undefined;
      }
    } else theirs = null; // a create the upstream refused: there is nothing upstream
    await this.d.db.transaction(async (trx) => {
      const objects = new ObjectStore(trx as unknown as Knex);
      if (theirs) {
        await objects.put(cal.id, upstreamWrite(row.object_name, theirs.ics, href!, theirs.etag), NO_CONDITIONS);
      } else if (theirs === null || previous === null) {
        await objects.remove(cal.id, row.object_name, NO_CONDITIONS);
      } else {
        await objects.put(cal.id, { name: previous.name, uid: previous.uid, component: previous.component, etag: previous.etag, ics: previous.ics, firstStart: previous.first_start, lastEnd: previous.last_end, upstreamHref: previous.upstream_href, upstreamEtag: null, baseIcs: previous.base_ics }, NO_CONDITIONS);
      }
      await this.d.outbox.closePending(trx, cal.id, row.object_name, "failed", message);
    });
    log.warn({ err: message }, "upstream refused a change; rolled back");
  }
}
