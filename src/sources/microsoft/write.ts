/**
 * Writing one calendar object resource to Graph: the master (or single) with POST / PATCH, then each
 * RECURRENCE-ID override as a PATCH of its occurrence and each EXDATE as a DELETE of its occurrence
 * (occurrences are found through /instances over a few days around their date). Never blind:
 *  - a create first looks for our UID property (an event holding the UID is a clash, as CalDAV's
 *    If-None-Match), then POSTs with the plan's transactionId: Graph answers a repeated transactionId
 *    with the event it already created, so the client may repeat a create whose answer was lost;
 *  - an update reads the series first and goes on only if its version is the one the cache knows, then
 *    PATCHes with If-Match on the @odata.etag of each event it changes (412 → a conflict, unless what
 *    Graph holds is already what we sent: our own lost attempt);
 *  - Graph cannot restore a cancelled occurrence: a PUT that drops an EXDATE is refused (403) before
 *    anything is written.
 * Every create and update also sets UID_PROPERTY_ID (groups.ts), which locate() filters on.
 */
import { NotFoundUpstream, Permanent, PreconditionFailedUpstream, type RemoteCalendar, type RemoteRef, type SourceContext, type Written } from "../adapter.ts";
import { sameContent } from "../../ical/content.ts";
import type { SeriesAccess } from "./groups.ts";
import { etagOf, parseVersion, propOf, UID_PROPERTY_ID, versionOf, WRITE_MARK_ID, writeMarkOf, type Series } from "./groups.ts";
import { icsToPlan, TranslateRefused, type GraphEvent, type GraphWritePlan } from "./translate.ts";

type Exc = GraphWritePlan["exceptions"][number];
const PREFER_UTC = { Prefer: 'outlook.timezone="UTC"' };
const DAY = 86_400_000;

const stable = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as object).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

/** A body with our UID property and write mark added to the plan's extended properties. */
function marked(body: GraphEvent, uid: string, mark: string): GraphEvent {
  const ours = new Set([UID_PROPERTY_ID.toLowerCase(), WRITE_MARK_ID.toLowerCase()]);
  const props = (body.singleValueExtendedProperties ?? []).filter((p) => !ours.has(p.id.toLowerCase()));
  return { ...body, singleValueExtendedProperties: [...props, { id: UID_PROPERTY_ID, value: uid }, { id: WRITE_MARK_ID, value: mark }] };
}

/** A PATCH body: transactionId is set once, at creation. */
function patchOf(body: GraphEvent): GraphEvent {
  const { transactionId: _t, ...rest } = body;
  return rest;
}

export class MicrosoftWriter {
  constructor(private readonly g: SeriesAccess) {}

  private planOf(ics: string): GraphWritePlan {
    try {
      return icsToPlan(ics, {});
    } catch (e) {
      if (e instanceof TranslateRefused) throw new Permanent(`Microsoft Graph cannot hold this event: ${e.message}`, 403);
      throw e;
    }
  }

  async write(cal: RemoteCalendar, item: { readonly name: string; readonly ref: RemoteRef | null; readonly ics: string }, ctx: SourceContext): Promise<Written> {
    if (item.ref && item.ref.etag === null) throw new Permanent(`refusing to overwrite Graph event ${item.ref.id} without knowing its current version`);
    const plan = this.planOf(item.ics);
    const key = item.ref ? await this.update(cal, item.ref, plan, item.ics, ctx) : await this.create(cal, plan, item.ics, ctx);
    const s = await this.g.series(key, ctx);
    if (!s) throw new PreconditionFailedUpstream(`Graph event ${key} vanished while calgate wrote it`, 412);
    const ics = this.g.icsOf(s);
    const ref = { id: key, etag: versionOf(s) };
    return sameContent(ics, item.ics) ? { ref, stored: "as-sent" } : { ref, stored: "changed", ics };
  }

