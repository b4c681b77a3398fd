/**
 * Change notifications over webhooks (reference §8): POST /subscriptions with the validation
 * handshake (POST `notificationUrl?validationToken=…`, and the same for lifecycleNotificationUrl;
 * 10 s; must echo the token as text/plain 200, else 400), at most 10,080 minutes, PATCH renews,
 * DELETE; notifications `{"value":[{subscriptionId, subscriptionExpirationDateTime, changeType,
 * resource, resourceData, clientState, tenantId}]}` on every change of the subscribed events,
 * retried a few times on 5xx; lifecycle events to lifecycleNotificationUrl.
 */
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import { E, GraphApiError } from "./errors.ts";
import type { Identity, Principal } from "./identity.ts";
import type { Change, Json, Store } from "./store.ts";
import { isPlainObject, utc7, uuid } from "./util.ts";
import type { Answer } from "./api.ts";

export const MAX_EXPIRATION_MIN = 10_080;
const VALIDATION_TIMEOUT_MS = 10_000;
const RETRY_DELAYS_MS = [20, 60, 150];

export interface Subscription {
  id: string;
  resource: string;
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl?: string;
  clientState?: string;
  expirationDateTime: string;
  deleted: boolean;
  upn: string;
  clientId: string;
  calendarId?: string; // undefined = every calendar of the mailbox (me/events)
}

interface Posted { status: number; text: string; contentType: string }

/** Extra CAs trusted for https webhooks (the emulator's own test CA, so receivers can reuse its certificate). */
let extraCa: string[] = [];
export function trustForWebhooks(ca: string): void {
  if (!extraCa.includes(ca)) extraCa = [...extraCa, ca];
}

