/**
 * The Event resource (reference §2): validation and normalisation of request bodies, patch
 * merging, and rendering (dateTime in the response zone; the stored `timeZone` returned as is).
 */
import { ApiError, E } from "./errors.ts";
import type { Calendar, Json, StoredEvent } from "./store.ts";
import { dateToUtcMs, deepClone, formatInZone, isDate, isoMs, isPlainObject, isValidTimeZone, parseDateTime } from "./util.ts";
import { validateRecurrence } from "./recurrence.ts";

/** Fields a client may write (others in a body are read-only and ignored). */
const WRITABLE = [
  "summary", "description", "location", "colorId", "status", "transparency", "visibility", "attendees",
  "attendeesOmitted", "reminders", "recurrence", "extendedProperties", "conferenceData", "source", "attachments",
  "guestsCanModify", "guestsCanInviteOthers", "guestsCanSeeOtherGuests", "anyoneCanAddSelf", "privateCopy",
  "locked", "sequence", "eventType", "endTimeUnspecified", "start", "end", "gadget", "focusTimeProperties",
  "outOfOfficeProperties", "workingLocationProperties", "birthdayProperties",
] as const;

const EVENT_TYPES = ["default", "outOfOffice", "focusTime", "workingLocation", "fromGmail", "birthday"];

/** Picks the writable fields of a body (plus, when allowed, identity fields). */
export function writableFields(body: Json, extra: string[] = []): Json {
  const out: Json = {};
  for (const k of [...WRITABLE, ...extra]) if (k in body) out[k] = deepClone(body[k]);
  return out;
}

/** Patch semantics (§1 events.patch): null deletes, arrays replace wholesale, objects merge. */
export function mergePatch(target: Json, patch: Json): Json {
  const out = deepClone(target);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isPlainObject(v) && isPlainObject(out[k])) {
      const base = { ...(out[k] as Json) };
      // EventDateTime: date and dateTime are alternatives, giving one replaces the other.
      if (("date" in v && v.date !== null) || ("dateTime" in v && v.dateTime !== null)) {
        if ("date" in v) delete base.dateTime;
        if ("dateTime" in v) delete base.date;
      }
      out[k] = mergePatch(base, v);
    } else out[k] = deepClone(v);
  }
  return out;
}

function normalizeTime(v: unknown, which: "start" | "end" | "originalStartTime", calTz: string): Json {
  const label = which === "originalStartTime" ? "original start" : which;
  if (!isPlainObject(v) || (v.date == null && v.dateTime == null)) {
    throw E.required(`Missing ${label} time.`);
  }
  if (v.timeZone != null && !isValidTimeZone(v.timeZone)) throw E.invalid(`Invalid time zone definition for ${label} time.`);
  if (v.date != null && v.dateTime != null) throw E.invalid(`Invalid ${label} time.`);
  if (v.date != null) {
    if (!isDate(v.date)) throw E.invalid(`Invalid ${label} time.`);
    return { date: v.date }; // timeZone is ignored for all-day events (§2)
  }
  if (typeof v.dateTime !== "string") throw E.invalid(`Invalid ${label} time.`);
  // No floating times: without offset the wall time is pinned to timeZone, else the calendar zone (§2).
  const ms = parseDateTime(v.dateTime, (v.timeZone as string | undefined) ?? calTz);
  if (ms === undefined) throw E.invalid(`Invalid ${label} time.`);
  return v.timeZone != null ? { dateTime: isoMs(ms), timeZone: v.timeZone } : { dateTime: isoMs(ms) };
}

export function startMs(t: Json): number {
  return t.date ? dateToUtcMs(t.date) : Date.parse(t.dateTime);
}

