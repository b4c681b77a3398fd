/**
 * Event writes and instance computation (reference §3–§5): create (201, transactionId makes a
 * retried create idempotent), PATCH (partial; on an occurrence id it materialises an exception;
 * If-Match against the weak etag → 412 ErrorIrresolvableConflict), DELETE (on an occurrence id it
 * cancels that occurrence), occurrence/exception expansion of series in a window.
 */
import { E, GraphApiError } from "./errors.ts";
import { mergeExtProps } from "./extprops.ts";
import { isOccurrenceDate, occurrenceDates, parseRecurrence } from "./recurrence.ts";
import type { Instance } from "./render.ts";
import { etagOf } from "./render.ts";
import { occurrenceIdOf, parseId, type Json, type Slot, type StoredEvent, type Store } from "./store.ts";
import { DAY_MS, dateOf, dayNum, deepClone, ianaOf, isPlainObject, parseWall, wallAt, wallDate, wallToUtc, windowsOf } from "./util.ts";

const WRITABLE = new Set([
  "subject", "body", "location", "locations", "attendees", "categories", "importance", "sensitivity", "showAs",
  "reminderMinutesBeforeStart", "isReminderOn", "isOnlineMeeting", "onlineMeetingProvider", "responseRequested",
  "allowNewTimeProposals", "hideAttendees", "isDraft", "organizer", "singleValueExtendedProperties", "multiValueExtendedProperties",
]);
const TIMING = new Set(["start", "end", "isAllDay", "recurrence", "originalStartTimeZone", "originalEndTimeZone", "transactionId"]);
const READ_ONLY = new Set([
  "id", "@odata.etag", "@odata.type", "@odata.context", "changeKey", "createdDateTime", "lastModifiedDateTime", "type", "seriesMasterId",
  "iCalUId", "uid", "bodyPreview", "hasAttachments", "webLink", "isOrganizer", "responseStatus", "isCancelled", "originalStart",
  "onlineMeetingUrl", "onlineMeeting", "occurrenceId", "cancelledOccurrences", "exceptionOccurrences", "instances", "calendar",
]);
const ENUMS: Record<string, string[]> = {
  showAs: ["free", "tentative", "busy", "oof", "workingElsewhere", "unknown"],
  sensitivity: ["normal", "personal", "private", "confidential"],
  importance: ["low", "normal", "high"],
  onlineMeetingProvider: ["unknown", "teamsForBusiness", "skypeForBusiness", "skypeForConsumer"],
};

export class EventOps {
  constructor(
    private readonly store: Store,
    private readonly mailboxZone: (upn: string) => string,
    private readonly opts: { seriesEditDropsExceptions: boolean },
  ) {}

  // Parsing ---------------------------------------------------------------------------------------
  private validateProps(body: Json, patch: boolean): Json {
    const props: Json = {};
    for (const [k, v] of Object.entries(body)) {
      if (READ_ONLY.has(k) || TIMING.has(k) || k.startsWith("@")) continue;
      if (!WRITABLE.has(k)) throw new GraphApiError(400, "RequestBodyRead", `The property '${k}' does not exist on type 'microsoft.graph.event'. Make sure to only use property names that are defined by the type or mark the type as open type.`);
      if (ENUMS[k] && !ENUMS[k]!.includes(v as string)) throw new GraphApiError(400, "RequestBodyRead", `Cannot convert the literal '${String(v)}' to the expected type 'microsoft.graph.${k}'.`);
      if (k === "attendees") {
        if (!Array.isArray(v) || v.length > 500) throw E.validation("attendees must be a collection of at most 500 attendees.");
        for (const a of v) {
          if (!isPlainObject(a) || !isPlainObject(a.emailAddress)) throw E.validation("An attendee needs an emailAddress.");
          if (a.type !== undefined && !["required", "optional", "resource"].includes(a.type)) throw new GraphApiError(400, "RequestBodyRead", `Cannot convert the literal '${String(a.type)}' to the expected type 'microsoft.graph.attendeeType'.`);
        }
      }
      if (k === "body" && (!isPlainObject(v) || !["html", "text"].includes(String(v.contentType ?? "html").toLowerCase()))) throw E.validation("body.contentType must be html or text.");
      if (k === "isOnlineMeeting" && patch === true && v === false) continue; // once enabled it cannot be turned off (§3)
      props[k] = deepClone(v);
      if (k === "location") props.locations = isPlainObject(v) && v.displayName ? [deepClone(v)] : [];
    }
    return props;
  }

