/** Sync tokens (RFC 6578: a URI) and getctag values, derived from the calendar's change-log sequence. */
import type { CalendarMeta } from "../service.ts";

const PREFIX = "urn:calgate:sync:";

export function syncToken(cal: CalendarMeta, seq = cal.syncSeq): string {
  return `${PREFIX}${cal.id}:${seq}`;
}

/** The sequence a token names, or undefined when the token is not one of this calendar's. */
export function parseSyncToken(cal: CalendarMeta, token: string): number | undefined {
  const t = token.trim();
  if (!t.startsWith(PREFIX)) return undefined;
  const [id, seq, ...rest] = t.slice(PREFIX.length).split(":");
  if (rest.length > 0 || id !== String(cal.id) || seq === undefined || !/^\d+$/.test(seq)) return undefined;
  return Number(seq);
}
