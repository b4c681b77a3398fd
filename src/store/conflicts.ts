/**
 * Conflicts: both versions (and the base) of an object changed on both sides; nothing is dropped.
 * Each record keeps base, ours (the local version: what a client wrote), theirs (the upstream's) and
 * the result (what calgate then served; null: deleted, or pending), with the object's UID, the policy
 * that decided it and its outcome. `resolution` is kept for compatibility as a free-text note.
 *
 * Rows inserted without the fields of migration 007 (by code that predates it) read as they were
 * decided then: policy "upstream-wins", outcome "upstream-won" (result: theirs) when a resolution is
 * set, else "pending"; the UID is read from ours or theirs.
 */
import type { Knex } from "knex";
import { insertedId, type Db } from "./db.ts";

export const CONFLICT_OUTCOMES = ["merged", "upstream-won", "client-won", "newest-won", "kept-edit", "pending"] as const;
export type ConflictOutcome = (typeof CONFLICT_OUTCOMES)[number];
/** The versions a conflict keeps, as `calgate conflicts restore --version` names them. */
export const CONFLICT_VERSIONS = ["local", "remote", "base"] as const;
export type ConflictVersion = (typeof CONFLICT_VERSIONS)[number];

export interface ConflictRow {
  id: number;
  calendar_id: number;
  object_name: string;
  ours: string | null;
  theirs: string | null;
  base: string | null;
  /** Free-text note (compatibility; see `outcome`). */
  resolution: string | null;
  detected_at: number;
  resolved_at: number | null;
  uid: string | null;
  policy: string | null;
  outcome: string | null;
  result: string | null;
  restored_version: string | null;
}

/** One conflict as `calgate conflicts list --json` shows it. */
export interface ConflictEntry {
  readonly id: number;
  readonly user: string;
  readonly source: string;
  /** The calendar's name (URL segment under the user's calendar home). */
  readonly calendar: string;
  readonly calendarId: number;
  /** The gateway object name, e.g. "abc.ics". */
  readonly object: string;
  readonly uid: string | null;
  /** ISO time. */
  readonly detectedAt: string;
  readonly policy: string;
  readonly outcome: ConflictOutcome;
  /** ISO time, or null while pending. */
  readonly resolvedAt: string | null;
  readonly resolution: string | null;
  /** The version restored with `calgate conflicts restore`, if any. */
  readonly restored: ConflictVersion | null;
}

/** One conflict with its texts (`calgate conflicts show --json`). */
export interface ConflictDetail extends ConflictEntry {
  readonly base: string | null;
  /** Ours: the version written here (by a client). */
  readonly local: string | null;
  /** Theirs: the upstream's version. */
  readonly remote: string | null;
  /** What calgate served after the conflict (null: deleted, or pending). */
  readonly result: string | null;
}

/** What SSE conflict events carry about the conflict. */
export interface ConflictEventFields {
  readonly conflictId: number;
  readonly object: string;
  readonly uid: string | null;
  readonly policy: string;
  readonly outcome: ConflictOutcome;
}

export interface NewConflict {
  calendarId: number;
  name: string;
  ours: string | null;
  theirs: string | null;
  base: string | null;
  resolution: string | null;
  /** Default: read from ours, else theirs. */
  uid?: string | null;
  /** Default: "upstream-wins" (what calgate applied before policies existed). */
  policy?: string;
  /** Default: "upstream-won". "pending" leaves the conflict open (resolved_at null). */
  outcome?: ConflictOutcome;
  /** Default: theirs when the upstream won, else null. */
  result?: string | null;
}

/** The UID property of an iCalendar text (unfolded), or null. */
export function uidOf(ics: string | null): string | null {
  if (!ics) return null;
  const m = /^UID(?:;[^:\r\n]*)?:(.*)$/im.exec(ics.replace(/\r?\n[ \t]/g, ""));
  return m?.[1]?.trim() || null;
}

