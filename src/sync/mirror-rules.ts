/** The mirror rules of the config, with their defaults applied, each with a stable key. */
import type { Config, MirrorConfig } from "../config/schema.ts";
import type { MirrorMode } from "./mirror-copy.ts";

export interface MirrorRule {
  readonly owner: string;
  /** Index in the user's `mirrors` list (for messages: users.<u>.mirrors[<i>]). */
  readonly index: number;
  /** "<from> -> <to>": names the rule in the store, the status data and the status feed. */
  readonly key: string;
  readonly from: string;
  readonly to: string;
  readonly mode: MirrorMode;
  readonly busyText: string;
  readonly includeFree: boolean;
  readonly window: { readonly pastDays: number; readonly futureDays: number } | null;
}

export const ruleKey = (m: Pick<MirrorConfig, "from" | "to">): string => `${m.from} -> ${m.to}`;

export function mirrorRules(config: Config, owner?: string): MirrorRule[] {
  return config.users
    .filter((u) => owner === undefined || u.username === owner)
    .flatMap((u) =>
      (u.mirrors ?? []).map((m, index) => ({
        owner: u.username,
        index,
        key: ruleKey(m),
        from: m.from,
        to: m.to,
        mode: m.mode,
        busyText: m.busyText,
        // Busy blocks stand for time that is taken: free events are left out unless asked for. A full copy is a copy of the calendar: all of it.
        includeFree: m.includeFree ?? m.mode === "full",
        window: m.window ?? null,
      })),
    );
}

/** What the copies depend on besides the originals: a change rewrites every copy of the rule. */
export function ruleSettings(r: MirrorRule): string {
  return JSON.stringify({ mode: r.mode, busyText: r.busyText, includeFree: r.includeFree, window: r.window });
}
