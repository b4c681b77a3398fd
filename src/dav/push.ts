/**
 * WebDAV-Push (draft-bitfire-webdav-push, as DAVx5 speaks it): what dav/ needs from the push room
 * (PushRegistry, implemented in status/webpush.ts) and the parsing of a `push-register` body.
 */
import { clark, type Clark } from "../xml/names.ts";
import { child, text, type XmlElement } from "../xml/tree.ts";
import type { CalendarMeta, User } from "./service.ts";

export const PUSH_NS = "https://bitfire.at/webdav-push";
export const push = (local: string): Clark => clark(PUSH_NS, local);

/** The public part of a Web Push subscription (RFC 8030 push resource, RFC 8291 keys). */
export interface WebPushSubscription {
  /** Absolute URL the messages are POSTed to; also the subscription's identity. */
  readonly pushResource: string;
  /** Only aes128gcm (RFC 8291) is offered. */
  readonly contentEncoding: "aes128gcm";
  /** The user agent's P-256 public key, uncompressed, base64url. */
  readonly p256dh: string;
  /** The 16-byte authentication secret, base64url. */
  readonly auth: string;
}

export interface PushRegistration {
  /** Absolute path of the registration URL (DELETE removes the registration). */
  readonly path: string;
  readonly expires: Date;
  readonly created: boolean;
}

export interface PushRegistry {
  /** The VAPID public key (P-256, uncompressed, base64url), advertised in `transports`. */
  vapidPublicKey(): string;
  /** The collection's push topic: stable, unique, and revealing nothing about it. */
  topic(cal: CalendarMeta): string;
  /** Registers (or renews) a subscription to a collection's content updates. Throws InvalidSubscription. */
  register(user: User, cal: CalendarMeta, sub: WebPushSubscription, expires: Date | null): Promise<PushRegistration>;
}

/** The push resource or its keys are not acceptable (403 with `invalid-subscription`). */
export class InvalidSubscription extends Error {}

/** A push-register body, read. */
export interface PushRegisterRequest {
  readonly subscription: WebPushSubscription;
  /** The requested expiry, or null when the client asked for none. */
  readonly expires: Date | null;
}

/** Why a push-register body is refused: 400 for malformed XML content, 403 + precondition otherwise. */
export class PushRegisterRefused extends Error {
  constructor(readonly status: 400 | 403, message: string, readonly condition?: Clark) {
    super(message);
  }
}

const B64URL = /^[A-Za-z0-9_-]+={0,2}$/;
const b64urlBytes = (s: string): Buffer | null => (B64URL.test(s) ? Buffer.from(s.replace(/=+$/, ""), "base64url") : null);

/** IMF-fixdate (RFC 9110 5.6.7), e.g. "Wed, 02 Oct 2024 07:28:00 GMT". */
const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * Reads a `push-register` body. Lenient where the draft is (a missing trigger means content updates,
 * as DAVx5 registers; a property-update trigger alone is not supported), strict about what a message
 * needs: an https push resource, and the RFC 8291 keys (messages are always encrypted).
 */
export function parsePushRegister(root: XmlElement): PushRegisterRequest {
  const invalid = (msg: string): PushRegisterRefused => new PushRegisterRefused(403, msg, push("invalid-subscription"));
  const subscription = child(root, push("subscription"));
  const web = subscription ? child(subscription, push("web-push-subscription")) : undefined;
  if (!web) throw invalid("push-register needs subscription/web-push-subscription (the only transport offered is web-push)");
  const resourceEl = child(web, push("push-resource"));
  const pushResource = resourceEl ? text(resourceEl).trim() : "";
  if (!pushResource) throw invalid("web-push-subscription needs a push-resource (the push service's URL for this subscription)");
  let url: URL;
  try {
    url = new URL(pushResource);
  } catch {
    throw invalid(`push-resource must be an absolute URL, got "${pushResource}"`);
  }
  if (url.protocol !== "https:") throw invalid(`push-resource must be an https URL, got "${pushResource}"`);
  const encEl = child(web, push("content-encoding"));
  const encoding = encEl ? text(encEl).trim().toLowerCase() : "aes128gcm";
  if (encoding !== "aes128gcm") throw invalid(`content-encoding ${encoding} is not supported; expected aes128gcm (RFC 8291)`);
  // DAVx5 names the key subscription-public-key; the draft's later text says client-public-key.
  const keyEl = child(web, push("subscription-public-key")) ?? child(web, push("client-public-key"));
  const authEl = child(web, push("auth-secret"));
  if (!keyEl || !authEl) throw invalid("web-push-subscription needs subscription-public-key and auth-secret: messages are always encrypted (RFC 8291)");
  const type = keyEl.attrs.type;
  if (type !== undefined && type !== "p256dh") throw invalid(`subscription-public-key type must be p256dh, got "${type}"`);
  const p256dh = text(keyEl).trim();
  const key = b64urlBytes(p256dh);
  if (!key || key.length !== 65 || key[0] !== 0x04) throw invalid("subscription-public-key must be an uncompressed P-256 point (65 bytes), base64url");
  const auth = text(authEl).trim();
  const secret = b64urlBytes(auth);
  if (!secret || secret.length !== 16) throw invalid("auth-secret must be 16 bytes, base64url");

  const trigger = child(root, push("trigger"));
  if (trigger && !child(trigger, push("content-update"))) {
    throw new PushRegisterRefused(403, "only the content-update trigger is supported (property updates are not notified)", push("no-supported-trigger"));
  }
  const expiresEl = child(root, push("expires"));
  let expires: Date | null = null;
  if (expiresEl) {
    const s = text(expiresEl).trim();
    const t = Date.parse(s);
    if (!IMF_FIXDATE.test(s) || Number.isNaN(t)) throw new PushRegisterRefused(400, `expires must be an IMF-fixdate such as "Wed, 02 Oct 2024 07:28:00 GMT", got "${s}"`);
    expires = new Date(t);
  }
  return { subscription: { pushResource: url.href, contentEncoding: "aes128gcm", p256dh: p256dh.replace(/=+$/, ""), auth: auth.replace(/=+$/, "") }, expires };
}
