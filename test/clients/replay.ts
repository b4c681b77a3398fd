/**
 * Replays the recorded request sequences of real CalDAV clients (Apple Calendar, Thunderbird, DAVx5;
 * see test/fixtures/corpus/client-requests/index.md) against a server: the bodies are the corpus files
 * with their placeholders filled, the headers and Depth values are the client's, redirects are
 * followed with the same method and Depth, and every URL after the first is one the server returned.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";
import { parseXml } from "../../src/xml/parse.ts";
import { child, elements, text, type XmlElement } from "../../src/xml/tree.ts";
import type { Clark } from "../../src/xml/names.ts";
import { CLIENT_REQUESTS_DIR } from "../helpers/fixtures.ts";


export type ClientName = "apple-calendar" | "thunderbird" | "davx5";

export const DAV = "DAV:";
export const CALDAV = "urn:ietf:params:xml:ns:caldav";
export const CS = "http://calendarserver.org/ns/";
export const d = (local: string): Clark => `{${DAV}}${local}`;
export const c = (local: string): Clark => `{${CALDAV}}${local}`;
export const cs = (local: string): Clark => `{${CS}}${local}`;

/** Headers each client sends with every request (besides Authorization, Depth, Content-Type). */
export const CLIENT_HEADERS: Record<ClientName, Record<string, string>> = {
  "apple-calendar": { "user-agent": "macOS/10.15.5 (19F101) CalendarAgent/930.5.1", prefer: "return=minimal", brief: "t" },
  thunderbird: { "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0" },
  davx5: { "user-agent": "DAVx5/4.4.2-ose (dav4jvm; okhttp/4.12.0) Android/14" },
};
/** Content-Type of XML request bodies per client. */
export const CLIENT_XML_CONTENT_TYPE: Record<ClientName, string> = {
  "apple-calendar": "text/xml",
  thunderbird: "text/xml; charset=utf-8",
  davx5: "application/xml; charset=utf-8",
};

export function loadBody(client: ClientName, file: string): string {
  return readFileSync(join(CLIENT_REQUESTS_DIR, client, file), "utf8");
}

/** Fills {{name}} placeholders; an unknown placeholder is an error (the corpus and the replay disagree). */
export function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{([a-z-]+)\}\}/g, (_m, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new Error(`replay: no value for placeholder {{${name}}}`);
    return v;
  });
}

export const xmlEscape = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export interface Reply {
  method: string;
  /** Final URL after redirects. */
  url: string;
  /** Redirect chain: [status, Location] per hop. */
  redirects: Array<[number, string]>;
  status: number;
  headers: Headers;
  body: string;
}

export interface RequestOptions {
  depth?: string;
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
  /** Follow 301/302/307/308 with the same method, Depth and body (default true). */
  follow?: boolean;
}

export const basic = (user: string, pass: string): string => "Basic " + Buffer.from(`${user}:${pass}`).toString("base64");

/** An HTTP client that behaves like one CalDAV client: its headers, its redirect handling, a transcript. */
export class ClientSession {
  readonly transcript: string[] = [];
  constructor(
    readonly client: ClientName,
    readonly baseUrl: string,
    readonly username: string,
    readonly password: string,
  ) {}

