/**
 * Event rendering (reference §3): property set and order of the samples, start/end in the response
 * zone (UTC unless `Prefer: outlook.timezone` was honoured) with 7 fractional digits and no offset,
 * all-day events always midnight-to-midnight, weak etags `W/"<changeKey>"`, body conversion for
 * `Prefer: outlook.body-content-type`. Occurrences in delta are skeletal (§2).
 */
import { renderRecurrence } from "./recurrence.ts";
import { oid, type Calendar, type Json, type Slot, type StoredEvent } from "./store.ts";
import { dateOf, graphDateTime, utc7, utcNoFrac } from "./util.ts";

export interface RenderCtx {
  zoneName: string; // as echoed in timeZone
  iana: string; // what it is computed with
  bodyText: boolean;
  baseUrl: string;
  calendar: Calendar;
}

export interface Instance {
  id: string;
  master?: StoredEvent; // occurrence or exception
  event?: StoredEvent; // single, master or exception
  date?: string; // occurrence date (local to the recurrence zone)
  start: Slot;
  end: Slot;
  isAllDay: boolean;
  originalStartMs?: number;
}

export const etagOf = (changeKey: string): string => `W/"${changeKey}"`;

export function slot(s: Slot, allDay: boolean, ctx: RenderCtx): { dateTime: string; timeZone: string } {
  const dateTime = allDay ? `${dateOf(s.at)}T00:00:00.0000000` : graphDateTime(s.at, ctx.iana);
  return { dateTime, timeZone: ctx.zoneName };
}

const ENTITIES: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'", "&nbsp;": " " };
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|head)[\s\S]*?<\/\1>/gi, "")
    .replace(/<br\s*\/?>/gi, "\r\n")
    .replace(/<\/(p|div|li|tr|h\d)>/gi, "\r\n")
    .replace(/<[^>]+>/g, "")
    .replace(/&(amp|lt|gt|quot|#39|nbsp);/g, (m) => ENTITIES[m] ?? m)
    .replace(/(\r\n)+$/, "");
}
function textToHtml(text: string): string {
  const esc = text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\r?\n/g, "<br>\r\n");
  return `<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n</head>\r\n<body>\r\n${esc}\r\n</body>\r\n</html>\r\n`;
}

function body(props: Json, ctx: RenderCtx): { contentType: string; content: string } {
  const b = props.body ?? { contentType: "html", content: "" };
  const isHtml = String(b.contentType ?? "html").toLowerCase() === "html";
  const content = String(b.content ?? "");
  if (ctx.bodyText) return { contentType: "text", content: isHtml ? htmlToText(content) : content };
  return { contentType: "html", content: isHtml || content === "" ? content : textToHtml(content) };
}

function preview(props: Json): string {
  const b = props.body ?? {};
  const text = String(b.contentType ?? "html").toLowerCase() === "html" ? htmlToText(String(b.content ?? "")) : String(b.content ?? "");
  return text.replace(/\s+/g, " ").trim().slice(0, 255);
}

