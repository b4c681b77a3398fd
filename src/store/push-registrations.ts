/** WebDAV-Push: the VAPID key pair and the clients' registrations (tables of migration 010). */
import type { Db } from "./db.ts";

export interface VapidKeyRow {
  readonly publicKey: string;
  readonly privateKey: string;
  readonly topicSecret: string;
}

export interface PushRegistrationRow {
  readonly id: string;
  readonly owner: string;
  readonly calendarId: number;
  readonly calendarName: string;
  readonly pushResource: string;
  readonly p256dh: string;
  readonly auth: string;
  readonly contentEncoding: string;
  readonly expiresAt: number;
  readonly failures: number;
}

interface Row {
  id: string;
  owner: string;
  calendar_id: number | string;
  calendar_name: string;
  push_resource: string;
  p256dh: string;
  auth: string;
  content_encoding: string;
  expires_at: number | string;
  failures: number | string;
}

const fromRow = (r: Row): PushRegistrationRow => ({
  id: r.id, owner: r.owner, calendarId: Number(r.calendar_id), calendarName: r.calendar_name, pushResource: r.push_resource,
  p256dh: r.p256dh, auth: r.auth, contentEncoding: r.content_encoding, expiresAt: Number(r.expires_at), failures: Number(r.failures),
});

export class PushRegistrationStore {
  constructor(private readonly db: Db) {}

  /** The stored key pair, or the one `make` gives, stored first (two processes racing keep the first). */
  async vapidKeys(make: () => VapidKeyRow): Promise<VapidKeyRow> {
    const read = async () => this.db("webpush_keys").where({ id: 1 }).first() as Promise<{ public_key: string; private_key: string; topic_secret: string } | undefined>;
    let r = await read();
    if (!r) {
      const k = make();
      await this.db("webpush_keys").insert({ id: 1, public_key: k.publicKey, private_key: k.privateKey, topic_secret: k.topicSecret, created_at: Date.now() }).onConflict("id").ignore();
      r = await read();
    }
    return { publicKey: r!.public_key, privateKey: r!.private_key, topicSecret: r!.topic_secret };
  }

  /**
   * Registers a push resource for a collection, or renews the registration it already has (the draft:
   * one registration per subscription and collection). Returns the registration and whether it is new.
   */
  async upsert(r: Omit<PushRegistrationRow, "failures">): Promise<{ row: PushRegistrationRow; created: boolean }> {
    const now = Date.now();
    return this.db.transaction(async (trx) => {
      const existing = (await trx<Row>("webpush_registrations").where({ calendar_id: r.calendarId, push_resource: r.pushResource }).first()) ?? null;
      if (existing) {
        await trx("webpush_registrations").where({ id: existing.id }).update({ p256dh: r.p256dh, auth: r.auth, content_encoding: r.contentEncoding, expires_at: r.expiresAt, updated_at: now, failures: 0 });
        return { row: { ...fromRow(existing), p256dh: r.p256dh, auth: r.auth, contentEncoding: r.contentEncoding, expiresAt: r.expiresAt, failures: 0 }, created: false };
      }
      await trx("webpush_registrations").insert({
        id: r.id, owner: r.owner, calendar_id: r.calendarId, calendar_name: r.calendarName, push_resource: r.pushResource, p256dh: r.p256dh,
        auth: r.auth, content_encoding: r.contentEncoding, expires_at: r.expiresAt, created_at: now, updated_at: now, failures: 0,
      });
      return { row: { ...r, failures: 0 }, created: true };
    });
  }

  async get(id: string): Promise<PushRegistrationRow | null> {
    const r = await this.db<Row>("webpush_registrations").where({ id }).first();
    return r ? fromRow(r) : null;
  }

  /** Deletes one of `owner`'s registrations; false when it had no live one with that id (unknown or expired). */
  async remove(owner: string, id: string, now = Date.now()): Promise<boolean> {
    const r = await this.db<Row>("webpush_registrations").where({ id, owner }).first();
    if (!r) return false;
    await this.db("webpush_registrations").where({ id, owner }).delete();
    return Number(r.expires_at) > now;
  }

  async removeById(id: string): Promise<void> {
    await this.db("webpush_registrations").where({ id }).delete();
  }

  /** Live registrations of a stored calendar. */
  async forCalendar(calendarId: number, now = Date.now()): Promise<PushRegistrationRow[]> {
    return (await this.db<Row>("webpush_registrations").where({ calendar_id: calendarId }).andWhere("expires_at", ">", now)).map(fromRow);
  }

  /** Live registrations of a merged calendar (negative ids), by owner and name. */
  async forMerged(owner: string, name: string, now = Date.now()): Promise<PushRegistrationRow[]> {
    return (await this.db<Row>("webpush_registrations").where({ owner, calendar_name: name }).andWhere("calendar_id", "<", 0).andWhere("expires_at", ">", now)).map(fromRow);
  }

  /** Records a delivery outcome: failures since the last message the push service took. */
  async delivered(id: string, ok: boolean): Promise<number> {
    if (ok) {
      await this.db("webpush_registrations").where({ id }).update({ failures: 0 });
      return 0;
    }
    await this.db("webpush_registrations").where({ id }).increment("failures", 1);
    return (await this.get(id))?.failures ?? 0;
  }

  /** Forgets expired registrations (they are never used again). */
  async pruneExpired(now = Date.now()): Promise<number> {
    return this.db("webpush_registrations").where("expires_at", "<=", now).delete();
  }
}
