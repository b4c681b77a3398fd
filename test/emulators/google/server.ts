/**
 * The HTTP front: OAuth endpoints (§9) and the Calendar API under /calendar/v3 (§1), with
 * scripted faults, the rate-limit storm, Bearer auth, scopes and quotas applied in that order.
 */
import type http from "node:http";
import { ApiError, E } from "./errors.ts";
import { colors, type Calendars } from "./calendars.ts";
import type { EventOps } from "./events.ts";
import { selectFields } from "./fields.ts";
import { collectionEtag, type Listing } from "./listing.ts";
import { SCOPES, type OAuth, type Principal } from "./oauth.ts";
import type { Push } from "./push.ts";
import type { Limits } from "./quota.ts";
import { etagOf, renderEvent } from "./resource.ts";
import type { Json, Store } from "./store.ts";
import { one, type Query } from "./sync.ts";
import { isPlainObject, isValidTimeZone } from "./util.ts";

export interface RequestRecord {
  method: string;
  path: string;
  query: Query;
  status: number;
  at: number;
}

export interface Deps {
  store: Store;
  oauth: OAuth;
  calendars: Calendars;
  ops: EventOps;
  listing: Listing;
  push: Push;
  limits: Limits;
  requests: RequestRecord[];
}

interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

type Access = "calendarRead" | "eventsRead" | "eventsWrite" | "any";
const ALLOWED: Record<Access, string[]> = {
  calendarRead: [SCOPES.full, SCOPES.readonly],
  eventsRead: [SCOPES.full, SCOPES.events, SCOPES.readonly, SCOPES.eventsReadonly],
  eventsWrite: [SCOPES.full, SCOPES.events],
  any: Object.values(SCOPES),
};

interface Route {
  access: Access;
  cost: number;
  run: (p: Principal, body: Json) => Answer;
}

