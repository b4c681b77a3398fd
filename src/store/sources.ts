/** Per-source sync state: status, failure count, adapter state (discovery) and a cross-process sync lease. */
import type { Db } from "./db.ts";

export type SourceStatus = "ok" | "degraded" | "auth_required" | "offline";

export interface SourceRow {
  owner: string;
  id: string;
  type: string;
  status: SourceStatus;
  status_message: string | null;
  state_json: string | null;
  last_sync_at: number | null;
  last_success_at: number | null;
  consecutive_failures: number;
  lease_holder: string | null;
  lease_until: number | null;
}

export class SourceStore {
  constructor(private readonly db: Db) {}

  async ensure(owner: string, id: string, type: string): Promise<SourceRow> {
    await this.db("sources").insert({ owner, id, type }).onConflict(["owner", "id"]).ignore();
    return (await this.get(owner, id))!;
  }
  async get(owner: string, id: string): Promise<SourceRow | null> {
    return (await this.db<SourceRow>("sources").where({ owner, id }).first()) ?? null;
  }
  async loadState<T>(owner: string, id: string): Promise<T | null> {
    const row = await this.db<SourceRow>("sources").where({ owner, id }).first("state_json");
    return row?.state_json ? (JSON.parse(row.state_json) as T) : null;
  }
  async saveState(owner: string, id: string, state: unknown): Promise<void> {
    await this.db("sources").where({ owner, id }).update({ state_json: state === null ? null : JSON.stringify(state) });
  }

  /** Records a successful sync; returns the previous status. */
  async succeeded(owner: string, id: string, at: number): Promise<SourceStatus> {
    const prev = await this.get(owner, id);
    await this.db("sources").where({ owner, id }).update({ status: "ok", status_message: null, last_sync_at: at, last_success_at: at, consecutive_failures: 0 });
    return prev?.status ?? "ok";
  }
  /** Records a failed sync; returns the failure count and previous status. */
  async failed(owner: string, id: string, at: number): Promise<{ failures: number; previous: SourceStatus }> {
    const prev = await this.get(owner, id);
    const failures = (prev?.consecutive_failures ?? 0) + 1;
    await this.db("sources").where({ owner, id }).update({ last_sync_at: at, consecutive_failures: failures });
    return { failures, previous: prev?.status ?? "ok" };
  }
  async setStatus(owner: string, id: string, status: SourceStatus, message: string | null): Promise<void> {
    await this.db("sources").where({ owner, id }).update({ status, status_message: message });
  }

  /** Takes (or renews) the sync lease of a source; false when another holder's lease is still valid. */
  async acquire(owner: string, id: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const n = await this.db("sources")
      .where({ owner, id })
      .andWhere((w) => w.whereNull("lease_holder").orWhere("lease_until", "<", now).orWhere("lease_holder", holder))
      .update({ lease_holder: holder, lease_until: now + ttlMs });
    return Number(n) > 0;
  }
  async release(owner: string, id: string, holder: string): Promise<void> {
    await this.db("sources").where({ owner, id, lease_holder: holder }).update({ lease_holder: null, lease_until: null });
  }
}
