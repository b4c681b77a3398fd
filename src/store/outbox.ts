/**
 * The durable write queue: one row per client change to a sourced calendar, replayed until the
 * upstream answers. Rows are never deleted: a row ends done, superseded (merged into a newer unsent
 * row of the same object), failed (refused; its text is kept in `conflicts`) or conflict.
 *
 * Per object, pending rows are sent oldest first. A row is marked sent (sent_at) in its own commit
 * before its request leaves; from then on its fate upstream is unknown until it is replayed, so a
 * newer write of the object queues behind it instead of replacing it.
 */
import { insertedId, tx, type Db, type Tx } from "./db.ts";
import type { ObjectRow } from "./rows.ts";

export type OutboxState = "pending" | "done" | "failed" | "conflict" | "superseded";

export interface OutboxRow {
  id: number;
  calendar_id: number;
  object_name: string;
  op: "put" | "delete";
  ics: string | null;
  /** Upstream version tag the write expects (null: a create, or unknown: resolved before sending). */
  if_match: string | null;
  /** Upstream id of the item (null: not created upstream yet). */
  upstream_href: string | null;
  state: OutboxState;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
  /** The object row the first write of this chain replaced (null = it created the object). */
  previous_json: string | null;
  owner: string | null;
  source_id: string | null;
  sent_at: number | null;
  claim_holder: string | null;
  claim_until: number | null;
  confirmed_href: string | null;
  confirmed_etag: string | null;
  acked_at: number | null;
}

export interface QueueFor {
  readonly owner: string;
  readonly sourceId: string;
}

/** Inside the client's write transaction: queue the change for the upstream. */
export async function enqueue(trx: Tx, q: QueueFor, calendarId: number, name: string, op: "put" | "delete", ics: string | null, current: ObjectRow | null): Promise<number> {
  const pending = await trx<OutboxRow>("outbox").where({ calendar_id: calendarId, object_name: name, state: "pending" }).orderBy("id", "desc");
  const newest = pending[0];
  let ifMatch = current?.upstream_etag ?? null;
  let href = current?.upstream_href ?? null;
  let previous = current ? JSON.stringify(current) : null;
  if (newest) {
    // The newest queued write targets the same upstream version; a retarget after it lands updates us.
    ifMatch = newest.if_match;
    href = newest.upstream_href;
    previous = newest.previous_json;
    // Never sent: nobody upstream has seen it, so it is merged into this newer version.
    if (newest.sent_at === null) await trx("outbox").where({ id: newest.id }).update({ state: "superseded", last_error: "replaced by a newer write before it was sent" });
  }
  const now = Date.now();
  const rows = await trx("outbox")
    .insert({
      calendar_id: calendarId, object_name: name, op, ics, if_match: ifMatch, upstream_href: href, state: "pending",
      attempts: 0, next_attempt_at: now, created_at: now, previous_json: previous, owner: q.owner, source_id: q.sourceId,
    })
    .returning("id");
  return insertedId(rows);
}

export class OutboxStore {
  constructor(private readonly db: Db) {}

  async get(id: number, trx?: Tx): Promise<OutboxRow | null> {
    return (await (trx ?? this.db)<OutboxRow>("outbox").where({ id }).first()) ?? null;
  }
  /** The object's pending rows, oldest first. */
  pendingOf(calendarId: number, name: string, trx?: Tx): Promise<OutboxRow[]> {
    return (trx ?? this.db)<OutboxRow>("outbox").where({ calendar_id: calendarId, object_name: name, state: "pending" }).orderBy("id");
  }
  /** Pending rows due now, oldest first (optionally of one source). */
  due(now: number, limit: number, owner?: string, sourceId?: string): Promise<OutboxRow[]> {
    const q = this.db<OutboxRow>("outbox").where({ state: "pending" }).andWhere("next_attempt_at", "<=", now);
    if (owner !== undefined) q.andWhere({ owner });
    if (sourceId !== undefined) q.andWhere({ source_id: sourceId });
    return q.orderBy("id").limit(limit);
  }
  async pendingCount(owner: string, sourceId: string): Promise<number> {
    const r = await this.db("outbox").where({ owner, source_id: sourceId, state: "pending" }).count({ n: "*" }).first();
    return Number((r as { n: number } | undefined)?.n ?? 0);
  }
  async pendingInCalendar(calendarId: number): Promise<number> {
    const r = await this.db("outbox").where({ calendar_id: calendarId, state: "pending" }).count({ n: "*" }).first();
    return Number((r as { n: number } | undefined)?.n ?? 0);
  }
  /** Pending rows per (owner, source). */
  async pendingBySource(): Promise<{ owner: string; source: string; pending: number }[]> {
    const rows = (await this.db("outbox").where({ state: "pending" }).groupBy("owner", "source_id").select("owner", "source_id").count({ n: "*" })) as { owner: string | null; source_id: string | null; n: number | string }[];
    return rows.map((r) => ({ owner: r.owner ?? "", source: r.source_id ?? "", pending: Number(r.n) }));
  }

