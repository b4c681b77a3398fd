/** RFC 4918, RFC 3744 (minimal), RFC 5397 and RFC 6578 properties. */
import { cal as C, dav, type Clark } from "../../xml/names.ts";
import { el, text, type XmlElement } from "../../xml/tree.ts";
import { DAV_ROOT, homeHref, principalHref, type DavResource } from "../resources.ts";
import { DavError } from "../errors.ts";
import type { PropertyProvider } from "./registry.ts";

const href = (h: string): XmlElement => el(dav("href"), h);
const ownerOf = (res: DavResource): string | null => ("user" in res ? res.user.username : null);

const readPrivileges = ["read", "read-current-user-privilege-set"];
const writePrivileges = ["write", "write-properties", "write-content", "bind", "unbind"];

function privileges(res: DavResource): XmlElement[] {
  const names: Clark[] = readPrivileges.map(dav);
  const writable = res.kind === "calendar" || res.kind === "object" ? res.cal.writable : res.kind === "home";
  if (writable) names.push(...writePrivileges.map(dav));
  if (res.kind === "calendar" || res.kind === "object") names.push(C("read-free-busy"));
  return names.map((n) => el(dav("privilege"), el(n)));
}

const PRINCIPAL_REPORTS: Clark[] = [dav("principal-property-search"), dav("principal-search-property-set")];

function reportsFor(res: DavResource): Clark[] {
  if (res.kind === "calendar") return [C("calendar-multiget"), C("calendar-query"), C("free-busy-query"), dav("sync-collection")];
  if (res.kind === "home") return [C("calendar-multiget"), ...PRINCIPAL_REPORTS];
  if (res.kind === "principals" || res.kind === "principal") return PRINCIPAL_REPORTS;
  return [];
}

export const webdavProps: PropertyProvider[] = [
  {
    name: dav("resourcetype"),
    on: ["root", "principals", "principal", "home", "calendar", "object"],
    allprop: true,
    get: (res) => {
      switch (res.kind) {
        case "root":
        case "principals":
        case "home":
          return el(dav("collection"));
        case "principal":
          return [el(dav("collection")), el(dav("principal"))];
        case "calendar":
          return [el(dav("collection")), el(C("calendar"))];
        case "object":
          return [];
      }
    },
  },
  {
    name: dav("displayname"),
    on: ["principal", "home", "calendar"],
    allprop: true,
    get: (res) => {
      if (res.kind === "principal") return res.user.username;
      if (res.kind === "home") return `${res.user.username}'s calendars`;
      if (res.kind === "calendar") return res.cal.displayname ?? undefined;
      return undefined;
    },
    set: (_res, value) => ({ displayname: value === null ? null : text(value) }),
  },
  {
    name: dav("getetag"),
    on: ["object"],
    allprop: true,
    get: (res) => (res.kind === "object" ? res.obj.etag : undefined),
  },
  {
    name: dav("getcontenttype"),
    on: ["object", "calendar"],
    allprop: true,
    get: (res) => {
      if (res.kind === "object") return `text/calendar; charset=utf-8; component=${res.obj.component.toLowerCase()}`;
      if (res.kind === "calendar") return "text/calendar; charset=utf-8";
      return undefined;
    },
  },
  {
    name: dav("getcontentlength"),
    on: ["object"],
    allprop: true,
    get: (res) => (res.kind === "object" ? String(res.obj.size) : undefined),
  },
  {
    name: dav("getlastmodified"),
    on: ["object", "calendar"],
    allprop: true,
    get: (res) => {
      if (res.kind === "object") return new Date(res.obj.modifiedAt).toUTCString();
      return res.kind === "calendar" && res.cal.modifiedAt !== undefined ? new Date(res.cal.modifiedAt).toUTCString() : undefined;
    },
  },
  {
    // RFC 4918 15.1: RFC 3339 date-time.
    name: dav("creationdate"),
    on: ["calendar"],
    allprop: true,
    get: (res) => (res.kind === "calendar" && res.cal.createdAt !== undefined ? new Date(res.cal.createdAt).toISOString().replace(/\.\d{3}Z$/, "Z") : undefined),
  },
  {
    name: dav("current-user-principal"),
    on: ["root", "principals", "principal", "home", "calendar", "object"],
    allprop: false,
    get: (_res, ctx) => href(principalHref(ctx.user.username)),
  },
  {
    name: dav("principal-URL"),
    on: ["principal"],
    allprop: false,
    get: (res) => (res.kind === "principal" ? href(principalHref(res.user.username)) : undefined),
  },
  {
    name: dav("principal-collection-set"),
    on: ["root", "principals", "principal", "home", "calendar"],
    allprop: false,
    get: () => href(`${DAV_ROOT}principals/`),
  },
  {
    name: dav("owner"),
    on: ["principal", "home", "calendar", "object"],
    allprop: false,
    get: (res) => {
      const o = ownerOf(res);
      return o === null ? undefined : href(principalHref(o));
    },
  },
  {
    name: dav("current-user-privilege-set"),
    on: ["root", "principals", "principal", "home", "calendar", "object"],
    allprop: false,
    get: (res) => privileges(res),
  },
  {
    name: dav("supported-report-set"),
    on: ["principals", "principal", "home", "calendar"],
    allprop: false,
    get: (res) => reportsFor(res).map((r) => el(dav("supported-report"), el(dav("report"), el(r)))),
  },
  {
    name: dav("sync-token"),
    on: ["calendar"],
    allprop: false,
    get: (res) => (res.kind === "calendar" ? res.cal.syncToken : undefined),
  },
  {
    name: dav("supported-privilege-set"),
    on: ["calendar", "object"],
    allprop: false,
    get: () =>
      el(dav("supported-privilege"), el(dav("privilege"), el(dav("all"))), el(dav("abstract")), el(dav("description"), { "{http://www.w3.org/XML/1998/namespace}lang": "en" }, "Any operation"),
        [...readPrivileges, ...writePrivileges].map((p) => el(dav("supported-privilege"), el(dav("privilege"), el(dav(p))), el(dav("description"), { "{http://www.w3.org/XML/1998/namespace}lang": "en" }, p)))),
  },
];

/** Names that PROPPATCH may never change, with a reason the client can read. */
export function protectedError(name: Clark): DavError {
  return new DavError(403, `${name} is a protected property`);
}
export { homeHref };