  private async create(cal: RemoteCalendar, plan: GraphWritePlan, ics: string, ctx: SourceContext): Promise<string> {
    const existing = await this.g.idByUid(cal, plan.uid, ctx);
    let master: GraphEvent | null = existing ? await this.g.event(existing, ctx, "id,transactionId") : null;
    if (master && master.transactionId !== plan.master.transactionId) throw new PreconditionFailedUpstream(`an event with UID ${plan.uid} already exists in the Outlook calendar`, 412);
    if (!master) {
      master = await this.g.api.call<GraphEvent>("events.create", "idempotent", { method: "POST", path: `/me/calendars/${encodeURIComponent(cal.id)}/events`, headers: PREFER_UTC, body: marked(plan.master, plan.uid, writeMarkOf(ics)) }, ctx);
    }
    const id = String(master.id);
    if (plan.exceptions.length > 0 || plan.cancelled.length > 0) await this.occurrences(id, plan, await this.g.series(id, ctx), ctx);
    return id;
  }

  private async update(cal: RemoteCalendar, ref: RemoteRef, plan: GraphWritePlan, ics: string, ctx: SourceContext): Promise<string> {
    const s = await this.g.series(ref.id, ctx);
    if (!s) throw new PreconditionFailedUpstream(`Graph event ${ref.id} no longer exists`, 412);
    const mark = writeMarkOf(ics);
    if (versionOf(s) !== ref.etag) {
      if (propOf(s.master, WRITE_MARK_ID) === mark) return ref.id; // our own earlier attempt was stored
      throw new PreconditionFailedUpstream(`Graph event ${ref.id} changed since calgate last read it`, 412);
    }
    const restored = s.cancelled.filter((d) => !plan.cancelled.includes(d) && !plan.exceptions.some((e) => e.originalDate === d));
    if (restored.length > 0) throw new Permanent(`Microsoft Graph cannot restore cancelled occurrences (${restored.join(", ")}): keep their EXDATE`, 403);
    try {
      await this.g.api.call("events.update", "idempotent", { method: "PATCH", path: `/me/events/${encodeURIComponent(ref.id)}`, headers: { ...PREFER_UTC, "If-Match": etagOf(s.master) }, body: marked(patchOf(plan.master), plan.uid, mark), lookup: true }, ctx);
    } catch (e) {
      if (!(e instanceof PreconditionFailedUpstream) && !(e instanceof NotFoundUpstream)) throw e;
      const now = await this.g.series(ref.id, ctx);
      if (!now || propOf(now.master, WRITE_MARK_ID) !== mark) throw e instanceof NotFoundUpstream ? new PreconditionFailedUpstream(`Graph event ${ref.id} no longer exists`, 412) : e;
      return ref.id;
    }
    // A changed pattern may have discarded exceptions: work on what Graph holds now.
    const recurring = plan.master.recurrence != null || s.exceptions.length > 0 || s.cancelled.length > 0;
    if (recurring) await this.occurrences(ref.id, plan, await this.g.series(ref.id, ctx), ctx, s);
    return ref.id;
  }

  /** Overrides that differ from what Graph holds are PATCHed onto their occurrence; new EXDATEs cancel theirs. */
  private async occurrences(masterId: string, plan: GraphWritePlan, now: Series | null, ctx: SourceContext, before: Series | null = null): Promise<void> {
    const old = before && before.exceptions.length > 0 ? this.planOf(this.g.icsOf(before)).exceptions : [];
    for (const ex of plan.exceptions) {
      const prior = old.find((b) => b.originalStart === ex.originalStart);
      const held = now?.exceptions.find((e) => Date.parse(String(e.originalStart ?? "")) === Date.parse(ex.originalStart));
      if (prior && held && stable(prior.body) === stable(ex.body)) continue;
      await this.patchOccurrence(masterId, ex, held ?? null, ctx);
    }
    // Occurrences no longer overridden (and not excluded) go back to the series' values.
    for (const b of old) {
      if (plan.exceptions.some((e) => e.originalStart === b.originalStart) || plan.cancelled.includes(b.originalDate)) continue;
      const held = now?.exceptions.find((e) => Date.parse(String(e.originalStart ?? "")) === Date.parse(b.originalStart));
      if (held) await this.patchOccurrence(masterId, { ...b, body: this.seriesValues(plan, held) }, held, ctx);
    }
    for (const date of plan.cancelled) {
      if (now?.cancelled.includes(date)) continue;
      const inst = await this.instanceOn(masterId, date, ctx);
      if (!inst) continue; // not an occurrence (any more): nothing to cancel
      try {
        await this.g.api.call("events.cancelOccurrence", "idempotent", { method: "DELETE", path: `/me/events/${encodeURIComponent(String(inst.id))}`, lookup: true }, ctx);
      } catch (e) {
        if (!(e instanceof NotFoundUpstream)) throw e;
      }
    }
  }

