/**
 * Applying a pulled page to the cache, with compare-and-set. The plan was made from a snapshot read
 * before the page's requests; by the time it applies, a client may have written, a write-back may have
 * been confirmed, or another process may have synced. Each action therefore states what it expects
 * the object to be, and is applied only if it still is, inside the transaction (write lock held):
 *  - an object with a queued local write (by name or upstream id) is never overwritten, created or
 *    deleted by a pull: its write-back meets the upstream's version (If-Match) and conflict handling;
 *  - anything else that moved since the plan is "stale": not applied, and the caller must not advance
 *    its cursor, so the next pull looks again.
 */
import { tx, type Db, type Tx } from "./db.ts";
import { ObjectStore, type ObjectRow, type ObjectWrite } from "./objects.ts";

/** What the plan saw of the object it acts on. */
export interface Expect {
  readonly etag: string;
  readonly upstreamId: string | null;
  readonly upstreamEtag: string | null;
}

export type PulledAction =
  | { readonly type: "create"; readonly write: ObjectWrite }
  | { readonly type: "update"; readonly write: ObjectWrite; readonly expect: Expect }
  | { readonly type: "link"; readonly name: string; readonly upstreamId: string; readonly upstreamEtag: string | null; readonly baseIcs: string; readonly expect: Expect }
  | { readonly type: "delete"; readonly name: string; readonly expect: Expect };

/** What the cache was when a page was requested; the page is applied only where nothing moved since. */
export interface PullSnapshot {
  readonly links: { name: string; uid: string; etag: string; upstream_href: string | null; upstream_etag: string | null }[];
  /** Names and upstream ids with a queued write. */
  readonly pendingNames: Set<string>;
  readonly pendingIds: Set<string>;
  /** A queued create whose upstream id is not known yet. */
  readonly pendingCreates: boolean;
  /** The calendar's change sequence and the newest outbox row at the snapshot. */
  readonly seq: number;
  readonly outboxId: number;
}

/** Read in one transaction, before the page is fetched. */
export function pullSnapshot(db: Db, calendarId: number): Promise<PullSnapshot> {
  return tx(db, async (trx) => {
    const cal = await trx("calendars").where({ id: calendarId }).first("sync_seq");
    const top = (await trx("outbox").max({ m: "id" }).first()) as { m: number | null } | undefined;
    const links = await trx<ObjectRow>("objects").where({ calendar_id: calendarId }).select("name", "uid", "etag", "upstream_href", "upstream_etag");
    const pending = await trx("outbox").where({ calendar_id: calendarId, state: "pending" }).select("object_name", "upstream_href", "op");
    return {
      links,
      pendingNames: new Set(pending.map((r: { object_name: string }) => r.object_name)),
      pendingIds: new Set(pending.flatMap((r: { upstream_href: string | null }) => (r.upstream_href ? [r.upstream_href] : []))),
      pendingCreates: pending.some((r: { upstream_href: string | null; op: string }) => r.upstream_href === null && r.op === "put"),
      seq: Number(cal?.sync_seq ?? 0),
      outboxId: Number(top?.m ?? 0),
    };
  });
}

export interface PulledResult {
  created: number;
  updated: number;
  deleted: number;
  linked: number;
  /** Names left alone because a local write of theirs is queued. */
  pending: string[];
  /** Names that moved since the plan (the cursor must not advance). */
  stale: string[];
  /** Actions that failed (rolled back alone; the cursor must not advance). */
  errors: string[];
}

const NO_CONDITIONS = { ifMatch: null, ifNoneMatch: null } as const;

function nameOf(a: PulledAction): string {
  return a.type === "create" || a.type === "update" ? a.write.name : a.name;
}
function upstreamIdOf(a: PulledAction): string | null {
  return a.type === "create" || a.type === "update" ? (a.write.upstreamHref ?? null) : a.type === "link" ? a.upstreamId : a.expect.upstreamId;
}

