import { displayConfigPath } from "../config/load.ts";
import type { Config, SourceConfig } from "../config/schema.ts";

/** Finds a source by id (and optionally user); a string is a message for the person at the terminal. */
export function findSource(
  config: Config,
  sourceId: string,
  username: string | undefined,
  configPath: string | null,
): { username: string; source: SourceConfig } | string {
  const where = configPath === null ? "the embedded default config" : displayConfigPath(configPath);
  const users = username === undefined ? config.users : config.users.filter((u) => u.username === username);
  if (username !== undefined && users.length === 0) return `no user "${username}" in ${where}`;
  const matches = users.flatMap((u) => u.sources.filter((s) => s.id === sourceId).map((source) => ({ username: u.username, source })));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) return `several users have a source "${sourceId}" (${matches.map((m) => m.username).join(", ")}); choose one with --user`;
  const known = users.flatMap((u) => u.sources.map((s) => (config.users.length > 1 ? `${u.username}/${s.id}` : s.id)));
  return `no source "${sourceId}" in ${where} (sources: ${known.join(", ") || "none"})`;
}
