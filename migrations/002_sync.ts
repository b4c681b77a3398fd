import type { Knex } from "knex";

/** Sync engine bookkeeping: the object version a queued write replaced (for rollback), and a sync lease per source. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("outbox", (t) => {
    t.text("previous_json"); // the object row the write replaced (null = it created the object)
    t.string("owner");
    t.string("source_id");
  });
  await knex.schema.alterTable("sources", (t) => {
    t.string("lease_holder"); // process running a sync of this source now (serve and `sync --once` share the db)
    t.bigInteger("lease_until");
  });
  await knex.schema.alterTable("status_events", (t) => {
    t.index(["owner", "id"], "status_events_owner_idx");
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("outbox", (t) => {
    t.dropColumn("previous_json");
    t.dropColumn("owner");
    t.dropColumn("source_id");
  });
  await knex.schema.alterTable("sources", (t) => {
    t.dropColumn("lease_holder");
    t.dropColumn("lease_until");
  });
  await knex.schema.alterTable("status_events", (t) => t.dropIndex(["owner", "id"], "status_events_owner_idx"));
}