function post(url: string, body: string, contentType: string, timeoutMs: number): Promise<Posted> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === "https:" ? https : http;
    const tlsOpts = u.protocol === "https:" ? { ca: [...tls.rootCertificates, ...extraCa] } : {};
    const req = mod.request(u, { method: "POST", headers: { "content-type": contentType, "content-length": Buffer.byteLength(body) }, timeout: timeoutMs, ...tlsOpts }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8"), contentType: String(res.headers["content-type"] ?? "") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

export class Webhooks {
  readonly subs: Subscription[] = [];
  private readonly pending = new Map<string, Set<Promise<void>>>();

  constructor(
    private readonly store: Store,
    private readonly identity: Identity,
    private readonly requireHttps: boolean,
    private readonly baseUrl: () => string,
  ) {
    store.onChange((c) => this.onChange(c));
  }

  private parseResource(resource: unknown, p: Principal): string | undefined | null {
    if (typeof resource !== "string") return null;
    const r = resource.replace(/^\/+/, "").replace(/^v1\.0\//i, "");
    const acct = this.identity.accounts.get(p.upn)!;
    const who = `(?:me|users/(?:${escape(p.upn)}|${acct.oid}))`;
    if (new RegExp(`^${who}/events$`, "i").test(r)) return undefined;
    const m = new RegExp(`^${who}/calendars/([^/]+)/events$`, "i").exec(r);
    if (m) {
      const cal = this.store.calendars.get(decodeURIComponent(m[1]!));
      if (!cal || cal.upn !== p.upn) throw E.notFound();
      return cal.id;
    }
    return null;
  }

  private expiration(v: unknown): string {
    const t = typeof v === "string" ? Date.parse(v) : NaN;
    if (Number.isNaN(t)) throw E.badRequest("expirationDateTime is required.");
    const now = this.store.now();
    if (t <= now) throw new GraphApiError(400, "ExtensionError", "Subscription expiration time must be in the future.");
    if (t > now + MAX_EXPIRATION_MIN * 60_000) throw new GraphApiError(400, "ExtensionError", `Subscription expiration can only be ${MAX_EXPIRATION_MIN} minutes in the future.`);
    return utc7(t);
  }

  private checkUrl(u: unknown, name: string): string {
    if (typeof u !== "string") throw E.badRequest(`${name} is required.`);
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw E.badRequest(`${name} is not a valid URL.`);
    }
    if (url.protocol !== "https:" && (this.requireHttps || url.protocol !== "http:")) throw E.badRequest(`The ${name} must be an HTTPS URL.`);
    return u;
  }

  /** The validation handshake (§8): POST url?validationToken=…, 200 text/plain echo within 10 s. */
  private async validate(url: string): Promise<void> {
    const token = `Validation: Testing client application reachability for subscription Request-Id: ${uuid(this.store.rng)}`;
    const sep = url.includes("?") ? "&" : "?";
    let r: Posted;
    try {
      r = await post(`${url}${sep}validationToken=${encodeURIComponent(token)}`, "", "text/plain; charset=utf-8", VALIDATION_TIMEOUT_MS);
    } catch (e) {
      throw E.subscriptionValidation(`${String((e as Error).message)}`);
    }
    if (r.status !== 200) throw E.subscriptionValidation(`Response status code does not indicate success: ${r.status}.`);
    if (!r.contentType.toLowerCase().startsWith("text/plain")) throw E.subscriptionValidation("The content type of the validation response must be text/plain.");
    if (r.text !== token) throw E.subscriptionValidation("The validation token in the response does not match.");
  }

  private render(s: Subscription): Json {
    return {
      "@odata.context": `${this.baseUrl()}v1.0/$metadata#subscriptions/$entity`,
      id: s.id, resource: s.resource, applicationId: s.clientId, changeType: s.changeType, clientState: s.clientState ?? null,
      notificationUrl: s.notificationUrl, notificationQueryOptions: null, lifecycleNotificationUrl: s.lifecycleNotificationUrl ?? null,
      expirationDateTime: s.expirationDateTime, creatorId: this.identity.accounts.get(s.upn)!.oid, includeResourceData: false,
      latestSupportedTlsVersion: "v1_2", encryptionCertificate: null, encryptionCertificateId: null, notificationUrlAppId: null,
    };
  }

  private own(id: string | undefined, p: Principal): Subscription {
    const s = this.subs.find((x) => x.id === id && !x.deleted);
    if (!s || s.upn !== p.upn || s.clientId !== p.clientId) throw new GraphApiError(404, "ResourceNotFound", "The object was not found.");
    return s;
  }

  async route(method: string, segs: string[], p: Principal, body: Json): Promise<Answer> {
    if (segs.length === 0 && method === "POST") {
      if (!isPlainObject(body)) throw E.badRequest("Empty Payload. JSON content expected.");
      const types = String(body.changeType ?? "").split(",").map((s) => s.trim());
      if (types.length === 0 || types.some((t) => !["created", "updated", "deleted"].includes(t))) throw E.badRequest("changeType must be a combination of created, updated and deleted.");
      const calendarId = this.parseResource(body.resource, p);
      if (calendarId === null) throw new GraphApiError(400, "InvalidRequest", `Resource '${String(body.resource)}' is not supported.`);
      if (body.clientState !== undefined && (typeof body.clientState !== "string" || body.clientState.length > 128)) throw E.badRequest("clientState must be at most 128 characters.");
      const notificationUrl = this.checkUrl(body.notificationUrl, "notificationUrl");
      const lifecycle = body.lifecycleNotificationUrl === undefined || body.lifecycleNotificationUrl === null ? undefined : this.checkUrl(body.lifecycleNotificationUrl, "lifecycleNotificationUrl");
      const expirationDateTime = this.expiration(body.expirationDateTime);
      await this.validate(notificationUrl);
      if (lifecycle) await this.validate(lifecycle);
      const s: Subscription = {
        id: uuid(this.store.rng), resource: String(body.resource), changeType: types.join(","), notificationUrl, expirationDateTime, deleted: false,
        upn: p.upn, clientId: p.clientId, ...(lifecycle ? { lifecycleNotificationUrl: lifecycle } : {}),
        ...(typeof body.clientState === "string" ? { clientState: body.clientState } : {}), ...(calendarId ? { calendarId } : {}),
      };
      this.subs.push(s);
      return { status: 201, body: this.render(s) };
    }
    if (segs.length === 0 && method === "GET") {
      return { status: 200, body: { "@odata.context": `${this.baseUrl()}v1.0/$metadata#subscriptions`, value: this.subs.filter((s) => !s.deleted && s.clientId === p.clientId && s.upn === p.upn).map((s) => this.render(s)) } };
    }
    const s = this.own(segs[0], p);
    if (segs.length === 1 && method === "GET") return { status: 200, body: this.render(s) };
    if (segs.length === 1 && method === "PATCH") {
      if (!isPlainObject(body)) throw E.badRequest("Empty Payload. JSON content expected.");
      if (body.notificationUrl !== undefined) {
        const u = this.checkUrl(body.notificationUrl, "notificationUrl");
        await this.validate(u);
        s.notificationUrl = u;
      }
      if (body.expirationDateTime !== undefined) s.expirationDateTime = this.expiration(body.expirationDateTime);
      return { status: 200, body: this.render(s) };
    }
    if (segs.length === 1 && method === "DELETE") {
      s.deleted = true;
      return { status: 204 };
    }
    if (segs.length === 2 && segs[1] === "reauthorize" && method === "POST") return { status: 200 };
    throw E.noRoute();
  }

  private active(s: Subscription): boolean {
    return !s.deleted && Date.parse(s.expirationDateTime) > this.store.now();
  }

  private onChange(c: Change): void {
    for (const s of this.subs) {
      if (!this.active(s) || s.upn !== c.upn || (s.calendarId && s.calendarId !== c.calendarId)) continue;
      if (!s.changeType.split(",").includes(c.changeType)) continue;
      const acct = this.identity.accounts.get(c.upn)!;
      const resource = `Users/${acct.oid}/Events/${c.id}`;
      const n = {
        subscriptionId: s.id, subscriptionExpirationDateTime: s.expirationDateTime, changeType: c.changeType, resource,
        resourceData: { "@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource, ...(c.etag ? { "@odata.etag": c.etag } : {}), id: c.id },
        clientState: s.clientState ?? null, tenantId: acct.tid,
      };
      this.track(s.id, this.deliver(s.notificationUrl, { value: [n] }));
    }
  }

  private track(subId: string, p: Promise<void>): void {
    let set = this.pending.get(subId);
    if (!set) this.pending.set(subId, (set = new Set()));
    const q = p.finally(() => set.delete(q));
    set.add(q);
  }

  /** POST with retries on 5xx / network errors (§8: any 2xx = delivered; 4xx dropped). */
  private async deliver(url: string, payload: unknown): Promise<void> {
    const text = JSON.stringify(payload);
    for (let attempt = 0; ; attempt++) {
      let status = 0;
      try {
        status = (await post(url, text, "application/json; charset=utf-8", 10_000)).status;
      } catch {
        status = 0;
      }
      if ((status >= 200 && status < 500) || attempt >= RETRY_DELAYS_MS.length) return;
      await new Promise((r) => setTimeout(r, RETRY_DELAYS_MS[attempt]));
    }
  }

  /** Waits until notifications queued so far (for one subscription or all) are delivered. */
  async notify(subscriptionId?: string): Promise<void> {
    for (;;) {
      const sets = subscriptionId ? [this.pending.get(subscriptionId) ?? new Set<Promise<void>>()] : [...this.pending.values()];
      const all = sets.flatMap((s) => [...s]);
      if (all.length === 0) return;
      await Promise.all(all);
    }
  }

  async lifecycle(subscriptionId: string, event: "reauthorizationRequired" | "subscriptionRemoved" | "missed"): Promise<void> {
    const s = this.subs.find((x) => x.id === subscriptionId);
    if (!s) throw new Error(`Graph emulator: no subscription ${subscriptionId}`);
    if (!s.lifecycleNotificationUrl) throw new Error(`Graph emulator: subscription ${subscriptionId} has no lifecycleNotificationUrl`);
    const acct = this.identity.accounts.get(s.upn)!;
    const n = { subscriptionId: s.id, subscriptionExpirationDateTime: s.expirationDateTime, tenantId: acct.tid, clientState: s.clientState ?? null, lifecycleEvent: event };
    if (event === "subscriptionRemoved") s.deleted = true;
    await this.deliver(s.lifecycleNotificationUrl, { value: [n] });
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
