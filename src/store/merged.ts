/**
 * Merged calendars in the store: their own change log and name table (`merged_members`), folded in
 * from the included calendars' change logs. Folding is incremental (per included calendar, the
 * changes after the last folded-in sequence), runs in one transaction, and is idempotent: two
 * processes folding at once serialise on the write lock and the second finds nothing left to do.
 */
import { tx, type Db, type Tx } from "./db.ts";
import type { XmlElement } from "../xml/tree.ts";
import type { HeadRow } from "./objects.ts";

export interface MergedRow {
  id: number;
  owner: string;
  merged_id: string;
  sync_seq: number;
  positions_json: string;
  included_key: string;
  color: string | null;
  sort_order: number | null;
  dead_props: string | null;
  created_at: number;
}

/** An included calendar as the fold needs it. */
export interface IncludedCalendar {
  readonly id: number;
  /** Its change-log sequence as last read (a cheap up-to-date check before taking the write lock). */
  readonly seq: number;
}

export interface CopyRow {
  readonly calendarId: number;
  readonly objectName: string;
  readonly etag: string;
  readonly ics: string | null;
  /** A mirror rule's copy of the meeting (mirror_copies), not the meeting itself. */
  readonly mirrored?: boolean;
}
/** Picks the copy a merged calendar shows among the copies of one UID (null: none). */
export type ChooseCopy = (copies: readonly CopyRow[]) => CopyRow | null;

/** Where a merged calendar's member lives. */
export interface MemberLocation {
  readonly name: string;
  readonly uid: string;
  readonly calendarId: number;
  readonly objectName: string;
}

const CHUNK = 400;
function chunks<T>(xs: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += CHUNK) out.push(xs.slice(i, i + CHUNK));
  return out;
}
/** UID → the UID of the original, for those of `uids` that are mirror copies in the calendars `ids`. */
async function originalsOf(trx: Tx, ids: readonly number[], uids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0 || uids.length === 0) return new Map();
  const rows = await trx("mirror_copies").whereIn("target_calendar_id", ids).whereIn("copy_uid", uids).distinct("copy_uid", "original_uid");
  return new Map(rows.map((r: { copy_uid: string; original_uid: string }) => [String(r.copy_uid), String(r.original_uid)]));
}

const includedKey = (cals: readonly IncludedCalendar[]): string => cals.map((c) => c.id).join(",");

export class MergedStore {
  constructor(private readonly db: Db) {}

  async get(owner: string, mergedId: string): Promise<MergedRow | null> {
    return (await this.db<MergedRow>("merged_calendars").where({ owner, merged_id: mergedId }).first()) ?? null;
  }

  /** The row of a configured merged calendar, made on first use. */
  async ensure(owner: string, mergedId: string): Promise<MergedRow> {
    const hit = await this.get(owner, mergedId);
    if (hit) return hit;
    await tx(this.db, (trx) => trx("merged_calendars").insert({ owner, merged_id: mergedId, created_at: Date.now() }).onConflict(["owner", "merged_id"]).ignore());
    return (await this.get(owner, mergedId))!;
  }

  /** True when every included calendar's changes up to `seq` are folded in, in this include order. */
  upToDate(row: MergedRow, included: readonly IncludedCalendar[]): boolean {
    if (row.included_key !== includedKey(included)) return false;
    const pos = JSON.parse(row.positions_json) as Record<string, number>;
    return included.every((c) => pos[c.id] === c.seq);
  }

