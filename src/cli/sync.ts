import { createLogger } from "../status/log.ts";
import { CONFIG_OPTION, importMain, resolveConfig, UsageError, type Command } from "./common.ts";
import type { RunSyncOnce } from "./contract.ts";
import { findSource } from "./sources.ts";

export const sync: Command = {
  name: "sync",
  summary: "Run one sync of every source (or one source) and exit",
  synopsis: "calgate sync --once [source-id] [-c FILE] [-u USER]",
  description: `Pulls changes from the upstream providers, replays queued writes, applies the
mirror rules (users[].mirrors) of the chosen user(s), and exits.
Safe to run while \`calgate serve\` uses the same database. Continuous syncing is what
\`calgate serve\` does; this command needs --once.`,
  positionals: [{ name: "source-id", description: "Only this source (default: every source of every user)" }],
  options: {
    once: { type: "boolean", description: "Run one sync and exit (required)" },
    config: CONFIG_OPTION,
    user: { type: "string", short: "u", valueName: "USER", description: "The user owning the source (needed when several users have a source with that id)" },
  },
  async run({ values, positionals }, ctx) {
    if (!values.once) throw new UsageError("continuous sync runs inside `calgate serve`; use `calgate sync --once [source-id]`");
    const [sourceId, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    if (values.user !== undefined && sourceId === undefined) throw new UsageError("--user needs a source id");

    const { config, configPath } = resolveConfig(values.config as string | undefined, ctx);
    let username: string | null = null;
    if (sourceId !== undefined) {
      const found = findSource(config, sourceId, values.user as string | undefined, configPath);
      if (typeof found === "string") {
        ctx.stderr.write(`calgate sync: ${found}\n`);
        return 1;
      }
      username = found.username;
    }

    const runSyncOnce = (await importMain())?.runSyncOnce as RunSyncOnce | undefined;
    if (typeof runSyncOnce !== "function") {
      ctx.stderr.write("calgate sync: not available in this version (`calgate serve` syncs continuously)\n");
      return 1;
    }
    const logger = createLogger(config.logging.level);
    const result = await runSyncOnce(config, sourceId ?? null, logger, { username, configPath });
    return result && result.ok === false ? 1 : 0;
  },
};
