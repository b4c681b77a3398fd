/**
 * What to say when the listener cannot open: which address and port, how to find who holds it, and
 * which key or variable changes it. Not a stack trace: the cause is on the machine, not in calgate.
 */
import { displayConfigPath } from "../config/load.ts";
import type { Config } from "../config/schema.ts";

const LISTEN_CODES = new Set(["EADDRINUSE", "EACCES", "EADDRNOTAVAIL", "ENOTFOUND", "EAI_AGAIN"]);

/** The message for a failed listen, or null when `err` is something else. */
export function listenErrorMessage(err: unknown, config: Config, configPath: string | null): string | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === undefined || !LISTEN_CODES.has(code) || (err as { syscall?: string }).syscall === "connect") return null;
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
