/**
 * Graph change notifications (reference section 8): one subscription per calendar on
 * me/calendars/{id}/events (created, updated, deleted), with the same address for lifecycle
 * notifications, a random clientState as the secret, and an expiry under Graph's 10,080-minute limit.
 * Graph validates both addresses on creation: it POSTs `?validationToken=…` and expects the decoded
 * token back as text/plain within 10 s (parseNotification answers it). A notification only names
 * the event, so it triggers an incremental sync; lifecycle notifications (reauthorizationRequired,
 * subscriptionRemoved, missed) trigger one as well, since each can mean changes went unseen.
 * Renewal: PushChannels opens a new subscription before expiry and deletes the old one (Graph could
 * PATCH expirationDateTime in place; a replacement works the same, one request more).
 */
import { randomBytes } from "node:crypto";
import { NotFoundUpstream, type PushNotice, type PushParse, type PushRequest, type PushSubscription, type RemoteCalendar, type SourceContext } from "../adapter.ts";
import type { GraphApi } from "./client.ts";

export type WatchResult = PushSubscription & { readonly data: { readonly calendarId: string } };

/** Just under Graph's 10,080 minutes for Outlook event subscriptions. */
const TTL_MINUTES = 10_000;

export async function watchCalendar(api: GraphApi, cal: RemoteCalendar, callbackUrl: string, ctx: SourceContext): Promise<WatchResult> {
  const secret = randomBytes(24).toString("base64url");
  const expirationDateTime = new Date(api.clock.now() + TTL_MINUTES * 60_000).toISOString();
  const sub = await api.call<{ id: string; expirationDateTime?: string }>(
    "subscriptions.create",
    "once",
    {
      method: "POST",
      path: "/subscriptions",
      body: { changeType: "created,updated,deleted", notificationUrl: callbackUrl, lifecycleNotificationUrl: callbackUrl, resource: `me/calendars/${cal.id}/events`, expirationDateTime, clientState: secret },
    },
    ctx,
  );
  const expiresAt = sub.expirationDateTime ? Date.parse(sub.expirationDateTime) : Date.parse(expirationDateTime);
  return { id: sub.id, expiresAt, secret, data: { calendarId: cal.id } };
}

export async function stopSubscription(api: GraphApi, sub: { id: string; data: unknown }, ctx: SourceContext): Promise<void> {
  try {
    await api.call("subscriptions.delete", "idempotent", { method: "DELETE", path: `/subscriptions/${encodeURIComponent(sub.id)}`, lookup: true }, ctx);
  } catch (e) {
    if (e instanceof NotFoundUpstream) return; // expired or removed already
    throw e;
  }
}

interface GraphNotification {
  subscriptionId?: unknown;
  clientState?: unknown;
  lifecycleEvent?: unknown;
}

/**
 * A request to POST /hooks/microsoft: the validation handshake (answered directly), or a batch of
 * notifications (answered 202 whatever they hold: Graph counts any other answer as a failed delivery
 * and retries). Null when it is neither.
 */
export function parseNotification(req: PushRequest): PushParse | null {
  const token = req.query.validationToken;
  if (token !== undefined) return { reply: { status: 200, contentType: "text/plain", body: token } };
  let body: { value?: unknown };
  try {
    body = JSON.parse(req.body) as { value?: unknown };
  } catch {
    return null;
  }
  if (!body || !Array.isArray(body.value)) return null;
  const notices: PushNotice[] = [];
  for (const n of body.value as GraphNotification[]) {
    if (!n || typeof n.subscriptionId !== "string") continue;
    // reauthorizationRequired / subscriptionRemoved: the subscription is (about to be) gone; missed: a sync.
    const lost = n.lifecycleEvent === "subscriptionRemoved" || n.lifecycleEvent === "reauthorizationRequired";
    notices.push({ subscriptionId: n.subscriptionId, secret: typeof n.clientState === "string" ? n.clientState : null, kind: lost ? "lost" : "change" });
  }
  return { notices, status: 202 };
}
