/**
 * calendarView delta (reference §2, §11.1–3): a round = initial request with the window, then
 * `@odata.nextLink` ($skiptoken) pages — ragged and possibly empty — until a page with
 * `@odata.deltaLink` ($deltatoken); never both links. The window and the client's known state are
 * kept behind the opaque token. Later rounds: changed items (occurrences skeletal, exceptions and
 * singles full, masters never), `@removed {reason: deleted}` for items that left the window or were
 * deleted AND for events changed outside the window; duplicates happen. A cancelled single
 * occurrence is not reported unless `reportCancelledOccurrences` (historically unreliable, §2).
 */
import { E, GraphApiError } from "./errors.ts";
import type { EventOps } from "./events.ts";
import { applySelect, etagOf, renderInstance, skeletal, type Instance, type RenderCtx } from "./render.ts";
import { parseId, type Json, type Store } from "./store.ts";
import { b64url, parseQueryDateTime as parseQuery, randomBytes } from "./util.ts";

export type ResetHow = "410" | "syncStateNotFound" | "resyncRequired";

interface DeltaState {
  upn: string;
  calendarId: string;
  from: number;
  to: number;
  known: Map<string, string>; // id → etag the client holds
  seq: number;
  failWith?: ResetHow;
  initialQuery: string;
}
interface Entry { id: string; removed: boolean }
interface Round { state: DeltaState; entries: Entry[]; next: DeltaState; failWith?: ResetHow }
type Token = { kind: "skip"; round: Round; offset: number; pageNo: number; lastServed?: string } | { kind: "delta"; state: DeltaState };

export interface DeltaPage {
  body: Json;
  headers: Record<string, string>;
}

export class Delta {
  private readonly tokens = new Map<string, Token>();

  constructor(
    private readonly store: Store,
    private readonly ops: EventOps,
    private readonly opts: { pageSize: number; raggedPages: boolean; reportCancelledOccurrences: boolean },
  ) {}

  private token(t: Token, prefix: string): string {
    const s = prefix + b64url(randomBytes(this.store.rng, 24));
    this.tokens.set(s, t);
    return s;
  }

  /** Every token handed out so far (for that calendar) now fails with `how`. */
  reset(calendarId: string | undefined, how: ResetHow): void {
    for (const t of this.tokens.values()) {
      const st = t.kind === "delta" ? t.state : t.round.state;
      if (calendarId === undefined || st.calendarId === calendarId) {
        if (t.kind === "delta") t.state.failWith = how;
        else t.round.failWith = how;
      }
    }
  }

  private fail(how: ResetHow, st: DeltaState, linkBase: string): GraphApiError {
    const location = `${linkBase}?${st.initialQuery}`;
    if (how === "410") return E.deltaReset(410, "syncStateNotFound", location);
    if (how === "resyncRequired") return E.deltaReset(410, "resyncRequired", location);
    return E.deltaReset(400, "syncStateNotFound");
  }

  private current(st: { calendarId: string; from: number; to: number }): Map<string, Instance> {
    const m = new Map<string, Instance>();
    for (const i of this.ops.window(st.calendarId, st.from, st.to)) m.set(i.id, i);
    return m;
  }
  private static etag(i: Instance): string {
    return etagOf((i.event ?? i.master!).changeKey);
  }

  /**
   * One page. `q` is the query; `linkBase` the absolute https URL of this delta resource (links
   * point back at the emulator, reference §10); `maxPageSize` from `Prefer: odata.maxpagesize`.
   */
  page(upn: string, calendarId: string, q: Record<string, string>, linkBase: string, ctx: RenderCtx, maxPageSize: number | undefined): DeltaPage {
    for (const k of ["$select", "$expand", "$filter", "$orderby", "$search"]) {
      if (q[k] !== undefined) throw E.invalidRequest(`The query parameter '${k}' is not supported with change tracking over the 'CalendarView' resource.`);
    }
    const skip = q.$skiptoken;
    const delta = q.$deltatoken;
    let tok: Token | undefined;
    if (skip !== undefined) {
      tok = this.tokens.get(skip);
      if (!tok || tok.kind !== "skip") throw E.deltaReset(400, "syncStateNotFound");
    } else if (delta !== undefined && delta !== "") {
      const t = this.tokens.get(delta);
      if (!t || t.kind !== "delta") throw E.deltaReset(400, "syncStateNotFound");
      if (t.state.failWith) throw this.fail(t.state.failWith, t.state, linkBase);
      tok = { kind: "skip", round: this.laterRound(t.state), offset: 0, pageNo: 0 };
    } else {
      tok = { kind: "skip", round: this.initialRound(upn, calendarId, q), offset: 0, pageNo: 0 };
    }
    const round = tok.round;
    if (round.state.upn !== upn || round.state.calendarId !== calendarId) throw E.deltaReset(400, "syncStateNotFound");
    if (round.failWith) throw this.fail(round.failWith, round.state, linkBase);

    const n = maxPageSize ?? this.opts.pageSize;
    const remaining = round.entries.length - tok.offset;
    let size = Math.min(n, remaining);
    if (this.opts.raggedPages && remaining > 0) {
      // Ragged: the second page of a multi-page round is always empty, later ones sometimes.
      const r = this.store.rng();
      size = tok.pageNo === 1 || r < 0.15 ? 0 : Math.min(remaining, 1 + Math.floor(this.store.rng() * n));
    }
    const slice = round.entries.slice(tok.offset, tok.offset + size);
    // Duplicates are allowed (§2): sometimes repeat the item that ended the previous page.
    if (this.opts.raggedPages && size > 0 && tok.lastServed && this.store.rng() < 0.15) slice.unshift({ id: tok.lastServed, removed: false });
    const value = slice.map((e) => this.render(upn, e, ctx));
    const offset = tok.offset + size;
    const headers: Record<string, string> = maxPageSize !== undefined ? { "preference-applied": `odata.maxpagesize=${maxPageSize}` } : {};
    const body: Json = { "@odata.context": `${linkBase.replace(/\/me\/.*$/, "")}/$metadata#Collection(event)` };
    if (offset < round.entries.length || (size === 0 && remaining > 0)) {
      const last = slice.filter((e) => !e.removed).pop()?.id ?? tok.lastServed;
      body["@odata.nextLink"] = `${linkBase}?$skiptoken=${this.token({ kind: "skip", round, offset, pageNo: tok.pageNo + 1, ...(last ? { lastServed: last } : {}) }, "R0usmcCM")}`;
    } else {
      body["@odata.deltaLink"] = `${linkBase}?$deltatoken=${this.token({ kind: "delta", state: round.next }, "R0usmcMD")}`;
    }
    body.value = value;
    return { body, headers };
  }

