/**
 * href ↔ resource. The URL space:
 *   /dav/                              root
 *   /dav/principals/                   principal collection (lists only the user's own principal)
 *   /dav/principals/<user>/            principal
 *   /dav/calendars/<user>/             calendar home
 *   /dav/calendars/<user>/<cal>/       calendar collection
 *   /dav/calendars/<user>/<cal>/<obj>  calendar object
 * Segments are percent-encoded with encodeURIComponent (so '@' is %40, as Apple needs) and decoded
 * exactly once; '.', '..', empty or slash-containing segments never resolve to anything. A decoded
 * segment is kept exactly as the client sent it (UTF-8, no Unicode normalisation): clients compare
 * hrefs byte for byte, so "café" in NFC and in NFD are two different resources.
 */
import type { CalendarMeta, ObjectHead, User } from "./service.ts";
import { DavError, forbidden, notFound } from "./errors.ts";
import type { DavContext } from "./context.ts";

export const DAV_ROOT = "/dav/";

export type ResourceKind = "root" | "principals" | "principal" | "home" | "calendar" | "object";

export type DavResource =
  | { kind: "root"; href: string }
  /** The principal collection (DAV:principal-collection-set): holds only the user's own principal. */
  | { kind: "principals"; href: string }
  | { kind: "principal"; href: string; user: User }
  | { kind: "home"; href: string; user: User }
  | { kind: "calendar"; href: string; user: User; cal: CalendarMeta }
  | { kind: "object"; href: string; user: User; cal: CalendarMeta; name: string; obj: ObjectHead };

/**
 * A target that does not exist. missing-calendar / missing-object have an existing parent (PUT,
 * MKCALENDAR create them); missing-collection is a collection URL inside a calendar (which holds no
 * collections: MKCALENDAR/MKCOL there are refused 403); missing-parent lies in a calendar that does not
 * exist (PUT/MKCOL answer 409 Conflict, RFC 4918 9.7.1; every other method 404).
 */
export type MissingTarget =
  | { kind: "missing-calendar"; href: string; user: User; name: string }
  | { kind: "missing-object"; href: string; user: User; cal: CalendarMeta; name: string }
  | { kind: "missing-collection"; href: string; user: User; cal: CalendarMeta }
  | { kind: "missing-parent"; href: string; user: User; calName: string };

export type MissingKind = MissingTarget["kind"];

export const enc = encodeURIComponent;
export const principalHref = (u: string): string => `${DAV_ROOT}principals/${enc(u)}/`;
export const homeHref = (u: string): string => `${DAV_ROOT}calendars/${enc(u)}/`;
export const calendarHref = (u: string, cal: string): string => `${homeHref(u)}${enc(cal)}/`;
export const objectHref = (u: string, cal: string, obj: string): string => `${calendarHref(u, cal)}${enc(obj)}`;

export class BadSegment extends Error {}

/** Decode one path segment exactly once; refuses traversal and encoded separators. */
export function decodeSegment(raw: string): string {
  let s: string;
  try {
    s = decodeURIComponent(raw);
  } catch {
    throw new BadSegment(`invalid percent-encoding in "${raw}"`);
  }
  if (s === "" || s === "." || s === ".." || s.includes("/") || s.includes("\\") || s.includes("\0")) {
    throw new BadSegment(`path segment "${raw}" is not allowed`);
  }
  return s;
}

/** Split a request path (or href) below /dav/ into decoded segments; null if outside /dav/. */
export function davSegments(path: string): { segments: string[]; trailingSlash: boolean } | null {
  let p = path;
  if (/^https?:\/\//i.test(p)) {
    try {
      p = new URL(p).pathname;
    } catch {
      return null;
    }
  }
  const q = p.indexOf("?");
  if (q >= 0) p = p.slice(0, q);
  if (p === "/dav") p = "/dav/";
  if (!p.startsWith(DAV_ROOT)) return null;
  const rest = p.slice(DAV_ROOT.length);
  const trailingSlash = rest === "" || rest.endsWith("/");
  const parts = rest.split("/").filter((x, i, a) => !(x === "" && (i === a.length - 1)));
  if (parts.some((x) => x === "")) throw new BadSegment("empty path segment");
  return { segments: parts.map(decodeSegment), trailingSlash };
}