function outcomeOf(r: ConflictRow): ConflictOutcome {
  if (r.outcome !== null && (CONFLICT_OUTCOMES as readonly string[]).includes(r.outcome)) return r.outcome as ConflictOutcome;
  return r.resolution !== null ? "upstream-won" : "pending";
}
const iso = (ms: number | string | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

type JoinedRow = ConflictRow & { owner: string; source_id: string; calendar_name: string };

function entryOf(r: JoinedRow): ConflictEntry {
  const outcome = outcomeOf(r);
  return {
    id: Number(r.id),
    user: r.owner,
    source: r.source_id,
    calendar: r.calendar_name,
    calendarId: Number(r.calendar_id),
    object: r.object_name,
    uid: r.uid ?? uidOf(r.ours) ?? uidOf(r.theirs),
    detectedAt: iso(r.detected_at)!,
    policy: r.policy ?? "upstream-wins",
    outcome,
    resolvedAt: iso(r.resolved_at),
    resolution: r.resolution,
    restored: (CONFLICT_VERSIONS as readonly string[]).includes(r.restored_version ?? "") ? (r.restored_version as ConflictVersion) : null,
  };
}

function detailOf(r: JoinedRow): ConflictDetail {
  const e = entryOf(r);
  // A row written without migration 007's fields: the upstream won, the cache took theirs.
  const result = r.outcome === null ? (e.outcome === "upstream-won" ? r.theirs : null) : r.result;
  return { ...e, base: r.base, local: r.ours, remote: r.theirs, result };
}

export class ConflictStore {
  constructor(private readonly db: Db) {}

  async record(c: NewConflict, trx?: Knex.Transaction): Promise<number> {
    const now = Date.now();
    const outcome = c.outcome ?? "upstream-won";
    const rows = await (trx ?? this.db)("conflicts")
      .insert({
        calendar_id: c.calendarId,
        object_name: c.name,
        ours: c.ours,
        theirs: c.theirs,
        base: c.base,
        resolution: c.resolution,
        detected_at: now,
        resolved_at: outcome === "pending" ? null : now,
        uid: c.uid !== undefined ? c.uid : (uidOf(c.ours) ?? uidOf(c.theirs)),
        policy: c.policy ?? "upstream-wins",
        outcome,
        result: c.result !== undefined ? c.result : outcome === "upstream-won" ? c.theirs : null,
      })
      .returning("id");
    return insertedId(rows);
  }

  list(calendarId: number): Promise<ConflictRow[]> {
    return this.db<ConflictRow>("conflicts").where({ calendar_id: calendarId }).orderBy("id");
  }

  private joined() {
    return this.db("conflicts")
      .join("calendars", "calendars.id", "conflicts.calendar_id")
      .select("conflicts.*", "calendars.owner as owner", "calendars.source_id as source_id", "calendars.name as calendar_name");
  }

  /** Every conflict (optionally one user's, one source's), oldest first. */
  async listAll(q: { owner?: string | undefined; sourceId?: string | undefined } = {}): Promise<ConflictEntry[]> {
    let query = this.joined();
    if (q.owner !== undefined) query = query.where("calendars.owner", q.owner);
    if (q.sourceId !== undefined) query = query.where("calendars.source_id", q.sourceId);
    return ((await query.orderBy("conflicts.id")) as JoinedRow[]).map(entryOf);
  }

  async get(id: number): Promise<ConflictDetail | null> {
    const r = (await this.joined().where("conflicts.id", id).first()) as JoinedRow | undefined;
    return r ? detailOf(r) : null;
  }

  /** The fields SSE `conflict.detected` / `conflict.resolved` carry, or null for an unknown id. */
  async eventFields(id: number): Promise<ConflictEventFields | null> {
    const c = await this.get(id);
    return c ? { conflictId: c.id, object: c.object, uid: c.uid, policy: c.policy, outcome: c.outcome } : null;
  }

  /** `calgate conflicts restore`: `version` was written back; the conflict is resolved, with a note. */
  async markRestored(id: number, version: ConflictVersion, note: string): Promise<void> {
    await this.db("conflicts").where({ id }).update({ resolved_at: Date.now(), restored_version: version, resolution: note.slice(0, 250) });
  }
}
