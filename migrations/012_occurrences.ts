import type { Knex } from "knex";

/**
 * The occurrence index (src/ical/occurrences.ts, src/store/occurrences.ts): each indexed object's
 * instances as match spans, and per object what the spans cover (every object has a set row).
 * Existing objects get a "pending" set covering nothing: the start-up pass
 * (src/sync/occurrence-backfill.ts) indexes them, since a migration cannot run the recurrence
 * engine; until then they are evaluated per query, as before.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("occurrence_sets", (t) => {
    t.integer("object_id").primary().references("objects.id").onDelete("CASCADE");
    t.integer("calendar_id").notNullable();
    // Every instance overlapping [cover_from, cover_to) is a row of `occurrences` (epoch ms; ±8.64e15 = unbounded).
    t.bigInteger("cover_from").notNullable();
    t.bigInteger("cover_to").notNullable();
    // "" = no floating time involved; else the id of the zone the floating times were read in.
    t.string("zone", 200).notNullable();
    // What a query scans for the objects the index cannot decide (each a range scan that usually
    // finds nothing); cover_to alone for the start-up pass.
    t.index(["calendar_id", "cover_from"], "occurrence_sets_from_idx");
    t.index(["calendar_id", "cover_to"], "occurrence_sets_to_idx");
    t.index(["calendar_id", "zone"], "occurrence_sets_zone_idx");
    t.index(["cover_to"], "occurrence_sets_cover_idx");
  });
  await knex.schema.createTable("occurrences", (t) => {
    t.integer("object_id").notNullable().references("objects.id").onDelete("CASCADE");
    t.integer("calendar_id").notNullable();
    // Match span: the instance matches a time-range [rs, re) exactly when rs < end_ms and re > start_ms.
    t.bigInteger("start_ms").notNullable();
    t.bigInteger("end_ms").notNullable();
    // Spans longer than a week: scanned apart, so that the others are a bounded range scan on start_ms.
    t.boolean("long").notNullable();
    // Covering: a query reads only this index to find the objects with a span in its range.
    t.index(["calendar_id", "long", "start_ms", "end_ms", "object_id"], "occurrences_range_idx");
    t.index(["object_id"], "occurrences_object_idx");
  });
  // Every existing object starts "pending": covering nothing (so evaluated per query) until indexed.
  await knex.raw("INSERT INTO occurrence_sets (object_id, calendar_id, cover_from, cover_to, zone) SELECT id, calendar_id, ?, ?, ? FROM objects", [UNBOUNDED, -UNBOUNDED, PENDING]);
}

/** The values of src/ical/occurrences.ts (a migration stays as it was written, so they are copied here). */
const UNBOUNDED = 8_640_000_000_000_000;
const PENDING = "pending";

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("occurrences");
  await knex.schema.dropTable("occurrence_sets");
}
