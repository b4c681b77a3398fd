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
  /**
   * DAV:sync-token of the collection as of this read: made by the service, opaque to dav/ (which
   * never builds or parses tokens; it hands them to changesSince as they came).
   */
  readonly syncToken: string;
  /** CS:getctag as of this read: opaque, changes whenever a member does. */
  readonly ctag: string;
  readonly deadProps: Readonly<Record<string, XmlElement>>;
  readonly writable: boolean;
  /** The collection mirrors an upstream calendar that owns its name, colour, description and existence. */
  readonly mirrorsUpstream: boolean;
  /** DAV:creationdate and DAV:getlastmodified of the collection (ms); absent when unknown. */
  readonly createdAt?: number;
  readonly modifiedAt?: number;
}

export interface StoredObject {
  readonly name: string;
  readonly uid: string;
  readonly component: string;
  readonly etag: string;
  readonly ics: string;
  readonly size: number;
  readonly modifiedAt: number;
  /**
   * The text as XML-escaped UTF-8 (xml/build.ts escapedBytes), when the service keeps the object
   * that way: calendar-data copies these bytes and GET unescapes them (dav/served.ts).
   */
  readonly escaped?: Buffer;
  /** Its one instance [start, end) when exactly known from indexed columns (plain timed events). */
  readonly exact?: { readonly start: number; readonly end: number } | null;
}

export interface QueryOptions {
  /** With false, rows whose `exact` instance is known come without their text (ics ""). */
  readonly exactBodies?: boolean;
}

/** A "component overlaps range" query, split by the service's occurrence index (CalendarService.rangeQuery). */
export interface RangeAnswer {
  /**
   * Members the index decided match, as heads in pages read as they are consumed, so the heads of a
   * large answer are never held whole. Not one snapshot: a member removed before its page is read is
   * left out, one changed meanwhile comes with its new ETag (and may appear among `undecided` too).
   */
  readonly decided: AsyncIterable<readonly ObjectHead[]>;
  /** The other candidates, prefiltered like query() with exactBodies false: the caller evaluates them. */
  readonly undecided: AsyncIterable<StoredObject>;
}

/** A member listing as the service hands it out: whole (kept while unchanged), or pages read as they are consumed. */
export type MemberListing = readonly ObjectHead[] | AsyncIterable<readonly ObjectHead[]>;
/** True when the listing came whole. */
export function isWholeListing(l: MemberListing): l is readonly ObjectHead[] {
  return Array.isArray(l);
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
  /** The sync token to hand to the client: the next changesSince continues from it (opaque to dav/). */
  readonly token: string;
  /**
   * Members added or changed. The initial listing of a calendar too large to keep its listing comes
   * in pages read as the answer streams, like members(): never held whole.
   */
  readonly changed: MemberListing;
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

/**
 * changesSince cannot continue from a token: "foreign" when it is not one of this calendar's
 * (malformed, or another calendar's), "stale" when it no longer names a usable position (ahead of
 * the calendar, or older than the retained change history).
 */
export class InvalidSyncToken extends Error {
  constructor(message: string, readonly reason: "foreign" | "stale" = "stale") {
    super(message);
  }
}

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
  /**
   * The members for a Depth 1 listing: a calendar small enough to keep its listing gives heads(cal)
   * (the same array while it is unchanged); a larger one gives pages, read as the response streams,
   * so that it is never held whole (the pages are not one snapshot: a write between two pages shows
   * in the next listing or sync).
   */
  members(cal: CalendarMeta): Promise<MemberListing>;
  objects(cal: CalendarMeta, names: readonly string[]): Promise<Map<string, StoredObject | null>>;
  /**
   * Candidates for a filter, prefiltered on indexed columns: the caller evaluates each one (with
   * only a time-range asked, `exact` decides without the text).
   */
  query(cal: CalendarMeta, component: string | null, range: TimeRange | null, opts?: QueryOptions): AsyncIterable<StoredObject>;
  /**
   * The members of `component` overlapping `range` (RFC 4791 9.9), with floating times read in
   * `floatingZone` (a TZID; null: UTC): what the occurrence index decides, and the candidates it
   * cannot. The index's part is found before this resolves; its heads are read as they are consumed.
   */
  rangeQuery(cal: CalendarMeta, component: string, range: TimeRange, floatingZone: string | null): Promise<RangeAnswer>;
  /**
   * Members changed since the position `token` names (null: an initial listing of every member), at
   * most `limit` of them (then `truncated`, and the returned token continues where this stopped).
   * Throws InvalidSyncToken for a token it cannot continue from (another calendar's, malformed,
   * ahead of the calendar, or pruned).
   */
  changesSince(cal: CalendarMeta, token: string | null, limit?: number): Promise<ChangeSet>;
  put(user: User, cal: CalendarMeta, name: string, ics: string, cond: Preconditions): Promise<PutResult>;
  remove(user: User, cal: CalendarMeta, name: string, cond: Preconditions): Promise<void>;
  /**
   * MOVE inside one calendar (RFC 4918 9.9): the object `from` becomes `to`, at once, keeping its
   * upstream identity; `cond` applies to `from`. With `overwrite`, an existing `to` is removed first;
   * without, an existing `to` is PreconditionFailed. Optional: a service without it (a decorator)
   * answers such a MOVE 403, while MOVE between calendars needs only put and remove.
   */
  rename?(user: User, cal: CalendarMeta, from: string, to: string, opts: { overwrite: boolean; cond: Preconditions }): Promise<{ created: boolean }>;
}

export type { CompFilter, TimeRange, Clark };

/** Domain errors raised by the service; dav/handler maps them to HTTP once. */
export class PreconditionFailed extends Error {}
export class UidConflict extends Error {
  constructor(readonly existingName: string) {
    super(`another object in this calendar (${existingName}) already has this UID`);
  }
}
/** A PUT would give an existing calendar object another UID (refused: a UID names one object for good). */
export class UidChanged extends Error {
  constructor(readonly existingUid: string) {
    super(`this resource holds the object with UID '${existingUid}'; a PUT cannot change its UID (write the new object to a new resource and delete this one)`);
  }
}
export class ObjectNotFound extends Error {}
/** A new object in a collection that has nowhere to put it (a merged calendar without `writeTo`). */
export class NoWriteTarget extends Error {}
/** A write of the object is still on its way to the upstream: the operation may be retried shortly. */
export class ObjectBusy extends Error {}
/** The owning upstream refused the change; the local change was rolled back. */
export class UpstreamRefused extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}
