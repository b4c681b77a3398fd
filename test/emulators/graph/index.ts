/**
 * Microsoft Graph v1.0 calendar emulator for tests (reference: shared microsoft-graph-calendar.md,
 * §11 lists the behaviours it must reproduce). An HTTPS server (test CA made with openssl) that
 * plays Graph under /v1.0 and the identity platform MSAL Node talks to, plus an in-process API that
 * plays Outlook and the test's knobs. See README.md in this directory.
 */
import https from "node:https";
import type { AddressInfo } from "node:net";
import { graphApi } from "./api.ts";
import { Calendars, type NewCalendar } from "./calendars.ts";
import { Delta, type ResetHow } from "./delta.ts";
import { EventOps } from "./events.ts";
import { Identity } from "./identity.ts";
import { Limits, type Fault } from "./limits.ts";
import { renderInstance } from "./render.ts";
import { createHandler, type RequestRecord } from "./server.ts";
import { occurrenceIdOf, Store, type Json } from "./store.ts";
import { sharedPki, type TestPki } from "./tls.ts";
import { ianaOf, seededRng } from "./util.ts";
import { trustForWebhooks, Webhooks } from "./webhooks.ts";

export type { Fault } from "./limits.ts";
export type { RequestRecord } from "./server.ts";
export type { ResetHow } from "./delta.ts";

export interface GraphEmulatorOptions {
  seed?: number;
  now?: () => number;
  /** Default page size without `Prefer: odata.maxpagesize` / `$top` (Graph: 10). */
  pageSize?: number;
  /** Delta pages may be short or empty while a nextLink is present, items may repeat (default true). */
  raggedPages?: boolean;
  /** Changing a series' pattern/times discards its exceptions and cancellations (reference §4; default false). */
  seriesEditDropsExceptions?: boolean;
  requireHttpsWebhooks?: boolean;
  /** Delta reports a cancelled occurrence as @removed (default false: not reported, §2). */
  reportCancelledOccurrences?: boolean;
  /** Delay before every Graph answer, so that concurrent requests overlap (default 0). */
  latencyMs?: number;
  accessTokenTtlSec?: number;
  /** `interval` of the device-code answer, in seconds (default 5, as Entra). */
  deviceCodeIntervalSec?: number;
}

export class GraphEmulator {
  readonly url: string;
  readonly apiUrl: string;
  readonly authority: string;
  readonly host: string;
  latencyMs: number;
  /** @internal the pending hold(), if any */
  held: Promise<void> | null = null;

  /** @internal use startGraphEmulator() */
  constructor(
    private readonly server: https.Server,
    private readonly pki: TestPki,
    private readonly store: Store,
    private readonly identity: Identity,
    private readonly cals: Calendars,
    private readonly ops: EventOps,
    private readonly deltaSync: Delta,
    private readonly hooks: Webhooks,
    private readonly limits: Limits,
    private readonly requestLog: RequestRecord[],
    latencyMs: number,
  ) {
    const port = (server.address() as AddressInfo).port;
    this.host = `127.0.0.1:${port}`;
    this.url = `https://${this.host}/`;
    this.apiUrl = `${this.url}v1.0`;
    this.authority = this.url;
    this.latencyMs = latencyMs;
  }

  /**
   * Holds every Graph request (after its concurrency is counted) until the returned function is called:
   * tests make requests overlap by construction instead of by timing.
   */
  hold(): () => void {
    let release!: () => void;
    this.held = new Promise<void>((r) => (release = r));
    return () => {
      this.held = null;
      release();
    };
  }
  /** Graph requests of that mailbox (for one app, or all apps) being handled now. */
  inFlight(upn: string, clientId?: string): number {
    return [...this.identity.clients].filter((c) => clientId === undefined || c === clientId).reduce((n, c) => n + this.limits.current(`${c}\u0000${upn}`), 0);
  }

