/**
 * `calgate import <calendar> FILE.ics`: a whole-calendar file (an export of another server, a
 * subscription download) stored as one calendar object per UID, through the normal write path.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { PreconditionFailed, UidConflict, UpstreamRefused } from "../dav/service.ts";
import { IcalError } from "../ical/errors.ts";
import { splitForImport, type ImportObject } from "../ical/import-split.ts";
import { createLogger } from "../status/log.ts";
import { CONFIG_OPTION, importMain, resolveConfig, UsageError, type Command } from "./common.ts";
import type { OpenCalendarWriter } from "./contract.ts";

/** The object's URL name: its UID when that is a plain name, else a digest of it. */
export function objectName(uid: string): string {
  return /^[A-Za-z0-9@._-]{1,120}$/.test(uid) && !uid.startsWith(".") ? `${uid}.ics` : `${createHash("sha256").update(uid).digest("hex").slice(0, 40)}.ics`;
}

function refusal(e: unknown, name: string): string {
  if (e instanceof PreconditionFailed) return `already in the calendar (as ${name}); import never overwrites`;
  if (e instanceof UidConflict) return `already in the calendar (as ${e.existingName}); import never overwrites`;
  if (e instanceof UpstreamRefused) return `the upstream refused it (HTTP ${e.status}): ${e.message}`;
  if (e instanceof IcalError) return e.message;
  return (e as Error).message ?? String(e);
}

const label = (o: ImportObject): string => `${o.component}${o.summary ? ` "${o.summary}"` : ""} (UID ${o.uid}${o.count > 1 ? `, with ${o.count - 1} override${o.count > 2 ? "s" : ""}` : ""})`;

export const importCommand: Command = {
  name: "import",
  summary: "Import a whole-calendar .ics file into a calendar, one object per UID",
  synopsis: "calgate import <calendar> FILE.ics [-u USER] [-c FILE]",
  description: `Splits FILE.ics into calendar objects, one per UID (a recurring event keeps its
overrides), each with the VTIMEZONEs it uses, and stores them in <calendar> exactly as a
client's PUT would: a calendar of a CalDAV, Google or Microsoft source sends them upstream
(those the upstream does not answer in time stay queued for \`calgate serve\`). Existing
objects are never overwritten. Prints what was imported and each component it refused,
with the reason; exits 0 when nothing was refused, 1 otherwise. Safe beside \`calgate serve\`.

<calendar> is the calendar's URL name under /dav/calendars/<user>/, e.g. local-personal.
Export is the other way round: GET of the calendar collection returns the whole calendar
as one .ics file (curl -u USER -o cal.ics http://127.0.0.1:5232/dav/calendars/USER/CAL/).`,
  positionals: [
    { name: "calendar", description: "The calendar's URL name, e.g. local-personal" },
    { name: "FILE.ics", description: "An iCalendar file with any number of events, tasks and journal entries" },
  ],
  options: {
    config: CONFIG_OPTION,
    user: { type: "string", short: "u", valueName: "USER", description: "The user owning the calendar (needed when the config has several users)" },
  },
  async run({ values, positionals }, ctx) {
    const [calendarName, file, ...extra] = positionals;
    if (calendarName === undefined || file === undefined) throw new UsageError("expected <calendar> and FILE.ics");
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const { config } = resolveConfig(values.config as string | undefined, ctx);
    const users = config.users.map((u) => u.username);
    const owner = (values.user as string | undefined) ?? (users.length === 1 ? users[0]! : null);
    if (owner === null) throw new UsageError(`the config has several users (${users.join(", ")}); say whose calendar with -u USER`);
    if (!users.includes(owner)) {
      ctx.stderr.write(`calgate import: no user "${owner}" in the config (users: ${users.join(", ")})\n`);
      return 1;
    }
    let text: string;
    try {
      text = readFileSync(resolve(ctx.cwd, file), "utf8");
    } catch (e) {
      ctx.stderr.write(`calgate import: cannot read ${file}: ${(e as Error).message}\n`);
      return 1;
    }
    const { objects, setAside } = splitForImport(text);

    const open = (await importMain())?.openCalendarWriter as OpenCalendarWriter | undefined;
    if (typeof open !== "function") {
      ctx.stderr.write("calgate import: not available in this version\n");
      return 1;
    }
    const writer = await open(config, createLogger(config.logging.level === "info" ? "warn" : config.logging.level));
    const refused = setAside.map((s) => `${s.what}: ${s.reason}`);
    let imported = 0;
    let components = 0;
    try {
      const cal = await writer.calendar(owner, calendarName);
      if (cal === null) {
        ctx.stderr.write(`calgate import: user "${owner}" has no calendar "${calendarName}" (calendars: ${(await writer.calendarNames(owner)).join(", ") || "none"})\n`);
        return 1;
      }
      if (!cal.writable) {
        ctx.stderr.write(`calgate import: calendar "${calendarName}" of user "${owner}" is read-only\n`);
        return 1;
      }
      for (const o of objects) {
        const name = objectName(o.uid);
        try {
          await writer.create(owner, cal, name, o.ics);
          imported++;
          components += o.count;
        } catch (e) {
          refused.push(`${label(o)}: ${refusal(e, name)}`);
        }
      }
    } finally {
      await writer.close();
    }
    ctx.stdout.write(`imported ${imported} of ${objects.length} objects (${components} components) into ${calendarName} of ${owner}\n`);
    if (refused.length > 0) ctx.stdout.write(`refused ${refused.length}:\n${refused.map((r) => `  ${r}`).join("\n")}\n`);
    return refused.length === 0 ? 0 : 1;
  },
};
