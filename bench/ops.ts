/**
 * The benchmarked operations: each builds its request(s) and checks an answer against what the
 * benchmark knows the calendar holds (the generator's events and their instance lists).
 */
import type { Clark } from "../src/xml/names.ts";
import { parseMultistatusFull, readMultistatus, scanDisagrees, type Multistatus, type MsResponse } from "./multistatus.ts";
import { expectedInRange, generateEvent, QUERY_MONTH, type BenchEvent } from "./generate.ts";
import type { Req, Res } from "./http.ts";

export const OPS = ["propfind-d1-getetag", "multiget-100", "query-month", "sync-empty-delta", "sync-empty-token", "propfind-d0-getctag", "get", "put"] as const;
export type OpName = (typeof OPS)[number];
export const READ_OPS: readonly OpName[] = OPS.filter((o) => o !== "put");

export const OP_LABEL: Record<OpName, string> = {
  "propfind-d1-getetag": "PROPFIND Depth 1 getetag",
  "multiget-100": "calendar-multiget 100 hrefs",
  "query-month": "calendar-query one month",
  "sync-empty-delta": "sync-collection, empty delta",
  "sync-empty-token": "sync-collection, empty token",
  "propfind-d0-getctag": "PROPFIND Depth 0 getctag",
  get: "GET one object",
  put: "PUT new object",
};

const C = (l: string): Clark => `{urn:ietf:params:xml:ns:caldav}${l}`;
const CS = (l: string): Clark => `{http://calendarserver.org/ns/}${l}`;
const D = (l: string): Clark => `{DAV:}${l}`;