export async function applyPulled(db: Db, calendarId: number, actions: Iterable<PulledAction>, snapshot: Pick<PullSnapshot, "seq" | "outboxId">, batch = 200): Promise<PulledResult> {
  const out: PulledResult = { created: 0, updated: 0, deleted: 0, linked: 0, pending: [], stale: [], errors: [] };
  /** Names this apply changed itself (their change-log entries are newer than the snapshot, and that is fine). */
  const mine = new Set<string>();
  // Taken a chunk at a time: the caller may make each action (its parsed text, its occurrence rows)
  // only when it is reached, so a page of 10,000 items never holds 10,000 prepared writes at once.
  const source = actions[Symbol.iterator]();
  for (;;) {
    const chunk: PulledAction[] = [];
    for (let next = source.next(); !next.done; next = source.next()) {
      chunk.push(next.value);
      if (chunk.length === batch) break;
    }
    if (chunk.length === 0) break;
    // One transaction per chunk keeps commits (fsyncs) few; each action is a savepoint inside it.
    const part: PulledResult = { created: 0, updated: 0, deleted: 0, linked: 0, pending: [], stale: [], errors: [] };
    await tx(db, async (trx) => {
      Object.assign(part, { created: 0, updated: 0, deleted: 0, linked: 0, pending: [], stale: [], errors: [] });
      for (const a of chunk) await applyOne(trx, calendarId, a, part, snapshot, mine);
    });
    out.created += part.created;
    out.updated += part.updated;
    out.deleted += part.deleted;
    out.linked += part.linked;
    out.pending.push(...part.pending);
    out.stale.push(...part.stale);
    out.errors.push(...part.errors);
  }
  return out;
}

async function applyOne(trx: Tx, calendarId: number, a: PulledAction, out: PulledResult, snapshot: Pick<PullSnapshot, "seq" | "outboxId">, mine: Set<string>): Promise<void> {
  const name = nameOf(a);
  const upstreamId = upstreamIdOf(a);
  // Anything that happened to this name, or to a write of this upstream item, since the snapshot (e.g. a
  // DELETE sent and confirmed while the page was in flight) makes the page's version of it stale.
  if (!mine.has(name)) {
    const changed = await trx("changes").where({ calendar_id: calendarId, name }).andWhere("seq", ">", snapshot.seq).first("seq");
    const written = upstreamId === null ? null : await trx("outbox").where({ calendar_id: calendarId }).andWhere("id", ">", snapshot.outboxId).andWhere((w) => w.where({ upstream_href: upstreamId }).orWhere({ confirmed_href: upstreamId })).first("id");
    if (changed || written) {
      out.stale.push(name);
      return;
    }
  }
  const queued = await trx("outbox")
    .where({ calendar_id: calendarId, state: "pending" })
    .andWhere((w) => {
      w.where({ object_name: name });
      if (upstreamId !== null) w.orWhere({ upstream_href: upstreamId });
    })
    .first("id");
  if (queued) {
    out.pending.push(name);
    return;
  }
  const current = ((await trx<ObjectRow>("objects").where({ calendar_id: calendarId, name }).first()) ?? null) as ObjectRow | null;
  if (a.type === "create") {
    const linked = upstreamId === null ? null : await trx<ObjectRow>("objects").where({ calendar_id: calendarId, upstream_href: upstreamId }).first("name");
    const sameUid = await trx<ObjectRow>("objects").where({ calendar_id: calendarId, uid: a.write.uid }).first("name");
    if (current !== null || linked || sameUid) {
      out.stale.push(name);
      return;
    }
  } else if (!current || current.etag !== a.expect.etag || current.upstream_href !== a.expect.upstreamId || current.upstream_etag !== a.expect.upstreamEtag) {
    out.stale.push(name);
    return;
  }
  try {
    await trx.transaction(async (sp) => {
      const objects = new ObjectStore(sp);
      switch (a.type) {
        case "link":
          await objects.setUpstream(calendarId, a.name, { upstreamHref: a.upstreamId, upstreamEtag: a.upstreamEtag, baseIcs: a.baseIcs }, sp);
          out.linked++;
          return;
        case "create":
        case "update": {
          const r = await objects.put(calendarId, a.write, NO_CONDITIONS);
          if (!r.ok) throw new Error(r.reason === "uid-conflict" ? `UID already used by ${r.existingName}` : r.reason);
          if (r.created) out.created++;
          else out.updated++;
          mine.add(a.write.name);
          return;
        }
        case "delete": {
          const r = await objects.remove(calendarId, a.name, NO_CONDITIONS);
          if (r.ok) out.deleted++;
          mine.add(a.name);
          return;
        }
      }
    });
  } catch (e) {
    out.errors.push(`${a.type} ${name}: ${(e as Error).message}`);
  }
}
