/** Starts calgate in this process on a free loopback port with a temporary database. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { parseConfigText } from "../../src/config/load.ts";
import { startServer } from "../../src/main.ts";
import type { StartOptions } from "../../src/cli/contract.ts";
import { parseXml } from "../../src/xml/parse.ts";
import { child, elements, text, type XmlElement } from "../../src/xml/tree.ts";

export interface InprocServer {
  url: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startInproc(yamlUsers?: string, opts: Pick<StartOptions, "memberListing"> = {}): Promise<InprocServer> {
  const dir = mkdtempSync(join(tmpdir(), "calgate-test-"));
  const users =
    yamlUsers ??
    `users:
  - username: alice
    password: secret-a
    sources: [{ id: local, type: local, calendars: [{ id: personal, name: Personal, color: "#3b82f6" }] }]
  - username: "bob@example.com"
    password: secret-b
    sources: [{ id: local, type: local, calendars: [{ id: personal, name: Personal }] }]
`;
  const config = parseConfigText(`server: { host: 127.0.0.1, port: 0 }\nstorage: { client: sqlite, filename: ${join(dir, "db.sqlite")} }\n${users}`, "test.yaml", {});
  const handle = await startServer(config, { configPath: null, generatedPassword: null, logger: pino({ level: "silent" }), ...opts });
  return {
    url: handle.url.replace(/\/$/, ""),
    dir,
    async stop() {
      await handle.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function basic(user: string, pass: string): string {
  return "Basic " + Buffer.from(`${user}:${pass}`).toString("base64");
}

export interface DavReply {
  status: number;
  headers: Headers;
  body: string;
  xml(): XmlElement;
}

export async function dav(base: string, method: string, path: string, opts: { auth?: string | null; body?: string; headers?: Record<string, string> } = {}): Promise<DavReply> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.auth !== null) headers.authorization = opts.auth ?? basic("alice", "secret-a");
  if (opts.body !== undefined && !headers["content-type"]) headers["content-type"] = opts.body.startsWith("BEGIN:") ? "text/calendar; charset=utf-8" : "application/xml; charset=utf-8";
  const res = await fetch(base + path, { method, headers, body: opts.body, redirect: "manual" });
  const body = await res.text();
  return { status: res.status, headers: res.headers, body, xml: () => parseXml(body) };
}

/** href → { status text per prop Clark name → prop element } from a multistatus. */
export function propsByHref(ms: XmlElement): Map<string, { status?: string; props: Map<string, { status: string; el: XmlElement }> }> {
  const out = new Map<string, { status?: string; props: Map<string, { status: string; el: XmlElement }> }>();
  for (const r of elements(ms, "{DAV:}response")) {
    const href = text(child(r, "{DAV:}href")!);
    const entry: { status?: string; props: Map<string, { status: string; el: XmlElement }> } = { props: new Map() };
    const st = child(r, "{DAV:}status");
    if (st) entry.status = text(st);
    for (const ps of elements(r, "{DAV:}propstat")) {
      const status = text(child(ps, "{DAV:}status")!);
      for (const p of elements(child(ps, "{DAV:}prop")!)) entry.props.set(p.name, { status, el: p });
    }
    out.set(href, entry);
  }
  return out;
}
