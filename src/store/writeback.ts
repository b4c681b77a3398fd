/**
 * The write-back outcomes, each one transaction: what the writer learnt from the upstream is recorded
 * together with what it means for the cache and for the object's other queued writes. Rules:
 *  - the cache keeps serving the newest acknowledged local version while any write of it is queued;
 *  - when an attempt fails for good, the newest queued version is what is kept (in `conflicts`) and
 *    announced, never an older one: intermediate versions were replaced by the client itself.
 */
import { insertedId, tx, type Db, type Tx } from "./db.ts";
import { ObjectStore, type ObjectRow, type ObjectWrite } from "./objects.ts";
import type { OutboxRow } from "./outbox.ts";
import { ConflictStore } from "./conflicts.ts";

/** How a conflict was decided (sync/conflict.ts): the policy, its outcome and the resulting text. */
export interface ConflictDecision {
  readonly policy: string;
  readonly outcome: "merged" | "upstream-won" | "client-won" | "newest-won" | "kept-edit";
  /** What both sides hold afterwards (null: deleted). */
  readonly result: string | null;
}

const NO_CONDITIONS = { ifMatch: null, ifNoneMatch: null } as const;

/** The upstream's current version of an object, prepared for the cache (null ics: it does not exist). */
export interface Theirs {
  readonly id: string;
  readonly etag: string | null;
  /** Ready-to-store write of their version. */
  readonly write: ObjectWrite;
}

/** The writer's attempt no longer holds the row (its claim was taken over, or the row was settled): it must stop. */
export class ClaimLost extends Error {
  override name = "ClaimLost";
}

/** First step of every outcome: the row is still pending and claimed by this attempt's holder. */
async function mustHold(trx: Tx, row: OutboxRow, holder: string): Promise<void> {
  const r = await trx("outbox").where({ id: row.id, state: "pending", claim_holder: holder }).first("id");
  if (!r) throw new ClaimLost(`outbox row ${row.id} is no longer claimed by ${holder}`);
}

/**
 * The version of the object's current chain of writes (since the last one that settled) to keep when
 * the chain fails: the newest one a client was answered 2xx for; if none was, the newest queued one.
 */
async function versionToKeep(trx: Tx, row: OutboxRow): Promise<OutboxRow> {
  const last = (await trx("outbox").where({ calendar_id: row.calendar_id, object_name: row.object_name }).whereIn("state", ["done", "conflict", "failed"]).max({ m: "id" }).first()) as { m: number | null } | undefined;
  const chain = await trx<OutboxRow>("outbox").where({ calendar_id: row.calendar_id, object_name: row.object_name }).andWhere("id", ">", Number(last?.m ?? 0)).orderBy("id", "desc");
  return chain.find((r) => r.acked_at !== null) ?? chain.find((r) => r.state === "pending") ?? row;
}

async function newerPending(trx: Tx, row: OutboxRow): Promise<OutboxRow[]> {
  return trx<OutboxRow>("outbox").where({ calendar_id: row.calendar_id, object_name: row.object_name, state: "pending" }).andWhere("id", ">", row.id).orderBy("id");
}

/** An object row as the upstream holds `w` (the rollback point of the writes queued after it). */
function rowOf(row: OutboxRow, w: ObjectWrite, ref: { id: string; etag: string | null }): Partial<ObjectRow> {
  return {
    calendar_id: row.calendar_id, name: w.name, uid: w.uid, component: w.component, etag: w.etag, ics: w.ics, size: Buffer.byteLength(w.ics),
    first_start: w.firstStart, last_end: w.lastEnd, exact_start: w.exactStart ?? null, exact_end: w.exactEnd ?? null,
    upstream_href: ref.id, upstream_etag: ref.etag, base_ics: w.ics,
  };
}

export class WriteBackStore {
  constructor(private readonly db: Db) {}

  /**
   * The upstream holds this write. `stored` is what it holds when that differs from what was sent
   * (its own rendering): the cache takes it only when no newer local write is queued.
   */
  async confirmed(row: OutboxRow, holder: string, ref: { id: string; etag: string | null } | null, stored: ObjectWrite | null, version: ObjectWrite | null): Promise<void> {
    await tx(this.db, async (trx) => {
      await mustHold(trx, row, holder);
      const newer = await newerPending(trx, row);
      const objects = new ObjectStore(trx);
      if (row.op === "put" && ref) {
        const current = (await trx<ObjectRow>("objects").where({ calendar_id: row.calendar_id, name: row.object_name }).first()) ?? null;
        if (current) {
          if (stored && newer.length === 0) {
            const r = await objects.put(row.calendar_id, { ...stored, upstreamHref: ref.id, upstreamEtag: ref.etag, baseIcs: stored.ics }, NO_CONDITIONS);
            if (!r.ok) throw new Error(`could not store the upstream's version: ${r.reason}`);
          } else {
            await objects.setUpstream(row.calendar_id, row.object_name, { upstreamHref: ref.id, upstreamEtag: ref.etag, baseIcs: stored?.ics ?? row.ics }, trx);
          }
        }
        // Newer writes now start from the version this one produced: target it, and roll back to it if refused.
        const base = stored ?? version;
        const previous = base ? JSON.stringify(rowOf(row, base, ref)) : null;
        for (const n of newer) await trx("outbox").where({ id: n.id }).update({ if_match: ref.etag, upstream_href: ref.id, ...(previous ? { previous_json: previous } : {}) });
      } else {
        // Deleted upstream: a newer queued put is now a create (nothing to roll back to).
        for (const n of newer) await trx("outbox").where({ id: n.id }).update({ if_match: null, upstream_href: null, previous_json: null });
      }
      await trx("outbox").where({ id: row.id }).update({ state: "done", last_error: null, claim_holder: null, claim_until: null, confirmed_href: ref?.id ?? null, confirmed_etag: ref?.etag ?? null });
    });
  }