  private zone(tz: unknown): string {
    if (typeof tz !== "string" || tz === "") throw E.validation("A time zone is required in start and end.");
    if (!ianaOf(tz)) throw E.timeZone(tz);
    return tz;
  }

  /** start/end/isAllDay of a write, merged onto the current values (§3: all-day = midnight to midnight). */
  private timing(body: Json, cur?: { isAllDay: boolean; start: Slot; end: Slot }): { isAllDay: boolean; start: Slot; end: Slot } | undefined {
    if (!("start" in body) && !("end" in body) && !("isAllDay" in body)) return undefined;
    const isAllDay = body.isAllDay ?? cur?.isAllDay ?? false;
    if (typeof isAllDay !== "boolean") throw new GraphApiError(400, "RequestBodyRead", "isAllDay must be a boolean.");
    const part = (name: "start" | "end"): Slot => {
      const v = body[name];
      if (v === undefined) {
        if (!cur) throw E.validation(`Your request can't be completed. The '${name}' property is required.`);
        if (cur.isAllDay !== isAllDay) throw E.validation(`Changing isAllDay needs both start and end.`);
        return cur[name];
      }
      if (!isPlainObject(v)) throw new GraphApiError(400, "RequestBodyRead", `${name} must be a dateTimeTimeZone.`);
      const tz = this.zone(v.timeZone);
      const w = parseWall(v.dateTime);
      if (!w) throw new GraphApiError(400, "RequestBodyRead", `Cannot convert the literal '${String(v.dateTime)}' to the expected type 'Edm.DateTime'.`);
      if (isAllDay) {
        if (w.h || w.mi || w.s || w.ms) throw E.validation("Your request can't be completed. If the event is an all-day event, the start and end times must be set to midnight in the same time zone.");
        return { timeZone: tz, at: dayNum(wallDate(w)) };
      }
      return { timeZone: tz, at: wallToUtc(w, ianaOf(tz)!) };
    };
    const start = part("start");
    const end = part("end");
    if (isAllDay && start.timeZone !== end.timeZone && body.start && body.end) {
      throw E.validation("Your request can't be completed. If the event is an all-day event, the start and end times must be set to midnight in the same time zone.");
    }
    if (end.at < start.at || (isAllDay && end.at === start.at)) throw E.validation("The end of the event must not be before its start.");
    return { isAllDay, start, end };
  }

  /** The local date the series counts from (range.startDate must equal it, §4). */
  private startDate(ev: { isAllDay: boolean; start: Slot }): string {
    return ev.isAllDay ? dateOf(ev.start.at) : wallDate(wallAt(ev.start.at, ianaOf(ev.start.timeZone)!));
  }

