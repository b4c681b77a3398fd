/**
 * Conflicts. This module is pure. Content equality lives in ical/content.ts, the three-way merge in
 * ical/merge.ts; this module decides what the cache and the upstream hold under a conflict policy.
 */
import { sameContent } from "../ical/content.ts";
import { mergeObjects, newerObject, validateSide } from "../ical/merge.ts";
export { contentKey, sameContent } from "../ical/content.ts";

export type ConflictOutcome = "merged" | "upstream-won" | "client-won" | "newest-won" | "kept-edit";
export interface Resolution {
  readonly ics: string | null;
  readonly outcome: ConflictOutcome;
  readonly clashes: readonly string[];
}

/**
 * What the cache and the upstream should hold after a conflict between the client's version (ours)
 * and the upstream's (theirs), under a policy. Pure. null (as input) is a delete on that side, and
 * (as result) means the object is deleted on both.
 *
 * - "merge": mergeObjects; "kept-edit" when one side deleted and the other edited (the edit is kept),
 *   "merged" otherwise (also when both hold the same content: no clashes; and without a base, where a
 *   missing side never had the object rather than deleted it).
 * - "newest-wins": the whole newer object by the master's LAST-MODIFIED, then DTSTAMP, then SEQUENCE
 *   (ties: the upstream). A delete carries no stamps, so as under "merge" a delete against an edit
 *   keeps the edit ("kept-edit"), and a delete against no change (the other side equals the base)
 *   stands ("newest-won", null).
 * - "upstream-wins" / "client-wins": the named side, whatever it holds, its delete included: these
 *   policies are chosen to make one side authoritative, and keeping the other side's edit against
 *   its delete would break that promise. The losing version stays in the conflict record.
 * Invalid iCalendar on any side is an IcalError under every policy.
 */
export function resolveConflict(policy: "merge" | "upstream-wins" | "client-wins" | "newest-wins", base: string | null, ours: string | null, theirs: string | null): Resolution {
  validateSide(base, "base");
  validateSide(ours, "ours");
  validateSide(theirs, "theirs");
  switch (policy) {
    case "upstream-wins":
      return { ics: theirs, outcome: "upstream-won", clashes: [] };
    case "client-wins":
      return { ics: ours, outcome: "client-won", clashes: [] };
    case "newest-wins":
      return newestWins(base, ours, theirs);
    case "merge": {
      if (ours !== null && theirs !== null && sameContent(ours, theirs)) return { ics: ours, outcome: "merged", clashes: [] };
      const r = mergeObjects(base, ours, theirs);
      const keptEdit = base !== null && (ours === null) !== (theirs === null) && r.ics !== null;
      return { ics: r.ics, outcome: keptEdit ? "kept-edit" : "merged", clashes: r.clashes };
    }
  }
}

function newestWins(base: string | null, ours: string | null, theirs: string | null): Resolution {
  if (ours === null || theirs === null) {
    const kept = ours ?? theirs;
    if (kept === null || base === null) return { ics: kept, outcome: "newest-won", clashes: [] };
    if (sameContent(base, kept)) return { ics: null, outcome: "newest-won", clashes: [] };
    return { ics: kept, outcome: "kept-edit", clashes: [`the object: deleted by ${ours === null ? "ours" : "theirs"}, edited by ${ours === null ? "theirs" : "ours"}: the edit is kept`] };
  }
  const d = newerObject(ours, theirs);
  return { ics: d.side === "ours" ? ours : theirs, outcome: "newest-won", clashes: [] };
}