  /**
   * Takes a row for sending: only while it is pending and nobody else's claim is valid (or its holder is
   * known dead: `deadHolder`). Marks it sent
   * (committed before the request leaves).
   */
  async claim(id: number, holder: string, ttlMs: number, deadHolder: string | null = null): Promise<OutboxRow | null> {
    const now = Date.now();
    const n = await this.db("outbox")
      .where({ id, state: "pending" })
      .andWhere((w) => {
        w.whereNull("claim_holder").orWhere("claim_until", "<", now).orWhere("claim_holder", holder);
        if (deadHolder !== null) w.orWhere("claim_holder", deadHolder);
      })
      .update({ claim_holder: holder, claim_until: now + ttlMs, sent_at: this.db.raw("COALESCE(sent_at, ?)", [now]) });
    return Number(n) > 0 ? this.get(id) : null;
  }
  /**
   * The attempt provably sent nothing (the upstream refused every connection): the row is unsent again,
   * so a newer write of the object may still replace it (a create, edit and delete made offline reach
   * the upstream as nothing). Only by the claim's holder.
   */
  async unsend(id: number, holder: string): Promise<void> {
    await this.db("outbox").where({ id, state: "pending", claim_holder: holder }).update({ sent_at: null });
  }
  /** A failed attempt: try again later (the claim is released). Only by the claim's holder (null: anyone). */
  async reschedule(id: number, attempts: number, nextAt: number, error: string, holder: string | null = null): Promise<void> {
    const q = this.db("outbox").where({ id, state: "pending" });
    if (holder !== null) q.andWhere({ claim_holder: holder });
    await q.update({ attempts, next_attempt_at: nextAt, last_error: error, claim_holder: null, claim_until: null });
  }
  /** Point one pending row at another upstream version, by the holder of its claim; false when the claim was lost. */
  async retarget(id: number, ifMatch: string | null, href: string | null, holder: string): Promise<boolean> {
    const n = await this.db("outbox").where({ id, state: "pending", claim_holder: holder }).update({ if_match: ifMatch, upstream_href: href });
    return Number(n) > 0;
  }
  async settle(id: number, state: Exclude<OutboxState, "pending">, error: string | null, trx?: Tx, confirmed?: { href: string | null; etag: string | null }): Promise<void> {
    await (trx ?? this.db)("outbox").where({ id }).update({
      state, last_error: error, claim_holder: null, claim_until: null,
      ...(confirmed ? { confirmed_href: confirmed.href, confirmed_etag: confirmed.etag } : {}),
    });
  }
  /**
   * The client of this write is about to be answered: in one transaction, read its fate and, unless it
   * failed or ended in a conflict (then the client gets that error), record that a 2xx was promised.
   */
  async answer(id: number): Promise<OutboxRow | null> {
    return tx(this.db, async (trx) => {
      const row = (await trx<OutboxRow>("outbox").where({ id }).first()) ?? null;
      if (!row) return null;
      if (row.state === "superseded") {
        // Merged into a newer write: its fate is that write's. If that one already failed or clashed (and the
        // version kept was chosen without this one), this client gets the error, not a 2xx.
        const next = await trx<OutboxRow>("outbox").where({ calendar_id: row.calendar_id, object_name: row.object_name }).andWhere("id", ">", id).whereNot({ state: "superseded" }).orderBy("id").first();
        if (next && (next.state === "conflict" || next.state === "failed")) return { ...row, state: next.state, last_error: next.last_error };
      }
      if (row.state === "pending" || row.state === "done" || row.state === "superseded") await trx("outbox").where({ id }).update({ acked_at: Date.now() });
      return row;
    });
  }

  /** The text of the newest write (put) of an object queued before row `beforeId`, if any. */
  async lastPutBefore(calendarId: number, name: string, beforeId: number): Promise<string | null> {
    // Only writes of the current chain (after the last one that settled: what came before is accounted
    // for) that may have reached the upstream (claimed for sending and not proven unsent): a create
    // merged away before it was sent never put anything there.
    const settled = (await this.db("outbox").where({ calendar_id: calendarId, object_name: name }).whereIn("state", ["done", "conflict", "failed"]).andWhere("id", "<", beforeId).max({ m: "id" }).first()) as { m: number | null } | undefined;
    const r = await this.db<OutboxRow>("outbox").where({ calendar_id: calendarId, object_name: name, op: "put" }).whereNotNull("sent_at")
      .andWhere("id", "<", beforeId).andWhere("id", ">", Number(settled?.m ?? 0)).orderBy("id", "desc").first("ics");
    return r?.ics ?? null;
  }

  /**
   * Is this exactly the upstream version our latest confirmed write of the object produced? Only the
   * latest counts: an older version of ours may have come back through someone else's revert.
   */
  async isOwnConfirmed(calendarId: number, name: string, href: string, etag: string): Promise<boolean> {
    const r = await this.db<OutboxRow>("outbox").where({ calendar_id: calendarId, object_name: name, state: "done" }).orderBy("id", "desc").first("confirmed_href", "confirmed_etag");
    return r !== undefined && r.confirmed_href === href && r.confirmed_etag === etag;
  }
}
