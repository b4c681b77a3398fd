import type { Knex } from "knex";

/**
 * Provider push channels (Google events.watch, Graph subscriptions). Providers offer no way to list
 * the channels a client opened, so calgate keeps them: to check a notification's secret, to renew a
 * channel before it expires, and to stop it on shutdown.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("push_channels", (t) => {
    t.string("id").primary(); // the provider-visible channel / subscription id
    t.string("owner").notNullable();
    t.string("source_id").notNullable();
    t.text("calendar_id").notNullable(); // the upstream calendar's opaque id
    t.text("secret").notNullable(); // echoed by the provider on every notification
    t.text("data"); // JSON the adapter needs to stop it (e.g. Google's resourceId)
    t.bigInteger("expires_at").notNullable();
    t.bigInteger("created_at").notNullable();
    t.index(["owner", "source_id"], "push_channels_source_idx");
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("push_channels");
}
