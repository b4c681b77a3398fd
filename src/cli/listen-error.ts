/**
 * What to say when the listener cannot open: which address and port, how to find who holds it, and
 * which key or variable changes it. Not a stack trace: the cause is on the machine, not in calgate.
 */
import { displayConfigPath } from "../config/load.ts";
import type { Config } from "../config/schema.ts";

const STORAGE_CODES = new Set(["EACCES", "EPERM", "EROFS", "ENOTDIR", "EEXIST"]);
const LISTEN_CODES = new Set(["EADDRINUSE", "EACCES", "EADDRNOTAVAIL", "ENOTFOUND", "EAI_AGAIN"]);

/** The message for a failed listen (or a database that cannot be created), or null when `err` is something else. */
export function listenErrorMessage(err: unknown, config: Config, configPath: string | null): string | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const syscall = (err as NodeJS.ErrnoException | null)?.syscall;
  if (code === "SQLITE_CANTOPEN" || ((syscall === "mkdir" || syscall === "open") && code !== undefined && STORAGE_CODES.has(code))) return storageMessage(err as Error, config, configPath);
  if (code === undefined || !LISTEN_CODES.has(code) || (syscall !== "listen" && syscall !== "getaddrinfo")) return null;
  const { host, port } = config.server;
  const portKey = configPath === null ? "CALGATE_PORT (the embedded default)" : `server.port in ${displayConfigPath(configPath)}`;
  const hostKey = configPath === null ? "CALGATE_HOST (the embedded default)" : `server.host in ${displayConfigPath(configPath)}`;
  switch (code) {
    case "EADDRINUSE":
      return (
        `port ${port} on ${host} is already in use by another program (perhaps another calgate).\n` +
        `  See which one: ss -ltnp 'sport = :${port}'   (run it with sudo to see other users' programs)\n` +
        `  Stop it, or choose another port with ${portKey}.`
      );
    case "EACCES":
      return `not allowed to listen on port ${port} on ${host} (ports below 1024 need privileges).\n  Choose a port of 1024 or more with ${portKey}, and let a reverse proxy serve 80/443 (docs/SELF-HOSTING.md).`;
    default:
      return `cannot listen on ${host}:${port}: ${host} is not an address of this machine (${code}).\n  Choose one with ${hostKey}: 127.0.0.1 (this machine only) or 0.0.0.0 (every interface).`;
  }
}

/** The database or its folder cannot be created or opened: usually a folder owned by another user (a Docker bind mount). */
function storageMessage(err: Error, config: Config, configPath: string | null): string {
  const key = configPath === null ? "the embedded default's ./data" : `storage.filename in ${displayConfigPath(configPath)}`;
  const uid = typeof process.getuid === "function" ? ` (uid ${process.getuid()})` : "";
  return (
    `cannot create or open the database ${config.storage.filename}: ${err.message}\n` +
    `  Its folder must be writable by the user calgate runs as${uid}; choose another place with ${key}.\n` +
    `  In Docker, a bind-mounted data folder must belong to uid 1000 (docs/SELF-HOSTING.md, "Docker").`
  );
}