  // Create ----------------------------------------------------------------------------------------
  create(upn: string, calendarId: string, body: Json): { event: StoredEvent; created: boolean } {
    if (!isPlainObject(body)) throw E.badRequest("Empty Payload. JSON content expected.");
    const tx = body.transactionId;
    if (tx !== undefined && tx !== null) {
      const prior = this.store.transactions.get(`${upn}\u0000${String(tx)}`);
      const ev = prior ? this.store.events.get(prior) : undefined;
      if (ev) return { event: ev, created: false };
    }
    const props = this.validateProps(body, false);
    const t = this.timing(body);
    if (!t) throw E.validation("Your request can't be completed. The 'start' property is required.");
    const now = this.store.now();
    const ev: StoredEvent = {
      id: this.store.newId("item", upn), upn, calendarId, type: "singleInstance", props, ...t,
      cancelled: new Set(), exceptions: new Map(), changeKey: this.store.newChangeKey(), created: now, modified: now,
      sub: Math.floor(this.store.rng() * 10000), iCalUId: "", uid: this.store.newUid(),
      originalStartTimeZone: windowsOf(typeof body.originalStartTimeZone === "string" ? body.originalStartTimeZone : t.start.timeZone),
      originalEndTimeZone: windowsOf(typeof body.originalEndTimeZone === "string" ? body.originalEndTimeZone : t.end.timeZone),
      seq: 0,
    };
    ev.iCalUId = ev.uid;
    if (body.recurrence !== undefined && body.recurrence !== null) {
      ev.recurrence = parseRecurrence(body.recurrence, this.startDate(ev), (z) => !!ianaOf(z));
      ev.type = "seriesMaster";
    }
    if (tx !== undefined && tx !== null) {
      ev.transactionId = String(tx);
      this.store.transactions.set(`${upn}\u0000${String(tx)}`, ev.id);
    }
    this.store.events.set(ev.id, ev);
    this.store.touch(ev, false);
    this.store.emit({ upn, calendarId, id: ev.id, changeType: "created", etag: etagOf(ev.changeKey) });
    return { event: ev, created: true };
  }

  // Resolution ------------------------------------------------------------------------------------
  /** Looks an id up like Exchange: malformed → 400, unknown/cancelled → 404. */
  resolve(upn: string, id: string): Instance {
    const p = parseId(id, upn);
    if (!p || p.kind === "calendar") throw E.idMalformed();
    const inst = this.instanceById(upn, id);
    if (!inst) throw E.notFound();
    return inst;
  }

  instanceById(upn: string, id: string): Instance | undefined {
    const p = parseId(id, upn);
    if (!p) return undefined;
    if (p.kind === "item") {
      const ev = this.store.events.get(id);
      if (!ev || ev.upn !== upn) return undefined;
      if (ev.type === "exception") return this.exceptionInstance(ev);
      return { id, event: ev, start: ev.start, end: ev.end, isAllDay: ev.isAllDay };
    }
    if (p.kind !== "occurrence") return undefined;
    const master = this.store.events.get(p.masterId);
    if (!master || master.upn !== upn || !master.recurrence) return undefined;
    if (master.cancelled.has(p.date)) return undefined;
    const exId = master.exceptions.get(p.date);
    if (exId) return this.exceptionInstance(this.store.events.get(exId)!);
    if (!isOccurrenceDate(master.recurrence, p.date)) return undefined;
    return this.occurrence(master, p.date);
  }

  private exceptionInstance(ev: StoredEvent): Instance {
    return { id: ev.id, event: ev, master: this.store.events.get(ev.masterId!), date: ev.occurrenceDate, start: ev.start, end: ev.end, isAllDay: ev.isAllDay, originalStartMs: ev.originalStartMs };
  }

  /** The slot of an occurrence: the master's local start time on `date` in the recurrence zone. */
  occurrence(master: StoredEvent, date: string): Instance {
    const id = occurrenceIdOf(master.id, date);
    if (master.isAllDay) {
      const at = dayNum(date);
      return { id, master, date, isAllDay: true, start: { ...master.start, at }, end: { ...master.end, at: at + (master.end.at - master.start.at) }, originalStartMs: at * DAY_MS };
    }
    const rz = ianaOf(master.recurrence?.range.recurrenceTimeZone ?? master.start.timeZone)!;
    const w = wallAt(master.start.at, rz);
    const [y, mo, d] = date.split("-").map(Number) as [number, number, number];
    const at = wallToUtc({ ...w, y, mo, d }, rz);
    return { id, master, date, isAllDay: false, start: { ...master.start, at }, end: { ...master.end, at: at + (master.end.at - master.start.at) }, originalStartMs: at };
  }

