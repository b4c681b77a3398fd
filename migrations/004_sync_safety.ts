import type { Knex } from "knex";

/**
 * Write-back safety: an outbox row remembers when it was first sent (a sent row is never merged into a
 * newer one: its fate upstream is unknown until it is replayed), who is sending it now (a claim, so two
 * processes on the database never send one row twice at once), and the exact upstream version a
 * confirmed write produced (whether an upstream version is ours is decided by that, never by content).
 * A row records when its client was answered 2xx: when a write fails for good, the newest version a
 * client was promised is the one kept. Calendars count consecutive listings that missed them: one missing listing never drops a calendar.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("outbox", (t) => {
    t.bigInteger("sent_at");
    t.string("claim_holder");
    t.bigInteger("claim_until");
    t.text("confirmed_href");
    t.text("confirmed_etag");
    t.bigInteger("acked_at"); // when a client was answered 2xx for this write (the versions a conflict must keep)
    t.index(["calendar_id", "object_name", "state"], "outbox_object_idx");
  });
  await knex.schema.alterTable("calendars", (t) => {
    t.integer("upstream_missing").notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("outbox", (t) => {
    t.dropIndex(["calendar_id", "object_name", "state"], "outbox_object_idx");
    t.dropColumn("sent_at");
    t.dropColumn("claim_holder");
    t.dropColumn("claim_until");
    t.dropColumn("confirmed_href");
    t.dropColumn("confirmed_etag");
    t.dropColumn("acked_at");
  });
  await knex.schema.alterTable("calendars", (t) => t.dropColumn("upstream_missing"));
}
