/**
 * Helpers for tests that drive the Graph emulator through the official libraries:
 * @azure/msal-node (PublicClientApplication + CaNetworkClient) and
 * @microsoft/microsoft-graph-client (Client.init with customHosts and an undici dispatcher that
 * trusts the test CA — the SDK calls the global fetch with `fetchOptions` merged in), raw fetch,
 * and a webhook receiver on 127.0.0.1 that hands out notifications as they arrive (no sleeps).
 */
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PublicClientApplication } from "@azure/msal-node";
import { Client } from "@microsoft/microsoft-graph-client";
import { Agent } from "undici";
import { startGraphEmulator, type GraphEmulator, type GraphEmulatorOptions } from "./index.ts";
import { CaNetworkClient } from "./msal-network.ts";

export const CLIENT_ID = "3f6a1c2e-8d4b-4e0f-9a7c-5b2d1e0f4a6c";
export const ALICE = "alice@contoso.example";
export const BOB = "bob@fabrikam.example";
export const SCOPES = ["Calendars.ReadWrite", "User.Read"];
export const FIXTURES = join(import.meta.dirname, "../../fixtures/graph");

export function sample(name: string): any {
  return JSON.parse(readFileSync(join(FIXTURES, name), "utf8"));
}

/** An emulator with one public client and two mailboxes (alice in W. Europe, bob in UTC). */
export async function setup(opts: GraphEmulatorOptions = {}): Promise<GraphEmulator> {
  const emu = await startGraphEmulator({ seed: 7, ...opts });
  emu.addClient(CLIENT_ID);
  emu.addAccount(ALICE, { timeZone: "W. Europe Standard Time" });
  emu.addAccount(BOB);
  return emu;
}

/** MSAL public client against the emulator: knownAuthorities avoids the public-cloud discovery. */
export function msalApp(emu: GraphEmulator, tenant = "common"): { pca: PublicClientApplication; net: CaNetworkClient } {
  const net = new CaNetworkClient(emu.caCert);
  const pca = new PublicClientApplication({
    auth: { clientId: CLIENT_ID, authority: emu.authority + tenant, knownAuthorities: [emu.host] },
    system: { networkClient: net },
  });
  return { pca, net };
}

const dispatchers = new WeakMap<GraphEmulator, Agent>();
export function dispatcher(emu: GraphEmulator): Agent {
  let a = dispatchers.get(emu);
  if (!a) dispatchers.set(emu, (a = new Agent({ connect: { ca: emu.caCert } })));
  return a;
}

/** Graph SDK client; `token()` supplies the bearer (e.g. from MSAL or emu.grant). */
export function graphClient(emu: GraphEmulator, token: () => Promise<string> | string): Client {
  return Client.init({
    baseUrl: emu.url,
    customHosts: new Set(["127.0.0.1"]),
    authProvider: (done) => {
      Promise.resolve(token()).then((t) => done(null, t), (e) => done(e, null));
    },
    fetchOptions: { dispatcher: dispatcher(emu) } as any,
  });
}

/** A Graph client for `upn` with a token from emu.grant (no device flow). */
export function api(emu: GraphEmulator, upn = ALICE): { client: Client; token: string } {
  const t = emu.grant(CLIENT_ID, upn);
  return { client: graphClient(emu, () => t.access_token), token: t.access_token };
}

export async function raw(
  emu: GraphEmulator,
  method: string,
  pathOrUrl: string,
  o: { token?: string; body?: unknown; headers?: Record<string, string>; form?: Record<string, string> } = {},
): Promise<{ status: number; body: any; text: string; headers: Headers }> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let body: string | undefined;
  if (o.form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(o.form).toString();
  } else if (o.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(o.body);
  }
  const url = pathOrUrl.startsWith("https://") ? pathOrUrl : emu.url + pathOrUrl.replace(/^\//, "");
  const res = await fetch(url, { method, headers, body, dispatcher: dispatcher(emu) } as RequestInit);
  const text = await res.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

/** Awaits a rejected SDK call and returns the GraphError. */
export async function failure(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected the call to fail");
}

export interface Received { path: string; query: URLSearchParams; body: any; text: string }

/**
 * A webhook receiver on 127.0.0.1: answers validation handshakes by echoing the token (unless
 * `validate` says otherwise) and queues notification POSTs; `next()` resolves with the next one.
 */
export async function receiver(opts: { validate?: (token: string) => { status: number; body: string; type?: string }; status?: () => number; tls?: { key: string; cert: string } } = {}) {
  const queue: Received[] = [];
  const waiters: Array<(r: Received) => void> = [];
  const handshakes: string[] = [];
  let hits = 0;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const u = new URL(req.url ?? "/", "http://127.0.0.1");
      const token = u.searchParams.get("validationToken");
      if (token !== null) {
        handshakes.push(u.pathname);
        const a = opts.validate ? opts.validate(token) : { status: 200, body: token };
        res.writeHead(a.status, { "content-type": a.type ?? "text/plain" });
        res.end(a.body);
        return;
      }
      hits++;
      const text = Buffer.concat(chunks).toString("utf8");
      const r: Received = { path: u.pathname, query: u.searchParams, body: text ? JSON.parse(text) : undefined, text };
      const status = opts.status ? opts.status() : 202;
      res.writeHead(status);
      res.end();
      if (status >= 500) return;
      const w = waiters.shift();
      if (w) w(r);
      else queue.push(r);
    });
  };
  const server = opts.tls ? https.createServer(opts.tls, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const url = `${opts.tls ? "https" : "http"}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    handshakes,
    queue,
    hits: () => hits,
    next: (): Promise<Received> => {
      const r = queue.shift();
      return r ? Promise.resolve(r) : new Promise((resolve) => waiters.push(resolve));
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** Follows a delta round through the SDK, page by page; returns items, pages and the deltaLink. */
export async function deltaRound(client: Client, start: string, prefer?: string): Promise<{ items: any[]; pages: any[]; deltaLink: string }> {
  const pages: any[] = [];
  let req = client.api(start);
  if (prefer) req = req.header("Prefer", prefer);
  let page = await req.get();
  for (;;) {
    pages.push(page);
    if (page["@odata.deltaLink"]) break;
    let r = client.api(page["@odata.nextLink"]);
    if (prefer) r = r.header("Prefer", prefer);
    page = await r.get();
  }
  return { items: pages.flatMap((p) => p.value), pages, deltaLink: pages[pages.length - 1]["@odata.deltaLink"] };
}
