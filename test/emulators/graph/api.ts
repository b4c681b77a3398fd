/**
 * Graph v1.0 calendar routes (reference §1): calendars, events (list/get/create/update/delete),
 * instances, calendarView and calendarView/delta, subscriptions. `/users/{id|upn}/…` ≡ `/me/…`
 * for the signed-in user. `Prefer: outlook.timezone` / `outlook.body-content-type` /
 * `odata.maxpagesize` are honoured and echoed in `Preference-Applied`.
 */
import type { Calendars } from "./calendars.ts";
import type { Delta } from "./delta.ts";
import { E, GraphApiError } from "./errors.ts";
import type { EventOps } from "./events.ts";
import type { Principal } from "./identity.ts";
import { applySelect, parseSelect, renderInstance, type Instance, type RenderCtx } from "./render.ts";
import { oid, type Calendar, type Json, type Store } from "./store.ts";
import type { Webhooks } from "./webhooks.ts";
import { ianaOf, parseQueryDateTime } from "./util.ts";
import { expandedIds, expandedProps, extFilter } from "./extprops.ts";

function dec(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw E.idMalformed();
  }
}

const SERIES_ONLY = new Set(["recurrence", "originalStartTimeZone", "originalEndTimeZone", "exceptionOccurrences", "cancelledOccurrences"]);

export interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ApiDeps {
  store: Store;
  calendars: Calendars;
  ops: EventOps;
  delta: Delta;
  webhooks: Webhooks;
  baseUrl: () => string;
  pageSize: number;
}

