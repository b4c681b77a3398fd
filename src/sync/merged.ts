/**
 * Merged calendars (`users[].merged`): a CalendarService over the plain one that adds, per user, one
 * collection per merged calendar. Its members are the union of the included calendars, one per UID
 * (merged-dedupe.ts picks the copy shown), named and logged in the store's merged tables so hrefs,
 * ETags and sync tokens are stable across restarts and resyncs. Reads fold the included calendars'
 * new changes in first; writes go to the calendar that owns the member (a new event to `writeTo`)
 * through the plain service, so they take the normal write path to the owner's provider.
 */
import {
  NoWriteTarget, ObjectNotFound, PreconditionFailed, UidConflict, UpstreamRefused,
  type CalendarMeta, type CalendarProps, type CalendarService, type ChangeSet, type MemberListing, type ObjectHead,
  type Preconditions, type PutResult, type QueryOptions, type RangeAnswer, type StoredObject, type User,
} from "../dav/service.ts";
import type { Config, MergedConfig } from "../config/schema.ts";
import { ownerAddressesOf, type CalendarStore } from "../store/calendars.ts";
import type { MergedRow, MergedStore } from "../store/merged.ts";
import type { TimeRange } from "../ical/time-range.ts";
import type { XmlElement } from "../xml/tree.ts";
import { parseCalendarObject } from "../ical/parse.ts";
import { resolveRef, resolveRefs } from "./calendar-refs.ts";
import { chooseCopy } from "./merged-dedupe.ts";
import { changeSet, toHead } from "./change-set.ts";
import { formatSyncToken } from "./tokens.ts";
import { randomUUID } from "node:crypto";
import { renamed } from "./object-cache.ts";

/** A merged calendar as of one read: its row, its included calendars (plain metas) and its meta. */
interface View {
  readonly config: MergedConfig;
  readonly row: MergedRow;
  readonly included: readonly CalendarMeta[];
  readonly writeTo: CalendarMeta | null;
  readonly meta: CalendarMeta;
}

export interface MergedFolded {
  owner: string;
  merged: string;
  changed: number;
}

export class MergedCalendarService implements CalendarService {
  /** The view each merged CalendarMeta this service made was read from (the request's snapshot). */
  private readonly views = new WeakMap<CalendarMeta, View>();

  constructor(
    private readonly inner: CalendarService,
    private readonly calendarsStore: CalendarStore,
    private readonly merged: MergedStore,
    private readonly config: Config,
    /** Told when a fold changed a merged calendar (status feed). */
    private readonly onFolded: (f: MergedFolded) => void = () => {},
  ) {}

  /** The status data of the user's merged calendars (GET /status.json `merged`). */
  async status(owner: string): Promise<Record<string, unknown>[]> {
    await this.refresh(owner);
    const summary = await this.merged.summary(owner);
    return this.configured(owner).map((m) => ({
      id: m.id, name: m.name, include: m.include, writeTo: m.writeTo ?? null,
      members: summary.get(m.id)?.members ?? 0, changes: summary.get(m.id)?.seq ?? 0,
    }));
  }

  /** Whether the user has merged calendars. */
  follows(owner: string): boolean {
    return this.configured(owner).length > 0;
  }

  /** Folds every merged calendar of the user up to date (announcing what changed). */
  async refresh(owner: string): Promise<void> {
    const user = { username: owner };
    const plain = await this.inner.calendars(user);
    for (const cfg of this.configured(owner)) await this.view(user, cfg, plain);
  }

  private configured(owner: string): readonly MergedConfig[] {
    return this.config.users.find((u) => u.username === owner)?.merged ?? [];
  }

