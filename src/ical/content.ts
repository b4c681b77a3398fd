/**
 * Whether two versions of an object say the same thing (house style 7: "changed" means the normalised
 * content changed, not the ETag or the bytes): lines unfolded, line endings unified, PRODID/DTSTAMP
 * ignored, property order inside a component ignored. Pure; used by the sync engine and by adapters
 * that read back what an upstream stored.
 */
import { createHash } from "node:crypto";

const IGNORED = /^(PRODID|DTSTAMP)[;:]/i;

export function contentKey(ics: string): string {
  const lines = ics.replace(/\r\n?/g, "\n").replace(/\n[ \t]/g, "").split("\n");
  // Sort properties within each component block; keep BEGIN/END structure.
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
  return createHash("sha256").update(cur.sort().join("\n")).digest("base64url");
}

export function sameContent(a: string, b: string): boolean {
  return a === b || contentKey(a) === contentKey(b);
}
