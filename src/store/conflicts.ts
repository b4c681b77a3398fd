/** Conflicts: both versions (and the base) of an object changed on both sides; nothing is dropped. */
import type { Knex } from "knex";
import type { Db } from "./db.ts";

export interface ConflictRow {
  id: number;
  calendar_id: number;
  object_name: string;
  ours: string | null;
  theirs: string | null;
  base: string | null;
  resolution: string | null;
  detected_at: number;
  resolved_at: number | null;
}

export class ConflictStore {
  constructor(private readonly db: Db) {}
  async record(c: { calendarId: number; name: string; ours: string | null; theirs: string | null; base: string | null; resolution: string | null }, trx?: Knex.Transaction): Promise<number> {
    const now = Date.now();
    const [id] = await (trx ?? this.db)("conflicts").insert({
      calendar_id: c.calendarId,
      object_name: c.name,
      ours: c.ours,
      theirs: c.theirs,
      base: c.base,
      resolution: c.resolution,
      detected_at: now,
      resolved_at: c.resolution ? now : null,
    });
    return Number(id);
  }
  list(calendarId: number): Promise<ConflictRow[]> {
    return this.db<ConflictRow>("conflicts").where({ calendar_id: calendarId }).orderBy("id");
  }
}