  private render(upn: string, e: Entry, ctx: RenderCtx): Json {
    const removed = { "@odata.type": "#microsoft.graph.event", id: e.id, "@removed": { reason: "deleted" } };
    if (e.removed) return removed;
    const inst = this.ops.instanceById(upn, e.id);
    if (!inst) return removed;
    if (!inst.event) return skeletal(inst, ctx);
    return { "@odata.type": "#microsoft.graph.event", ...applySelect(renderInstance(inst, ctx), undefined) };
  }

  private initialRound(upn: string, calendarId: string, q: Record<string, string>): Round {
    const from = parseWindow(q.startDateTime, "startDateTime");
    const to = parseWindow(q.endDateTime, "endDateTime");
    if (to <= from) throw E.invalidRequest("The EndDateTime must be later than the StartDateTime.");
    const initialQuery = `startDateTime=${encodeURIComponent(q.startDateTime!)}&endDateTime=${encodeURIComponent(q.endDateTime!)}`;
    const state: DeltaState = { upn, calendarId, from, to, known: new Map(), seq: this.store.seq, initialQuery };
    const cur = this.current(state);
    const next: DeltaState = { ...state, known: new Map([...cur].map(([id, i]) => [id, Delta.etag(i)])) };
    return { state, entries: [...cur.keys()].map((id) => ({ id, removed: false })), next };
  }

  private laterRound(st: DeltaState): Round {
    const cur = this.current(st);
    const entries: Entry[] = [];
    const seen = new Set<string>();
    for (const [id, i] of cur) {
      if (st.known.get(id) !== Delta.etag(i)) {
        entries.push({ id, removed: false });
        seen.add(id);
      }
    }
    const known = new Map([...cur].map(([id, i]) => [id, Delta.etag(i)]));
    for (const id of st.known.keys()) {
      if (cur.has(id)) continue;
      const p = parseId(id, st.upn);
      if (p?.kind === "occurrence" && !this.opts.reportCancelledOccurrences) {
        const master = this.store.events.get(p.masterId);
        if (master && master.cancelled.has(p.date)) continue; // not reported (§2); the client never learns
      }
      entries.push({ id, removed: true });
      seen.add(id);
    }
    // Events changed since the last round but outside the window: @removed too (§2).
    const touched = [
      ...[...this.store.events.values()].filter((e) => e.calendarId === st.calendarId && e.seq > st.seq).map((e) => e.id),
      ...[...this.store.tombstones.values()].filter((t) => t.calendarId === st.calendarId && t.seq > st.seq).map((t) => t.id),
    ];
    for (const id of touched) {
      if (seen.has(id) || cur.has(id)) continue;
      const ev = this.store.events.get(id);
      if (ev?.type === "seriesMaster" && [...cur.values()].some((i) => i.master?.id === id)) continue;
      entries.push({ id, removed: true });
      seen.add(id);
    }
    return { state: st, entries, next: { ...st, known, seq: this.store.seq, failWith: undefined } };
  }
}

function parseWindow(v: string | undefined, name: string): number {
  if (v === undefined) {
    throw new GraphApiError(400, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.");
  }
  const t = parseQuery(v);
  if (t === undefined) throw new GraphApiError(400, "ErrorInvalidParameter", `The parameter '${name}' does not have a valid value.`);
  return t;
}

