/**
 * One run of one mirror rule: the `from` calendar's changes since the rule's position (or all of it, on
 * a full pass) become creates, updates and deletes of copies in the `to` calendar, written through the
 * CalendarService like a client's PUT/DELETE (so a sourced target gets them queued in its outbox and
 * sent by the Writer, offline or not). Idempotent: a copy's UID and name are deterministic and it is
 * found by UID, so a run repeated after a crash between any two steps updates instead of duplicating.
 */
import type { Logger } from "pino";
import { PreconditionFailed, UidConflict, type CalendarMeta, type CalendarService } from "../dav/service.ts";
import type { CalendarRow, CalendarStore } from "../store/calendars.ts";
import type { ObjectRow, ObjectStore } from "../store/objects.ts";
import type { CopyRow, MirrorStore, RunTotals } from "../store/mirrors.ts";
import { parseCalendarObject } from "../ical/parse.ts";
import { sameContent } from "../ical/content.ts";
import { copyNameFor, copyUidFor, decide, mirrorCopy, MIRROR_UID_SUFFIX, type RuleFilter } from "./mirror-copy.ts";
import type { MirrorRule } from "./mirror-rules.ts";

const DAY = 86_400_000;

export interface RunDeps {
  readonly calendars: CalendarStore;
  readonly objects: ObjectStore;
  readonly service: CalendarService;
  readonly store: MirrorStore;
  readonly log: Logger;
  /** Keys of the rules configured for the owner (copies are shared only among them). */
  readonly ruleKeys: (owner: string) => readonly string[];
}

export interface RunResult extends RunTotals {
  readonly rule: MirrorRule;
  /** Objects looked at and left alone (copies, unchanged, free, outside the window...). */
  readonly skipped: number;
  /** The calendars the rule resolved to (null: it could not run). */
  readonly fromCalendar: CalendarRow | null;
  readonly toCalendar: CalendarRow | null;
  /** Why the rule could not run (no such calendar, read-only target). */
  readonly problem: string | null;
  readonly lastError: string | null;
}

/** "<source-id>/<calendar-id>" of a stored calendar, as X-CALGATE-MIRROR-OF names it. */
export function calendarKey(row: CalendarRow): string {
  const prefix = `${row.source_id}-`;
  return `${row.source_id}/${row.name.startsWith(prefix) ? row.name.slice(prefix.length) : (row.source_calendar_id ?? row.name)}`;
}

export function ruleFilter(rule: MirrorRule, now: number): RuleFilter {
  return {
    mode: rule.mode,
    includeFree: rule.includeFree,
    window: rule.window ? { start: now - rule.window.pastDays * DAY, end: now + rule.window.futureDays * DAY } : null,
  };
}

export class RuleRun {
  private readonly totals = { created: 0, updated: 0, deleted: 0, errors: 0, skipped: 0 };
  private lastError: string | null = null;
  private readonly user;
  private readonly filter: RuleFilter;

  constructor(
    private readonly d: RunDeps,
    private readonly rule: MirrorRule,
    private readonly from: CalendarRow,
    private readonly to: CalendarRow,
    private readonly target: CalendarMeta,
    now: number,
  ) {
    this.user = { username: rule.owner };
    this.filter = ruleFilter(rule, now);
  }

  /** Processes changes after `position` (all live objects when `full`); returns the position reached. */
  async run(position: number, full: boolean): Promise<{ position: number; result: Omit<RunResult, "rule" | "fromCalendar" | "toCalendar" | "problem"> }> {
    const upTo = Number(this.from.sync_seq);
    let changed: { name: string; etag: string }[];
    let removed: string[];
    if (full) {
      changed = (await this.d.objects.heads(this.from.id)).map((h) => ({ name: h.name, etag: h.etag }));
      const live = new Set(changed.map((c) => c.name));
      removed = (await this.d.store.copiesOfRule(this.rule.owner, this.rule.key)).filter((c) => c.original_calendar_id === this.from.id && !live.has(c.original_name)).map((c) => c.original_name);
      // Copies made from a calendar the reference no longer names are let go of by their own calendar id.
      await this.releaseForeign();
    } else {
      const rows = await this.d.objects.changesSince(this.from.id, position, 1_000_000);
      changed = rows.flatMap((r) => (r.head !== null ? [{ name: r.name, etag: r.head.etag }] : []));
      removed = rows.filter((r) => r.head === null).map((r) => r.name);
    }
    for (const c of changed) await this.guard(c.name, () => this.changed(c.name, c.etag));
    for (const name of removed) await this.guard(name, () => this.removed(name));
    return { position: full ? upTo : Math.max(position, upTo), result: { ...this.totals, lastError: this.lastError } };
  }

  private async guard(name: string, f: () => Promise<void>): Promise<void> {
    try {
      await f();
    } catch (e) {
      this.totals.errors++;
      this.lastError = `${name}: ${(e as Error).message}`;
      this.d.log.warn({ owner: this.rule.owner, rule: this.rule.key, object: name, err: (e as Error).message }, "mirror rule could not copy an object; it is tried again at the next full pass");
    }
  }

