/**
 * Where WebDAV-Push messages may go. A push resource is a URL a client hands us and the server then
 * POSTs to: without a check it is a way to make calgate send requests into its own network. So: https
 * only, and no loopback, private, link-local or otherwise non-public address unless
 * `push.allowPrivateEndpoints` is set. Checked when a client registers (by resolving the host) and
 * again on every connection (an https.Agent whose lookup refuses such addresses, so a name that later
 * resolves elsewhere, DNS rebinding, is caught where it matters).
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOptions } from "node:dns";
import { BlockList, isIP } from "node:net";

const blocked = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.0.2.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["198.51.100.0", 24], ["203.0.113.0", 24],
  ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const) blocked.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [
  ["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10], ["fec0::", 10], ["ff00::", 8], ["2001:db8::", 32], ["100::", 64],
] as const) blocked.addSubnet(net, bits, "ipv6");

/** Whether an IP address is loopback, private, link-local, reserved or otherwise not a public host. */
export function isPrivateAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, "").toLowerCase().replace(/%.*$/, "");
  const family = isIP(a);
  if (family === 0) return true; // not an address at all: never trusted
  if (family === 4) return blocked.check(a, "ipv4");
  // IPv4-mapped / -translated IPv6 (::ffff:10.0.0.1, 64:ff9b::10.0.0.1) reach the IPv4 host.
  const embedded = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(a)?.[1];
  if (embedded) return blocked.check(embedded, "ipv4");
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
  if (hex) {
    const n = (parseInt(hex[1]!, 16) << 16) | parseInt(hex[2]!, 16);
    return blocked.check([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join("."), "ipv4");
  }
  return blocked.check(a, "ipv6");
}

/** A push resource calgate will not send to (the message says what was wrong and what is expected). */
export class PushAddressRefused extends Error {
  readonly code = "EPUSHADDRESS";
}

export type Resolver = (host: string) => Promise<readonly string[]>;
const systemResolver: Resolver = (host) =>
  new Promise((resolve, reject) => dnsLookup(host, { all: true, verbatim: true }, (err, addrs) => (err ? reject(err) : resolve(addrs.map((a) => a.address)))));

/**
 * Checks a push resource URL before registering it: https, and (unless `allowPrivate`) a host that
 * resolves only to public addresses. Resolves to the URL; rejects with PushAddressRefused.
 */
export async function checkPushResource(resource: string, allowPrivate: boolean, resolve: Resolver = systemResolver): Promise<URL> {
  let url: URL;
  try {
    url = new URL(resource);
  } catch {
    throw new PushAddressRefused(`push resource "${resource}" is not an absolute URL`);
  }
  if (url.protocol !== "https:") throw new PushAddressRefused(`push resource must be an https URL, got ${url.protocol.replace(/:$/, "")}`);
  if (url.username || url.password) throw new PushAddressRefused("push resource must not carry credentials in its URL");
  if (allowPrivate) return url;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  let addresses: readonly string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = await resolve(host);
    } catch (e) {
      throw new PushAddressRefused(`push resource host ${host} does not resolve (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  const bad = addresses.find(isPrivateAddress);
  if (bad !== undefined || addresses.length === 0) {
    throw new PushAddressRefused(`push resource host ${host} is a loopback or private address (${bad ?? "none"}); push services are public (set push.allowPrivateEndpoints to allow it)`);
  }
  return url;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for net/tls connections that refuses non-public addresses (unless allowed). */
export function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true } as LookupAllOptions, (err, addrs) => {
      if (err) return callback(err, []);
      const bad = allowPrivate ? undefined : addrs.find((a) => isPrivateAddress(a.address));
      if (bad || addrs.length === 0) return callback(new PushAddressRefused(`push resource host ${hostname} resolves to ${bad?.address ?? "nothing"}, a loopback or private address`), []);
      if ((options as LookupAllOptions).all) callback(null, addrs);
      else callback(null, addrs[0]!.address, addrs[0]!.family);
    });
  };
}
