import type { Knex } from "knex";

/**
 * Merged calendars: a collection per configured `users[].merged` entry whose members are the union of
 * the included calendars, one per UID. `merged_members` is the merged calendar's own change log and
 * name table (tombstones included), so its sync tokens and hrefs are its own and survive restarts;
 * `positions_json` says how far each included calendar's change log has been folded in.
 * `calendars.owner_addresses`: the calendar user addresses of the account that owns a calendar (from
 * the upstream), used to prefer the organizer's copy of a meeting present in several calendars.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("merged_calendars", (t) => {
    t.increments("id");
    t.string("owner").notNullable();
    t.string("merged_id").notNullable();
    t.bigInteger("sync_seq").notNullable().defaultTo(0);
    t.text("positions_json").notNullable().defaultTo("{}"); // { "<calendar id>": last folded-in seq }
    t.text("included_key").notNullable().defaultTo(""); // included calendar ids in order, as folded in
    t.string("color");
    t.integer("sort_order");
    t.text("dead_props");
    t.bigInteger("created_at").notNullable();
    t.unique(["owner", "merged_id"]);
  });
  await knex.schema.createTable("merged_members", (t) => {
    t.integer("merged_id").notNullable().references("merged_calendars.id").onDelete("CASCADE");
    t.string("name").notNullable(); // href segment in the merged calendar
    t.string("uid").notNullable();
    t.integer("calendar_id"); // the calendar whose copy is shown (null once deleted)
    t.string("object_name");
    t.string("etag");
    t.bigInteger("seq").notNullable();
    t.boolean("deleted").notNullable();
    t.primary(["merged_id", "name"]);
    t.unique(["merged_id", "uid"]);
    t.index(["merged_id", "seq"], "merged_members_seq_idx");
  });
  await knex.schema.alterTable("calendars", (t) => {
    t.text("owner_addresses"); // JSON array of lower-case addresses (mailto: stripped), or null
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("calendars", (t) => t.dropColumn("owner_addresses"));
  await knex.schema.dropTableIfExists("merged_members");
  await knex.schema.dropTableIfExists("merged_calendars");
}