  private async changed(name: string, etag: string): Promise<void> {
    // Cheap checks first (a full pass looks at every object): copied at this ETag already, or a copy.
    const known = await this.d.store.copyOf(this.rule.owner, this.rule.key, this.from.id, name);
    if (known && known.original_etag === etag && known.target_calendar_id === this.to.id) {
      this.totals.skipped++;
      return;
    }
    const obj = await this.d.objects.get(this.from.id, name);
    if (!obj) return this.removed(name);
    if (obj.uid.toLowerCase().endsWith(MIRROR_UID_SUFFIX) || (await this.d.store.isCopy(this.from.id, obj.uid, name))) {
      this.totals.skipped++;
      return;
    }
    const parsed = parseCalendarObject(obj.ics);
    const decision = decide(parsed, { start: obj.first_start == null ? null : Number(obj.first_start), end: obj.last_end == null ? null : Number(obj.last_end) }, this.filter);
    if (decision.kind === "ignore") {
      this.totals.skipped++;
      return;
    }
    const mapping = known;
    const copyUid = copyUidFor(`${this.rule.owner}/${this.to.name}`, parsed.uid);
    if (mapping && (mapping.copy_uid !== copyUid || mapping.target_calendar_id !== this.to.id)) await this.release(mapping); // UID or target changed
    if (decision.kind === "drop") {
      if (!(mapping && mapping.copy_uid === copyUid && mapping.target_calendar_id === this.to.id && (await this.release(mapping)))) this.totals.skipped++;
      return;
    }
    const current = await this.d.objects.byUid(this.to.id, copyUid);
    const text = mirrorCopy(parsed, { mode: this.rule.mode, busyText: this.rule.busyText, uid: copyUid, origin: `${calendarKey(this.from)}/${parsed.uid}` });
    const record = (copyName: string, etag: string | null): Promise<void> =>
      this.d.store.record({ owner: this.rule.owner, rule_key: this.rule.key, original_calendar_id: this.from.id, original_name: name, original_uid: parsed.uid, original_etag: etag, target_calendar_id: this.to.id, copy_uid: copyUid, copy_name: copyName }, Date.now());
    if (current && sameContent(current.ics, text)) {
      await record(current.name, obj.etag);
      this.totals.skipped++;
      return;
    }
    const created = await this.write(copyUid, current, text, (n) => record(n, null));
    await record(created.name, obj.etag);
    if (created.created) this.totals.created++;
    else this.totals.updated++;
  }

  /**
   * Writes the copy: a new one with If-None-Match: *, an existing one with If-Match on its ETag. Once
   * more when the copy changed in between (a sync, another process): the copy is the rule's to write.
   */
  private async write(copyUid: string, found: ObjectRow | null, text: string, before: (name: string) => Promise<void>): Promise<{ name: string; created: boolean }> {
    let current = found;
    for (let attempt = 1; ; attempt++) {
      const name = current?.name ?? copyNameFor(copyUid);
      // Recorded first without an ETag: a crash after the write leaves a row the next full pass completes.
      await before(name);
      try {
        await this.d.service.put(this.user, this.target, name, text, current ? { ifMatch: [current.etag], ifNoneMatch: null } : { ifMatch: null, ifNoneMatch: "*" });
        return { name, created: current === null };
      } catch (e) {
        if (attempt >= 2 || !(e instanceof PreconditionFailed || e instanceof UidConflict)) throw e;
        current = await this.d.objects.byUid(this.to.id, copyUid);
      }
    }
  }

  private async removed(name: string): Promise<void> {
    const mapping = await this.d.store.copyOf(this.rule.owner, this.rule.key, this.from.id, name);
    if (!mapping || !(await this.release(mapping))) this.totals.skipped++;
  }

  /** Lets go of one original's copy: removed from its calendar unless another original still maps to it. True when a copy was deleted. */
  private async release(mapping: CopyRow): Promise<boolean> {
    if ((await this.d.store.otherOriginals(mapping.target_calendar_id, mapping.copy_uid, mapping.id, this.d.ruleKeys(this.rule.owner))) > 0) {
      await this.d.store.forget(mapping.id);
      return false;
    }
    const current = await this.d.objects.byUid(mapping.target_calendar_id, mapping.copy_uid);
    let deleted = false;
    if (current) {
      const meta = mapping.target_calendar_id === this.to.id ? this.target : await this.metaOf(mapping.target_calendar_id);
      if (meta) {
        await this.d.service.remove(this.user, meta, current.name, { ifMatch: [current.etag], ifNoneMatch: null });
        this.totals.deleted++;
        deleted = true;
      }
    }
    await this.d.store.forget(mapping.id);
    return deleted;
  }

  /** Copies this rule made from another calendar than its `from` now names (the reference moved). */
  private async releaseForeign(): Promise<void> {
    for (const m of await this.d.store.copiesOfRule(this.rule.owner, this.rule.key)) {
      if (m.original_calendar_id !== this.from.id) await this.guard(m.original_name, async () => void (await this.release(m)));
    }
  }

  private async metaOf(calendarId: number): Promise<CalendarMeta | null> {
    const row = await this.d.calendars.byId(calendarId);
    return row ? this.d.service.calendar(this.user, row.name) : null;
  }
}

export type { ObjectRow };
