/**
 * Three-way merge of one calendar object resource against the last synced version (the base).
 * Pure: text in, text out. Implementation follows (issue 11, deliverable 2).
 */
import { IcalError } from "./errors.ts";

export interface MergeResult {
  /** The merged calendar object (iCalendar text), or null when the result is "deleted". */
  readonly ics: string | null;
  /** Properties both sides changed differently, with the side kept, e.g. "SUMMARY (RECURRENCE-ID 20260105T090000Z): theirs (newer LAST-MODIFIED)". Empty: a clean merge. */
  readonly clashes: readonly string[];
}

/** Three-way merge of one calendar object resource. base null: both sides created it independently (merge with an empty base). ours/theirs null: that side deleted it. */
export function mergeObjects(base: string | null, ours: string | null, theirs: string | null): MergeResult {
  void base;
  void ours;
  void theirs;
  throw new IcalError("mergeObjects: not implemented yet");
}
