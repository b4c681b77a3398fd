/**
 * Event storage operations shared by the HTTP handlers and the in-process API (reference §1, §2, §5):
 * insert/import, patch/update (materialising exceptions for instance ids), delete (cancelling
 * instances), lookup of stored events and of not-yet-materialised instances.
 */
import { ApiError, E } from "./errors.ts";
import { defaultHorizon, expandSeries, occurrenceKey, type Occurrence } from "./recurrence.ts";
import { etagOf, mergePatch, normalizeEvent, startMs, writableFields } from "./resource.ts";
import type { Calendar, Json, Store, StoredEvent } from "./store.ts";
import { deepClone, isoMs, parseDateTime, randomBase32hex } from "./util.ts";

export interface WriteOptions {
  actor?: string;
  ifMatch?: string;
  conferenceDataVersion?: number;
  supportsAttachments?: boolean;
}

const ID_RE = /^[a-v0-9]{5,1024}$/;

export class EventOps {
  private readonly exceptionIndex = new Map<string, { seq: number; byMaster: Map<string, Map<string, StoredEvent>> }>();

  constructor(
    private readonly store: Store,
    private readonly importDuplicate: "update" | "error",
  ) {}

  calendar(calendarId: string): Calendar {
    const cal = this.store.calendars.get(calendarId);
    if (!cal) throw E.notFound();
    return cal;
  }

  private touch(ev: StoredEvent, keepUpdated = false): void {
    ev.seq = this.store.nextSeq();
    ev.etagNum = this.store.nextEtagNum();
    if (!keepUpdated) ev.updated = this.store.now();
  }

  private organizerOf(cal: Calendar): Json {
    return cal.id === cal.owner ? { email: cal.id } : { email: cal.id, displayName: cal.summary };
  }

  /** conferenceData persists only with conferenceDataVersion=1; createRequest is answered at once. */
  private conference(norm: Json, previous: Json | undefined, opts: WriteOptions): void {
    if (opts.conferenceDataVersion !== 1) {
      if (previous?.conferenceData) norm.conferenceData = previous.conferenceData;
      else delete norm.conferenceData;
    } else if (norm.conferenceData?.createRequest && !norm.conferenceData.conferenceId) {
      const code = randomBase32hex(this.store.opts.rng, 10).replace(/^(...)(....)(...)$/, "$1-$2-$3");
      norm.conferenceData = {
        ...norm.conferenceData,
        createRequest: { ...norm.conferenceData.createRequest, status: { statusCode: "success" } },
        entryPoints: [{ entryPointType: "video", uri: `https://meet.google.com/${code}`, label: `meet.google.com/${code}` }],
        conferenceSolution: { key: { type: "hangoutsMeet" }, name: "Google Meet" },
        conferenceId: code,
      };
    }
    const video = norm.conferenceData?.entryPoints?.find?.((e: Json) => e.entryPointType === "video");
    if (norm.conferenceData?.conferenceSolution?.key?.type === "hangoutsMeet" && video) norm.hangoutLink = video.uri;
    else delete norm.hangoutLink;
    if (!opts.supportsAttachments) {
      if (previous?.attachments) norm.attachments = previous.attachments;
      else delete norm.attachments;
    }
  }

