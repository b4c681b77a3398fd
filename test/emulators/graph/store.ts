/**
 * State of the Graph emulator: mailboxes, calendars, stored events (singleInstance, seriesMaster,
 * exception; occurrences are computed), tombstones and a per-mailbox change sequence that delta
 * and change notifications read. Ids are opaque Exchange-like base64 (reference §3); an occurrence
 * id encodes its master and local date, and an exception keeps the id of the occurrence it replaced
 * (as in the samples).
 */
import { createHash } from "node:crypto";
import type { Recurrence } from "./recurrence.ts";
import { randomBytes } from "./util.ts";

export type Json = Record<string, any>;

export interface Calendar {
  id: string;
  upn: string;
  name: string;
  color: string;
  hexColor: string;
  canEdit: boolean;
  owner: { name: string; address: string };
  isDefault: boolean;
  changeKey: string;
}

export interface Slot {
  /** Zone name as written (Windows or IANA); all-day events keep it only for rendering. */
  timeZone: string;
  /** Timed: the instant. All-day: day number of the local date (UTC midnight / 86400000). */
  at: number;
}

export interface StoredEvent {
  id: string;
  upn: string;
  calendarId: string;
  type: "singleInstance" | "seriesMaster" | "exception";
  masterId?: string;
  occurrenceDate?: string; // exception: the local date of the slot it replaced
  originalStartMs?: number; // exception: the instant of the slot it replaced
  props: Json; // writable Graph properties other than start/end/isAllDay/recurrence
  isAllDay: boolean;
  start: Slot;
  end: Slot;
  recurrence?: Recurrence;
  cancelled: Set<string>; // master: cancelled occurrence dates
  exceptions: Map<string, string>; // master: date → exception id
  changeKey: string;
  created: number;
  modified: number;
  sub: number; // sub-millisecond digits of the timestamps (7 fractional digits)
  iCalUId: string;
  uid: string;
  transactionId?: string;
  originalStartTimeZone: string;
  originalEndTimeZone: string;
  seq: number;
}

export interface Tombstone { id: string; calendarId: string; seq: number }

export interface Change {
  upn: string;
  calendarId: string;
  id: string;
  changeType: "created" | "updated" | "deleted";
  etag?: string;
}

const PREFIX_LEN = 8;

/**
 * Exchange ids start with a mailbox-specific part (`AAMkAGI2…`): an id of another mailbox does not
 * parse there (reference §6: ErrorInvalidIdMalformed for stale ids from another mailbox).
 */
export function mailboxPrefix(upn: string): string {
  return "AAMkA" + createHash("sha256").update(upn.toLowerCase()).digest("base64").replace(/[^A-Za-z0-9]/g, "").slice(0, 3);
}
const KIND_CALENDAR = 0;
const KIND_ITEM = 1;
const KIND_OCCURRENCE = 2;

const b64 = (b: Buffer): string => b.toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
const unb64 = (s: string): Buffer | undefined => {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(s) || s.length % 4 !== 0) return undefined;
  return Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64");
};

export type ParsedId =
  | { kind: "calendar" }
  | { kind: "item" }
  | { kind: "occurrence"; masterId: string; date: string };

/** Parses an id the way Exchange does before any lookup; undefined = ErrorInvalidIdMalformed. */
export function parseId(id: string, upn: string): ParsedId | undefined {
  const prefix = mailboxPrefix(upn);
  if (!id.startsWith(prefix)) return undefined;
  const b = unb64(id.slice(PREFIX_LEN));
  if (!b) return undefined;
  if (b.length === 15 && b[0] === KIND_CALENDAR) return { kind: "calendar" };
  if (b.length === 15 && b[0] === KIND_ITEM) return { kind: "item" };
  if (b.length === 24 && b[0] === KIND_OCCURRENCE && b[1] === KIND_ITEM) {
    const digits = b.subarray(16).toString("latin1");
    if (!/^\d{8}$/.test(digits)) return undefined;
    return { kind: "occurrence", masterId: prefix + b64(b.subarray(1, 16)), date: `${digits.slice(0, 4)}-${digits.slice(4, 6)}-${digits.slice(6)}` };
  }
  return undefined;
}

export function occurrenceIdOf(masterId: string, date: string): string {
  const m = unb64(masterId.slice(PREFIX_LEN))!;
  return masterId.slice(0, PREFIX_LEN) + b64(Buffer.concat([Buffer.from([KIND_OCCURRENCE]), m, Buffer.from(date.replace(/-/g, ""), "latin1")]));
}

/** `OID.<masterId>.<yyyy-MM-dd>` (reference §4, event-get 2025 revision). */
export const oid = (masterId: string, date: string): string => `OID.${masterId}.${date}`;

export class Store {
  readonly calendars = new Map<string, Calendar>(); // by id
  readonly events = new Map<string, StoredEvent>(); // by id (singles, masters, exceptions)
  readonly tombstones = new Map<string, Tombstone>();
  readonly transactions = new Map<string, string>(); // upn + transactionId → event id
  private seqNo = 0;
  private readonly listeners: Array<(c: Change) => void> = [];

  constructor(
    readonly now: () => number,
    readonly rng: () => number,
  ) {}

  get seq(): number {
    return this.seqNo;
  }
  nextSeq(): number {
    return ++this.seqNo;
  }

  newId(kind: "calendar" | "item", upn: string): string {
    const b = Buffer.concat([Buffer.from([kind === "calendar" ? KIND_CALENDAR : KIND_ITEM]), randomBytes(this.rng, 14)]);
    return mailboxPrefix(upn) + b64(b);
  }

  /** changeKey like `DwAAABYAAAAkVqx3r1BOQZ4uUpcBp7EAAAIuFcxA`; the etag is `W/"<changeKey>"`. */
  newChangeKey(): string {
    return "DwAAABYAAAAkVqx3r1BOQZ4uUpcBp7EAAA" + randomBytes(this.rng, 5).toString("base64").replace(/[+/=]/g, "A");
  }

  /** Exchange GOID-style UID: `040000008200E00074C5B7101A82E008` + hex. */
  newUid(): string {
    return "040000008200E00074C5B7101A82E00800000000" + randomBytes(this.rng, 28).toString("hex").toUpperCase();
  }

  calendarsOf(upn: string): Calendar[] {
    return [...this.calendars.values()].filter((c) => c.upn === upn);
  }
  defaultCalendar(upn: string): Calendar | undefined {
    return this.calendarsOf(upn).find((c) => c.isDefault);
  }
  calendarEvents(calendarId: string): StoredEvent[] {
    return [...this.events.values()].filter((e) => e.calendarId === calendarId);
  }
  exceptionsOf(master: StoredEvent): StoredEvent[] {
    return [...master.exceptions.values()].map((id) => this.events.get(id)!).filter(Boolean);
  }

  onChange(fn: (c: Change) => void): void {
    this.listeners.push(fn);
  }
  emit(c: Change): void {
    for (const fn of this.listeners) fn(c);
  }

  touch(ev: StoredEvent, bumpVersion = true): void {
    ev.seq = this.nextSeq();
    if (bumpVersion) {
      ev.changeKey = this.newChangeKey();
      ev.modified = this.now();
      ev.sub = Math.floor(this.rng() * 10000);
    }
  }

  remove(ev: StoredEvent): void {
    this.events.delete(ev.id);
    this.tombstones.set(ev.id, { id: ev.id, calendarId: ev.calendarId, seq: this.nextSeq() });
  }
}
