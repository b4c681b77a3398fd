#!/usr/bin/env node
/** The `calgate` binary: a table of subcommands, each in its own module. */
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ConfigError } from "../config/load.ts";
import { auth } from "./auth.ts";
import { backup } from "./backup.ts";
import { checkConfig } from "./check-config.ts";
import { conflicts } from "./conflicts.ts";
import { commandHelp, commandUsage, HELP_OPTION, table, UsageError, type CliContext, type Command } from "./common.ts";
import { hashPasswordCommand } from "./hash-password.ts";
import { importCommand } from "./import.ts";
import { migrate } from "./migrate.ts";
import { rotateKey } from "./rotate-key.ts";
import { serve } from "./serve.ts";
import { sync } from "./sync.ts";

export const COMMANDS: readonly Command[] = [serve, checkConfig, auth, sync, conflicts, backup, importCommand, migrate, hashPasswordCommand, rotateKey];

export function topHelp(): string {
  return `calgate - one CalDAV endpoint for your Google, Microsoft 365 and CalDAV calendars

Usage: calgate <command> [options]

Commands:
${table(COMMANDS.map((c) => [c.name, c.summary]))}

Options:
${table([
  ["-h, --help", "Show this help (or `calgate <command> --help` for a command's options)"],
  ["-V, --version", "Print the version"],
])}

The config file is ./calgate.yaml unless -c FILE is given; without one, \`serve\` runs an
embedded default (see \`calgate serve --help\`). See config.example.yaml for every key.
`;
}

/** Runs the CLI and resolves to the exit code (0 ok, 1 failure, 2 usage error). */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    ctx.stderr.write(topHelp());
    return 2;
  }
  if (name === "-h" || name === "--help" || name === "help") {
    const cmd = rest[0] !== undefined ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    ctx.stdout.write(cmd ? commandHelp(cmd) : topHelp());
    return 0;
  }
  if (name === "-V" || name === "--version") {
    ctx.stdout.write(`calgate ${version()}\n`);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    const what = name.startsWith("-") ? `unknown option "${name}"` : `unknown command "${name}"`;
    ctx.stderr.write(`calgate: ${what}\n\n${topHelp()}`);
    return 2;
  }

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...rest],
      options: { ...cmd.options, help: HELP_OPTION },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    ctx.stderr.write(`calgate ${cmd.name}: ${(e as Error).message}\n${commandUsage(cmd)}`);
    return 2;
  }
  if (parsed.values.help) {
    ctx.stdout.write(cmd.helpFor?.(parsed.positionals) ?? commandHelp(cmd));
    return 0;
  }

  try {
    return await cmd.run({ values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals }, ctx);
  } catch (e) {
    if (e instanceof UsageError) {
      ctx.stderr.write(`calgate ${cmd.name}: ${e.message}\n${commandUsage(cmd)}`);
      return 2;
    }
    if (e instanceof ConfigError) {
      ctx.stderr.write(`${e.message}\n`);
      return 1;
    }
    ctx.stderr.write(`calgate ${cmd.name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}

function version(): string {
  // package.json sits two levels up from src/cli (three from dist/src/cli once built).
  for (const rel of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "calgate" && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return "unknown";
}

/** Exits once stdout and stderr have been flushed (they are asynchronous on some pipes and TTYs). */
function exitWhenFlushed(code: number): void {
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
}

/** True when this module is the program (node src/cli/index.ts, or the `calgate` bin symlink), not an import. */
function isMain(): boolean {
  if (process.argv[1] === undefined) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const ctx: CliContext = { env: process.env, cwd: process.cwd(), stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  runCli(process.argv.slice(2), ctx).then(exitWhenFlushed, (e: unknown) => {
    process.stderr.write(`calgate: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    exitWhenFlushed(1);
  });
}
