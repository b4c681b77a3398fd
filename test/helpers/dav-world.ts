/**
 * A CalDAV client's view of an in-process calgate for provider integration tests (the helpers of
 * sync-google.test.ts, shared): Basic-authenticated requests as alice, sync-collection, calendar-query,
 * POST /sync and waiting for that sync to finish.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { ServerHandle } from "../../src/cli/contract.ts";
import type { Db } from "../../src/store/db.ts";
import { parseXml } from "../../src/xml/parse.ts";
import { child, elements, text } from "../../src/xml/tree.ts";

const AUTH = "Basic " + Buffer.from("alice:secret-a").toString("base64");

export interface World {
  server: ServerHandle;
  db: Db;
  dir: string;
  base: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** Waits for a condition (polling with a deadline); fails naming what did not happen. */
export async function until<T>(what: string, f: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function req(url: string, method: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: string }> {
  const h: Record<string, string> = { authorization: AUTH, ...headers };
  if (body !== undefined && !h["content-type"]) h["content-type"] = body.startsWith("BEGIN:") ? "text/calendar; charset=utf-8" : "application/xml; charset=utf-8";
  const r = await fetch(url, { method, headers: h, body });
  return { status: r.status, headers: r.headers, body: await r.text() };
}

export async function syncCollection(url: string, token: string): Promise<{ token: string; changed: string[]; removed: string[] }> {
  const r = await req(url, "REPORT", `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`, { depth: "1" });
  assert.equal(r.status, 207, r.body);
  const ms = parseXml(r.body);
  const changed: string[] = [];
  const removed: string[] = [];
  for (const resp of elements(ms, "{DAV:}response")) {
    const name = decodeURIComponent(text(child(resp, "{DAV:}href")!).split("/").pop()!);
    const st = child(resp, "{DAV:}status");
    if (st && /404/.test(text(st))) removed.push(name);
    else changed.push(name);
  }
  return { token: text(child(ms, "{DAV:}sync-token")!), changed, removed };
}

/** name → calendar-data of every object in a collection. */
export async function objects(url: string): Promise<Map<string, string>> {
  const r = await req(url, "REPORT", `<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>`, { depth: "1" });
  assert.equal(r.status, 207, r.body);
  const out = new Map<string, string>();
  for (const resp of elements(parseXml(r.body), "{DAV:}response")) {
    const href = text(child(resp, "{DAV:}href")!);
    const ps = elements(resp, "{DAV:}propstat").find((p) => /200/.test(text(child(p, "{DAV:}status")!)));
    const data = ps ? child(child(ps, "{DAV:}prop")!, "{urn:ietf:params:xml:ns:caldav}calendar-data") : undefined;
    if (data) out.set(decodeURIComponent(href.split("/").pop()!), text(data));
  }
  return out;
}

export const unfold = (ics: string): string => ics.replace(/\r?\n[ \t]/g, "");
export const summaries = (m: Map<string, string>): string[] => [...m.values()].flatMap((ics) => [...unfold(ics).matchAll(/^SUMMARY[^:]*:(.*)$/gm)].map((x) => x[1]!.trim())).sort();
export const uidOf = (ics: string): string => /^UID:(.*)$/m.exec(unfold(ics))![1]!.trim();

export const vevent = (uid: string, summary: string, lines: string[] = ["DTSTART:20261210T100000Z", "DTEND:20261210T110000Z"]): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate provider test//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20261201T000000Z", ...lines, `SUMMARY:${summary}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

/** POST /sync, then waits for a sync that STARTED after the request to complete (or fail). */
export async function syncNow(w: World, timeoutMs = 30_000): Promise<void> {
  const mark = Number((await w.db("status_events").max({ m: "id" }).first())?.m ?? 0);
  const r = await req(`${w.base}/sync`, "POST");
  assert.equal(r.status, 202, r.body);
  await until("a sync to finish", async () => {
    const rows = await w.db("status_events").where("id", ">", mark).whereIn("type", ["sync.started", "sync.completed", "sync.failed"]).orderBy("id");
    const started = rows.findIndex((e) => e.type === "sync.started");
    return started >= 0 && rows.slice(started + 1).some((e) => e.type !== "sync.started");
  }, timeoutMs);
}

export const col = (w: World, name: string): string => `${w.base}/dav/calendars/alice/${name}/`;