function validateReminders(r: unknown): void {
  if (!isPlainObject(r)) throw E.invalid("Invalid reminders.");
  const overrides = r.overrides;
  if (overrides === undefined || overrides === null) return;
  if (!Array.isArray(overrides)) throw E.invalid("Invalid reminders.");
  if (r.useDefault === true && overrides.length > 0) {
    throw new ApiError(400, {
      domain: "calendar",
      reason: "cannotUseDefaultRemindersAndSpecifyOverride",
      message: "Cannot specify both default reminders and overrides at the same time.",
    });
  }
  if (overrides.length > 5) throw E.invalid("The maximum number of override reminders is 5.");
  for (const o of overrides) {
    if (!isPlainObject(o) || !["email", "popup"].includes(o.method as string)) throw E.invalid("Invalid reminder method.");
    if (!Number.isInteger(o.minutes) || (o.minutes as number) < 0 || (o.minutes as number) > 40320) {
      throw E.invalid("Invalid reminder minutes value.");
    }
  }
}

function validateExtended(x: unknown): void {
  if (!isPlainObject(x)) throw E.invalid("Invalid extended properties.");
  let count = 0;
  for (const scope of ["private", "shared"]) {
    const m = x[scope];
    if (m == null) continue;
    if (!isPlainObject(m)) throw E.invalid("Invalid extended properties.");
    for (const [k, v] of Object.entries(m)) {
      count++;
      if (k.length > 44 || typeof v !== "string" || v.length > 1024) throw E.invalid("Invalid extended property value.");
    }
  }
  if (count > 300) throw E.invalid("Too many extended properties.");
}

const ENUMS: Record<string, string[]> = {
  status: ["confirmed", "tentative", "cancelled"],
  transparency: ["opaque", "transparent"],
  visibility: ["default", "public", "private", "confidential"],
  eventType: EVENT_TYPES,
};

/**
 * Validates and normalises a complete event body (insert/update/import, or a patched resource).
 * Returns the stored form of start/end/originalStartTime.
 */
export function normalizeEvent(body: Json, calTz: string): Json {
  const out = deepClone(body);
  if (body.start == null) throw E.required("Missing start time.");
  if (body.end == null) throw E.required("Missing end time.");
  out.start = normalizeTime(body.start, "start", calTz);
  out.end = normalizeTime(body.end, "end", calTz);
  if (("date" in out.start) !== ("date" in out.end)) throw E.invalid("Invalid start time.");
  // end is exclusive: timed events may last zero seconds, all-day events at least one day (§2).
  if (startMs(out.end) < startMs(out.start) || (out.start.date && out.end.date <= out.start.date)) throw E.timeRangeEmpty("end");
  if (body.originalStartTime != null) out.originalStartTime = normalizeTime(body.originalStartTime, "originalStartTime", calTz);
  for (const [k, allowed] of Object.entries(ENUMS)) {
    if (out[k] != null && !allowed.includes(out[k])) throw E.invalid(`Invalid value for: ${k}`);
  }
  if (out.recurrence != null) {
    validateRecurrence(out.recurrence);
    if (out.recurrence.length === 0) delete out.recurrence;
    // The time zone defines the expansion, so it is required for recurring timed events (§2).
    else if (out.start.dateTime && !out.start.timeZone) throw E.required("Missing time zone definition for start time.");
    else if (out.end.dateTime && !out.end.timeZone) throw E.required("Missing time zone definition for end time.");
  }
  if (out.reminders != null) validateReminders(out.reminders);
  if (out.extendedProperties != null) validateExtended(out.extendedProperties);
  if (out.attendees != null) {
    if (!Array.isArray(out.attendees)) throw E.invalid("Invalid attendees.");
    for (const a of out.attendees) {
      if (!isPlainObject(a) || typeof a.email !== "string" || a.email === "") throw E.required("Missing attendee email.");
      if (a.responseStatus == null) a.responseStatus = "needsAction";
    }
  }
  if (out.attachments != null && (!Array.isArray(out.attachments) || out.attachments.length > 25)) {
    throw E.invalid("Invalid attachments.");
  }
  if (out.sequence != null && (!Number.isInteger(out.sequence) || out.sequence < 0)) throw E.invalid("Invalid sequence value.");
  if (out.colorId != null && !/^([1-9]|1[01])$/.test(String(out.colorId))) throw E.invalid("Invalid color ID.");
  return out;
}

