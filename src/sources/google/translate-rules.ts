/**
 * What Google lets a client change on special event types (refusedChange). Sources:
 *  [D]  discovery doc / Events reference: eventType is immutable ("cannot be modified after the event is created");
 *       fromGmail "cannot be created"; birthdayProperties immutable.
 *  [G]  guides/event-types ("The API allows updating the colorId, summary and reminders of birthday events";
 *       birthday: all-day, exactly one day, yearly recurrence, "cannot have any other event properties") and
 *       guides/calendar-status (focusTime / outOfOffice: transparency opaque, timed start/end; workingLocation:
 *       transparency transparent, visibility public; updates "must maintain the required fields").
 *  [I]  inferred, not documented as such: fromGmail editable set (reminders, colorId, visibility, status,
 *       extendedProperties — from Google's Gmail-events notes, status unverified); status events (focusTime,
 *       outOfOffice, workingLocation) refuse attendees (they are personal status, the UI offers no guests);
 *       birthday date moves are refused when a contact owns the date (birthdayProperties.contact).
 * Pure, on iCalendar text; compares the master and every override by RECURRENCE-ID.
 */
import ICAL from "ical.js";
import { TYPE_PROPS, X_COLOR, X_CONFERENCE, X_EVENT_TYPE, readJson } from "./translate-special.ts";
import { DEFAULT_MARKER } from "./translate-alarms.ts";

type Category = "summary" | "description" | "location" | "time" | "recurrence" | "status" | "transparency" | "visibility"
  | "attendees" | "reminders" | "colorId" | "conference" | "eventType" | "typeProperties" | "extendedProperties";

const BY_PROP: Record<string, Category> = {
  summary: "summary", description: "description", location: "location", dtstart: "time", dtend: "time", duration: "time",
  rrule: "recurrence", exrule: "recurrence", rdate: "recurrence", exdate: "recurrence", status: "status", transp: "transparency",
  class: "visibility", attendee: "attendees", organizer: "attendees", [DEFAULT_MARKER]: "reminders", [X_COLOR]: "colorId",
  conference: "conference", [X_CONFERENCE]: "conference", [X_EVENT_TYPE]: "eventType",
  ...Object.fromEntries(TYPE_PROPS.map((t) => [t[1], "typeProperties"])),
};
/** Maintained by the server or by every client on each save: never a change of meaning. */
const VOLATILE = new Set(["dtstamp", "last-modified", "sequence", "created", "uid", "recurrence-id"]);

const ALLOWED: Record<string, ReadonlySet<Category> | "all"> = {
  default: "all",
  fromGmail: new Set<Category>(["reminders", "colorId", "visibility", "status", "extendedProperties"]),
  birthday: new Set<Category>(["summary", "colorId", "reminders", "time"]),
  outOfOffice: "all", focusTime: "all", workingLocation: "all",
};

const WHY: Record<string, string> = {
  fromGmail: "events from Gmail only let reminders, colorId, visibility, status and extendedProperties change",
  birthday: "birthday events only let summary, colorId and reminders change (and the date of a birthday no contact owns)",
};

function norm(p: ICAL.Property): string {
  const [name, params, type, ...vals] = p.toJSON() as [string, Record<string, unknown>, string, ...unknown[]];
  return JSON.stringify([name, Object.entries(params).sort(), type, vals]);
}

/** Category → normalised content, per component key ("" = master, else RECURRENCE-ID). */
function signature(ics: string): { parts: Map<string, Map<Category, string>>; root: ICAL.Component } {
  const root = new ICAL.Component(ICAL.parse(ics) as unknown[]);
  const parts = new Map<string, Map<Category, string>>();
  for (const v of root.getAllSubcomponents("vevent")) {
    const rid = v.getFirstProperty("recurrence-id");
    const key = rid ? String(rid.getFirstValue()) : "";
    const m = new Map<Category, string[]>();
    const push = (c: Category, s: string): void => { m.set(c, [...(m.get(c) ?? []), s]); };
    for (const p of v.getAllProperties()) {
      if (VOLATILE.has(p.name)) continue;
      push(BY_PROP[p.name] ?? "extendedProperties", norm(p));
    }
    for (const a of v.getAllSubcomponents("valarm")) push("reminders", JSON.stringify(a.toJSON()));
    parts.set(key, new Map([...m].map(([c, l]) => [c, l.sort().join("\n")])));
  }
  return { parts, root };
}

function firstChange(a: Map<string, Map<Category, string>>, b: Map<string, Map<Category, string>>): { key: string; cat: Category } | null {
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(key), y = b.get(key);
    if (!x || !y) return { key, cat: "recurrence" };
    for (const cat of new Set([...x.keys(), ...y.keys()])) if ((x.get(cat) ?? "") !== (y.get(cat) ?? "")) return { key, cat };
  }
  return null;
}

