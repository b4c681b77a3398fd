/**
 * Keeps merged calendars folded as their calendars change in this process (client writes, pulls,
 * write-backs), so `merged.updated` reaches the status feed when it happens rather than at the next
 * read. Changes made by another process on the database are folded at the next read. Bursts are
 * coalesced: one fold per owner at a time, and one more if changes arrived meanwhile.
 */
import type { ChangeFeed } from "../store/db.ts";
import type { CalendarStore } from "../store/calendars.ts";
import type { Logger } from "../status/log.ts";
import type { MergedCalendarService } from "./merged.ts";

export class MergedFollower {
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly merged: MergedCalendarService,
    private readonly calendars: CalendarStore,
    private readonly log: Logger,
  ) {}

  start(feed: ChangeFeed): void {
    this.unsubscribe = feed.subscribe((c) => void this.changed(c.calendarId));
  }

  /** A calendar's owner never changes: looked up once per calendar, not once per change of a large pull. */
  private readonly owners = new Map<number, string | null>();
  private async changed(calendarId: number): Promise<void> {
    let owner = this.owners.get(calendarId);
    if (owner === undefined) {
      owner = (await this.calendars.byId(calendarId).catch(() => null))?.owner ?? null;
      this.owners.set(calendarId, owner);
    }
    if (owner !== null && this.merged.follows(owner)) this.kick(owner);
  }

  private kick(owner: string): void {
    if (this.running.has(owner)) {
      this.again.add(owner);
      return;
    }
    const run = (async () => {
      do {
        this.again.delete(owner);
        await this.merged.refresh(owner).catch((e: Error) => this.log.warn({ owner, err: e.message }, "could not update merged calendars; the next read does"));
      } while (this.again.has(owner));
    })().finally(() => this.running.delete(owner));
    this.running.set(owner, run);
  }

  /** Stops following and waits for folds under way (before the database closes). */
  async close(): Promise<void> {
    this.unsubscribe?.();
    await Promise.all(this.running.values());
  }
}