  /** events.insert / events.import (§1, §2, §5). */
  insert(calendarId: string, body: Json, opts: WriteOptions & { importing?: boolean; seeding?: boolean }): StoredEvent {
    const cal = this.calendar(calendarId);
    const events = this.store.calendarEvents(calendarId);
    const input = writableFields(body, opts.importing ? ["id", "iCalUID", "organizer", "originalStartTime"] : ["id", "iCalUID"]);
    if (opts.importing) {
      if (typeof input.iCalUID !== "string" || input.iCalUID === "") throw E.required("Missing iCalUID.", "iCalUID", "body");
      // Only `default` is importable; other types are converted and their properties dropped (§1).
      if (input.eventType && input.eventType !== "default") {
        input.eventType = "default";
        for (const k of ["focusTimeProperties", "outOfOfficeProperties", "workingLocationProperties", "birthdayProperties"]) delete input[k];
      }
      const existing = [...events.values()].find((e) => e.res.iCalUID === input.iCalUID && !e.res.recurringEventId);
      if (input.originalStartTime != null) {
        if (!existing) throw E.notFound();
        const ost = normalizeEvent({ start: input.originalStartTime, end: input.originalStartTime }, cal.timeZone).start;
        const key = occurrenceKey(!!ost.date, startMs(ost));
        const id = this.store.instanceId(calendarId, existing.res.id, key);
        delete input.originalStartTime;
        if (!this.resolve(calendarId, id)) throw E.notFound();
        return this.modify(calendarId, id, { ...input, status: input.status ?? "confirmed" }, "update", opts);
      }
      if (existing) {
        // §5: reported both to update in place and to fail as a duplicate; configurable.
        if (this.importDuplicate === "error") throw E.duplicate();
        return this.modify(calendarId, existing.res.id, { ...input, status: input.status ?? "confirmed" }, "update", { ...opts, importing: true } as WriteOptions);
      }
    } else if (input.eventType === "fromGmail" && !opts.seeding) throw E.invalid("Event type cannot be created.", "eventType", "body");
    if (input.id !== undefined && (typeof input.id !== "string" || !ID_RE.test(input.id))) {
      throw E.invalid("Invalid resource id value.");
    }
    const id: string = input.id ?? randomBase32hex(this.store.opts.rng, 26);
    if (events.has(id) || this.store.instanceIndex.has(id)) throw E.duplicate();
    const iCalUID: string = input.iCalUID ?? `${id}@google.com`;
    // A deleted event keeps its iCalUID: inserting the UID again is still a duplicate (observed:
    // googleapis/google-api-python-client#846, 409 "The requested identifier already exists" after a delete).
    if (!opts.importing && [...events.values()].some((e) => e.res.iCalUID === iCalUID && !e.res.recurringEventId)) {
      throw E.duplicate();
    }
    const norm = normalizeEvent(input, cal.timeZone);
    this.conference(norm, undefined, opts);
    const actor = opts.actor ?? cal.owner;
    const res: Json = {
      id,
      status: "confirmed",
      ...norm,
      creator: { email: actor },
      organizer: opts.importing && norm.organizer ? norm.organizer : this.organizerOf(cal),
      iCalUID,
      sequence: norm.sequence ?? 0,
      reminders: norm.reminders ?? { useDefault: true },
      eventType: norm.eventType ?? "default",
    };
    const now = this.store.now();
    const ev: StoredEvent = { calendarId, res, seq: 0, etagNum: 0, created: now, updated: now };
    this.touch(ev);
    events.set(id, ev);
    this.store.changed(calendarId);
    return ev;
  }

  /** Parses an originalStart given as RFC 3339 date-time or date into an occurrence key. */
  keyOf(calendarId: string, originalStart: string): string {
    if (/^\d{4}-\d{2}-\d{2}$/.test(originalStart)) return originalStart.replace(/-/g, "");
    const ms = parseDateTime(originalStart, this.calendar(calendarId).timeZone);
    if (ms === undefined) throw E.invalid("Invalid originalStart.");
    return occurrenceKey(false, ms);
  }

  isMaster(ev: StoredEvent | undefined): boolean {
    return !!ev && Array.isArray(ev.res.recurrence) && ev.res.recurrence.length > 0 && !ev.res.recurringEventId;
  }

  /** The not-stored view of one occurrence of a series (§2: instances share the master's fields). */
  instanceView(master: StoredEvent, occ: Occurrence): StoredEvent {
    const res = deepClone(master.res);
    delete res.recurrence;
    res.id = this.store.instanceId(master.calendarId, master.res.id, occ.key);
    res.recurringEventId = master.res.id;
    const time = (ms: number, tz: string | undefined): Json =>
      occ.allDay ? { date: isoMs(ms).slice(0, 10) } : tz ? { dateTime: isoMs(ms), timeZone: tz } : { dateTime: isoMs(ms) };
    res.start = time(occ.start, master.res.start.timeZone);
    res.end = time(occ.end, master.res.end.timeZone);
    res.originalStartTime = time(occ.start, master.res.start.timeZone);
    return { ...master, res };
  }

  /** Exceptions (and cancelled instances) of a master, by occurrence key. */
  exceptionsOf(master: StoredEvent): Map<string, StoredEvent> {
    const seq = this.store.currentSeq();
    let cached = this.exceptionIndex.get(master.calendarId);
    if (!cached || cached.seq !== seq) {
      // One pass over the calendar per state (every change bumps the sequence).
      cached = { seq, byMaster: new Map() };
      for (const ev of this.store.calendarEvents(master.calendarId).values()) {
        if (!ev.res.recurringEventId || !ev.res.originalStartTime) continue;
        let m = cached.byMaster.get(ev.res.recurringEventId);
        if (!m) cached.byMaster.set(ev.res.recurringEventId, (m = new Map()));
        m.set(occurrenceKey(!!ev.res.originalStartTime.date, startMs(ev.res.originalStartTime)), ev);
      }
      this.exceptionIndex.set(master.calendarId, cached);
    }
    return new Map(cached.byMaster.get(master.res.id) ?? []);
  }

