/**
 * Mirror rules (users[].mirrors), applied: on start (catch-up), after every committed change of a
 * rule's `from` calendar (the in-process change feed), after each completed sync of a source a rule
 * reads or writes (changes made by another process, e.g. `calgate sync --once`), and by `sync --once`.
 * Runs are serialised (one at a time in a process) and coalesced: changes arriving during a run are
 * taken by one more run right after it, with no timer. A run that did something is published as
 * `mirror.applied` on the status feed; each rule's totals are kept for the status data.
 */
import type { Logger } from "pino";
import type { CalendarService } from "../dav/service.ts";
import type { CalendarStore } from "../store/calendars.ts";
import type { ChangeFeed } from "../store/db.ts";
import type { ObjectStore } from "../store/objects.ts";
import type { MirrorStore } from "../store/mirrors.ts";
import type { StatusBus } from "../status/bus.ts";
import { resolveRef, splitRef } from "./calendar-refs.ts";
import { RuleRun, type RunResult } from "./mirror-run.ts";
import { ruleSettings, type MirrorRule } from "./mirror-rules.ts";

export interface MirrorDeps {
  readonly rules: readonly MirrorRule[];
  readonly calendars: CalendarStore;
  readonly objects: ObjectStore;
  readonly service: CalendarService;
  readonly store: MirrorStore;
  readonly bus: StatusBus;
  readonly log: Logger;
  readonly now?: () => number;
}

/** One rule as the status data shows it. */
export interface MirrorRuleStatus {
  readonly owner: string;
  readonly rule: string;
  readonly from: string;
  readonly to: string;
  readonly mode: string;
  /** ISO time of the last run, null before the first. */
  readonly lastRunAt: string | null;
  /** Originals the rule currently has a copy of. */
  readonly copies: number;
  /** Copies written since the rule first ran. */
  readonly written: { readonly created: number; readonly updated: number; readonly deleted: number };
  readonly errors: number;
  readonly lastError: string | null;
}

const dayOf = (t: number): number => Math.floor(t / 86_400_000);

