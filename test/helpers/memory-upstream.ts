/**
 * An in-memory reference upstream ("provider") and its SourceAdapter, for the SourceAdapter contract
 * suite and the model-based test of the sync engine. Deterministic: no clock, no randomness, no timers.
 *
 * The provider:
 *  - calendars with opaque ids; items keyed by an opaque id derived from the name they were created
 *    under (so `locate(name)` finds a create whose confirmation was lost), each with an ETag that
 *    changes on every write (a per-upstream counter: "e1", "e2" ...);
 *  - a change log per calendar (one entry per item, latest change wins, deletions kept as
 *    tombstones, like a CalDAV server's sync-collection): `pull(cursor)` returns the changes since the
 *    cursor in pages of `pageSize`; a null, unknown or expired cursor answers a full listing
 *    (`full: true`, `listed` on the last page), after which changes made during the listing follow
 *    incrementally;
 *  - writes are never blind: create (ref null) refuses to overwrite (412), update and remove use
 *    If-Match, an ETag of null is refused as Permanent; removing what is already gone is fine.
 *
 * Around it, for tests:
 *  - `other`: a second client editing the upstream directly (someone in Google / Radicale);
 *  - `items()` / `item()`: inspect everything upstream;
 *  - faults, queued per operation (and optionally calendar / item / name), consumed in order: typed
 *    failures (Transient, RateLimited, AuthRequired, Permanent, 412), apply-then-fail (stored, the
 *    answer is lost), rewrite (stored differently under a new ETag, like Radicale 3.1.8 cutting
 *    "SUMMARY:Lunch, with Bob" to "SUMMARY:Lunch"; reported as stored "changed" with the read-back
 *    text, or, with `lie`, as "as-sent" like an adapter that does not read back), drop (answered with
 *    success, nothing stored; reported as "dropped"), a calendar omitted from one listing, and holds:
 *    a call parks until the test releases it (before the upstream processes it, or after, with the
 *    answer held back), optionally released with a different outcome;
 *  - `nullEtags`: the provider gives no ETag in pulls/listings ("pull"), or nowhere ("all");
 *  - `expireCursors()`: the next pull from any older cursor answers a full listing (or throws
 *    CursorExpired with `cursorExpiry: "throw"`);
 *  - request counts, per operation, and a log of every call with its outcome (for counterexamples).
 */
import {
  AuthRequired, CursorExpired, NotFoundUpstream, Permanent, PreconditionFailedUpstream, RateLimited, Transient,
  type Cursor, type PullPage, type RemoteCalendar, type RemoteChange, type RemoteRef, type SourceAdapter, type SourceCaps, type SourceContext, type Written,
} from "../../src/sources/adapter.ts";

export type Op = "listCalendars" | "pull" | "get" | "locate" | "write" | "remove";
export const OPS: readonly Op[] = ["listCalendars", "pull", "get", "locate", "write", "remove"];

/** What an upstream call does instead of (or besides) its normal processing. */
export type FaultAction =
  /** 5xx / network error before anything is processed. */
  | { readonly kind: "transient"; readonly status?: number | null; readonly retryAfterMs?: number | null }
  | { readonly kind: "rate-limited"; readonly retryAfterMs?: number }
  | { readonly kind: "auth" }
  /** A refusal for good (4xx): nothing stored. */
  | { readonly kind: "permanent"; readonly status?: number }
  /** 412 without looking: nothing stored. */
  | { readonly kind: "precondition" }
  /** The upstream processes the call (stores the write / deletes), then the answer is lost (Transient). */
  | { readonly kind: "apply-then-fail" }
  /** write: the upstream stores `transform(ics)` (default: SUMMARY cut at its first comma) under a new ETag. */
  | { readonly kind: "rewrite"; readonly transform?: (ics: string) => string; readonly lie?: boolean }
  /** write: success answered, nothing stored (the adapter reads back and reports "dropped"). */
  | { readonly kind: "drop" }
  /** listCalendars: leave this calendar out of the answer. */
  | { readonly kind: "omit-calendar"; readonly calendar: string }
  /** Park the call until `hold.release()`; `when: "after"` processes it first and holds back the answer. */
  | { readonly kind: "hold"; readonly hold: Hold; readonly when?: "before" | "after" };