export interface Resolved {
  resource: DavResource | null;
  missing: MissingTarget | null;
}

/** Resolve a path for the authenticated user. Other users' spaces are 403 whether or not they exist. */
export async function resolve(path: string, ctx: DavContext): Promise<Resolved> {
  // The server root answers like the DAV root (clients given only a base URL PROPFIND it and
  // match the response href against the URL they asked for, so it is not redirected).
  if (path === "/" || path.startsWith("/?")) return { resource: { kind: "root", href: "/" }, missing: null };
  let split;
  try {
    split = davSegments(path);
  } catch (e) {
    if (e instanceof BadSegment) throw new DavError(400, e.message);
    throw e;
  }
  if (split === null) throw notFound(`${path} is outside the CalDAV tree (${DAV_ROOT})`);
  const [area, owner, calName, objName, ...extra] = split.segments;
  const user = ctx.user;
  if (area === undefined) return { resource: { kind: "root", href: DAV_ROOT }, missing: null };
  if (area !== "principals" && area !== "calendars") throw notFound();
  if (owner === undefined) {
    if (area === "principals") return { resource: { kind: "principals", href: `${DAV_ROOT}principals/` }, missing: null };
    throw notFound(`no resource at ${path}; calendars live under ${DAV_ROOT}${area}/<user>/`);
  }
  if (owner !== user.username) throw forbidden(`this account may only access its own principal and calendars`);
  if (area === "principals") {
    if (calName !== undefined) throw notFound();
    return { resource: { kind: "principal", href: principalHref(owner), user }, missing: null };
  }
  if (calName === undefined) return { resource: { kind: "home", href: homeHref(owner), user }, missing: null };
  const cal = await ctx.service.calendar(user, calName);
  if (objName === undefined) {
    if (cal) return { resource: { kind: "calendar", href: calendarHref(owner, cal.name), user, cal }, missing: null };
    return { resource: null, missing: { kind: "missing-calendar", href: calendarHref(owner, calName), user, name: calName } };
  }
  const href = `${homeHref(owner)}${split.segments.slice(2).map(enc).join("/")}${split.trailingSlash ? "/" : ""}`;
  if (!cal) return { resource: null, missing: { kind: "missing-parent", href, user, calName } };
  if (extra.length > 0 || split.trailingSlash) return { resource: null, missing: { kind: "missing-collection", href, user, cal } };
  const obj = (await ctx.service.objects(cal, [objName])).get(objName) ?? null;
  if (obj) return { resource: { kind: "object", href: objectHref(owner, cal.name, objName), user, cal, name: objName, obj }, missing: null };
  return { resource: null, missing: { kind: "missing-object", href: objectHref(owner, cal.name, objName), user, cal, name: objName } };
}

/** Direct members of a collection, for Depth: 1; made one at a time as the response streams. */
export async function members(res: DavResource, ctx: DavContext): Promise<Iterable<DavResource>> {
  switch (res.kind) {
    case "root": {
      const user = ctx.user;
      return [
        { kind: "principal", href: principalHref(user.username), user },
        { kind: "home", href: homeHref(user.username), user },
      ];
    }
    case "principals":
      return [{ kind: "principal", href: principalHref(ctx.user.username), user: ctx.user }];
    case "home":
      return (await ctx.service.calendars(res.user)).map((cal) => ({ kind: "calendar", href: calendarHref(res.user.username, cal.name), user: res.user, cal }));
    case "calendar": {
      const prefix = calendarHref(res.user.username, res.cal.name);
      const heads = await ctx.service.heads(res.cal);
      const { user, cal } = res;
      return (function* (): Generator<DavResource> {
        for (const obj of heads) yield { kind: "object", href: prefix + enc(obj.name), user, cal, name: obj.name, obj };
      })();
    }
    default:
      return [];
  }
}
