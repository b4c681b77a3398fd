/**
 * `type: caldav` sources: any RFC 4791 server (iCloud, Fastmail, Nextcloud, Radicale, Xandikos ...).
 *
 * Discovery uses tsdav (well-known redirect, current-user-principal, calendar-home-set) with our
 * counting fetch; everything on the hot path is plain fetch + our XML parser, because tsdav's
 * fetchCalendars costs one extra request per calendar (supported-report-set) and coerces property
 * values, and it has no way to send a stored sync token and see DAV:valid-sync-token:
 *  - listCalendars: one PROPFIND Depth 1 on the home (names, colors, components, ctag, sync-token);
 *  - pull: sync-collection with the stored token (getetag only) + calendar-multiget for the hrefs
 *    whose ETag differs from the one on record; a rejected token → full listing; servers without
 *    sync-collection → PROPFIND getetag listing + multiget (the ctag path). A full listing is read
 *    without an XML tree (listing.ts) and fetched 1,000 members per pull (full-listing.ts);
 *  - write/remove: PUT/DELETE with If-Match (If-None-Match: * for creates), never blind; every PUT is
 *    read back with one GET, because servers rewrite what they store and still answer with a fresh
 *    ETag (Radicale 3.1.8 keeps "SUMMARY:Lunch, with Bob" as "SUMMARY:Lunch"): the adapter reports
 *    what the upstream really holds, and nothing upstream is trusted on the strength of a 2xx alone.
 *
 * Upstream ids are canonical absolute hrefs; calendar ids are collection URLs. Both stay opaque to the engine.
 */
import { fetchHomeUrl, fetchPrincipalUrl, serviceDiscovery } from "tsdav";
import type { CaldavSourceConfig } from "../../config/schema.ts";
import {
  AuthRequired, CursorExpired, NotFoundUpstream, Permanent, Transient,
  type Cursor, type PullPage, type RemoteCalendar, type RemoteChange, type RemoteRef, type SourceAdapter, type SourceContext, type Written,
} from "../adapter.ts";
import { sameContent } from "../../ical/content.ts";
import { CaldavHttp } from "./http.ts";
import { parseMultistatus, propText } from "./multistatus.ts";
import { parseListing, type ListedResponse } from "./listing.ts";
import { listing, nextPage, type Listing } from "./full-listing.ts";
import { ListingMemory } from "../listing-memory.ts";
import { canonicalHref, escapeXml, hrefPath } from "./hrefs.ts";

const MULTIGET_BATCH = 250;
/** Members fetched per pull of a full listing (four multigets). */
const LISTING_PAGE = 1000;

export interface DiscoveryState {
  homeUrl: string;
}
type RemoteEtag = string;
type Known = () => Promise<ReadonlyMap<string, RemoteEtag | null>>;

