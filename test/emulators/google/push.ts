/**
 * Push notifications (reference §8): events.watch, channels.stop and delivery of body-less
 * `sync`/`exists` POSTs with the X-Goog-* headers; 5xx answers are retried with backoff.
 */
import http from "node:http";
import https from "node:https";
import { ApiError, E } from "./errors.ts";
import type { Json } from "./store.ts";
import { hashId, isPlainObject } from "./util.ts";

export interface Channel {
  id: string;
  resourceId: string;
  calendarId: string;
  address: string;
  token?: string;
  expiration: number;
  stopped: boolean;
}

interface LiveChannel extends Channel {
  clientId: string;
  resourceUri: string;
  messageNumber: number;
  queue: Promise<void>;
}

const DEFAULT_TTL_S = 604_800;
/** Google's internal cap on a channel's lifetime is undocumented; 30 days here. */
const MAX_TTL_S = 30 * 86_400;
const RETRY_DELAYS_MS = [50, 200, 800];
const CHANNEL_ID = /^[A-Za-z0-9\-_+/=]{1,64}$/;

export class Push {
  readonly channels: LiveChannel[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly inFlight = new Set<http.ClientRequest>();
  private closed = false;
  /** probability that an `exists` message is silently dropped (§8: delivery is not 100% reliable) */
  dropProbability = 0;

  constructor(
    private readonly now: () => number,
    private readonly requireHttps: boolean,
    private readonly rng: () => number,
  ) {}

  resourceIdOf(calendarId: string): string {
    return hashId(`resource|${calendarId}`, 27);
  }

  /** POST calendars/{cid}/events/watch (§8). */
  watch(calendarId: string, body: Json, clientId: string): Json {
    const id = body.id;
    if (typeof id !== "string" || id === "") throw E.required("Required", "id", "body");
    if (!CHANNEL_ID.test(id)) throw E.invalid(`Invalid channel id: ${id}`, "id", "body");
    if (body.type !== "web_hook" && body.type !== "webhook") throw E.invalid(`Invalid channel type: ${String(body.type)}`, "type", "body");
    const address = body.address;
    if (typeof address !== "string" || address === "") throw E.required("Required", "address", "body");
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      throw E.invalid(`Invalid callback address: ${address}`, "address", "body");
    }
    if (url.protocol !== "https:" && (this.requireHttps || url.protocol !== "http:")) {
      throw E.invalid(`WebHook callback must be HTTPS: ${address}`, "address", "body");
    }
    if (body.token !== undefined && (typeof body.token !== "string" || body.token.length > 256)) throw E.invalid("Invalid channel token.", "token", "body");
    if (this.channels.some((c) => c.clientId === clientId && c.id === id)) {
      throw new ApiError(400, { domain: "global", reason: "channelIdNotUnique", message: `Channel id ${id} not unique` });
    }
    const now = this.now();
    const ttlParam = isPlainObject(body.params) && body.params.ttl !== undefined ? Number(body.params.ttl) : undefined;
    if (ttlParam !== undefined && (!Number.isFinite(ttlParam) || ttlParam <= 0)) throw E.invalid("Invalid ttl.", "params.ttl", "body");
    let expiration = now + Math.min(ttlParam ?? DEFAULT_TTL_S, MAX_TTL_S) * 1000;
    if (body.expiration !== undefined && body.expiration !== null) {
      const requested = Number(body.expiration);
      if (!Number.isFinite(requested)) throw E.invalid("Invalid expiration.", "expiration", "body");
      expiration = Math.min(expiration, requested); // the more restrictive one wins
    }
    const resourceUri = `https://www.googleapis.com/calendar/v3/calendars/${encodeURIComponent(calendarId)}/events?alt=json`;
    const ch: LiveChannel = {
      id, resourceId: this.resourceIdOf(calendarId), calendarId, address, expiration, stopped: false,
      ...(typeof body.token === "string" ? { token: body.token } : {}),
      clientId, resourceUri, messageNumber: 0, queue: Promise.resolve(),
    };
    this.channels.push(ch);
    this.track(this.enqueue(ch, "sync"));
    const out: Json = { kind: "api#channel", id, resourceId: ch.resourceId, resourceUri };
    if (ch.token !== undefined) out.token = ch.token;
    out.expiration = String(expiration);
    return out;
  }

  /** POST channels/stop (§8): needs both id and resourceId. */
  stop(body: Json): void {
    const ch = this.channels.find((c) => c.id === body.id && c.resourceId === body.resourceId && !c.stopped);
    if (!ch) throw new ApiError(404, { domain: "global", reason: "notFound", message: `Channel '${String(body.id)}' not found for project` });
    ch.stopped = true;
  }

  /** Delivers `exists` to every live channel of the calendar; resolves when delivered (or given up). */
  notify(calendarId: string): Promise<void> {
    const live = this.channels
      .filter((c) => c.calendarId === calendarId && !c.stopped && c.expiration > this.now())
      .filter(() => this.dropProbability <= 0 || this.rng() >= this.dropProbability);
    const p = Promise.all(live.map((c) => this.enqueue(c, "exists"))).then(() => undefined);
    this.track(p);
    return p;
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private enqueue(ch: LiveChannel, state: "sync" | "exists"): Promise<void> {
    const number = state === "sync" ? 1 : Math.max(ch.messageNumber + 1, 2);
    ch.messageNumber = number;
    ch.queue = ch.queue.then(() => this.deliver(ch, state, number));
    return ch.queue;
  }

  private async deliver(ch: LiveChannel, state: string, number: number): Promise<void> {
    const headers: Record<string, string> = {
      "X-Goog-Channel-ID": ch.id,
      "X-Goog-Message-Number": String(number),
      "X-Goog-Resource-ID": ch.resourceId,
      "X-Goog-Resource-State": state,
      "X-Goog-Resource-URI": ch.resourceUri,
      "X-Goog-Channel-Expiration": new Date(ch.expiration).toUTCString(),
      "Content-Length": "0",
    };
    if (ch.token !== undefined) headers["X-Goog-Channel-Token"] = ch.token;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) return;
      const status = await post(ch.address, headers, this.inFlight);
      if (status === 0 || status < 500 || ![500, 502, 503, 504].includes(status) || attempt >= RETRY_DELAYS_MS.length) return;
      await new Promise((r) => setTimeout(r, RETRY_DELAYS_MS[attempt]).unref());
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const req of this.inFlight) req.destroy();
    await Promise.allSettled([...this.pending]);
  }
}

/** One body-less POST; resolves with the status (0 on a network error). */
function post(address: string, headers: Record<string, string>, inFlight: Set<http.ClientRequest>): Promise<number> {
  return new Promise<number>((resolve) => {
    const mod = address.startsWith("https:") ? https : http;
    const req = mod.request(address, { method: "POST", headers, agent: false, timeout: 5000 }, (res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      res.on("error", () => undefined);
    });
    inFlight.add(req);
    req.on("close", () => {
      inFlight.delete(req);
      resolve(0); // no-op when an answer already resolved it
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
    req.end();
  });
}
