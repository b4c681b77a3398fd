/** PROPFIND (RFC 4918 9.1): Depth 0 and 1; infinity is refused with propfind-finite-depth. */
import { dav } from "../../xml/names.ts";
import { DavError, Conditions, notFound } from "../errors.ts";
import { members } from "../resources.ts";
import { calendarMemberResponses } from "../listing-cache.ts";
import { parsePropRequest, resolveProps } from "../props/resolve.ts";
import { multistatusStream, type ResponseEntry } from "../../xml/multistatus.ts";
import { xmlBody } from "./body.ts";
import type { MethodHandler } from "./registry.ts";
import { elements, type XmlElement } from "../../xml/tree.ts";
import { NS, splitClark } from "../../xml/names.ts";

/**
 * RFC 4918 14.20: DAV:propfind holds one of DAV:prop, DAV:propname or DAV:allprop (with an optional
 * DAV:include). Anything else from the DAV: namespace is an invalid body (400); elements of other
 * namespaces are ignored, as extensions.
 */
function checkPropfindBody(body: XmlElement): void {
  const kinds: string[] = [];
  for (const c of elements(body)) {
    const { ns, local } = splitClark(c.name);
    if (ns !== NS.DAV) continue;
    if (local === "prop" || local === "propname" || local === "allprop") kinds.push(local);
    else if (local !== "include") throw new DavError(400, `DAV:${local} is not allowed in DAV:propfind; expected one of DAV:prop, DAV:propname, DAV:allprop`);
  }
  if (kinds.length !== 1) throw new DavError(400, `DAV:propfind must hold exactly one of DAV:prop, DAV:propname, DAV:allprop; found ${kinds.length ? kinds.map((k) => "DAV:" + k).join(", ") : "none"}`);
  if (elements(body, dav("include")).length > 0 && kinds[0] !== "allprop") throw new DavError(400, "DAV:include is only allowed with DAV:allprop");
}

export const propfind: MethodHandler = {
  method: "PROPFIND",
  on: ["root", "principals", "principal", "home", "calendar", "object"],
  async run(ctx, target, deps) {
    const res = target.resource;
    if (!res) throw notFound();
    if (ctx.depth === "infinity" || (ctx.depth === null && res.kind !== "object")) {
      throw new DavError(403, "Depth: infinity is not supported; send Depth: 0 or 1", Conditions.propfindFiniteDepth);
    }
    const body = xmlBody(ctx, [dav("propfind")], true);
    if (body) checkPropfindBody(body);
    const request = parsePropRequest(body);
    // A calendar's members may come as bytes rendered before (listing-cache.ts).
    const calendarMembers = ctx.depth === "1" && res.kind === "calendar" ? await calendarMemberResponses(res, request, ctx, deps.props) : null;
    const children = ctx.depth === "1" && calendarMembers === null ? await members(res, ctx) : [];
    async function* entries(): AsyncGenerator<ResponseEntry | Buffer> {
      yield { href: res!.href, props: await resolveProps(res!, request, ctx, deps.props) };
      if (calendarMembers !== null) yield* calendarMembers;
      for (const r of children) yield { href: r.href, props: await resolveProps(r, request, ctx, deps.props) };
    }
    return { status: 207, headers: { "content-type": "application/xml; charset=utf-8" }, body: multistatusStream(entries(), ctx.minimal) };
  },
};
