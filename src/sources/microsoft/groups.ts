/**
 * One calendar object resource is one Graph series: the seriesMaster (or singleInstance), its
 * exceptions (events of their own, with their own etags) and its cancelled occurrences (only the
 * master's cancelledOccurrences names them). These pure helpers give each series one version tag, so
 * that a change to the master, to any exception or to the cancelled list changes the object's version
 * (like google/groups.ts), and group calendarView delta entries by the series they belong to.
 */
import { createHash } from "node:crypto";
import { EXTRAS_PROPERTY_ID, type GraphEvent } from "./translate.ts";

/** A second single-value extended property (PS_PUBLIC_STRINGS, String, "calgate-uid") holding only the
 *  iCalendar UID: the extras blob cannot be filtered on, this one can (locate by UID). */
export const UID_PROPERTY_ID = "String {00020329-0000-0000-C000-000000000046} Name calgate-uid";

/** A hash of the iCalendar text of calgate's last write of the event: after a lost answer (or a 412 on our
 *  own retry), finding it proves that this very write was stored (like google/groups.ts WRITE_MARK). */
export const WRITE_MARK_ID = "String {00020329-0000-0000-C000-000000000046} Name calgate-write";
export const writeMarkOf = (ics: string): string => createHash("sha256").update(ics).digest("base64url").slice(0, 22);

/** `$expand` that brings our properties with an event. */
export const EXPAND_PROPS = `singleValueExtendedProperties($filter=id eq '${EXTRAS_PROPERTY_ID}' or id eq '${UID_PROPERTY_ID}' or id eq '${WRITE_MARK_ID}')`;

export interface Series {
  /** The RemoteRef id: the master's (or single's) Graph id. */
  readonly key: string;
  readonly master: GraphEvent;
  readonly exceptions: readonly GraphEvent[];
  /** Local dates (yyyy-mm-dd) of cancelled occurrences, from cancelledOccurrences (OID.<master>.<date>). */
  readonly cancelled: readonly string[];
}

export const etagOf = (e: GraphEvent | null | undefined): string => String(e?.["@odata.etag"] ?? e?.changeKey ?? "");

export function cancelledDates(master: GraphEvent): string[] {
  return (master.cancelledOccurrences ?? []).map((o) => /(\d{4}-\d{2}-\d{2})$/.exec(String(o))?.[1]).filter((d): d is string => !!d).sort();
}

const byId = (a: readonly [string, string], b: readonly [string, string]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/** The version tag: the master's etag alone for a plain event, else a JSON of all etags and the cancelled dates. */
export function versionOf(s: Series): string {
  const m = etagOf(s.master);
  if (s.exceptions.length === 0 && s.cancelled.length === 0) return m;
  const x = s.exceptions.map((e) => [String(e.id), etagOf(e)] as const).sort(byId);
  return JSON.stringify({ m, x, c: [...s.cancelled] });
}

export interface SeriesVersion {
  readonly m: string;
  readonly x: ReadonlyMap<string, string>;
  readonly c: readonly string[];
}

export function parseVersion(tag: string): SeriesVersion {
  if (!tag.startsWith("{")) return { m: tag, x: new Map(), c: [] };
  const v = JSON.parse(tag) as { m: string; x: [string, string][]; c?: string[] };
  return { m: v.m, x: new Map(v.x), c: v.c ?? [] };
}

/** What one calendarView delta round says about a series (or single): ids and etags only, so that a
 *  round over a whole calendar (a first sync) is held compactly, not as the events delta sent. */
export interface Touched {
  /** The master's (single's) id. */
  readonly key: string;
  /** The etag of a singleInstance entry delta carried (null: none listed). */
  singleEtag: string | null;
  /** The master's etag as its occurrences carry it, when one was listed. */
  masterEtag: string | null;
  /** Exceptions listed: id → etag. */
  readonly exceptions: Map<string, string>;
}

/**
 * Groups delta entries by series, page by page (`add`). Later copies of an entry replace earlier ones
 * (duplicates are allowed, reference section 2); `@removed` entries of occurrences/exceptions (their
 * ids are not keys) are kept apart, as ids, since a removal does not say what it belonged to.
 */
export class DeltaGroups {
  readonly touched = new Map<string, Touched>();
  readonly removedIds = new Set<string>();

  private entry(key: string): Touched {
    let t = this.touched.get(key);
    if (!t) this.touched.set(key, (t = { key, singleEtag: null, masterEtag: null, exceptions: new Map() }));
    return t;
  }

  add(items: readonly GraphEvent[]): void {
    for (const e of items) {
      if (!e.id) continue;
      if (e["@removed"]) {
        this.removedIds.add(e.id);
        continue;
      }
      this.removedIds.delete(e.id);
      if ((e.type === "occurrence" || e.type === "exception") && e.seriesMasterId) {
        const t = this.entry(e.seriesMasterId);
        if (e.type === "occurrence") t.masterEtag = etagOf(e);
        else t.exceptions.set(e.id, etagOf(e));
      } else if (e.type === "seriesMaster") {
        this.entry(e.id).masterEtag = etagOf(e);
      } else {
        this.entry(e.id).singleEtag = etagOf(e);
      }
    }
  }
}

/** A plain event: delta listed it as a single, with no exception. */
export const isSingle = (t: Touched): boolean => t.singleEtag !== null && t.exceptions.size === 0;

/** True when a known version still holds according to what delta listed (nothing to fetch). */
export function unchanged(t: Touched, known: string | null | undefined): boolean {
  if (!known) return false;
  if (t.singleEtag !== null) return t.exceptions.size === 0 && known === t.singleEtag;
  if (t.masterEtag === null) return false;
  const v = parseVersion(known);
  if (v.m !== t.masterEtag) return false;
  for (const [id, etag] of t.exceptions) if (v.x.get(id) !== etag) return false;
  return true;
}

/** The event's value of one of our extended properties, or null. */
export function propOf(e: GraphEvent | null | undefined, id: string): string | null {
  const want = id.toLowerCase();
  return (e?.singleValueExtendedProperties ?? []).find((p) => typeof p?.id === "string" && p.id.toLowerCase() === want)?.value ?? null;
}

/**
 * What the writer needs from the adapter's read side (the adapter implements it): the API client, a
 * series by id, an event, a series as iCalendar, and the id of the event holding a UID.
 */
export interface SeriesAccess {
  readonly api: import("./client.ts").GraphApi;
  event(id: string, ctx: import("../adapter.ts").SourceContext, select?: string): Promise<import("./translate.ts").GraphEvent | null>;
  series(id: string, ctx: import("../adapter.ts").SourceContext): Promise<Series | null>;
  icsOf(s: Series): string;
  idByUid(cal: import("../adapter.ts").RemoteCalendar, uid: string, ctx: import("../adapter.ts").SourceContext): Promise<string | null>;
}
