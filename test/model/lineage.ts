/**
 * "No version ever disappears" (issue 11 deliverable 6), for the upstream's side: every version
 * calgate replaced or deleted on the upstream is either one the replacing version was made from (a
 * client edited what it was served, a merge kept it, the upstream rewrote what was sent) or kept in
 * the conflict log as `theirs`. Under merge a delete against an edit keeps the edit, so there calgate
 * deletes only versions a client deleted (the version it was served when it sent the DELETE, or one
 * that version was made from): the conflict log is not enough.
 *
 * Lineage comes from the World (every model write records what it started from), from the conflict
 * log (a result is made from ours and theirs) and from the upstream's history (what it stored was
 * made from what was sent).
 */
import { contentKey } from "../../src/sync/conflict.ts";
import type { ConflictView } from "./calgate.ts";
import type { World } from "./world.ts";
import { summaryOf } from "./objects.ts";


export function lineageProblems(w: World, conflicts: readonly ConflictView[]): string[] {
  const history = w.upstream.history;
  for (const c of conflicts) if (c.result !== null) w.derive(c.result, c.ours, c.theirs);
  for (const h of history) if (h.by === "adapter" && h.op === "put" && h.sent !== null && h.stored !== null && h.sent !== h.stored) w.derive(h.stored, h.sent);
  const theirs = new Set(conflicts.flatMap((c) => (c.theirs !== null ? [contentKey(c.theirs)] : [])));
  /** Is `v` `of` itself, or one of the versions it was made from (transitively)? */
  const from = (v: string, of: string): boolean => {
    const seen = new Set<string>();
    const todo = [of];
    while (todo.length) {
      const k = todo.pop()!;
      if (k === v) return true;
      if (seen.has(k)) continue;
      seen.add(k);
      for (const p of w.parents.get(k) ?? []) todo.push(p);
    }
    return false;
  };
  const out: string[] = [];
  const current = new Map<string, string>();
  const etags = new Map<string, string | null>();
  for (const h of history) {
    const before = current.get(h.id);
    const prevEtag = etags.get(h.id) ?? null;
    if (h.op === "put") (current.set(h.id, h.stored!), etags.set(h.id, h.etag));
    else (current.delete(h.id), etags.delete(h.id));
    if (h.by !== "adapter" || before === undefined) continue;
    const v = contentKey(before);
    const what = `upstream version "${summaryOf(before)}" of ${h.id} (${h.op === "put" ? `replaced by calgate with "${summaryOf(h.stored)}"` : "deleted by calgate"}, history #${h.n})`;
    // A client deleted it (a DELETE then a create of the name reach the upstream as one replacement).
    const slot = Number(/^item:s(\d+)\.ics$/.exec(h.id)?.[1] ?? NaN);
    const deletedByClient = w.ops.some((o) => o.slot === slot && o.kind === "delete" && o.target != null && from(v, contentKey(o.target)));
    // The known defect "resolution-answer-lost" (regressions.test.ts, todo): a conflict's result is written
    // over the version just read, the answer is lost, and the retry finds its goal reached: no record.
    // Looked past only when the run says so, for a version read by a GET and replaced by a call whose answer was lost.
    const answerLost = (): boolean =>
      w.upstream.calls.some((c) => c.op === "get" && c.target === h.id && c.outcome.includes(`etag=${prevEtag}`)) &&
      w.upstream.calls.some((c) => (c.op === "write" || c.op === "remove") && c.target === h.id && c.fault === "apply-then-fail");
    if (!deletedByClient && !theirs.has(v) && w.params.lookPast?.includes("resolution-answer-lost") && answerLost()) {
      w.lookedPast("resolution-answer-lost");
      continue;
    }
    if (h.op === "put") {
      const now = contentKey(h.stored!);
      if (v !== now && !from(v, now) && !theirs.has(v) && !deletedByClient) out.push(`${what} disappeared: the new version was not made from it, no client deleted it, and no conflict record keeps it as theirs`);
      continue;
    }
    if (deletedByClient) continue;
    // The known defect "locate-delete" (regressions.test.ts, todo): a DELETE of a create that never
    // reached the upstream locates the name and deletes what another client created there. Looked past
    // only when the run says so (engine.model.test.ts), and only for exactly the version located.
    if (w.params.lookPast?.includes("locate-delete") && w.upstream.calls.some((c) => c.op === "locate" && c.target === h.id && c.outcome.includes(`etag=${prevEtag}`))) {
      w.lookedPast("locate-delete");
      continue;
    }
    if (w.policy === "merge") out.push(`${what}: no client deleted it or a version made from it; under merge a delete against an edit keeps the edit${theirs.has(v) ? " (it is in the conflict log, but it is gone)" : ""}`);
    else if (!theirs.has(v)) out.push(`${what} disappeared: no client deleted it or a version made from it, and no conflict record keeps it as theirs`);
  }
  return out;
}