export interface FaultRule {
  readonly op: Op | readonly Op[] | "any";
  readonly action: FaultAction;
  /** Only calls on this calendar id. */
  readonly calendar?: string;
  /** Only calls on this item id (write with a ref, remove, get; write without ref: the id its name maps to). */
  readonly id?: string;
  /** Only writes / locates of this name. */
  readonly name?: string;
  /** How many matching calls it hits (default 1; Infinity for "until cleared"). */
  readonly times?: number;
}

/** Default rewrite: Radicale 3.1.8 keeps "SUMMARY:Lunch, with Bob" as "SUMMARY:Lunch". */
export function truncateSummaryAtComma(ics: string): string {
  return ics.replace(/^(SUMMARY(?:;[^:\r\n]*)?:)([^\r\n]*)$/m, (_m, head: string, value: string) => {
    const i = value.search(/(?<!\\),/);
    return i < 0 ? head + value : head + value.slice(0, i);
  });
}

/**
 * A deferred the test resolves. `reached` resolves once a call is parked on it. `release(outcome)`
 * lets the call go on normally, or, with an outcome, makes it behave as that fault at release time
 * (for a "before" hold: e.g. a 412 without storing; for an "after" hold: any failure means the change
 * was stored and its answer lost).
 */
export class Hold {
  private parkedResolve!: () => void;
  readonly reached: Promise<void> = new Promise((r) => (this.parkedResolve = r));
  private releaseResolve: ((o: FaultAction | null) => void) | null = null;
  private pendingRelease: { outcome: FaultAction | null } | null = null;
  isReached = false;
  isReleased = false;
  /** What was parked ("write e1 item:a.ics" ...), for logs. */
  label: string | null = null;

  constructor(readonly name = "hold") {}

  /** @internal: parks the caller; resolves with the outcome chosen at release. */
  park(label: string, signal: AbortSignal | null): Promise<FaultAction | null> {
    this.isReached = true;
    this.label = label;
    this.parkedResolve();
    return new Promise<FaultAction | null>((resolve, reject) => {
      if (this.pendingRelease) return resolve(this.pendingRelease.outcome);
      const onAbort = (): void => {
        this.isReleased = true;
        reject(new Transient(`request aborted while held (${this.name}: ${label})`));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.releaseResolve = (o) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(o);
      };
    });
  }

  release(outcome: FaultAction | null = null): void {
    if (this.isReleased) return;
    this.isReleased = true;
    if (this.releaseResolve) this.releaseResolve(outcome);
    else this.pendingRelease = { outcome };
  }
}

export interface UpstreamItem {
  readonly id: string;
  /** The name it was created under (the nameHint pulls give). */
  readonly name: string;
  readonly etag: string;
  readonly ics: string;
}

interface CalState {
  meta: { id: string; nameHint: string; displayname: string | null; color: string | null; description: string | null; components: string[]; writable: boolean };
  items: Map<string, UpstreamItem>;
  /** id → last change (seq, deleted). */
  changes: Map<string, { seq: number; deleted: boolean }>;
  seq: number;
  /** Cursors from an older epoch are expired. */
  epoch: number;
}

export interface CallRecord {
  readonly n: number;
  readonly adapter: number;
  readonly op: Op;
  readonly calendar: string | null;
  readonly target: string | null;
  fault: string | null;
  outcome: string;
}

/** One change of the upstream's content, by whom. `sent` is what an adapter write carried (before any rewrite). */
export interface HistoryEntry {
  readonly n: number;
  readonly calendar: string;
  readonly id: string;
  readonly by: "adapter" | "other";
  readonly op: "put" | "delete";
  readonly sent: string | null;
  /** What the upstream holds for `id` after this change (null: deleted). */
  readonly stored: string | null;
  readonly etag: string | null;
}

export interface MemoryUpstreamOptions {
  /** Changes per pull page (default 50). */
  readonly pageSize?: number;
  /** What a pull from an expired cursor does: answer a full listing (default) or throw CursorExpired. */
  readonly cursorExpiry?: "full" | "throw";
  /** Initial calendars (ids); default one calendar "cal1". */
  readonly calendars?: readonly string[];
}

