/**
 * RFC 3744 9.4 DAV:principal-property-search and 9.5 DAV:principal-search-property-set. calgate's
 * principal collection holds only the authenticated user's own principal (no directory of other
 * users is exposed), so a search matches that principal or nothing.
 */
import { dav, cal as C, type Clark } from "../../xml/names.ts";
import { child, el, elements, text } from "../../xml/tree.ts";
import { serialize, textOf } from "../../xml/build.ts";
import { DavError, badRequest } from "../errors.ts";
import { multistatus } from "../../xml/multistatus.ts";
import { principalHref, type DavResource } from "../resources.ts";
import { parsePropRequest, resolveProps, type PropRequest } from "../props/resolve.ts";
import type { ReportHandler } from "./registry.ts";

/** What a client may search on (principal-search-property-set), with a description for its UI. */
const SEARCHABLE: readonly { name: Clark; description: string }[] = [
  { name: dav("displayname"), description: "Display name" },
  { name: C("calendar-user-address-set"), description: "Calendar user address (mailto: or principal URL)" },
];

interface PropertySearch {
  readonly props: readonly Clark[];
  readonly match: string;
  readonly matchType: "contains" | "starts-with" | "equals";
}
interface SearchQuery {
  readonly searches: readonly PropertySearch[];
  readonly test: "allof" | "anyof";
  readonly props: PropRequest;
}

const ON: DavResource["kind"][] = ["root", "principals", "principal", "home"];

export const principalPropertySearch: ReportHandler<SearchQuery> = {
  name: dav("principal-property-search"),
  on: ON,
  parse(root) {
    const searches = elements(root, dav("property-search")).map((ps): PropertySearch => {
      const prop = child(ps, dav("prop"));
      const match = child(ps, dav("match"));
      if (!prop || elements(prop).length === 0 || !match) throw badRequest("each DAV:property-search needs a DAV:prop naming properties and a DAV:match (RFC 3744 9.4)");
      // Apple's extension: match-type on DAV:match (default: a case-insensitive substring, as RFC 3744 suggests).
      const mt = match.attrs["match-type"] ?? "contains";
      if (mt !== "contains" && mt !== "starts-with" && mt !== "equals") throw badRequest(`match-type="${mt}"; expected contains, starts-with or equals`);
      return { props: elements(prop).map((p) => p.name), match: text(match), matchType: mt };
    });
    if (searches.length === 0) throw badRequest("DAV:principal-property-search needs at least one DAV:property-search");
    const t = root.attrs["test"] ?? "allof";
    if (t !== "allof" && t !== "anyof") throw badRequest(`test="${t}"; expected allof or anyof`);
    return { searches, test: t, props: child(root, dav("prop")) ? parsePropRequest(root) : { kind: "prop", props: [] } };
  },
  async run(q, _target, ctx, registry) {
    const principal: DavResource = { kind: "principal", href: principalHref(ctx.user.username), user: ctx.user };
    const valueOf = async (name: Clark): Promise<string[]> => {
      const [r] = await resolveProps(principal, { kind: "prop", props: [el(name)] }, ctx, registry);
      if (!r || r.status !== 200) return [];
      const hrefs = elements(r.prop, dav("href"));
      return hrefs.length > 0 ? hrefs.map((h) => text(h)) : [textOf(r.prop.children)];
    };
    const fold = (s: string): string => s.normalize("NFKC").toLowerCase();
    const hit = async (s: PropertySearch): Promise<boolean> => {
      const needle = fold(s.match);
      for (const name of s.props) {
        for (const v of await valueOf(name)) {
          const hay = fold(v);
          if (s.matchType === "equals" ? hay === needle : s.matchType === "starts-with" ? hay.startsWith(needle) : hay.includes(needle)) return true;
        }
      }
      return false;
    };
    const results = await Promise.all(q.searches.map(hit));
    const matched = q.test === "allof" ? results.every(Boolean) : results.some(Boolean);
    const entries = matched ? [{ href: principal.href, props: await resolveProps(principal, q.props, ctx, registry) }] : [];
    return { status: 207, headers: { "content-type": "application/xml; charset=utf-8" }, body: multistatus(entries, ctx.minimal) };
  },
};

export const principalSearchPropertySet: ReportHandler<null> = {
  name: dav("principal-search-property-set"),
  on: ON,
  parse(root, ctx) {
    if (elements(root).length > 0) throw badRequest("DAV:principal-search-property-set has no content (RFC 3744 9.5)");
    if (ctx.depth !== null && ctx.depth !== "0") throw new DavError(400, "DAV:principal-search-property-set is a Depth: 0 report (RFC 3744 9.5)");
    return null;
  },
  async run() {
    const body = el(dav("principal-search-property-set"), SEARCHABLE.map((p) =>
      el(dav("principal-search-property"), el(dav("prop"), el(p.name)), el(dav("description"), { "{http://www.w3.org/XML/1998/namespace}lang": "en" }, p.description))));
    return { status: 200, headers: { "content-type": "application/xml; charset=utf-8" }, body: serialize(body) };
  },
};
