/** Push channels calgate opened at providers (rows of `push_channels`). */
import type { Db } from "./db.ts";

export interface PushChannel {
  readonly id: string;
  readonly owner: string;
  readonly sourceId: string;
  readonly calendarId: string;
  readonly secret: string;
  readonly data: unknown;
  readonly expiresAt: number;
}

interface ChannelRow {
  id: string;
  owner: string;
  source_id: string;
  calendar_id: string;
  secret: string;
  data: string | null;
  expires_at: number | string;
  created_at: number | string;
}

const fromRow = (r: ChannelRow): PushChannel => ({
  id: r.id, owner: r.owner, sourceId: r.source_id, calendarId: r.calendar_id, secret: r.secret,
  data: r.data === null ? null : (JSON.parse(r.data) as unknown), expiresAt: Number(r.expires_at),
});

export class ChannelStore {
  constructor(private readonly db: Db) {}

  async add(c: PushChannel): Promise<void> {
    await this.db("push_channels").insert({
      id: c.id, owner: c.owner, source_id: c.sourceId, calendar_id: c.calendarId, secret: c.secret,
      data: c.data === null || c.data === undefined ? null : JSON.stringify(c.data), expires_at: c.expiresAt, created_at: Date.now(),
    });
  }
  async remove(id: string): Promise<void> {
    await this.db("push_channels").where({ id }).delete();
  }
  async byId(id: string): Promise<PushChannel | null> {
    const r = await this.db<ChannelRow>("push_channels").where({ id }).first();
    return r ? fromRow(r) : null;
  }
  async bySource(owner: string, sourceId: string): Promise<PushChannel[]> {
    return (await this.db<ChannelRow>("push_channels").where({ owner, source_id: sourceId }).orderBy("expires_at")).map(fromRow);
  }
  async all(): Promise<PushChannel[]> {
    return (await this.db<ChannelRow>("push_channels").select()).map(fromRow);
  }
}
