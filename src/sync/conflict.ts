/**
 * Conflicts. This module is pure. `contentKey` decides whether two versions of an object say the same
 * thing (house style 7: "changed" means the normalised content changed, not the ETag or the bytes):
 * lines unfolded, line endings unified, PRODID/DTSTAMP ignored, property order inside a component
 * ignored. The resolution policies beyond "upstream wins, ours kept" arrive with the conflict work.
 */
import { createHash } from "node:crypto";
import type { ConflictPolicyName } from "../config/schema.ts";

const IGNORED = /^(PRODID|DTSTAMP)[;:]/i;

export function contentKey(ics: string): string {
  const lines = ics.replace(/\r\n?/g, "\n").replace(/\n[ \t]/g, "").split("\n");
  // Sort properties within each component block; keep BEGIN/END structure.
  const out: string[] = [];
  const stack: string[][] = [];
  let cur: string[] = [];
  for (const raw of lines) {
    const line = raw.trimEnd();
    if (line === "" || IGNORED.test(line)) continue;
    if (/^BEGIN:/i.test(line)) {
      stack.push(cur);
      cur = [line.toUpperCase()];
    } else if (/^END:/i.test(line)) {
      const head = cur.shift()!;
      const block = [head, ...cur.sort(), line.toUpperCase()].join("\n");
      cur = stack.pop() ?? [];
      cur.push(block);
    } else cur.push(line);
  }
  out.push(...cur.sort());
  return createHash("sha256").update(out.join("\n")).digest("base64url");
}

export function sameContent(a: string, b: string): boolean {
  return a === b || contentKey(a) === contentKey(b);
}

/** What happened to a conflict detected on write-back (the losing version is always kept in `conflicts`). */
export function describeResolution(policy: ConflictPolicyName): string {
  // Until field-level merge lands, every policy keeps the upstream version in the cache and the client's in the record.
  return policy === "upstream-wins" ? "upstream-wins" : `upstream-kept (policy ${policy} pending; the client's version is in the conflict record)`;
}