/** The id an item created under `name` gets (opaque to the engine). */
export function idForName(name: string): string {
  return `item:${name}`;
}

export class MemoryUpstream {
  private readonly cals = new Map<string, CalState>();
  private etagCounter = 0;
  private adapterCounter = 0;
  private rules: (FaultRule & { left: number })[] = [];
  readonly pageSize: number;
  readonly cursorExpiry: "full" | "throw";
  /** "pull": no ETags in pulls and listings; "all": none anywhere (get, locate, write answers too). */
  nullEtags: false | "pull" | "all" = false;
  requests = 0;
  readonly requestsBy: Record<Op, number> = { listCalendars: 0, pull: 0, get: 0, locate: 0, write: 0, remove: 0 };
  readonly calls: CallRecord[] = [];
  /** Every hold created through `hold()` (released or not). */
  readonly holds: Hold[] = [];
  /** Every content change, in order (adapter writes and removes, the other client's edits). */
  readonly history: HistoryEntry[] = [];
  /** Adapter calls started and not yet answered, not counting those parked on a hold. */
  active = 0;

  constructor(opts: MemoryUpstreamOptions = {}) {
    this.pageSize = opts.pageSize ?? 50;
    this.cursorExpiry = opts.cursorExpiry ?? "full";
    for (const id of opts.calendars ?? ["cal1"]) this.addCalendar(id);
  }

  // --- calendars -------------------------------------------------------------------------------

  addCalendar(id: string, props: Partial<CalState["meta"]> = {}): void {
    if (this.cals.has(id)) throw new Error(`calendar ${id} exists`);
    this.cals.set(id, {
      meta: { id, nameHint: props.nameHint ?? id, displayname: props.displayname ?? id, color: props.color ?? null, description: props.description ?? null, components: props.components ?? ["VEVENT", "VTODO"], writable: props.writable ?? true },
      items: new Map(),
      changes: new Map(),
      seq: 0,
      epoch: 0,
    });
  }
  removeCalendar(id: string): void {
    this.cals.delete(id);
  }
  renameCalendar(id: string, displayname: string): void {
    const c = this.cal(id);
    c.meta.displayname = displayname;
    c.seq++; // a listing change moves the calendar's version
  }
  calendarIds(): string[] {
    return [...this.cals.keys()];
  }
  remoteCalendar(id: string): RemoteCalendar {
    const c = this.cal(id);
    return { ...c.meta, components: [...c.meta.components], version: `v${c.epoch}.${c.seq}` };
  }

  private cal(id: string): CalState {
    const c = this.cals.get(id);
    if (!c) throw new Error(`no calendar ${id} upstream`);
    return c;
  }

  // --- inspection and the other client ---------------------------------------------------------

  /** Every item of a calendar, by id. */
  items(calendar: string): Map<string, UpstreamItem> {
    return new Map(this.cal(calendar).items);
  }
  item(calendar: string, id: string): UpstreamItem | null {
    return this.cal(calendar).items.get(id) ?? null;
  }
  itemByName(calendar: string, name: string): UpstreamItem | null {
    return this.item(calendar, idForName(name));
  }

  /** A second client editing the upstream directly (never counted as a request, never faulted). */
  readonly other = {
    /** Create or overwrite (blindly) the item named `name`. */
    put: (calendar: string, name: string, ics: string): UpstreamItem => this.store(this.cal(calendar), idForName(name), name, ics, "other"),
    /** Overwrite an existing item by id. */
    edit: (calendar: string, id: string, ics: string): UpstreamItem => {
      const c = this.cal(calendar);
      const cur = c.items.get(id);
      if (!cur) throw new Error(`no item ${id} in ${calendar}`);
      return this.store(c, id, cur.name, ics, "other");
    },
    /** Create an item under an id not derived from a name (as Google / Graph choose ids). */
    createWithId: (calendar: string, id: string, name: string, ics: string): UpstreamItem => this.store(this.cal(calendar), id, name, ics, "other"),
    remove: (calendar: string, id: string): boolean => this.erase(this.cal(calendar), id, "other"),
    removeByName: (calendar: string, name: string): boolean => this.erase(this.cal(calendar), idForName(name), "other"),
  };

