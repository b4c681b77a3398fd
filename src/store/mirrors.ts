/** Mirror rules' bookkeeping: which original became which copy, each rule's position and totals. */
import type { Db } from "./db.ts";

export interface CopyRow {
  id: number;
  owner: string;
  rule_key: string;
  original_calendar_id: number;
  original_name: string;
  original_uid: string;
  original_etag: string | null;
  target_calendar_id: number;
  copy_uid: string;
  copy_name: string;
  updated_at: number;
}

export interface RuleStateRow {
  owner: string;
  rule_key: string;
  from_calendar_id: number | null;
  position: number;
  settings: string | null;
  last_run_at: number | null;
  created: number;
  updated: number;
  deleted: number;
  errors: number;
  last_error: string | null;
}

export interface RunTotals {
  created: number;
  updated: number;
  deleted: number;
  errors: number;
}

const num = (v: unknown): number => Number(v ?? 0);
function ruleRow(r: Record<string, unknown>): RuleStateRow {
  return {
    owner: String(r.owner), rule_key: String(r.rule_key), from_calendar_id: r.from_calendar_id == null ? null : num(r.from_calendar_id),
    position: num(r.position), settings: (r.settings as string | null) ?? null, last_run_at: r.last_run_at == null ? null : num(r.last_run_at),
    created: num(r.created), updated: num(r.updated), deleted: num(r.deleted), errors: num(r.errors), last_error: (r.last_error as string | null) ?? null,
  };
}
function copyRow(r: Record<string, unknown>): CopyRow {
  return { ...(r as unknown as CopyRow), id: num(r.id), original_calendar_id: num(r.original_calendar_id), target_calendar_id: num(r.target_calendar_id), updated_at: num(r.updated_at) };
}

export class MirrorStore {
  constructor(private readonly db: Db) {}

  async rule(owner: string, ruleKey: string): Promise<RuleStateRow | null> {
    const r = (await this.db("mirror_rules").where({ owner, rule_key: ruleKey }).first()) as Record<string, unknown> | undefined;
    return r ? ruleRow(r) : null;
  }
  async rules(owner?: string): Promise<RuleStateRow[]> {
    const q = this.db("mirror_rules");
    if (owner !== undefined) q.where({ owner });
    return ((await q.orderBy(["owner", "rule_key"])) as Record<string, unknown>[]).map(ruleRow);
  }

  /**
   * Where the rule reads its `from` calendar (a new calendar or new settings start over at 0), creating
   * the rule's row. `settings` changed: every copy is rewritten (their recorded ETags are forgotten).
   */
  async begin(owner: string, ruleKey: string, fromCalendarId: number, settings: string): Promise<{ position: number; restarted: boolean }> {
    return this.db.transaction(async (trx) => {
      const cur = (await trx("mirror_rules").where({ owner, rule_key: ruleKey }).first()) as Record<string, unknown> | undefined;
      if (!cur) {
        await trx("mirror_rules").insert({ owner, rule_key: ruleKey, from_calendar_id: fromCalendarId, position: 0, settings });
        return { position: 0, restarted: true };
      }
      const row = ruleRow(cur);
      if (row.from_calendar_id === fromCalendarId && row.settings === settings) return { position: row.position, restarted: false };
      await trx("mirror_rules").where({ owner, rule_key: ruleKey }).update({ from_calendar_id: fromCalendarId, position: 0, settings });
      if (row.settings !== settings) await trx("mirror_copies").where({ owner, rule_key: ruleKey }).update({ original_etag: null });
      return { position: 0, restarted: true };
    });
  }

  /** After a run: the new position (never moved back by a slower concurrent run) and the run's totals. */
  async finish(owner: string, ruleKey: string, position: number, t: RunTotals, lastError: string | null, at: number): Promise<void> {
    await this.db.transaction(async (trx) => {
      const cur = (await trx("mirror_rules").where({ owner, rule_key: ruleKey }).first()) as Record<string, unknown> | undefined;
      const pos = Math.max(position, num(cur?.position));
      await trx("mirror_rules")
        .where({ owner, rule_key: ruleKey })
        .update({
          position: pos,
          last_run_at: at,
          created: trx.raw("created + ?", [t.created]),
          updated: trx.raw("updated + ?", [t.updated]),
          deleted: trx.raw("deleted + ?", [t.deleted]),
          errors: trx.raw("errors + ?", [t.errors]),
          ...(lastError !== null || t.errors === 0 ? { last_error: lastError } : {}),
        });
    });
  }

  async copiesOfRule(owner: string, ruleKey: string): Promise<CopyRow[]> {
    return ((await this.db("mirror_copies").where({ owner, rule_key: ruleKey }).orderBy("id")) as Record<string, unknown>[]).map(copyRow);
  }
  async copyOf(owner: string, ruleKey: string, originalCalendarId: number, originalName: string): Promise<CopyRow | null> {
    const r = (await this.db("mirror_copies").where({ owner, rule_key: ruleKey, original_calendar_id: originalCalendarId, original_name: originalName }).first()) as Record<string, unknown> | undefined;
    return r ? copyRow(r) : null;
  }
  /** Whether the object (by UID, or by the name it was written under) is a copy some rule made in calendar `calendarId`. */
  async isCopy(calendarId: number, uid: string, name: string): Promise<boolean> {
    const hit = await this.db("mirror_copies").where({ target_calendar_id: calendarId }).andWhere((w) => w.where({ copy_uid: uid }).orWhere({ copy_name: name })).first("id");
    return hit !== undefined;
  }
  /**
   * How many originals (other than `exceptId`) of the rules `ruleKeys` the copy stands for. Rows of rules
   * no longer configured do not count: they keep their copies, they do not hold others' copies alive.
   */
  async otherOriginals(targetCalendarId: number, copyUid: string, exceptId: number, ruleKeys: readonly string[]): Promise<number> {
    const r = await this.db("mirror_copies").where({ target_calendar_id: targetCalendarId, copy_uid: copyUid }).whereNot({ id: exceptId }).whereIn("rule_key", [...ruleKeys]).count({ n: "*" }).first();
    return num(r?.n);
  }

  async record(c: Omit<CopyRow, "id" | "updated_at">, at: number): Promise<void> {
    await this.db("mirror_copies")
      .insert({ ...c, updated_at: at })
      .onConflict(["owner", "rule_key", "original_calendar_id", "original_name"])
      .merge(["original_uid", "original_etag", "target_calendar_id", "copy_uid", "copy_name", "updated_at"]);
  }
  async forget(id: number): Promise<void> {
    await this.db("mirror_copies").where({ id }).delete();
  }
  /** Copies per rule (one row per original), for the status data. */
  async counts(owner: string): Promise<Map<string, number>> {
    const rows = (await this.db("mirror_copies").where({ owner }).groupBy("rule_key").select("rule_key").count({ n: "*" })) as { rule_key: string; n: unknown }[];
    return new Map(rows.map((r) => [r.rule_key, num(r.n)]));
  }
}
