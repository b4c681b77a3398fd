/**
 * Whether the holder of a sync lease or an outbox claim is still working. A holder on this machine
 * whose process is gone is dead at once (holders.ts); a holder on any machine whose heartbeat is
 * older than STALE_MS is presumed dead, so its lease or claim is taken over without waiting for the
 * claim's full lifetime (15 minutes for a write). Every attempt records its outcome only while it
 * still holds its claim, and a replay settles a write that may have been sent, so a holder presumed
 * dead that was only stalled loses nothing.
 */
import type { Logger } from "pino";
import type { InstanceStore } from "../store/instances.ts";
import { holderIsDeadHere } from "./holders.ts";

/** How often this process records that its holders are alive. */
export const BEAT_MS = 5_000;
/** A holder that has not beat for this long is presumed dead (several missed beats). */
export const STALE_MS = 20_000;

export interface HolderLiveness {
  /** True when `holder` (not `self`) has stopped working, here or on another machine. */
  isDead(holder: string | null, self: string): Promise<boolean>;
}

/** Only what this machine can see (no heartbeat table): the default of the engine and the writer. */
export const localLiveness: HolderLiveness = {
  isDead: async (holder, self) => holderIsDeadHere(holder, self),
};

export class Liveness implements HolderLiveness {
  private timer: NodeJS.Timeout | null = null;
  private readonly startedAt = Date.now();
  private beating: Promise<void> | null = null;

  constructor(
    private readonly store: InstanceStore,
    /** The holders of this process (read at each beat: they are made after this object). */
    private readonly holders: () => readonly string[],
    private readonly log: Logger,
    private readonly opts: { beatMs?: number; staleMs?: number } = {},
  ) {}

  /** Beats now (so this process counts as alive before its first lease) and then every BEAT_MS. */
  async start(): Promise<void> {
    await this.beat();
    const every = this.opts.beatMs ?? BEAT_MS;
    this.timer = setInterval(() => void this.beat(), every);
    this.timer.unref();
    // Rows of holders gone for an hour are clutter only; any process may remove them.
    await this.store.prune(Date.now() - 3_600_000).catch(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating;
    await this.store.remove(this.holders()).catch((e: Error) => this.log.warn({ err: e.message }, "could not remove this process's heartbeat rows"));
  }

  async isDead(holder: string | null, self: string): Promise<boolean> {
    if (holder === null || holder === self) return false;
    if (holderIsDeadHere(holder, self)) return true;
    const seen = await this.store.seenAt(holder);
    // No row: a holder from before heartbeats existed, or one that stopped cleanly (it released what it
    // held first). Its lease or claim then runs out on its own lifetime: the safe side.
    return seen !== null && seen < Date.now() - (this.opts.staleMs ?? STALE_MS);
  }

  /** Whether a process other than this one beat within STALE_MS (another instance, or a `calgate sync --once`). */
  async othersAlive(): Promise<boolean> {
    const mine = new Set(this.holders());
    return (await this.store.live(Date.now() - (this.opts.staleMs ?? STALE_MS))).some((r) => !mine.has(r.holder));
  }

  private beat(): Promise<void> {
    if (this.beating) return this.beating;
    this.beating = this.store
      .beat(this.holders(), this.startedAt)
      .catch((e: Error) => this.log.warn({ err: e.message }, "heartbeat not recorded (database unreachable?)"))
      .finally(() => (this.beating = null));
    return this.beating;
  }
}
