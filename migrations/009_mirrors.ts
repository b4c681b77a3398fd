import type { Knex } from "knex";

/**
 * Mirror rules (users[].mirrors). `mirror_copies` maps each original a rule copied to its copy: the
 * copy's UID (deterministic, see src/sync/mirror-copy.ts) and the original's ETag when it was last
 * copied (null: not delivered, to be tried again). Two rules feeding one calendar with the same meeting
 * have a row each pointing at one copy; the copy goes when the last of them lets go.
 * `mirror_rules` keeps each rule's position in its `from` calendar's change log, the settings its copies
 * were made with (a change rewrites them) and totals for the status data.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("mirror_copies", (t) => {
    t.increments("id").primary();
    t.string("owner").notNullable();
    t.string("rule_key").notNullable(); // "<from> -> <to>" as configured
    t.integer("original_calendar_id").notNullable();
    t.text("original_name").notNullable();
    t.text("original_uid").notNullable();
    t.string("original_etag"); // null: the copy is not (yet) what the original says
    t.integer("target_calendar_id").notNullable();
    t.text("copy_uid").notNullable();
    t.text("copy_name").notNullable(); // where it was last seen (found by UID when it moved)
    t.bigInteger("updated_at").notNullable();
    t.unique(["owner", "rule_key", "original_calendar_id", "original_name"], { indexName: "mirror_copies_original_uq" });
    t.index(["target_calendar_id", "copy_uid"], "mirror_copies_copy_idx");
  });
  await knex.schema.createTable("mirror_rules", (t) => {
    t.string("owner").notNullable();
    t.string("rule_key").notNullable();
    t.integer("from_calendar_id"); // the calendar `position` counts in
    t.bigInteger("position").notNullable().defaultTo(0); // last processed change-log sequence
    t.text("settings"); // mode, busyText, includeFree, window the copies were made with
    t.bigInteger("last_run_at");
    t.integer("created").notNullable().defaultTo(0);
    t.integer("updated").notNullable().defaultTo(0);
    t.integer("deleted").notNullable().defaultTo(0);
    t.integer("errors").notNullable().defaultTo(0);
    t.text("last_error");
    t.primary(["owner", "rule_key"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("mirror_rules");
  await knex.schema.dropTable("mirror_copies");
}