  /** Occurrences and exceptions of a series overlapping [from, to) (cancelled ones absent, §4). */
  instancesOf(master: StoredEvent, from: number, to: number): Instance[] {
    if (!master.recurrence) return [];
    const tz = ianaOf(this.mailboxZone(master.upn)) ?? "UTC";
    const rz = master.isAllDay ? "UTC" : ianaOf(master.recurrence.range.recurrenceTimeZone ?? master.start.timeZone)!;
    const until = dateOf(dayNum(wallDate(wallAt(to, rz))) + 1);
    const out: Instance[] = [];
    for (const date of occurrenceDates(master.recurrence, until)) {
      if (master.cancelled.has(date) || master.exceptions.has(date)) continue;
      const inst = this.occurrence(master, date);
      if (this.overlaps(inst, from, to, tz)) out.push(inst);
    }
    for (const ex of this.store.exceptionsOf(master)) {
      const inst = this.exceptionInstance(ex);
      if (this.overlaps(inst, from, to, tz)) out.push(inst);
    }
    return out.sort((a, b) => this.instant(a.start, a.isAllDay, tz) - this.instant(b.start, b.isAllDay, tz));
  }

  /** All-day dates are floating; they are placed in the mailbox zone for window tests. */
  private instant(s: Slot, allDay: boolean, tz: string): number {
    if (!allDay) return s.at;
    const [y, mo, d] = dateOf(s.at).split("-").map(Number) as [number, number, number];
    return wallToUtc({ y, mo, d, h: 0, mi: 0, s: 0, ms: 0 }, tz);
  }
  private overlaps(i: Instance, from: number, to: number, tz: string): boolean {
    const s = this.instant(i.start, i.isAllDay, tz);
    const e = this.instant(i.end, i.isAllDay, tz);
    return s === e ? s >= from && s < to : s < to && e > from;
  }

  /** What a calendarView over [from, to) shows: singles, occurrences, exceptions — never masters. */
  window(calendarId: string, from: number, to: number): Instance[] {
    const out: Instance[] = [];
    for (const ev of this.store.calendarEvents(calendarId)) {
      if (ev.type === "singleInstance") {
        const inst: Instance = { id: ev.id, event: ev, start: ev.start, end: ev.end, isAllDay: ev.isAllDay };
        if (this.overlaps(inst, from, to, ianaOf(this.mailboxZone(ev.upn)) ?? "UTC")) out.push(inst);
      } else if (ev.type === "seriesMaster") out.push(...this.instancesOf(ev, from, to));
    }
    return out;
  }

