/** The durable write queue: one row per client change to a sourced calendar, replayed until the upstream answers. */
import type { Knex } from "knex";
import type { Db } from "./db.ts";
import type { ObjectRow } from "./objects.ts";

export type OutboxState = "pending" | "done" | "failed" | "conflict" | "superseded";

export interface OutboxRow {
  id: number;
  calendar_id: number;
  object_name: string;
  op: "put" | "delete";
  ics: string | null;
  if_match: string | null;
  upstream_href: string | null;
  state: OutboxState;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
  previous_json: string | null;
  owner: string | null;
  source_id: string | null;
}

export interface NewOutbox {
  calendarId: number;
  owner: string;
  sourceId: string;
  name: string;
  op: "put" | "delete";
  ics: string | null;
  ifMatch: string | null;
  upstreamHref: string | null;
  previous: ObjectRow | null;
}

export class OutboxStore {
  constructor(private readonly db: Db) {}

  /**
   * Inside the client's write transaction. An older pending row for the same object is superseded: the
   * new row inherits its upstream target (If-Match / href) and its rollback point, so the upstream sees
   * one write from the last agreed version to the newest.
   */
  async enqueue(trx: Knex.Transaction, o: NewOutbox): Promise<number> {
    const older = await trx<OutboxRow>("outbox").where({ calendar_id: o.calendarId, object_name: o.name, state: "pending" }).orderBy("id").first();
    let ifMatch = o.ifMatch;
    let href = o.upstreamHref;
    let previous = o.previous ? JSON.stringify(o.previous) : null;
    if (older) {
      ifMatch = older.if_match;
      href = older.upstream_href;
      previous = older.previous_json;
      await trx("outbox").where({ calendar_id: o.calendarId, object_name: o.name, state: "pending" }).update({ state: "superseded" });
    }
    const now = Date.now();
    const [id] = await trx("outbox").insert({
      calendar_id: o.calendarId,
      object_name: o.name,
      op: o.op,
      ics: o.ics,
      if_match: ifMatch,
      upstream_href: href,
      state: "pending",
      attempts: 0,
      next_attempt_at: now,
      created_at: now,
      previous_json: previous,
      owner: o.owner,
      source_id: o.sourceId,
    });
    return Number(id);
  }

  /** The texts of earlier writes of one object (superseded or done), newest first. */
  async recentVersions(calendarId: number, name: string, beforeId: number, limit: number): Promise<string[]> {
    const rows = await this.db<OutboxRow>("outbox").where({ calendar_id: calendarId, object_name: name, op: "put" }).andWhere("id", "<", beforeId).whereIn("state", ["superseded", "done"]).orderBy("id", "desc").limit(limit).select("ics");
    return rows.map((r) => r.ics ?? "").filter((x) => x !== "");
  }

  /** Point one queued write at a new upstream version (href and If-Match). */
  async retarget(id: number, ifMatch: string | null, href: string | null): Promise<void> {
    await this.db("outbox").where({ id }).update({ if_match: ifMatch, upstream_href: href });
  }

  /** Point the other pending writes of an object at the upstream version a write just produced. */
  async retargetOthers(trx: Knex.Transaction, calendarId: number, name: string, exceptId: number, ifMatch: string | null, href: string | null): Promise<void> {
    await trx("outbox").where({ calendar_id: calendarId, object_name: name, state: "pending" }).whereNot({ id: exceptId }).update({ if_match: ifMatch, upstream_href: href });
  }

  /** Close every pending write of an object with a final state (conflict, failed). */
  async closePending(trx: Knex.Transaction, calendarId: number, name: string, state: "conflict" | "failed", error: string): Promise<void> {
    await trx("outbox").where({ calendar_id: calendarId, object_name: name, state: "pending" }).update({ state, last_error: error });
  }

  async get(id: number): Promise<OutboxRow | null> {
    return (await this.db<OutboxRow>("outbox").where({ id }).first()) ?? null;
  }
  /** Pending rows due now, oldest first (optionally of one source). */
  due(now: number, limit: number, owner?: string, sourceId?: string): Promise<OutboxRow[]> {
    const q = this.db<OutboxRow>("outbox").where({ state: "pending" }).andWhere("next_attempt_at", "<=", now);
    if (owner !== undefined) q.andWhere({ owner });
    if (sourceId !== undefined) q.andWhere({ source_id: sourceId });
    return q.orderBy("id").limit(limit);
  }
  async pendingNames(calendarId: number): Promise<Set<string>> {
    const rows = await this.db<OutboxRow>("outbox").where({ calendar_id: calendarId, state: "pending" }).select("object_name");
    return new Set(rows.map((r) => r.object_name));
  }
  async pendingCount(owner: string, sourceId: string): Promise<number> {
    const r = await this.db("outbox").where({ owner, source_id: sourceId, state: "pending" }).count({ n: "*" }).first();
    return Number((r as { n: number } | undefined)?.n ?? 0);
  }
  /** Pending rows per (owner, source). */
  async pendingBySource(): Promise<{ owner: string; source: string; pending: number }[]> {
    const rows = (await this.db("outbox").where({ state: "pending" }).groupBy("owner", "source_id").select("owner", "source_id").count({ n: "*" })) as { owner: string | null; source_id: string | null; n: number | string }[];
    return rows.map((r) => ({ owner: r.owner ?? "", source: r.source_id ?? "", pending: Number(r.n) }));
  }
  async settle(id: number, state: Exclude<OutboxState, "pending">, error: string | null = null, trx?: Knex.Transaction): Promise<void> {
    await (trx ?? this.db)("outbox").where({ id }).update({ state, last_error: error });
  }
  async reschedule(id: number, attempts: number, nextAt: number, error: string): Promise<void> {
    await this.db("outbox").where({ id, state: "pending" }).update({ attempts, next_attempt_at: nextAt, last_error: error });
  }
}
