/**
 * Helpers for tests that drive the Google emulator: a client through the official library
 * (@googleapis/calendar + google-auth-library OAuth2Client), raw fetch, a controllable clock and
 * a webhook receiver on 127.0.0.1 that hands out notifications as they arrive (no sleeps).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { calendar, type calendar_v3 } from "@googleapis/calendar";
import { OAuth2Client } from "google-auth-library";
import { SCOPES, startGoogleEmulator, type GoogleEmulator, type GoogleEmulatorOptions } from "./index.ts";

export const CLIENT_ID = "1234567890-desktop.apps.googleusercontent.com";
export const CLIENT_SECRET = "GOCSPX-emulator-secret";
export const ALICE = "alice@example.com";
export const BOB = "bob@example.org";
export const FIXTURES = join(import.meta.dirname, "../../fixtures/google");

export function sample(name: string): { request: any; response: { status: number; headers: Record<string, string>; body: any } } {
  return JSON.parse(readFileSync(join(FIXTURES, name), "utf8"));
}

export class Clock {
  constructor(public t = Date.parse("2026-03-01T08:00:00Z")) {}
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** An emulator with one desktop client and two accounts (alice in Europe/Zurich, bob in UTC). */
export async function setup(opts: GoogleEmulatorOptions = {}): Promise<GoogleEmulator> {
  const emu = await startGoogleEmulator({ seed: 7, ...opts });
  emu.addClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  emu.addAccount(ALICE, { timeZone: "Europe/Zurich" });
  emu.addAccount(BOB);
  return emu;
}

export function oauthClient(emu: GoogleEmulator, clientId = CLIENT_ID, clientSecret = CLIENT_SECRET): OAuth2Client {
  return new OAuth2Client({
    clientId,
    clientSecret,
    endpoints: { oauth2AuthBaseUrl: emu.authUrl, oauth2TokenUrl: emu.tokenUrl, oauth2RevokeUrl: emu.revokeUrl },
  } as ConstructorParameters<typeof OAuth2Client>[0]);
}

export interface Api {
  cal: calendar_v3.Calendar;
  auth: OAuth2Client;
  refreshToken: string;
  accessToken: string;
}

/** A calendar client for `email`, granted `scopes` without the browser flow. */
export function api(emu: GoogleEmulator, scopes = [SCOPES.full], email = ALICE, clientId = CLIENT_ID): Api {
  const t = emu.grant(clientId, email, scopes);
  const auth = oauthClient(emu, clientId);
  auth.setCredentials({ refresh_token: t.refresh_token, access_token: t.access_token, expiry_date: Date.now() + t.expires_in * 1000 });
  return { cal: calendar({ version: "v3", auth, rootUrl: emu.url }), auth, refreshToken: t.refresh_token, accessToken: t.access_token };
}

/** Awaits a rejected library call and returns its HTTP status and body. */
export async function failure(p: Promise<unknown>): Promise<{ status: number; data: any; error: any }> {
  try {
    await p;
  } catch (e: any) {
    return { status: e.status ?? e.response?.status, data: e.response?.data, error: e };
  }
  throw new Error("expected the call to fail");
}

export async function raw(
  emu: GoogleEmulator,
  method: string,
  path: string,
  o: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; text: string; headers: Headers }> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(emu.url + path.replace(/^\//, ""), { method, headers, ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}), redirect: "manual" });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text, headers: res.headers };
}

export interface Notification {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver: `next()` resolves with the next notification (waits for it to arrive). */
export async function receiver(answer: (n: Notification) => number = () => 200) {
  const queue: Notification[] = [];
  const waiters: Array<(n: Notification) => void> = [];
  const all: Notification[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const n = { headers: req.headers, body: Buffer.concat(chunks).toString() };
      all.push(n);
      res.writeHead(answer(n)).end();
      const w = waiters.shift();
      if (w) w(n);
      else queue.push(n);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    all,
    pending: () => queue.length,
    next: (): Promise<Notification> => {
      const n = queue.shift();
      return n ? Promise.resolve(n) : new Promise((r) => waiters.push(r));
    },
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}

/** Pages through events.list until the end; returns every page. */
export async function allPages(cal: calendar_v3.Calendar, params: calendar_v3.Params$Resource$Events$List): Promise<calendar_v3.Schema$Events[]> {
  const pages: calendar_v3.Schema$Events[] = [];
  let pageToken: string | undefined;
  for (let i = 0; i < 1000; i++) {
    const r = await cal.events.list({ ...params, ...(pageToken ? { pageToken } : {}) });
    pages.push(r.data);
    pageToken = r.data.nextPageToken ?? undefined;
    if (!pageToken) return pages;
  }
  throw new Error("paging did not end");
}

export const timed = (start: string, end: string, timeZone?: string) => ({
  start: { dateTime: start, ...(timeZone ? { timeZone } : {}) },
  end: { dateTime: end, ...(timeZone ? { timeZone } : {}) },
});

export { SCOPES };
