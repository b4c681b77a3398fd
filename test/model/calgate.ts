/**
 * The model test's only coupling to calgate's sources: one "process" (a database connection with the
 * composition root's sync rooms over a memory upstream) and the raw reads the invariants need.
 * Everything the model does to calgate goes through here.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import pino from "pino";
import { parseConfigText } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { buildSync } from "../../src/main.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { StatusEventStore } from "../../src/store/status-events.ts";
import { InvalidSyncToken, ObjectNotFound, PreconditionFailed, UidConflict, UpstreamRefused, type CalendarMeta, type Preconditions } from "../../src/dav/service.ts";
import type { MemoryUpstream } from "../helpers/memory-upstream.ts";
import { changedHeads } from "../helpers/change-set.ts";

export const OWNER = "alice";
export const SOURCE = "up";
const USER = { username: OWNER };

/** The model's database is a file (SQLite), or a postgres:// URL when MODEL_STORAGE=postgres. */
export const isPostgresUrl = (file: string): boolean => file.startsWith("postgres://");

/** `configured` false: the source left the configuration (its calendars stay, read-only). */
export function modelConfig(file: string, writeDeadlineMs: number, configured = true, policy = "merge"): Config {
  return parseConfigText(
    [
      "server: { host: 127.0.0.1, port: 0 }",
      `storage: { client: sqlite, filename: "${file}" }`,
      `sync: { writeDeadlineMs: ${writeDeadlineMs}, timeoutMs: 1000, conflictPolicy: ${policy} }`,
      "logging: { level: error }",
      "users:",
      `  - username: ${OWNER}`,
      "    password: secret-a",
      configured ? `    sources: [{ id: ${SOURCE}, type: caldav, url: "http://upstream.invalid/", username: u, password: p }]` : "    sources: []",
      "",
    ].join("\n"),
    "model.yaml",
    {},
  );
}

/** What a client got for a PUT or DELETE. */
export type Answer =
  | { readonly status: 200 | 201 | 204; readonly etag: string | null }
  | { readonly status: 412 | 404 | 409; readonly message: string }
  | { readonly status: "refused"; readonly code: number; readonly message: string }
  | { readonly status: 500; readonly message: string };

function answerOf(e: unknown): Answer {
  if (e instanceof PreconditionFailed) return { status: 412, message: e.message };
  if (e instanceof ObjectNotFound) return { status: 404, message: e.message };
  if (e instanceof UidConflict) return { status: 409, message: e.message };
  if (e instanceof UpstreamRefused) return { status: "refused", code: e.status, message: e.message };
  return { status: 500, message: `${(e as Error)?.name}: ${(e as Error)?.message}\n${(e as Error)?.stack?.split("\n").slice(1, 6).join("\n")}` };
}

export interface CacheObject {
  readonly name: string;
  readonly uid: string;
  readonly etag: string;
  readonly ics: string;
}
export interface OutboxView {
  readonly id: number;
  readonly state: string;
  readonly op: string;
  readonly name: string;
  readonly ics: string | null;
}
export interface ConflictView {
  readonly id: number;
  readonly name: string;
  readonly ours: string | null;
  readonly theirs: string | null;
  readonly base: string | null;
  /** What the conflict was settled to (null: deleted, or a refusal), under which policy, with which outcome (null for refusals). */
  readonly result: string | null;
  readonly policy: string | null;
  readonly outcome: string | null;
  readonly resolution: string | null;
}

const configs = new Map<string, Config>();

/**
 * A second calgate process inside this one. Leases and claims name their holder "host:pid:nonce", and
 * a holder with this process's pid but another nonce counts as an earlier, dead incarnation (taken
 * over at once). So that the second "process" is not mistaken for a dead one (and does not take the
 * first one's claims over), everything it does runs in an async context where process.pid reads as
 * the parent's pid: a live process on this machine that is not us.
 */
const otherProcess = new AsyncLocalStorage<true>();
let pidPatched = false;
function asOtherProcess<T>(fn: () => T): T {
  if (!pidPatched) {
    const real = process.pid;
    Object.defineProperty(process, "pid", { get: () => (otherProcess.getStore() ? process.ppid : real), configurable: true, enumerable: true });
    pidPatched = true;
  }
  return otherProcess.run(true, fn);
}

/** One calgate process over the shared database file. */
export class Instance {
  private constructor(
    readonly label: string,
    readonly db: Db,
    private readonly sync: ReturnType<typeof buildSync>,
    /** Runs calgate code as this process (see asOtherProcess). */
    private readonly as: <T>(fn: () => T) => T,
  ) {}

  /** `otherProcess`: a second process on the same file, with a holder identity of its own. */
  static async open(label: string, file: string, upstream: MemoryUpstream, writeDeadlineMs: number, otherProcess = false, configured = true, policy = "merge"): Promise<Instance> {
    // The config names no file that buildSync reads (openDb gets it): parse it once per variant.
    const key = `${writeDeadlineMs}/${configured}/${policy}`;
    let config = configs.get(key);
    if (!config) configs.set(key, (config = modelConfig(file, writeDeadlineMs, configured, policy)));
    const as = otherProcess ? asOtherProcess : <T>(fn: () => T): T => fn();
    return as(async () => {
      const db = await openDb(isPostgresUrl(file) ? { client: "postgres", connection: file, poolMax: 4 } : file);
      const sync = buildSync(config, db, pino({ level: "silent" }), { adapters: { caldav: () => upstream.adapter() } });
      return new Instance(label, db, sync, as);
    });
  }

