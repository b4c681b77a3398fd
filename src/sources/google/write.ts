/**
 * Writing one calendar object resource to Google: the master with events.insert / events.update,
 * then each RECURRENCE-ID override on its instance. Never blind:
 *  - an update reads the series first (one events.list by iCalUID) and goes on only if its version
 *    is the one the cache knows, then sends If-Match on each event's etag;
 *  - a create is events.insert with the client's UID as iCalUID; Google refuses a second event with
 *    that UID (409), which makes a create over an existing item a clash, as CalDAV's If-None-Match;
 *  - every write carries a marker (groups.ts WRITE_MARK): after a lost answer or a 5xx, the series is
 *    read and the marker says whether this very write was stored, so it is neither repeated (no
 *    duplicate) nor mistaken for someone else's change.
 * Updates are full replacements built on Google's current copy, so fields calgate does not map
 * (attachments, conference create requests, guest permissions ...) stay as they are.
 */
import { NotFoundUpstream, Permanent, PreconditionFailedUpstream, Transient, type RemoteCalendar, type RemoteRef, type SourceContext, type Written } from "../adapter.ts";
import { sameContent } from "../../ical/content.ts";
import { UTC_ZONE, zoneForName } from "../../ical/timezones.ts";
import type { GoogleReader } from "./reader.ts";
import { isCancelled, isLive, markOn, parseVersion, sameStart, SEQUENCE_MARK, versionOf, WRITE_MARK, writeMarkOf, type GEvent, type Series } from "./groups.ts";
import { icsToPlan, refusedChange, TranslateRefused, type GDateTime, type GoogleWritePlan } from "./translate.ts";
import { editableFields } from "./translate-rules.ts";

/** Fields Google sets itself; never sent back. */
const READ_ONLY = ["etag", "kind", "htmlLink", "created", "updated", "creator", "hangoutLink", "iCalUID", "id", "recurringEventId", "originalStartTime", "privateCopy", "locked"] as const;
const INSERT_TRIES = 3;

/** `base` with the plan's fields set (null: removed) and our write marker (null: events that take no extendedProperties). */
function bodyOf(base: GEvent | null, planned: GEvent, mark: string | null): GEvent {
  const body: Record<string, unknown> = { ...(base ?? {}) };
  for (const k of READ_ONLY) delete body[k];
  for (const [k, v] of Object.entries(planned)) {
    if (v === null || v === undefined) delete body[k];
    else body[k] = v;
  }
  // Google refuses a SEQUENCE below the one it holds (an override may carry a lower one than its
  // master, RFC 5545 3.8.7.4, and an instance starts with the master's): never send less.
  let ownSequence: string | null = null;
  if (base?.sequence != null && typeof body.sequence === "number" && body.sequence < base.sequence) {
    ownSequence = `${body.sequence}:${base.sequence}`;
    body.sequence = base.sequence;
  }
  if (mark !== null) {
    const ext = (body.extendedProperties ?? {}) as { private?: Record<string, string>; shared?: Record<string, string> };
    const { [SEQUENCE_MARK]: _old, ...priv } = ext.private ?? {};
    body.extendedProperties = { ...ext, private: { ...priv, [WRITE_MARK]: mark, ...(ownSequence ? { [SEQUENCE_MARK]: ownSequence } : {}) } };
  }
  return body as GEvent;
}

/**
 * What a write may carry for an event type: Google lets a client change only some fields of events from
 * Gmail and of birthdays (refusedChange has refused any other change already); the rest of the body is
 * Google's current copy. Birthdays take no extendedProperties, so no write marker either.
 */
function editable(plan: GoogleWritePlan, body: GEvent): { planned: GEvent; marked: boolean } {
  const fields = editableFields(plan.eventType);
  if (fields === "all") return { planned: body, marked: true };
  const planned = Object.fromEntries(Object.entries(body).filter(([k]) => fields.includes(k))) as GEvent;
  return { planned, marked: fields.includes("extendedProperties") };
}

const stable = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as object).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

/** The instance slot `start` shifted by the master's duration (to put an overridden occurrence back). */
function endFor(master: GEvent, start: GDateTime): GDateTime {
  const s = master.start, e = master.end;
  if (start.date && s?.date && e?.date) {
    const days = (Date.parse(e.date) - Date.parse(s.date)) / 86_400_000;
    return { date: new Date(Date.parse(start.date) + days * 86_400_000).toISOString().slice(0, 10) };
  }
  const ms = s?.dateTime && e?.dateTime ? Date.parse(e.dateTime) - Date.parse(s.dateTime) : 0;
  return { dateTime: new Date(Date.parse(start.dateTime ?? "") + ms).toISOString(), ...(start.timeZone ? { timeZone: start.timeZone } : {}) };
}

