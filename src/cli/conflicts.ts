/** `calgate conflicts list|show|restore`: the conflict log (PRODUCT.md "Conflicts"). */
import { createLogger } from "../status/log.ts";
import type { ConflictDetail, ConflictEntry, ConflictVersion } from "../store/conflicts.ts";
import { CONFIG_OPTION, importMain, resolveConfig, table, UsageError, type CliContext, type Command, type OptionSpec } from "./common.ts";
import type { ConflictLog, OpenConflictLog, RestoreResult } from "./contract.ts";

const VERSIONS: readonly ConflictVersion[] = ["local", "remote", "base"];

const OPTIONS = {
  json: { type: "boolean", description: "Print JSON instead of text (list, show)" },
  user: { type: "string", short: "u", valueName: "USER", description: "Only this user's conflicts (list)" },
  source: { type: "string", valueName: "ID", description: "Only conflicts of calendars of this source (list)" },
  version: { type: "string", valueName: "local|remote|base", description: "The version to write back (restore)" },
  config: CONFIG_OPTION,
} satisfies Record<string, OptionSpec>;
type OptionName = keyof typeof OPTIONS;

interface Sub {
  synopsis: string;
  description: string;
  options: readonly OptionName[];
  positionals: readonly { name: string; description: string }[];
}
const ID = { name: "<id>", description: "The conflict's id, as `calgate conflicts list` shows it" };
export const SUBCOMMANDS: Readonly<Record<"list" | "show" | "restore", Sub>> = {
  list: {
    synopsis: "calgate conflicts list [--json] [--user U] [--source ID] [-c FILE]",
    description: `Prints every recorded conflict, oldest first: when an object changed both here and
upstream, calgate keeps base, local and remote versions and the result. With --json: a JSON
array whose items have id, user, source, calendar, object (the gateway object name), uid,
detectedAt, policy, outcome (merged, upstream-won, client-won, newest-won, kept-edit, pending)
and resolvedAt.`,
    options: ["json", "user", "source", "config"],
    positionals: [],
  },
  show: {
    synopsis: "calgate conflicts show <id> [--json] [-c FILE]",
    description: "Prints the base, local, remote and resulting iCalendar texts of one conflict.",
    options: ["json", "config"],
    positionals: [ID],
  },
  restore: {
    synopsis: "calgate conflicts restore <id> --version local|remote|base [-c FILE]",
    description: `Writes that version back through the normal write path, so it reaches the provider:
it replaces the object's current version (If-Match on its current ETag, so a change made
meanwhile is not overwritten) and is queued for the upstream like a client's PUT. The
conflict is then marked resolved. Safe while \`calgate serve\` runs on the same database.`,
    options: ["version", "config"],
    positionals: [ID],
  },
};
type SubName = keyof typeof SUBCOMMANDS;
const isSub = (s: string | undefined): s is SubName => s !== undefined && Object.hasOwn(SUBCOMMANDS, s);

export function subcommandHelp(name: SubName): string {
  const sub = SUBCOMMANDS[name];
  const opts = [...sub.options, "help"].map((o): [string, string] => {
    const spec: OptionSpec = o === "help" ? { type: "boolean", short: "h", description: "Show this help and exit" } : OPTIONS[o as OptionName];
    return [`${spec.short ? `-${spec.short}, ` : "    "}--${o}${spec.type === "string" ? ` ${spec.valueName ?? "VALUE"}` : ""}`, spec.description.replace(/ \((list|show|restore)(, \w+)*\)$/, "")];
  });
  const parts = [`Usage: ${sub.synopsis}`, sub.description];
  if (sub.positionals.length) parts.push(`Arguments:\n${table(sub.positionals.map((p) => [p.name, p.description]))}`);
  parts.push(`Options:\n${table(opts)}`);
  return `${parts.join("\n\n")}\n`;
}

/** What one invocation asks for (throws UsageError). */
export type ConflictsRequest =
  | { sub: "list"; json: boolean; user?: string; source?: string; config?: string }
  | { sub: "show"; id: number; json: boolean; config?: string }
  | { sub: "restore"; id: number; version: ConflictVersion; config?: string };

export function parseConflictsArgs(values: Record<string, string | boolean | undefined>, positionals: readonly string[]): ConflictsRequest {
  const [sub, ...rest] = positionals;
  if (sub === undefined) throw new UsageError("missing subcommand (list, show or restore)");
  if (!isSub(sub)) throw new UsageError(`unknown subcommand "${sub}" (expected list, show or restore)`);
  const spec = SUBCOMMANDS[sub];
  for (const [k, v] of Object.entries(values)) {
    if (v !== undefined && k !== "help" && !(spec.options as readonly string[]).includes(k)) throw new UsageError(`--${k} does not apply to \`conflicts ${sub}\``);
  }
  const config = values.config as string | undefined;
  const cfg = config !== undefined ? { config } : {};
  if (sub === "list") {
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    return { sub, json: values.json === true, ...(values.user !== undefined ? { user: values.user as string } : {}), ...(values.source !== undefined ? { source: values.source as string } : {}), ...cfg };
  }
  const [idText, ...extra] = rest;
  if (idText === undefined) throw new UsageError("missing conflict id");
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (!/^[1-9]\d{0,14}$/.test(idText)) throw new UsageError(`"${idText}" is not a conflict id (a positive number)`);
  const id = Number(idText);
  if (sub === "show") return { sub, id, json: values.json === true, ...cfg };
  const version = values.version as string | undefined;
  if (version === undefined) throw new UsageError("missing --version local|remote|base");
  if (!(VERSIONS as readonly string[]).includes(version)) throw new UsageError(`unknown version "${version}" (expected local, remote or base)`);
  return { sub, id, version: version as ConflictVersion, ...cfg };
}

