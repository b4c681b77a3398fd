/**
 * The status bus. Every event is written to status_events first (so `calgate sync --once` and
 * `calgate serve` on one database share a single stream with one id sequence, and SSE clients can
 * resume with Last-Event-ID across restarts), logged as a JSON line, and then delivered to
 * subscribers by a tailer that reads new rows (only in processes that serve SSE).
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { StatusEventStore, StatusEventRow } from "../store/status-events.ts";
import type { NewStatusEvent, StatusEvent } from "./events.ts";

/** The replay buffer: the newest events kept in status_events (older ones are pruned). */
export const KEEP_EVENTS = 20_000;
/** Pruning runs every this many events published by this process (and at start). */
const PRUNE_EVERY = 1000;

export class StatusBus {
  private readonly subs = new Set<{ accept: (e: StatusEvent) => boolean; f: (e: StatusEvent) => void; localOnly: boolean }>();
  /** Marks this process's events in status_events, so subscribers can tell them from other instances'. */
  private readonly origin = randomUUID();
  private lastSeen = 0;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private published = 0;

  constructor(private readonly store: StatusEventStore, private readonly log: Logger, private readonly pollMs = 200, private readonly keep = KEEP_EVENTS) {}

  /** The id of the newest event delivered to subscribers: a subscriber added now receives every later one. */
  get position(): number {
    return this.lastSeen;
  }
  /** The oldest id still kept for replay (null: none kept). */
  oldestId(): Promise<number | null> {
    return this.store.minId();
  }

  async publish(e: NewStatusEvent): Promise<StatusEvent> {
    const at = Date.now();
    const payload = { ...e, at: new Date(at).toISOString() };
    const id = await this.store.insert(e.owner, e.type, payload, at, this.origin);
    const full = { ...payload, id: String(id) } as StatusEvent;
    this.log.info({ event: full }, e.type);
    if (++this.published % PRUNE_EVERY === 0) void this.store.prune(this.keep).catch(() => undefined);
    if (this.timer) void this.poll();
    return full;
  }

  /**
   * Every event (from any process on the database) that `accept`s; with `localOnly`, only the events
   * this process published: the follow-ups of a sync (mirror rules, push subscriptions, metrics)
   * belong to the instance that ran it, not to every instance reading the event.
   */
  subscribe(accept: (e: StatusEvent) => boolean, f: (e: StatusEvent) => void, opts: { localOnly?: boolean } = {}): () => void {
    const s = { accept, f, localOnly: opts.localOnly ?? false };
    this.subs.add(s);
    return () => void this.subs.delete(s);
  }

  /** One user's events after `lastEventId` (numeric id), oldest first. */
  async since(owner: string, lastEventId: string, limit = 5000): Promise<StatusEvent[]> {
    const n = Number(lastEventId);
    if (!Number.isInteger(n) || n < 0) return [];
    return (await this.store.since(owner, n, limit)).map(toEvent);
  }

  /** Starts delivering events (from this and other processes) to subscribers. */
  async start(): Promise<void> {
    this.lastSeen = await this.store.maxId();
    await this.store.prune(this.keep).catch(() => undefined);
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.polling;
  }

  private poll(): Promise<void> {
    if (this.polling) return this.polling;
    this.polling = (async () => {
      try {
        for (;;) {
          const rows = await this.store.after(this.lastSeen, 500);
          for (const r of rows) {
            this.lastSeen = r.id;
            const e = toEvent(r);
            const local = r.origin === this.origin;
            for (const s of this.subs) {
              try {
                if ((local || !s.localOnly) && s.accept(e)) s.f(e);
              } catch (err) {
                this.log.warn({ err: (err as Error).message }, "status subscriber failed");
              }
            }
          }
          if (rows.length < 500) break;
        }
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "reading status events failed");
      } finally {
        this.polling = null;
      }
    })();
    return this.polling;
  }
}

function toEvent(r: StatusEventRow): StatusEvent {
  return { ...(JSON.parse(r.payload) as object), id: String(r.id) } as StatusEvent;
}
