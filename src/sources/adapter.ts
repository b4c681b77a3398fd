/**
 * The SourceAdapter seam: what the sync engine needs from a provider, and the typed upstream errors
 * every adapter maps its failures to (sync/ decides retry | backoff | conflict | auth_required).
 *
 * Provider-neutral: upstream items are named by RemoteRef (an opaque id and the provider's version
 * tag), calendars by opaque ids. How an id is built (a CalDAV href, a Google event id, a Graph id),
 * and whether a write must be read back, is the adapter's business.
 */

/** One upstream item: its opaque id inside its calendar and the provider's version tag (ETag), when known. */
export interface RemoteRef {
  readonly id: string;
  readonly etag: string | null;
}

/** One calendar as the upstream lists it. `version` changes whenever anything in it changes (ctag / sync-token). */
export interface RemoteCalendar {
  /** Stable opaque id inside the source. */
  readonly id: string;
  /** A short name the gateway may use for the collection's URL segment (slugified by the engine). */
  readonly nameHint: string;
  readonly displayname: string | null;
  readonly color: string | null;
  readonly description: string | null;
  readonly components: readonly string[];
  /** Cheap change marker from the listing; null when the provider gives none. */
  readonly version: string | null;
  readonly writable: boolean;
  /**
   * Calendar user addresses of the account that owns the calendar (e-mail, no "mailto:"), when the
   * upstream says: a meeting whose ORGANIZER is one of them is the organizer's copy (merged calendars
   * prefer it). Absent when unknown.
   */
  readonly ownerAddresses?: readonly string[];
}

/** Opaque to the engine; stored per calendar. */
export type Cursor = string;

export type RemoteChange =
  | { readonly kind: "upsert"; readonly ref: RemoteRef; readonly ics: string; /** a file name the cache may use */ readonly nameHint?: string }
  | { readonly kind: "delete"; readonly id: string };

export interface PullPage {
  readonly changes: readonly RemoteChange[];
  /** Cursor to store once this page is applied. */
  readonly next: Cursor | null;
  /** False: call pull again with `next`. */
  readonly done: boolean;
  /**
   * True when the page(s) list every item of the calendar (initial sync, or a full resync after the
   * cursor was rejected): anything known locally but not listed (and not upserted) was deleted upstream.
   * Only meaningful on the last page; `listed` then holds every id (with etag) the upstream has.
   */
  readonly full: boolean;
  readonly listed?: ReadonlyMap<string, string | null>;
  /** Why a full listing happened (e.g. "sync token rejected"), for logs and status. */
  readonly note?: string;
}

/** What a write produced. `stored` says whether the upstream kept exactly what was sent. */
export type Written =
  | { readonly ref: RemoteRef; readonly stored: "as-sent" }
  /** The upstream keeps its own rendering of the change; `ics` is what it stores now (read back). */
  | { readonly ref: RemoteRef; readonly stored: "changed"; readonly ics: string }
  /** The upstream answered with success but does not hold the change (read back): nothing was stored. */
  | { readonly ref: RemoteRef | null; readonly stored: "dropped"; readonly ics: string | null; readonly why: string };

/** A cached object as adapters may see it (e.g. the master of a Google/Graph exception). */
export interface CachedObject {
  readonly name: string;
  readonly uid: string;
  readonly ics: string;
  readonly ref: RemoteRef | null;
}

/** Per-source persisted JSON state (discovered URLs, channel ids ...). */
export interface KeyValue {
  load<T>(): Promise<T | null>;
  save(value: unknown): Promise<void>;
}

/** Encrypted per-source secrets (refresh tokens ...). */
export interface SecretAccess {
  get(kind: string): Promise<string | null>;
  set(kind: string, value: string): Promise<void>;
}

export interface SourceContext {
  readonly state: KeyValue;
  readonly secrets: SecretAccess;
  /**
   * Adapters report what became of a token refresh: ok, or refused for good (e.g. OAuth invalid_grant),
   * which marks the source auth_required with `message` (naming the command that fixes it) at once.
   */
  tokenRefreshed(ok: boolean, message?: string): Promise<void>;
  /** Something a person should act on before it breaks (e.g. a refresh token about to expire), for the status feed. */
  warn(message: string): Promise<void>;
  /** Upstream ids with the version tag the cache holds for them (to fetch only what changed). */
  known(cal: RemoteCalendar): Promise<ReadonlyMap<string, string | null>>;
  cached(cal: RemoteCalendar, id: string): Promise<CachedObject | null>;
  cachedByUid(cal: RemoteCalendar, uid: string): Promise<CachedObject | null>;
  readonly signal: AbortSignal;
}