  private nextEtag(): string {
    return `"e${++this.etagCounter}"`;
  }
  private store(c: CalState, id: string, name: string, ics: string, by: "adapter" | "other", sent: string | null = null): UpstreamItem {
    const item = { id, name, etag: this.nextEtag(), ics };
    c.items.set(id, item);
    c.changes.set(id, { seq: ++c.seq, deleted: false });
    this.history.push({ n: this.history.length + 1, calendar: c.meta.id, id, by, op: "put", sent: by === "adapter" ? sent : ics, stored: ics, etag: item.etag });
    return item;
  }
  private erase(c: CalState, id: string, by: "adapter" | "other"): boolean {
    if (!c.items.delete(id)) return false;
    c.changes.set(id, { seq: ++c.seq, deleted: true });
    this.history.push({ n: this.history.length + 1, calendar: c.meta.id, id, by, op: "delete", sent: null, stored: null, etag: null });
    return true;
  }

  /** Every cursor issued so far (for one calendar, or all) is expired: the next pull lists everything. */
  expireCursors(calendar?: string): void {
    for (const [id, c] of this.cals) {
      if (calendar === undefined || id === calendar) {
        c.epoch++;
      }
    }
  }

  // --- faults ------------------------------------------------------------------------------------

  fault(rule: FaultRule): void {
    this.rules.push({ ...rule, left: rule.times ?? 1 });
  }
  /** Shorthand: the next matching call of `op` does `action`. */
  next(op: Op | readonly Op[] | "any", action: FaultAction, match: Omit<FaultRule, "op" | "action"> = {}): void {
    this.fault({ op, action, ...match });
  }
  /** A new hold for the next matching call of `op`; returns it (await `.reached`, then `.release()`). */
  hold(op: Op | readonly Op[] | "any", match: Omit<FaultRule, "op" | "action"> & { when?: "before" | "after"; name?: string } = {}, label = "hold"): Hold {
    const h = new Hold(label);
    this.holds.push(h);
    const { when, ...rest } = match;
    this.fault({ op, action: { kind: "hold", hold: h, when: when ?? "before" }, ...rest });
    return h;
  }
  /** Drops every queued fault (holds already parked stay parked until released). */
  clearFaults(): void {
    this.rules = [];
  }
  pendingFaults(): readonly FaultRule[] {
    return this.rules.filter((r) => r.left > 0);
  }
  /** Releases every hold (parked or not yet reached) with its normal outcome. */
  releaseAll(): void {
    for (const h of this.holds) h.release();
  }
  /** Holds a call is parked on right now. */
  parked(): Hold[] {
    return this.holds.filter((h) => h.isReached && !h.isReleased);
  }

  /** @internal: the fault for this call, if any (consumed). */
  take(op: Op, calendar: string | null, id: string | null, name: string | null): FaultAction | null {
    for (const r of this.rules) {
      if (r.left <= 0) continue;
      if (r.op !== "any" && (typeof r.op === "string" ? r.op !== op : !r.op.includes(op))) continue;
      if (r.calendar !== undefined && r.calendar !== calendar) continue;
      if (r.id !== undefined && r.id !== id) continue;
      if (r.name !== undefined && r.name !== name) continue;
      if (r.action.kind === "omit-calendar" && op !== "listCalendars") continue;
      if ((r.action.kind === "rewrite" || r.action.kind === "drop") && op !== "write") continue;
      r.left--;
      this.rules = this.rules.filter((x) => x.left > 0);
      return r.action;
    }
    return null;
  }

  // --- the adapter -------------------------------------------------------------------------------

  /** A new SourceAdapter over this upstream (one per process / composition root; requests counted per adapter too). */
  adapter(): MemoryAdapter {
    return new MemoryAdapter(this, ++this.adapterCounter);
  }

  /** @internal */
  record(adapter: number, op: Op, calendar: string | null, target: string | null): CallRecord {
    this.requests++;
    this.requestsBy[op]++;
    const rec: CallRecord = { n: this.calls.length + 1, adapter, op, calendar, target, fault: null, outcome: "…" };
    this.calls.push(rec);
    return rec;
  }

