/**
 * WebDAV-Push, the registry side (dav/push.ts's PushRegistry): the VAPID key pair (made once, kept
 * in the database, never logged), collection topics, registrations (checked, expiring, deletable),
 * and Push-Dont-Notify (which registrations the changes of one request must not wake). Delivery is
 * webpush-delivery.ts.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { createHmac, randomBytes } from "node:crypto";
import webpush from "web-push";
import type { CalendarMeta, User } from "../dav/service.ts";
import { InvalidSubscription, type PushRegistration, type PushRegistry, type WebPushSubscription } from "../dav/push.ts";
import type { PushRegistrationStore, VapidKeyRow } from "../store/push-registrations.ts";
import { checkPushResource, PushAddressRefused, type Resolver } from "./push-address.ts";

const DAY = 86_400_000;
/** Granted when the client asks for no expiry (DAVx5 asks for three days and renews daily). */
export const DEFAULT_EXPIRY_MS = 7 * DAY;
/** The longest a registration is kept without renewal (the draft asks for at least three days). */
export const MAX_EXPIRY_MS = 30 * DAY;
/** More push resources than this on one calendar is not a phone or two: refused (each change costs a message per resource). */
export const MAX_REGISTRATIONS_PER_CALENDAR = 50;
/** Registration URLs live under the DAV tree, so a proxy that forwards /dav/ forwards them too. */
export const REGISTRATION_PREFIX = "/dav/push/";

/** Which registrations the changes of the running request must not notify: ids, or every one ("all"). */
export type Withheld = ReadonlySet<string> | "all";

export interface WebPushOptions {
  readonly allowPrivateEndpoints: boolean;
  /** How DNS names of push resources are resolved at registration (tests inject one). */
  readonly resolve?: Resolver;
}

export class WebPush implements PushRegistry {
  private readonly withheld = new AsyncLocalStorage<{ ids: Withheld; open: boolean }>();

  private constructor(
    readonly store: PushRegistrationStore,
    private readonly keys: VapidKeyRow,
    readonly options: WebPushOptions,
  ) {}

  /** Loads the key pair, making and storing it the first time. */
  static async open(store: PushRegistrationStore, options: WebPushOptions): Promise<WebPush> {
    const keys = await store.vapidKeys(() => {
      const k = webpush.generateVAPIDKeys();
      return { publicKey: k.publicKey, privateKey: k.privateKey, topicSecret: randomBytes(32).toString("base64url") };
    });
    return new WebPush(store, keys, options);
  }

  vapidPublicKey(): string {
    return this.keys.publicKey;
  }
  /** For signing (webpush-delivery.ts); never logged. */
  vapidPrivateKey(): string {
    return this.keys.privateKey;
  }

  topic(cal: CalendarMeta): string {
    return this.topicOf(cal.id);
  }
  /**
   * A keyed hash of the collection's id: stable, unique per collection (a calendar made again under
   * the same name is another collection), 22 base64url characters (fits the Web Push Topic header),
   * and telling the push service nothing.
   */
  topicOf(calendarId: number): string {
    return createHmac("sha256", this.keys.topicSecret).update(`collection:${calendarId}`).digest().subarray(0, 16).toString("base64url");
  }

  async register(user: User, cal: CalendarMeta, sub: WebPushSubscription, expires: Date | null): Promise<PushRegistration> {
    try {
      await checkPushResource(sub.pushResource, this.options.allowPrivateEndpoints, this.options.resolve);
    } catch (e) {
      if (e instanceof PushAddressRefused) throw new InvalidSubscription(e.message);
      throw e;
    }
    const now = Date.now();
    const existing = await this.store.forCalendar(cal.id, now);
    if (existing.length >= MAX_REGISTRATIONS_PER_CALENDAR && !existing.some((r) => r.pushResource === sub.pushResource)) {
      throw new InvalidSubscription(`calendar ${cal.name} already has ${existing.length} push registrations, the most it takes; delete unused ones (DELETE of their registration URLs) first`);
    }
    const expiresAt = Math.min(expires ? expires.getTime() : now + DEFAULT_EXPIRY_MS, now + MAX_EXPIRY_MS);
    const { row, created } = await this.store.upsert({
      id: randomBytes(16).toString("base64url"), owner: user.username, calendarId: cal.id, calendarName: cal.name,
      pushResource: sub.pushResource, p256dh: sub.p256dh, auth: sub.auth, contentEncoding: sub.contentEncoding, expiresAt,
    });
    return { path: REGISTRATION_PREFIX + row.id, expires: new Date(row.expiresAt), created };
  }

  /** DELETE of a registration URL: false when the user has no such registration (404). */
  unregister(owner: string, id: string): Promise<boolean> {
    return this.store.remove(owner, id);
  }

  /**
   * Runs one request with its Push-Dont-Notify header in force: changes committed while it runs do
   * not notify the registrations it names (registration URLs, absolute or not; "*" names them all).
   */
  async withholding<T>(header: string | undefined, fn: () => Promise<T>): Promise<T> {
    const ids = parseDontNotify(header);
    if (ids === null) return fn();
    // Timers and follow-up work started by the request inherit its context: the header stops
    // applying when the request ends, so a later pull still wakes the client.
    const scope = { ids, open: true };
    try {
      return await this.withheld.run(scope, fn);
    } finally {
      scope.open = false;
    }
  }
  /** What the running request withholds (read synchronously by the change feed's subscriber). */
  currentlyWithheld(): Withheld | null {
    const s = this.withheld.getStore();
    return s?.open ? s.ids : null;
  }
}

/**
 * Push-Dont-Notify: "*" or a comma-separated list of registration URLs, quoted (as DAVx5 sends them
 * with PUT and DELETE) or not. Yields the registration ids named, or null for no header.
 */
export function parseDontNotify(header: string | undefined): Withheld | null {
  if (header === undefined || header.trim() === "") return null;
  if (header.trim() === "*") return "all";
  const ids = new Set<string>();
  for (const part of header.split(",")) {
    const v = part.trim().replace(/^"(.*)"$/, "$1").trim();
    let path = v;
    try {
      path = new URL(v, "http://x").pathname;
    } catch {
      continue;
    }
    if (path.startsWith(REGISTRATION_PREFIX)) ids.add(decodeURIComponent(path.slice(REGISTRATION_PREFIX.length).replace(/\/$/, "")));
  }
  return ids;
}