/** Full rendering of a stored event or an occurrence (master + date + computed slot). */
export function renderInstance(inst: Instance, ctx: RenderCtx): Json {
  const src = inst.event ?? inst.master!;
  const master = inst.master;
  const p = src.props;
  const type = inst.event ? inst.event.type : "occurrence";
  const allDay = inst.isAllDay;
  const changeKey = src.changeKey;
  const uid = master ? master.uid : src.uid;
  const iCalUId = type === "occurrence" || type === "exception" ? occICalUId(uid, inst.date ?? "") : src.iCalUId;
  const loc = normLocation(p.location);
  const out: Json = {
    "@odata.etag": etagOf(changeKey),
    createdDateTime: utc7(src.created, src.sub),
    lastModifiedDateTime: utc7(src.modified, src.sub),
    changeKey,
    categories: [...(p.categories ?? [])],
    transactionId: src.transactionId ?? null,
    originalStartTimeZone: src.originalStartTimeZone,
    originalEndTimeZone: src.originalEndTimeZone,
    iCalUId,
    uid,
    reminderMinutesBeforeStart: p.reminderMinutesBeforeStart ?? 15,
    isReminderOn: p.isReminderOn ?? true,
    hasAttachments: false,
    subject: p.subject ?? "",
    bodyPreview: preview(p),
    importance: p.importance ?? "normal",
    sensitivity: p.sensitivity ?? "normal",
    ...(inst.originalStartMs !== undefined ? { originalStart: utcNoFrac(inst.originalStartMs) } : {}),
    isAllDay: allDay,
    isCancelled: false,
    isOrganizer: true,
    responseRequested: p.responseRequested ?? true,
    seriesMasterId: master ? master.id : null,
    showAs: p.showAs ?? (allDay ? "free" : "busy"),
    type,
    webLink: `https://outlook.office365.com/owa/?itemid=${encodeURIComponent(inst.id)}&exvsurl=1&path=/calendar/item`,
    onlineMeetingUrl: null,
    isOnlineMeeting: p.isOnlineMeeting ?? false,
    onlineMeetingProvider: p.onlineMeetingProvider ?? "unknown",
    allowNewTimeProposals: p.allowNewTimeProposals ?? true,
    occurrenceId: master ? oid(master.id, inst.date!) : null,
    isDraft: p.isDraft ?? false,
    hideAttendees: p.hideAttendees ?? false,
    recurrence: type === "seriesMaster" && src.recurrence ? renderRecurrence(src.recurrence, src.start.timeZone) : null,
    responseStatus: { response: "organizer", time: "0001-01-01T00:00:00Z" },
    body: body(p, ctx),
    start: slot(inst.start, allDay, ctx),
    end: slot(inst.end, allDay, ctx),
    location: loc,
    locations: Array.isArray(p.locations) ? p.locations.map(normLocation) : loc.displayName ? [loc] : [],
    attendees: (p.attendees ?? []).map((a: Json) => ({ type: a.type ?? "required", status: a.status ?? { response: "none", time: "0001-01-01T00:00:00Z" }, emailAddress: a.emailAddress })),
    organizer: p.organizer ?? { emailAddress: { name: ctx.calendar.owner.name, address: ctx.calendar.owner.address } },
    onlineMeeting: p.isOnlineMeeting ? { joinUrl: `https://teams.microsoft.com/l/meetup-join/19%3ameeting_${inst.id.slice(8, 20)}%40thread.v2/0` } : null,
    id: inst.id,
  };
  return out;
}

/** A location as Graph returns it (sample: displayName + locationType + uniqueId/uniqueIdType). */
function normLocation(l: Json | undefined): Json {
  if (!l || !l.displayName) return { displayName: "", locationType: "default", uniqueIdType: "unknown", address: {}, coordinates: {}, ...(l ?? {}) };
  return { displayName: l.displayName, locationType: l.locationType ?? "default", uniqueId: l.uniqueId ?? l.displayName, uniqueIdType: l.uniqueIdType ?? "private", ...l };
}

export function occICalUId(uid: string, date: string): string {
  // docs: iCalUId differs per occurrence; uid is the same across the series (reference §3).
  let h = 0;
  for (const c of uid + date) h = (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0;
  return uid.slice(0, 40) + h.toString(16).toUpperCase().padStart(8, "0") + uid.slice(48);
}

/** What delta carries for an occurrence: only these fields (reference §2, sample). */
export function skeletal(inst: Instance, ctx: RenderCtx): Json {
  return {
    "@odata.type": "#microsoft.graph.event",
    "@odata.etag": etagOf(inst.master!.changeKey),
    seriesMasterId: inst.master!.id,
    type: "occurrence",
    start: slot(inst.start, inst.isAllDay, ctx),
    end: slot(inst.end, inst.isAllDay, ctx),
    id: inst.id,
  };
}

/** Fields that Graph only returns when $select names them (event-get 2025 revision). */
const ON_DEMAND = ["occurrenceId", "exceptionOccurrences", "cancelledOccurrences"];

/** `$select`: keep the named properties (+ @odata.etag and id); without it drop on-demand fields. */
export function applySelect(ev: Json, select: string[] | undefined): Json {
  if (!select) {
    const out = { ...ev };
    for (const k of ON_DEMAND) delete out[k];
    return out;
  }
  const keep = new Set(select.map((s) => s.trim()).filter(Boolean));
  const out: Json = {};
  for (const [k, v] of Object.entries(ev)) if (k === "@odata.etag" || k === "@odata.type" || k === "id" || keep.has(k)) out[k] = v;
  return out;
}

export function parseSelect(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  return v.split(",").map((s) => s.trim()).filter(Boolean);
}