  /** @internal: the provider's answers, without faults. */
  readonly serve = {
    list: (omit: ReadonlySet<string>): RemoteCalendar[] => [...this.cals.keys()].filter((id) => !omit.has(id)).map((id) => this.remoteCalendar(id)),
    pull: (calendar: string, cursor: Cursor | null): PullPage => this.pullPage(this.calOrGone(calendar), cursor),
    get: (calendar: string, id: string): { ref: RemoteRef; ics: string } | null => {
      const it = this.calOrGone(calendar).items.get(id);
      return it ? { ref: { id: it.id, etag: this.nullEtags === "all" ? null : it.etag }, ics: it.ics } : null;
    },
    write: (calendar: string, item: { name: string; ref: RemoteRef | null; ics: string }, how: { transform?: (ics: string) => string; lie?: boolean; drop?: boolean }): Written => {
      const c = this.calOrGone(calendar);
      if (!c.meta.writable) throw new Permanent(`calendar ${calendar} is read-only`, 403);
      let id: string;
      let name = item.name;
      if (item.ref === null) {
        id = idForName(item.name);
        if (c.items.has(id)) throw new PreconditionFailedUpstream(`create of ${item.name}: ${id} exists (If-None-Match: *)`, 412);
      } else {
        if (item.ref.etag === null) throw new Permanent(`update of ${item.ref.id} without an ETag refused: writes are never blind`);
        const cur = c.items.get(item.ref.id);
        if (!cur) throw new PreconditionFailedUpstream(`update of ${item.ref.id}: it no longer exists (If-Match ${item.ref.etag})`, 412);
        if (cur.etag !== item.ref.etag) throw new PreconditionFailedUpstream(`update of ${item.ref.id}: If-Match ${item.ref.etag}, current ${cur.etag}`, 412);
        id = cur.id;
        name = cur.name;
      }
      const etagOut = (e: string): string | null => (this.nullEtags === "all" ? null : e);
      if (how.drop) {
        const cur = c.items.get(id) ?? null;
        return { ref: cur ? { id, etag: etagOut(cur.etag) } : null, stored: "dropped", ics: cur?.ics ?? null, why: "the upstream answered with success but kept its previous version" };
      }
      const text = how.transform ? how.transform(item.ics) : item.ics;
      const stored = this.store(c, id, name, text, "adapter", item.ics);
      const ref = { id, etag: etagOut(stored.etag) };
      if (text === item.ics || how.lie) return { ref, stored: "as-sent" };
      return { ref, stored: "changed", ics: text };
    },
    remove: (calendar: string, ref: RemoteRef): void => {
      const c = this.calOrGone(calendar);
      if (!c.meta.writable) throw new Permanent(`calendar ${calendar} is read-only`, 403);
      if (ref.etag === null) throw new Permanent(`delete of ${ref.id} without an ETag refused: deletes are never blind`);
      const cur = c.items.get(ref.id);
      if (!cur) return; // already gone
      if (cur.etag !== ref.etag) throw new PreconditionFailedUpstream(`delete of ${ref.id}: If-Match ${ref.etag}, current ${cur.etag}`, 412);
      this.erase(c, ref.id, "adapter");
    },
  };

  private calOrGone(id: string): CalState {
    const c = this.cals.get(id);
    if (!c) throw new NotFoundUpstream(`calendar ${id} does not exist upstream`, 404);
    return c;
  }