export class GoogleWriter {
  constructor(private readonly g: GoogleReader) {}

  private planOf(ics: string, zone: string | null): GoogleWritePlan {
    try {
      return icsToPlan(ics, { calendarZone: zone });
    } catch (e) {
      if (e instanceof TranslateRefused) throw new Permanent(`Google cannot hold this event: ${e.message}`, 403);
      throw e;
    }
  }

  async write(cal: RemoteCalendar, item: { readonly name: string; readonly ref: RemoteRef | null; readonly ics: string }, ctx: SourceContext): Promise<Written> {
    if (item.ref && item.ref.etag === null) throw new Permanent(`refusing to overwrite Google event ${item.ref.id} without knowing its current version`);
    const zone = await this.g.zoneOf(cal, ctx);
    const plan = this.planOf(item.ics, zone);
    if (plan.masterless) throw new Permanent("Google cannot hold occurrences without their series (the object has only RECURRENCE-ID overrides)", 403);
    const exdates = (plan.master.recurrence ?? []).filter((l) => l.startsWith("EXDATE")).join("\n");
    const hidden = plan.overrides.find((o) => this.excluded(exdates, o.originalStartTime));
    if (hidden) throw new Permanent(`RECURRENCE-ID ${hidden.originalStartTime.dateTime ?? hidden.originalStartTime.date} overrides an occurrence the series excludes (EXDATE); Google cannot hold an override of a cancelled occurrence`, 403);
    const mark = writeMarkOf(item.ics);
    let series = item.ref ? await this.update(cal, item.ref, plan, mark, item.ics, ctx) : await this.create(cal, plan, mark, ctx);
    try {
      series = await this.overrides(cal, series, plan, mark, zone, ctx);
    } catch (e) {
      // A create Google refuses part of (an override it cannot place) leaves nothing behind.
      if (!item.ref && e instanceof Permanent) await this.undoCreate(cal, series, ctx);
      throw e;
    }
    const ics = await this.g.icsOf(cal, series, ctx);
    const ref = { id: series.key, etag: versionOf(series) };
    return sameContent(ics, item.ics) ? { ref, stored: "as-sent" } : { ref, stored: "changed", ics };
  }

  private async series(cal: RemoteCalendar, uid: string, key: string | null, ctx: SourceContext): Promise<Series | null> {
    const all = await this.g.seriesByUid(cal, uid, ctx);
    if (key !== null) return all.get(key) ?? null;
    return [...all.values()].find((s) => s.master !== null) ?? null;
  }

  private async create(cal: RemoteCalendar, plan: GoogleWritePlan, mark: string, ctx: SourceContext): Promise<Series> {
    const body = { ...bodyOf(null, plan.master, mark), iCalUID: plan.uid };
    // events.insert makes the calendar the organizer; an event organized by someone else (an invitation
    // a client copies in) keeps its organizer only through events.import (reference section 2), which
    // may update an event with that UID in place: so look first, and never import over a live one.
    const organizer = plan.master.organizer?.email?.toLowerCase() ?? null;
    const importing = plan.eventType === "default" && organizer !== null && organizer !== cal.id.toLowerCase();
    if (importing) {
      const existing = await this.series(cal, plan.uid, null, ctx);
      if (existing && isLive(existing)) throw new PreconditionFailedUpstream(`an event with UID ${plan.uid} already exists in the Google calendar`, 412);
    }
    const send = (): Promise<GEvent> =>
      importing
        ? this.g.api.call("events.import", "once", (a, o) => a.events.import({ calendarId: cal.id, requestBody: body, conferenceDataVersion: 1 }, o), ctx)
        : this.g.api.call("events.insert", "once", (a, o) => a.events.insert({ calendarId: cal.id, requestBody: body, sendUpdates: "none", conferenceDataVersion: 1 }, o), ctx);
    for (let attempt = 1; ; attempt++) {
      let failure: unknown;
      try {
        const master = await send();
        return { key: master.id!, master, instances: [] };
      } catch (e) {
        const duplicate = e instanceof Permanent && e.status === 409;
        if (!duplicate && !(e instanceof Transient)) throw e;
        failure = e;
        // Was it stored after all (a lost answer), or is the UID taken?
        const existing = await this.series(cal, plan.uid, null, ctx);
        if (existing?.master && markOn(existing.master) === mark && !isCancelled(existing.master)) return existing;
        if (existing && isLive(existing)) throw new PreconditionFailedUpstream(`an event with UID ${plan.uid} already exists in the Google calendar`, 412);
        if (duplicate && existing?.master && isCancelled(existing.master)) {
          // Google keeps deleted events' UIDs (409 on insert): a re-created event revives the deleted one.
          const revived = await this.replace(cal, existing.master, { ...plan.master, status: plan.master.status ?? "confirmed" }, mark, ctx);
          return { key: revived.id!, master: revived, instances: [] };
        }
        if (duplicate) throw new PreconditionFailedUpstream(`Google refused UID ${plan.uid} as a duplicate`, 409);
      }
      if (attempt >= INSERT_TRIES) throw failure;
      await new Promise((r) => setTimeout(r, this.g.api.backoffMs(attempt)));
    }
  }

