/**
 * The body of `calgate auth <provider> <source-id>` (main.ts's runAuth loads it on demand): for Google,
 * the loopback sign-in, then the token stored encrypted in the configured database, which a running
 * `calgate serve` reads on its next sync; for Microsoft, the device code sign-in, whose MSAL token cache
 * and account are stored the same way.
 */
import { storageTarget, type Config, type GoogleSourceConfig, type MicrosoftSourceConfig } from "../config/schema.ts";
import type { RunAuth } from "./contract.ts";
import { openDb } from "../store/db.ts";
import { SecretStore } from "../store/secrets.ts";
import { SecretBox } from "../auth/crypto.ts";
import { GOOGLE_TOKEN_KIND, GoogleAuthError, loopbackAuth, serializeToken, tokenExpiresAt } from "../sources/google/auth.ts";
import { MicrosoftAuthError, deviceCodeAuth } from "../sources/microsoft/auth.ts";

function googleSource(config: Config, sourceId: string, username: string | null): { owner: string; source: GoogleSourceConfig } {
  for (const u of config.users) {
    if (username !== null && u.username !== username) continue;
    const s = u.sources.find((x) => x.id === sourceId);
    if (s?.type === "google") return { owner: u.username, source: s };
  }
  throw new GoogleAuthError(`no google source "${sourceId}"${username !== null ? ` for user "${username}"` : ""} in the config file`);
}

function microsoftSource(config: Config, sourceId: string, username: string | null): { owner: string; source: MicrosoftSourceConfig } {
  for (const u of config.users) {
    if (username !== null && u.username !== username) continue;
    const s = u.sources.find((x) => x.id === sourceId);
    if (s?.type === "microsoft") return { owner: u.username, source: s };
  }
  throw new MicrosoftAuthError(`no microsoft source "${sourceId}"${username !== null ? ` for user "${username}"` : ""} in the config file`);
}

/** `calgate auth microsoft <id>`: device code sign-in; MSAL's token cache and the account stored encrypted. */
async function runMicrosoftAuth(config: Config, sourceId: string, username: string | null): Promise<void> {
  const { owner, source } = microsoftSource(config, sourceId, username);
  if (!config.secretKey) {
    throw new MicrosoftAuthError(`source "${sourceId}" needs secretKey (top level of the config file) to store its Microsoft sign-in encrypted; set it (e.g. secretKey: \${CALGATE_SECRET_KEY}) and run the command again`);
  }
  const box = SecretBox.fromSecretKey(config.secretKey);
  // Opened (and migrated) before the sign-in, so a database problem shows before the user signs in.
  const db = await openDb(storageTarget(config.storage));
  try {
    const store = new SecretStore(db, box);
    const secrets = { get: (kind: string) => store.get(owner, source.id, kind), set: (kind: string, value: string) => store.put(owner, source.id, kind, value) };
    const { username: account } = await deviceCodeAuth(source, { stdout: process.stdout }, secrets);
    process.stdout.write(`Connected source ${source.id} (Microsoft ${account}); calgate serve picks it up on its next sync.\n`);
  } finally {
    await db.destroy();
  }
}

export const runAuth: RunAuth = async (config, provider, sourceId, _logger, opts) => {
  if (provider === "microsoft") return runMicrosoftAuth(config, sourceId, opts.username);
  const { owner, source } = googleSource(config, sourceId, opts.username);
  if (!config.secretKey) {
    throw new GoogleAuthError(`source "${sourceId}" needs secretKey (top level of the config file) to store its Google token encrypted; set it (e.g. secretKey: \${CALGATE_SECRET_KEY}) and run the command again`);
  }
  const box = SecretBox.fromSecretKey(config.secretKey);
  // Opened (and migrated) before the sign-in, so a database problem shows before the user consents.
  const db = await openDb(storageTarget(config.storage));
  try {
    const token = await loopbackAuth(source, { stdout: process.stdout, stdin: process.stdin });
    await new SecretStore(db, box).put(owner, source.id, GOOGLE_TOKEN_KIND, serializeToken(token));
    process.stdout.write(`Connected source ${source.id} (Google); calgate serve picks it up on its next sync.\n`);
    const expires = tokenExpiresAt(token, source);
    if (expires !== null) {
      const day = new Date(expires).toISOString().slice(0, 10);
      process.stdout.write(`Note: the OAuth app is in Testing status (testingApp: true), so Google ends this sign-in on ${day}; run this command again before then.\n`);
    }
  } finally {
    await db.destroy();
  }
};