  private pullPage(c: CalState, cursor: Cursor | null): PullPage {
    const parsed = cursor === null ? null : parseCursor(cursor);
    let note: string | undefined;
    if (cursor !== null && (parsed === null || parsed.epoch !== c.epoch)) {
      if (this.cursorExpiry === "throw") throw new CursorExpired(`cursor ${cursor} is no longer valid`, 410);
      note = parsed === null ? "unknown cursor: full listing" : "cursor expired: full listing";
    }
    const etagOf = (it: UpstreamItem): string | null => (this.nullEtags ? null : it.etag);
    const upsert = (it: UpstreamItem): RemoteChange => ({ kind: "upsert", ref: { id: it.id, etag: etagOf(it) }, ics: it.ics, nameHint: it.name });
    if (parsed !== null && parsed.epoch === c.epoch && parsed.mode === "I") {
      const after = [...c.changes].filter(([, ch]) => ch.seq > parsed.seq).sort((a, b) => a[1].seq - b[1].seq);
      const page = after.slice(0, this.pageSize);
      const changes: RemoteChange[] = page.map(([id, ch]) => (ch.deleted ? { kind: "delete", id } : upsert(c.items.get(id)!)));
      const last = page.length ? page[page.length - 1]![1].seq : parsed.seq;
      return { changes, next: `m1:${c.epoch}:I:${last}`, done: after.length <= this.pageSize, full: false };
    }
    // Full listing (fresh, or continuing one): items by id after `afterId`; changes made meanwhile follow from `snap`.
    const snap = parsed !== null && parsed.epoch === c.epoch && parsed.mode === "F" ? parsed.seq : c.seq;
    const afterId = parsed !== null && parsed.epoch === c.epoch && parsed.mode === "F" ? parsed.afterId : null;
    const ids = [...c.items.keys()].sort().filter((id) => afterId === null || id > afterId);
    const page = ids.slice(0, this.pageSize);
    const done = ids.length <= this.pageSize;
    const changes = page.map((id) => upsert(c.items.get(id)!));
    if (!done) return { changes, next: `m1:${c.epoch}:F:${snap}:${encodeURIComponent(page[page.length - 1]!)}`, done: false, full: true, ...(note ? { note } : {}) };
    const listed = new Map([...c.items.values()].map((it) => [it.id, etagOf(it)] as const));
    return { changes, next: `m1:${c.epoch}:I:${snap}`, done: true, full: true, listed, ...(note ? { note } : {}) };
  }
}

function parseCursor(s: string): { epoch: number; mode: "I"; seq: number } | { epoch: number; mode: "F"; seq: number; afterId: string } | null {
  const m = /^m1:(\d+):(I):(\d+)$/.exec(s) ?? /^m1:(\d+):(F):(\d+):(.*)$/.exec(s);
  if (!m) return null;
  if (m[2] === "I") return { epoch: Number(m[1]), mode: "I", seq: Number(m[3]) };
  return { epoch: Number(m[1]), mode: "F", seq: Number(m[3]), afterId: decodeURIComponent(m[4]!) };
}

function describeFault(a: FaultAction): string {
  if (a.kind === "hold") return `hold(${a.hold.name},${a.when ?? "before"})`;
  if (a.kind === "omit-calendar") return `omit(${a.calendar})`;
  if (a.kind === "rewrite") return a.lie ? "rewrite(lie)" : "rewrite";
  return a.kind;
}

function describeResult(v: unknown): string {
  if (v === undefined || v === null) return "ok";
  if (Array.isArray(v)) return `ok ${v.length} calendars`;
  const o = v as Record<string, unknown>;
  if ("stored" in o) return `ok stored=${String(o.stored)} etag=${(o.ref as RemoteRef | null)?.etag ?? "null"}`;
  if ("changes" in o) return `ok ${(o.changes as unknown[]).length} changes${o.full ? " (full)" : ""} next=${String(o.next)}`;
  if ("ref" in o) return `ok etag=${(o.ref as RemoteRef).etag ?? "null"}`;
  return "ok";
}

function errorFor(a: FaultAction, what: string): Error | null {
  switch (a.kind) {
    case "transient":
      return new Transient(`injected: ${what} failed (${a.status ?? "network"})`, a.status ?? null, a.retryAfterMs ?? null);
    case "rate-limited":
      return new RateLimited(`injected: ${what} rate-limited`, a.retryAfterMs ?? 1000);
    case "auth":
      return new AuthRequired(`injected: ${what} needs authentication`, 401);
    case "permanent":
      return new Permanent(`injected: ${what} refused`, a.status ?? 403);
    case "precondition":
      return new PreconditionFailedUpstream(`injected: ${what}: 412`, 412);
    default:
      return null;
  }
}

