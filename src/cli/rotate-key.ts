/**
 * `calgate rotate-key`: re-encrypts every stored provider token under a new secretKey. The config's
 * secretKey is the new key; the old one comes from the environment (CALGATE_OLD_SECRET_KEY) or the
 * first line of stdin, never from the command line (where `ps` and shell history would show it).
 */
import { SecretBox, SecretDecryptError } from "../auth/crypto.ts";
import { openDb } from "../store/db.ts";
import { storageTarget } from "../config/schema.ts";
import { SecretStore } from "../store/secrets.ts";
import { CONFIG_OPTION, readFirstLine, resolveConfig, UsageError, type Command } from "./common.ts";

export const OLD_KEY_ENV = "CALGATE_OLD_SECRET_KEY";

export const rotateKey: Command = {
  name: "rotate-key",
  summary: "Re-encrypt stored provider tokens after changing secretKey",
  synopsis: "calgate rotate-key [-c FILE]",
  description: `Re-encrypts every secret calgate stores (OAuth refresh tokens, credentials) from the old
secretKey to the one now in the config file, in one transaction: all or nothing. Rows already under
the new key are skipped, so running it twice is harmless.

  1. Put the new key in the config (secretKey: \${CALGATE_SECRET_KEY}) or its environment variable.
  2. Give the old key as ${OLD_KEY_ENV}, or on the first line of stdin:
       printf '%s\\n' "$OLD_KEY" | calgate rotate-key -c calgate.yaml
  3. Restart \`calgate serve\` so that it uses the new key.`,
  options: { config: CONFIG_OPTION },
  async run({ values, positionals }, ctx) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (the old key is read from ${OLD_KEY_ENV} or stdin, never from arguments)`);
    const { config } = resolveConfig(values.config as string | undefined, ctx);
    if (config.secretKey === undefined) {
      ctx.stderr.write("calgate rotate-key: the config has no secretKey (the new key); set it first\n");
      return 1;
    }
    const oldKey = ctx.env[OLD_KEY_ENV] ?? (ctx.stdin.isTTY ? null : await readFirstLine(ctx));
    if (!oldKey) {
      ctx.stderr.write(`calgate rotate-key: give the old key in ${OLD_KEY_ENV} or on the first line of stdin\n`);
      return 1;
    }
    let from: SecretBox;
    try {
      from = SecretBox.fromSecretKey(oldKey);
    } catch (e) {
      ctx.stderr.write(`calgate rotate-key: the old key is not usable: ${(e as Error).message}\n`);
      return 1;
    }
    const to = SecretBox.fromSecretKey(config.secretKey);
    if (from.keyId === to.keyId) {
      ctx.stderr.write("calgate rotate-key: the old key and the config's secretKey are the same; nothing to do\n");
      return 1;
    }
    const db = await openDb(storageTarget(config.storage));
    try {
      const { rotated, already } = await SecretStore.rotate(db, from, to);
      ctx.stdout.write(`re-encrypted ${rotated} secret(s) under key ${to.keyId}${already > 0 ? ` (${already} already were)` : ""}; restart calgate serve to use the new key\n`);
      return 0;
    } catch (e) {
      if (e instanceof SecretDecryptError) {
        ctx.stderr.write(`calgate rotate-key: nothing was changed: ${e.message}\n`);
        return 1;
      }
      throw e;
    } finally {
      await db.destroy();
    }
  },
};
