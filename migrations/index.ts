/** Migrations are listed statically so they run the same from TypeScript sources and compiled output. */
import type { Knex } from "knex";
import * as m001 from "./001_initial.ts";
import * as m002 from "./002_sync.ts";
import * as m003 from "./003_exact_instance.ts";
import * as m004 from "./004_sync_safety.ts";
import * as m005 from "./005_calendar_access.ts";
import * as m006 from "./006_push_channels.ts";
import * as m007 from "./007_conflict_log.ts";
import * as m008 from "./008_merged_calendars.ts";
import * as m009 from "./009_mirrors.ts";
import * as m010 from "./010_webdav_push.ts";
import * as m011 from "./011_calendar_modified.ts";
import * as m012 from "./012_occurrences.ts";
import * as m014 from "./014_instances.ts";

export interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}
export const migrations: ReadonlyArray<readonly [string, Migration]> = [
  ["001_initial", m001],
  ["002_sync", m002],
  ["003_exact_instance", m003],
  ["004_sync_safety", m004],
  ["005_calendar_access", m005],
  ["006_push_channels", m006],
  ["007_conflict_log", m007],
  ["008_merged_calendars", m008],
  ["009_mirrors", m009],
  ["010_webdav_push", m010],
  ["011_calendar_modified", m011],
  ["012_occurrences", m012],
  ["014_instances", m014],
];