/** The honest adapter: reports rewrites ("changed", read back) and drops, unless a fault says to lie. */
export class MemoryAdapter implements SourceAdapter {
  readonly caps: SourceCaps = { write: true, remove: true, incremental: true, push: false, calendarWrite: false };
  private count = 0;

  constructor(readonly upstream: MemoryUpstream, readonly no: number) {}

  get requests(): number {
    return this.count;
  }

  /**
   * One upstream call: count it, take its fault, park on a hold if asked, then process it.
   * `run(how)` does the provider's work; `how` carries write-only variations (rewrite / drop).
   */
  private async call<T>(op: Op, ctx: SourceContext, calendar: string | null, id: string | null, name: string | null, run: (how: { transform?: (ics: string) => string; lie?: boolean; drop?: boolean; omit?: string }) => T): Promise<T> {
    this.count++;
    const rec = this.upstream.record(this.no, op, calendar, id ?? name);
    const up = this.upstream;
    up.active++;
    const park = async (h: Hold, label: string): Promise<FaultAction | null> => {
      up.active--;
      try {
        return await h.park(label, ctx.signal);
      } finally {
        up.active++;
      }
    };
    // Answer in a later microtask, like any I/O: callers must not rely on synchronous answers.
    await Promise.resolve();
    try {
      if (ctx.signal.aborted) throw new Transient(`aborted: ${String((ctx.signal.reason as Error | undefined)?.message ?? ctx.signal.reason)}`);
      let action = this.upstream.take(op, calendar, id, name);
      rec.fault = action ? describeFault(action) : null;
      const what = `${op} ${calendar ?? ""}${id ? ` ${id}` : name ? ` ${name}` : ""}`;
      let heldAfter: { hold: Hold } | null = null;
      if (action?.kind === "hold") {
        if ((action.when ?? "before") === "before") {
          action = await park(action.hold, what);
          if (action) rec.fault += `→${describeFault(action)}`;
        } else {
          heldAfter = { hold: action.hold };
          action = null;
        }
      }
      const err = action ? errorFor(action, what) : null;
      if (err) throw err;
      const how = {
        ...(action?.kind === "rewrite" ? { transform: action.transform ?? truncateSummaryAtComma, lie: action.lie ?? false } : {}),
        ...(action?.kind === "drop" ? { drop: true } : {}),
        ...(action?.kind === "omit-calendar" ? { omit: action.calendar } : {}),
      };
      const result = run(how);
      if (action?.kind === "apply-then-fail") throw new Transient(`injected: ${what}: processed upstream, answer lost`);
      if (heldAfter) {
        const late = await park(heldAfter.hold, what).catch((e: Error) => {
          throw new Transient(`${e.message}; processed upstream, answer lost`);
        });
        if (late) {
          // Processed upstream already: whatever the release says, the answer is lost.
          rec.fault += `→${describeFault(late)}`;
          throw new Transient(`injected: ${what}: processed upstream, answer lost (${describeFault(late)})`);
        }
      }
      rec.outcome = describeResult(result);
      return result;
    } catch (e) {
      rec.outcome = `${(e as Error).name}: ${(e as Error).message}`;
      throw e;
    } finally {
      up.active--;
    }
  }

  listCalendars(ctx: SourceContext): Promise<RemoteCalendar[]> {
    return this.call("listCalendars", ctx, null, null, null, (how) => this.upstream.serve.list(new Set(how.omit ? [how.omit] : [])));
  }
  pull(cal: RemoteCalendar, cursor: Cursor | null, ctx: SourceContext): Promise<PullPage> {
    return this.call("pull", ctx, cal.id, null, null, () => this.upstream.serve.pull(cal.id, cursor));
  }
  get(cal: RemoteCalendar, id: string, ctx: SourceContext): Promise<{ ref: RemoteRef; ics: string } | null> {
    return this.call("get", ctx, cal.id, id, null, () => this.upstream.serve.get(cal.id, id));
  }
  locate(cal: RemoteCalendar, { name }: { readonly name: string }, ctx: SourceContext): Promise<{ ref: RemoteRef; ics: string } | null> {
    return this.call("locate", ctx, cal.id, idForName(name), name, () => this.upstream.serve.get(cal.id, idForName(name)));
  }
  write(cal: RemoteCalendar, item: { readonly name: string; readonly ref: RemoteRef | null; readonly ics: string }, ctx: SourceContext): Promise<Written> {
    const id = item.ref?.id ?? idForName(item.name);
    return this.call("write", ctx, cal.id, id, item.name, (how) => this.upstream.serve.write(cal.id, item, how));
  }
  remove(cal: RemoteCalendar, ref: RemoteRef, ctx: SourceContext): Promise<void> {
    return this.call("remove", ctx, cal.id, ref.id, null, () => this.upstream.serve.remove(cal.id, ref));
  }
}