  async request(method: string, url: string, opts: RequestOptions = {}): Promise<Reply> {
    let target = new URL(url, this.baseUrl).toString();
    const redirects: Array<[number, string]> = [];
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { ...CLIENT_HEADERS[this.client], authorization: basic(this.username, this.password), ...(opts.headers ?? {}) };
      if (opts.depth !== undefined) headers.depth = opts.depth;
      if (opts.body !== undefined) headers["content-type"] = opts.contentType ?? CLIENT_XML_CONTENT_TYPE[this.client];
      const res = await fetch(target, { method, headers, body: opts.body, redirect: "manual", signal: AbortSignal.timeout(30_000) });
      const body = await res.text();
      this.transcript.push(`${method} ${target}${opts.depth !== undefined ? ` (Depth: ${opts.depth})` : ""} → ${res.status}`);
      if ((opts.follow ?? true) && [301, 302, 307, 308].includes(res.status)) {
        const loc = res.headers.get("location");
        assert.ok(loc, `${method} ${target} answered ${res.status} without a Location header`);
        redirects.push([res.status, loc]);
        assert.ok(hop < 5, `${method} ${url}: more than 5 redirects: ${JSON.stringify(redirects)}`);
        target = new URL(loc, target).toString();
        continue;
      }
      return { method, url: target, redirects, status: res.status, headers: res.headers, body };
    }
  }

  /** Last requests, for assertion messages. */
  recent(n = 12): string {
    return this.transcript.slice(-n).join("\n");
  }
}

// ---------------------------------------------------------------------------------------------
// Multistatus

export interface PropValue {
  status: number;
  el: XmlElement;
}
export interface MsResponse {
  /** The href exactly as the server sent it. */
  rawHref: string;
  /** Absolute path, percent-decoded, for comparisons. */
  path: string;
  /** Status of a response without propstat (sync-collection removals, multiget misses). */
  status?: number;
  props: Map<string, PropValue>;
}
export interface Multistatus {
  responses: MsResponse[];
  syncToken?: string;
  byPath(path: string): MsResponse | undefined;
}

export function statusCode(line: string): number {
  const m = /^HTTP\/\d(?:\.\d)?\s+(\d{3})/.exec(line.trim());
  if (!m) throw new Error(`not an HTTP status line: ${JSON.stringify(line)}`);
  return Number(m[1]);
}

/** Absolute path, percent-decoded (so /a%40b/ and /a@b/ compare equal). */
export function normPath(href: string, base = "http://x/"): string {
  const p = new URL(href.trim(), base).pathname;
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

export function parseMultistatus(reply: Reply | string): Multistatus {
  const body = typeof reply === "string" ? reply : reply.body;
  const where = typeof reply === "string" ? "" : ` (${reply.method} ${reply.url} → ${reply.status})`;
  let root: XmlElement;
  try {
    root = parseXml(body);
  } catch (e) {
    throw new Error(`response is not well-formed XML${where}: ${(e as Error).message}\n${body.slice(0, 2000)}`);
  }
  assert.equal(root.name, d("multistatus"), `expected a DAV:multistatus${where}, got ${root.name}\n${body.slice(0, 2000)}`);
  const base = typeof reply === "string" ? "http://x/" : reply.url;
  const responses: MsResponse[] = [];
  for (const r of elements(root, d("response"))) {
    const hrefEl = child(r, d("href"));
    assert.ok(hrefEl, `DAV:response without DAV:href${where}`);
    const rawHref = text(hrefEl).trim();
    const props = new Map<string, PropValue>();
    for (const ps of elements(r, d("propstat"))) {
      const st = child(ps, d("status"));
      assert.ok(st, `propstat without status for ${rawHref}${where}`);
      const code = statusCode(text(st));
      const prop = child(ps, d("prop"));
      if (prop) for (const p of elements(prop)) props.set(p.name, { status: code, el: p });
    }
    const st = child(r, d("status"));
    responses.push({ rawHref, path: normPath(rawHref, base), status: st ? statusCode(text(st)) : undefined, props });
  }
  const tok = child(root, d("sync-token"));
  const syncToken = tok ? text(tok).trim() : undefined;
  return { responses, syncToken, byPath: (p) => responses.find((r) => r.path === normPath(p, base)) };
}

/** A property that the server answered with 200, or undefined. */
export function okProp(r: MsResponse | undefined, name: Clark): XmlElement | undefined {
  const p = r?.props.get(name);
  return p && p.status >= 200 && p.status < 300 ? p.el : undefined;
}
/** Text of the first DAV:href inside a (200) property. */
export function hrefProp(r: MsResponse | undefined, name: Clark): string | undefined {
  const el = okProp(r, name);
  const h = el ? child(el, d("href")) : undefined;
  return h ? text(h).trim() : undefined;
}
export function hasResourceType(r: MsResponse, name: Clark): boolean {
  const rt = okProp(r, d("resourcetype"));
  return rt !== undefined && child(rt, name) !== undefined;
}
export function describeMs(ms: Multistatus): string {
  return ms.responses
    .map((r) => `  ${r.rawHref}${r.status ? ` [${r.status}]` : ""}: ${[...r.props].map(([k, v]) => `${k.replace(/^\{[^}]*\}/, "")}=${v.status}`).join(", ")}`)
    .join("\n");
}

