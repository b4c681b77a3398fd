import type { Knex } from "knex";

/**
 * Heartbeats of the calgate processes on this database (issue 16): a lease or outbox claim whose
 * holder stopped beating is taken over without waiting for its full lifetime, whichever machine the
 * holder ran on. One row per holder ("host:pid:nonce"); rows of stopped holders are deleted.
 * Status events record which process published them (`origin`), so that follow-ups of a sync
 * (mirror rules, provider push subscriptions, metrics) run in that process only, not in every
 * instance that reads the event.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("instances", (t) => {
    t.string("holder").primary();
    t.bigInteger("started_at").notNullable();
    t.bigInteger("seen_at").notNullable();
  });
  await knex.schema.alterTable("status_events", (t) => {
    t.string("origin");
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("status_events", (t) => {
    t.dropColumn("origin");
  });
  await knex.schema.dropTable("instances");
}
