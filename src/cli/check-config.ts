import { displayConfigPath, loadConfig, resolveConfigPath } from "../config/load.ts";
import { plainHttpWarning } from "../config/exposure.ts";
import { configWarnings } from "../config/warnings.ts";
import { isSynced } from "../sources/registry.ts";
import { CONFIG_OPTION, UsageError, type Command } from "./common.ts";

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

export const checkConfig: Command = {
  name: "check-config",
  summary: "Validate the config file and report every problem with file:line",
  synopsis: "calgate check-config [-c FILE]",
  description: `Reads the config file, substitutes \${ENV_VAR} references and checks every key.
Prints "ok: FILE (N users, M sources)" and exits 0 (after a "warning:" line on stderr
for each key this version accepts but does not act on yet), or lists each problem as
FILE:LINE:COLUMN: key.path: message on stderr and exits 1. It also warns when server.host
lets other machines connect over plain HTTP (passwords readable on the network) and
server.trustProxy does not say a TLS reverse proxy is in front.`,
  options: { config: CONFIG_OPTION },
  async run({ values, positionals }, ctx) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const path = resolveConfigPath(values.config as string | undefined, ctx.cwd);
    if (path === null) {
      ctx.stdout.write("no config file; the embedded default would be used\n");
      return 0;
    }
    const config = loadConfig(path, ctx.env);
    const sources = config.users.reduce((n, u) => n + u.sources.length, 0);
    const exposure = plainHttpWarning(config);
    for (const w of [...configWarnings(config, isSynced), ...(exposure !== null ? [exposure] : [])]) ctx.stderr.write(`warning: ${displayConfigPath(path)}: ${w}\n`);
    ctx.stdout.write(`ok: ${displayConfigPath(path)} (${plural(config.users.length, "user")}, ${plural(sources, "source")})\n`);
    return 0;
  },
};
