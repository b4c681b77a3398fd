/**
 * What an adapter keeps in memory between the pulls of a paged full listing (the first sync of a
 * large calendar), by calendar: a few at most, one per calendar being listed. Losing one (a
 * restart, an eviction) only costs a new listing; the cursor says where the pages stood.
 */
export class ListingMemory<T> {
  private readonly kept = new Map<string, T>();
  constructor(private readonly max = 4) {}

  /** What is kept under `key` (which becomes the most recently used). */
  get(key: string): T | undefined {
    const l = this.kept.get(key);
    if (l !== undefined) {
      this.kept.delete(key);
      this.kept.set(key, l);
    }
    return l;
  }
  set(key: string, l: T): T {
    this.kept.delete(key);
    this.kept.set(key, l);
    for (const k of this.kept.keys()) {
      if (this.kept.size <= this.max) break;
      this.kept.delete(k);
    }
    return l;
  }
  drop(key: string): void {
    this.kept.delete(key);
  }
  dropWhere(pred: (key: string) => boolean): void {
    for (const k of [...this.kept.keys()]) if (pred(k)) this.kept.delete(k);
  }
}

/** Index of the first entry greater than `after` in sorted `order` (where the next page starts). */
export function firstAfter(order: readonly string[], after: string): number {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (order[mid]! <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
