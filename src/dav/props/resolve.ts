/** Resolves a prop request against the registry and dead properties, one provider per property. */
import { dav, type Clark } from "../../xml/names.ts";
import { child, el, elements, SerialisedText, type XmlElement, type XmlNode } from "../../xml/tree.ts";
import { DavError, badRequest } from "../errors.ts";
import type { DavContext } from "../context.ts";
import type { DavResource } from "../resources.ts";
import type { PropResult } from "../../xml/multistatus.ts";
import type { PropertyRegistry } from "./registry.ts";

export type PropRequest =
  | { readonly kind: "prop"; readonly props: readonly XmlElement[] }
  | { readonly kind: "allprop"; readonly include: readonly XmlElement[] }
  | { readonly kind: "propname" };

/** Per-request overrides, e.g. calendar-data inside a REPORT. */
export type PropOverride = (res: DavResource, request: XmlElement) => Promise<XmlNode[] | XmlNode | SerialisedText | undefined> | XmlNode[] | XmlNode | SerialisedText | undefined;

/** Parse the DAV:prop / allprop / propname child of a propfind or report body. */
export function parsePropRequest(root: XmlElement | undefined): PropRequest {
  if (root === undefined) return { kind: "allprop", include: [] };
  const prop = child(root, dav("prop"));
  if (prop) return { kind: "prop", props: elements(prop) };
  if (child(root, dav("propname"))) return { kind: "propname" };
  if (child(root, dav("allprop"))) {
    const inc = child(root, dav("include"));
    return { kind: "allprop", include: inc ? elements(inc) : [] };
  }
  throw badRequest(`${root.name} must contain DAV:prop, DAV:allprop or DAV:propname`);
}

function deadProps(res: DavResource): Readonly<Record<string, XmlElement>> {
  return res.kind === "calendar" ? res.cal.deadProps : {};
}

export async function resolveProps(
  res: DavResource,
  request: PropRequest,
  ctx: DavContext,
  registry: PropertyRegistry,
  overrides: ReadonlyMap<Clark, PropOverride> = new Map(),
): Promise<PropResult[]> {
  const dead = deadProps(res);
  if (request.kind === "propname") {
    const names = [...registry.forKind(res.kind).map((p) => p.name), ...(Object.keys(dead) as Clark[])];
    return names.map((n) => ({ status: 200, prop: el(n) }));
  }
  let wanted: XmlElement[];
  if (request.kind === "allprop") {
    const names = new Set<Clark>([...registry.forKind(res.kind).filter((p) => p.allprop).map((p) => p.name), ...(Object.keys(dead) as Clark[])]);
    for (const i of request.include) names.add(i.name);
    wanted = [...names].map((n) => el(n));
  } else wanted = [...request.props];

  const out: PropResult[] = [];
  for (const w of wanted) {
    const override = overrides.get(w.name);
    const provider = registry.get(w.name);
    try {
      let value: XmlNode[] | XmlNode | SerialisedText | undefined;
      // Most providers answer synchronously; only await real promises (a hot path for Depth 1).
      let got: unknown;
      if (override) got = override(res, w);
      else if (provider && provider.on.includes(res.kind)) got = provider.get(res, ctx);
      else if (dead[w.name]) {
        out.push({ status: 200, prop: dead[w.name]! });
        continue;
      }
      value = (got instanceof Promise ? await got : got) as XmlNode[] | XmlNode | SerialisedText | undefined;
      if (value === undefined) {
        // allprop lists only what exists; an explicit request for a missing one is a 404 propstat.
        if (request.kind === "prop") out.push({ status: 404, prop: el(w.name) });
        continue;
      }
      if (value instanceof SerialisedText) {
        // Byte writers copy `bytes`; the text is decoded only for a serialiser that asks for it.
        const text = value;
        out.push({ status: 200, prop: { name: w.name, attrs: {}, get children() { return [text.text]; }, bytes: value.bytes } });
      }
      else out.push({ status: 200, prop: el(w.name, {}, Array.isArray(value) ? value : [value]) });
    } catch (e) {
      if (e instanceof DavError) out.push({ status: e.status, prop: el(w.name), ...(e.condition ? { error: el(e.condition) } : {}) });
      else throw e;
    }
  }
  return out;
}