/** Decoded path of an href (absolute or not), without a trailing slash. */
function hrefPath(href: string): string {
  let p = href;
  if (/^https?:\/\//.test(p)) p = new URL(p).pathname;
  p = decodeURIComponent(p);
  return p.endsWith("/") ? p.slice(0, -1) : p;
}
const lastSegment = (href: string): string => {
  const p = hrefPath(href);
  return p.slice(p.lastIndexOf("/") + 1);
};

/** What an operation needs to know about the calendar it runs against (in the runner or a client process). */
export interface OpState {
  readonly calendarUrl: string;
  readonly server: string;
  readonly names: readonly string[];
  readonly syncToken: string;
  readonly ctag: string;
  uidOf(name: string): string | undefined;
  expectedMonth(): { definite: Set<string>; ambiguous: Set<string> };
  /** Fresh events for the PUT operation: generator indexes far beyond any loaded size, never reused. */
  nextPutEvent(): BenchEvent;
}

/** An OpState as plain data, sent to the client processes (client-pool.ts). */
export interface StateSnapshot {
  calendarUrl: string;
  seed: number;
  server: string;
  names: string[];
  uids: string[];
  syncToken: string;
  ctag: string;
  expectedMonth: { definite: string[]; ambiguous: string[] };
  /** First generator index of this holder's PUT events (each client process gets its own range). */
  putBase: number;
}

/** Members of a multistatus (the collection's own response left out). */
export function members(st: Pick<OpState, "calendarUrl">, responses: MsResponse[]): MsResponse[] {
  const self = hrefPath(st.calendarUrl);
  return responses.filter((r) => hrefPath(r.href) !== self);
}

/** What the benchmark knows about one server's calendar while measuring it. */
export class CalendarState implements OpState {
  readonly present = new Map<string, BenchEvent>();
  names: string[] = [];
  syncToken = "";
  ctag = "";
  private expected: { definite: Set<string>; ambiguous: Set<string> } | null = null;
  private putCounter = 0;
  constructor(
    readonly calendarUrl: string,
    readonly seed: number,
    readonly server: string,
  ) {}
  add(evs: Iterable<BenchEvent>): void {
    for (const e of evs) this.present.set(e.name, e);
    this.names = [...this.present.keys()];
    this.expected = null;
  }
  uidOf(name: string): string | undefined {
    return this.present.get(name)?.uid;
  }
  expectedMonth(): { definite: Set<string>; ambiguous: Set<string> } {
    this.expected ??= expectedInRange(this.present.values(), QUERY_MONTH.start, QUERY_MONTH.end);
    return this.expected;
  }
  nextPutEvent(): BenchEvent {
    return generateEvent(this.seed, 50_000_000 + this.putCounter++);
  }
  snapshot(putBase: number): StateSnapshot {
    const e = this.expectedMonth();
    return {
      calendarUrl: this.calendarUrl,
      seed: this.seed,
      server: this.server,
      names: this.names,
      uids: this.names.map((n) => this.present.get(n)!.uid),
      syncToken: this.syncToken,
      ctag: this.ctag,
      expectedMonth: { definite: [...e.definite], ambiguous: [...e.ambiguous] },
      putBase,
    };
  }
}

/** The OpState of a client process, rebuilt from a snapshot. */
export class SnapshotState implements OpState {
  readonly calendarUrl: string;
  readonly server: string;
  readonly names: string[];
  readonly syncToken: string;
  readonly ctag: string;
  private readonly uids = new Map<string, string>();
  private readonly expected: { definite: Set<string>; ambiguous: Set<string> };
  private putCounter = 0;
  constructor(private readonly snap: StateSnapshot) {
    this.calendarUrl = snap.calendarUrl;
    this.server = snap.server;
    this.names = snap.names;
    this.syncToken = snap.syncToken;
    this.ctag = snap.ctag;
    snap.names.forEach((n, i) => this.uids.set(n, snap.uids[i]!));
    this.expected = { definite: new Set(snap.expectedMonth.definite), ambiguous: new Set(snap.expectedMonth.ambiguous) };
  }
  uidOf(name: string): string | undefined {
    return this.uids.get(name);
  }
  expectedMonth(): { definite: Set<string>; ambiguous: Set<string> } {
    return this.expected;
  }
  nextPutEvent(): BenchEvent {
    return generateEvent(this.snap.seed, this.snap.putBase + this.putCounter++);
  }
}

function setDiff(got: Set<string>, want: Set<string>, maybe: Set<string> = new Set()): string | null {
  const missing = [...want].filter((n) => !got.has(n));
  const extra = [...got].filter((n) => !want.has(n) && !maybe.has(n));
  if (missing.length === 0 && extra.length === 0) return null;
  return `expected ${want.size}${maybe.size ? ` (+${maybe.size} floating-ambiguous)` : ""}, got ${got.size}: ${missing.length} missing${missing.length ? ` e.g. ${missing.slice(0, 2).join(", ")}` : ""}, ${extra.length} unexpected${extra.length ? ` e.g. ${extra.slice(0, 2).join(", ")}` : ""}`;
}

const XML = { "content-type": "application/xml; charset=utf-8" };
const PROPFIND_ETAG = `<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>`;
const PROPFIND_CTAG = `<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/></d:prop></d:propfind>`;
const ical = (ms: number): string => new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
const QUERY = `<?xml version="1.0" encoding="utf-8"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="${ical(QUERY_MONTH.start)}" end="${ical(QUERY_MONTH.end)}"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`;
const syncBody = (token: string): string =>
  `<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:">${token ? `<d:sync-token>${token.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</d:sync-token>` : "<d:sync-token/>"}<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`;

/** A small seeded LCG for choosing hrefs, so every server gets the same request sequence. */
function pickIndex(i: number, k: number, n: number): number {
  return Number((BigInt(i) * 1_000_003n + BigInt(k) * 7919n + 12345n) % BigInt(n));
}

export interface Operation {
  make(i: number): Req;
  check(res: Res, req: Req): string | null;
  /** Check every n-th answer (1 = all); large answers are parsed less often so the client does not become the bottleneck. */
  checkEvery: number;
  /** Called after every answer (PUT bookkeeping). */
  after?(req: Req, res: Res): void;
  /** Called once the load is over (not measured): PUT removes what it created, so the calendar keeps its size. */
  finish?(request: (r: Req) => Promise<Res>): Promise<void>;
}

/**
 * `thorough`: read answers with the project's XML parser and also check that the fast scan reads
 * them the same way (the warm-up requests); otherwise with the fast scan (under load; multistatus.ts).
 */
export function operation(op: OpName, st: OpState, opts: { thorough?: boolean } = {}): Operation {
  const url = st.calendarUrl;
  const parseMultistatus = (body: string): Multistatus => {
    if (!opts.thorough) return readMultistatus(body);
    const diff = scanDisagrees(body);
    if (diff !== null) throw new Error(`the benchmark's fast multistatus scan disagrees with the XML parser: ${diff}`);
    return parseMultistatusFull(body);
  };
  const hasEtag = (r: MsResponse): boolean => {
    const p = r.props.get(D("getetag"));
    return p !== undefined && p.status === 200 && p.text.trim() !== "";
  };
  switch (op) {
    case "propfind-d1-getetag":
      return {
        checkEvery: 20,
        make: () => ({ method: "PROPFIND", url, headers: { ...XML, depth: "1" }, body: PROPFIND_ETAG }),
        check(res) {
          if (res.status !== 207) return `status ${res.status}`;
          const m = members(st, parseMultistatus(res.body).responses);
          if (!m.every(hasEtag)) return "a member without getetag";
          return setDiff(new Set(m.map((r) => lastSegment(r.href))), new Set(st.names));
        },
      };
    case "multiget-100":
      return {
        checkEvery: 20,
        make(i) {
          const hrefs: string[] = [];
          const n = Math.min(100, st.names.length);
          const seen = new Set<number>();
          for (let k = 0; hrefs.length < n; k++) {
            const j = pickIndex(i, k, st.names.length);
            if (seen.has(j)) continue;
            seen.add(j);
            hrefs.push(`<d:href>${new URL(url).pathname}${encodeURIComponent(st.names[j]!)}</d:href>`);
          }
          return {
            method: "REPORT",
            url,
            headers: { ...XML, depth: "1" },
            body: `<?xml version="1.0" encoding="utf-8"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>${hrefs.join("")}</c:calendar-multiget>`,
          };
        },
        check(res, req) {
          if (res.status !== 207) return `status ${res.status}`;
          const want = new Set([...req.body!.matchAll(/<d:href>([^<]*)<\/d:href>/g)].map((m) => lastSegment(m[1]!)));
          const rs = parseMultistatus(res.body).responses;
          for (const r of rs) {
            const name = lastSegment(r.href);
            const data = r.props.get(C("calendar-data"));
            if (!data || data.status !== 200) return `${name}: no calendar-data`;
            const uid = st.uidOf(name);
            if (!uid || !data.text.includes(`UID:${uid}`)) return `${name}: calendar-data without its UID`;
            if (!hasEtag(r)) return `${name}: no getetag`;
          }
          return setDiff(new Set(rs.map((r) => lastSegment(r.href))), want);
        },
      };
    case "query-month":
      return {
        checkEvery: 10,
        make: () => ({ method: "REPORT", url, headers: { ...XML, depth: "1" }, body: QUERY }),
        check(res) {
          if (res.status !== 207) return `status ${res.status}`;
          const m = members(st, parseMultistatus(res.body).responses);
          const exp = st.expectedMonth();
          return setDiff(new Set(m.map((r) => lastSegment(r.href))), exp.definite, exp.ambiguous);
        },
      };
    case "sync-empty-delta":
      return {
        checkEvery: 1,
        make: () => ({ method: "REPORT", url, headers: { ...XML, depth: "0" }, body: syncBody(st.syncToken) }),
        check(res) {
          if (res.status !== 207) return `status ${res.status}`;
          const p = parseMultistatus(res.body);
          const m = members(st, p.responses);
          if (m.length !== 0) return `expected no changes, got ${m.length}`;
          if (!p.syncToken) return "no sync-token in the answer";
          return null;
        },
      };
    case "sync-empty-token":
      return {
        checkEvery: 20,
        make: () => ({ method: "REPORT", url, headers: { ...XML, depth: "0" }, body: syncBody("") }),
        check(res) {
          if (res.status !== 207) return `status ${res.status}`;
          const p = parseMultistatus(res.body);
          if (!p.syncToken) return "no sync-token in the answer";
          const m = members(st, p.responses);
          if (!m.every(hasEtag)) return "a member without getetag";
          return setDiff(new Set(m.map((r) => lastSegment(r.href))), new Set(st.names));
        },
      };
    case "propfind-d0-getctag":
      return {
        checkEvery: 1,
        make: () => ({ method: "PROPFIND", url, headers: { ...XML, depth: "0" }, body: PROPFIND_CTAG }),
        check(res) {
          if (res.status !== 207) return `status ${res.status}`;
          const rs = parseMultistatus(res.body).responses;
          if (rs.length !== 1) return `expected 1 response, got ${rs.length}`;
          const c = rs[0]!.props.get(CS("getctag"));
          if (!c || c.status !== 200) return "no getctag";
          const v = c.text.trim();
          if (v === "") return "empty getctag";
          if (st.ctag !== "" && v !== st.ctag) return `getctag changed without a change: ${st.ctag} → ${v}`;
          return null;
        },
      };
    case "get":
      return {
        checkEvery: 1,
        make: (i) => ({ method: "GET", url: url + encodeURIComponent(st.names[pickIndex(i, 0, st.names.length)]!) }),
        check(res, req) {
          if (res.status !== 200) return `status ${res.status}`;
          const name = decodeURIComponent(req.url.slice(req.url.lastIndexOf("/") + 1));
          const uid = st.uidOf(name);
          if (!uid) return `${name}: not a loaded object`;
          if (!res.body.includes(`UID:${uid}`)) return `${name}: body without its UID`;
          if (!res.headers.etag) return `${name}: no ETag header`;
          return null;
        },
      };
    case "put": {
      const pending = new Map<string, BenchEvent>();
      const created: BenchEvent[] = [];
      return {
        checkEvery: 1,
        make() {
          const ev = st.nextPutEvent();
          const u = url + encodeURIComponent(ev.name);
          pending.set(u, ev);
          return { method: "PUT", url: u, headers: { "content-type": "text/calendar; charset=utf-8", "if-none-match": "*" }, body: ev.ics };
        },
        check(res) {
          return res.status === 201 || res.status === 204 ? null : `status ${res.status}`;
        },
        after(req, res) {
          const ev = pending.get(req.url);
          pending.delete(req.url);
          if (ev && (res.status === 201 || res.status === 204)) created.push(ev);
        },
        async finish(request) {
          const todo = created.splice(0);
          let next = 0;
          const worker = async (): Promise<void> => {
            while (next < todo.length) {
              const ev = todo[next++]!;
              const res = await request({ method: "DELETE", url: url + encodeURIComponent(ev.name) });
              if (res.status >= 300 && res.status !== 404) throw new Error(`${st.server}: DELETE ${ev.name} → ${res.status}`);
            }
          };
          await Promise.all(Array.from({ length: 4 }, worker));
        },
      };
    }
  }
}

/** Reads the current sync-token and ctag (before measuring the ops that compare against them). */
export async function readTokens(st: CalendarState, request: (r: Req) => Promise<Res>): Promise<void> {
  const s = await request({ method: "REPORT", url: st.calendarUrl, headers: { ...XML, depth: "0" }, body: syncBody("") });
  if (s.status !== 207) throw new Error(`${st.server}: sync-collection → ${s.status}: ${s.body.slice(0, 300)}`);
  st.syncToken = parseMultistatusFull(s.body).syncToken ?? "";
  const c = await request({ method: "PROPFIND", url: st.calendarUrl, headers: { ...XML, depth: "0" }, body: PROPFIND_CTAG });
  const r = parseMultistatusFull(c.body).responses[0];
  const ctag = r?.props.get(CS("getctag"));
  st.ctag = ctag && ctag.status === 200 ? ctag.text.trim() : "";
}