  /** events.update of one event with If-Match on its etag; a 412 after our own lost attempt is success. */
  private async replace(cal: RemoteCalendar, current: GEvent, planned: GEvent, mark: string | null, ctx: SourceContext, extra: GEvent = {}): Promise<GEvent> {
    const body = { ...bodyOf(current, planned, mark), ...extra };
    try {
      return await this.g.api.call("events.update", "idempotent", (a, o) => a.events.update({ calendarId: cal.id, eventId: current.id!, requestBody: body, sendUpdates: "none", conferenceDataVersion: 1 }, { ...o, headers: { "If-Match": current.etag ?? "" } }), ctx);
    } catch (e) {
      if (!(e instanceof PreconditionFailedUpstream)) throw e;
      const now = await this.g.event(cal, current.id!, ctx);
      if (now && mark !== null && markOn(now) === mark) return now;
      throw e;
    }
  }

  private async update(cal: RemoteCalendar, ref: RemoteRef, plan: GoogleWritePlan, mark: string, ics: string, ctx: SourceContext): Promise<Series> {
    const s = await this.series(cal, plan.uid, ref.id, ctx);
    if (!s || !s.master || isCancelled(s.master)) {
      if (s && !s.master && isLive(s)) throw new Permanent(`calgate cannot change occurrences of a Google series it cannot see (UID ${plan.uid})`, 403);
      throw new PreconditionFailedUpstream(`Google event ${ref.id} no longer exists`, 412);
    }
    const ours = markOn(s.master) === mark; // an earlier attempt of this very write was stored
    if (!ours && versionOf(s) !== ref.etag) throw new PreconditionFailedUpstream(`Google event ${ref.id} changed since calgate last read it`, 412);
    if (ours) return s;
    const refused = refusedChange(await this.g.icsOf(cal, s, ctx), ics);
    if (refused) throw new Permanent(`Google does not allow this change: ${refused}`, 403);
    const { planned, marked } = editable(plan, plan.master);
    const master = await this.replace(cal, s.master, planned, marked ? mark : null, ctx);
    return { ...s, master };
  }

  private async undoCreate(cal: RemoteCalendar, s: Series, ctx: SourceContext): Promise<void> {
    try {
      await this.g.api.call("events.delete", "idempotent", (a, o) => a.events.delete({ calendarId: cal.id, eventId: s.key, sendUpdates: "none" }, { ...o, headers: { "If-Match": s.master?.etag ?? "" } }), ctx);
    } catch {
      /* changed meanwhile or already gone: left as it is, and the next pull shows it */
    }
  }

  /** Writes the overrides that differ from what Google holds, and puts back occurrences no longer overridden. */
  private async overrides(cal: RemoteCalendar, s: Series, plan: GoogleWritePlan, mark: string, zone: string | null, ctx: SourceContext): Promise<Series> {
    const master = s.master!;
    const recurring = (plan.master.recurrence?.length ?? 0) > 0;
    if (!recurring && plan.overrides.length === 0 && s.instances.length === 0) return s;
    const before = s.instances.length > 0 ? this.planOf(await this.g.icsOf(cal, s, ctx), zone).overrides : [];
    let wrote = false;
    for (const ov of plan.overrides) {
      const old = before.find((b) => sameStart(b.originalStartTime, ov.originalStartTime));
      if (old && stable(old.body) === stable(ov.body)) continue;
      const inst = s.instances.find((i) => sameStart(i.originalStartTime, ov.originalStartTime)) ?? (await this.instanceAt(cal, master.id!, ov.originalStartTime, ctx));
      if (!inst) throw new Permanent(`RECURRENCE-ID ${ov.originalStartTime.dateTime ?? ov.originalStartTime.date} is not an occurrence of the series at Google`, 403);
      await this.replace(cal, inst, ov.body, mark, ctx, { recurringEventId: master.id!, originalStartTime: inst.originalStartTime ?? ov.originalStartTime });
      wrote = true;
    }
    // An occurrence the client no longer overrides (and did not exclude) goes back to the series' values.
    const exdates = (plan.master.recurrence ?? []).filter((l) => l.startsWith("EXDATE")).join("\n");
    for (const old of before) {
      if (plan.overrides.some((o) => sameStart(o.originalStartTime, old.originalStartTime))) continue;
      const inst = s.instances.find((i) => sameStart(i.originalStartTime, old.originalStartTime) && !isCancelled(i));
      if (!inst || this.excluded(exdates, old.originalStartTime)) continue;
      const { recurrence: _r, ...series } = plan.master;
      await this.replace(cal, inst, { ...series, start: inst.originalStartTime ?? old.originalStartTime, end: endFor(plan.master, inst.originalStartTime ?? old.originalStartTime) }, mark, ctx, { recurringEventId: master.id!, originalStartTime: inst.originalStartTime });
      wrote = true;
    }
    if (!wrote && s.instances.length === 0 && !recurring) return s;
    return (await this.series(cal, plan.uid, s.key, ctx)) ?? s;
  }