  /** Reads (and folds up to date) one merged calendar. `hints`: names for UIDs new to it. */
  private async view(user: User, cfg: MergedConfig, plain?: readonly CalendarMeta[], hints?: ReadonlyMap<string, string>): Promise<View> {
    const rows = await this.calendarsStore.listByOwner(user.username);
    const metas = plain ?? (await this.inner.calendars(user));
    const byId = new Map(metas.map((m) => [m.id, m]));
    const includedRows = resolveRefs(rows, cfg.include).filter((r) => byId.has(r.id));
    const included = includedRows.map((r) => ({ id: r.id, seq: Number(r.sync_seq) }));
    let row = await this.merged.ensure(user.username, cfg.id);
    if (!this.merged.upToDate(row, included) || (hints && hints.size > 0)) {
      const owners = new Map(includedRows.map((r) => [r.id, new Set(ownerAddressesOf(r))]));
      const order = included.map((c) => c.id);
      const folded = await this.merged.fold(user.username, cfg.id, included, (copies) => chooseCopy(copies, order, owners), hints);
      row = folded.row;
      if (folded.changed > 0) this.onFolded({ owner: user.username, merged: cfg.id, changed: folded.changed });
    }
    const writeRow = cfg.writeTo ? resolveRef(rows, cfg.writeTo) : null;
    const writeTo = writeRow ? (byId.get(writeRow.id) ?? null) : null;
    const inc = includedRows.map((r) => byId.get(r.id)!);
    const meta = this.meta(user, cfg, row, inc, writeTo);
    const v: View = { config: cfg, row, included: inc, writeTo, meta };
    this.views.set(meta, v);
    return v;
  }

  private meta(user: User, cfg: MergedConfig, row: MergedRow, included: readonly CalendarMeta[], writeTo: CalendarMeta | null): CalendarMeta {
    const token = formatSyncToken(mergedKey(row), Number(row.sync_seq));
    const components = [...new Set([...included, ...(writeTo ? [writeTo] : [])].flatMap((c) => c.components))];
    return {
      id: -row.id,
      owner: user.username,
      name: cfg.id,
      sourceId: "",
      sourceType: "merged",
      displayname: cfg.name,
      description: `Merged: ${cfg.include.join(", ")}`,
      color: row.color,
      order: row.sort_order,
      timezone: writeTo?.timezone ?? null,
      components: components.length > 0 ? components : ["VEVENT"],
      syncToken: token,
      ctag: token,
      deadProps: JSON.parse(row.dead_props ?? "{}") as Record<string, XmlElement>,
      writable: included.some((c) => c.writable) || (writeTo?.writable ?? false),
      mirrorsUpstream: false,
      createdAt: Number(row.created_at),
    };
  }

  private async viewOf(cal: CalendarMeta): Promise<View | null> {
    if (cal.sourceType !== "merged") return null;
    const known = this.views.get(cal);
    if (known) return known;
    const cfg = this.configured(cal.owner).find((m) => m.id === cal.name);
    if (!cfg) throw new ObjectNotFound(`merged calendar ${cal.name} is no longer configured`);
    return this.view({ username: cal.owner }, cfg);
  }

  async calendars(user: User): Promise<CalendarMeta[]> {
    const plain = await this.inner.calendars(user);
    const taken = new Set(plain.map((c) => c.name));
    const out = [...plain];
    // A stored calendar that already has a merged calendar's id as its name keeps it (check-config warns).
    for (const cfg of this.configured(user.username)) if (!taken.has(cfg.id)) out.push((await this.view(user, cfg, plain)).meta);
    return out;
  }
  async calendar(user: User, name: string): Promise<CalendarMeta | null> {
    const plain = await this.inner.calendar(user, name);
    if (plain) return plain;
    const cfg = this.configured(user.username).find((m) => m.id === name);
    return cfg ? (await this.view(user, cfg)).meta : null;
  }
  createCalendar(user: User, name: string, props: CalendarProps): Promise<CalendarMeta> {
    return this.inner.createCalendar(user, name, props);
  }
  async updateCalendar(cal: CalendarMeta, props: CalendarProps): Promise<void> {
    const v = await this.viewOf(cal);
    if (!v) return this.inner.updateCalendar(cal, props);
    const owned = (["displayname", "description", "timezone", "components"] as const).filter((k) => props[k] !== undefined);
    if (owned.length > 0) throw new UpstreamRefused(403, `merged calendar ${cal.name} takes its ${owned.join(", ")} from the configuration (users[].merged); change it there`);
    await this.merged.update(v.row.id, {
      ...(props.color !== undefined ? { color: props.color } : {}),
      ...(props.order !== undefined ? { order: props.order } : {}),
      ...(props.deadProps !== undefined ? { deadProps: props.deadProps } : {}),
    });
  }
  async deleteCalendar(cal: CalendarMeta): Promise<void> {
    if (cal.sourceType !== "merged") return this.inner.deleteCalendar(cal);
    throw new UpstreamRefused(403, `merged calendar ${cal.name} is defined in the configuration (users[].merged); remove it there (its events stay in the calendars it combines)`);
  }

