/**
 * PROPFIND Depth 1 member responses of a calendar, rendered once per member listing. The service
 * hands out the same listing (array) for as long as the calendar is unchanged, and the properties
 * a sync client asks for here (getetag and the like) come from the listing alone, so the rendered
 * bytes are reused for as long as the listing they were made from. Bounded by bytes, least recently
 * used out first; a listing too large for the budget is rendered as it streams, as before.
 */
import { dav, type Clark } from "../xml/names.ts";
import { renderedParts, type ResponseEntry } from "../xml/multistatus.ts";
import { resolveProps, type PropRequest } from "./props/resolve.ts";
import type { PropertyRegistry } from "./props/registry.ts";
import type { DavContext } from "./context.ts";
import { calendarHref, enc, type DavResource } from "./resources.ts";
import { isWholeListing, type CalendarMeta, type ObjectHead } from "./service.ts";

/** Properties whose standard providers read only the member's head (props/webdav.ts). */
const HEAD_PROPS: ReadonlySet<Clark> = new Set([dav("getetag"), dav("getcontenttype"), dav("getcontentlength"), dav("getlastmodified"), dav("resourcetype")]);
/** Rendered bytes kept in all (~150 bytes a member: ~50,000 members). */
const MAX_BYTES = 8 * 1024 * 1024;

interface Listing {
  readonly heads: readonly ObjectHead[];
  readonly parts: readonly Buffer[];
  readonly bytes: number;
}

const caches = new WeakMap<PropertyRegistry, Map<string, Listing>>();
const rendering = new Map<string, { heads: readonly ObjectHead[]; parts: Promise<Buffer[]> }>();
let total = 0;

/** The request's cache key, or null when a property may depend on more than the head. */
function keyOf(request: PropRequest, minimal: boolean): string | null {
  if (request.kind !== "prop" || request.props.length === 0) return null;
  if (!request.props.every((p) => HEAD_PROPS.has(p.name) && p.children.length === 0)) return null;
  return `${minimal ? "m" : "f"}|${request.props.map((p) => p.name).join(" ")}`;
}

/** The members of a calendar as responses: rendered bytes when kept, else entries rendered as they stream. */
export async function calendarMemberResponses(res: Extract<DavResource, { kind: "calendar" }>, request: PropRequest, ctx: DavContext, registry: PropertyRegistry): Promise<Iterable<Buffer> | AsyncIterable<ResponseEntry>> {
  const listing = await ctx.service.members(res.cal);
  const prefix = calendarHref(res.user.username, res.cal.name);
  const entries = async function* (pages: Iterable<readonly ObjectHead[]> | AsyncIterable<readonly ObjectHead[]>): AsyncGenerator<ResponseEntry> {
    for await (const page of pages) {
      for (const obj of page) {
        const r: DavResource = { kind: "object", href: prefix + enc(obj.name), user: res.user, cal: res.cal, name: obj.name, obj };
        yield { href: r.href, props: await resolveProps(r, request, ctx, registry) };
      }
    }
  };
  // A calendar too large to keep its listing comes in pages, rendered as they stream.
  if (!isWholeListing(listing)) return entries(listing);
  return memberResponses(listing, res.cal, request, ctx, registry, () => entries([listing]));
}

/**
 * Responses for `heads` (a listing as the service handed it out: PROPFIND Depth 1, or the initial
 * sync-collection), from the rendered bytes kept for that same listing when the request allows,
 * else `render()`'s entries.
 */
export async function memberResponses(heads: readonly ObjectHead[], cal: CalendarMeta, request: PropRequest, ctx: DavContext, registry: PropertyRegistry, render: () => AsyncIterable<ResponseEntry>): Promise<Iterable<Buffer> | AsyncIterable<ResponseEntry>> {
  const prefix = calendarHref(ctx.user.username, cal.name);
  const entries = render;
  const requestKey = keyOf(request, ctx.minimal);
  if (requestKey === null || heads.length * 100 > MAX_BYTES) return entries();
  let cache = caches.get(registry);
  if (!cache) caches.set(registry, (cache = new Map()));
  const key = `${cal.id}|${prefix}|${requestKey}`;
  const hit = cache.get(key);
  if (hit && hit.heads === heads) {
    cache.delete(key);
    cache.set(key, hit);
    return hit.parts;
  }
  // Concurrent requests for the same listing wait for one rendering instead of each holding their own.
  const flightKey = `${key}|${heads.length}`;
  const inFlight = rendering.get(flightKey);
  if (inFlight && inFlight.heads === heads) return inFlight.parts;
  const pending = renderedParts(entries(), ctx.minimal);
  rendering.set(flightKey, { heads, parts: pending });
  let parts: Buffer[];
  try {
    parts = await pending;
  } finally {
    if (rendering.get(flightKey)?.parts === pending) rendering.delete(flightKey);
  }
  const bytes = parts.reduce((n, b) => n + b.length, 0);
  if (hit) {
    cache.delete(key);
    total -= hit.bytes;
  }
  if (bytes <= MAX_BYTES / 2) {
    cache.set(key, { heads, parts, bytes });
    total += bytes;
    for (const [k, l] of cache) {
      if (total <= MAX_BYTES) break;
      cache.delete(k);
      total -= l.bytes;
    }
  }
  return parts;
}
