/**
 * The SourceAdapter seam: what the sync engine needs from a provider, and the typed upstream errors
 * every adapter maps its failures to (sync/ decides retry | backoff | conflict | auth_required).
 */

/** One calendar as the upstream lists it. `version` changes whenever anything in it changes (ctag / sync-token). */
export interface RemoteCalendar {
  /** Stable id inside the source (CalDAV: the collection URL). */
  readonly id: string;
  readonly href: string;
  readonly displayname: string | null;
  readonly color: string | null;
  readonly description: string | null;
  readonly components: readonly string[];
  /** Cheap change marker from the listing (sync-token, else getctag); null when the server gives none. */
  readonly version: string | null;
  readonly writable: boolean;
}

/** Opaque to the engine; stored in calendars.upstream_cursor. */
export type Cursor = string;
export type RemoteEtag = string;

export type RemoteChange =
  | { readonly kind: "upsert"; readonly href: string; readonly etag: RemoteEtag | null; readonly ics: string }
  | { readonly kind: "delete"; readonly href: string };

export interface PullPage {
  readonly changes: readonly RemoteChange[];
  /** Cursor to store once this page is applied. */
  readonly next: Cursor | null;
  /** False: call pull again with `next`. */
  readonly done: boolean;
  /**
   * True when the page(s) list every item of the calendar (initial sync, or a full resync after the
   * cursor was rejected): anything known locally but not listed (and not upserted) was deleted upstream.
   * Only meaningful on the last page; `listed` then holds every href (with etag) the upstream has.
   */
  readonly full: boolean;
  readonly listed?: ReadonlyMap<string, RemoteEtag | null>;
  /** Why a full listing happened (e.g. "sync token rejected"), for logs and status. */
  readonly note?: string;
}

export interface OutgoingItem {
  /** Gateway object name (e.g. "abc.ics"); adapters derive a new upstream href from it for creates. */
  readonly name: string;
  /** Known upstream href, or null for a create. */
  readonly href: string | null;
  readonly ics: string;
}
export interface WrittenItem {
  readonly href: string;
  /** New upstream ETag, or null when the server did not return one (then the next pull records it). */
  readonly etag: RemoteEtag | null;
}

export interface SourceAdapter {
  readonly caps: { readonly write: boolean; readonly remove: boolean; readonly incremental: boolean; readonly push: boolean };
  listCalendars(signal: AbortSignal): Promise<RemoteCalendar[]>;
  pull(cal: RemoteCalendar, cursor: Cursor | null, signal: AbortSignal, known: () => Promise<ReadonlyMap<string, RemoteEtag | null>>): Promise<PullPage>;
  /** Current version of one item, or null when it does not exist (used when a write meets a 412). */
  fetch(cal: RemoteCalendar, href: string, signal: AbortSignal): Promise<{ etag: RemoteEtag | null; ics: string } | null>;
  write(cal: RemoteCalendar, item: OutgoingItem, ifMatch: RemoteEtag | null, signal: AbortSignal): Promise<WrittenItem>;
  remove(cal: RemoteCalendar, href: string, ifMatch: RemoteEtag | null, signal: AbortSignal): Promise<void>;
  /** Upstream requests made so far (every HTTP request, retries included). */
  readonly requests: number;
}

/** Base of every typed upstream failure; `status` is the HTTP status when there was one. */
export class UpstreamError extends Error {
  constructor(message: string, readonly status: number | null = null) {
    super(message);
    this.name = new.target.name;
  }
}
export class PreconditionFailedUpstream extends UpstreamError {}
export class NotFoundUpstream extends UpstreamError {}
export class RateLimited extends UpstreamError {
  constructor(message: string, readonly retryAfterMs: number, status: number | null = 429) {
    super(message, status);
  }
}
export class AuthRequired extends UpstreamError {}
/** Network errors, timeouts, 5xx, truncated or unparsable responses: retry later. */
export class Transient extends UpstreamError {
  constructor(message: string, status: number | null = null, readonly retryAfterMs: number | null = null) {
    super(message, status);
  }
}
/** The upstream refused the request for good (4xx other than the above). */
export class Permanent extends UpstreamError {}
/** The stored cursor is no longer valid upstream; a full resync is needed. */
export class CursorExpired extends UpstreamError {}

export function isRetryable(e: unknown): e is Transient | RateLimited {
  return e instanceof Transient || e instanceof RateLimited;
}
