/**
 * When syncs run: a node-cron tick (`sync.schedule`) starts every source after its own random jitter
 * (`sync.jitterSeconds`) so they do not fire together; a failed source is retried on its own backoff
 * timer (exponential with jitter, Retry-After honoured) instead of waiting for the next tick; queued
 * writes are replayed on a short timer; POST /sync and start-up trigger a sync now. The engine keeps
 * one sync per source at a time, across processes (the lease).
 *
 * Several instances on one database (issue 16) all tick: a scheduled start is skipped when the source
 * was synced (by any instance) since that tick, so each tick syncs each source once, by whichever
 * instance's jittered start came first. At most `sync.concurrency` scheduled syncs run at once per
 * process, so thousands of sources do not open thousands of upstream requests and database
 * transactions together; a requested sync (POST /sync, provider push) does not wait for that queue.
 */
import { schedule, type ScheduledTask } from "node-cron";
import type { Logger } from "pino";
import type { Config } from "../config/schema.ts";
import type { SyncEngine, SyncResult } from "./engine.ts";
import type { Writer } from "./writer.ts";

const REPLAY_EVERY_MS = 2_000;

export class Scheduler {
  private task: ScheduledTask | null = null;
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; at: number }>();
  private replayTimer: NodeJS.Timeout | null = null;
  private replaying: Promise<void> | null = null;
  private stopped = false;
  /** Scheduled starts waiting for a free slot, oldest first, and how many run now. */
  private readonly waiting: (() => void)[] = [];
  private runningScheduled = 0;

  constructor(private readonly engine: SyncEngine, private readonly writer: Writer, private readonly config: Config, private readonly log: Logger) {}

  start(): void {
    this.task = schedule(this.config.sync.schedule, () => this.tick("scheduled"), { name: "calgate-sync", noOverlap: true });
    this.replayTimer = setInterval(() => this.replayQueued(), REPLAY_EVERY_MS);
    this.replayTimer.unref();
    this.tick("startup", false);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.task?.stop();
    await this.task?.destroy();
    if (this.replayTimer) clearInterval(this.replayTimer);
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    for (const release of this.waiting.splice(0)) release(); // they see `stopped` and return
    await this.replaying;
    await this.writer.idle();
  }

  /** Syncs every source now (after jitter when `jitter`), unless any instance synced it since `tickAt` (the cron's time). */
  tick(reason: string, jitter = true, tickAt = Date.now()): void {
    for (const { owner, source } of this.engine.syncedSources()) {
      const delay = jitter ? Math.floor(Math.random() * this.config.sync.jitterSeconds * 1000) : 0;
      this.later(owner, source.id, delay, reason, tickAt);
    }
  }

  /** Scheduled syncs of this process running now and waiting for a slot (/metrics, tests). */
  load(): { running: number; waiting: number; timers: number } {
    return { running: this.runningScheduled, waiting: this.waiting.length, timers: this.timers.size };
  }

  /** Sync one user's sources (or one of them) now; resolves with the results. */
  trigger(owner: string, sourceId: string | null, reason = "requested"): Promise<SyncResult[]> {
    return Promise.all(this.engine.syncedSources(owner, sourceId).map(({ source }) => this.run(owner, source.id, reason)));
  }

  /** When this server will next sync a source (ms since the epoch): a pending retry or start, else the next schedule tick; null when stopped. */
  nextSyncAt(owner: string, sourceId: string): number | null {
    if (this.stopped || !this.task) return null;
    const pending = this.timers.get(`${owner}\u0000${sourceId}`)?.at ?? null;
    const tick = this.task.getNextRun()?.getTime() ?? null;
    if (pending === null) return tick;
    return tick === null ? pending : Math.min(pending, tick);
  }

  private later(owner: string, sourceId: string, delayMs: number, reason: string, tickAt: number | null = null): void {
    const key = `${owner}\u0000${sourceId}`;
    const existing = this.timers.get(key);
    if (existing) clearTimeout(existing.timer);
    const t = setTimeout(() => {
      this.timers.delete(key);
      void this.queued(owner, sourceId, reason, tickAt);
    }, delayMs);
    t.unref();
    this.timers.set(key, { timer: t, at: Date.now() + delayMs });
  }

  /** A scheduled or retried start: waits for a slot, then runs unless the tick's work was done meanwhile. */
  private async queued(owner: string, sourceId: string, reason: string, tickAt: number | null): Promise<void> {
    if (this.runningScheduled >= this.config.sync.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.runningScheduled++;
    try {
      if (this.stopped) return;
      if (tickAt !== null) {
        const last = await this.engine.lastSyncAt(owner, sourceId);
        if (last !== null && last >= tickAt) {
          this.log.debug({ owner, source: sourceId }, "already synced since this tick (by another instance); skipped");
          return;
        }
      }
      await this.run(owner, sourceId, reason, tickAt);
    } catch (e) {
      this.log.warn({ owner, source: sourceId, err: (e as Error).message }, "scheduled sync could not start");
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.runningScheduled--;
    }
  }

  private async run(owner: string, sourceId: string, reason: string, tickAt: number | null = null): Promise<SyncResult> {
    const r = await this.engine.syncSource(owner, sourceId, { reason, ...(tickAt !== null ? { unlessSyncedSince: tickAt } : {}) });
    if (!this.stopped && !r.ok && r.retryInMs != null) {
      this.log.info({ owner, source: sourceId, retryInMs: r.retryInMs }, "sync will be retried");
      this.later(owner, sourceId, r.retryInMs, "retry");
    }
    return r;
  }

  private replayQueued(): void {
    if (this.replaying || this.stopped) return;
    this.replaying = this.writer
      .replay(null, null)
      .catch((e: Error) => this.log.warn({ err: e.message }, "replaying queued writes failed"))
      .finally(() => (this.replaying = null));
  }
}