/** The JSON item of `list --json` (stable field names; PRODUCT.md lists the required ones). */
export function listItem(c: ConflictEntry): Record<string, unknown> {
  return {
    id: c.id, user: c.user, source: c.source, calendar: c.calendar, object: c.object, uid: c.uid, detectedAt: c.detectedAt,
    policy: c.policy, outcome: c.outcome, resolvedAt: c.resolvedAt, resolution: c.resolution, restored: c.restored,
  };
}
export function showItem(c: ConflictDetail): Record<string, unknown> {
  return { ...listItem(c), base: c.base, local: c.local, remote: c.remote, result: c.result };
}

const where = (c: ConflictEntry): string => `${c.user}/${c.calendar}/${c.object}`;

export function formatList(list: readonly ConflictEntry[]): string {
  if (list.length === 0) return "No conflicts recorded.\n";
  const rows = [["ID", "DETECTED", "USER", "SOURCE", "CALENDAR", "OBJECT", "UID", "POLICY", "OUTCOME", "RESOLVED"]];
  for (const c of list) rows.push([String(c.id), c.detectedAt, c.user, c.source, c.calendar, c.object, c.uid ?? "-", c.policy, c.outcome + (c.restored ? ` (${c.restored} restored)` : ""), c.resolvedAt ?? "-"]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")).join("\n") + "\n";
}

export function formatShow(c: ConflictDetail): string {
  const text = (label: string, ics: string | null, none: string): string => `--- ${label} ---\n${ics === null ? `(${none})\n` : ics.replace(/\r\n/g, "\n").replace(/\n?$/, "\n")}`;
  const head = [
    `Conflict ${c.id}: ${where(c)} (source "${c.source}", UID ${c.uid ?? "unknown"})`,
    table([
      ["Detected:", c.detectedAt],
      ["Policy:", c.policy],
      ["Outcome:", c.outcome],
      ["Resolved:", c.resolvedAt ?? "no (pending)"],
      ...(c.resolution ? [["Note:", c.resolution] as [string, string]] : []),
    ], 0),
  ];
  return [
    ...head, "",
    text("base (the last version both sides agreed on)", c.base, "none recorded"),
    text("local (the version written here)", c.local, "deleted here"),
    text("remote (the upstream's version)", c.remote, "deleted upstream"),
    text("result (what calgate served after the conflict)", c.result, c.outcome === "pending" ? "pending" : "deleted"),
  ].join("\n");
}

export function formatRestore(r: Extract<RestoreResult, { ok: true }>): string {
  const c = r.conflict;
  const how =
    r.delivery === "sent" ? `sent to source "${c.source}", which holds it now`
    : r.delivery === "stored" ? "stored (a local calendar: there is no upstream)"
    : `queued for source "${c.source}" (outbox ${r.outboxId}); \`calgate serve\` or \`calgate sync --once ${c.source}\` sends it${r.lastError ? ` (last attempt: ${r.lastError})` : ""}`;
  return `Restored the ${r.version} version of conflict ${c.id} to ${where(c)}: ${how}.\nGateway ETag: ${r.etag}\nConflict ${c.id} is marked resolved.\n`;
}

async function open(config: string | undefined, ctx: CliContext): Promise<ConflictLog | null> {
  const resolved = resolveConfig(config, ctx);
  const openConflictLog = (await importMain())?.openConflictLog as OpenConflictLog | undefined;
  if (typeof openConflictLog !== "function") {
    ctx.stderr.write("calgate conflicts: not available in this version\n");
    return null;
  }
  // Log lines go to stderr (stdout is the command's output, e.g. JSON), and only warnings and errors unless debugging.
  const level = resolved.config.logging.level;
  return openConflictLog(resolved.config, createLogger(level === "trace" || level === "debug" || level === "error" ? level : "warn", ctx.stderr));
}

export const conflicts: Command = {
  name: "conflicts",
  summary: "List, show and restore the versions kept when a change clashed with the upstream",
  synopsis: "calgate conflicts <list|show|restore> [options] [-c FILE]",
  description: `Every conflict (an object changed here and upstream) is recorded with the base, local
and remote versions and the result; the losing version is kept and can be restored.

  ${SUBCOMMANDS.list.synopsis}
  ${SUBCOMMANDS.show.synopsis}
  ${SUBCOMMANDS.restore.synopsis}

Run \`calgate conflicts <subcommand> --help\` for each one's options.`,
  positionals: [
    { name: "list|show|restore", description: "The subcommand" },
    ID,
  ],
  options: OPTIONS,
  helpFor(positionals) {
    return isSub(positionals[0]) ? subcommandHelp(positionals[0]) : null;
  },
  async run({ values, positionals }, ctx) {
    const req = parseConflictsArgs(values, positionals);
    const log = await open(req.config, ctx);
    if (!log) return 1;
    try {
      if (req.sub === "list") {
        const list = await log.list({ owner: req.user, sourceId: req.source });
        ctx.stdout.write(req.json ? `${JSON.stringify(list.map(listItem), null, 2)}\n` : formatList(list));
        return 0;
      }
      if (req.sub === "show") {
        const c = await log.get(req.id);
        if (!c) {
          ctx.stderr.write(`calgate conflicts: no conflict with id ${req.id} (\`calgate conflicts list\` shows them)\n`);
          return 1;
        }
        ctx.stdout.write(req.json ? `${JSON.stringify(showItem(c), null, 2)}\n` : formatShow(c));
        return 0;
      }
      const r = await log.restore(req.id, req.version);
      if (!r.ok) {
        ctx.stderr.write(`calgate conflicts: ${r.message}\n`);
        return 1;
      }
      ctx.stdout.write(formatRestore(r));
      return 0;
    } finally {
      await log.close();
    }
  },
};