  async heads(cal: CalendarMeta): Promise<ObjectHead[]> {
    const v = await this.viewOf(cal);
    if (!v) return this.inner.heads(cal);
    return (await this.merged.heads(v.row.id)).map(toHead);
  }

  async members(cal: CalendarMeta): Promise<MemberListing> {
    const v = await this.viewOf(cal);
    if (!v) return this.inner.members(cal);
    return (await this.merged.heads(v.row.id)).map(toHead);
  }

  async objects(cal: CalendarMeta, names: readonly string[]): Promise<Map<string, StoredObject | null>> {
    const v = await this.viewOf(cal);
    if (!v) return this.inner.objects(cal, names);
    const out = new Map<string, StoredObject | null>(names.map((n) => [n, null]));
    const byCalendar = new Map<number, Map<string, string>>();
    for (const loc of await this.merged.locate(v.row.id, names)) {
      const m = byCalendar.get(loc.calendarId) ?? new Map<string, string>();
      m.set(loc.objectName, loc.name);
      byCalendar.set(loc.calendarId, m);
    }
    for (const [calendarId, rename] of byCalendar) {
      const plain = v.included.find((c) => c.id === calendarId);
      if (!plain) continue;
      for (const [objectName, obj] of await this.inner.objects(plain, [...rename.keys()])) if (obj) out.set(rename.get(objectName)!, renamed(obj, rename.get(objectName)!));
    }
    return out;
  }

  async *query(cal: CalendarMeta, component: string | null, range: TimeRange | null, opts: QueryOptions = {}): AsyncIterable<StoredObject> {
    const v = await this.viewOf(cal);
    if (!v) {
      yield* this.inner.query(cal, component, range, opts);
      return;
    }
    const shown = await this.merged.index(v.row.id);
    yield* shownObjects(shown, v.included.map((plain) => ({ plain, objects: this.inner.query(plain, component, range, opts) })));
  }

  async rangeQuery(cal: CalendarMeta, component: string, range: TimeRange, floatingZone: string | null): Promise<RangeAnswer> {
    const v = await this.viewOf(cal);
    if (!v) return this.inner.rangeQuery(cal, component, range, floatingZone);
    const shown = await this.merged.index(v.row.id);
    const parts: { plain: CalendarMeta; answer: RangeAnswer }[] = [];
    for (const plain of v.included) parts.push({ plain, answer: await this.inner.rangeQuery(plain, component, range, floatingZone) });
    async function* decided(): AsyncIterable<readonly ObjectHead[]> {
      for (const { plain, answer } of parts) {
        for await (const page of answer.decided) {
          const out: ObjectHead[] = [];
          for (const h of page) {
            const name = shown.get(`${plain.id}\u0000${h.name}`);
            if (name !== undefined) out.push({ ...h, name });
          }
          if (out.length > 0) yield out;
        }
      }
    }
    return { decided: decided(), undecided: shownObjects(shown, parts.map(({ plain, answer }) => ({ plain, objects: answer.undecided }))) };
  }

  async changesSince(cal: CalendarMeta, token: string | null, limit?: number): Promise<ChangeSet> {
    const v = await this.viewOf(cal);
    if (!v) return this.inner.changesSince(cal, token, limit);
    const id = v.row.id;
    return changeSet({ key: mergedKey(v.row), seq: Number(v.row.sync_seq), minSeq: 0, heads: () => this.heads(cal), since: (from, n, after) => this.merged.changesSince(id, from, n, after) }, token, limit);
  }

