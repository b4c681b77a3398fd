/**
 * COPY and MOVE of calendar objects (RFC 4918 9.8, 9.9; RFC 4791 5.3.2.1 preconditions at the
 * destination). The destination is an object URL in one of the user's calendars.
 *   COPY: a PUT of the source's text at the destination (so every CalDAV precondition applies there:
 *         a COPY inside one calendar is a UID conflict, as RFC 4791 requires).
 *   MOVE inside a calendar: a rename (CalendarService.rename), which keeps the upstream identity.
 *   MOVE between calendars: a create at the destination through its provider (put, which queues to
 *         that calendar's upstream), then a delete at the source, in that order: the object is never
 *         lost. Google's events.move between two calendars of one account is not used.
 * Collections are not copied or moved (403).
 */
import { DavError, Conditions, notFound } from "../errors.ts";
import { parsePreconditions } from "../preconditions.ts";
import { davSegments, objectHref, BadSegment } from "../resources.ts";
import type { DavContext, DavResponse } from "../context.ts";
import type { CalendarMeta, Preconditions } from "../service.ts";
import type { Resolved } from "../resources.ts";
import type { MethodHandler } from "./registry.ts";

interface Destination {
  readonly cal: CalendarMeta;
  readonly name: string;
  readonly href: string;
}

const NONE: Preconditions = { ifMatch: null, ifNoneMatch: null };

function overwriteOf(ctx: DavContext): boolean {
  const v = (ctx.req.header("overwrite") ?? "T").trim().toUpperCase();
  if (v !== "T" && v !== "F") throw new DavError(400, `Overwrite must be T or F, got "${v}"`);
  return v === "T";
}

async function destinationOf(ctx: DavContext): Promise<Destination> {
  const raw = ctx.req.header("destination");
  if (!raw) throw new DavError(400, `${ctx.req.method} needs a Destination header naming the target URL`);
  let path = raw.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    let url: URL;
    try {
      url = new URL(path);
    } catch {
      throw new DavError(400, `Destination "${raw}" is not a URL`);
    }
    const host = ctx.req.header("host");
    if (host && url.host.toLowerCase() !== host.toLowerCase()) throw new DavError(502, `Destination ${raw} is on another server; calgate copies and moves only within itself`);
    path = url.pathname;
  }
  let segs: string[] | null;
  try {
    const split = davSegments(path);
    segs = split && !split.trailingSlash ? split.segments : null;
  } catch (e) {
    if (e instanceof BadSegment) throw new DavError(400, `Destination: ${e.message}`);
    throw e;
  }
  if (!segs || segs.length !== 4 || segs[0] !== "calendars") {
    throw new DavError(403, `Destination ${raw} is not a calendar object URL (${"/dav/calendars/<user>/<calendar>/<name>"}); calgate copies and moves calendar objects only`);
  }
  const [, owner, calName, name] = segs as [string, string, string, string];
  if (owner !== ctx.user.username) throw new DavError(403, "this account may only copy and move into its own calendars");
  const cal = await ctx.service.calendar(ctx.user, calName);
  if (!cal) throw new DavError(409, `Destination calendar ${calName} does not exist`);
  return { cal, name, href: objectHref(owner, cal.name, name) };
}

async function run(ctx: DavContext, target: Resolved, move: boolean): Promise<DavResponse> {
  const res = target.resource;
  if (!res) throw notFound();
  if (res.kind !== "object") throw new DavError(403, `${ctx.req.method} of a ${res.kind} is not supported; calgate copies and moves calendar objects only`);
  const overwrite = overwriteOf(ctx);
  const dest = await destinationOf(ctx);
  if (dest.cal.id === res.cal.id && dest.name === res.name) throw new DavError(403, "source and Destination are the same resource");
  if (!dest.cal.writable) throw new DavError(403, `calendar ${dest.cal.name} is read-only`, Conditions.needPrivileges);
  if (move && !res.cal.writable) throw new DavError(403, `calendar ${res.cal.name} is read-only: nothing can be moved out of it`, Conditions.needPrivileges);
  const sourceCond = parsePreconditions((n) => ctx.req.header(n));

  if (move && dest.cal.id === res.cal.id) {
    if (!ctx.service.rename) throw new DavError(403, `MOVE inside calendar ${res.cal.name} is not supported by this calendar`);
    const { created } = await ctx.service.rename(ctx.user, res.cal, res.name, dest.name, { overwrite, cond: sourceCond });
    return { status: created ? 201 : 204, headers: created ? { location: dest.href } : {} };
  }

  const obj = (await ctx.service.objects(res.cal, [res.name])).get(res.name);
  if (!obj) throw notFound();
  if (sourceCond.ifMatch !== null && sourceCond.ifMatch !== "*" && !sourceCond.ifMatch.includes(obj.etag)) throw new DavError(412, "the source's ETag does not match If-Match");
  // Overwrite: F is If-None-Match: * at the destination (RFC 4918 10.6), checked in the store's transaction.
  const put = await ctx.service.put(ctx.user, dest.cal, dest.name, obj.ics, overwrite ? NONE : { ifMatch: null, ifNoneMatch: "*" });
  if (move) {
    try {
      // Only the version that was copied is removed: a source changed meanwhile stays.
      await ctx.service.remove(ctx.user, res.cal, res.name, { ifMatch: [obj.etag], ifNoneMatch: null });
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new DavError(409, `the object was copied to ${dest.href}, but could not be removed from ${res.href} (${why}); both now hold it`);
    }
  }
  const headers: Record<string, string> = {};
  if (put.created) headers.location = dest.href;
  return { status: put.created ? 201 : 204, headers };
}

export const copy: MethodHandler = { method: "COPY", on: ["object", "calendar"], run: (ctx, t) => run(ctx, t, false) };
export const move: MethodHandler = { method: "MOVE", on: ["object", "calendar"], run: (ctx, t) => run(ctx, t, true) };
