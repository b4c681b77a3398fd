/**
 * The start-up pass of the occurrence index: indexes objects whose set is pending (written before
 * migration 012, or by a path that could not compute one) and re-extends sets whose horizon is
 * within a year. Runs in the background after the server is up; until an object is indexed its
 * queries evaluate it, so the answers are the same either way. Each batch commits only the sets of
 * objects still at the version they were computed from.
 */
import type { Logger } from "../status/log.ts";
import { tx, type Db } from "../store/db.ts";
import type { ObjectStore } from "../store/objects.ts";
import { parseCalendarObject } from "../ical/parse.ts";
import { NOT_INDEXED, occurrenceSet, type OccurrenceSet } from "../ical/occurrences.ts";

const BATCH = 200;
/** Sets whose horizon comes closer than this are recomputed (from now, so the horizon moves on). */
const EXTEND_WITHIN_MS = 365 * 86_400_000;

export class OccurrenceBackfill {
  private stopped = false;
  private running: Promise<void> | null = null;

  constructor(private readonly db: Db, private readonly objects: ObjectStore, private readonly log: Pick<Logger, "info" | "warn">) {}

  start(): void {
    this.running ??= this.run().then(() => undefined, (e: Error) => this.log.warn({ err: e.message }, "occurrence index: the start-up pass stopped; unindexed objects are evaluated per query"));
  }

  /** Stops after the batch in progress. */
  async close(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  /** Indexes everything stale now; resolves with how many objects got a set. */
  async run(now = Date.now()): Promise<number> {
    let afterId = 0;
    let indexed = 0;
    while (!this.stopped) {
      const rows = await this.objects.occurrences.stale(now + EXTEND_WITHIN_MS, afterId, BATCH);
      if (rows.length === 0) break;
      afterId = Number(rows[rows.length - 1]!.id);
      const sets: [number, string, OccurrenceSet][] = [];
      for (const r of rows) {
        let set: OccurrenceSet;
        try {
          set = occurrenceSet(parseCalendarObject(r.ics), now);
        } catch {
          set = NOT_INDEXED; // a stored object that no longer parses is evaluated (and skipped) per query
        }
        sets.push([Number(r.id), r.etag, set]);
        await new Promise((res) => setImmediate(res)); // requests go first
      }
      if (this.stopped) break;
      indexed += await tx(this.db, async (trx) => {
        let n = 0;
        for (const [id, etag, set] of sets) if (await this.objects.occurrences.replaceIfUnchanged(trx, id, etag, set)) n++;
        return n;
      });
    }
    if (indexed > 0) this.log.info({ objects: indexed }, "occurrence index: indexed objects written before it existed or near their horizon");
    return indexed;
  }
}
