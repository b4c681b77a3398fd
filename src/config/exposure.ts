/**
 * Who can reach the listener, and whether passwords cross the network in clear: Basic auth over plain
 * HTTP on an address other machines reach sends every password readable to anyone on the path.
 */
import { isIP } from "node:net";
import type { Config } from "./schema.ts";

/** True for addresses only this machine can connect to: 127.0.0.0/8, ::1 (also IPv4-mapped), localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (h === "::1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith("127.");
}

/**
 * The warning for a listener other machines can reach over plain HTTP, or null. Not given when
 * `server.trustProxy` is true: that says a reverse proxy you control is in front, and it terminates TLS.
 */
export function plainHttpWarning(config: Config): string | null {
  const { host, port, trustProxy } = config.server;
  if (isLoopbackHost(host) || trustProxy) return null;
  const where = host === "0.0.0.0" || host === "::" ? "every network interface" : host;
  return (
    `server.host: calgate listens on ${where} (port ${port}) over plain HTTP with Basic auth, so passwords cross the network readable; ` +
    `put a TLS reverse proxy in front (docs/SELF-HOSTING.md) and set server.trustProxy: true, or listen on 127.0.0.1 (CALGATE_HOST)`
  );
}
