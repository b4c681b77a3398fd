/** Apple iCal and CalendarServer extensions that real clients read (colour, order, ctag). */
import { apple, cs } from "../../xml/names.ts";
import { text } from "../../xml/tree.ts";
import { DavError } from "../errors.ts";
import type { PropertyProvider } from "./registry.ts";

export const appleProps: PropertyProvider[] = [
  {
    name: apple("calendar-color"),
    on: ["calendar"],
    allprop: false,
    get: (res) => (res.kind === "calendar" ? res.cal.color ?? undefined : undefined),
    set: (_res, v) => {
      if (v === null) return { color: null };
      const color = text(v).trim();
      if (!/^#[0-9a-f]{6}([0-9a-f]{2})?$/i.test(color)) throw new DavError(409, `calendar-color must look like #RRGGBB or #RRGGBBAA, got "${color}"`);
      return { color };
    },
  },
  {
    name: apple("calendar-order"),
    on: ["calendar"],
    allprop: false,
    get: (res) => (res.kind === "calendar" && res.cal.order !== null ? String(res.cal.order) : undefined),
    set: (_res, v) => {
      if (v === null) return { order: null };
      const n = Number(text(v).trim());
      if (!Number.isInteger(n)) throw new DavError(409, `calendar-order must be an integer, got "${text(v)}"`);
      return { order: n };
    },
  },
  {
    name: cs("getctag"),
    on: ["calendar"],
    allprop: false,
    get: (res) => (res.kind === "calendar" ? res.cal.ctag : undefined),
  },
];
