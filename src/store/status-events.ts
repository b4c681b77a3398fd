/** Status events, persisted so that every process on the database (serve, `sync --once`) feeds one stream with one id sequence. */
import { insertedId, type Db } from "./db.ts";

export interface StatusEventRow {
  id: number;
  owner: string | null;
  type: string;
  payload: string;
  at: number;
  /** The publishing process's bus (null for events from before migration 014). */
  origin: string | null;
}

export class StatusEventStore {
  constructor(private readonly db: Db) {}
  async insert(owner: string | null, type: string, payload: unknown, at: number, origin: string | null = null): Promise<number> {
    const id = insertedId(await this.db("status_events").insert({ owner, type, payload: JSON.stringify(payload), at, origin }).returning("id"));
    return Number(id);
  }
  /** Every event after `id`, any owner, oldest first. */
  after(id: number, limit = 1000): Promise<StatusEventRow[]> {
    return this.db<StatusEventRow>("status_events").where("id", ">", id).orderBy("id").limit(limit);
  }
  /** One owner's events after `id` (SSE resume). */
  since(owner: string, id: number, limit = 1000): Promise<StatusEventRow[]> {
    return this.db<StatusEventRow>("status_events").where({ owner }).andWhere("id", ">", id).orderBy("id").limit(limit);
  }
  async maxId(): Promise<number> {
    const r = (await this.db("status_events").max({ m: "id" }).first()) as { m: number | null } | undefined;
    return Number(r?.m ?? 0);
  }
  async minId(): Promise<number | null> {
    const r = (await this.db("status_events").min({ m: "id" }).first()) as { m: number | null } | undefined;
    return r?.m == null ? null : Number(r.m);
  }
  /** Keeps the newest `keep` rows. */
  async prune(keep: number): Promise<void> {
    const max = await this.maxId();
    if (max > keep) await this.db("status_events").where("id", "<=", max - keep).delete();
  }
}