  /**
   * The upstream's version and ours clash. Every queued write of the object closes as "conflict"; the
   * newest one's text is kept in `conflicts` with the upstream's and the base; the cache takes theirs
   * (null: deleted upstream). Returns the conflict id.
   */
  async conflict(row: OutboxRow, holder: string, theirs: Theirs | null, resolution: string | null, decision?: ConflictDecision): Promise<number> {
    return tx(this.db, async (trx) => {
      await mustHold(trx, row, holder);
      const newest = await versionToKeep(trx, row);
      const current = (await trx<ObjectRow>("objects").where({ calendar_id: row.calendar_id, name: row.object_name }).first()) ?? null;
      const previous = row.previous_json ? (JSON.parse(row.previous_json) as ObjectRow) : null;
      const base = current?.base_ics ?? previous?.base_ics ?? null;
      const id = await new ConflictStore(trx).record({
        calendarId: row.calendar_id, name: row.object_name, ours: newest.op === "put" ? newest.ics : null, theirs: theirs?.write.ics ?? null, base, resolution,
        ...(decision ? { policy: decision.policy, outcome: decision.outcome, result: decision.result } : {}),
      }, trx);
      const objects = new ObjectStore(trx);
      if (theirs) {
        const r = await objects.put(row.calendar_id, { ...theirs.write, upstreamHref: theirs.id, upstreamEtag: theirs.etag, baseIcs: theirs.write.ics }, NO_CONDITIONS);
        if (!r.ok) throw new Error(`could not store the upstream's version: ${r.reason}`);
      } else if (current) await objects.remove(row.calendar_id, row.object_name, NO_CONDITIONS);
      await trx("outbox").where({ calendar_id: row.calendar_id, object_name: row.object_name, state: "pending" }).update({ state: "conflict", last_error: `conflict ${id}`, claim_holder: null, claim_until: null });
      return id;
    });
  }

  /**
   * What a conflict is decided from: the client's side is the newest queued write of the object (the
   * last one a client made: each write is a whole object, so it includes the ones before), the base is
   * the last version both sides agreed on. `upTo` is that newest row: a write queued after it was not
   * part of the decision.
   */
  async conflictInputs(row: OutboxRow): Promise<{ ours: string | null; base: string | null; upTo: number }> {
    const newest = (await this.db<OutboxRow>("outbox").where({ calendar_id: row.calendar_id, object_name: row.object_name, state: "pending" }).orderBy("id", "desc").first()) ?? row;
    const current = (await this.db<ObjectRow>("objects").where({ calendar_id: row.calendar_id, name: row.object_name }).first()) ?? null;
    const previous = row.previous_json ? (JSON.parse(row.previous_json) as ObjectRow) : null;
    return { ours: newest.op === "put" ? newest.ics : null, base: current?.base_ics ?? previous?.base_ics ?? null, upTo: Math.max(newest.id, row.id) };
  }

  /**
   * A conflict whose result is about to be written to the upstream: recorded first (outcome pending),
   * so the versions it replaces are kept even if the write's answer is lost. Returns the id.
   */
  async pendingConflict(row: OutboxRow, holder: string, c: { theirs: string | null; ours: string | null; base: string | null; policy: string; result: string | null; note: string }): Promise<number> {
    return tx(this.db, async (trx) => {
      await mustHold(trx, row, holder);
      return new ConflictStore(trx).record({ calendarId: row.calendar_id, name: row.object_name, ours: c.ours, theirs: c.theirs, base: c.base, resolution: c.note, policy: c.policy, outcome: "pending", result: c.result }, trx);
    });
  }