const PROP_NAME: Record<Category, string> = {
  summary: "SUMMARY", description: "DESCRIPTION", location: "LOCATION", time: "DTSTART/DTEND", recurrence: "RRULE/EXDATE/overrides",
  status: "STATUS", transparency: "TRANSP", visibility: "CLASS", attendees: "ATTENDEE/ORGANIZER", reminders: "VALARM",
  colorId: X_COLOR.toUpperCase(), conference: "CONFERENCE", eventType: X_EVENT_TYPE.toUpperCase(),
  typeProperties: "X-GOOGLE-*-PROPERTIES", extendedProperties: "properties kept in extendedProperties",
};

/** Constraints the NEW text must meet for status events and birthdays (their required fields). */
function requiredFields(type: string, root: ICAL.Component): string | null {
  for (const v of root.getAllSubcomponents("vevent")) {
    const allDay = v.getFirstProperty("dtstart")?.type === "date";
    const transp = String(v.getFirstPropertyValue("transp") ?? "OPAQUE").toUpperCase();
    const cls = String(v.getFirstPropertyValue("class") ?? "").toUpperCase();
    const hasGuests = v.getAllProperties("attendee").length > 0;
    if ((type === "focusTime" || type === "outOfOffice") && allDay) return `DTSTART: a ${type} event must be timed, not all-day [G]`;
    if ((type === "focusTime" || type === "outOfOffice") && transp !== "OPAQUE") return `TRANSP: a ${type} event must stay OPAQUE [G]`;
    if (type === "workingLocation" && transp !== "TRANSPARENT") return "TRANSP: a workingLocation event must stay TRANSPARENT [G]";
    if (type === "workingLocation" && cls !== "PUBLIC") return "CLASS: a workingLocation event must stay PUBLIC [G]";
    if ((type === "focusTime" || type === "outOfOffice" || type === "workingLocation") && hasGuests) return `ATTENDEE: a ${type} event cannot have guests [I]`;
    if (type === "birthday" && !allDay) return "DTSTART: a birthday event must stay all-day [G]";
  }
  return null;
}

/** Google allows only some changes on special event types. Returns null when `next` only changes what Google lets
 *  a client change on an event whose current text is `current`, else a message naming the first property that may
 *  not change and why. */
export function refusedChange(current: string, next: string): string | null {
  let a: ReturnType<typeof signature>, b: ReturnType<typeof signature>;
  try {
    a = signature(current);
    b = signature(next);
  } catch (e) {
    return `not iCalendar: ${e instanceof Error ? e.message : String(e)}`;
  }
  const typeOf = (r: ICAL.Component): string => String(r.getFirstSubcomponent("vevent")?.getFirstPropertyValue(X_EVENT_TYPE) ?? "default") || "default";
  const type = typeOf(a.root);
  if (typeOf(b.root) !== type) return `${X_EVENT_TYPE.toUpperCase()}: the event type cannot change after creation (${type} → ${typeOf(b.root)}) [D]`;
  const req = requiredFields(type, b.root);
  if (req) return req;
  const allowed = ALLOWED[type] ?? "all";
  if (type === "birthday") {
    const contact = (readJson(a.root.getFirstSubcomponent("vevent")?.getFirstProperty("x-google-birthday-properties") ?? null) as { contact?: string } | undefined)?.contact;
    const ch = firstChange(a.parts, b.parts);
    if (ch?.cat === "time" && contact) return `DTSTART/DTEND: the date of this birthday comes from the contact ${contact}; change it there [I]`;
  }
  if (allowed === "all") return null;
  for (const key of new Set([...a.parts.keys(), ...b.parts.keys()])) {
    const x = a.parts.get(key), y = b.parts.get(key);
    const where = key ? ` (override ${key})` : "";
    if (!x || !y) return `RECURRENCE-ID${where}: ${WHY[type] ?? `${type} events cannot change this`}`;
    for (const cat of new Set([...x.keys(), ...y.keys()])) {
      if ((x.get(cat) ?? "") === (y.get(cat) ?? "") || allowed.has(cat)) continue;
      return `${PROP_NAME[cat]}${where}: ${WHY[type] ?? `${type} events cannot change this`}`;
    }
  }
  return null;
}

/** Google fields a write may carry for an event of this type ("all" = no restriction beyond the required fields);
 *  for the adapter, which should PATCH only these on special types. Same sources as ALLOWED above. */
export function editableFields(eventType: string): readonly string[] | "all" {
  switch (eventType) {
    case "fromGmail": return ["reminders", "colorId", "visibility", "status", "extendedProperties"];
    case "birthday": return ["summary", "colorId", "reminders"];
    default: return "all";
  }
}
