import type { Knex } from "knex";

/**
 * The one instance of a plain (non-recurring, non-floating, timed) event, exactly. A calendar-query
 * that is only a time-range decides these rows from the columns, without parsing iCalendar.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("objects", (t) => {
    t.bigInteger("exact_start");
    t.bigInteger("exact_end");
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("objects", (t) => {
    t.dropColumn("exact_start");
    t.dropColumn("exact_end");
  });
}
