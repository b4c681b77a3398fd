/** The DAV entry point: resolve the target, look up the method, run it, render DavErrors. */
import type { DavContext, DavResponse } from "./context.ts";
import { DavError, fromIcalError, isIcalRefusal } from "./errors.ts";
import { el } from "../xml/tree.ts";
import { dav } from "../xml/names.ts";
import { serialize } from "../xml/build.ts";
import { resolve } from "./resources.ts";
import { allowFor, type DavDeps, type MethodHandler } from "./methods/registry.ts";
import { propfind } from "./methods/propfind.ts";
import { proppatch } from "./methods/proppatch.ts";
import { get, head } from "./methods/get.ts";
import { put } from "./methods/put.ts";
import { del } from "./methods/delete.ts";
import { mkcalendar, mkcol } from "./methods/mkcalendar.ts";
import { report } from "./methods/report.ts";
import { post } from "./methods/post.ts";
import { copy, move } from "./methods/copymove.ts";
import { defaultProperties } from "./props/index.ts";
import { defaultReports } from "./reports/index.ts";
import { NoWriteTarget, ObjectBusy, ObjectNotFound, PreconditionFailed, UidChanged, UidConflict, UpstreamRefused } from "./service.ts";

export const DAV_HEADER = "1, 3, access-control, calendar-access, extended-mkcol, webdav-push";

const HANDLERS: readonly MethodHandler[] = [propfind, proppatch, get, head, put, del, mkcalendar, mkcol, report, post, copy, move];

export class DavHandler {
  private readonly byMethod = new Map(HANDLERS.map((h) => [h.method, h]));
  constructor(private readonly deps: DavDeps = { props: defaultProperties(), reports: defaultReports() }) {}

  async handle(ctx: DavContext): Promise<DavResponse> {
    try {
      return await this.dispatch(ctx);
    } catch (e) {
      return renderError(toDavError(e));
    }
  }

  private async dispatch(ctx: DavContext): Promise<DavResponse> {
    const target = await resolve(ctx.req.path, ctx);
    const kind = target.resource?.kind ?? target.missing?.kind ?? "missing";
    if (ctx.req.method === "OPTIONS") {
      return { status: 200, headers: { dav: DAV_HEADER, allow: allowFor(HANDLERS, kind), "content-length": "0" } };
    }
    const handler = this.byMethod.get(ctx.req.method);
    if (!handler) throw new DavError(405, `${ctx.req.method} is not supported`, undefined, { allow: allowFor(HANDLERS, kind) });
    if (!handler.on.includes(kind as never)) {
      if (!target.resource && target.missing) throw new DavError(404, `${target.missing.href} does not exist`);
      throw new DavError(405, `${ctx.req.method} is not allowed on a ${kind}`, undefined, { allow: allowFor(HANDLERS, kind) });
    }
    const res = await handler.run(ctx, target, this.deps);
    res.headers.dav ??= DAV_HEADER;
    return res;
  }
}

/** Domain errors → DAV errors, once. Anything unknown propagates (the HTTP edge logs it as a 500). */
export function toDavError(e: unknown): DavError {
  if (e instanceof DavError) return e;
  if (isIcalRefusal(e)) return fromIcalError(e); // IcalError, ExpansionLimit: the table in errors.ts
  if (e instanceof PreconditionFailed) return new DavError(412, e.message || "the resource's ETag does not match If-Match / If-None-Match");
  if (e instanceof UidConflict) return new DavError(409, e.message, "{urn:ietf:params:xml:ns:caldav}no-uid-conflict");
  // RFC 4791 5.3.2.1: no-uid-conflict keeps one UID to one resource; a UID change breaks that mapping
  // for every client that synced the old one (and upstreams such as Google cannot re-key an event).
  if (e instanceof UidChanged) return new DavError(409, e.message, "{urn:ietf:params:xml:ns:caldav}no-uid-conflict");
  if (e instanceof ObjectBusy) return new DavError(409, e.message);
  if (e instanceof ObjectNotFound) return new DavError(404, e.message || "no such calendar object");
  if (e instanceof UpstreamRefused) return new DavError(e.status, e.message);
  if (e instanceof NoWriteTarget) return new DavError(403, e.message, "{urn:calgate:ns}no-write-target");
  throw e;
}

export function renderError(e: DavError): DavResponse {
  const headers: Record<string, string> = { "content-type": "application/xml; charset=utf-8", ...(e.headers ?? {}) };
  const body = serialize(el(dav("error"), e.condition ? el(e.condition) : null, el("{urn:calgate:ns}message", e.message)));
  return { status: e.status, headers, body };
}
