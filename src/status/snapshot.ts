/**
 * The data of GET /status.json (and the status page): one user's sources with their state and
 * calendars, and the conflicts awaiting a look. Other parts of calgate add their own top-level
 * sections (arrays, e.g. `merged` and `mirrors`) through `section()`; the page renders sections it
 * does not know as generic tables.
 */
import type { CalendarRow } from "../store/calendars.ts";
import type { ConflictEntry } from "../store/conflicts.ts";
import type { SourceState, SourceStates } from "./source-states.ts";

export interface CalendarState {
  /** The calendar's URL segment under the user's calendar home. */
  readonly id: string;
  readonly name: string;
  readonly color: string | null;
  readonly href: string;
}

export interface SourceStatusEntry extends SourceState {
  readonly calendars: readonly CalendarState[];
}

export interface StatusDocument {
  readonly user: string;
  /** ISO time the document was made. */
  readonly at: string;
  readonly sources: readonly SourceStatusEntry[];
  readonly conflicts: {
    /** Conflicts whose outcome is "pending" (nothing was decided; a person should look). */
    readonly pending: number;
    /** Every pending conflict, then the most recent decided ones (newest first), at most RECENT_CONFLICTS of those. */
    readonly items: readonly ConflictEntry[];
  };
  /** Sections added by other parts of calgate (e.g. merged, mirrors): arrays of plain objects. */
  readonly [section: string]: unknown;
}

export type StatusSection = (owner: string) => Promise<readonly Record<string, unknown>[]>;

export interface StatusSnapshotDeps {
  states: SourceStates;
  calendars(owner: string): Promise<readonly CalendarRow[]>;
  conflicts(owner: string): Promise<readonly ConflictEntry[]>;
}

const RECENT_CONFLICTS = 20;
const RESERVED = new Set(["user", "at", "sources", "conflicts"]);

export class StatusSnapshot {
  private readonly sections = new Map<string, StatusSection>();

  constructor(private readonly d: StatusSnapshotDeps) {}

  /** Adds a top-level section to every user's document (e.g. "merged", "mirrors"). */
  section(name: string, f: StatusSection): void {
    if (RESERVED.has(name)) throw new Error(`status section "${name}" is reserved`);
    this.sections.set(name, f);
  }

  async of(owner: string): Promise<StatusDocument> {
    const [states, calendars, conflicts] = await Promise.all([this.d.states.list(owner), this.d.calendars(owner), this.d.conflicts(owner)]);
    const home = `/dav/calendars/${encodeURIComponent(owner)}/`;
    const sources = states.map((s) => ({
      ...s,
      calendars: calendars
        .filter((c) => c.source_id === s.id)
        .map((c) => ({ id: c.name, name: c.displayname ?? c.name, color: c.color, href: `${home}${encodeURIComponent(c.name)}/` })),
    }));
    const pending = conflicts.filter((c) => c.outcome === "pending");
    const decided = conflicts.filter((c) => c.outcome !== "pending").slice(-RECENT_CONFLICTS).reverse();
    const doc: Record<string, unknown> = { user: owner, at: new Date().toISOString(), sources, conflicts: { pending: pending.length, items: [...pending, ...decided] } };
    for (const [name, f] of this.sections) doc[name] = await f(owner);
    return doc as StatusDocument;
  }
}