  get caCertPath(): string {
    return this.pki.caCertPath;
  }
  get caCert(): string {
    return this.pki.caCert;
  }
  /**
   * Key and certificate (for 127.0.0.1/localhost, signed by `caCert`) that an https webhook receiver
   * in a test can serve: the emulator trusts its own CA when delivering notifications.
   */
  get serverTls(): { key: string; cert: string } {
    return { key: this.pki.key, cert: this.pki.cert };
  }

  async close(): Promise<void> {
    await this.hooks.notify().catch(() => undefined);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.pki.cleanup();
  }

  // Identity -------------------------------------------------------------------------------------
  addClient(clientId: string): void {
    this.identity.clients.add(clientId);
  }
  addAccount(upn: string, opts: { timeZone?: string } = {}): void {
    const tz = opts.timeZone ?? "UTC";
    if (!ianaOf(tz)) throw new Error(`Graph emulator: unknown time zone ${tz}`);
    this.cals.addAccount(upn, tz);
  }
  approveDeviceCode(userCode: string, upn: string): void {
    this.identity.approve(userCode, upn);
  }
  declineDeviceCode(userCode: string): void {
    this.identity.decline(userCode);
  }
  get pendingDeviceCodes(): ReadonlyArray<{ userCode: string; clientId: string; expiresAt: number }> {
    return this.identity.pendingDeviceCodes;
  }
  grant(clientId: string, upn: string, scopes: string[] = ["Calendars.ReadWrite", "User.Read", "offline_access"]) {
    if (!this.identity.clients.has(clientId)) throw new Error(`Graph emulator: unknown client ${clientId}`);
    const t = this.identity.issue(clientId, upn, scopes);
    return { refresh_token: t.refresh_token, access_token: t.access_token, id_token: t.id_token, expires_in: t.expires_in, client_info: t.client_info };
  }
  revokeAll(upn: string): void {
    this.identity.revokeAll(upn);
  }
  expireAccessTokens(): void {
    this.identity.expireAccessTokens();
  }
  /**
   * MSAL `auth.authorityMetadata` (the tenant's OpenID configuration as a JSON string): with it and
   * `cloudDiscoveryMetadata`, MSAL needs neither knownAuthorities nor any discovery request.
   */
  authorityMetadata(tenant = "common"): string {
    return JSON.stringify(this.identity.openidConfiguration(tenant));
  }
  /** MSAL `auth.cloudDiscoveryMetadata` (instance-discovery answer naming the emulator host). */
  cloudDiscoveryMetadata(tenant = "common"): string {
    return JSON.stringify(this.identity.instanceDiscovery(`${this.url}${tenant}/oauth2/v2.0/authorize`));
  }
  /** How many requests reached the token endpoint. */
  tokenRequests(): number {
    return this.identity.tokenRequests;
  }
  /** Object id and tenant id of an account (as in id_token / client_info / notification resources). */
  accountIds(upn: string): { oid: string; tid: string } {
    const a = this.cals.account(upn);
    return { oid: a.oid, tid: a.tid };
  }

  // Calendars ------------------------------------------------------------------------------------
  addCalendar(upn: string, c: NewCalendar): string {
    return this.cals.add(upn, c);
  }
  removeCalendar(upn: string, calendarId: string): void {
    this.cals.remove(upn, calendarId);
  }
  /** Id of the account's default calendar ("Calendar"). */
  defaultCalendarId(upn: string): string {
    return this.cals.defaultOf(upn).id;
  }

  // Events as another client (Outlook), bypassing HTTP, quotas and concurrency limits ------------
  private render(upn: string, id: string): any {
    const inst = this.ops.instanceById(upn, id);
    if (!inst) return undefined;
    const cal = this.store.calendars.get((inst.event ?? inst.master!).calendarId)!;
    const out: Json = renderInstance(inst, { zoneName: "UTC", iana: "UTC", bodyText: false, baseUrl: this.url, calendar: cal });
    delete out.occurrenceId;
    return out;
  }
  createEvent(upn: string, calendarId: string, body: object): any {
    this.cals.get(upn, calendarId);
    return this.render(upn, this.ops.create(upn, calendarId, body as Json).event.id);
  }
  updateEvent(upn: string, eventId: string, patch: object): any {
    return this.render(upn, this.ops.update(upn, eventId, patch as Json).id);
  }
  deleteEvent(upn: string, eventId: string): void {
    this.ops.remove(upn, eventId);
  }
  /** Stored singleInstance, seriesMaster and exception items (rendered in UTC), for assertions. */
  events(upn: string, calendarId: string): any[] {
    return this.store.calendarEvents(calendarId).filter((e) => e.upn === upn).map((e) => this.render(upn, e.id));
  }
  occurrenceId(upn: string, masterId: string, date: string): string {
    const m = this.store.events.get(masterId);
    if (!m || m.upn !== upn || m.type !== "seriesMaster") throw new Error(`Graph emulator: ${masterId} is not a series master of ${upn}`);
    return occurrenceIdOf(masterId, date);
  }

