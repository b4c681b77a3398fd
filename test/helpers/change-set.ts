/** A ChangeSet's changed members as one array, whether they came as an array or in pages. */
import type { ChangeSet, ObjectHead } from "../../src/dav/service.ts";

export async function changedHeads(c: ChangeSet): Promise<ObjectHead[]> {
  if (Array.isArray(c.changed)) return [...(c.changed as readonly ObjectHead[])];
  const out: ObjectHead[] = [];
  for await (const page of c.changed as AsyncIterable<readonly ObjectHead[]>) out.push(...page);
  return out;
}
