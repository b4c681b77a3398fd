/** RFC 4791 CalDAV properties. */
import { cal as C, dav } from "../../xml/names.ts";
import { el, elements, text } from "../../xml/tree.ts";
import { calendarHref, homeHref, principalHref } from "../resources.ts";
import { DavError, Conditions } from "../errors.ts";
import type { PropertyProvider } from "./registry.ts";

const COMPONENTS = ["VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"];

export const caldavProps: PropertyProvider[] = [
  {
    name: C("calendar-home-set"),
    on: ["principal"],
    allprop: false,
    get: (res) => (res.kind === "principal" ? el(dav("href"), homeHref(res.user.username)) : undefined),
  },
  {
    name: C("calendar-user-address-set"),
    on: ["principal"],
    allprop: false,
    get: (res) => {
      if (res.kind !== "principal") return undefined;
      const u = res.user.username;
      const hrefs = [el(dav("href"), principalHref(u))];
      if (/^[^@\s]+@[^@\s]+$/.test(u)) hrefs.unshift(el(dav("href"), `mailto:${u}`));
      return hrefs;
    },
  },
  {
    name: C("calendar-user-type"),
    on: ["principal"],
    allprop: false,
    get: () => "INDIVIDUAL",
  },
  {
    name: C("calendar-description"),
    on: ["calendar"],
    allprop: true,
    get: (res) => (res.kind === "calendar" ? res.cal.description ?? undefined : undefined),
    set: (_res, v) => ({ description: v === null ? null : text(v) }),
  },
  {
    name: C("calendar-timezone"),
    on: ["calendar"],
    allprop: true,
    get: (res) => (res.kind === "calendar" ? res.cal.timezone ?? undefined : undefined),
    set: (_res, v) => {
      if (v === null) return { timezone: null };
      const tz = text(v);
      if (!/BEGIN:VCALENDAR/i.test(tz) || !/BEGIN:VTIMEZONE/i.test(tz)) {
        throw new DavError(403, "calendar-timezone must be a VCALENDAR containing one VTIMEZONE", Conditions.validTimezone);
      }
      return { timezone: tz };
    },
  },
  {
    name: C("supported-calendar-component-set"),
    on: ["calendar"],
    allprop: true,
    get: (res) => (res.kind === "calendar" ? res.cal.components.map((c) => el(C("comp"), { name: c })) : undefined),
    set: (_res, v) => {
      // Settable only at creation (MKCALENDAR); the mkcalendar method calls this provider directly.
      const comps = v === null ? [] : elements(v, C("comp")).map((c) => (c.attrs.name ?? "").toUpperCase());
      const bad = comps.filter((c) => !COMPONENTS.includes(c));
      if (comps.length === 0 || bad.length > 0) {
        throw new DavError(403, `supported-calendar-component-set must list some of ${COMPONENTS.join(", ")}${bad.length ? `; unsupported: ${bad.join(", ")}` : ""}`, Conditions.supportedCalendarComponent);
      }
      return { components: comps };
    },
  },
  {
    name: C("supported-calendar-data"),
    on: ["calendar"],
    allprop: false,
    get: () => el(C("calendar-data"), { "content-type": "text/calendar", version: "2.0" }),
  },
  {
    name: C("max-resource-size"),
    on: ["calendar"],
    allprop: false,
    get: (_res, ctx) => String(ctx.limits.maxResourceBytes),
  },
  {
    name: C("max-instances"),
    on: ["calendar"],
    allprop: false,
    get: (_res, ctx) => String(ctx.limits.maxInstances),
  },
];

export { calendarHref };
