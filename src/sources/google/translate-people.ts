/**
 * ORGANIZER / ATTENDEE ↔ organizer / attendees. Only mailto: addresses map (Google needs an email); other
 * calendar addresses stay in extendedProperties. Parameters Google has no field for (RSVP, SCHEDULE-STATUS,
 * DELEGATED-*, SENT-BY, DIR, LANGUAGE, X-…) and iCalendar values Google folds together (PARTSTAT=DELEGATED,
 * ROLE=CHAIR, CUTYPE=ROOM) are restored from the shadow copy while they are still compatible with Google's value.
 */
import ICAL from "ical.js";
import type { GEvent } from "./translate-types.ts";

type Attendee = NonNullable<GEvent["attendees"]>[number];

const PARTSTAT_TO_G: Record<string, string> = { "NEEDS-ACTION": "needsAction", ACCEPTED: "accepted", DECLINED: "declined", TENTATIVE: "tentative" };
const G_TO_PARTSTAT: Record<string, string> = { needsAction: "NEEDS-ACTION", accepted: "ACCEPTED", declined: "DECLINED", tentative: "TENTATIVE" };

export const emailOf = (p: ICAL.Property): string | null => {
  const v = String(p.getFirstValue() ?? "");
  return /^mailto:/i.test(v) && v.length > 7 ? v.slice(7) : null;
};
const param = (p: ICAL.Property, name: string): string | null => {
  const v = p.getParameter(name);
  return Array.isArray(v) ? (v[0] === undefined ? null : String(v[0])) : typeof v === "string" ? v : null;
};

/** Google's view of a parameter value, for deciding whether the shadow's value is still compatible. */
export const CANON: Record<string, (v: string | null) => string> = {
  partstat: (v) => PARTSTAT_TO_G[(v ?? "NEEDS-ACTION").toUpperCase()] ?? "needsAction",
  role: (v) => ((v ?? "").toUpperCase() === "OPT-PARTICIPANT" ? "optional" : "required"),
  cutype: (v) => (["RESOURCE", "ROOM"].includes((v ?? "").toUpperCase()) ? "resource" : "person"),
  "x-num-guests": (v) => String(Number(v ?? 0) || 0),
  cn: (v) => v ?? "",
};

export function attendeeToG(p: ICAL.Property, organizerEmail: string | null): Attendee | null {
  const email = emailOf(p);
  if (!email) return null;
  const a: Attendee = { email };
  const cn = param(p, "cn");
  if (cn) a.displayName = cn;
  a.responseStatus = CANON.partstat!(param(p, "partstat"));
  if (CANON.role!(param(p, "role")) === "optional") a.optional = true;
  if (CANON.cutype!(param(p, "cutype")) === "resource") a.resource = true;
  const guests = Number(param(p, "x-num-guests") ?? 0);
  if (Number.isInteger(guests) && guests > 0) a.additionalGuests = guests;
  const comment = param(p, "x-response-comment");
  if (comment) a.comment = comment;
  void organizerEmail; // `organizer` on an attendee is read-only at Google: never sent
  return a;
}

export function organizerToG(p: ICAL.Property | null): GEvent["organizer"] | null {
  if (!p) return null;
  const email = emailOf(p);
  if (!email) return null;
  const cn = param(p, "cn");
  return cn ? { email, displayName: cn } : { email };
}

// ical.js writes DQUOTE and newlines in parameter values as RFC 6868 ^' and ^n, so values pass unchanged.
const safeParam = (s: string): string => s;

export function attendeeToIcs(a: Attendee): ICAL.Property | null {
  if (!a.email) return null;
  const p = new ICAL.Property("attendee");
  p.setValue(`mailto:${a.email}`);
  if (a.displayName) p.setParameter("cn", safeParam(a.displayName));
  const ps = G_TO_PARTSTAT[a.responseStatus ?? "needsAction"];
  if (ps && ps !== "NEEDS-ACTION") p.setParameter("partstat", ps);
  if (a.optional) p.setParameter("role", "OPT-PARTICIPANT");
  if (a.resource) p.setParameter("cutype", "RESOURCE");
  if (a.additionalGuests) p.setParameter("x-num-guests", String(a.additionalGuests));
  if (a.comment) p.setParameter("x-response-comment", safeParam(a.comment));
  return p;
}

export function organizerToIcs(o: GEvent["organizer"]): ICAL.Property | null {
  if (!o?.email) return null;
  const p = new ICAL.Property("organizer");
  p.setValue(`mailto:${o.email}`);
  if (o.displayName) p.setParameter("cn", safeParam(o.displayName));
  return p;
}

/**
 * Adds back the parameters of the shadow copy `orig` to the regenerated `p`: parameters Google has no field for,
 * and original spellings of mapped ones when Google's value still agrees (PARTSTAT=DELEGATED ~ needsAction).
 */
export function mergeShadowParams(p: ICAL.Property, orig: ICAL.Property): void {
  const params = (orig.jCal as unknown[])[1] as Record<string, unknown>;
  for (const [name, value] of Object.entries(params)) {
    if (name === "tzid" || name === "value") continue;
    const canon = CANON[name];
    const have = p.getParameter(name);
    if (have === undefined || have === null) {
      if (!canon || canon(String(value)) === canon(null)) p.setParameter(name, value as string);
    } else if (canon && canon(String(value)) === canon(String(have))) p.setParameter(name, value as string);
  }
}
