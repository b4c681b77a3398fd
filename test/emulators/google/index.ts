/**
 * Google Calendar API v3 emulator for tests (reference: shared google-calendar-api.md, §11 lists
 * the behaviours it must reproduce). Loopback HTTP server + an in-process API that plays Google's
 * web UI and the test's knobs. See README.md in this directory.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Calendars, type NewCalendar } from "./calendars.ts";
import { EventOps } from "./events.ts";
import { Listing } from "./listing.ts";
import { OAuth, SCOPES } from "./oauth.ts";
import { Push, type Channel } from "./push.ts";
import { Limits, type Fault } from "./quota.ts";
import { renderEvent } from "./resource.ts";
import { createHandler, type RequestRecord } from "./server.ts";
import { Store, type Json } from "./store.ts";
import { Pager } from "./sync.ts";
import { seededRng } from "./util.ts";

export { SCOPES } from "./oauth.ts";
export type { Fault } from "./quota.ts";
export type { Channel } from "./push.ts";
export type { RequestRecord } from "./server.ts";

export interface GoogleEmulatorOptions {
  seed?: number;
  accessTokenTtlSec?: number;
  raggedPages?: boolean;
  instanceIds?: "opaque" | "legacy";
  importDuplicate?: "update" | "error";
  requireHttpsWebhooks?: boolean;
  quota?: { perUserPerMinute?: number; perProjectPerMinute?: number };
  now?: () => number;
}

export class GoogleEmulator {
  readonly url: string;
  readonly apiUrl: string;
  readonly authUrl: string;
  readonly tokenUrl: string;
  readonly revokeUrl: string;
  private readonly requestLog: RequestRecord[];

  /** @internal use startGoogleEmulator() */
  constructor(
    private readonly server: http.Server,
    private readonly store: Store,
    private readonly oauth: OAuth,
    private readonly cals: Calendars,
    private readonly ops: EventOps,
    private readonly push: Push,
    private readonly limits: Limits,
    requests: RequestRecord[],
  ) {
    const port = (server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${port}/`;
    this.apiUrl = `${this.url}calendar/v3`;
    this.authUrl = `${this.url}o/oauth2/v2/auth`;
    this.tokenUrl = `${this.url}token`;
    this.revokeUrl = `${this.url}revoke`;
    this.requestLog = requests;
  }

  async close(): Promise<void> {
    await this.push.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // OAuth clients and accounts ------------------------------------------------------------------
  addClient(c: { clientId: string; clientSecret: string; testing?: boolean }): void {
    this.oauth.addClient(c);
  }
  addAccount(email: string, opts: { timeZone?: string } = {}): void {
    this.cals.addAccount(email, opts.timeZone ?? "UTC");
  }
  setConsent(email: string): void {
    if (!this.store.accounts.has(email)) throw new Error(`unknown account ${email}`);
    this.oauth.consentEmail = email;
  }
  denyConsent(deny: boolean): void {
    this.oauth.deny = deny;
  }
  /**
   * Skips the browser flow. Also callable as grant({ clientId, email, scopes? }) (scopes default
   * to the full calendar scope).
   */
  grant(clientId: string, email: string, scopes: string[]): { refresh_token: string; access_token: string; expires_in: number };
  grant(g: { clientId: string; email: string; scopes?: string[] }): { refresh_token: string; access_token: string; expires_in: number };
  grant(a: string | { clientId: string; email: string; scopes?: string[] }, email?: string, scopes?: string[]): { refresh_token: string; access_token: string; expires_in: number } {
    if (typeof a === "string") return this.oauth.grant(a, email!, scopes ?? [SCOPES.full]);
    return this.oauth.grant(a.clientId, a.email, a.scopes ?? [SCOPES.full]);
  }
  /** How many requests reached the token endpoint (any grant type). */
  tokenRequests(): number {
    return this.oauth.tokenRequests;
  }
  revokeRefreshToken(token: string): void {
    this.oauth.revokeRefreshToken(token);
  }
  revokeAll(email: string): void {
    this.oauth.revokeAll(email);
  }
  expireAccessTokens(): void {
    this.oauth.expireAccessTokens();
  }

  // Calendars -----------------------------------------------------------------------------------
  addCalendar(email: string, c: NewCalendar): string {
    return this.cals.addCalendar(email, c);
  }
  removeCalendar(email: string, calendarId: string): void {
    this.cals.removeCalendar(email, calendarId);
  }

  // Events as another client (Google's web UI), bypassing HTTP and quotas -----------------------
  private render(calendarId: string, ev: Parameters<typeof renderEvent>[0]): Json {
    const cal = this.ops.calendar(calendarId);
    return renderEvent(ev, { calendar: cal, tz: cal.timeZone, requester: cal.owner });
  }
  insertEvent(calendarId: string, body: object): any {
    return this.render(calendarId, this.ops.insert(calendarId, body as Json, { conferenceDataVersion: 1, supportsAttachments: true }));
  }
  /**
   * An event made by Google itself rather than by an API client (an event from Gmail, a contact's
   * birthday): any eventType, which the API would refuse to create.
   */
  seedEvent(calendarId: string, body: object): any {
    return this.render(calendarId, this.ops.insert(calendarId, body as Json, { conferenceDataVersion: 1, supportsAttachments: true, seeding: true }));
  }
  importEvent(calendarId: string, body: object): any {
    return this.render(calendarId, this.ops.insert(calendarId, body as Json, { importing: true, conferenceDataVersion: 1, supportsAttachments: true }));
  }
  patchEvent(calendarId: string, eventId: string, patch: object): any {
    return this.render(calendarId, this.ops.modify(calendarId, eventId, patch as Json, "patch", { conferenceDataVersion: 1, supportsAttachments: true }));
  }
  updateEvent(calendarId: string, eventId: string, body: object): any {
    return this.render(calendarId, this.ops.modify(calendarId, eventId, body as Json, "update", { conferenceDataVersion: 1, supportsAttachments: true }));
  }
  deleteEvent(calendarId: string, eventId: string): void {
    this.ops.remove(calendarId, eventId, {});
  }
  /** Stored resources (masters, exceptions, cancelled), as rendered in the calendar's zone. */
  events(calendarId: string, opts: { includeCancelled?: boolean } = {}): any[] {
    return [...this.store.calendarEvents(calendarId).values()]
      .filter((e) => opts.includeCancelled || e.res.status !== "cancelled")
      .map((e) => this.render(calendarId, e));
  }
  /** The id the API gives the instance of `masterId` starting at `originalStart` (RFC 3339 or date). */
  instanceId(calendarId: string, masterId: string, originalStart: string): string {
    return this.store.instanceId(calendarId, masterId, this.ops.keyOf(calendarId, originalStart));
  }

  // Behaviour knobs -----------------------------------------------------------------------------
  expireSyncTokens(calendarId?: string): void {
    this.store.expireSyncTokens(calendarId);
  }
  /** Drops every scripted fault not yet consumed. */
  clearFaults(): void {
    this.limits.clearFaults();
  }
  fault(f: Fault): void {
    this.limits.addFault(f);
  }
  rateLimitStorm(opts: { probability: number } | null): void {
    this.limits.setStorm(opts?.probability ?? null);
  }
  get requests(): ReadonlyArray<RequestRecord> {
    return this.requestLog;
  }
  resetRequests(): void {
    this.requestLog.length = 0;
  }
  get channels(): ReadonlyArray<Channel> {
    return this.push.channels.map((c) => ({
      id: c.id, resourceId: c.resourceId, calendarId: c.calendarId, address: c.address, expiration: c.expiration, stopped: c.stopped,
      ...(c.token !== undefined ? { token: c.token } : {}),
    }));
  }
  /** Each `exists` message is dropped with that probability (seeded), as Google sometimes does (§8). */
  dropNotifications(opts: { probability: number } | null): void {
    this.push.dropProbability = opts?.probability ?? 0;
  }
  notify(calendarId: string): Promise<void> {
    return this.push.notify(calendarId);
  }
}

export async function startGoogleEmulator(opts: GoogleEmulatorOptions = {}): Promise<GoogleEmulator> {
  const seed = opts.seed ?? 1;
  const rng = seededRng(seed);
  const now = opts.now ?? Date.now;
  const store = new Store({ now, rng, instanceIds: opts.instanceIds ?? "opaque", seed });
  const oauth = new OAuth(now, rng, opts.accessTokenTtlSec ?? 3599, (e) => store.accounts.has(e));
  const pager = new Pager(rng, opts.raggedPages ?? true);
  const calendars = new Calendars(store, pager);
  const ops = new EventOps(store, opts.importDuplicate ?? "update");
  const listing = new Listing(store, ops, pager);
  const push = new Push(now, opts.requireHttpsWebhooks ?? true, rng);
  // Every change to a calendar's events notifies its channels (§8), without blocking the writer.
  store.onEventChange((calendarId) => void push.notify(calendarId));
  const limits = new Limits(now, rng, opts.quota?.perUserPerMinute ?? 600, opts.quota?.perProjectPerMinute ?? 10_000);
  const requests: RequestRecord[] = [];
  const server = http.createServer(createHandler({ store, oauth, calendars, ops, listing, push, limits, requests }));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return new GoogleEmulator(server, store, oauth, calendars, ops, push, limits, requests);
}