  // Behaviour knobs ------------------------------------------------------------------------------
  resetDelta(calendarId?: string, how: ResetHow = "410"): void {
    this.deltaSync.reset(calendarId, how);
  }
  fault(f: Fault): void {
    this.limits.addFault(f);
  }
  throttle(opts: { probability: number; retryAfter?: string } | null): void {
    this.limits.setThrottle(opts);
  }
  get requests(): ReadonlyArray<RequestRecord> {
    return this.requestLog;
  }
  resetRequests(): void {
    this.requestLog.length = 0;
  }
  get subscriptions(): ReadonlyArray<{ id: string; resource: string; notificationUrl: string; lifecycleNotificationUrl?: string; clientState?: string; expirationDateTime: string; deleted: boolean }> {
    return this.hooks.subs.map((s) => ({
      id: s.id, resource: s.resource, notificationUrl: s.notificationUrl, expirationDateTime: s.expirationDateTime, deleted: s.deleted,
      ...(s.lifecycleNotificationUrl ? { lifecycleNotificationUrl: s.lifecycleNotificationUrl } : {}),
      ...(s.clientState !== undefined ? { clientState: s.clientState } : {}),
    }));
  }
  notify(subscriptionId?: string): Promise<void> {
    return this.hooks.notify(subscriptionId);
  }
  lifecycle(subscriptionId: string, event: "reauthorizationRequired" | "subscriptionRemoved" | "missed"): Promise<void> {
    return this.hooks.lifecycle(subscriptionId, event);
  }
}

export async function startGraphEmulator(opts: GraphEmulatorOptions = {}): Promise<GraphEmulator> {
  const pki = sharedPki();
  trustForWebhooks(pki.caCert);
  const rng = seededRng(opts.seed ?? 1);
  const now = opts.now ?? Date.now;
  let baseUrl = "https://127.0.0.1/";
  const base = (): string => baseUrl;
  const store = new Store(now, rng);
  const identity = new Identity(now, rng, base, opts.accessTokenTtlSec ?? 3599, opts.deviceCodeIntervalSec ?? 5);
  const calendars = new Calendars(store, identity);
  const ops = new EventOps(store, (upn) => identity.accounts.get(upn)?.timeZone ?? "UTC", { seriesEditDropsExceptions: opts.seriesEditDropsExceptions ?? false });
  const delta = new Delta(store, ops, { pageSize: opts.pageSize ?? 10, raggedPages: opts.raggedPages ?? true, reportCancelledOccurrences: opts.reportCancelledOccurrences ?? false });
  const webhooks = new Webhooks(store, identity, opts.requireHttpsWebhooks ?? true, base);
  const limits = new Limits(now, rng);
  const requests: RequestRecord[] = [];
  const graph = graphApi({ store, calendars, ops, delta, webhooks, baseUrl: base, pageSize: opts.pageSize ?? 10 });
  let emu: GraphEmulator | undefined;
  const server = https.createServer({ key: pki.key, cert: pki.cert }, createHandler({
    identity, limits, graph, requests, now, rng, baseUrl: base, latencyMs: () => emu?.latencyMs ?? 0, gate: () => emu?.held ?? null,
  }));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  emu = new GraphEmulator(server, pki, store, identity, calendars, ops, delta, webhooks, limits, requests, opts.latencyMs ?? 0);
  return emu;
}
