/**
 * The occurrence index's tables (migration 012): per object a cover and its instances as match spans
 * (computed by src/ical/occurrences.ts). Written only inside the transaction that writes the object
 * (ObjectStore.put), so the index is never staler than the object; deleted with it (ON DELETE CASCADE).
 */
import type { Knex } from "knex";
import type { Db, Tx } from "./db.ts";
import type { ObjectRow } from "./rows.ts";

/** What an ObjectWrite carries for the index (the shape of ical/occurrences.ts's OccurrenceSet). */
export interface OccurrenceRows {
  readonly coverFrom: number;
  readonly coverTo: number;
  readonly zone: string;
  readonly spans: readonly { readonly start: number; readonly end: number }[];
}

/** A range with both ends given (the service maps an open end to the index's "unbounded" value). */
export interface SpanRange {
  readonly start: number;
  readonly end: number;
}

/** Spans longer than this are "long": the others are found by a range scan on start_ms bounded by it. */
const SHORT_MS = 7 * 86_400_000;
const ROWS_PER_INSERT = 200;

/** An object the index decided matches, with its head (what a time-range answer lists). */
export type MatchedHead = Pick<ObjectRow, "id" | "name" | "etag" | "size" | "modified_at" | "component">;

/** The index's "unbounded" (ical/occurrences.ts UNBOUNDED), and the zone of a set waiting for the start-up pass. */
const UNBOUNDED = 8_640_000_000_000_000;
const PENDING = "pending";
const PENDING_SET: OccurrenceRows = { coverFrom: UNBOUNDED, coverTo: -UNBOUNDED, zone: PENDING, spans: [] };

/**
 * Replaces the object's set. `rows` undefined (the writer did not compute one) stores a pending set:
 * covering nothing, so evaluated per query until the start-up pass indexes it.
 */
export async function writeOccurrences(trx: Tx, objectId: number, calendarId: number, given: OccurrenceRows | undefined): Promise<void> {
  const rows = given ?? PENDING_SET;
  await trx("occurrences").where({ object_id: objectId }).delete();
  await trx("occurrence_sets").where({ object_id: objectId }).delete();
  await trx("occurrence_sets").insert({ object_id: objectId, calendar_id: calendarId, cover_from: rows.coverFrom, cover_to: rows.coverTo, zone: rows.zone });
  for (let i = 0; i < rows.spans.length; i += ROWS_PER_INSERT) {
    const chunk = rows.spans.slice(i, i + ROWS_PER_INSERT).map((s) => ({ object_id: objectId, calendar_id: calendarId, start_ms: s.start, end_ms: s.end, long: s.end - s.start > SHORT_MS }));
    await trx("occurrences").insert(chunk);
  }
}

export class OccurrenceIndex {
  constructor(private readonly db: Db) {}

  /** Ids of objects with a span overlapping `range` (with repeats), for an IN (...). */
  private overlapping(calendarId: number, range: SpanRange): Knex.QueryBuilder {
    return this.db("occurrences").select("object_id").where({ calendar_id: calendarId, long: false })
      .andWhere("start_ms", ">=", range.start - SHORT_MS).andWhere("start_ms", "<", range.end).andWhere("end_ms", ">", range.start)
      .unionAll((u) => {
        u.select("object_id").from("occurrences").where({ calendar_id: calendarId, long: true }).andWhere("start_ms", "<", range.end).andWhere("end_ms", ">", range.start);
      });
  }

  /**
   * The first `limit` objects, by id, that the index decides match `range` (covered, in a usable
   * zone, with a span overlapping it), with their heads: most answers, whole, in one query.
   */
  async matchingHeads(calendarId: number, component: string, range: SpanRange, zone: string, limit: number): Promise<MatchedHead[]> {
    const rows = await this.db("objects as o")
      .join("occurrence_sets as s", "s.object_id", "o.id")
      .whereIn("o.id", this.overlapping(calendarId, range))
      .andWhere("o.component", component)
      .andWhere("s.cover_from", "<=", range.start)
      .andWhere("s.cover_to", ">=", range.end)
      .andWhere((w) => w.where("s.zone", "").orWhere("s.zone", zone))
      .orderBy("o.id")
      .limit(limit)
      .select("o.id", "o.name", "o.etag", "o.size", "o.modified_at", "o.component");
    return rows as MatchedHead[];
  }

