/**
 * TLS trust of a source with `caCert`: one secure context per set of roots, made once and shared by
 * every connection and source. Passing `ca` instead makes Node parse every certificate again for
 * each new connection (the system roots plus the PEM: ~10 ms of CPU), which the scale simulation
 * found to be a tenth of a busy instance's CPU with a thousand Microsoft sources.
 */
import { createSecureContext, rootCertificates, type SecureContext } from "node:tls";

const contexts = new Map<string, SecureContext>();

/** Trusts `pem` (and the system roots when `withSystemRoots`); TLS checks stay on. */
export function trustContext(pem: string, withSystemRoots: boolean): SecureContext {
  const key = `${withSystemRoots ? "roots+" : ""}${pem}`;
  let c = contexts.get(key);
  if (!c) contexts.set(key, (c = createSecureContext({ ca: withSystemRoots ? [...rootCertificates, pem] : pem })));
  return c;
}
