/**
 * The embedded default's generated password, kept across restarts: its scrypt hash lives in the data
 * folder (next to the database), so clients set up from the quick start keep working. The password
 * itself is printed once, on the run that creates the file; later runs load the hash.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { hashPassword, isPasswordHash } from "../auth/password.ts";
import type { Config } from "../config/schema.ts";

export const DEFAULT_PASSWORD_FILE = "default-password.hash";

export interface KeptPassword {
  config: Config;
  /** The password to print: set only on the run that generated and stored it. */
  printOnce: string | null;
  /** Where its hash is kept. */
  file: string;
  /** Writes a new hash to `file`; called once the server runs, so a failed start never hides an unprinted password. */
  commit(): void;
}

/** The file holding the hash: the database's folder (./data for the embedded default). */
export function defaultPasswordFile(config: Config): string {
  return join(dirname(config.storage.filename), DEFAULT_PASSWORD_FILE);
}

/**
 * `generated` is the password defaultConfig made up for this run. When a hash is already stored, the
 * user logs in with the stored password instead and `generated` is dropped unseen; otherwise it is
 * returned for printing and commit() writes its hash (mode 0600, the folder created).
 */
export async function keepDefaultPassword(config: Config, generated: string): Promise<KeptPassword> {
  const file = defaultPasswordFile(config);
  let stored: string | null = null;
  try {
    stored = readFileSync(file, "utf8").trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (stored !== null && !isPasswordHash(stored)) {
    throw new Error(`${file} does not hold a password hash from calgate; delete it to generate a new password (printed once)`);
  }
  const isNew = stored === null;
  const hash = stored ?? (await hashPassword(generated));
  const commit = (): void => {
    if (!isNew) return;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${hash}\n`, { mode: 0o600, flag: "wx" });
  };
  const [user, ...rest] = config.users;
  const { password: _dropped, ...withoutPassword } = user!;
  return { config: { ...config, users: [{ ...withoutPassword, passwordHash: hash }, ...rest] }, printOnce: isNew ? generated : null, file, commit };
}

/** What serve prints for the embedded default once it is serving: where, who, and the password (once) or where its hash is. */
export function passwordBanner(kept: KeptPassword, url: string): string {
  const password =
    kept.printOnce !== null
      ? `${kept.printOnce}   (generated on this first run and shown only now; its hash is kept in ${kept.file}, so it stays the same after restarts)`
      : `the one printed on the first run (its hash is in ${kept.file}; delete that file and restart for a new one)`;
  return (
    `calgate is serving CalDAV at ${url}\n` +
    `username: ${kept.config.users[0]!.username}\n` +
    `password: ${password}\n` +
    `(set CALGATE_PASSWORD or write calgate.yaml to choose the password yourself)\n`
  );
}