export interface SourceCaps {
  readonly write: boolean;
  readonly remove: boolean;
  readonly incremental: boolean;
  readonly push: boolean;
  /** Calendars themselves can be renamed / deleted upstream through the adapter. */
  readonly calendarWrite: boolean;
}

export interface SourceAdapter {
  readonly caps: SourceCaps;
  listCalendars(ctx: SourceContext): Promise<RemoteCalendar[]>;
  pull(cal: RemoteCalendar, cursor: Cursor | null, ctx: SourceContext): Promise<PullPage>;
  /** Current version of one item, or null when it does not exist. */
  get(cal: RemoteCalendar, id: string, ctx: SourceContext): Promise<{ ref: RemoteRef; ics: string } | null>;
  /**
   * Where a create of this object lands (or landed): the item, when it exists upstream. Used after a lost
   * confirmation. Providers that name items by path (CalDAV) look at `name`; those that key them by
   * iCalendar UID (Google, Graph) look for `uid`.
   */
  locate(cal: RemoteCalendar, target: { readonly name: string; readonly uid: string | null }, ctx: SourceContext): Promise<{ ref: RemoteRef; ics: string } | null>;
  /**
   * Create (ref null: must not overwrite anything) or update (If-Match ref.etag). An update with
   * ref.etag null is refused: writes are never blind. Throws PreconditionFailedUpstream on a version clash.
   */
  write(cal: RemoteCalendar, item: { readonly name: string; readonly ref: RemoteRef | null; readonly ics: string }, ctx: SourceContext): Promise<Written>;
  /** Delete with If-Match ref.etag (never blind); "already gone" counts as done. */
  remove(cal: RemoteCalendar, ref: RemoteRef, ctx: SourceContext): Promise<void>;
  /** Rename / recolour a calendar upstream (caps.calendarWrite). */
  updateCalendar?(cal: RemoteCalendar, props: { displayname?: string | null; color?: string | null; description?: string | null }, ctx: SourceContext): Promise<void>;
  /** Delete a calendar upstream (caps.calendarWrite). */
  deleteCalendar?(cal: RemoteCalendar, ctx: SourceContext): Promise<void>;
  /** Provider push: subscribe to changes of one calendar; notifications go to `callbackUrl`. */
  watch?(cal: RemoteCalendar, callbackUrl: string, ctx: SourceContext): Promise<PushSubscription>;
  /** Ends a subscription watch() opened ("already gone" counts as done). */
  unwatch?(sub: { readonly id: string; readonly data: unknown }, ctx: SourceContext): Promise<void>;
  /** Upstream requests made so far (every HTTP request, retries included). */
  readonly requests: number;
}

/** A provider push subscription (Google channel, Graph subscription). */
export interface PushSubscription {
  /** The id notifications name. */
  readonly id: string;
  readonly expiresAt: number;
  /** Echoed by the provider on each notification (Google channel token, Graph clientState). */
  readonly secret: string;
  /** What the adapter needs to end it (e.g. Google's resourceId); stored as JSON. */
  readonly data: unknown;
}

/** A request to POST /hooks/<type>, for the provider's parser. */
export interface PushRequest {
  readonly headers: Record<string, string | string[] | undefined>;
  readonly query: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * What a provider's parser makes of a push request: a direct answer (Graph's validation handshake), or
 * the notices it carries, with the status to answer when the provider expects one whatever the
 * outcome (Graph: 202 even for a notice that is not ours); otherwise 200, 404 unknown, 403 bad secret.
 */
export type PushParse =
  | { readonly reply: { readonly status: number; readonly contentType: string; readonly body: string } }
  | { readonly notices: readonly PushNotice[]; readonly status?: number };

/** A provider notification as its parser reads it (sources/registry.ts PUSH_PARSERS). */
export interface PushNotice {
  readonly subscriptionId: string;
  readonly secret: string | null;
  /**
   * "handshake": no change implied (Google's first `sync` message); "change": sync now; "lost": the
   * provider ended the subscription or wants it authorized again (Graph lifecycle events): open a new
   * one, and sync now, since changes may have gone unseen.
   */
  readonly kind: "handshake" | "change" | "lost";
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
  /**
   * `notSent`: the failure proves no request of the operation reached the upstream (every attempt was
   * refused before a connection was made): the write is as unsent as before, and may still be merged
   * into a newer one. Adapters set it only when they know; false is always safe.
   */
  constructor(message: string, status: number | null = null, readonly retryAfterMs: number | null = null, readonly notSent = false) {
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

/** The delay a failure asks for, when it names one (Retry-After). */
export function retryHintMs(e: unknown): number | null {
  return e instanceof RateLimited ? e.retryAfterMs : e instanceof Transient ? e.retryAfterMs : null;
}
