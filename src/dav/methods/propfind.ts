/** PROPFIND (RFC 4918 9.1): Depth 0 and 1; infinity is refused with propfind-finite-depth. */
import { dav } from "../../xml/names.ts";
import { DavError, Conditions, notFound } from "../errors.ts";
import { members } from "../resources.ts";
import { parsePropRequest, resolveProps } from "../props/resolve.ts";
import { multistatusStream, type ResponseEntry } from "../../xml/multistatus.ts";
import { xmlBody } from "./body.ts";
import type { MethodHandler } from "./registry.ts";

export const propfind: MethodHandler = {
  method: "PROPFIND",
  on: ["root", "principal", "home", "calendar", "object"],
  async run(ctx, target, deps) {
    const res = target.resource;
    if (!res) throw notFound();
    if (ctx.depth === "infinity" || (ctx.depth === null && res.kind !== "object")) {
      throw new DavError(403, "Depth: infinity is not supported; send Depth: 0 or 1", Conditions.propfindFiniteDepth);
    }
    const request = parsePropRequest(xmlBody(ctx, [dav("propfind")], true));
    const children = ctx.depth === "1" ? await members(res, ctx) : [];
    async function* entries(): AsyncGenerator<ResponseEntry> {
      yield { href: res!.href, props: await resolveProps(res!, request, ctx, deps.props) };
      for (const r of children) yield { href: r.href, props: await resolveProps(r, request, ctx, deps.props) };
    }
    return { status: 207, headers: { "content-type": "application/xml; charset=utf-8" }, body: multistatusStream(entries(), ctx.minimal) };
  },
};
