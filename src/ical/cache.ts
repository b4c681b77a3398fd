/**
 * A bounded LRU of parsed calendar objects keyed by ETag (a content hash, so an entry can never be
 * stale). calendar-query and free-busy evaluate the same recurring objects on every poll; parsing
 * them once instead of per request is most of a query's cost. Bounded by the stored text's size so
 * memory stays predictable whatever the calendar size.
 */
import { parseCalendarObject, type CalendarObject } from "./parse.ts";

export class ParsedObjectCache {
  private readonly entries = new Map<string, CalendarObject>();
  private bytes = 0;
  // Parsed trees are ~10-20x their text; 4 MiB of text keeps the cache well under 100 MB.
  constructor(private readonly maxBytes = 4 * 1024 * 1024) {}

  get(etag: string, text: string): CalendarObject {
    const hit = this.entries.get(etag);
    if (hit) {
      this.entries.delete(etag);
      this.entries.set(etag, hit);
      return hit;
    }
    const parsed = parseCalendarObject(text);
    const size = parsed.text.length;
    if (size <= this.maxBytes / 4) {
      this.entries.set(etag, parsed);
      this.bytes += size;
      for (const [k, v] of this.entries) {
        if (this.bytes <= this.maxBytes) break;
        this.entries.delete(k);
        this.bytes -= v.text.length;
      }
    }
    return parsed;
  }
}

/** One cache per process: ETags are content hashes, so sharing across calendars is safe. */
export const parsedObjects = new ParsedObjectCache();
