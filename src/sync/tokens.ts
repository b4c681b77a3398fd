/**
 * Sync tokens of plain calendars (RFC 6578: a URI), derived from the calendar's change-log sequence.
 * Only sync/ builds or reads them: dav/ hands them to clients and back as opaque strings (a merged
 * calendar's token is a composite of its members' positions, in a format of its own).
 */

const PREFIX = "urn:calgate:sync:";

/** Where a token stands in the calendar's change log. */
export interface SyncPosition {
  /** Every change up to this sequence has been reported. */
  readonly seq: number;
  /**
   * Removals up to this sequence need not be reported (never below `seq`). Above `seq` only while a
   * truncated initial listing is continued: the listing gave live members as of `removedThrough`, in
   * change order up to `seq`, so the members after `seq` are still to come, but tombstones up to
   * `removedThrough` are of objects the client never saw.
   */
  readonly removedThrough: number;
}

/**
 * `urn:calgate:sync:<calendar>:<seq>`; a truncated initial listing continues with
 * `urn:calgate:sync:<calendar>:<seq>:<removedThrough>` (removedThrough > seq).
 */
export function formatSyncToken(calendarId: number | string, seq: number, removedThrough = seq): string {
  return removedThrough > seq ? `${PREFIX}${calendarId}:${seq}:${removedThrough}` : `${PREFIX}${calendarId}:${seq}`;
}

/** The position a token names, or undefined when the token is not one of this calendar's (malformed, or another's). */
export function parseSyncToken(calendarId: number | string, token: string): SyncPosition | undefined {
  const t = token.trim();
  if (!t.startsWith(PREFIX)) return undefined;
  const [id, seq, removed, ...rest] = t.slice(PREFIX.length).split(":");
  const num = /^\d+$/;
  if (rest.length > 0 || id !== String(calendarId) || seq === undefined || !num.test(seq)) return undefined;
  if (removed === undefined) return { seq: Number(seq), removedThrough: Number(seq) };
  if (!num.test(removed) || Number(removed) <= Number(seq)) return undefined;
  return { seq: Number(seq), removedThrough: Number(removed) };
}
