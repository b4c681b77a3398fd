/** MKCALENDAR (RFC 4791 5.3.1) and extended MKCOL (RFC 5689) creating calendars under the home. */
import { cal as C, dav } from "../../xml/names.ts";
import { elements, el } from "../../xml/tree.ts";
import { DavError, Conditions } from "../errors.ts";
import type { DavContext, DavResponse } from "../context.ts";
import type { DavResource, Resolved } from "../resources.ts";
import { serialize } from "../../xml/build.ts";
import { statusLine } from "../../xml/multistatus.ts";
import { xmlBody } from "./body.ts";
import { parseUpdates, planUpdates } from "./proppatch.ts";
import type { DavDeps, MethodHandler } from "./registry.ts";

const ALL_COMPONENTS: readonly string[] = ["VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"];

async function create(ctx: DavContext, target: Resolved, deps: DavDeps, extended: boolean): Promise<DavResponse> {
  if (target.resource) {
    if (extended) throw new DavError(405, `${target.resource.href} already exists`);
    throw new DavError(403, `${target.resource.href} already exists`, Conditions.resourceMustBeNull);
  }
  const m = target.missing;
  if (m?.kind === "missing-parent") throw new DavError(409, `calendar ${m.calName} does not exist: collections cannot be made inside it`);
  if (!m || m.kind !== "missing-calendar") {
    throw new DavError(403, "calendars can only be created directly inside the calendar home", Conditions.calendarCollectionLocationOk);
  }
  const root = extended ? xmlBody(ctx, [dav("mkcol")], true) : xmlBody(ctx, [C("mkcalendar")], true);
  let updates = root ? parseUpdates(root, [dav("set")]) : [];
  if (extended) {
    const rt = updates.find((u) => u.name === dav("resourcetype"));
    const kinds = rt?.value ? elements(rt.value).map((e) => e.name) : [];
    if (!kinds.includes(C("calendar"))) {
      throw new DavError(403, "calgate only holds calendar collections: MKCOL must set resourcetype to DAV:collection + CALDAV:calendar (RFC 5689)", Conditions.validResourcetype);
    }
    updates = updates.filter((u) => u.name !== dav("resourcetype"));
  }
  // Validate against a placeholder calendar resource, then create with the resulting properties.
  const placeholder: DavResource = {
    kind: "calendar",
    href: m.href,
    user: m.user,
    cal: { id: 0, owner: m.user.username, name: m.name, sourceId: "local", sourceType: "local", displayname: null, description: null, color: null, order: null, timezone: null, components: ["VEVENT", "VTODO"], syncToken: "", ctag: "", deadProps: {}, writable: true, mirrorsUpstream: false },
  };
  const { patch, results, ok } = planUpdates(placeholder, updates, ctx, deps, { creating: true });
  if (!ok) {
    const rootName = extended ? dav("mkcol-response") : C("mkcalendar-response");
    // RFC 4791 5.3.1.2 / RFC 5689: failed properties are reported in an *-response body.
    const statuses = [...new Set(results.map((r) => r.status))];
    const propstats = statuses.map((st) => el(dav("propstat"), el(dav("prop"), results.filter((r) => r.status === st).map((r) => r.prop)), el(dav("status"), statusLine(st))));
    return { status: 403, headers: { "content-type": "application/xml; charset=utf-8" }, body: serialize(el(rootName, propstats)) };
  }
  // RFC 4791 5.2.3: without a supported-calendar-component-set the calendar accepts every component type.
  patch.components ??= ALL_COMPONENTS;
  await ctx.service.createCalendar(m.user, m.name, patch);
  return { status: 201, headers: { "cache-control": "no-cache", location: m.href } };
}

export const mkcalendar: MethodHandler = {
  method: "MKCALENDAR",
  on: ["missing-calendar", "missing-object", "missing-collection", "missing-parent", "root", "principal", "home", "calendar", "object"],
  run: (ctx, target, deps) => create(ctx, target, deps, false),
};

export const mkcol: MethodHandler = {
  method: "MKCOL",
  on: ["missing-calendar", "missing-object", "missing-collection", "missing-parent", "root", "principal", "home", "calendar", "object"],
  run: (ctx, target, deps) => {
    const m = target.missing;
    if (m && (m.kind === "missing-object" || m.kind === "missing-collection")) {
      // RFC 4791 4.2: a calendar holds no collections (issue 14 item 12: 403 with the reason, not 404).
      throw new DavError(403, `${m.href} is inside calendar ${m.cal.name}; a calendar collection cannot contain collections, so MKCOL is only allowed in the calendar home`, Conditions.calendarCollectionLocationOk);
    }
    if (m?.kind === "missing-parent") throw new DavError(409, `calendar ${m.calName} does not exist: collections cannot be made inside it`);
    if (ctx.req.body.trim() === "") {
      const where = target.resource ? 405 : 403;
      throw new DavError(where, target.resource ? `${target.resource.href} already exists` : "calgate only holds calendar collections: use MKCALENDAR or an extended MKCOL (RFC 5689) with a CALDAV:calendar resourcetype", target.resource ? undefined : Conditions.validResourcetype);
    }
    return create(ctx, target, deps, true);
  },
};
