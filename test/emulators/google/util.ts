/**
 * Small shared helpers of the Google Calendar emulator: seeded randomness, id/token formats and
 * time-zone arithmetic (Intl based, since ical.js ships no zone database; reference
 * recurrence-and-timezones.md §6).
 */
import { createHash } from "node:crypto";

/** mulberry32: a tiny seeded PRNG; every random choice of the emulator goes through one of these. */
export function seededRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASE32HEX = "0123456789abcdefghijklmnopqrstuv";

/** Event ids are base32hex (a-v, 0-9), reference §2. */
export function base32hex(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32HEX[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32HEX[(value << (5 - bits)) & 31];
  return out;
}

export function randomBase32hex(rng: () => number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) s += BASE32HEX[Math.floor(rng() * 32)];
  return s;
}

/** Deterministic opaque base32hex id derived from a string (not visibly related to the input). */
export function hashId(input: string, len = 26): string {
  return base32hex(createHash("sha256").update(input).digest()).slice(0, len);
}

/** Opaque base64url-ish token such as `CPjflvfe1YEDEPjflvfe1YEDGAUg0_uyjwI=` (reference §4). */
export function opaqueToken(rng: () => number, prefix = "C", bytes = 24): string {
  const buf = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) buf[i] = Math.floor(rng() * 256);
  return prefix + buf.toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

export const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------
// Time zones

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(tz, f);
  }
  return f;
}

export function isValidTimeZone(tz: unknown): tz is string {
  if (typeof tz !== "string" || tz === "") return false;
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

export interface Wall {
  y: number;
  mo: number; // 1-12
  d: number;
  h: number;
  mi: number;
  s: number;
}

/** Wall-clock fields of an instant in a zone. */
export function wallAt(ms: number, tz: string): Wall {
  const parts = formatter(tz).formatToParts(new Date(ms));
  const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return { y: get("year"), mo: get("month"), d: get("day"), h: get("hour"), mi: get("minute"), s: get("second") };
}

/** UTC offset of a zone at an instant, in minutes. */
export function offsetMinutes(ms: number, tz: string): number {
  const w = wallAt(ms, tz);
  const asUtc = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
}

/** Instant of a wall-clock time in a zone (gaps resolve forward, overlaps to the earlier instant). */
export function wallToUtc(w: Wall, tz: string): number {
  const guess = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s);
  const before = offsetMinutes(guess - DAY_MS, tz);
  const after = offsetMinutes(guess + DAY_MS, tz);
  const candidates = [before, after]
    .map((o) => guess - o * 60000)
    .filter((t) => {
      const x = wallAt(t, tz);
      return x.y === w.y && x.mo === w.mo && x.d === w.d && x.h === w.h && x.mi === w.mi && x.s === w.s;
    });
  if (candidates.length > 0) return Math.min(...candidates);
  return guess - before * 60000; // in a gap: shift forward by the gap (RFC 5545 §3.3.5)
}

const pad = (n: number, l = 2): string => String(n).padStart(l, "0");

/** RFC 3339 rendering of an instant in a zone, `Z` when the offset is zero (as in the samples). */
export function formatInZone(ms: number, tz: string): string {
  const w = wallAt(ms, tz);
  const off = offsetMinutes(ms, tz);
  const base = `${pad(w.y, 4)}-${pad(w.mo)}-${pad(w.d)}T${pad(w.h)}:${pad(w.mi)}:${pad(w.s)}`;
  if (off === 0) return base + "Z";
  const sign = off < 0 ? "-" : "+";
  const a = Math.abs(off);
  return `${base}${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$/;

/** Parses an RFC 3339 date-time; without an offset the wall time is pinned to `fallbackTz`. */
export function parseDateTime(s: string, fallbackTz?: string): number | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const w: Wall = { y: +m[1]!, mo: +m[2]!, d: +m[3]!, h: +m[4]!, mi: +m[5]!, s: +m[6]! };
  if (w.mo < 1 || w.mo > 12 || w.d < 1 || w.d > 31 || w.h > 23 || w.mi > 59 || w.s > 60) return undefined;
  const frac = m[7] ? Math.round(Number("0" + m[7]) * 1000) : 0;
  const off = m[8];
  if (!off) {
    if (!fallbackTz) return undefined;
    return wallToUtc(w, fallbackTz) + frac;
  }
  const base = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) + frac;
  if (off === "Z" || off === "z") return base;
  const sign = off[0] === "-" ? -1 : 1;
  return base - sign * (Number(off.slice(1, 3)) * 60 + Number(off.slice(4, 6))) * 60000;
}

export function hasOffset(s: string): boolean {
  const m = RFC3339.exec(s);
  return !!m && !!m[8];
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isDate(s: unknown): s is string {
  if (typeof s !== "string") return false;
  const m = DATE.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!));
  return d.getUTCDate() === +m[3]!;
}

/** A `yyyy-mm-dd` date as the UTC midnight instant (all-day arithmetic never passes through a zone). */
export function dateToUtcMs(s: string): number {
  const m = DATE.exec(s)!;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!);
}

export function utcMsToDate(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** The instant where a date starts in a zone (to compare all-day events with timeMin/timeMax). */
export function dateStartInZone(s: string, tz: string): number {
  const m = DATE.exec(s)!;
  return wallToUtc({ y: +m[1]!, mo: +m[2]!, d: +m[3]!, h: 0, mi: 0, s: 0 }, tz);
}

export function isoMs(ms: number): string {
  return new Date(ms).toISOString();
}

/** `YYYYMMDDTHHMMSSZ` of an instant (legacy instance-id suffix, reference §2). */
export function compactUtc(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

export function deepClone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
