/**
 * Calendar objects as last read, kept by the plain service so that GET and calendar-multiget of an
 * unchanged object cost no query, with the bytes dav/ serves it as ready (kept()). Bounded by an
 * estimate of the bytes it holds, least recently used out first.
 *
 * Freshness comes from the change log, which every writer (this process or another on the same
 * database) appends to in the transaction of the write: each calendar's entries are valid at one
 * change sequence; a request that reads the calendar at a later sequence first drops the names
 * changed since (one indexed query), or everything when that is too many or the log was pruned.
 * A read made for an older snapshot neither uses nor fills the cache.
 */
import type { StoredObject } from "../dav/service.ts";
import { escapedBytes, unescapedBytes } from "../xml/build.ts";

/** Names changed in a calendar after `seq`, or null when more than `limit` changed. */
export type ChangedNames = (calendarId: number, seq: number, limit: number) => Promise<string[] | null>;

interface CalendarState {
  seq: number;
  readonly names: Set<string>;
}

/** What a calendar read was a snapshot of: its id, creation time (ids can be reused), sequence and pruning point. */
export interface Snapshot {
  readonly id: number;
  readonly createdAt: number;
  readonly seq: number;
  readonly minSeq: number;
}

/** More changed names than this since the cache's sequence and the calendar's entries are dropped. */
const MAX_INVALIDATE = 1000;

export class ObjectCache {
  private readonly entries = new Map<string, { obj: StoredObject; cost: number; cal: string }>();
  private readonly calendars = new Map<string, CalendarState>();
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly changedNames: ChangedNames,
  ) {}

  /**
   * The cost charged for an object kept as kept(): its XML-escaped bytes (a little longer than the
   * text: every CR becomes "&#13;") and the bookkeeping (the object, its name, UID and ETag strings,
   * the Buffer objects, the entry and its key: about 700 bytes in a heap snapshot at 100,000 events).
   */
  static cost(obj: StoredObject): number {
    return (obj.escaped?.length ?? obj.size * 1.1) + 768;
  }

  /** Whether an object of `size` text bytes would be kept at all (at most an eighth of the budget). */
  keeps(size: number): boolean {
    return this.admits(size * 1.1 + 768);
  }
  private admits(cost: number): boolean {
    return this.maxBytes > 0 && cost <= this.maxBytes / 8;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  /**
   * Brings the calendar's entries to the snapshot's sequence; false when this snapshot must not use
   * the cache (the entries are newer than it, or another request moved them on meanwhile).
   */
  async sync(s: Snapshot): Promise<boolean> {
    if (this.maxBytes <= 0) return false;
    const key = calKey(s);
    let st = this.calendars.get(key);
    if (st && st.seq > s.seq) {
      // An older snapshot than the entries (a request that overlapped a write): leave them alone.
      return false;
    }
    if (!st) {
      this.calendars.set(key, (st = { seq: s.seq, names: new Set() }));
      return true;
    }
    if (st.seq === s.seq) return true;
    const from = st.seq;
    const changed = from < s.minSeq ? null : await this.changedNames(s.id, from, MAX_INVALIDATE);
    if (this.calendars.get(key) !== st) return false;
    if (changed === null) this.dropCalendar(key, st);
    else for (const n of changed) this.delete(entryKey(key, n));
    // The query ran after the snapshot was read, so it covered every change up to s.seq at least.
    st.seq = Math.max(st.seq, s.seq);
    return st.seq === s.seq;
  }

  get(s: Snapshot, name: string): StoredObject | undefined {
    const k = entryKey(calKey(s), name);
    const e = this.entries.get(k);
    if (!e) return undefined;
    this.entries.delete(k);
    this.entries.set(k, e);
    return e.obj;
  }

  /** Keeps an object read for snapshot `s`, if the calendar's entries are still at that snapshot. */
  set(s: Snapshot, obj: StoredObject): void {
    const key = calKey(s);
    const st = this.calendars.get(key);
    if (!st || st.seq !== s.seq) return;
    const cost = ObjectCache.cost(obj);
    if (!this.admits(cost)) return;
    const k = entryKey(key, obj.name);
    this.delete(k);
    this.entries.set(k, { obj, cost, cal: key });
    st.names.add(obj.name);
    this.bytes += cost;
    for (const [oldest] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.delete(oldest);
    }
  }

  private delete(k: string): void {
    const e = this.entries.get(k);
    if (!e) return;
    this.entries.delete(k);
    this.bytes -= e.cost;
    this.calendars.get(e.cal)?.names.delete(e.obj.name);
  }

  private dropCalendar(key: string, st: CalendarState): void {
    for (const n of [...st.names]) this.delete(entryKey(key, n));
  }
}

/**
 * The form an object is kept in: its text only as XML-escaped UTF-8 bytes, what calendar-multiget
 * copies (half the memory of a JavaScript string of non-Latin text, and no second copy for
 * calendar-data), decoded again when something reads `ics`. A class, so that every kept object
 * shares one shape and one getter instead of a closure, context and hidden class each.
 */
export class KeptObject implements StoredObject {
  readonly name: string;
  readonly uid: string;
  readonly component: string;
  readonly etag: string;
  readonly size: number;
  readonly modifiedAt: number;
  readonly exact?: StoredObject["exact"];
  readonly escaped: Buffer;
  constructor(obj: Omit<StoredObject, "ics" | "escaped">, escaped: Buffer) {
    this.name = obj.name;
    this.uid = obj.uid;
    this.component = obj.component;
    this.etag = obj.etag;
    this.size = obj.size;
    this.modifiedAt = obj.modifiedAt;
    if (obj.exact !== undefined) this.exact = obj.exact;
    this.escaped = escaped;
  }
  get ics(): string {
    return unescapedBytes(this.escaped).toString("utf8");
  }
}

export function kept(obj: StoredObject): KeptObject {
  return new KeptObject({ ...obj, size: Buffer.byteLength(obj.ics, "utf8") }, escapedBytes(obj.ics));
}

/**
 * The object under another name (a merged calendar's). Not a spread: a kept object's text is a
 * getter on its class, which a spread would leave behind.
 */
export function renamed(obj: StoredObject, name: string): StoredObject {
  return obj instanceof KeptObject ? new KeptObject({ ...obj, name }, obj.escaped) : { ...obj, name };
}

const calKey = (s: Snapshot): string => `${s.id}/${s.createdAt}`;
const entryKey = (cal: string, name: string): string => `${cal}\u0000${name}`;
