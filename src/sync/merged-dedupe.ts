/**
 * Which copy of a meeting a merged calendar shows when several included calendars hold the same UID:
 * the organizer's (a copy in a calendar whose owner addresses include the ORGANIZER), else the copy
 * in the calendar included first; a mirror rule's copy only when there is nothing else. A pure function of the copies and the include order, so the choice
 * is the same after a restart or a resync.
 */
import { splitProp } from "../ical/merge-model.ts";

export interface Copy {
  readonly calendarId: number;
  readonly objectName: string;
  readonly etag: string;
  /** The object's text; only needed when there is more than one copy. */
  readonly ics: string | null;
  /** A mirror rule's copy (a busy block or a full copy): shown only when no other copy is. */
  readonly mirrored?: boolean;
}

/** The ORGANIZER's address (lower case, mailto: stripped) of the first component that has one. */
export function organizerOf(ics: string): string | null {
  const unfolded = ics.replace(/\r\n?/g, "\n").replace(/\n[ \t]/g, "");
  const m = /^ORGANIZER[;:].*$/im.exec(unfolded);
  if (!m) return null;
  const p = splitProp(m[0]);
  if (!p) return null;
  const v = p.value.trim().toLowerCase();
  return v.startsWith("mailto:") ? v.slice("mailto:".length) : v;
}

/**
 * `order`: included calendar ids, first included first. `owners`: a calendar's owner addresses.
 * Returns null only when there is no copy.
 */
export function chooseCopy(copies: readonly Copy[], order: readonly number[], owners: ReadonlyMap<number, ReadonlySet<string>>): Copy | null {
  if (copies.length <= 1) return copies[0] ?? null;
  const rank = (c: Copy): number => {
    const i = order.indexOf(c.calendarId);
    return i < 0 ? order.length : i;
  };
  const sorted = [...copies].sort((a, b) => Number(a.mirrored ?? false) - Number(b.mirrored ?? false) || rank(a) - rank(b) || (a.objectName < b.objectName ? -1 : a.objectName > b.objectName ? 1 : 0));
  for (const c of sorted) {
    const addresses = owners.get(c.calendarId);
    if (c.mirrored || !addresses || addresses.size === 0 || c.ics === null) continue;
    const org = organizerOf(c.ics);
    if (org !== null && addresses.has(org)) return c;
  }
  return sorted[0]!;
}
