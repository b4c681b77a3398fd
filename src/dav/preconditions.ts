/** If-Match / If-None-Match parsed once into a value the store enforces inside its transaction. */
import type { Preconditions } from "./service.ts";

function parseList(v: string | undefined): readonly string[] | "*" | null {
  if (v === undefined) return null;
  const t = v.trim();
  if (t === "*") return "*";
  const tags = t.match(/(?:W\/)?"[^"]*"/g);
  // Weak validators never match strong comparison (RFC 9110 13.1.1); keep them so the list is non-empty.
  return tags ? tags.map((x) => x) : [t];
}

export function parsePreconditions(header: (name: string) => string | undefined): Preconditions {
  return { ifMatch: parseList(header("if-match")), ifNoneMatch: parseList(header("if-none-match")) };
}