  // Update / delete -------------------------------------------------------------------------------
  private checkIfMatch(current: string, ifMatch: string | undefined): void {
    if (ifMatch === undefined || ifMatch.trim() === "*") return;
    const norm = (s: string) => s.trim().replace(/^W\//, "");
    if (norm(ifMatch) !== norm(current)) throw E.conflict(412);
  }

  update(upn: string, id: string, patch: Json, ifMatch?: string): StoredEvent {
    if (!isPlainObject(patch)) throw E.badRequest("Empty Payload. JSON content expected.");
    const inst = this.resolve(upn, id);
    this.checkIfMatch(etagOf((inst.event ?? inst.master!).changeKey), ifMatch);
    const props = this.validateProps(patch, true);
    const master = inst.master;
    const materialise = !inst.event;
    // PATCH on an occurrence id: it becomes an exception with the master's properties (§4).
    const ev: StoredEvent = inst.event ?? {
      id: inst.id, upn, calendarId: master!.calendarId, type: "exception", masterId: master!.id, occurrenceDate: inst.date,
      originalStartMs: inst.originalStartMs, props: deepClone(master!.props), isAllDay: inst.isAllDay, start: inst.start, end: inst.end,
      cancelled: new Set(), exceptions: new Map(), changeKey: master!.changeKey, created: this.store.now(), modified: this.store.now(), sub: 0,
      iCalUId: master!.uid, uid: master!.uid, originalStartTimeZone: master!.originalStartTimeZone, originalEndTimeZone: master!.originalEndTimeZone, seq: 0,
    };
    if (ev.type === "exception" && "recurrence" in patch && patch.recurrence !== null) throw E.validation("An exception cannot have a recurrence.");
    // Validate everything before changing anything: a refused PATCH leaves no trace.
    const t = this.timing(patch, ev);
    const next = { isAllDay: t?.isAllDay ?? ev.isAllDay, start: t?.start ?? ev.start };
    let recurrence = ev.recurrence;
    if ("recurrence" in patch && patch.recurrence !== null) {
      recurrence = parseRecurrence(patch.recurrence, this.startDate(next), (z) => !!ianaOf(z));
    } else if ("recurrence" in patch) {
      recurrence = undefined;
    } else if (recurrence && t) {
      // Moving a master keeps the pattern; range.startDate follows the new start date.
      recurrence = { ...recurrence, range: { ...recurrence.range, startDate: this.startDate(next) } };
    }
    if (materialise) {
      master!.exceptions.set(inst.date!, ev.id);
      this.store.events.set(ev.id, ev);
    }
    const before = { start: ev.start.at, end: ev.end.at, allDay: ev.isAllDay, rec: JSON.stringify(ev.recurrence ?? null) };
    if ("singleValueExtendedProperties" in props) props.singleValueExtendedProperties = mergeExtProps(ev.props.singleValueExtendedProperties, props.singleValueExtendedProperties);
    Object.assign(ev.props, props);
    if (t) Object.assign(ev, t);
    if (ev.type === "seriesMaster" && !recurrence) this.dropSeries(ev);
    else if (recurrence && ev.type !== "exception") {
      ev.recurrence = recurrence;
      ev.type = "seriesMaster";
    }
    if (ev.type === "seriesMaster") {
      const changed = before.start !== ev.start.at || before.end !== ev.end.at || before.allDay !== ev.isAllDay || before.rec !== JSON.stringify(ev.recurrence ?? null);
      if (changed) this.pruneExceptions(ev, this.opts.seriesEditDropsExceptions);
    }
    this.store.touch(ev);
    this.store.emit({ upn, calendarId: ev.calendarId, id: ev.id, changeType: "updated", etag: etagOf(ev.changeKey) });
    return ev;
  }

  /** After a series edit: exceptions/cancellations whose date left the series go; all go in "drop" mode (§4). */
  private pruneExceptions(master: StoredEvent, dropAll: boolean): void {
    for (const [date, exId] of [...master.exceptions]) {
      if (dropAll || !isOccurrenceDate(master.recurrence!, date)) {
        master.exceptions.delete(date);
        const ex = this.store.events.get(exId);
        if (ex) this.store.remove(ex);
      }
    }
    for (const date of [...master.cancelled]) if (dropAll || !isOccurrenceDate(master.recurrence!, date)) master.cancelled.delete(date);
  }

  private dropSeries(master: StoredEvent): void {
    this.pruneExceptions(master, true);
    master.recurrence = undefined;
    master.type = "singleInstance";
  }

  remove(upn: string, id: string, ifMatch?: string): void {
    const inst = this.resolve(upn, id);
    this.checkIfMatch(etagOf((inst.event ?? inst.master!).changeKey), ifMatch);
    const master = inst.master;
    if (master && inst.date) {
      // Deleting an occurrence (or exception) cancels it; Graph reports an update of the master (§8).
      master.cancelled.add(inst.date);
      const exId = master.exceptions.get(inst.date);
      if (exId) {
        master.exceptions.delete(inst.date);
        this.store.remove(this.store.events.get(exId)!);
      }
      this.store.touch(master);
      this.store.emit({ upn, calendarId: master.calendarId, id: master.id, changeType: "updated", etag: etagOf(master.changeKey) });
      return;
    }
    const ev = inst.event!;
    for (const ex of this.store.exceptionsOf(ev)) this.store.remove(ex);
    this.store.remove(ev);
    this.store.emit({ upn, calendarId: ev.calendarId, id: ev.id, changeType: "deleted" });
  }
}