export function expectStatus(reply: Reply, expected: number | number[], what: string): void {
  const list = Array.isArray(expected) ? expected : [expected];
  assert.ok(list.includes(reply.status), `${what}: ${reply.method} ${reply.url} answered ${reply.status}, expected ${list.join(" or ")}\n${reply.body.slice(0, 2000)}`);
}

// ---------------------------------------------------------------------------------------------
// Test data

export const ics = (lines: string[]): string => ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate replay//EN", ...lines, "END:VCALENDAR", ""].join("\r\n");

/** A few objects a client would create: a single event, a weekly recurring one with an override, a VTODO. */
export function sampleObjects(tag: string): Array<{ name: string; uid: string; body: string }> {
  const u = (n: string): string => `${tag}-${n}@replay.calgate.test`;
  return [
    {
      name: `${tag}-single.ics`,
      uid: u("single"),
      body: ics(["BEGIN:VEVENT", `UID:${u("single")}`, "DTSTAMP:20240101T000000Z", "DTSTART:20240110T100000Z", "DTEND:20240110T110000Z", "SUMMARY:Dentist", "END:VEVENT"]),
    },
    {
      name: `${tag}-weekly.ics`,
      uid: u("weekly"),
      body: ics([
        "BEGIN:VTIMEZONE", "TZID:Europe/Berlin",
        "BEGIN:DAYLIGHT", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "TZNAME:CEST", "DTSTART:19700329T020000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "END:DAYLIGHT",
        "BEGIN:STANDARD", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "TZNAME:CET", "DTSTART:19701025T030000", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "END:STANDARD",
        "END:VTIMEZONE",
        "BEGIN:VEVENT", `UID:${u("weekly")}`, "DTSTAMP:20240101T000000Z", "DTSTART;TZID=Europe/Berlin:20240108T090000", "DTEND;TZID=Europe/Berlin:20240108T093000",
        "RRULE:FREQ=WEEKLY;COUNT=10", "EXDATE;TZID=Europe/Berlin:20240122T090000", "SUMMARY:Standup", "END:VEVENT",
        "BEGIN:VEVENT", `UID:${u("weekly")}`, "DTSTAMP:20240101T000000Z", "RECURRENCE-ID;TZID=Europe/Berlin:20240115T090000",
        "DTSTART;TZID=Europe/Berlin:20240115T110000", "DTEND;TZID=Europe/Berlin:20240115T113000", "SUMMARY:Standup (moved)", "END:VEVENT",
      ]),
    },
    {
      name: `${tag}-todo.ics`,
      uid: u("todo"),
      body: ics(["BEGIN:VTODO", `UID:${u("todo")}`, "DTSTAMP:20240101T000000Z", "DUE:20240120T170000Z", "SUMMARY:File taxes", "STATUS:NEEDS-ACTION", "END:VTODO"]),
    },
  ];
}

/** Normalises iCalendar text for comparisons: unfolds, drops blank lines, LF. */
export function unfold(s: string): string {
  return s.replace(/\r\n/g, "\n").replace(/\n[ \t]/g, "").split("\n").filter((l) => l.trim() !== "").join("\n");
}
