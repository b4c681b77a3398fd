import type { Knex } from "knex";

/**
 * Calendars an upstream lets us read but not write (a Google calendar shared with reader or
 * freeBusyReader access, a Graph calendar with canEdit false): served read-only, and a client's
 * write is refused before anything is queued for the upstream.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("calendars", (t) => {
    t.integer("read_only").notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("calendars", (t) => t.dropColumn("read_only"));
}
