/**
 * Conflicts. This module is pure. Content equality lives in ical/content.ts, the three-way merge in
 * ical/merge.ts; this module picks what the cache and the upstream hold under a conflict policy.
 */
import type { ConflictPolicyName } from "../config/schema.ts";
export { contentKey, sameContent } from "../ical/content.ts";

export type ConflictOutcome = "merged" | "upstream-won" | "client-won" | "newest-won" | "kept-edit";
export interface Resolution {
  readonly ics: string | null;
  readonly outcome: ConflictOutcome;
  readonly clashes: readonly string[];
}

/** What the cache and the upstream should hold after a conflict between the client's version (ours) and the upstream's (theirs), under a policy. Pure. */
export function resolveConflict(policy: "merge" | "upstream-wins" | "client-wins" | "newest-wins", base: string | null, ours: string | null, theirs: string | null): Resolution {
  void base;
  void ours;
  void theirs;
  throw new Error(`resolveConflict(${policy}): not implemented yet`);
}

/** What happened to a conflict detected on write-back (the losing version is always kept in `conflicts`). */
export function describeResolution(policy: ConflictPolicyName): string {
  // Until the writer calls resolveConflict, every policy keeps the upstream version in the cache and the client's in the record.
  return policy === "upstream-wins" ? "upstream-wins" : `upstream-kept (policy ${policy} pending; the client's version is in the conflict record)`;
}