  /**
   * Ids, ascending and after `afterId`, of the objects the index decides match `range`, of any
   * indexed component (ObjectStore.headsByIds keeps those of the one asked for): for an answer too
   * large for one page of heads. Read from the index's tables only, without the objects' rows.
   */
  async matchingIds(calendarId: number, range: SpanRange, zone: string, afterId: number): Promise<number[]> {
    const ids: (number | string)[] = await this.db("occurrence_sets as s")
      .whereIn("s.object_id", this.overlapping(calendarId, range))
      .andWhere("s.object_id", ">", afterId)
      .andWhere("s.calendar_id", calendarId)
      .andWhere("s.cover_from", "<=", range.start)
      .andWhere("s.cover_to", ">=", range.end)
      .andWhere((w) => w.where("s.zone", "").orWhere("s.zone", zone))
      .orderBy("s.object_id")
      .pluck("s.object_id");
    return ids.map(Number);
  }

  /**
   * Objects of the calendar the index cannot decide for `range` (no set, not covering it, or floating
   * times read in another zone), prefiltered on their first-start/last-end bounds like ObjectStore.query.
   */
  async *undecided(calendarId: number, component: string, range: SpanRange, zone: string, batch = 500): AsyncIterable<ObjectRow> {
    let lastId = 0;
    for (;;) {
      // Three reasons, each a range scan on its own index of the sets (usually finding nothing): the
      // cover starts after the range, ends before it, or the floating times were read in another
      // zone. UNION drops an object found for two of them.
      const part = (why: (q: Knex.QueryBuilder) => void) => (q: Knex.QueryBuilder): void => {
        q.select("o.*").from("occurrence_sets as s").join("objects as o", "o.id", "s.object_id").where("s.calendar_id", calendarId);
        why(q);
        q.andWhere("s.object_id", ">", lastId)
          .andWhere("o.component", component)
          .andWhere((w) => w.whereNull("o.first_start").orWhere("o.first_start", "<", range.end))
          .andWhere((w) => w.whereNull("o.last_end").orWhere("o.last_end", ">", range.start));
      };
      const union = this.db.queryBuilder().union([
        part((q) => q.andWhere("s.cover_from", ">", range.start)),
        part((q) => q.andWhere("s.cover_to", "<", range.end)),
        // zone not in ("", the query's) as two ranges, so that the query's own zone is not scanned
        part((q) => q.andWhere("s.zone", ">", "").andWhere("s.zone", "<", zone)),
        part((q) => q.andWhere("s.zone", ">", zone)),
      ], false);
      const rows = (await this.db.select("*").from(union.as("u")).orderBy("id").limit(batch)) as ObjectRow[];
      for (const r of rows) yield r;
      if (rows.length < batch) return;
      lastId = rows[rows.length - 1]!.id;
    }
  }

  /**
   * Objects whose set is pending, or whose horizon ends before `extendBefore` (sets covering nothing
   * because the object cannot be indexed are not retried): what the start-up pass (re)indexes.
   */
  async stale(extendBefore: number, afterId: number, limit: number): Promise<Pick<ObjectRow, "id" | "calendar_id" | "etag" | "ics">[]> {
    return this.db("occurrence_sets as s")
      .join("objects as o", "o.id", "s.object_id")
      .where("s.object_id", ">", afterId)
      .andWhere((w) => w.where("s.zone", PENDING).orWhere((x) => x.where("s.cover_to", "<", extendBefore).andWhere("s.cover_to", ">", -UNBOUNDED)))
      .orderBy("s.object_id")
      .limit(limit)
      .select("o.id", "o.calendar_id", "o.etag", "o.ics");
  }

  /** Stores a set computed outside a write, if the object is still the version it was computed from. */
  async replaceIfUnchanged(trx: Tx, objectId: number, etag: string, rows: OccurrenceRows): Promise<boolean> {
    const cur = await trx("objects").where({ id: objectId }).first("etag", "calendar_id");
    if (!cur || cur.etag !== etag) return false;
    await writeOccurrences(trx, objectId, Number(cur.calendar_id), rows);
    return true;
  }
}
