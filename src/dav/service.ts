/**
 * What the DAV layer needs from the rest of calgate. dav/ depends only on this interface;
 * sync/service.ts implements it over the store (and, for sourced calendars, the write path).
 */
import type { CompFilter, TimeRange } from "./filters/ast.ts";
import type { XmlElement } from "../xml/tree.ts";
import type { Clark } from "../xml/names.ts";

export interface User {
  readonly username: string;
}

export interface CalendarMeta {
  readonly id: number;
  readonly owner: string;
  /** URL segment under the calendar home. */
  readonly name: string;
  readonly sourceId: string;
  readonly sourceType: string;
  readonly displayname: string | null;
  readonly description: string | null;
  readonly color: string | null;
  readonly order: number | null;
  readonly timezone: string | null;
  readonly components: readonly string[];
  /** Change-log sequence: the sync token and getctag derive from it. */
  readonly syncSeq: number;
  /** Tokens older than this sequence were pruned (answered with valid-sync-token). */
  readonly minSeq: number;
  readonly deadProps: Readonly<Record<string, XmlElement>>;
  readonly writable: boolean;
  /** The collection mirrors an upstream calendar that owns its name, colour, description and existence. */
  readonly mirrorsUpstream: boolean;
}

export interface StoredObject {
  readonly name: string;
  readonly uid: string;
  readonly component: string;
  readonly etag: string;
  readonly ics: string;
  readonly size: number;
  readonly modifiedAt: number;
  /** Its one instance [start, end) when exactly known from indexed columns (plain timed events). */
  readonly exact?: { readonly start: number; readonly end: number } | null;
}

/** An object's identity without its body: what PROPFIND Depth 1 and sync-collection need. */
export interface ObjectHead {
  readonly name: string;
  readonly etag: string;
  readonly size: number;
  readonly modifiedAt: number;
  readonly component: string;
}

export interface Preconditions {
  /** If-Match: list of ETags, or "*" (any existing), or null (absent). */
  readonly ifMatch: readonly string[] | "*" | null;
  /** If-None-Match: list of ETags, or "*" (must not exist), or null (absent). */
  readonly ifNoneMatch: readonly string[] | "*" | null;
}

export interface ChangeSet {
  /** Every change up to this sequence has been reported (the position the next token names). */
  readonly seq: number;
  /**
   * Removals up to this sequence need not be reported; absent means `seq`. Above `seq` only while a
   * truncated initial listing is continued: the listing gave live members as of `removedThrough`, in
   * change order up to `seq`, so the members after `seq` are still to come, but tombstones up to
   * `removedThrough` are of objects the client never saw.
   */
  readonly removedThrough?: number;
  readonly changed: readonly ObjectHead[];
  readonly removed: readonly string[];
  /** True when a limit cut the set short (the client must ask again with the returned token). */
  readonly truncated: boolean;
}

export interface CalendarProps {
  displayname?: string | null;
  description?: string | null;
  color?: string | null;
  order?: number | null;
  timezone?: string | null;
  components?: readonly string[];
  deadProps?: Record<string, XmlElement | null>;
}

export class InvalidSyncToken extends Error {}

export interface PutResult {
  readonly etag: string;
  readonly created: boolean;
  /** True when the server stored something other than the bytes sent (then PUT returns no ETag). */
  readonly changed: boolean;
}

export interface CalendarService {
  calendars(user: User): Promise<CalendarMeta[]>;
  calendar(user: User, name: string): Promise<CalendarMeta | null>;
  createCalendar(user: User, name: string, props: CalendarProps): Promise<CalendarMeta>;
  updateCalendar(cal: CalendarMeta, props: CalendarProps): Promise<void>;
  deleteCalendar(cal: CalendarMeta): Promise<void>;
  heads(cal: CalendarMeta): Promise<ObjectHead[]>;
  objects(cal: CalendarMeta, names: readonly string[]): Promise<Map<string, StoredObject | null>>;
  /** Candidates for a filter, prefiltered on indexed columns; exact=false means the caller must evaluate. */
  /** With exactBodies false, rows whose `exact` instance is known come without their text (ics ""). */
  query(cal: CalendarMeta, component: string | null, range: TimeRange | null, opts?: { exactBodies?: boolean }): AsyncIterable<StoredObject>;
  /**
   * Members changed after `seq` (null: an initial listing of every member), at most `limit` of them (then
   * `truncated`, and the returned position continues where this stopped). Tombstones are reported only
   * above `removedThrough` (default `seq`).
   */
  changesSince(cal: CalendarMeta, seq: number | null, limit?: number, removedThrough?: number): Promise<ChangeSet>;
  put(user: User, cal: CalendarMeta, name: string, ics: string, cond: Preconditions): Promise<PutResult>;
  remove(user: User, cal: CalendarMeta, name: string, cond: Preconditions): Promise<void>;
}

export type { CompFilter, TimeRange, Clark };

/** Domain errors raised by the service; dav/handler maps them to HTTP once. */
export class PreconditionFailed extends Error {}
export class UidConflict extends Error {
  constructor(readonly existingName: string) {
    super(`another object in this calendar (${existingName}) already has this UID`);
  }
}
export class ObjectNotFound extends Error {}
/** The owning upstream refused the change; the local change was rolled back. */
export class UpstreamRefused extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}
