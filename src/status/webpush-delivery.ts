/**
 * WebDAV-Push delivery: follows the change feed (and merged calendars' folds) and sends each changed
 * collection's registrations one `push-message` (topic + new sync-token), encrypted (RFC 8291,
 * aes128gcm) and signed with the VAPID key (RFC 8292), through the web-push package. Changes are
 * coalesced per collection (a pull of a hundred events is one message); a registration the push
 * service answers 404/410 is removed; 429, 5xx and network failures are retried a few times with the
 * shared backoff policy, then the message is dropped (the client's next poll still catches up).
 */
import https from "node:https";
import { isIP } from "node:net";
import { rootCertificates } from "node:tls";
import webpush, { WebPushError } from "web-push";
import type { Logger } from "pino";
import type { ChangeFeed } from "../store/db.ts";
import type { PushRegistrationRow, PushRegistrationStore } from "../store/push-registrations.ts";
import { push } from "../dav/push.ts";
import { dav } from "../xml/names.ts";
import { el } from "../xml/tree.ts";
import { serialize } from "../xml/build.ts";
import { backoff } from "../sync/retry.ts";
import { parseRetryAfter } from "../sources/timing.ts";
import { guardedLookup, isPrivateAddress, PushAddressRefused } from "./push-address.ts";
import type { WebPush, Withheld } from "./webpush.ts";

/** One collection whose registrations are due a message. */
interface Target {
  readonly owner: string;
  readonly name: string;
  /** CalendarMeta id (negative for merged calendars). */
  readonly calendarId: number | null;
}

export interface DeliveryDeps {
  readonly registry: WebPush;
  readonly store: PushRegistrationStore;
  readonly log: Logger;
  /** Owner and URL name of a stored calendar (null once gone). */
  readonly calendarOf: (calendarId: number) => Promise<{ owner: string; name: string } | null>;
  /** The collection's id and current sync-token, as a client reads them (null once gone). */
  readonly collection: (owner: string, name: string) => Promise<{ id: number; syncToken: string } | null>;
  /** VAPID `sub` claim: an https URL or mailto: address the push service can reach the operator at. */
  readonly subject: string;
  /** Extra CA certificates (PEM) to trust for push services, besides the system ones. */
  readonly caCert?: string | null;
  /** How long changes of one collection are gathered into one message. */
  readonly coalesceMs?: number;
  readonly attempts?: number;
  readonly retry?: { baseMs: number; maxMs: number };
}

/** Messages that did not get through, in a row, after which a registration is considered dead. */
const MAX_FAILED_MESSAGES = 10;
const TTL_S = 86_400;

export class WebPushDelivery {
  private readonly pending = new Map<string, { target: Target; withheld: Withheld }>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly owners = new Map<number, { owner: string; name: string } | null>();
  private readonly unsubscribes: (() => void)[] = [];
  private readonly agent: https.Agent;
  private closed = false;
  private readonly sleepers = new Set<() => void>();
  /** Messages the push services accepted (for metrics and tests). */
  sent = 0;
  /** Told of every message's fate (metrics): sent, gone (registration removed), failed (after its retries). */
  onOutcome: ((outcome: "sent" | "gone" | "failed") => void) | null = null;

  constructor(private readonly deps: DeliveryDeps) {
    const allow = deps.registry.options.allowPrivateEndpoints;
    this.agent = new https.Agent({
      keepAlive: true,
      lookup: guardedLookup(allow) as never,
      ...(deps.caCert ? { ca: [...rootCertificates, deps.caCert] } : {}),
    });
  }

  /** Follows committed changes of stored calendars (in this process). */
  follow(feed: ChangeFeed): void {
    this.unsubscribes.push(feed.subscribe((c) => this.changedCalendar(c.calendarId)));
  }

  /** A merged calendar took in changes of its members (the `merged.updated` announcement). */
  mergedChanged(owner: string, name: string): void {
    this.queue(`m\u0000${owner}\u0000${name}`, { owner, name, calendarId: null }, this.deps.registry.currentlyWithheld());
  }

  private changedCalendar(calendarId: number): void {
    // Read now: the Push-Dont-Notify of the request that made the change is only in this call's context.
    const withheld = this.deps.registry.currentlyWithheld();
    const known = this.owners.get(calendarId);
    if (known !== undefined) {
      if (known) this.queue(`c\u0000${calendarId}`, { ...known, calendarId }, withheld);
      return;
    }
    void this.deps.calendarOf(calendarId).then(
      (o) => {
        this.owners.set(calendarId, o);
        if (o) this.queue(`c\u0000${calendarId}`, { ...o, calendarId }, withheld);
      },
      (e: Error) => this.deps.log.warn({ calendarId, err: e.message }, "webdav-push: could not look up a changed calendar"),
    );
  }

  private queue(key: string, target: Target, withheld: Withheld | null): void {
    if (this.closed) return;
    const w: Withheld = withheld ?? new Set();
    const p = this.pending.get(key);
    // Coalesced changes withhold from a registration only what every one of them withheld.
    if (p) p.withheld = intersect(p.withheld, w);
    else this.pending.set(key, { target, withheld: w });
    if (!this.timers.has(key) && !this.running.has(key)) this.arm(key);
  }

