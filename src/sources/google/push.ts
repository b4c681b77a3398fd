/**
 * Google push (reference section 8): events.watch opens a channel per calendar; Google POSTs an empty
 * body with X-Goog-* headers to our address: `sync` right after the watch (no change implied), then
 * `exists` when something changed. The message never says what changed, so it only triggers an
 * incremental sync. Channels are not renewed by Google: a new channel (new id) replaces an expiring
 * one, and channels.stop needs both the id and the resourceId, so both are kept by the caller.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { PushNotice, PushSubscription, RemoteCalendar, SourceContext } from "../adapter.ts";
import type { GoogleApi } from "./client.ts";

/** id = X-Goog-Channel-ID; secret = the channel token (X-Goog-Channel-Token); data = { resourceId } for channels.stop. */
export type WatchResult = PushSubscription & { readonly data: { readonly resourceId: string } };

/** Google's default and maximum channel lifetime is 7 days; ask for it and renew well before. */
const TTL_SECONDS = 7 * 24 * 3600;

export async function watchCalendar(api: GoogleApi, cal: RemoteCalendar, callbackUrl: string, ctx: SourceContext): Promise<WatchResult> {
  const id = randomUUID();
  const secret = randomBytes(24).toString("base64url");
  const ch = await api.call(
    "events.watch",
    "once",
    (a, o) => a.events.watch({ calendarId: cal.id, requestBody: { id, type: "web_hook", address: callbackUrl, token: secret, params: { ttl: String(TTL_SECONDS) } } }, o),
    ctx,
  );
  if (!ch.resourceId) throw new Error(`Google events.watch of ${cal.id} answered without a resourceId`);
  const expiresAt = ch.expiration ? Number(ch.expiration) : Date.now() + TTL_SECONDS * 1000;
  return { id, expiresAt, secret, data: { resourceId: ch.resourceId } };
}

export async function stopChannel(api: GoogleApi, channel: { id: string; data: unknown }, ctx: SourceContext): Promise<void> {
  const resourceId = (channel.data as { resourceId?: string } | null)?.resourceId;
  if (!resourceId) return;
  try {
    await api.call("channels.stop", "idempotent", (a, o) => a.channels.stop({ requestBody: { id: channel.id, resourceId } }, o), ctx);
  } catch (e) {
    if ((e as { status?: number }).status === 404) return; // already gone (expired or stopped)
    throw e;
  }
}

/** Reads a Google notification's headers; null when it is not one. */
export function parseNotification(headers: Record<string, string | string[] | undefined>): PushNotice | null {
  const h = (n: string): string | null => {
    const v = headers[n];
    return typeof v === "string" ? v : Array.isArray(v) ? (v[0] ?? null) : null;
  };
  const channelId = h("x-goog-channel-id");
  const state = h("x-goog-resource-state");
  if (!channelId || !state) return null;
  // "sync" is the handshake right after watch; "exists" / "not_exists" mean something changed.
  return { subscriptionId: channelId, secret: h("x-goog-channel-token"), kind: state === "sync" ? "handshake" : "change" };
}
