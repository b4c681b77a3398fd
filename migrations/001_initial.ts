import type { Knex } from "knex";

/**
 * The cache schema. Designed for what comes next: per-object strong ETag, upstream id/etag and the last
 * agreed base version (three-way merge), a change log with tombstones behind sync tokens, indexed
 * occurrence bounds for time-range prefiltering, an outbox for queued upstream writes, and conflicts.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("sources", (t) => {
    t.string("owner").notNullable();
    t.string("id").notNullable();
    t.string("type").notNullable();
    t.string("status").notNullable().defaultTo("ok"); // ok | degraded | auth_required | offline
    t.text("status_message");
    t.text("state_json"); // adapter-specific state (e.g. discovered home URL)
    t.bigInteger("last_sync_at");
    t.bigInteger("last_success_at");
    t.integer("consecutive_failures").notNullable().defaultTo(0);
    t.primary(["owner", "id"]);
  });

  await knex.schema.createTable("calendars", (t) => {
    t.increments("id");
    t.string("owner").notNullable();
    t.string("name").notNullable(); // URL segment under the owner's calendar home
    t.string("source_id").notNullable(); // config source id, e.g. "local"
    t.string("source_calendar_id"); // calendar id inside the source (config id or upstream id)
    t.string("displayname");
    t.text("description");
    t.string("color");
    t.integer("sort_order");
    t.text("timezone"); // CALDAV:calendar-timezone (a VCALENDAR with one VTIMEZONE)
    t.string("components").notNullable().defaultTo("VEVENT,VTODO");
    t.bigInteger("sync_seq").notNullable().defaultTo(0); // last change-log sequence: the sync token and getctag
    t.bigInteger("min_seq").notNullable().defaultTo(0); // tokens older than this were pruned → valid-sync-token
    t.text("dead_props"); // JSON: { clark: serialized XmlElement } set by PROPPATCH
    // Upstream side (caldav/google/microsoft sources).
    t.text("upstream_href");
    t.text("upstream_ctag");
    t.text("upstream_cursor"); // sync token / nextSyncToken / deltaLink
    t.bigInteger("created_at").notNullable();
    t.unique(["owner", "name"]);
    t.index(["owner", "source_id"]);
  });

  await knex.schema.createTable("objects", (t) => {
    t.increments("id");
    t.integer("calendar_id").notNullable().references("calendars.id").onDelete("CASCADE");
    t.string("name").notNullable(); // href segment, e.g. "abc.ics"
    t.string("uid").notNullable();
    t.string("component").notNullable(); // VEVENT | VTODO | VJOURNAL | VFREEBUSY
    t.string("etag").notNullable(); // calgate's own strong ETag (hash of what is served)
    t.text("ics").notNullable();
    t.integer("size").notNullable();
    t.bigInteger("first_start"); // epoch ms; null = unbounded below
    t.bigInteger("last_end"); // epoch ms; null = unbounded above (infinite recurrence)
    t.bigInteger("modified_at").notNullable();
    t.text("upstream_href");
    t.text("upstream_etag");
    t.text("base_ics"); // the version last agreed with the upstream: base for three-way merges
    t.unique(["calendar_id", "name"]);
    t.unique(["calendar_id", "uid"]);
    t.index(["calendar_id", "component", "first_start", "last_end"], "objects_range_idx");
    t.index(["calendar_id", "upstream_href"], "objects_upstream_idx");
  });

  // One row per (calendar, name): the latest change. Tombstones are rows with deleted = 1.
  await knex.schema.createTable("changes", (t) => {
    t.integer("calendar_id").notNullable().references("calendars.id").onDelete("CASCADE");
    t.string("name").notNullable();
    t.bigInteger("seq").notNullable();
    t.boolean("deleted").notNullable();
    t.primary(["calendar_id", "name"]);
    t.index(["calendar_id", "seq"], "changes_seq_idx");
  });

  await knex.schema.createTable("outbox", (t) => {
    t.increments("id");
    t.integer("calendar_id").notNullable().references("calendars.id").onDelete("CASCADE");
    t.string("object_name").notNullable();
    t.string("op").notNullable(); // put | delete
    t.text("ics"); // the version to send (put)
    t.text("if_match"); // upstream ETag expected, null = create (If-None-Match: *)
    t.text("upstream_href");
    t.string("state").notNullable().defaultTo("pending"); // pending | done | failed | conflict
    t.integer("attempts").notNullable().defaultTo(0);
    t.bigInteger("next_attempt_at").notNullable();
    t.text("last_error");
    t.bigInteger("created_at").notNullable();
    t.index(["state", "next_attempt_at"], "outbox_due_idx");
  });

  await knex.schema.createTable("conflicts", (t) => {
    t.increments("id");
    t.integer("calendar_id").notNullable().references("calendars.id").onDelete("CASCADE");
    t.string("object_name").notNullable();
    t.text("ours");
    t.text("theirs");
    t.text("base");
    t.string("resolution"); // null = open
    t.bigInteger("detected_at").notNullable();
    t.bigInteger("resolved_at");
  });

  await knex.schema.createTable("secrets", (t) => {
    t.string("owner").notNullable();
    t.string("source_id").notNullable();
    t.string("kind").notNullable(); // refresh_token | password ...
    t.text("ciphertext").notNullable(); // AES-256-GCM with secretKey
    t.bigInteger("updated_at").notNullable();
    t.primary(["owner", "source_id", "kind"]);
  });

  // Status events from every process on this database (serve and `sync --once`), for SSE resume.
  await knex.schema.createTable("status_events", (t) => {
    t.increments("id");
    t.string("owner");
    t.string("type").notNullable();
    t.text("payload").notNullable();
    t.bigInteger("at").notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ["status_events", "secrets", "conflicts", "outbox", "changes", "objects", "calendars", "sources"]) {
    await knex.schema.dropTableIfExists(t);
  }
}