  /** Instances of a series up to `untilMs`, exceptions applied; cancelled ones only when asked. */
  instances(master: StoredEvent, untilMs: number, showDeleted: boolean): StoredEvent[] {
    const cal = this.calendar(master.calendarId);
    const exceptions = this.exceptionsOf(master);
    const out: StoredEvent[] = [];
    for (const occ of expandSeries(master.res, cal.timeZone, untilMs)) {
      const ev = exceptions.get(occ.key) ?? this.instanceView(master, occ);
      if (ev.res.status === "cancelled" && !showDeleted) continue;
      out.push(ev);
    }
    return out;
  }

  /** A stored event, or a virtual instance of a stored series (ids from instanceId()). */
  resolve(calendarId: string, eventId: string): { ev: StoredEvent; virtual: boolean; master?: StoredEvent } | undefined {
    const events = this.store.calendarEvents(calendarId);
    const stored = events.get(eventId);
    if (stored) return { ev: stored, virtual: false };
    let ref = this.store.instanceIndex.get(eventId);
    if (!ref) {
      const m = /^(.+)_(\d{8}(?:T\d{6}Z)?)$/i.exec(eventId);
      if (m && this.store.opts.instanceIds === "legacy") ref = { calendarId, masterId: m[1]!, key: m[2]!.toUpperCase() };
      else {
        // Opaque ids: expand every series of the calendar once so that their ids are indexed.
        for (const ev of events.values()) {
          if (this.isMaster(ev)) expandSeries(ev.res, this.calendar(calendarId).timeZone, defaultHorizon(this.store.now(), ev.res)).forEach((o) => this.store.instanceId(calendarId, ev.res.id, o.key));
        }
        ref = this.store.instanceIndex.get(eventId);
      }
    }
    if (!ref || ref.calendarId !== calendarId) return undefined;
    // Legacy ids have been seen with `t`/`z` in either case (§2): the canonical id is the stored one.
    const canonical = this.store.instanceId(calendarId, ref.masterId, ref.key);
    const materialised = events.get(canonical);
    if (materialised) return { ev: materialised, virtual: false };
    const master = events.get(ref.masterId);
    if (!master || !this.isMaster(master)) return undefined;
    const keyMs = ref.key.length === 8
      ? Date.UTC(+ref.key.slice(0, 4), +ref.key.slice(4, 6) - 1, +ref.key.slice(6, 8))
      : Date.parse(ref.key.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"));
    if (!Number.isFinite(keyMs)) return undefined;
    const occ = expandSeries(master.res, this.calendar(calendarId).timeZone, keyMs + 1).find((o) => o.key === ref.key);
    if (!occ) return undefined;
    const ev = this.instanceView(master, occ);
    if (ev.res.id !== canonical) return undefined;
    return { ev, virtual: true, master };
  }

  /**
   * guestsCan* are shared properties: only the organizer's copy may change them; on an attendee's
   * copy an update without them means setting the defaults, which counts as a change (§2, §6).
   */
  private checkSharedProperties(calendarId: string, old: Json, next: Json): void {
    const organizer = old.organizer?.email;
    if (!organizer || organizer === calendarId || organizer === this.calendar(calendarId).owner) return;
    const defaults: Json = { guestsCanModify: false, guestsCanInviteOthers: true, guestsCanSeeOtherGuests: true };
    for (const [k, def] of Object.entries(defaults)) {
      if ((old[k] ?? def) !== (next[k] ?? def)) {
        throw new ApiError(403, { domain: "calendar", reason: "forbiddenForNonOrganizer", message: "Shared properties can only be changed by the organizer of the event." });
      }
    }
  }

  private checkIfMatch(ev: StoredEvent, ifMatch: string | undefined): void {
    if (ifMatch !== undefined && ifMatch !== "*" && ifMatch !== etagOf(ev.etagNum)) throw E.conditionNotMet();
  }

  /** events.patch / events.update, also on instance ids (materialises an exception, §2). */
  modify(calendarId: string, eventId: string, body: Json, mode: "patch" | "update", opts: WriteOptions): StoredEvent {
    const cal = this.calendar(calendarId);
    const found = this.resolve(calendarId, eventId);
    if (!found || found.ev.stubOnly) throw E.notFound();
    const target = found.ev;
    this.checkIfMatch(target, opts.ifMatch);
    const old = target.res;
    const identity = ["id", "iCalUID", "recurringEventId", "originalStartTime", "creator", "organizer"];
    const input = writableFields(body, (opts as { importing?: boolean }).importing ? ["organizer"] : []);
    if (input.sequence != null && Number.isInteger(input.sequence) && input.sequence < (old.sequence ?? 0)) {
      throw E.invalid("Invalid sequence value. The specified sequence number is below the current sequence number of the resource.", "sequence", "body");
    }
    if (input.eventType != null && input.eventType !== (old.eventType ?? "default")) {
      throw E.invalid("The event type cannot be changed.", "eventType", "body");
    }
    let merged: Json;
    if (mode === "patch") merged = mergePatch(old, input);
    else {
      merged = { ...input };
      for (const k of identity) if (old[k] !== undefined && merged[k] === undefined) merged[k] = deepClone(old[k]);
      merged.eventType = old.eventType;
    }
    if (old.recurringEventId) delete merged.recurrence; // never on instances (§11.7)
    this.checkSharedProperties(calendarId, old, merged);
    const norm = normalizeEvent(merged, cal.timeZone);
    this.conference(norm, old, opts);
    const res: Json = {
      ...norm,
      id: old.id,
      status: norm.status ?? "confirmed",
      iCalUID: old.iCalUID,
      reminders: norm.reminders ?? { useDefault: true },
      eventType: old.eventType ?? "default",
    };
    for (const k of ["recurringEventId", "originalStartTime", "creator"]) if (old[k] !== undefined) res[k] = deepClone(old[k]);
    if (!res.organizer) res.organizer = deepClone(old.organizer);
    const timingChanged = ["start", "end", "recurrence"].some((k) => JSON.stringify(old[k]) !== JSON.stringify(res[k]));
    res.sequence = input.sequence ?? (old.sequence ?? 0) + (timingChanged ? 1 : 0);
    // Changing only reminders does not change `updated` (§2, observed).
    const strip = (r: Json): string => JSON.stringify({ ...r, reminders: undefined });
    const onlyReminders = strip(old) === strip(res);
    let ev = target;
    if (found.virtual) {
      ev = { ...target, res };
      this.store.calendarEvents(calendarId).set(res.id, ev);
    } else ev.res = res;
    this.touch(ev, onlyReminders && !found.virtual);
    this.store.changed(calendarId);
    return ev;
  }

  /**
   * events.move (§1): the event (a series with its exceptions) changes organizer calendar; only
   * eventType default; the source keeps a cancelled stub with only the id (§2 status semantics).
   */
  move(calendarId: string, eventId: string, destinationId: string): StoredEvent {
    const dest = this.calendar(destinationId);
    const found = this.resolve(calendarId, eventId);
    if (!found || found.ev.stubOnly) throw E.notFound();
    if (found.virtual || found.ev.res.recurringEventId) {
      throw new ApiError(400, { domain: "calendar", reason: "cannotChangeOrganizerOfInstance", message: "Cannot change the organizer of an instance." });
    }
    if (found.ev.res.status === "cancelled") throw E.deleted();
    if ((found.ev.res.eventType ?? "default") !== "default") throw E.invalid("Only events of type default can be moved.", "eventType", "body");
    const destEvents = this.store.calendarEvents(destinationId);
    if (destEvents.has(eventId)) throw E.duplicate();
    const movers = [found.ev, ...(this.isMaster(found.ev) ? this.exceptionsOf(found.ev).values() : [])];
    let moved: StoredEvent | undefined;
    for (const ev of movers) {
      const copy: StoredEvent = { ...ev, calendarId: destinationId, res: { ...deepClone(ev.res), organizer: this.organizerOf(dest) } };
      this.touch(copy);
      destEvents.set(ev.res.id, copy);
      moved ??= copy;
      ev.res.status = "cancelled";
      ev.stubOnly = true;
      this.touch(ev);
    }
    this.store.changed(calendarId);
    this.store.changed(destinationId);
    return moved!;
  }

  /** events.delete (§1): 410 when already deleted; on an instance id it cancels that occurrence. */
  remove(calendarId: string, eventId: string, opts: WriteOptions): void {
    this.calendar(calendarId);
    const found = this.resolve(calendarId, eventId);
    if (!found) throw E.notFound();
    if (found.ev.res.status === "cancelled") throw E.deleted();
    this.checkIfMatch(found.ev, opts.ifMatch);

    let ev = found.ev;
    if (found.virtual) {
      ev = { ...found.ev, res: { ...found.ev.res, status: "cancelled" }, created: this.store.now() };
      this.store.calendarEvents(calendarId).set(ev.res.id, ev);
    } else ev.res.status = "cancelled";
    this.touch(ev);
    if (this.isMaster(ev)) {
      for (const ex of this.exceptionsOf(ev).values()) {
        if (ex.res.status !== "cancelled") {
          ex.res.status = "cancelled";
          this.touch(ex);
        }
      }
    }
    this.store.changed(calendarId);
  }
}
