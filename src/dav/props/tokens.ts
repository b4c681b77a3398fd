/** Sync tokens (RFC 6578: a URI) and getctag values, derived from the calendar's change-log sequence. */
import type { CalendarMeta } from "../service.ts";

const PREFIX = "urn:calgate:sync:";

/** Where a token stands in the calendar's change log (see ChangeSet.removedThrough). */
export interface SyncPosition {
  seq: number;
  removedThrough: number;
}

/**
 * `urn:calgate:sync:<calendar>:<seq>`; a truncated initial listing continues with
 * `urn:calgate:sync:<calendar>:<seq>:<removedThrough>` (removedThrough > seq).
 */
export function syncToken(cal: CalendarMeta, seq = cal.syncSeq, removedThrough = seq): string {
  return removedThrough > seq ? `${PREFIX}${cal.id}:${seq}:${removedThrough}` : `${PREFIX}${cal.id}:${seq}`;
}

/** The position a token names, or undefined when the token is not one of this calendar's. */
export function parseSyncToken(cal: CalendarMeta, token: string): SyncPosition | undefined {
  const t = token.trim();
  if (!t.startsWith(PREFIX)) return undefined;
  const [id, seq, removed, ...rest] = t.slice(PREFIX.length).split(":");
  const num = /^\d+$/;
  if (rest.length > 0 || id !== String(cal.id) || seq === undefined || !num.test(seq)) return undefined;
  if (removed === undefined) return { seq: Number(seq), removedThrough: Number(seq) };
  if (!num.test(removed) || Number(removed) <= Number(seq)) return undefined;
  return { seq: Number(seq), removedThrough: Number(removed) };
}