  async put(user: User, cal: CalendarMeta, name: string, ics: string, cond: Preconditions): Promise<PutResult> {
    const v = await this.viewOf(cal);
    if (!v) return this.inner.put(user, cal, name, ics, cond);
    const uid = parseCalendarObject(ics).uid;
    const [loc] = await this.merged.locate(v.row.id, [name]);
    if (loc) {
      // An edit: to the calendar whose copy is shown, under its own name there.
      const owner = this.ownerOf(v, loc.calendarId, name);
      const shown = (await this.inner.objects(owner, [loc.objectName])).get(loc.objectName);
      if (uid !== loc.uid && uid !== shown?.uid) throw new UidConflict(name);
      const r = await this.inner.put(user, owner, loc.objectName, ics, cond);
      await this.view(user, v.config);
      return { ...r, created: false };
    }
    if (cond.ifMatch !== null) throw new PreconditionFailed(`${name} does not exist in merged calendar ${cal.name}`);
    const same = await this.merged.byUid(v.row.id, uid);
    if (same) throw new UidConflict(same.name);
    const target = v.writeTo;
    if (!target) {
      const why = v.config.writeTo ? `its writeTo "${v.config.writeTo}" names no calendar calgate holds` : "it has no writeTo in the configuration (users[].merged)";
      throw new NoWriteTarget(`merged calendar ${cal.name} cannot take new events: ${why}; create the event in one of the calendars it combines`);
    }
    if (!target.writable) throw new UpstreamRefused(403, `merged calendar ${cal.name} sends new events to ${target.name}, which is read-only`);
    // The client's name when the target calendar has no object by that name; the merged calendar shows it under the client's name either way.
    const free = (await this.inner.objects(target, [name])).get(name) === null;
    const targetName = free ? name : `${randomUUID()}.ics`;
    const r = await this.inner.put(user, target, targetName, ics, { ifMatch: null, ifNoneMatch: "*" });
    await this.view(user, v.config, undefined, new Map([[uid, name]]));
    return { ...r, created: true };
  }

  /** MOVE inside one calendar: plain calendars rename; a merged calendar's members are named by it, not by their calendars. */
  async rename(user: User, cal: CalendarMeta, from: string, to: string, opts: { overwrite: boolean; cond: Preconditions }): Promise<{ created: boolean }> {
    if (cal.sourceType === "merged" || !this.inner.rename) throw new UpstreamRefused(403, `members of merged calendar ${cal.name} cannot be renamed; move the event in the calendar that holds it`);
    return this.inner.rename(user, cal, from, to, opts);
  }

  async remove(user: User, cal: CalendarMeta, name: string, cond: Preconditions): Promise<void> {
    const v = await this.viewOf(cal);
    if (!v) return this.inner.remove(user, cal, name, cond);
    const [loc] = await this.merged.locate(v.row.id, [name]);
    if (!loc) throw new ObjectNotFound(`no member ${name} in merged calendar ${cal.name}`);
    await this.inner.remove(user, this.ownerOf(v, loc.calendarId, name), loc.objectName, cond);
    await this.view(user, v.config);
  }

  private ownerOf(v: View, calendarId: number, name: string): CalendarMeta {
    const owner = v.included.find((c) => c.id === calendarId);
    if (!owner) throw new ObjectNotFound(`${name} is no longer in merged calendar ${v.meta.name}`);
    if (!owner.writable) throw new UpstreamRefused(403, `${name} in merged calendar ${v.meta.name} belongs to calendar ${owner.name}, which is read-only`);
    return owner;
  }
}

const mergedKey = (row: MergedRow): string => `m${row.id}`;

/** Each included calendar's objects under their merged names; copies the view hides are left out. */
async function* shownObjects(shown: ReadonlyMap<string, string>, parts: readonly { plain: CalendarMeta; objects: AsyncIterable<StoredObject> }[]): AsyncIterable<StoredObject> {
  for (const { plain, objects } of parts) {
    for await (const obj of objects) {
      const name = shown.get(`${plain.id}\u0000${obj.name}`);
      if (name !== undefined) yield renamed(obj, name);
    }
  }
}
