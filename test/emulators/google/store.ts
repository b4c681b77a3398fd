/**
 * The emulator's state: accounts, calendars, calendarList entries, events, sync tokens and the
 * change counter that drives etags, sync tokens and push notifications.
 */
import { hashId, opaqueToken } from "./util.ts";

export type AccessRole = "owner" | "writer" | "reader" | "freeBusyReader";
export type Json = Record<string, any>;

export interface Account {
  email: string;
  timeZone: string;
}

export interface Calendar {
  id: string;
  owner: string;
  summary: string;
  description: string;
  timeZone: string;
  etagNum: number;
}

export interface ListEntry {
  calendarId: string;
  email: string;
  accessRole: AccessRole;
  colorId: string;
  backgroundColor: string;
  foregroundColor: string;
  summaryOverride?: string;
  primary: boolean;
  selected: boolean;
  hidden: boolean;
  deleted: boolean;
  defaultReminders: Array<{ method: string; minutes: number }>;
  seq: number;
  etagNum: number;
}

/**
 * A stored event resource. `res` holds the resource as stored: `start`/`end`/`originalStartTime`
 * carry `dateTime` as a UTC instant (rendered in the response zone on the way out, §2) or `date`.
 */
export interface StoredEvent {
  calendarId: string;
  res: Json;
  seq: number;
  etagNum: number;
  created: number;
  updated: number;
  /** left behind by events.move: only the id is guaranteed, it renders as a stub (§2) */
  stubOnly?: boolean;
}

export interface SyncTokenState {
  kind: "events" | "calendarList";
  key: string; // calendar id or account email
  seq: number;
  gen: number;
  filters: Json;
}

export interface StoreOptions {
  now: () => number;
  rng: () => number;
  instanceIds: "opaque" | "legacy";
  seed: number;
}

export class Store {
  readonly accounts = new Map<string, Account>();
  readonly calendars = new Map<string, Calendar>();
  /** calendarList entries per account email, keyed by calendar id. */
  readonly entries = new Map<string, Map<string, ListEntry>>();
  /** events per calendar id, keyed by event id, in insertion order. */
  readonly events = new Map<string, Map<string, StoredEvent>>();
  readonly syncTokens = new Map<string, SyncTokenState>();
  /** sync-token generation per calendar id (bumped by expireSyncTokens). */
  readonly generations = new Map<string, number>();
  /** instance id -> (master id, original-start key), filled whenever an instance id is handed out. */
  readonly instanceIndex = new Map<string, { calendarId: string; masterId: string; key: string }>();
  private seqCounter = 0;
  private etagCounter = 0;
  private listeners: Array<(calendarId: string) => void> = [];

  constructor(readonly opts: StoreOptions) {}

  now(): number {
    return this.opts.now();
  }

  /** Next value of the global change counter (every modification gets a fresh one). */
  nextSeq(): number {
    return ++this.seqCounter;
  }

  currentSeq(): number {
    return this.seqCounter;
  }

  /** Etag digits in the `"3442011184736000"` style: microseconds, strictly increasing. */
  nextEtagNum(): number {
    this.etagCounter = Math.max(this.etagCounter + 1, this.now() * 1000);
    return this.etagCounter;
  }

  onEventChange(fn: (calendarId: string) => void): void {
    this.listeners.push(fn);
  }

  changed(calendarId: string): void {
    for (const fn of this.listeners) fn(calendarId);
  }

  calendarEvents(calendarId: string): Map<string, StoredEvent> {
    let m = this.events.get(calendarId);
    if (!m) {
      m = new Map();
      this.events.set(calendarId, m);
    }
    return m;
  }

  accountEntries(email: string): Map<string, ListEntry> {
    let m = this.entries.get(email);
    if (!m) {
      m = new Map();
      this.entries.set(email, m);
    }
    return m;
  }

  /** Resolves `primary` for an account (reference §1). */
  resolveCalendarId(email: string | undefined, calendarId: string): string {
    return calendarId === "primary" && email ? email : calendarId;
  }

  generation(key: string): number {
    return this.generations.get(key) ?? 0;
  }

  issueSyncToken(state: Omit<SyncTokenState, "gen">): string {
    const token = opaqueToken(this.opts.rng, "C", 21);
    this.syncTokens.set(token, { ...state, gen: this.generation(state.key) });
    return token;
  }

  /** Every existing sync token for that calendar (or all) becomes invalid (410 on use, §4). */
  expireSyncTokens(calendarId?: string): void {
    const keys = calendarId ? [calendarId] : [...this.calendars.keys(), ...this.accounts.keys()];
    for (const k of keys) this.generations.set(k, this.generation(k) + 1);
  }

  /** The id the API gives an instance (reference §2: legacy `<master>_<start>` or opaque). */
  instanceId(calendarId: string, masterId: string, key: string): string {
    const id =
      this.opts.instanceIds === "legacy"
        ? `${masterId}_${key}`
        : hashId(`${this.opts.seed}|${calendarId}|${masterId}|${key}`, 26);
    if (!this.instanceIndex.has(id)) this.instanceIndex.set(id, { calendarId, masterId, key });
    return id;
  }
}
