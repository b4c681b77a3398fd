/**
 * One calendar object resource is one Google series: the master (or single event) and the instances
 * Google keeps as events of their own (exceptions, cancelled occurrences). These pure helpers group
 * listed events into series, and give each series one version tag made of its events' etags, so a
 * change to any exception changes the object's version, and a write can name the etag of each event
 * it replaces.
 */
import { createHash } from "node:crypto";
import type { calendar_v3 } from "@googleapis/calendar";

export type GEvent = calendar_v3.Schema$Event;

export interface Series {
  /** The RemoteRef id: the master's id (for orphan instances, the recurringEventId they share). */
  readonly key: string;
  /** Null when Google shows only instances (an invitation to single occurrences) or the master is deleted. */
  readonly master: GEvent | null;
  readonly instances: GEvent[];
}

/** The key of the series an event belongs to. */
export const seriesKeyOf = (e: GEvent): string => e.recurringEventId ?? e.id ?? "";

export const isCancelled = (e: GEvent): boolean => e.status === "cancelled";

/** Groups events (in listing order; a later copy of an event replaces an earlier one) into series. */
export function groupSeries(events: readonly GEvent[]): Map<string, Series> {
  const out = new Map<string, { key: string; master: GEvent | null; instances: Map<string, GEvent> }>();
  for (const e of events) {
    if (!e.id) continue;
    const key = seriesKeyOf(e);
    let s = out.get(key);
    if (!s) out.set(key, (s = { key, master: null, instances: new Map() }));
    if (e.recurringEventId) s.instances.set(e.id, e);
    else s.master = e;
  }
  const result = new Map<string, Series>();
  for (const [k, s] of out) result.set(k, { key: k, master: s.master, instances: [...s.instances.values()] });
  return result;
}

/** A series clients can see: a live master, or at least one live instance. */
export function isLive(s: Series): boolean {
  return (s.master !== null && !isCancelled(s.master)) || s.instances.some((i) => !isCancelled(i));
}

export interface SeriesVersion {
  /** The master's etag (null: no live master). */
  readonly m: string | null;
  /** Instance id → etag, for every instance Google holds as an event (cancelled ones too). */
  readonly x: ReadonlyMap<string, string>;
}

/** The version tag of a series: the master's etag alone for a plain event, else a JSON of all etags. */
export function versionOf(s: Series): string {
  const m = s.master && !isCancelled(s.master) ? (s.master.etag ?? "") : null;
  if (s.instances.length === 0 && m !== null) return m;
  const x = s.instances.filter((i) => i.id).map((i) => [i.id!, i.etag ?? ""] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return JSON.stringify({ m, x });
}

export function parseVersion(tag: string): SeriesVersion {
  if (!tag.startsWith("{")) return { m: tag, x: new Map() };
  const v = JSON.parse(tag) as { m: string | null; x: [string, string][] };
  return { m: v.m, x: new Map(v.x) };
}

/**
 * Each write carries a marker in extendedProperties.private: a hash of the iCalendar text it sends.
 * After a lost answer (network error, 5xx, or a 412 on our own retry), finding the marker on Google's
 * copy proves that this very write was stored, so it is neither sent twice nor taken for a conflict.
 */
export const WRITE_MARK = "calgate-write";
export const writeMarkOf = (ics: string): string => createHash("sha256").update(ics).digest("base64url").slice(0, 22);
export const markOn = (e: GEvent | null | undefined): string | null => e?.extendedProperties?.private?.[WRITE_MARK] ?? null;

/**
 * Google refuses a SEQUENCE below the one it holds, and an override may carry a lower one than its
 * master (RFC 5545 3.8.7.4). The adapter then sends Google's and keeps the client's here, as
 * "<client's>:<sent>"; it is given back while Google still holds the sent value.
 */
export const SEQUENCE_MARK = "calgate-sequence";

/** The event as calendar data: without our bookkeeping, with the client's own SEQUENCE where it was raised. */
export function withoutMark(e: GEvent): GEvent {
  const priv = e.extendedProperties?.private;
  if (!priv || (!(WRITE_MARK in priv) && !(SEQUENCE_MARK in priv))) return e;
  const { [WRITE_MARK]: _mark, [SEQUENCE_MARK]: seq, ...rest } = priv;
  const [own, sent] = (seq ?? "").split(":").map(Number);
  const sequence = seq !== undefined && sent === e.sequence && Number.isInteger(own) ? own : e.sequence;
  return { ...e, sequence, extendedProperties: { ...e.extendedProperties, private: rest } };
}

/** Same instant and kind of an EventDateTime (Google may render the same start in another zone). */
export function sameStart(a: calendar_v3.Schema$EventDateTime | undefined | null, b: calendar_v3.Schema$EventDateTime | undefined | null): boolean {
  if (!a || !b) return false;
  if (a.date || b.date) return (a.date ?? null) === (b.date ?? null);
  return a.dateTime != null && b.dateTime != null && Date.parse(a.dateTime) === Date.parse(b.dateTime);
}
