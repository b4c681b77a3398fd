/** calgate's own strong ETag: a hash of exactly the text served. */
import { createHash } from "node:crypto";

export function etagOf(text: string): string {
  return `"${createHash("sha256").update(text, "utf8").digest("base64url").slice(0, 22)}"`;
}