function globMatch(glob: string, s: string): boolean {
  const re = new RegExp("^" + glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$", "i");
  return re.test(s);
}
function lastSegment(href: string): string {
  try {
    return decodeURIComponent(new URL(href).pathname.split("/").filter(Boolean).pop() ?? "");
  } catch {
    return "";
  }
}

interface CursorState {
  /**
   * "sync": token-based; "ctag": the server has no usable sync-collection; "listing": a full listing
   * is being fetched in pages (full-listing.ts), to continue in mode `via` from `token` once done.
   */
  mode: "sync" | "ctag" | "listing";
  token: string | null;
  via?: "sync" | "ctag";
  /** listing: the last href looked at. */
  after?: string | null;
}

const PROPFIND_HOME = `<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/" xmlns:a="http://apple.com/ns/ical/">
  <d:prop><d:resourcetype/><d:displayname/><a:calendar-color/><cs:getctag/><d:sync-token/><c:supported-calendar-component-set/><c:calendar-description/></d:prop>
</d:propfind>`;
const PROPFIND_ETAGS = `<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:resourcetype/></d:prop></d:propfind>`;
const syncCollection = (token: string | null): string => `<?xml version="1.0" encoding="utf-8"?>
<d:sync-collection xmlns:d="DAV:"><d:sync-token>${token === null ? "" : escapeXml(token)}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`;
const multiget = (paths: readonly string[]): string => `<?xml version="1.0" encoding="utf-8"?>
<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>${paths.map((p) => `<d:href>${escapeXml(p)}</d:href>`).join("")}</c:calendar-multiget>`;

const listingKey = (cal: RemoteCalendar, via: string, token: string | null): string => `${cal.id}\n${via}\n${token ?? ""}`;

/** The members a sync-collection listing names (the collection itself and failed entries left out). */
function listedOf(responses: readonly ListedResponse[], cal: RemoteCalendar): Map<string, RemoteEtag | null> {
  const listed = new Map<string, RemoteEtag | null>();
  for (const x of responses) {
    const href = canonicalHref(x.href, cal.id);
    if (href === cal.id || (x.status !== null && x.status >= 400)) continue;
    listed.set(href, x.etag);
  }
  return listed;
}

export class CaldavAdapter implements SourceAdapter {
  readonly caps = { write: true, remove: true, incremental: true, push: false, calendarWrite: false };
  private readonly http: CaldavHttp;
  private home: string | null = null;

  private readonly listings = new ListingMemory<Listing>();

  /** `listingPage`: members fetched per pull of a full listing (tests use a few). */
  constructor(private readonly cfg: CaldavSourceConfig, timeoutMs: number, private readonly opts: { listingPage?: number } = {}) {
    this.http = new CaldavHttp({ username: cfg.username, password: cfg.password, timeoutMs: cfg.timeoutMs ?? timeoutMs, caCert: cfg.caCert });
  }
  get requests(): number {
    return this.http.requests;
  }

  private async homeUrl(ctx: SourceContext): Promise<string> {
    if (this.home) return this.home;
    const saved = await ctx.state.load<DiscoveryState>();
    if (saved?.homeUrl) return (this.home = saved.homeUrl);
    this.home = await this.discover(ctx.signal);
    await ctx.state.save({ homeUrl: this.home } satisfies DiscoveryState);
    return this.home;
  }

  /** RFC 6764 discovery via tsdav; when the well-known answer is unusable, the configured URL is tried as root/principal. */
  private async discover(signal: AbortSignal): Promise<string> {
    const headers = {};
    const fetch = this.http.fetch;
    const account = { serverUrl: this.cfg.url, accountType: "caldav" as const, credentials: {} };
    const roots = [this.cfg.url];
    try {
      const wellKnown = await serviceDiscovery({ account, headers, fetch });
      if (wellKnown && wellKnown !== this.cfg.url) roots.unshift(wellKnown);
    } catch {
      /* fall back to the configured URL */
    }
    let lastErr: unknown = null;
    for (const rootUrl of roots) {
      if (signal.aborted) throw signal.reason;
      try {
        const principalUrl = await fetchPrincipalUrl({ account: { ...account, rootUrl }, headers, fetch });
        return await fetchHomeUrl({ account: { ...account, rootUrl, principalUrl }, headers, fetch });
      } catch (e) {
        lastErr = e;
      }
    }
    const msg = (lastErr as Error | null)?.message ?? "no calendar home found";
    if (/401|credentials/i.test(msg)) throw new AuthRequired(`discovery at ${this.cfg.url}: ${msg}`, 401);
    if (/fetch failed|ECONN|timed? ?out|abort/i.test(msg)) throw new Transient(`discovery at ${this.cfg.url}: ${msg}`);
    throw new Permanent(`discovery at ${this.cfg.url} found no calendar home: ${msg}`);
  }

  async listCalendars(ctx: SourceContext): Promise<RemoteCalendar[]> {
    const signal = ctx.signal;
    const home = await this.homeUrl(ctx);
    let reply;
    try {
      reply = await this.http.request("PROPFIND", home, { headers: { depth: "1" }, body: PROPFIND_HOME }, signal);
    } catch (e) {
      // The home moved (e.g. account migrated): forget it and discover again, once.
      if (!(e instanceof NotFoundUpstream)) throw e;
      this.home = null;
      await ctx.state.save(null);
      reply = await this.http.request("PROPFIND", await this.homeUrl(ctx), { headers: { depth: "1" }, body: PROPFIND_HOME }, signal);
    }
    const { responses } = parseMultistatus(reply.body, `PROPFIND ${home}`);
    const homeKey = canonicalHref(reply.url, reply.url);
    const out: RemoteCalendar[] = [];
    for (const r of responses) {
      const href = canonicalHref(r.href, reply.url);
      if (href === homeKey) continue;
      const rt = r.props.get("{DAV:}resourcetype");
      if (!rt || !rt.children.some((c) => typeof c === "object" && c.name === "{urn:ietf:params:xml:ns:caldav}calendar")) continue;
      const compSet = r.props.get("{urn:ietf:params:xml:ns:caldav}supported-calendar-component-set");
      const comps = compSet ? compSet.children.flatMap((c) => (typeof c === "object" && c.attrs.name ? [String(c.attrs.name).toUpperCase()] : [])) : [];
      const components = comps.length ? comps.filter((c) => c === "VEVENT" || c === "VTODO" || c === "VJOURNAL") : ["VEVENT", "VTODO"];
      if (components.length === 0) continue;
      const token = propText(r, "{DAV:}sync-token");
      const ctag = propText(r, "{http://calendarserver.org/ns/}getctag");
      const displayname = propText(r, "{DAV:}displayname");
      const slug = lastSegment(href) || "calendar";
      // `include` globs match the display name or the collection's URL segment (stable across renames).
      if (this.cfg.include && !this.cfg.include.some((g) => globMatch(g, displayname ?? slug) || globMatch(g, slug))) continue;
      out.push({
        id: href,
        nameHint: slug,
        displayname,
        color: normaliseColor(propText(r, "{http://apple.com/ns/ical/}calendar-color")),
        description: propText(r, "{urn:ietf:params:xml:ns:caldav}calendar-description"),
        components,
        version: token || ctag ? `${token ?? ""}|${ctag ?? ""}` : null,
        writable: true,
      });
    }
    return out;
  }

  async pull(cal: RemoteCalendar, cursor: Cursor | null, ctx: SourceContext): Promise<PullPage> {
    const signal = ctx.signal;
    const known: Known = () => ctx.known(cal);
    const state: CursorState | null = cursor ? (JSON.parse(cursor) as CursorState) : null;
    if (state?.mode === "listing") return this.listingPage(cal, state.via ?? "ctag", state.token, state.after ?? null, known, signal, undefined);
    if (state?.mode === "ctag") return this.fullByPropfind(cal, signal, known, undefined);
    let note: string | undefined;
    if (state?.token) {
      const r = await this.syncReport(cal, state.token, signal);
      if (r.kind === "ok") {
        const known0 = await known();
        const deletes: RemoteChange[] = [];
        const fetchHrefs: string[] = [];
        for (const x of r.responses) {
          const href = canonicalHref(x.href, cal.id);
          if (href === cal.id) continue;
          if (x.status === 404 || x.status === 410) deletes.push({ kind: "delete", id: href });
          else {
            const etag = x.etag;
            if (etag !== null && known0.get(href) === etag) continue; // our own write, echoed back
            fetchHrefs.push(href);
          }
        }
        const upserts = await this.multiget(cal, fetchHrefs, signal);
        const next: CursorState = { mode: "sync", token: r.token ?? state.token };
        return { changes: [...deletes, ...upserts], next: JSON.stringify(next), done: !r.truncated, full: false };
      }
      note = r.kind === "expired" ? "the upstream rejected the sync token (valid-sync-token); full resync" : "sync-collection failed; full resync";
    }
    // Initial or full resync: sync-collection without a token lists everything (with etags).
    const initial = await this.syncReport(cal, null, signal);
    if (initial.kind === "ok" && !initial.truncated) {
      return this.listingPage(cal, "sync", initial.token, null, known, signal, note, listing(listedOf(initial.responses, cal)));
    }
    return this.fullByPropfind(cal, signal, known, note ?? "the upstream has no usable sync-collection; using ctag + etag listing");
  }

  private async fullByPropfind(cal: RemoteCalendar, signal: AbortSignal, known: Known, note: string | undefined): Promise<PullPage> {
    return this.listingPage(cal, "ctag", null, null, known, signal, note, await this.propfindListing(cal, signal));
  }

  private async propfindListing(cal: RemoteCalendar, signal: AbortSignal): Promise<Listing> {
    const reply = await this.http.request("PROPFIND", cal.id, { headers: { depth: "1" }, body: PROPFIND_ETAGS }, signal);
    const { responses } = parseListing(reply.body, `PROPFIND ${cal.id}`);
    const listed = new Map<string, RemoteEtag | null>();
    for (const x of responses) {
      const href = canonicalHref(x.href, cal.id);
      if (href === cal.id || href.endsWith("/")) continue;
      listed.set(href, x.etag);
    }
    return listing(listed);
  }

  /**
   * One page of a full listing made in mode `via` at `token`: the changed members after `after`.
   * The last page carries the whole listing (`listed`), from which the engine deletes what is gone;
   * that listing is made in this same pull (`made`, or listed again), after the engine's snapshot
   * for the page: a listing from an earlier pull would not show an item a write-back created
   * upstream since, and the engine would delete it from the cache.
   */
  private async listingPage(cal: RemoteCalendar, via: "sync" | "ctag", token: string | null, after: string | null, known: Known, signal: AbortSignal, note: string | undefined, made?: Listing): Promise<PullPage> {
    const key = listingKey(cal, via, token);
    // Restarted (or evicted) mid-listing: list again. Later than `token`, which stays: the next delta repeats what changed since.
    let fresh = made ?? null;
    const l = made ?? this.listings.get(key) ?? (fresh = this.listings.set(key, await this.relist(cal, via, signal)));
    if (made) this.listings.set(key, made);
    const page = nextPage(l, await known(), after, this.opts.listingPage ?? LISTING_PAGE);
    const changes = await this.multiget(cal, page.fetch, signal);
    const extra = note ? { note } : {};
    if (!page.last) return { changes, next: JSON.stringify({ mode: "listing", via, token, after: page.through } satisfies CursorState), done: false, full: true, ...extra };
    this.listings.drop(key);
    // Members listed now but not in the listing the pages walked are not fetched here: the next delta (from `token`) or ctag listing brings them.
    const listed = (fresh ?? (await this.relist(cal, via, signal))).listed;
    return { changes, next: JSON.stringify({ mode: via, token } satisfies CursorState), done: true, full: true, listed, ...extra };
  }

  /** Every member now: by sync-collection (mode "sync", when the server still answers it whole), else PROPFIND. */
  private async relist(cal: RemoteCalendar, via: "sync" | "ctag", signal: AbortSignal): Promise<Listing> {
    const again = via === "sync" ? await this.syncReport(cal, null, signal) : null;
    return again?.kind === "ok" && !again.truncated ? listing(listedOf(again.responses, cal)) : this.propfindListing(cal, signal);
  }

  private async syncReport(cal: RemoteCalendar, token: string | null, signal: AbortSignal): Promise<{ kind: "ok"; responses: ListedResponse[]; token: string | null; truncated: boolean } | { kind: "expired" } | { kind: "unsupported" }> {
    const reply = await this.http.request("REPORT", cal.id, { headers: { depth: "1" }, body: syncCollection(token), accept: [400, 403, 409, 412, 415, 501, 405] }, signal);
    if (reply.status >= 400) {
      if (/valid-sync-token/.test(reply.body)) {
        if (token === null) return { kind: "unsupported" };
        return { kind: "expired" };
      }
      return { kind: "unsupported" };
    }
    // A listing (getetag only) may hold every member of a large calendar: read without a tree.
    const { responses, syncToken } = parseListing(reply.body, `REPORT sync-collection ${cal.id}`);
    // RFC 6578 §3.6: a 507 on the collection itself means "more to come" (page with the new token).
    const truncated = responses.some((r) => r.status === 507 && canonicalHref(r.href, cal.id) === cal.id);
    return { kind: "ok", responses, token: syncToken, truncated };
  }

  private async multiget(cal: RemoteCalendar, hrefs: readonly string[], signal: AbortSignal): Promise<RemoteChange[]> {
    const out: RemoteChange[] = [];
    for (let i = 0; i < hrefs.length; i += MULTIGET_BATCH) {
      const batch = hrefs.slice(i, i + MULTIGET_BATCH);
      const reply = await this.http.request("REPORT", cal.id, { headers: { depth: "1" }, body: multiget(batch.map(hrefPath)) }, signal);
      const { responses } = parseMultistatus(reply.body, `REPORT calendar-multiget ${cal.id}`);
      const got = new Set<string>();
      for (const x of responses) {
        const href = canonicalHref(x.href, cal.id);
        const data = propText(x, "{urn:ietf:params:xml:ns:caldav}calendar-data");
        if (data === null || data.trim() === "") continue;
        got.add(href);
        out.push({ kind: "upsert", ref: { id: href, etag: propText(x, "{DAV:}getetag") }, ics: data, nameHint: lastSegment(href) });
      }
      // Listed a moment ago but gone now: a concurrent delete upstream.
      const gone = new Set(responses.filter((x) => x.status === 404 || x.status === 410).map((x) => canonicalHref(x.href, cal.id)));
      for (const h of batch) if (!got.has(h) && gone.has(h)) out.push({ kind: "delete", id: h });
    }
    return out;
  }

  async get(_cal: RemoteCalendar, id: string, ctx: SourceContext): Promise<{ ref: RemoteRef; ics: string } | null> {
    try {
      const r = await this.http.request("GET", id, { headers: { accept: "text/calendar" } }, ctx.signal);
      return { ref: { id, etag: r.headers.get("etag") }, ics: r.body };
    } catch (e) {
      if (e instanceof NotFoundUpstream) return null;
      throw e;
    }
  }

  /** A create of `name` lands at the calendar URL + the name (that is how write() builds it). */
  locate(cal: RemoteCalendar, target: { readonly name: string }, ctx: SourceContext): Promise<{ ref: RemoteRef; ics: string } | null> {
    return this.get(cal, this.hrefFor(cal, target.name), ctx);
  }

  private hrefFor(cal: RemoteCalendar, name: string): string {
    return canonicalHref(encodeURIComponent(name), cal.id);
  }

  async write(cal: RemoteCalendar, item: { readonly name: string; readonly ref: RemoteRef | null; readonly ics: string }, ctx: SourceContext): Promise<Written> {
    if (item.ref && item.ref.etag === null) throw new Permanent(`refusing to overwrite ${item.ref.id} without knowing its current ETag`);
    const href = item.ref?.id ?? this.hrefFor(cal, item.name);
    const cond: Record<string, string> = item.ref ? { "if-match": item.ref.etag! } : { "if-none-match": "*" };
    const r = await this.http.request("PUT", href, { headers: { "content-type": "text/calendar; charset=utf-8", ...cond }, body: item.ics }, ctx.signal);
    const putEtag = r.headers.get("etag");
    // Read back: the only way to know what the server keeps (see the header comment).
    let back: { ref: RemoteRef; ics: string } | null;
    try {
      back = await this.get(cal, href, ctx);
    } catch (e) {
      // Unverified: the write is retried (If-Match on the old version → 412 → the writer looks again).
      throw new Transient(`the PUT of ${href} was answered but reading it back failed: ${(e as Error).message}`);
    }
    if (back === null) return { ref: null, stored: "dropped", ics: null, why: `${href} does not exist upstream after the PUT` };
    const ref = { id: href, etag: back.ref.etag ?? putEtag };
    if (item.ref && ref.etag !== null && ref.etag === item.ref.etag && !sameContent(back.ics, item.ics)) {
      return { ref, stored: "dropped", ics: back.ics, why: `it still has the ETag ${ref.etag} the write replaced` };
    }
    if (sameContent(back.ics, item.ics)) return { ref, stored: "as-sent" };
    return { ref, stored: "changed", ics: back.ics };
  }

  async remove(_cal: RemoteCalendar, ref: RemoteRef, ctx: SourceContext): Promise<void> {
    if (ref.etag === null) throw new Permanent(`refusing to delete ${ref.id} without knowing its current ETag`);
    try {
      await this.http.request("DELETE", ref.id, { headers: { "if-match": ref.etag } }, ctx.signal);
    } catch (e) {
      if (e instanceof NotFoundUpstream) return; // already gone: the goal is reached
      throw e;
    }
  }
}

export { CursorExpired };

function normaliseColor(c: string | null): string | null {
  if (!c) return null;
  const s = c.trim();
  return /^#[0-9a-f]{6}([0-9a-f]{2})?$/i.test(s) ? s : null;
}
