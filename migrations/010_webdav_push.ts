import type { Knex } from "knex";

/**
 * WebDAV-Push (draft-bitfire-webdav-push): the server's VAPID key pair (one row, made once and kept,
 * because every subscription a push service issued is bound to its public key) and the clients'
 * registrations, one per (collection, push resource); `calendar_id` is the collection's CalendarMeta
 * id (negative for merged calendars), `calendar_name` its URL segment.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("webpush_keys", (t) => {
    t.integer("id").primary(); // always 1: one key pair per database
    t.text("public_key").notNullable(); // P-256, uncompressed, base64url
    t.text("private_key").notNullable(); // base64url
    t.text("topic_secret").notNullable(); // HMAC key that derives collection topics
    t.bigInteger("created_at").notNullable();
  });
  await knex.schema.createTable("webpush_registrations", (t) => {
    t.string("id").primary(); // random, the last segment of the registration URL
    t.string("owner").notNullable();
    t.integer("calendar_id").notNullable();
    t.string("calendar_name").notNullable();
    t.text("push_resource").notNullable();
    t.text("p256dh").notNullable();
    t.text("auth").notNullable();
    t.string("content_encoding").notNullable();
    t.bigInteger("expires_at").notNullable();
    t.bigInteger("created_at").notNullable();
    t.bigInteger("updated_at").notNullable();
    t.integer("failures").notNullable().defaultTo(0); // consecutive messages the push service did not take
    t.unique(["calendar_id", "push_resource"]);
    t.index(["owner", "calendar_name"], "webpush_registrations_calendar_idx");
    t.index(["expires_at"], "webpush_registrations_expiry_idx");
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("webpush_registrations");
  await knex.schema.dropTable("webpush_keys");
}
