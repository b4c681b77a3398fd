/**
 * The model's invariants over the World's record (world.ts checks them after every command and after
 * quiescence): acknowledged writes kept, cache and upstream in agreement, refusals without effect,
 * no upstream version lost (lineage.ts), and the report printed with a violation.
 */
import { sameContent } from "../../src/sync/conflict.ts";
import { idForName } from "../helpers/memory-upstream.ts";
import type { CacheObject, ConflictView, OutboxView } from "./calgate.ts";
import { lineageProblems } from "./lineage.ts";
import { slotUid, summaryOf } from "./objects.ts";
import { CAL, slotName, type World } from "./world.ts";

export function delivered(w: World, text: string): boolean {
  return w.upstream.history.some((h) => h.by === "adapter" && h.op === "put" && h.sent !== null && h.stored !== null && sameContent(h.sent, text));
}
export function removedByUs(w: World, slot: number, after: number): boolean {
  const id = idForName(slotName(slot));
  return w.upstream.history.some((h) => h.n > after && h.by === "adapter" && h.op === "delete" && h.id === id);
}
/** The upstream lacked the slot's item at some point since history position `after` (a delete's intent held then). */
export function absentSince(w: World, slot: number, after: number): boolean {
  const id = idForName(slotName(slot));
  const before = w.upstream.history.filter((h) => h.n <= after && h.id === id).pop();
  if (!before || before.op === "delete") return true;
  return w.upstream.history.some((h) => h.n > after && h.op === "delete" && h.id === id);
}

/**
 * Is the latest acknowledged client write of each slot still somewhere: served, stored upstream, or
 * kept in the conflict log (that very version)? While a later request on the slot is in flight, the
 * cache may serve that one instead.
 */
