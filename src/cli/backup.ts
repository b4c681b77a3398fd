/**
 * `calgate backup FILE`: a consistent copy of the database while `calgate serve` keeps running
 * (SQLite's VACUUM INTO in src/store/backup.ts), checked, then moved into place.
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { backupInto, integrityCheck, summarize } from "../store/backup.ts";
import { openDb } from "../store/db.ts";
import { CONFIG_OPTION, resolveConfig, UsageError, type Command } from "./common.ts";

export const backup: Command = {
  name: "backup",
  summary: "Copy the database to FILE, safely while calgate serve is running",
  synopsis: "calgate backup FILE [-c FILE]",
  description: `Writes a consistent snapshot of the SQLite database (storage.filename) to FILE while
\`calgate serve\` may keep serving and writing: every write a client got a 2xx for before the
backup started is in it, queued writes included. FILE must not exist. The copy is checked
(PRAGMA integrity_check) before it gets its name.

Restore: stop calgate, remove the database and its -wal and -shm files, copy FILE to
storage.filename, start calgate (docs/SELF-HOSTING.md). Migrations run at start, so a backup
from an older version is upgraded when it is served.`,
  positionals: [{ name: "FILE", description: "Where to write the backup (a new file)" }],
  options: { config: CONFIG_OPTION },
  async run({ values, positionals }, ctx) {
    const [file, ...extra] = positionals;
    if (file === undefined) throw new UsageError("missing FILE (where to write the backup)");
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const { config } = resolveConfig(values.config as string | undefined, ctx);
    if (config.storage.client === "postgres") {
      ctx.stderr.write("calgate backup: storage.client is postgres; back the database up with PostgreSQL's own tools (pg_dump -Fc, restored with pg_restore into an empty database; see docs/SELF-HOSTING.md)\n");
      return 1;
    }
    const source = resolve(ctx.cwd, config.storage.filename);
    const target = resolve(ctx.cwd, file);
    if (!existsSync(source)) {
      ctx.stderr.write(`calgate backup: no database at ${source} (storage.filename); nothing to back up (is -c the config calgate serve uses?)\n`);
      return 1;
    }
    if (existsSync(target)) {
      ctx.stderr.write(`calgate backup: ${target} exists; a backup never overwrites a file, choose a new name\n`);
      return 1;
    }
    if (target === source) throw new UsageError("FILE is the database itself");
    mkdirSync(dirname(target), { recursive: true });
    // Written under a temporary name and renamed once checked: FILE is either a good backup or absent.
    const partial = `${target}.partial-${process.pid}`;
    try {
      const db = await openDb(source, { migrate: false });
      try {
        await backupInto(db, partial);
      } finally {
        await db.destroy();
      }
      const copy = await openDb(partial, { migrate: false });
      let check: string;
      let summary;
      try {
        check = await integrityCheck(copy);
        summary = await summarize(copy);
      } finally {
        await copy.destroy();
      }
      if (check !== "ok") {
        ctx.stderr.write(`calgate backup: the copy failed SQLite's integrity check (${check}); nothing was written to ${target}\n`);
        return 1;
      }
      renameSync(partial, target);
      const kib = Math.ceil(statSync(target).size / 1024);
      ctx.stdout.write(`backup: ${target} (${summary.calendars} calendars, ${summary.objects} objects, ${summary.queuedWrites} queued writes; ${kib} KiB)\n`);
      return 0;
    } finally {
      rmSync(partial, { force: true });
      rmSync(`${partial}-journal`, { force: true });
      rmSync(`${partial}-wal`, { force: true });
      rmSync(`${partial}-shm`, { force: true });
    }
  },
};
