/**
 * `calgate migrate`: brings the database up to this version's schema and says what it did. Every
 * command that opens the database does the same at start; this one exists for deployments that
 * upgrade the schema as a step of their own (several instances on PostgreSQL take turns either way).
 */
import { resolve } from "node:path";
import { storageTarget } from "../config/schema.ts";
import { appliedMigrations, openDb } from "../store/db.ts";
import { CONFIG_OPTION, resolveConfig, UsageError, type Command } from "./common.ts";

export const migrate: Command = {
  name: "migrate",
  summary: "Bring the database up to this version's schema (also done at every start)",
  synopsis: "calgate migrate [-c FILE]",
  description: `Applies the database migrations this version has and the database does not, and prints
which ones ran. \`calgate serve\` and the other commands do the same when they open the database,
so this step is optional; several instances starting at once on one PostgreSQL database take turns.
To go back to an older version, restore a backup taken before the upgrade.`,
  options: { config: CONFIG_OPTION },
  async run({ values, positionals }, ctx) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const { config } = resolveConfig(values.config as string | undefined, ctx);
    const target = storageTarget(config.storage);
    const where = target.client === "sqlite" ? resolve(ctx.cwd, target.filename) : "the PostgreSQL database of storage.connection";
    const opened = target.client === "sqlite" ? { ...target, filename: resolve(ctx.cwd, target.filename) } : target;
    const before = await openDb(opened, { migrate: false });
    const had = await appliedMigrations(before).finally(() => before.destroy());
    const db = await openDb(opened);
    try {
      const now = await appliedMigrations(db);
      const ran = now.filter((m) => !had.includes(m));
      const at = now[now.length - 1] ?? "none";
      ctx.stdout.write(ran.length > 0 ? `migrate: applied ${ran.length} migration(s) to ${where}: ${ran.join(", ")}; now at ${at}\n` : `migrate: ${where} is up to date (at ${at})\n`);
      return 0;
    } finally {
      await db.destroy();
    }
  },
};