export class MirrorRunner {
  /** Rules (by index in deps.rules) waiting for a run. */
  private readonly dirty = new Set<number>();
  private pumping: Promise<void> | null = null;
  private closed = false;
  /** The `from` calendar id each rule resolved to at its last run (the change feed's filter). */
  private readonly fromIds = new Map<number, number>();
  /** UTC day of each rule's last full pass in this process (the window slides daily). */
  private readonly fullPassDay = new Map<number, number>();
  /** Problems already logged (said once per process, not at every run). */
  private readonly told = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly d: MirrorDeps) {
    this.now = d.now ?? Date.now;
  }

  get rules(): readonly MirrorRule[] {
    return this.d.rules;
  }

  /** Runs rules on changes of their `from` calendars and after syncs of their sources. */
  watch(feed: ChangeFeed): () => void {
    const unfeed = feed.subscribe((c) => {
      for (const [i, id] of this.fromIds) if (id === c.calendarId) this.trigger([i]);
    });
    const unbus = this.d.bus.subscribe(
      (e) => e.type === "sync.completed",
      (e) => this.trigger(this.d.rules.flatMap((r, i) => (r.owner === e.owner && (splitRef(r.from).source === e.source || splitRef(r.to).source === e.source) ? [i] : []))),
      { localOnly: true }, // another instance's sync is followed up by that instance
    );
    return () => {
      unfeed();
      unbus();
    };
  }

  /** Queues runs of these rules (all when absent); returns when they (and runs queued meanwhile) are done. */
  trigger(indexes: readonly number[] = this.d.rules.map((_, i) => i)): Promise<void> {
    if (this.closed || indexes.length === 0) return this.pumping ?? Promise.resolve();
    for (const i of indexes) this.dirty.add(i);
    this.pumping ??= this.pump().finally(() => (this.pumping = null));
    return this.pumping;
  }

  /** Runs every rule (of one user) now and reports each run. */
  async runAll(owner?: string): Promise<RunResult[]> {
    const out: RunResult[] = [];
    await this.pumping;
    for (const [i, r] of this.d.rules.entries()) if (owner === undefined || r.owner === owner) out.push(await this.runRule(i));
    return out;
  }

  async idle(): Promise<void> {
    while (this.pumping) await this.pumping;
  }
  async close(): Promise<void> {
    this.closed = true;
    this.dirty.clear();
    await this.idle();
  }

  private async pump(): Promise<void> {
    // Started from a change-feed callback: let the committing caller carry on first.
    await Promise.resolve();
    while (this.dirty.size > 0 && !this.closed) {
      const i = this.dirty.values().next().value!;
      this.dirty.delete(i);
      await this.runRule(i).catch((e: Error) => this.d.log.error({ rule: this.d.rules[i]?.key, err: e.message }, "mirror rule run failed"));
    }
  }

  private async runRule(i: number): Promise<RunResult> {
    const rule = this.d.rules[i]!;
    const rows = await this.d.calendars.listByOwner(rule.owner);
    const from = resolveRef(rows, rule.from);
    const to = resolveRef(rows, rule.to);
    const target = to ? await this.d.service.calendar({ username: rule.owner }, to.name) : null;
    const problem =
      from === null ? `"${rule.from}" names no calendar calgate holds (yet)`
      : to === null || target === null ? `"${rule.to}" names no calendar calgate holds (yet)`
      : !target.writable ? `"${rule.to}" is read-only (the upstream grants read access only, or its source left the configuration): no copy can be written`
      : null;
    const base = { rule, fromCalendar: from, toCalendar: to, created: 0, updated: 0, deleted: 0, errors: 0, skipped: 0, lastError: null };
    if (problem !== null) {
      this.tell(`users.${rule.owner}.mirrors[${rule.index}] (${rule.key}): ${problem}; the rule waits`);
      return { ...base, problem };
    }
    this.fromIds.set(i, from!.id);
    const now = this.now();
    const { position, restarted } = await this.d.store.begin(rule.owner, rule.key, from!.id, ruleSettings(rule));
    // A full pass on the first run in this process and once a day (the window slides), and when the
    // change log no longer reaches back to the rule's position.
    const full = restarted || this.fullPassDay.get(i) !== dayOf(now) || position < Number(from!.min_seq);
    const run = new RuleRun({ ...this.d, ruleKeys: (owner) => this.d.rules.filter((r) => r.owner === owner).map((r) => r.key) }, rule, from!, to!, target!, now);
    const { position: reached, result } = await run.run(position, full);
    if (full) this.fullPassDay.set(i, dayOf(now));
    await this.d.store.finish(rule.owner, rule.key, reached, result, result.lastError, now);
    if (result.created + result.updated + result.deleted + result.errors > 0) {
      await this.d.bus.publish({
        type: "mirror.applied", owner: rule.owner, source: to!.source_id, calendar: to!.name, rule: rule.key, mode: rule.mode,
        created: result.created, updated: result.updated, deleted: result.deleted, skipped: result.skipped, errors: result.errors,
        ...(result.lastError ? { error: result.lastError } : {}),
      });
    }
    return { ...base, ...result, problem: null };
  }

  private tell(message: string): void {
    if (this.told.has(message)) return;
    this.told.add(message);
    this.d.log.warn(message);
  }

  /** Rules that cannot run now (a reference naming no calendar, a read-only target), in words. */
  async problems(): Promise<string[]> {
    const out: string[] = [];
    for (const rule of this.d.rules) {
      const rows = await this.d.calendars.listByOwner(rule.owner);
      const at = `users.${rule.owner}.mirrors[${rule.index}]`;
      for (const [k, ref] of [["from", rule.from], ["to", rule.to]] as const) {
        if (resolveRef(rows, ref) === null) out.push(`${at}.${k}: "${ref}" names no calendar calgate holds yet (a synced source's calendars appear after its first sync); the rule waits until it does`);
      }
      const to = resolveRef(rows, rule.to);
      if (to && to.read_only) out.push(`${at}.to: "${rule.to}" is read-only at its upstream; no copy can be written`);
    }
    return out;
  }

  /** Per configured rule: what it is, when it last ran, how many copies it holds and has written. */
  async status(owner?: string): Promise<MirrorRuleStatus[]> {
    const out: MirrorRuleStatus[] = [];
    const states = new Map((await this.d.store.rules(owner)).map((s) => [`${s.owner}\u0000${s.rule_key}`, s]));
    const counts = new Map<string, Map<string, number>>();
    for (const r of this.d.rules) {
      if (owner !== undefined && r.owner !== owner) continue;
      if (!counts.has(r.owner)) counts.set(r.owner, await this.d.store.counts(r.owner));
      const s = states.get(`${r.owner}\u0000${r.key}`);
      out.push({
        owner: r.owner, rule: r.key, from: r.from, to: r.to, mode: r.mode,
        lastRunAt: s?.last_run_at != null ? new Date(s.last_run_at).toISOString() : null,
        copies: counts.get(r.owner)!.get(r.key) ?? 0,
        written: { created: s?.created ?? 0, updated: s?.updated ?? 0, deleted: s?.deleted ?? 0 },
        errors: s?.errors ?? 0,
        lastError: s?.last_error ?? null,
      });
    }
    return out;
  }
}

export type { RunResult };