  /** The master's values for an occurrence slot (an exception put back). */
  private seriesValues(plan: GraphWritePlan, held: GraphEvent): GraphEvent {
    const { recurrence: _r, transactionId: _t, start: s, end: e, ...rest } = plan.master;
    const len = s && e ? Date.parse(`${e.dateTime}Z`) - Date.parse(`${s.dateTime}Z`) : 0;
    const at = Date.parse(String(held.originalStart));
    const iso = (ms: number): string => new Date(ms).toISOString().replace("Z", "");
    return plan.master.isAllDay ? { ...rest } : { ...rest, start: { dateTime: iso(at), timeZone: "UTC" }, end: { dateTime: iso(at + len), timeZone: "UTC" } };
  }

  private async patchOccurrence(masterId: string, ex: Exc, held: GraphEvent | null, ctx: SourceContext): Promise<void> {
    const inst = held ?? (await this.instanceOn(masterId, ex.originalDate, ctx));
    if (!inst) throw new Permanent(`RECURRENCE-ID ${ex.originalStart} is not an occurrence of the series at Microsoft Graph`, 403);
    const headers: Record<string, string> = { ...PREFER_UTC, ...(etagOf(inst) ? { "If-Match": etagOf(inst) } : {}) };
    await this.g.api.call("events.updateOccurrence", "idempotent", { method: "PATCH", path: `/me/events/${encodeURIComponent(String(inst.id))}`, headers, body: patchOf(ex.body), lookup: true }, ctx);
  }

  /** The occurrence (or exception) of a series on a local date, from /instances over a few days around it. */
  private async instanceOn(masterId: string, date: string, ctx: SourceContext): Promise<GraphEvent | null> {
    const t = Date.parse(`${date}T00:00:00Z`);
    const from = new Date(t - 2 * DAY).toISOString(), to = new Date(t + 3 * DAY).toISOString();
    const page: { value?: GraphEvent[] } = await this.g.api.call("events.instances", "read", { method: "GET", path: `/me/events/${encodeURIComponent(masterId)}/instances?startDateTime=${encodeURIComponent(from)}&endDateTime=${encodeURIComponent(to)}&$select=id,type,originalStart,occurrenceId,start`, lookup: true }, ctx);
    return (page.value ?? []).find((i) => String(i.occurrenceId ?? "").endsWith(`.${date}`)) ?? null;
  }

  async remove(cal: RemoteCalendar, ref: RemoteRef, ctx: SourceContext): Promise<void> {
    if (ref.etag === null) throw new Permanent(`refusing to delete Graph event ${ref.id} without knowing its current version`);
    const v = parseVersion(ref.etag);
    if (v.x.size > 0 || v.c.length > 0) {
      // A series: its exceptions have etags of their own; the whole series must be the version we know.
      const s = await this.g.series(ref.id, ctx);
      if (!s) return;
      if (versionOf(s) !== ref.etag) throw new PreconditionFailedUpstream(`Graph event ${ref.id} changed since calgate last read it`, 412);
    }
    try {
      await this.g.api.call("events.delete", "idempotent", { method: "DELETE", path: `/me/events/${encodeURIComponent(ref.id)}`, headers: { "If-Match": v.m }, lookup: true }, ctx);
    } catch (e) {
      if (e instanceof NotFoundUpstream) return; // already gone (also after our own lost attempt)
      throw e;
    }
    void cal;
  }
}
