/** Heartbeats of the processes on this database: who is alive, for lease and claim takeover (migration 014). */
import type { Db } from "./db.ts";

export class InstanceStore {
  constructor(private readonly db: Db) {}

  /** Records that these holders are alive now (inserted on the first beat). */
  async beat(holders: readonly string[], startedAt: number, now = Date.now()): Promise<void> {
    if (holders.length === 0) return;
    await this.db("instances")
      .insert(holders.map((holder) => ({ holder, started_at: startedAt, seen_at: now })))
      .onConflict("holder")
      .merge(["seen_at"]);
  }

  /** When a holder last beat; null when it never did (an older version, or a row already removed). */
  async seenAt(holder: string): Promise<number | null> {
    const row = (await this.db("instances").where({ holder }).first("seen_at")) as { seen_at: number | string } | undefined;
    return row ? Number(row.seen_at) : null;
  }

  /** A holder that stopped cleanly: its leases and claims are released by then. */
  async remove(holders: readonly string[]): Promise<void> {
    if (holders.length > 0) await this.db("instances").whereIn("holder", holders).delete();
  }

  /** Forgets holders silent since before `before` (their leases and claims were taken over long ago). */
  async prune(before: number): Promise<number> {
    return Number(await this.db("instances").where("seen_at", "<", before).delete());
  }

  /** Holders that beat since `since` (is another instance alive?). */
  async live(since: number): Promise<{ holder: string; started_at: number; seen_at: number }[]> {
    const rows = (await this.db("instances").where("seen_at", ">=", since).orderBy("holder")) as { holder: string; started_at: number | string; seen_at: number | string }[];
    return rows.map((r) => ({ holder: r.holder, started_at: Number(r.started_at), seen_at: Number(r.seen_at) }));
  }
}