  /**
   * Folds the included calendars' changes into the merged calendar's log. `nameHints` gives the name
   * a UID new to the merged calendar should get (a client created it under that name). Returns the
   * row after the fold and how many members changed.
   */
  async fold(owner: string, mergedId: string, included: readonly IncludedCalendar[], choose: ChooseCopy, nameHints: ReadonlyMap<string, string> = new Map()): Promise<{ row: MergedRow; changed: number }> {
    return tx(this.db, async (trx) => {
      const row = (await trx<MergedRow>("merged_calendars").where({ owner, merged_id: mergedId }).first())!;
      const key = includedKey(included);
      const ids = included.map((c) => c.id);
      const positions = JSON.parse(row.positions_json) as Record<string, number>;
      const seqs = new Map<number, number>();
      for (const ch of chunks(ids)) for (const r of await trx("calendars").whereIn("id", ch).select("id", "sync_seq")) seqs.set(Number(r.id), Number(r.sync_seq));
      const affected = new Set<string>();
      const live = () => trx("merged_members").where({ merged_id: row.id, deleted: false });

      // Calendars no longer included (or a new include order): every member they showed is decided again.
      const dropped = Object.keys(positions).map(Number).filter((id) => !seqs.has(id));
      if (row.included_key !== key && row.included_key !== "") for (const r of await live().select("uid")) affected.add(String(r.uid));
      else for (const ch of chunks(dropped)) for (const r of await live().whereIn("calendar_id", ch).select("uid")) affected.add(String(r.uid));
      for (const id of dropped) delete positions[id];

      for (const id of ids) {
        const from = positions[id] ?? 0;
        const to = seqs.get(id) ?? 0;
        if (from >= to) continue;
        const names = (await trx("changes").where("calendar_id", id).andWhere("seq", ">", from).select("name")).map((r: { name: string }) => r.name);
        for (const ch of chunks(names)) {
          const uids = (await trx("objects").where("calendar_id", id).whereIn("name", ch).select("uid")).map((r: { uid: string }) => String(r.uid));
          const originals = await originalsOf(trx, ids, uids);
          for (const u of uids) affected.add(originals.get(u) ?? u);
          for (const r of await trx("merged_members").where({ merged_id: row.id, calendar_id: id }).whereIn("object_name", ch).select("uid")) affected.add(String(r.uid));
        }
        positions[id] = to;
      }

      let seq = Number(row.sync_seq);
      let changed = 0;
      for (const uids of chunks([...affected])) {
        // A member is keyed by the UID of the meeting; mirror copies (their own UIDs) count as copies of it.
        const mirrored = ids.length === 0 ? [] : await trx("mirror_copies").whereIn("target_calendar_id", ids).whereIn("original_uid", uids).distinct("copy_uid", "original_uid");
        const keyOf = new Map<string, string>(uids.map((u) => [u, u]));
        for (const m of mirrored) keyOf.set(String(m.copy_uid), String(m.original_uid));
        const copies = new Map<string, CopyRow[]>();
        const rows = ids.length === 0 ? [] : await trx("objects").whereIn("calendar_id", ids).whereIn("uid", [...keyOf.keys()]).select("calendar_id", "name", "uid", "etag");
        for (const r of rows) {
          const k = keyOf.get(String(r.uid))!;
          const list = copies.get(k) ?? [];
          list.push({ calendarId: Number(r.calendar_id), objectName: String(r.name), etag: String(r.etag), ics: null, mirrored: k !== String(r.uid) });
          copies.set(k, list);
        }
        const several = [...copies].filter(([, l]) => l.length > 1).map(([u]) => u);
        if (several.length > 0) {
          const texts = new Map<string, string>();
          const wanted = [...keyOf].filter(([, k]) => several.includes(k)).map(([u]) => u);
          for (const r of await trx("objects").whereIn("calendar_id", ids).whereIn("uid", wanted).select("calendar_id", "name", "ics")) texts.set(`${r.calendar_id}\u0000${r.name}`, String(r.ics));
          for (const u of several) copies.set(u, copies.get(u)!.map((c) => ({ ...c, ics: texts.get(`${c.calendarId}\u0000${c.objectName}`) ?? null })));
        }
        const members = new Map<string, { name: string; calendar_id: number | null; object_name: string | null; etag: string | null }>();
        for (const m of await trx("merged_members").where({ merged_id: row.id, deleted: false }).whereIn("uid", uids)) members.set(String(m.uid), m);

        // Removals first, so a name they free is there for a UID that arrives in the same fold.
        const picks = uids.map((uid) => ({ uid, pick: choose(copies.get(uid) ?? []), current: members.get(uid) }));
        for (const { pick, current } of picks) {
          if (pick !== null || !current) continue;
          // A tombstone lets go of its UID: if the UID comes back it is a new member (maybe under another name).
          await trx("merged_members").where({ merged_id: row.id, name: current.name }).update({ deleted: true, uid: `\u0000${current.name}`, calendar_id: null, object_name: null, etag: null, seq: ++seq });
          changed++;
        }
        for (const { uid, pick, current } of picks) {
          if (pick === null) continue;
          const shown = { calendar_id: pick.calendarId, object_name: pick.objectName, etag: pick.etag };
          if (current) {
            if (Number(current.calendar_id) !== pick.calendarId || current.object_name !== pick.objectName || current.etag !== pick.etag) {
              await trx("merged_members").where({ merged_id: row.id, name: current.name }).update({ ...shown, seq: ++seq });
              changed++;
            }
            continue;
          }
          const name = await this.freeName(trx, row.id, nameHints.get(uid) ?? pick.objectName, pick.calendarId);
          // A tombstone may hold the name: the name now shows this object.
          await trx("merged_members").insert({ merged_id: row.id, name, uid, ...shown, deleted: false, seq: ++seq }).onConflict(["merged_id", "name"]).merge(["uid", "calendar_id", "object_name", "etag", "deleted", "seq"]);
          changed++;
        }
      }
      await trx("merged_calendars").where({ id: row.id }).update({ sync_seq: seq, positions_json: JSON.stringify(positions), included_key: key });
      return { row: { ...row, sync_seq: seq, positions_json: JSON.stringify(positions), included_key: key }, changed };
    });
  }

  /** `wanted` unless a live member holds it; then a name derived from it and the calendar. */
  private async freeName(trx: Tx, mergedRowId: number, wanted: string, calendarId: number): Promise<string> {
    const taken = async (n: string): Promise<boolean> => (await trx("merged_members").where({ merged_id: mergedRowId, name: n, deleted: false }).first()) !== undefined;
    if (!(await taken(wanted))) return wanted;
    const dot = wanted.lastIndexOf(".");
    const [stem, ext] = dot > 0 ? [wanted.slice(0, dot), wanted.slice(dot)] : [wanted, ""];
    for (let i = 1; ; i++) {
      const n = `${stem}-${calendarId}${i > 1 ? `-${i}` : ""}${ext}`;
      if (!(await taken(n))) return n;
    }
  }