  /** Whether an EXDATE line of the series names the occurrence that starts at `at`. */
  private excluded(exdates: string, at: GDateTime): boolean {
    const target = at.date ? null : Date.parse(at.dateTime ?? "");
    for (const line of exdates.split("\n")) {
      const m = /^EXDATE([^:]*):(.*)$/.exec(line.trim());
      if (!m) continue;
      const tzid = /;TZID=([^;:]+)/.exec(m[1]!)?.[1] ?? null;
      for (const v of m[2]!.split(",")) {
        const d = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$/.exec(v.trim());
        if (!d) continue;
        if (at.date) {
          if (`${d[1]}-${d[2]}-${d[3]}` === at.date) return true;
          continue;
        }
        if (d[4] === undefined) continue;
        const wall = { y: +d[1]!, mo: +d[2]!, d: +d[3]!, h: +d[4]!, mi: +d[5]!, s: +d[6]! };
        const zone = d[7] === "Z" ? UTC_ZONE : tzid ? zoneForName(tzid) : UTC_ZONE;
        if (zone && zone.toUtc(wall) === target) return true;
      }
    }
    return false;
  }

  /** The instance of a series that starts (originally) at `start`. */
  private async instanceAt(cal: RemoteCalendar, masterId: string, start: GDateTime, ctx: SourceContext): Promise<GEvent | null> {
    const t = Date.parse(start.dateTime ?? `${start.date}T00:00:00Z`);
    const day = 86_400_000;
    let pageToken: string | undefined;
    do {
      // Pages may be short or empty while more follow (reference section 3): read them all.
      const page = await this.g.api.call("events.instances", "read", (a, o) => a.events.instances({ calendarId: cal.id, eventId: masterId, timeMin: new Date(t - 2 * day).toISOString(), timeMax: new Date(t + 2 * day).toISOString(), maxResults: 50, ...(pageToken ? { pageToken } : {}) }, o), ctx);
      const found = (page.items ?? []).find((i) => sameStart(i.originalStartTime, start));
      if (found) return found;
      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken);
    return null;
  }

  async remove(cal: RemoteCalendar, ref: RemoteRef, ctx: SourceContext): Promise<void> {
    if (ref.etag === null) throw new Permanent(`refusing to delete Google event ${ref.id} without knowing its current version`);
    const v = parseVersion(ref.etag);
    if (v.m === null) throw new Permanent(`calgate cannot delete occurrences of a Google series it cannot see (${ref.id})`, 403);
    if (v.x.size > 0) {
      // A series: its exceptions have etags of their own; the whole series must be the version we know.
      const uid = (await ctx.cached(cal, ref.id))?.uid ?? (await this.g.event(cal, ref.id, ctx))?.iCalUID ?? null;
      const s = uid ? await this.series(cal, uid, ref.id, ctx) : null;
      if (!s || !isLive(s)) return;
      if (versionOf(s) !== ref.etag) throw new PreconditionFailedUpstream(`Google event ${ref.id} changed since calgate last read it`, 412);
    }
    try {
      await this.g.api.call("events.delete", "idempotent", (a, o) => a.events.delete({ calendarId: cal.id, eventId: ref.id, sendUpdates: "none" }, { ...o, headers: { "If-Match": v.m! } }), ctx);
    } catch (e) {
      if (e instanceof NotFoundUpstream) return; // 404, or 410 deleted: already gone (also after our own lost attempt)
      throw e;
    }
  }
}
