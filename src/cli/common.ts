/** Shared plumbing of the calgate subcommands: the Command shape, help text, usage errors. */
import type { Readable, Writable } from "node:stream";
import { defaultConfig, loadConfig, resolveConfigPath } from "../config/load.ts";
import type { Config } from "../config/schema.ts";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** Shown after the flag for string options, e.g. FILE. */
  valueName?: string;
  description: string;
}

export interface CliContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout: Writable;
  stderr: Writable;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export interface Command {
  name: string;
  /** One line for the top-level command list. */
  summary: string;
  /** e.g. "calgate auth <google|microsoft> <source-id> [-c FILE]" */
  synopsis: string;
  /** Paragraphs printed after the synopsis in --help. */
  description: string;
  positionals?: readonly { name: string; description: string }[];
  options: Readonly<Record<string, OptionSpec>>;
  /** --help for a subcommand (e.g. `calgate conflicts restore --help`): its text, or null for the command's help. */
  helpFor?(positionals: readonly string[]): string | null;
  /** Resolves to the process exit code. Throw UsageError for bad arguments (exit 2). */
  run(args: ParsedArgs, ctx: CliContext): Promise<number>;
}

/** Bad command-line usage: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export const HELP_OPTION: OptionSpec = { type: "boolean", short: "h", description: "Show this help and exit" };

export const CONFIG_OPTION: OptionSpec = {
  type: "string",
  short: "c",
  valueName: "FILE",
  description: "Config file (default: ./calgate.yaml if present, else the embedded default)",
};

function optionRows(options: Readonly<Record<string, OptionSpec>>): [string, string][] {
  return Object.entries({ ...options, help: HELP_OPTION }).map(([name, o]) => [
    `${o.short ? `-${o.short}, ` : "    "}--${name}${o.type === "string" ? ` ${o.valueName ?? "VALUE"}` : ""}`,
    o.description,
  ]);
}

export function table(rows: readonly [string, string][], indent = 2): string {
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, r]) => `${" ".repeat(indent)}${l.padEnd(width)}   ${r}`).join("\n");
}

export function commandHelp(cmd: Command): string {
  const parts = [`Usage: ${cmd.synopsis}`, cmd.description.trim()];
  if (cmd.positionals?.length) parts.push(`Arguments:\n${table(cmd.positionals.map((p) => [p.name, p.description]))}`);
  parts.push(`Options:\n${table(optionRows(cmd.options))}`);
  return `${parts.join("\n\n")}\n`;
}

export function commandUsage(cmd: Command): string {
  return `Usage: ${cmd.synopsis}\nRun \`calgate ${cmd.name} --help\` for details.\n`;
}

// ---------------------------------------------------------------------------------------------
// Config and main.ts, shared by serve, auth and sync


export interface ResolvedConfig {
  config: Config;
  /** Absolute path, or null for the embedded default. */
  configPath: string | null;
  generatedPassword: string | null;
}

/** The -c file, else ./calgate.yaml, else the embedded default. Throws ConfigError. */
export function resolveConfig(flag: string | undefined, ctx: CliContext): ResolvedConfig {
  const configPath = resolveConfigPath(flag, ctx.cwd);
  if (configPath !== null) return { config: loadConfig(configPath, ctx.env), configPath, generatedPassword: null };
  return { ...defaultConfig(ctx.env), configPath };
}

/** src/main.ts as a plain record (its exports are checked at run time), or null when it is absent. */
export async function importMain(): Promise<Record<string, unknown> | null> {
  try {
    return (await import("../main.ts")) as unknown as Record<string, unknown>;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ERR_MODULE_NOT_FOUND" && /\bmain\.(ts|js)\b/.test(err.message) && !/imported from .*main\.(ts|js)/.test(err.message)) return null;
    throw e;
  }
}

/** The first line of standard input (a password or key piped in), without its line ending. */
export async function readFirstLine(ctx: CliContext): Promise<string | null> {
  ctx.stdin.setEncoding("utf8");
  let buf = "";
  for await (const chunk of ctx.stdin) {
    buf += chunk as string;
    const nl = buf.indexOf("\n");
    if (nl >= 0) return buf.slice(0, nl).replace(/\r$/, ""); // leaving the loop destroys stdin
  }
  return buf === "" ? null : buf.replace(/\r$/, "");
}
