/** A time range in epoch milliseconds (UTC), as RFC 4791 9.9 time-range filters and expansion use it. */
export interface TimeRange {
  /** Inclusive start; null means unbounded (RFC 4791 9.9 allows either end to be absent). */
  readonly start: number | null;
  /** Exclusive end; null means unbounded. */
  readonly end: number | null;
}