export function coverage(w: World, cache: readonly CacheObject[], conflicts: readonly ConflictView[]): string[] {
  const out: string[] = [];
  for (let slot = 0; slot < w.params.slots; slot++) {
    const mine = w.ops.filter((o) => o.slot === slot);
    const acked = mine.filter((o) => o.status === "ok");
    const last = acked[acked.length - 1];
    if (!last) continue;
    const inFlight = mine.filter((o) => o.status === "pending" && o.n > last.n);
    const cached = cache.find((c) => c.uid === slotUid(slot)) ?? null;
    const inConflicts = conflicts.filter((c) => c.name === slotName(slot));
    const servesInFlight = cached ? inFlight.some((o) => o.kind === "put" && sameContent(cached.ics, o.text!)) : inFlight.some((o) => o.kind === "delete");
    if (servesInFlight) continue;
    if (last.kind === "put") {
      const text = last.text!;
      if (cached && sameContent(cached.ics, text)) continue;
      if (delivered(w, text)) continue;
      if (inConflicts.some((c) => c.ours !== null && sameContent(c.ours, text))) continue;
      out.push(`acknowledged #${last.n} PUT ${slotName(slot)} "${summaryOf(text)}" is lost: the cache has ${cached ? `"${summaryOf(cached.ics)}"` : "nothing"}, the upstream never stored it, and no conflict record keeps it (conflicts on it: ${inConflicts.map((c) => `#${c.id} ours="${summaryOf(c.ours)}" theirs="${summaryOf(c.theirs)}"`).join(", ") || "none"})`);
    } else {
      if (!cached) continue;
      if (absentSince(w, slot, last.issuedHist)) continue;
      if (inConflicts.some((c) => c.id > last.issuedConflict)) continue;
      // It deleted a version of ours that never reached the upstream: nothing to delete there; what the
      // upstream holds under that name is someone else's object, which the client never saw.
      const mineNeverSent = last.target != null && mine.some((o) => o.kind === "put" && o.text !== null && sameContent(o.text, last.target!)) && !delivered(w, last.target);
      if (mineNeverSent) continue;
      out.push(`acknowledged #${last.n} DELETE ${slotName(slot)} is undone: the cache serves "${summaryOf(cached.ics)}", the upstream has held the object ever since the DELETE, and no conflict was recorded since`);
    }
  }
  return out;
}

/**
 * An ETag given to a client names what it sent (RFC 4791 5.3.4): when the cache serves an object under
 * an ETag a PUT was answered with, it serves that PUT's text (a merged or rewritten result gets a new
 * ETag, and the PUT's answer none).
 */
export function etagProblems(w: World, cache: readonly CacheObject[]): string[] {
  const out: string[] = [];
  for (const c of cache) {
    const op = w.ops.find((o) => o.kind === "put" && o.etag === c.etag && slotName(o.slot) === c.name);
    if (op && !sameContent(c.ics, op.text!)) out.push(`#${op.n} PUT ${c.name} "${summaryOf(op.text)}" was answered with ETag ${c.etag}, under which the cache serves "${summaryOf(c.ics)}"`);
  }
  return out;
}

/** After quiescence (the client's mirror synced): what is wrong with the final state. */
export function finalProblems(w: World, cache: readonly CacheObject[], outbox: readonly OutboxView[], conflicts: readonly ConflictView[]): string[] {
  const problems: string[] = [];
  const up = [...w.upstream.items(CAL).values()];
  const uidOf = (ics: string): string => /^UID:(.*)$/m.exec(ics)?.[1]?.trim() ?? "?";
  const upByUid = new Map(up.map((i) => [uidOf(i.ics), i]));
  const cacheByUid = new Map(cache.map((c) => [c.uid, c]));
  if (upByUid.size !== up.length) problems.push("the upstream holds two items with one UID");
  for (const [uid, it] of upByUid) {
    const c = cacheByUid.get(uid);
    if (!c) problems.push(`upstream ${it.id} "${summaryOf(it.ics)}" is not in the cache`);
    else if (!sameContent(c.ics, it.ics)) problems.push(`${c.name}: the cache serves "${summaryOf(c.ics)}", the upstream holds "${summaryOf(it.ics)}"`);
  }
  for (const [uid, c] of cacheByUid) if (!upByUid.has(uid)) problems.push(`${c.name} "${summaryOf(c.ics)}" is in the cache but not upstream`);
  // A client syncing incrementally since its first sync (the World has just synced it) sees exactly what is served.
  const served = new Map(cache.map((c) => [c.name, c.etag]));
  for (const [name, etag] of served) if (w.mirror.get(name) !== etag) problems.push(`a client syncing incrementally has ${name} at ${w.mirror.get(name) ?? "nothing"}, calgate serves ${etag} (a change never reached the change log)`);
  for (const name of w.mirror.keys()) if (!served.has(name)) problems.push(`a client syncing incrementally still has ${name}, which calgate no longer serves (a removal never reached the change log)`);
  problems.push(...lineageProblems(w, conflicts));
  const pending = outbox.filter((o) => o.state === "pending");
  if (pending.length) problems.push(`outbox rows still pending: ${pending.map((o) => `${o.id} ${o.op} ${o.name}`).join(", ")}`);
  for (const op of w.ops) {
    if (op.status !== "412" && op.status !== "refused") continue;
    if (op.kind === "put") {
      if (delivered(w, op.text!)) problems.push(`#${op.n} PUT ${slotName(op.slot)} "${summaryOf(op.text)}" was answered ${op.status} but the upstream stored it`);
      const c = cacheByUid.get(slotUid(op.slot));
      if (c && sameContent(c.ics, op.text!)) problems.push(`#${op.n} PUT ${slotName(op.slot)} "${summaryOf(op.text)}" was answered ${op.status} but the cache serves it`);
    } else {
      const others = w.ops.some((o) => o !== op && o.slot === op.slot && o.kind === "delete" && o.status !== "412" && o.status !== "refused" && o.status !== "404");
      if (!others && removedByUs(w, op.slot, op.issuedHist)) problems.push(`#${op.n} DELETE ${slotName(op.slot)} was answered ${op.status} but calgate deleted it upstream`);
    }
  }
  return problems;
}

/** Everything a person needs to see what happened. */
export async function report(w: World): Promise<string> {
  let cache: CacheObject[] = [];
  let outbox: OutboxView[] = [];
  let conflicts: ConflictView[] = [];
  try {
    [cache, outbox, conflicts] = [await w.primary.cache(), await w.primary.outbox(), await w.primary.conflicts()];
  } catch (e) {
    /* the database may be closed */
    void e;
  }
  const up = [...w.upstream.items(CAL).values()];
  return [
    "trace:",
    ...w.trace.map((l) => `    ${l}`),
    "upstream calls:",
    ...w.upstream.calls.map((c) => `    ${c.n}. [a${c.adapter}] ${c.op} ${c.target ?? ""}${c.fault ? ` <${c.fault}>` : ""} → ${c.outcome.split("\n")[0]!.slice(0, 200)}`),
    "upstream history:",
    ...w.upstream.history.map((h) => `    ${h.n}. ${h.by} ${h.op} ${h.id}${h.op === "put" ? ` sent "${summaryOf(h.sent)}" stored "${summaryOf(h.stored)}" ${h.etag}` : ""}`),
    `upstream now: ${up.map((i) => `${i.id}="${summaryOf(i.ics)}" ${i.etag}`).join(", ") || "empty"}`,
    `cache now: ${cache.map((c) => `${c.name}="${summaryOf(c.ics)}"`).join(", ") || "empty"}`,
    `outbox: ${outbox.map((o) => `${o.id}:${o.op} ${o.name} "${summaryOf(o.ics)}" ${o.state}`).join(", ") || "empty"}`,
    `conflicts (policy ${w.policy}): ${conflicts.map((c) => `${c.id}:${c.name} ${c.outcome ?? "refused"} base="${summaryOf(c.base)}" ours="${summaryOf(c.ours)}" theirs="${summaryOf(c.theirs)}" result="${summaryOf(c.result)}"`).join(", ") || "none"}`,
    `client answers: ${w.ops.map((o) => `#${o.n} ${o.kind} ${slotName(o.slot)} "${summaryOf(o.text)}" → ${o.status}`).join("; ") || "none"}`,
  ].join("\n");
}