  /** tarn pool of the single connection: idle when nothing uses or waits for it. */
  idle(): boolean {
    const pool = (this.db.client as { pool?: { numUsed(): number; numPendingAcquires(): number; numPendingCreates(): number } }).pool;
    return !pool || (pool.numUsed() === 0 && pool.numPendingAcquires() === 0 && pool.numPendingCreates() === 0);
  }

  async calendar(): Promise<CalendarMeta | null> {
    return (await this.sync.service.calendars(USER)).find((c) => c.sourceId === SOURCE) ?? null;
  }

  async get(name: string): Promise<{ etag: string; ics: string } | null> {
    const cal = await this.calendar();
    if (!cal) return null;
    const o = (await this.sync.service.objects(cal, [name])).get(name) ?? null;
    return o ? { etag: o.etag, ics: o.ics } : null;
  }

  put(name: string, ics: string, cond: Preconditions): Promise<Answer> {
    return this.as(async () => {
      const cal = await this.calendar();
      if (!cal) return { status: 404, message: "no calendar" } as const;
      // As dav/methods/put.ts does before calling the service.
      if (!cal.writable) return { status: "refused", code: 403, message: `calendar ${cal.name} is read-only` } as const;
      try {
        const r = await this.sync.service.put(USER, cal, name, ics, cond);
        return { status: r.created ? 201 : 204, etag: r.changed ? null : r.etag } as const;
      } catch (e) {
        return answerOf(e);
      }
    });
  }

  remove(name: string, cond: Preconditions): Promise<Answer> {
    return this.as(async () => {
      const cal = await this.calendar();
      if (!cal) return { status: 404, message: "no calendar" } as const;
      if (!cal.writable) return { status: "refused", code: 403, message: `calendar ${cal.name} is read-only` } as const;
      try {
        await this.sync.service.remove(USER, cal, name, cond);
        return { status: 204, etag: null } as const;
      } catch (e) {
        return answerOf(e);
      }
    });
  }

  syncNow(waitForLease = false): Promise<{ ok: boolean; busy: boolean; error: string | null }> {
    return this.as(async () => {
      const r = await this.sync.engine.syncSource(OWNER, SOURCE, { reason: "model", waitForLease });
      return { ok: r.ok, busy: r.busy ?? false, error: r.error ?? null };
    });
  }

  /** A client's sync-collection: changes since `token` (null: everything), at most `limit`; null when the token was refused. */
  async changes(token: string | null, limit: number): Promise<{ token: string; changed: { name: string; etag: string }[]; removed: string[]; truncated: boolean } | "invalid-token" | null> {
    const cal = await this.calendar();
    if (!cal) return null;
    try {
      const c = await this.sync.service.changesSince(cal, token, limit);
      return { token: c.token, changed: (await changedHeads(c)).map((h) => ({ name: h.name, etag: h.etag })), removed: [...c.removed], truncated: c.truncated };
    } catch (e) {
      if (e instanceof InvalidSyncToken) return "invalid-token";
      throw e;
    }
  }

  replay(): Promise<void> {
    return this.as(() => this.sync.writer.replay(OWNER, SOURCE));
  }

  statusEvents(n: number): Promise<void> {
    return this.as(async () => {
      const store = new StatusEventStore(this.db);
      for (let i = 0; i < n; i++) await store.insert(OWNER, "model.noise", { i }, Date.now());
    });
  }

  /** close() in two halves, so the caller can let the aborted work run in between. */
  abort(): void {
    this.as(() => {
      this.sync.engine.close();
      this.sync.writer.close();
    });
  }
  finish(): Promise<void> {
    return this.as(async () => {
      await this.sync.engine.idle();
      await this.sync.writer.idle();
      await this.db.destroy();
    });
  }

  // --- raw reads for the invariants ------------------------------------------------------------

  async calendarIds(): Promise<number[]> {
    const rows = (await this.db("calendars").where({ owner: OWNER, source_id: SOURCE }).select("id")) as { id: number }[];
    return rows.map((r) => Number(r.id));
  }
  async cache(calendarIds?: readonly number[]): Promise<CacheObject[]> {
    const ids = calendarIds ?? (await this.calendarIds());
    const rows = (await this.db("objects").whereIn("calendar_id", ids).select("name", "uid", "etag", "ics").orderBy("name")) as CacheObject[];
    return rows.map((r) => ({ name: String(r.name), uid: String(r.uid), etag: String(r.etag), ics: String(r.ics) }));
  }
  async outbox(): Promise<OutboxView[]> {
    const rows = (await this.db("outbox").select("id", "state", "op", "object_name", "ics").orderBy("id")) as { id: number; state: string; op: string; object_name: string; ics: string | null }[];
    return rows.map((r) => ({ id: Number(r.id), state: String(r.state), op: String(r.op), name: String(r.object_name), ics: r.ics }));
  }
  async conflicts(): Promise<ConflictView[]> {
    type Row = { id: number; object_name: string; ours: string | null; theirs: string | null; base: string | null; result: string | null; policy: string | null; outcome: string | null; resolution: string | null };
    const rows = (await this.db("conflicts").select("id", "object_name", "ours", "theirs", "base", "result", "policy", "outcome", "resolution").orderBy("id")) as Row[];
    return rows.map((r) => ({ id: Number(r.id), name: String(r.object_name), ours: r.ours, theirs: r.theirs, base: r.base, result: r.result, policy: r.policy ?? null, outcome: r.outcome ?? null, resolution: r.resolution ?? null }));
  }
}