/** `Prefer` header → map (handles quoted values and several comma-separated preferences). */
export function parsePrefer(h: string | string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  const all = Array.isArray(h) ? h.join(",") : h ?? "";
  for (const part of all.match(/(?:[^,"]|"[^"]*")+/g) ?? []) {
    const eq = part.indexOf("=");
    const k = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const v = eq < 0 ? "" : part.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
    if (k) m.set(k, v);
  }
  return m;
}

export function graphApi(d: ApiDeps) {
  const ctxOf = (p: Principal, cal: Calendar, prefer: Map<string, string>, applied: string[]): RenderCtx => {
    const tz = prefer.get("outlook.timezone");
    let zoneName = "UTC";
    let iana = "UTC";
    if (tz !== undefined) {
      const z = ianaOf(tz);
      if (!z) throw E.timeZone(tz);
      zoneName = tz;
      iana = z;
      applied.push(`outlook.timezone="${tz}"`);
    }
    const bodyType = prefer.get("outlook.body-content-type");
    const bodyText = bodyType?.toLowerCase() === "text";
    if (bodyType !== undefined) applied.push(`outlook.body-content-type="${bodyText ? "text" : "html"}"`);
    return { zoneName, iana, bodyText, baseUrl: d.baseUrl(), calendar: cal };
    void p;
  };

  const pageSizeOf = (prefer: Map<string, string>, q: Record<string, string>, applied: string[]): number => {
    const top = q.$top !== undefined ? Number(q.$top) : undefined;
    if (top !== undefined && (!Number.isInteger(top) || top < 1 || top > 1000)) throw E.badRequest("Invalid page size specified.");
    const mp = prefer.get("odata.maxpagesize");
    if (top === undefined && mp !== undefined && Number(mp) > 0) {
      applied.push(`odata.maxpagesize=${Math.min(Number(mp), 1000)}`);
      return Math.min(Number(mp), 1000);
    }
    return top ?? d.pageSize;
  };

  /** $skip-based paging of a computed list (calendars, events, calendarView, instances). */
  const paged = (items: Json[], q: Record<string, string>, size: number, link: string, context: string): Json => {
    const skip = Number(q.$skip ?? 0);
    if (!Number.isInteger(skip) || skip < 0) throw E.badRequest("Invalid $skip value.");
    const body: Json = { "@odata.context": context };
    if (skip + size < items.length) {
      const nq = new URLSearchParams({ ...q, $skip: String(skip + size) });
      if (q.$top === undefined) nq.delete("$top");
      body["@odata.nextLink"] = `${link}?${nq.toString().replace(/%24/g, "$")}`;
    }
    body.value = items.slice(skip, skip + size);
    return body;
  };

  const render = (inst: Instance, ctx: RenderCtx, select: string[] | undefined, ext: string[] | null = null): Json => {
    const out = applySelect(renderInstance(inst, ctx), select);
    if (ext) out.singleValueExtendedProperties = expandedProps((inst.event ?? inst.master!).props, ext);
    return out;
  };

  const windowOf = (q: Record<string, string>): [number, number] => {
    const from = parseQueryDateTime(q.startDateTime);
    const to = parseQueryDateTime(q.endDateTime);
    if (q.startDateTime === undefined || q.endDateTime === undefined) {
      throw new GraphApiError(400, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.");
    }
    if (from === undefined || to === undefined) throw new GraphApiError(400, "ErrorInvalidParameter", "The time window parameters are not valid date-times.");
    return [from, to];
  };

  return function route(method: string, segs: string[], q: Record<string, string>, headers: Record<string, string | string[] | undefined>, p: Principal, body: Json): Answer | Promise<Answer> {
    const prefer = parsePrefer(headers.prefer);
    const applied: string[] = [];
    const api = `${d.baseUrl()}v1.0`;
    const answer = (status: number, b?: unknown): Answer => ({ status, body: b, headers: applied.length ? { "preference-applied": applied.join(", ") } : {} });
    const ctx = (cal: Calendar) => ctxOf(p, cal, prefer, applied);
    const select = parseSelect(q.$select);
    const ext = segs.includes("delta") ? null : expandedIds(q.$expand);

    if (segs[0] === "subscriptions") return d.webhooks.route(method, segs.slice(1), p, body);
    // Delegated permissions: reads need Calendars.Read(Write), writes Calendars.ReadWrite (§9).
    const scopes = new Set(p.scopes.map((s) => s.toLowerCase().replace(/\.shared$/, "")));
    const calendarScope = (): void => {
      if (!scopes.has("calendars.readwrite") && (method !== "GET" || !scopes.has("calendars.read"))) throw E.accessDenied();
    };

    // /me/... or /users/{id}/...
    let rest: string[];
    if (segs[0] === "me") rest = segs.slice(1);
    else if (segs[0] === "users" && segs[1] !== undefined) {
      const who = dec(segs[1]).toLowerCase();
      const acct = d.calendars.account(p.upn);
      if (who !== p.upn.toLowerCase() && who !== acct.oid) throw E.accessDenied();
      rest = segs.slice(2);
    } else throw E.noRoute();
    const me = `${api}/me`;
    const ctxUser = `${api}/$metadata#users('${encodeURIComponent(p.upn)}')`;

    // /me (User.Read) and /me/mailboxSettings[/timeZone] (MailboxSettings.Read): the mailbox zone (recurrence reference §4).
    if (rest.length === 0 && method === "GET") {
      if (!scopes.has("user.read")) throw E.accessDenied("Insufficient privileges to complete the operation.");
      const a = d.calendars.account(p.upn);
      return answer(200, { "@odata.context": `${api}/$metadata#users/$entity`, id: a.oid, displayName: a.displayName, userPrincipalName: a.upn, mail: a.upn, givenName: null, surname: null, preferredLanguage: "en-US" });
    }
    if (rest[0] === "mailboxSettings" && method === "GET" && rest.length <= 2) {
      if (!scopes.has("mailboxsettings.read") && !scopes.has("mailboxsettings.readwrite")) throw E.accessDenied();
      const a = d.calendars.account(p.upn);
      if (rest[1] === "timeZone") return answer(200, { "@odata.context": `${ctxUser}/mailboxSettings/timeZone`, value: a.timeZone });
      if (rest.length === 1) {
        return answer(200, {
          "@odata.context": `${ctxUser}/mailboxSettings`, archiveFolder: "", timeZone: a.timeZone,
          automaticRepliesSetting: { status: "disabled", externalAudience: "all", internalReplyMessage: "", externalReplyMessage: "" },
          dateFormat: "yyyy-MM-dd", timeFormat: "HH:mm", delegateMeetingMessageDeliveryOptions: "sendToDelegateOnly", userPurpose: "user",
          language: { locale: "en-US", displayName: "English (United States)" },
          workingHours: { daysOfWeek: ["monday", "tuesday", "wednesday", "thursday", "friday"], startTime: "08:00:00.0000000", endTime: "17:00:00.0000000", timeZone: { name: a.timeZone } },
        });
      }
    }

    calendarScope();
    // calendars
    if (rest[0] === "calendars" && rest.length === 1 && method === "GET") {
      const items = d.calendars.list(p.upn).map((c) => applySelect(d.calendars.render(c), select));
      return answer(200, paged(items, q, pageSizeOf(prefer, q, applied), `${me}/calendars`, `${api}/$metadata#users('${encodeURIComponent(p.upn)}')/calendars`));
    }
    let cal: Calendar | undefined;
    let sub = rest;
    if (rest[0] === "calendars" && rest[1] !== undefined) {
      cal = d.calendars.get(p.upn, dec(rest[1]));
      sub = rest.slice(2);
    } else if (rest[0] === "calendar") {
      cal = d.calendars.defaultOf(p.upn);
      sub = rest.slice(1);
    } else if (rest[0] === "calendarView" || (rest[0] === "events" && rest.length === 1)) {
      cal = d.calendars.defaultOf(p.upn);
    }
    const calLink = cal ? (rest[0] === "calendars" ? `${me}/calendars/${cal.id}` : rest[0] === "calendar" ? `${me}/calendar` : me) : me;
    if (cal && sub.length === 0 && method === "GET") return answer(200, { "@odata.context": `${api}/$metadata#users('${encodeURIComponent(p.upn)}')/calendars/$entity`, ...applySelect(d.calendars.render(cal), select) });

    if (cal && sub[0] === "calendarView") {
      if (sub[1] === "delta" && sub.length === 2 && method === "GET") {
        const c = ctx(cal);
        const mp = prefer.get("odata.maxpagesize");
        const maxPageSize = mp !== undefined && Number(mp) > 0 ? Math.min(Number(mp), 1000) : undefined;
        const page = d.delta.page(p.upn, cal.id, q, `${calLink}/calendarView/delta`, c, maxPageSize);
        const a = answer(200, page.body);
        const pa = [a.headers?.["preference-applied"], page.headers["preference-applied"]].filter(Boolean).join(", ");
        return { ...a, headers: pa ? { "preference-applied": pa } : {} };
      }
      if (sub.length === 1 && method === "GET") {
        const [from, to] = windowOf(q);
        const c = ctx(cal);
        const at = (i: Instance) => (i.isAllDay ? i.start.at * 86_400_000 : i.start.at);
        const items = d.ops.window(cal.id, from, to).sort((a, b) => at(a) - at(b)).map((i) => render(i, c, select));
        return answer(200, paged(items, q, pageSizeOf(prefer, q, applied), `${calLink}/calendarView`, `${api}/$metadata#Collection(event)`));
      }
    }
    if (cal && sub[0] === "events" && sub.length === 1) {
      if (method === "GET") {
        const c = ctx(cal);
        const wanted = extFilter(q.$filter);
        const items = d.store.calendarEvents(cal.id).filter((e) => e.type !== "exception" && (!wanted || wanted(e.props)))
          .sort((a, b) => a.created - b.created)
          .map((e) => render({ id: e.id, event: e, start: e.start, end: e.end, isAllDay: e.isAllDay }, c, select, ext));
        return answer(200, paged(items, q, pageSizeOf(prefer, q, applied), `${calLink}/events`, `${api}/$metadata#users('${encodeURIComponent(p.upn)}')/events`));
      }
      if (method === "POST") {
        if (!cal.canEdit) throw E.accessDenied();
        const c = ctx(cal);
        const { event } = d.ops.create(p.upn, cal.id, body);
        const inst = d.ops.instanceById(p.upn, event.id)!;
        return answer(201, { "@odata.context": `${api}/$metadata#users('${encodeURIComponent(p.upn)}')/events/$entity`, ...render(inst, c, undefined) });
      }
    }

    // /me/events/{id}[/instances]
    if (rest[0] === "events" && rest[1] !== undefined) {
      const id = dec(rest[1]);
      const inst = d.ops.resolve(p.upn, id);
      const evCal = d.calendars.get(p.upn, (inst.event ?? inst.master!).calendarId);
      const c = ctx(evCal);
      if (rest.length === 2 && method === "GET") {
        const out: Json = { "@odata.context": `${api}/$metadata#users('${encodeURIComponent(p.upn)}')/events/$entity`, ...render(inst, c, select, ext) };
        const master = inst.event?.type === "seriesMaster" ? inst.event : undefined;
        if (select?.includes("cancelledOccurrences")) {
          out.cancelledOccurrences = master ? [...master.cancelled].sort().map((dt) => oid(master.id, dt)) : [];
        }
        const expanded = /(^|,)\s*exceptionOccurrences\b/.test(q.$expand ?? "");
        if (expanded || select?.includes("exceptionOccurrences")) {
          // Expanded items: a nested $select, else the outer one minus series-only fields (as in the sample).
          const nested = /exceptionOccurrences\(\$select=([^)]*)\)/.exec(q.$expand ?? "")?.[1];
          const inner = nested !== undefined ? parseSelect(nested) : select?.filter((s) => !SERIES_ONLY.has(s));
          out.exceptionOccurrences = master
            ? d.store.exceptionsOf(master).sort((a, b) => (a.occurrenceDate! < b.occurrenceDate! ? -1 : 1))
              .map((ex) => {
                const x = render(d.ops.instanceById(p.upn, ex.id)!, c, inner);
                if (inner) delete x["@odata.etag"];
                return x;
              })
            : [];
          if (!expanded) out.exceptionOccurrences = out.exceptionOccurrences.map((x: Json) => ({ id: x.id }));
        }
        return answer(200, out);
      }
      if (rest.length === 2 && method === "PATCH") {
        if (!evCal.canEdit) throw E.accessDenied();
        const ev = d.ops.update(p.upn, id, body, typeof headers["if-match"] === "string" ? headers["if-match"] : undefined);
        return answer(200, { "@odata.context": `${api}/$metadata#users('${encodeURIComponent(p.upn)}')/events/$entity`, ...render(d.ops.instanceById(p.upn, ev.id)!, c, undefined) });
      }
      if (rest.length === 2 && method === "DELETE") {
        if (!evCal.canEdit) throw E.accessDenied();
        d.ops.remove(p.upn, id, typeof headers["if-match"] === "string" ? headers["if-match"] : undefined);
        return { status: 204 };
      }
      if (rest[2] === "instances" && rest.length === 3 && method === "GET") {
        const [from, to] = windowOf(q);
        const master = inst.event?.type === "seriesMaster" ? inst.event : undefined;
        const items = master ? d.ops.instancesOf(master, from, to).map((i) => render(i, c, select, ext)) : [];
        return answer(200, paged(items, q, pageSizeOf(prefer, q, applied), `${me}/events/${id}/instances`, `${api}/$metadata#Collection(event)`));
      }
    }
    throw E.noRoute();
  };
}
