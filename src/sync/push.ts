/**
 * Provider push, when server.publicUrl is set: one subscription per calendar of every source whose
 * adapter can watch (Google channels today), opened after a successful sync, renewed a day before it
 * expires (a new subscription first, then the old one stopped: providers allow no renewal in place,
 * and an overlap is harmless), and stopped on shutdown unless another instance on the database is
 * alive (subscriptions are in the database, shared by every instance: a rolling restart must not
 * end them for the others). A notification names its subscription; its
 * secret is checked, and a change triggers a debounced sync of that source. Notifications are not
 * reliable (reference: some are dropped), so the scheduled poll stays as the backstop.
 */
import { timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import type { PushNotice } from "../sources/adapter.ts";
import type { CalendarStore } from "../store/calendars.ts";
import type { ChannelStore, PushChannel } from "../store/channels.ts";
import type { Catalog } from "./catalog.ts";

const RENEW_BEFORE_MS = 24 * 3600_000;
const DEBOUNCE_MS = 500;
const STOP_TIMEOUT_MS = 5_000;
/** After a provider refused to open a subscription (e.g. Google and a non-https address), try again this much later. */
const RETRY_REFUSED_MS = 60 * 60_000;

export interface PushDeps {
  catalog: Catalog;
  calendars: CalendarStore;
  channels: ChannelStore;
  /** server.publicUrl: where providers reach calgate; null turns push off. */
  publicUrl: string | null;
  log: Logger;
  trigger(owner: string, sourceId: string, reason: string): void;
  /** Whether another calgate process on this database is alive (liveness.ts); default: none. */
  othersAlive?: () => Promise<boolean>;
  now?: () => number;
}

export type NoticeOutcome = "accepted" | "ignored" | "unknown" | "forbidden";

const sameSecret = (a: string, b: string): boolean => {
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export class PushChannels {
  private readonly debounce = new Map<string, NodeJS.Timeout>();
  private readonly abort = new AbortController();
  private readonly busy = new Map<string, Promise<void>>();
  /** owner\0source → when opening a subscription last failed (not retried on every sync). */
  private readonly failedAt = new Map<string, number>();

  constructor(private readonly d: PushDeps) {}

  private now(): number {
    return this.d.now?.() ?? Date.now();
  }

  callbackUrl(type: string): string {
    return new URL(`hooks/${type}`, this.d.publicUrl!.endsWith("/") ? this.d.publicUrl! : `${this.d.publicUrl}/`).toString();
  }

  /** After a sync of a source: every calendar has a live subscription; those of calendars gone are stopped. */
  ensure(owner: string, sourceId: string): Promise<void> {
    const key = `${owner}\0${sourceId}`;
    const running = this.busy.get(key);
    if (running) return running;
    const failed = this.failedAt.get(key);
    if (failed !== undefined && this.now() - failed < RETRY_REFUSED_MS) return Promise.resolve();
    const p = this.reconcile(owner, sourceId)
      .then(() => void this.failedAt.delete(key))
      .catch((e: unknown) => {
        this.failedAt.set(key, this.now());
        throw e;
      })
      .finally(() => this.busy.delete(key));
    this.busy.set(key, p);
    return p;
  }

  private async reconcile(owner: string, sourceId: string): Promise<void> {
    if (this.d.publicUrl === null) return;
    const adapter = this.d.catalog.adapter(owner, sourceId);
    const source = this.d.catalog.source(owner, sourceId);
    if (!adapter?.watch || !source) return;
    const ctx = this.d.catalog.context(owner, sourceId, this.abort.signal);
    const rows = await this.d.calendars.listBySource(owner, sourceId);
    const have = await this.d.channels.bySource(owner, sourceId);
    const wanted = new Set(rows.map((r) => r.source_calendar_id).filter((x): x is string => x !== null));
    for (const row of rows) {
      if (row.source_calendar_id === null) continue;
      const live = have.filter((c) => c.calendarId === row.source_calendar_id && c.expiresAt - RENEW_BEFORE_MS > this.now());
      if (live.length > 0) continue;
      const sub = await adapter.watch(this.d.catalog.remote(row), this.callbackUrl(source.type), ctx);
      await this.d.channels.add({ id: sub.id, owner, sourceId, calendarId: row.source_calendar_id, secret: sub.secret, data: sub.data, expiresAt: sub.expiresAt });
      this.d.log.info({ owner, source: sourceId, calendar: row.name, channel: sub.id, expiresAt: new Date(sub.expiresAt).toISOString() }, "push subscription opened");
    }
    // Expiring ones (now replaced) and those of calendars no longer synced.
    for (const c of have) {
      if (wanted.has(c.calendarId) && c.expiresAt - RENEW_BEFORE_MS > this.now()) continue;
      await this.stopOne(c);
    }
  }

  private async stopOne(c: PushChannel): Promise<void> {
    const adapter = this.d.catalog.adapter(c.owner, c.sourceId);
    try {
      if (adapter?.unwatch && c.expiresAt > this.now()) {
        const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(STOP_TIMEOUT_MS)]);
        await adapter.unwatch({ id: c.id, data: c.data }, this.d.catalog.context(c.owner, c.sourceId, signal));
      }
    } catch (e) {
      this.d.log.warn({ owner: c.owner, source: c.sourceId, channel: c.id, err: (e as Error).message }, "could not stop a push subscription; it expires on its own");
    }
    await this.d.channels.remove(c.id);
  }

  /** A provider notification: checks it and schedules a sync of its source. */
  async notice(n: PushNotice): Promise<NoticeOutcome> {
    const c = await this.d.channels.byId(n.subscriptionId);
    if (!c) return "unknown";
    if (n.secret === null || !sameSecret(n.secret, c.secret)) return "forbidden";
    if (n.kind === "handshake") return "ignored";
    const key = `${c.owner}\0${c.sourceId}`;
    if (n.kind === "lost") {
      // Replaced at once rather than at the next renewal: until then changes would arrive only by polling.
      await this.stopOne(c);
      this.failedAt.delete(key);
      void this.ensure(c.owner, c.sourceId).catch((e: Error) => this.d.log.warn({ owner: c.owner, source: c.sourceId, err: e.message }, "could not replace a push subscription the provider ended; polling continues"));
    }
    if (!this.debounce.has(key)) {
      // Several notifications in a burst (one per calendar, overlapping channels) make one sync.
      const t = setTimeout(() => {
        this.debounce.delete(key);
        this.d.trigger(c.owner, c.sourceId, "push");
      }, DEBOUNCE_MS);
      t.unref();
      this.debounce.set(key, t);
    }
    return "accepted";
  }

  /** At start-up: subscriptions of sources no longer configured cannot be stopped (no credentials); forget them, they expire. */
  async forgetOrphans(): Promise<void> {
    for (const c of await this.d.channels.all()) {
      if (this.d.catalog.source(c.owner, c.sourceId)) continue;
      await this.d.channels.remove(c.id);
      this.d.log.info({ owner: c.owner, source: c.sourceId, channel: c.id }, "forgot the push subscription of a source no longer configured; it expires on its own");
    }
  }

  /** On shutdown: stop every subscription of this process's sources (best effort, bounded), when no other instance is left. */
  async close(): Promise<void> {
    for (const t of this.debounce.values()) clearTimeout(t);
    this.debounce.clear();
    await Promise.allSettled([...this.busy.values()]);
    const shared = await (this.d.othersAlive?.() ?? Promise.resolve(false)).catch(() => false);
    if (shared) this.d.log.info("push subscriptions kept at shutdown: another instance on this database receives them");
    if (this.d.publicUrl !== null && !shared) {
      for (const c of await this.d.channels.all()) {
        if (this.d.catalog.source(c.owner, c.sourceId)) await this.stopOne(c);
      }
    }
    this.abort.abort();
  }
}
