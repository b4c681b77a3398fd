/**
 * Conflicts. This module is pure. The resolution policies beyond "upstream wins, ours kept" arrive
 * with the conflict work; content equality lives in ical/content.ts.
 */
import type { ConflictPolicyName } from "../config/schema.ts";
export { contentKey, sameContent } from "../ical/content.ts";

/** What happened to a conflict detected on write-back (the losing version is always kept in `conflicts`). */
export function describeResolution(policy: ConflictPolicyName): string {
  // Until field-level merge lands, every policy keeps the upstream version in the cache and the client's in the record.
  return policy === "upstream-wins" ? "upstream-wins" : `upstream-kept (policy ${policy} pending; the client's version is in the conflict record)`;
}