export interface RenderContext {
  calendar: Calendar;
  /** zone dateTime values are rendered in: the `timeZone` parameter, else the calendar's (§2) */
  tz: string;
  requester?: string;
  maxAttendees?: number;
}

const ORDER = [
  "kind", "etag", "id", "status", "htmlLink", "created", "updated", "summary", "description", "location", "colorId",
  "creator", "organizer", "start", "end", "endTimeUnspecified", "recurrence", "recurringEventId", "originalStartTime",
  "transparency", "visibility", "iCalUID", "sequence", "attendees", "attendeesOmitted", "extendedProperties",
  "hangoutLink", "conferenceData", "gadget", "anyoneCanAddSelf", "guestsCanInviteOthers", "guestsCanModify",
  "guestsCanSeeOtherGuests", "privateCopy", "locked", "reminders", "source", "attachments", "eventType",
];

function renderTime(t: Json, tz: string): Json {
  if (t.date) return { date: t.date };
  const out: Json = { dateTime: formatInZone(Date.parse(t.dateTime), tz) };
  if (t.timeZone) out.timeZone = t.timeZone;
  return out;
}

export function htmlLink(id: string, calendarId: string): string {
  const eid = Buffer.from(`${id} ${calendarId}`).toString("base64").replace(/=+$/, "");
  return `https://www.google.com/calendar/event?eid=${eid}`;
}

export function etagOf(n: number): string {
  return `"${n}"`;
}

/** The full Event resource as the API returns it. */
export function renderEvent(ev: StoredEvent, ctx: RenderContext): Json {
  if (ev.stubOnly) return renderStub(ev, ctx);
  const r = deepClone(ev.res);
  const full: Json = {
    ...r,
    kind: "calendar#event",
    etag: etagOf(ev.etagNum),
    htmlLink: htmlLink(r.id, ev.calendarId),
    created: isoMs(ev.created),
    updated: isoMs(ev.updated),
  };
  for (const k of ["start", "end", "originalStartTime"]) if (r[k]) full[k] = renderTime(r[k], ctx.tz);
  if (full.creator) full.creator = { ...full.creator, ...(full.creator.email === ctx.requester ? { self: true } : {}) };
  if (full.organizer) full.organizer = { ...full.organizer, ...(full.organizer.email === ev.calendarId || full.organizer.email === ctx.requester ? { self: true } : {}) };
  if (Array.isArray(full.attendees)) {
    full.attendees = full.attendees.map((a: Json) => ({
      ...a,
      ...(a.email === full.organizer?.email ? { organizer: true } : {}),
      ...(a.email === ev.calendarId ? { self: true } : {}),
    }));
    if (ctx.maxAttendees !== undefined && full.attendees.length > ctx.maxAttendees) {
      full.attendees = full.attendees.slice(0, ctx.maxAttendees);
      full.attendeesOmitted = true;
    }
  }
  const out: Json = {};
  for (const k of ORDER) if (full[k] !== undefined) out[k] = full[k];
  for (const k of Object.keys(full)) if (out[k] === undefined && full[k] !== undefined) out[k] = full[k];
  return out;
}

/**
 * A deleted event as incremental sync returns it (§4, §11.3): only id/etag/status (+kind), and
 * for a cancelled instance also recurringEventId/originalStartTime.
 */
export function renderStub(ev: StoredEvent, ctx: RenderContext): Json {
  const out: Json = { kind: "calendar#event", etag: etagOf(ev.etagNum), id: ev.res.id, status: "cancelled" };
  if (ev.res.recurringEventId) {
    out.recurringEventId = ev.res.recurringEventId;
    out.originalStartTime = renderTime(ev.res.originalStartTime, ctx.tz);
  }
  return out;
}