  private arm(key: string): void {
    const t = setTimeout(() => {
      this.timers.delete(key);
      const run = this.flush(key).finally(() => {
        this.running.delete(key);
        if (this.pending.has(key) && !this.closed) this.arm(key);
      });
      this.running.set(key, run);
    }, this.deps.coalesceMs ?? 100);
    t.unref();
    this.timers.set(key, t);
  }

  private async flush(key: string): Promise<void> {
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    const { target, withheld } = p;
    try {
      const regs = target.calendarId !== null ? await this.deps.store.forCalendar(target.calendarId) : await this.deps.store.forMerged(target.owner, target.name);
      const due = regs.filter((r) => withheld !== "all" && !withheld.has(r.id));
      if (due.length === 0) return;
      const col = await this.deps.collection(target.owner, target.name);
      if (!col) return;
      const body = serialize(el(push("push-message"), el(push("topic"), this.deps.registry.topicOf(col.id)), el(push("content-update"), el(dav("sync-token"), col.syncToken))));
      await Promise.all(due.filter((r) => r.calendarId === col.id).map((r) => this.deliver(r, body, this.deps.registry.topicOf(col.id))));
    } catch (e) {
      this.deps.log.warn({ owner: target.owner, calendar: target.name, err: (e as Error).message }, "webdav-push: could not notify a collection's registrations");
    }
  }

  /** Sends one message to one registration, with the retries the outcome allows. */
  private async deliver(r: PushRegistrationRow, body: string, topic: string): Promise<void> {
    const attempts = this.deps.attempts ?? 3;
    const log = this.deps.log.child({ owner: r.owner, calendar: r.calendarName, registration: r.id });
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.send(r, body, topic);
      if (outcome.kind === "ok") {
        this.sent++;
        this.onOutcome?.("sent");
        if (r.failures > 0) await this.deps.store.delivered(r.id, true);
        return;
      }
      if (outcome.kind === "gone") {
        this.onOutcome?.("gone");
        log.info({ status: outcome.status }, "webdav-push: the push service no longer knows this subscription; registration removed");
        await this.deps.store.removeById(r.id);
        return;
      }
      if (outcome.kind === "retry" && attempt < attempts && !this.closed) {
        await this.sleep(backoff(this.deps.retry ?? { baseMs: 1000, maxMs: 30_000 }, attempt, outcome.retryAfterMs));
        continue;
      }
      this.onOutcome?.("failed");
      const failures = await this.deps.store.delivered(r.id, false);
      log.warn({ status: outcome.status, err: outcome.message, failures }, "webdav-push: message not delivered");
      if (failures >= MAX_FAILED_MESSAGES) {
        await this.deps.store.removeById(r.id);
        log.warn({ failures }, "webdav-push: registration removed after repeated failed messages");
      }
      return;
    }
  }

  private async send(r: PushRegistrationRow, body: string, topic: string): Promise<{ kind: "ok" } | { kind: "gone" | "retry" | "failed"; status: number | null; message: string; retryAfterMs: number | null }> {
    const host = new URL(r.pushResource).hostname.replace(/^\[|\]$/g, "");
    // Literal addresses never reach the agent's lookup: checked here.
    if (!this.deps.registry.options.allowPrivateEndpoints && isIP(host) && isPrivateAddress(host)) {
      return { kind: "failed", status: null, message: `push resource ${host} is a loopback or private address`, retryAfterMs: null };
    }
    try {
      await webpush.sendNotification({ endpoint: r.pushResource, keys: { p256dh: r.p256dh, auth: r.auth } }, body, {
        vapidDetails: { subject: this.deps.subject, publicKey: this.deps.registry.vapidPublicKey(), privateKey: this.deps.registry.vapidPrivateKey() },
        TTL: TTL_S, topic, urgency: "normal", contentEncoding: "aes128gcm", agent: this.agent, timeout: 10_000,
      });
      return { kind: "ok" };
    } catch (e) {
      if (e instanceof WebPushError) {
        const status = e.statusCode;
        const retryAfterMs = parseRetryAfter(e.headers?.["retry-after"]);
        const kind = status === 404 || status === 410 ? "gone" : status === 429 || status >= 500 ? "retry" : "failed";
        return { kind, status, message: `push service answered ${status}`, retryAfterMs };
      }
      const err = e as NodeJS.ErrnoException;
      if (err instanceof PushAddressRefused || err.code === "EPUSHADDRESS") return { kind: "failed", status: null, message: err.message, retryAfterMs: null };
      return { kind: "retry", status: null, message: err.message, retryAfterMs: null };
    }
  }

  /** A wait between attempts that close() cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  /** Stops following; waits for messages under way (before the database closes). */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of [...this.sleepers]) wake();
    for (const u of this.unsubscribes) u();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.pending.clear();
    await Promise.all(this.running.values());
    this.agent.destroy();
  }
}

function intersect(a: Withheld, b: Withheld): Withheld {
  if (a === "all") return b;
  if (b === "all") return a;
  return new Set([...a].filter((x) => b.has(x)));
}