// --- a SourceContext without a database (contract tests, unit tests) ----------------------------

type CachedItems = Map<string, Map<string, { ref: RemoteRef; ics: string; name: string }>>;

/** Applies a pulled page to a memoryContext's cache as the engine would: changes, then (last page of a full listing) what `listed` leaves out. */
export function applyPage(cache: CachedItems, cal: RemoteCalendar, page: PullPage): void {
  let m = cache.get(cal.id);
  if (!m) cache.set(cal.id, (m = new Map()));
  for (const c of page.changes) {
    if (c.kind === "delete") m.delete(c.id);
    else m.set(c.ref.id, { ref: c.ref, ics: c.ics, name: c.nameHint ?? c.ref.id });
  }
  if (page.done && page.full && page.listed) for (const id of [...m.keys()]) if (!page.listed.has(id)) m.delete(id);
}

/** A SourceContext over plain maps; `cache` plays the engine's cache (what `known` / `cached` report). */
export function memoryContext(opts: { signal?: AbortSignal } = {}): SourceContext & {
  cache: Map<string, Map<string, { ref: RemoteRef; ics: string; name: string }>>;
  stateValue: unknown;
  secretValues: Map<string, string>;
  tokenRefreshes: { ok: boolean; message: string | null }[];
} {
  const cache = new Map<string, Map<string, { ref: RemoteRef; ics: string; name: string }>>();
  const of = (cal: RemoteCalendar): Map<string, { ref: RemoteRef; ics: string; name: string }> => {
    let m = cache.get(cal.id);
    if (!m) cache.set(cal.id, (m = new Map()));
    return m;
  };
  const uidOf = (ics: string): string | null => /^UID:(.*)$/m.exec(ics.replace(/\r?\n[ \t]/g, ""))?.[1]?.trim() ?? null;
  const ctx = {
    cache,
    stateValue: null as unknown,
    secretValues: new Map<string, string>(),
    state: {
      load: async <T>(): Promise<T | null> => (ctx.stateValue === null ? null : (structuredClone(ctx.stateValue) as T)),
      save: async (v: unknown): Promise<void> => {
        ctx.stateValue = v === null ? null : structuredClone(v);
      },
    },
    secrets: {
      get: async (kind: string): Promise<string | null> => ctx.secretValues.get(kind) ?? null,
      set: async (kind: string, value: string): Promise<void> => void ctx.secretValues.set(kind, value),
    },
    known: async (cal: RemoteCalendar): Promise<ReadonlyMap<string, string | null>> => new Map([...of(cal)].map(([id, v]) => [id, v.ref.etag])),
    cached: async (cal: RemoteCalendar, id: string) => {
      const v = of(cal).get(id);
      return v ? { name: v.name, uid: uidOf(v.ics) ?? "", ics: v.ics, ref: v.ref } : null;
    },
    cachedByUid: async (cal: RemoteCalendar, uid: string) => {
      for (const v of of(cal).values()) if (uidOf(v.ics) === uid) return { name: v.name, uid, ics: v.ics, ref: v.ref };
      return null;
    },
    tokenRefreshes: [] as { ok: boolean; message: string | null }[],
    tokenRefreshed: async (ok: boolean, message?: string): Promise<void> => {
      ctx.tokenRefreshes.push({ ok, message: message ?? null });
    },
    warnings: [] as string[],
    warn: async (message: string): Promise<void> => void ctx.warnings.push(message),
    signal: opts.signal ?? new AbortController().signal,
  };
  return ctx;
}