  /**
   * The result of conflict `conflictId` is at the upstream (`ref`: where it lives; null: deleted there):
   * the record gets its outcome, the cache takes the result, and the queued writes the decision covered
   * (up to `upTo`) are done. Writes queued after the decision go next, from the result's version.
   */
  async resolved(row: OutboxRow, holder: string, c: { conflictId: number; stored: ObjectWrite | null; ref: { id: string; etag: string | null } | null; decision: ConflictDecision; note: string; upTo: number }): Promise<void> {
    await tx(this.db, async (trx) => {
      await mustHold(trx, row, holder);
      await trx("conflicts").where({ id: c.conflictId }).update({ outcome: c.decision.outcome, result: c.stored?.ics ?? null, resolution: c.note, resolved_at: Date.now() });
      const objects = new ObjectStore(trx);
      const later = await trx<OutboxRow>("outbox").where({ calendar_id: row.calendar_id, object_name: row.object_name, state: "pending" }).andWhere("id", ">", c.upTo).orderBy("id");
      if (c.stored && c.ref) {
        if (later.length === 0) {
          const r = await objects.put(row.calendar_id, { ...c.stored, upstreamHref: c.ref.id, upstreamEtag: c.ref.etag, baseIcs: c.stored.ics }, NO_CONDITIONS);
          if (!r.ok) throw new Error(`could not store the resolved version: ${r.reason}`);
        } else await objects.setUpstream(row.calendar_id, row.object_name, { upstreamHref: c.ref.id, upstreamEtag: c.ref.etag, baseIcs: c.stored.ics }, trx);
      } else if (later.length === 0 && (await trx("objects").where({ calendar_id: row.calendar_id, name: row.object_name }).first("id"))) {
        await objects.remove(row.calendar_id, row.object_name, NO_CONDITIONS);
      }
      // A write queued after the decision was not merged: it goes next, on the result's version.
      const previous = c.stored && c.ref ? JSON.stringify(rowOf(row, c.stored, c.ref)) : null;
      for (const n of later) await trx("outbox").where({ id: n.id }).update({ if_match: c.ref?.etag ?? null, upstream_href: c.ref?.id ?? null, previous_json: previous });
      await trx("outbox").where({ calendar_id: row.calendar_id, object_name: row.object_name, state: "pending" }).andWhere("id", "<=", c.upTo)
        .update({ state: "done", last_error: `conflict ${c.conflictId}: ${c.decision.outcome}`, claim_holder: null, claim_until: null, confirmed_href: c.ref?.id ?? null, confirmed_etag: c.ref?.etag ?? null });
    });
  }

  /**
   * The upstream refused this write for good. When a newer write of the object is queued, this row is
   * superseded by it (the newer one goes next, from the same upstream version). Otherwise the newest
   * version a client was promised is kept in `conflicts` and the cache goes back to the upstream's version (`theirs`; null: none
   * upstream; undefined: unknown, then the version the chain replaced). Returns the conflict id, or
   * null when a newer write took over.
   */
  async refused(row: OutboxRow, holder: string, message: string, theirs: Theirs | null | undefined): Promise<number | null> {
    return tx(this.db, async (trx) => {
      await mustHold(trx, row, holder);
      const newer = await newerPending(trx, row);
      if (newer.length > 0) {
        // Replaced by the newer write, which goes next from the same upstream version.
        await trx("outbox").where({ id: row.id }).update({ state: "superseded", last_error: `${message} (refused; a newer write of the object is queued)`, claim_holder: null, claim_until: null });
        return null;
      }
      const keep = await versionToKeep(trx, row);
      const previous = row.previous_json ? (JSON.parse(row.previous_json) as ObjectRow) : null;
      const now = Date.now();
      const inserted = await trx("conflicts")
        .insert({ calendar_id: row.calendar_id, object_name: row.object_name, ours: keep.op === "put" ? keep.ics : null, theirs: theirs?.write.ics ?? null, base: previous?.base_ics ?? null, resolution: `refused by the upstream: ${message}`.slice(0, 250), detected_at: now, resolved_at: now })
        .returning("id");
      const id = insertedId(inserted);
      const objects = new ObjectStore(trx);
      if (theirs) {
        await objects.put(row.calendar_id, { ...theirs.write, upstreamHref: theirs.id, upstreamEtag: theirs.etag, baseIcs: theirs.write.ics }, NO_CONDITIONS);
      } else if (theirs === null || previous === null) {
        const current = await trx("objects").where({ calendar_id: row.calendar_id, name: row.object_name }).first("id");
        if (current) await objects.remove(row.calendar_id, row.object_name, NO_CONDITIONS);
      } else {
        await objects.put(row.calendar_id, {
          name: previous.name, uid: previous.uid, component: previous.component, etag: previous.etag, ics: previous.ics, firstStart: previous.first_start, lastEnd: previous.last_end,
          exactStart: previous.exact_start, exactEnd: previous.exact_end, upstreamHref: previous.upstream_href, upstreamEtag: previous.upstream_etag, baseIcs: previous.base_ics,
        }, NO_CONDITIONS);
      }
      await trx("outbox").where({ id: row.id }).update({ state: "failed", last_error: `${message} (kept as conflict ${id})`, claim_holder: null, claim_until: null });
      return id;
    });
  }
}
