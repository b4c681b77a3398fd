/**
 * PROPPATCH (RFC 4918 9.2): all-or-nothing. Live properties validate through their provider;
 * anything unknown on a calendar is stored as a dead property and returned as sent.
 */
import { dav, type Clark } from "../../xml/names.ts";
import { el, elements, withScope, type XmlElement } from "../../xml/tree.ts";
import { DavError, Conditions, notFound } from "../errors.ts";
import { multistatus, type PropResult } from "../../xml/multistatus.ts";
import type { CalendarProps } from "../service.ts";
import type { DavContext } from "../context.ts";
import type { DavResource } from "../resources.ts";
import type { DavDeps, MethodHandler } from "./registry.ts";
import { xmlBody } from "./body.ts";

export interface PropUpdate {
  readonly name: Clark;
  readonly value: XmlElement | null; // null = remove
}

export function parseUpdates(root: XmlElement, containers: Clark[]): PropUpdate[] {
  const out: PropUpdate[] = [];
  for (const action of elements(root)) {
    if (!containers.includes(action.name)) continue;
    const isSet = action.name === dav("set");
    for (const prop of elements(action, dav("prop"))) {
      for (const p of elements(prop)) out.push({ name: p.name, value: isSet ? p : null });
    }
  }
  return out;
}

/** Properties a mirrored calendar takes from its upstream at every sync: a local change would be undone. */
const UPSTREAM_OWNED: ReadonlySet<string> = new Set(["{DAV:}displayname", "{http://apple.com/ns/ical/}calendar-color", "{urn:ietf:params:xml:ns:caldav}calendar-description"]);

/** Validate updates into one patch; returns per-property results (all 200, or failures + 424s). */
export function planUpdates(res: DavResource, updates: readonly PropUpdate[], ctx: DavContext, deps: DavDeps, opts: { creating: boolean }): { patch: CalendarProps; results: PropResult[]; ok: boolean } {
  const patch: CalendarProps = {};
  const dead: Record<string, XmlElement | null> = {};
  const results: PropResult[] = [];
  let ok = true;
  for (const u of updates) {
    const provider = deps.props.get(u.name);
    try {
      if (provider) {
        if (!provider.set || (u.name === "{urn:ietf:params:xml:ns:caldav}supported-calendar-component-set" && !opts.creating)) {
          throw new DavError(403, `${u.name} is protected`, Conditions.cannotModifyProtectedProperty);
        }
        if (res.kind === "calendar" && res.cal.mirrorsUpstream && UPSTREAM_OWNED.has(u.name)) {
          throw new DavError(403, `${u.name} of ${res.cal.name} is owned by its upstream calendar (source "${res.cal.sourceId}"); change it there`, Conditions.cannotModifyProtectedProperty);
        }
        Object.assign(patch, provider.set(res, u.value, ctx));
      } else if (res.kind === "calendar" || opts.creating) {
        dead[u.name] = u.value === null ? null : withScope(u.value); // RFC 4918 4.3: namespaces and xml:lang kept
      } else {
        throw new DavError(403, `properties cannot be set on a ${res.kind}`, Conditions.cannotModifyProtectedProperty);
      }
      results.push({ status: 200, prop: el(u.name) });
    } catch (e) {
      if (!(e instanceof DavError)) throw e;
      ok = false;
      results.push({ status: e.status, prop: el(u.name), ...(e.condition ? { error: el(e.condition) } : {}) });
    }
  }
  if (!ok) for (const r of results) if (r.status === 200) (r as { status: number }).status = 424;
  if (Object.keys(dead).length > 0) patch.deadProps = dead;
  return { patch, results, ok };
}

export const proppatch: MethodHandler = {
  method: "PROPPATCH",
  on: ["root", "principal", "home", "calendar", "object"],
  async run(ctx, target, deps) {
    const res = target.resource;
    if (!res) throw notFound();
    const root = xmlBody(ctx, [dav("propertyupdate")], false)!;
    const updates = parseUpdates(root, [dav("set"), dav("remove")]);
    if (updates.length === 0) throw new DavError(400, "propertyupdate contains no DAV:set or DAV:remove with properties");
    const { patch, results, ok } = planUpdates(res, updates, ctx, deps, { creating: false });
    if (ok && res.kind === "calendar") await ctx.service.updateCalendar(res.cal, patch);
    return { status: 207, headers: { "content-type": "application/xml; charset=utf-8" }, body: multistatus([{ href: res.href, props: results }], false) };
  },
};