function queryOf(url: URL): Query {
  const q: Query = {};
  for (const [k, v] of url.searchParams) {
    const prev = q[k];
    q[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return q;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const JSON_HEADERS = { "content-type": "application/json; charset=UTF-8", vary: "Origin, X-Origin, Referer" };

export function createHandler(d: Deps): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const eventRoutes = (method: string, segs: string[], q: Query, headers: http.IncomingHttpHeaders): Route | undefined => {
    const [calendarId, eventId, sub] = [segs[1]!, segs[3], segs[4]];
    const writeOpts = (p: Principal) => ({
      actor: p.email,
      ...(typeof headers["if-match"] === "string" ? { ifMatch: headers["if-match"] } : {}),
      conferenceDataVersion: Number(one(q, "conferenceDataVersion") ?? 0),
      supportsAttachments: one(q, "supportsAttachments") === "true",
    });
    const ctx = (p: Principal, cal: ReturnType<Calendars["access"]>["cal"]) => {
      const tz = one(q, "timeZone");
      if (tz !== undefined && !isValidTimeZone(tz)) throw E.invalid("Invalid time zone definition", "timeZone");
      const maxAttendees = one(q, "maxAttendees");
      return { calendar: cal, tz: tz ?? cal.timeZone, requester: p.email, ...(maxAttendees ? { maxAttendees: Number(maxAttendees) } : {}) };
    };
    const resolveCal = (p: Principal, write: boolean) => {
      const a = d.calendars.access(p.email, d.store.resolveCalendarId(p.email, calendarId));
      if (write && a.entry.accessRole !== "owner" && a.entry.accessRole !== "writer") throw E.requiredAccessLevel();
      return a;
    };
    if (eventId === undefined) {
      if (method === "GET") return { access: "eventsRead", cost: 1, run: (p) => {
        const { cal, entry } = resolveCal(p, false);
        if (headers["if-none-match"] === collectionEtag(d.store, cal.id) && one(q, "pageToken") === undefined) return { status: 304 };
        return { status: 200, body: d.listing.list(cal, entry, q, p.email) };
      } };
      if (method === "POST") return { access: "eventsWrite", cost: 1, run: (p, body) => {
        const { cal } = resolveCal(p, true);
        return { status: 200, body: renderEvent(d.ops.insert(cal.id, body, writeOpts(p)), ctx(p, cal)) };
      } };
      return undefined;
    }
    if (sub === undefined && eventId === "import" && method === "POST") return { access: "eventsWrite", cost: 1, run: (p, body) => {
      const { cal } = resolveCal(p, true);
      return { status: 200, body: renderEvent(d.ops.insert(cal.id, body, { ...writeOpts(p), importing: true }), ctx(p, cal)) };
    } };
    if (sub === undefined && eventId === "watch" && method === "POST") return { access: "eventsRead", cost: 1, run: (p, body) => {
      const { cal } = resolveCal(p, false);
      return { status: 200, body: d.push.watch(cal.id, body, p.clientId) };
    } };
    if (sub === "instances" && method === "GET") return { access: "eventsRead", cost: 1, run: (p) => {
      const { cal, entry } = resolveCal(p, false);
      return { status: 200, body: d.listing.instances(cal, entry, eventId, q, p.email) };
    } };
    if (sub === "move" && method === "POST") return { access: "eventsWrite", cost: 1, run: (p) => {
      const { cal } = resolveCal(p, true);
      const destination = one(q, "destination");
      if (!destination) throw E.required("Required parameter: destination", "destination");
      const dest = d.calendars.access(p.email, d.store.resolveCalendarId(p.email, destination));
      if (dest.entry.accessRole !== "owner" && dest.entry.accessRole !== "writer") throw E.requiredAccessLevel();
      return { status: 200, body: renderEvent(d.ops.move(cal.id, eventId, dest.cal.id), ctx(p, dest.cal)) };
    } };
    if (sub !== undefined) return undefined;
    if (method === "GET") return { access: "eventsRead", cost: 1, run: (p) => {
      const { cal } = resolveCal(p, false);
      const found = d.ops.resolve(cal.id, eventId);
      if (!found) throw E.notFound();
      const etag = etagOf(found.ev.etagNum);
      if (headers["if-none-match"] === etag) return { status: 304 };
      return { status: 200, body: renderEvent(found.ev, ctx(p, cal)), headers: { etag } };
    } };
    if (method === "PUT" || method === "PATCH") return { access: "eventsWrite", cost: method === "PATCH" ? 3 : 1, run: (p, body) => {
      const { cal } = resolveCal(p, true);
      const ev = d.ops.modify(cal.id, eventId, body, method === "PATCH" ? "patch" : "update", writeOpts(p));
      return { status: 200, body: renderEvent(ev, ctx(p, cal)) };
    } };
    if (method === "DELETE") return { access: "eventsWrite", cost: 1, run: (p) => {
      const { cal } = resolveCal(p, true);
      d.ops.remove(cal.id, eventId, writeOpts(p));
      return { status: 204 };
    } };
    return undefined;
  };

  const route = (method: string, segs: string[], q: Query, headers: http.IncomingHttpHeaders): Route | undefined => {
    if (segs[0] === "users" && segs[1] === "me" && segs[2] === "calendarList" && method === "GET") {
      const cid = segs[3];
      if (segs.length === 3) return { access: "calendarRead", cost: 1, run: (p) => ({ status: 200, body: d.calendars.list(p.email, q) }) };
      if (segs.length === 4 && cid) return { access: "calendarRead", cost: 1, run: (p) => ({ status: 200, body: d.calendars.renderEntry(d.calendars.access(p.email, d.store.resolveCalendarId(p.email, cid)).entry) }) };
    }
    if (segs[0] === "colors" && segs.length === 1 && method === "GET") return { access: "calendarRead", cost: 1, run: () => ({ status: 200, body: colors() }) };
    if (segs[0] === "channels" && segs[1] === "stop" && segs.length === 2 && method === "POST") {
      return { access: "any", cost: 1, run: (_p, body) => (d.push.stop(body), { status: 204 }) };
    }
    if (segs[0] === "calendars" && segs[1]) {
      if (segs.length === 2 && method === "GET") return { access: "calendarRead", cost: 1, run: (p) => ({ status: 200, body: d.calendars.renderCalendar(d.calendars.access(p.email, d.store.resolveCalendarId(p.email, segs[1]!)).cal) }) };
      if (segs[2] === "events" && segs.length <= 5) return eventRoutes(method, segs, q, headers);
    }
    return undefined;
  };

  const api = async (req: http.IncomingMessage, url: URL, path: string, flags: { lose: boolean }): Promise<Answer> => {
    const method = req.method ?? "GET";
    const q = queryOf(url);
    const segs = path.slice("/calendar/v3/".length).split("/").filter((s) => s !== "").map((s) => decodeURIComponent(s));
    const r = route(method, segs, q, req.headers);
    if (!r) throw E.notFound();
    const fault = d.limits.takeFault(method, decodeURIComponent(path));
    if (fault?.error) throw fault.error;
    if (fault?.loseAnswer) flags.lose = true; // performed below, whatever the outcome
    const storm = d.limits.stormError();
    if (storm) throw storm;
    const principal = d.oauth.authenticate(req.headers.authorization);
    if (!principal) throw E.authError();
    if (!principal.scopes.some((s) => ALLOWED[r.access].includes(s))) throw E.insufficientPermissions();
    const over = d.limits.charge(principal.email, principal.clientId, r.cost);
    if (over) throw over;
    let body: Json = {};
    if (method === "POST" || method === "PUT" || method === "PATCH") {
      const text = await readBody(req);
      if (text.trim() !== "") {
        try {
          const parsed: unknown = JSON.parse(text);
          if (!isPlainObject(parsed)) throw E.parseError();
          body = parsed;
        } catch {
          throw E.parseError();
        }
      }
    }
    const answer = r.run(principal, body);
    const fields = one(q, "fields");
    if (fields !== undefined && answer.status === 200 && answer.body !== undefined) answer.body = selectFields(answer.body, fields);
    return answer;
  };

  const send = (res: http.ServerResponse, a: Answer): void => {
    if (a.status === 204 || a.status === 304) {
      res.writeHead(a.status, { vary: JSON_HEADERS.vary, ...(a.headers ?? {}) });
      res.end();
      return;
    }
    const text = typeof a.body === "string" ? a.body : JSON.stringify(a.body);
    res.writeHead(a.status, { ...JSON_HEADERS, ...(a.headers ?? {}), "content-length": String(Buffer.byteLength(text)) });
    res.end(text);
  };

  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const path = url.pathname;
    const method = req.method ?? "GET";
    void (async () => {
      if (path === "/o/oauth2/v2/auth" && method === "GET") {
        const a = d.oauth.authorize(url.searchParams);
        res.writeHead(a.status, a.headers).end(a.body);
        return;
      }
      if ((path === "/token" && method === "POST") || (path === "/revoke" && (method === "POST" || method === "GET"))) {
        const text = await readBody(req);
        let form = new URLSearchParams(text);
        if ((req.headers["content-type"] ?? "").startsWith("application/json")) {
          try {
            form = new URLSearchParams(Object.entries(JSON.parse(text) as Record<string, string>).map(([k, v]): [string, string] => [k, String(v)]));
          } catch {
            form = new URLSearchParams();
          }
        }
        const a = path === "/token"
          ? d.oauth.token(form, req.headers.authorization)
          : d.oauth.revoke(url.searchParams.get("token") ?? form.get("token"));
        res.writeHead(a.status, a.headers).end(a.body);
        return;
      }
      const record: RequestRecord = { method, path: decodeURIComponent(path), query: queryOf(url), status: 0, at: d.store.now() };
      d.requests.push(record);
      let answer: Answer;
      const flags = { lose: false };
      try {
        if (!path.startsWith("/calendar/v3/")) throw E.notFound();
        answer = await api(req, url, path, flags);
      } catch (e) {
        if (e instanceof ApiError) answer = { status: e.code, body: e.body() };
        else {
          console.error("google emulator: internal error", e);
          answer = { status: 500, body: E.backendError().body() };
        }
      }
      record.status = answer.status;
      if (flags.lose) {
        // The request was performed; the answer is lost on the way back (socket destroyed).
        req.socket.destroy();
        return;
      }
      send(res, answer);
    })().catch((e: unknown) => {
      console.error("google emulator: request failed", e);
      if (!res.headersSent) res.writeHead(500).end();
    });
  };
}
