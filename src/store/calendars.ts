/** Calendar collections: rows of `calendars`, their properties and their change-log counter. */
import { insertedId, type Db } from "./db.ts";
import { sharedReads } from "./shared-reads.ts";
import type { XmlElement } from "../xml/tree.ts";

export interface CalendarRow {
  id: number;
  owner: string;
  name: string;
  source_id: string;
  source_calendar_id: string | null;
  displayname: string | null;
  description: string | null;
  color: string | null;
  sort_order: number | null;
  timezone: string | null;
  components: string;
  sync_seq: number;
  min_seq: number;
  dead_props: string | null;
  upstream_href: string | null;
  upstream_ctag: string | null;
  upstream_cursor: string | null;
  /** Consecutive upstream listings that did not include this calendar. */
  upstream_missing: number;
  /** 1 when the upstream grants read access only (served read-only). */
  read_only: number;
  /** JSON array of the owning account's calendar user addresses (lower case, no "mailto:"), or null. */
  owner_addresses: string | null;
  created_at: number;
  /** Last change of a member or a property (null only for rows written before migration 008). */
  modified_at: number | null;
}

export interface NewCalendar {
  owner: string;
  name: string;
  sourceId: string;
  sourceCalendarId?: string | null;
  displayname?: string | null;
  description?: string | null;
  color?: string | null;
  order?: number | null;
  timezone?: string | null;
  components?: readonly string[];
  upstreamHref?: string | null;
  readOnly?: boolean;
  ownerAddresses?: readonly string[] | null;
}

export interface CalendarUpdate {
  displayname?: string | null;
  description?: string | null;
  color?: string | null;
  order?: number | null;
  timezone?: string | null;
  components?: readonly string[];
  deadProps?: Record<string, XmlElement | null>;
  upstreamCtag?: string | null;
  upstreamCursor?: string | null;
  upstreamHref?: string | null;
  upstreamMissing?: number;
  readOnly?: boolean;
  ownerAddresses?: readonly string[] | null;
}

export class CalendarStore {
  constructor(private readonly db: Db) {}

  listByOwner(owner: string): Promise<CalendarRow[]> {
    return this.db<CalendarRow>("calendars").where({ owner }).orderBy("id");
  }
  listBySource(owner: string, sourceId: string): Promise<CalendarRow[]> {
    return this.db<CalendarRow>("calendars").where({ owner, source_id: sourceId }).orderBy("id");
  }
  /** The row as committed when this was called (concurrent callers may share one read: shared-reads.ts). */
  async get(owner: string, name: string): Promise<CalendarRow | null> {
    const make = () => this.db<CalendarRow>("calendars").where({ owner, name }).first();
    const shared = sharedReads<CalendarRow | undefined>(this.db, "calendar-by-name");
    if (!shared) return (await make()) ?? null;
    const row = await shared.read(JSON.stringify([owner, name]), make);
    // Each caller gets its own copy of a shared row.
    return row ? { ...row } : null;
  }
  async byId(id: number): Promise<CalendarRow | null> {
    return (await this.db<CalendarRow>("calendars").where({ id }).first()) ?? null;
  }

  async create(c: NewCalendar): Promise<CalendarRow> {
    const rows = await this.db("calendars").insert({
      owner: c.owner,
      name: c.name,
      source_id: c.sourceId,
      source_calendar_id: c.sourceCalendarId ?? null,
      displayname: c.displayname ?? null,
      description: c.description ?? null,
      color: c.color ?? null,
      sort_order: c.order ?? null,
      timezone: c.timezone ?? null,
      components: (c.components ?? ["VEVENT", "VTODO"]).join(","),
      upstream_href: c.upstreamHref ?? null,
      read_only: c.readOnly ? 1 : 0,
      owner_addresses: addressesJson(c.ownerAddresses),
      created_at: Date.now(),
      modified_at: Date.now(),
    }).returning("id");
    return (await this.byId(insertedId(rows)))!;
  }

  async update(id: number, u: CalendarUpdate): Promise<void> {
    await this.db.transaction(async (trx) => {
      const patch: Record<string, unknown> = {};
      if (u.displayname !== undefined) patch.displayname = u.displayname;
      if (u.description !== undefined) patch.description = u.description;
      if (u.color !== undefined) patch.color = u.color;
      if (u.order !== undefined) patch.sort_order = u.order;
      if (u.timezone !== undefined) patch.timezone = u.timezone;
      if (u.components !== undefined) patch.components = u.components.join(",");
      if (u.upstreamCtag !== undefined) patch.upstream_ctag = u.upstreamCtag;
      if (u.upstreamCursor !== undefined) patch.upstream_cursor = u.upstreamCursor;
      if (u.upstreamHref !== undefined) patch.upstream_href = u.upstreamHref;
      if (u.upstreamMissing !== undefined) patch.upstream_missing = u.upstreamMissing;
      if (u.readOnly !== undefined) patch.read_only = u.readOnly ? 1 : 0;
      if (u.ownerAddresses !== undefined) patch.owner_addresses = addressesJson(u.ownerAddresses);
      if (u.deadProps !== undefined) {
        const row = await trx<CalendarRow>("calendars").where({ id }).first("dead_props");
        const dead = JSON.parse(row?.dead_props ?? "{}") as Record<string, XmlElement>;
        for (const [k, v] of Object.entries(u.deadProps)) {
          if (v === null) delete dead[k];
          else dead[k] = v;
        }
        patch.dead_props = JSON.stringify(dead);
      }
      // A property a client sees changed makes the collection modified; upstream bookkeeping does not.
      const visible = ["displayname", "description", "color", "sort_order", "timezone", "components", "dead_props"];
      if (Object.keys(patch).some((k) => visible.includes(k))) patch.modified_at = Date.now();
      if (Object.keys(patch).length > 0) await trx("calendars").where({ id }).update(patch);
    });
  }

  async remove(id: number): Promise<void> {
    await this.db("calendars").where({ id }).delete();
  }
}

const addressesJson = (a: readonly string[] | null | undefined): string | null => (a && a.length > 0 ? JSON.stringify(a.map((x) => x.toLowerCase())) : null);

/** A calendar's owner addresses (lower case), [] when unknown. */
export function ownerAddressesOf(row: Pick<CalendarRow, "owner_addresses">): string[] {
  if (!row.owner_addresses) return [];
  try {
    const a = JSON.parse(row.owner_addresses) as unknown;
    return Array.isArray(a) ? a.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}
