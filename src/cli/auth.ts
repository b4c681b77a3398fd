import { createLogger } from "../status/log.ts";
import { CONFIG_OPTION, importMain, resolveConfig, UsageError, type Command } from "./common.ts";
import type { RunAuth } from "./contract.ts";
import { findSource } from "./sources.ts";

const PROVIDERS = ["google", "microsoft"] as const;
type Provider = (typeof PROVIDERS)[number];

export const auth: Command = {
  name: "auth",
  summary: "Connect a Google or Microsoft source (OAuth) and store its token",
  synopsis: "calgate auth <google|microsoft> <source-id> [-c FILE] [-u USER]",
  description: `Walks through OAuth for one source of the config file: a loopback redirect in your
browser for Google, a device code for Microsoft. The refresh token is stored encrypted
(with secretKey) in the database; \`calgate serve\` may keep running meanwhile.

Google over SSH: open the printed address in a browser on any machine; it ends on a
http://127.0.0.1:PORT/?... page that cannot load there. Paste that page's address into
this terminal and press Enter.`,
  positionals: [
    { name: "google|microsoft", description: "The provider; must match the source's type" },
    { name: "source-id", description: "The id of a google or microsoft source in the config file" },
  ],
  options: {
    config: CONFIG_OPTION,
    user: { type: "string", short: "u", valueName: "USER", description: "The user owning the source (needed when several users have a source with that id)" },
  },
  async run({ values, positionals }, ctx) {
    const [provider, sourceId, ...extra] = positionals;
    if (provider === undefined) throw new UsageError("missing provider (google or microsoft)");
    if (!(PROVIDERS as readonly string[]).includes(provider)) throw new UsageError(`unknown provider "${provider}" (expected google or microsoft)`);
    if (sourceId === undefined) throw new UsageError("missing source id");
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);

    const { config, configPath } = resolveConfig(values.config as string | undefined, ctx);
    const found = findSource(config, sourceId, values.user as string | undefined, configPath);
    if (typeof found === "string") {
      ctx.stderr.write(`calgate auth: ${found}\n`);
      return 1;
    }
    if (found.source.type !== provider) {
      ctx.stderr.write(`calgate auth: source "${sourceId}" of user "${found.username}" is a ${found.source.type} source, not ${provider}\n`);
      return 1;
    }

    const runAuth = (await importMain())?.runAuth as RunAuth | undefined;
    if (typeof runAuth !== "function") {
      ctx.stderr.write("calgate auth: not available in this version (Google/Microsoft sources arrive in a later release)\n");
      return 1;
    }
    const logger = createLogger(config.logging.level);
    await runAuth(config, provider as Provider, found.source.id, logger, { username: found.username, configPath });
    return 0;
  },
};