  private joined(mergedRowId: number) {
    return this.db("merged_members as m")
      .join("objects as o", function () {
        this.on("o.calendar_id", "=", "m.calendar_id").andOn("o.name", "=", "m.object_name");
      })
      .where("m.merged_id", mergedRowId)
      .andWhere("m.deleted", false);
  }

  /** How many members each merged calendar of the user shows, and its change-log position. */
  async summary(owner: string): Promise<Map<string, { members: number; seq: number }>> {
    const rows = await this.db("merged_calendars as c")
      .leftJoin("merged_members as m", function () {
        this.on("m.merged_id", "=", "c.id").andOnVal("m.deleted", "=", false);
      })
      .where("c.owner", owner)
      .groupBy("c.merged_id", "c.sync_seq")
      .select("c.merged_id as id", "c.sync_seq as seq")
      .count({ members: "m.name" });
    return new Map(rows.map((r: Record<string, unknown>) => [String(r.id), { members: Number(r.members), seq: Number(r.seq) }]));
  }

  async heads(mergedRowId: number): Promise<HeadRow[]> {
    const rows = await this.joined(mergedRowId).orderBy("m.seq").select("m.name as name", "o.etag as etag", "o.size as size", "o.modified_at as modified_at", "o.component as component");
    return rows.map((r: Record<string, unknown>) => ({ name: String(r.name), etag: String(r.etag), size: Number(r.size), modified_at: Number(r.modified_at), component: String(r.component) }));
  }

  /** Where the named members live (live members only). */
  async locate(mergedRowId: number, names: readonly string[]): Promise<MemberLocation[]> {
    const out: MemberLocation[] = [];
    for (const ch of chunks(names)) {
      for (const r of await this.db("merged_members").where({ merged_id: mergedRowId, deleted: false }).whereIn("name", ch)) {
        out.push({ name: String(r.name), uid: String(r.uid), calendarId: Number(r.calendar_id), objectName: String(r.object_name) });
      }
    }
    return out;
  }

  async byUid(mergedRowId: number, uid: string): Promise<MemberLocation | null> {
    const r = await this.db("merged_members").where({ merged_id: mergedRowId, uid, deleted: false }).first();
    return r ? { name: String(r.name), uid: String(r.uid), calendarId: Number(r.calendar_id), objectName: String(r.object_name) } : null;
  }

  /** Every live member, keyed by "<calendar id>\0<object name>" of the copy it shows. */
  async index(mergedRowId: number): Promise<Map<string, string>> {
    const rows = await this.db("merged_members").where({ merged_id: mergedRowId, deleted: false }).select("name", "calendar_id", "object_name");
    return new Map(rows.map((r: { name: string; calendar_id: number; object_name: string }) => [`${r.calendar_id}\u0000${r.object_name}`, r.name]));
  }

  /** As ObjectStore.changesSince, over the merged calendar's own log. */
  async changesSince(mergedRowId: number, seq: number, limit: number, tombstonesAfter = seq): Promise<{ name: string; seq: number; head: HeadRow | null }[]> {
    const q = this.db("merged_members as m")
      .leftJoin("objects as o", function () {
        this.on("o.calendar_id", "=", "m.calendar_id").andOn("o.name", "=", "m.object_name");
      })
      .where("m.merged_id", mergedRowId)
      .andWhere("m.seq", ">", seq);
    if (tombstonesAfter > seq) q.andWhere((w) => w.where("m.deleted", false).orWhere("m.seq", ">", tombstonesAfter));
    const rows = await q.orderBy("m.seq").limit(limit).select("m.name as name", "m.seq as seq", "m.deleted as deleted", "o.etag as etag", "o.size as size", "o.modified_at as modified_at", "o.component as component");
    return rows.map((r: Record<string, unknown>) => ({
      name: String(r.name),
      seq: Number(r.seq),
      head: r.deleted || r.etag == null ? null : { name: String(r.name), etag: String(r.etag), size: Number(r.size), modified_at: Number(r.modified_at), component: String(r.component) },
    }));
  }

  async update(mergedRowId: number, patch: { color?: string | null; order?: number | null; deadProps?: Record<string, XmlElement | null> }): Promise<void> {
    await tx(this.db, async (trx) => {
      const row = await trx<MergedRow>("merged_calendars").where({ id: mergedRowId }).first();
      if (!row) return;
      const next: Partial<MergedRow> = {};
      if (patch.color !== undefined) next.color = patch.color;
      if (patch.order !== undefined) next.sort_order = patch.order;
      if (patch.deadProps !== undefined) {
        const dead = JSON.parse(row.dead_props ?? "{}") as Record<string, XmlElement>;
        for (const [k, v] of Object.entries(patch.deadProps)) {
          if (v === null) delete dead[k];
          else dead[k] = v;
        }
        next.dead_props = JSON.stringify(dead);
      }
      if (Object.keys(next).length > 0) await trx("merged_calendars").where({ id: mergedRowId }).update(next);
    });
  }
}
