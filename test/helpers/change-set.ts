/** A ChangeSet's changed members as one array, whether they came as an array or in pages. */
import { isWholeListing, type ChangeSet, type ObjectHead } from "../../src/dav/service.ts";

export async function changedHeads(c: ChangeSet): Promise<ObjectHead[]> {
  if (isWholeListing(c.changed)) return [...c.changed];
  const out: ObjectHead[] = [];
  for await (const page of c.changed) out.push(...page);
  return out;
}
