import type { Knex } from "knex";

/**
 * When a calendar collection last changed (a member or a property): DAV:getlastmodified of the
 * collection. Existing calendars start from their creation time.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("calendars", (t) => {
    t.bigInteger("modified_at");
  });
  await knex("calendars").update({ modified_at: knex.ref("created_at") });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("calendars", (t) => {
    t.dropColumn("modified_at");
  });
}
