/**
 * Seeded generator of realistic calendar objects for the benchmark, and — independently of any
 * server and of ical.js — the list of occurrence instants of each object, so that time-range
 * query answers can be checked against an expected set.
 *
 * Event i depends only on (seed, i): generateEvents(seed, 100) is a prefix of generateEvents(seed, 1000).
 *
 * Mix (per object): single timed events in several zones (with VTIMEZONE) and in UTC, all-day
 * single and multi-day events, weekly/daily/monthly recurring events with COUNT or UNTIL, EXDATE and
 * RECURRENCE-ID overrides (moved, retitled), infinite yearly all-day events (birthdays), ORGANIZER
 * and ATTENDEEs, VALARMs, DURATION instead of DTEND, non-ASCII text, long folded DESCRIPTIONs.
 *
 * Timed events start between 07:00 and 20:59 local time, so no instance falls into a DST gap or
 * overlap; all-day events are floating (DATE) and are interpreted as UTC for the expected set, with
 * the ones whose answer would change under any offset within ±14 h reported as "ambiguous".
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Span in which event starts are placed (UTC). */
export const SPAN_START = Date.UTC(2025, 0, 1);
export const SPAN_END = Date.UTC(2027, 0, 1);
/** Infinite rules are expanded up to here (far beyond every query window the benchmark uses). */
const HORIZON = Date.UTC(2031, 0, 1);
/** The one-month window of the time-range query. */
export const QUERY_MONTH = { start: Date.UTC(2025, 10, 1), end: Date.UTC(2025, 11, 1) };

// ---------------------------------------------------------------------------------------------
// PRNG (mulberry32), seeded per event from (seed, index)

function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function hash2(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}
class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  hex(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += "0123456789ABCDEF"[Math.floor(this.next() * 16)];
    return s;
  }
  uuid(): string {
    return `${this.hex(8)}-${this.hex(4)}-4${this.hex(3)}-${"89AB"[this.int(0, 3)]}${this.hex(3)}-${this.hex(12)}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Time zones: our own rules (current ones), emitted as VTIMEZONE and used for local → UTC.
// "local ms" = the wall-clock time read as if it were UTC (Date.UTC(y, m, d, h, mi)).

interface Zone {
  tzid: string;
  std: number; // offset minutes
  dst: number | null;
  stdName: string;
  dstName: string | null;
  /** Is this UTC instant in daylight time? */
  isDst(utc: number): boolean;
  vtimezone: string;
}

/** Day of month of the n-th (n>0) or last (n=-1) Sunday of month m (0-based) in year y. */
function sunday(y: number, m: number, n: number): number {
  if (n > 0) {
    const first = new Date(Date.UTC(y, m, 1)).getUTCDay();
    return 1 + ((7 - first) % 7) + 7 * (n - 1);
  }
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  const dow = new Date(Date.UTC(y, m, lastDay)).getUTCDay();
  return lastDay - dow;
}
const yearOf = (ms: number): number => new Date(ms).getUTCFullYear();
const offStr = (min: number): string => {
  const s = min < 0 ? "-" : "+";
  const a = Math.abs(min);
  return `${s}${String(Math.floor(a / 60)).padStart(2, "0")}${String(a % 60).padStart(2, "0")}`;
};

function fixedZone(tzid: string, off: number, name: string): Zone {
  return {
    tzid,
    std: off,
    dst: null,
    stdName: name,
    dstName: null,
    isDst: () => false,
    vtimezone: [
      "BEGIN:VTIMEZONE",
      `TZID:${tzid}`,
      "BEGIN:STANDARD",
      "DTSTART:19700101T000000",
      `TZOFFSETFROM:${offStr(off)}`,
      `TZOFFSETTO:${offStr(off)}`,
      `TZNAME:${name}`,
      "END:STANDARD",
      "END:VTIMEZONE",
    ].join("\r\n"),
  };
}

const ZONES: readonly Zone[] = [
  {
    tzid: "Europe/Berlin",
    std: 60,
    dst: 120,
    stdName: "CET",
    dstName: "CEST",
    isDst(utc) {
      const y = yearOf(utc);
      return utc >= Date.UTC(y, 2, sunday(y, 2, -1), 1) && utc < Date.UTC(y, 9, sunday(y, 9, -1), 1);
    },
    vtimezone: [
      "BEGIN:VTIMEZONE",
      "TZID:Europe/Berlin",
      "BEGIN:DAYLIGHT",
      "TZOFFSETFROM:+0100",
      "TZOFFSETTO:+0200",
      "TZNAME:CEST",
      "DTSTART:19700329T020000",
      "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
      "END:DAYLIGHT",
      "BEGIN:STANDARD",
      "TZOFFSETFROM:+0200",
      "TZOFFSETTO:+0100",
      "TZNAME:CET",
      "DTSTART:19701025T030000",
      "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
      "END:STANDARD",
      "END:VTIMEZONE",
    ].join("\r\n"),
  },
  {
    tzid: "America/New_York",
    std: -300,
    dst: -240,
    stdName: "EST",
    dstName: "EDT",
    isDst(utc) {
      const y = yearOf(utc);
      return utc >= Date.UTC(y, 2, sunday(y, 2, 2), 7) && utc < Date.UTC(y, 10, sunday(y, 10, 1), 6);
    },
    vtimezone: [
      "BEGIN:VTIMEZONE",
      "TZID:America/New_York",
      "BEGIN:DAYLIGHT",
      "TZOFFSETFROM:-0500",
      "TZOFFSETTO:-0400",
      "TZNAME:EDT",
      "DTSTART:20070311T020000",
      "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
      "END:DAYLIGHT",
      "BEGIN:STANDARD",
      "TZOFFSETFROM:-0400",
      "TZOFFSETTO:-0500",
      "TZNAME:EST",
      "DTSTART:20071104T020000",
      "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
      "END:STANDARD",
      "END:VTIMEZONE",
    ].join("\r\n"),
  },
  {
    tzid: "Australia/Sydney",
    std: 600,
    dst: 660,
    stdName: "AEST",
    dstName: "AEDT",
    isDst(utc) {
      const y = yearOf(utc);
      // DST ends first Sunday of April 03:00 AEDT (16:00Z the day before), starts first Sunday of October 02:00 AEST (16:00Z the day before).
      const end = Date.UTC(y, 3, sunday(y, 3, 1), 3) - 11 * HOUR;
      const start = Date.UTC(y, 9, sunday(y, 9, 1), 2) - 10 * HOUR;
      return utc < end || utc >= start;
    },
    vtimezone: [
      "BEGIN:VTIMEZONE",
      "TZID:Australia/Sydney",
      "BEGIN:STANDARD",
      "TZOFFSETFROM:+1100",
      "TZOFFSETTO:+1000",
      "TZNAME:AEST",
      "DTSTART:20080406T030000",
      "RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU",
      "END:STANDARD",
      "BEGIN:DAYLIGHT",
      "TZOFFSETFROM:+1000",
      "TZOFFSETTO:+1100",
      "TZNAME:AEDT",
      "DTSTART:20081005T020000",
      "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=1SU",
      "END:DAYLIGHT",
      "END:VTIMEZONE",
    ].join("\r\n"),
  },
  fixedZone("Asia/Tokyo", 540, "JST"),
  fixedZone("Asia/Kolkata", 330, "IST"),
];

/** Local wall time (local ms) in zone → UTC ms. Valid away from transitions (07:00–21:00 local). */
function toUtc(local: number, z: Zone | null): number {
  if (z === null) return local;
  const asStd = local - z.std * 60_000;
  if (z.dst !== null && z.isDst(asStd)) return local - z.dst * 60_000;
  return asStd;
}

/** Cross-check of our zone rules against the platform's tz database (ICU). Throws on mismatch. */
export function selfCheckZones(): void {
  for (const z of ZONES) {
    const fmt = new Intl.DateTimeFormat("en-US", { timeZone: z.tzid, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
    for (let t = SPAN_START; t < HORIZON; t += 5 * HOUR + 17 * 60_000) {
      const p = Object.fromEntries(fmt.formatToParts(t).map((x) => [x.type, x.value]));
      const local = Date.UTC(+p.year!, +p.month! - 1, +p.day!, +p.hour!, +p.minute!);
      const h = new Date(local).getUTCHours();
      if (h < 7 || h > 21) continue;
      if (toUtc(local, z) !== t - (t % 60_000)) throw new Error(`zone rule mismatch for ${z.tzid} at ${new Date(t).toISOString()}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

const p2 = (n: number): string => String(n).padStart(2, "0");
function fmtLocal(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}T${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}00`;
}
const fmtUtc = (ms: number): string => fmtLocal(ms) + "Z";
function fmtDate(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}`;
}
function escText(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/;/g, "\\;").replace(/,/g, "\\,").replace(/\r?\n/g, "\\n");
}
/** RFC 5545 3.1 folding at 75 octets, never inside a UTF-8 sequence. */
function fold(line: string): string {
  if (Buffer.byteLength(line, "utf8") <= 75) return line;
  const out: string[] = [];
  let cur = "";
  let bytes = 0;
  let limit = 75;
  for (const ch of line) {
    const b = Buffer.byteLength(ch, "utf8");
    if (bytes + b > limit) {
      out.push(cur);
      cur = "";
      bytes = 0;
      limit = 74; // continuation lines start with one space
    }
    cur += ch;
    bytes += b;
  }
  out.push(cur);
  return out.join("\r\n ");
}

// ---------------------------------------------------------------------------------------------
// Vocabulary

const TITLES = [
  "Team standup", "1:1 with Priya", "Quarterly planning", "Dentist", "Réunion d'équipe", "Besprechung – Straßenfest",
  "会議: ロードマップ", "Встреча с клиентом", "Café avec Zoë", "Yoga 🧘", "Code review", "Board meeting; budget, Q3",
  "Lunch at Smørrebrød", "Sprint retro", "Parents' evening", "Flight LH 400 → JFK", "Kundentermin München", "Ñandú workshop",
];
const LOCATIONS = ["Room 4.12", "Zoom", "Bahnhofstraße 5, Zürich", "東京オフィス 3F", "Café de Flore", "Online", "", "Kraków, ul. Floriańska 1"];
const PEOPLE = [
  ["Alice Martin", "alice@example.com"], ["Björn Åström", "bjorn@example.se"], ["Chloé Dubois", "chloe@example.fr"],
  ["Dmitri Иванов", "dmitri@example.ru"], ["Emi 佐藤", "emi@example.jp"], ["Farah Khan", "farah@example.pk"],
  ["Gonzalo Peña", "gonzalo@example.es"], ["Hannah Müller", "hannah@example.de"],
] as const;
const BIRTHDAYS = ["Birthday: Oma 🎂", "Anniversary 💍", "Birthday: José", "Geburtstag Jürgen", "誕生日: 花子"];
const DAYS = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];

// ---------------------------------------------------------------------------------------------
// The event model and its expansion

export interface Instance {
  /** UTC ms (for floating all-day values: the wall time read as UTC). */
  start: number;
  end: number;
  floating: boolean;
}
export interface BenchEvent {
  index: number;
  uid: string;
  /** Resource name in the collection (uid + ".ics"). */
  name: string;
  kind: string;
  ics: string;
  /** Every occurrence up to 2031 (infinite rules are cut there). */
  instances: Instance[];
}

interface Rule {
  freq: "DAILY" | "WEEKLY" | "MONTHLY" | "YEARLY";
  interval: number;
  byday?: number[]; // weekly: 0=SU..6=SA
  count?: number;
  until?: number; // UTC ms (timed) or local-date ms (all-day)
}

/** Occurrence starts in local ms (RFC 5545 semantics for the subset we emit; DTSTART is always an instance). */
function expandLocal(dtstart: number, rule: Rule | null, allDay: boolean, zone: Zone | null): number[] {
  if (rule === null) return [dtstart];
  const out: number[] = [];
  const limitOk = (local: number): boolean => {
    if (rule.until !== undefined) {
      const cmp = allDay ? local : toUtc(local, zone);
      if (cmp > rule.until) return false;
    }
    return local < HORIZON;
  };
  const push = (local: number): boolean => {
    if (!limitOk(local)) return false;
    out.push(local);
    return rule.count === undefined || out.length < rule.count;
  };
  const d0 = new Date(dtstart);
  const tod = dtstart % DAY;
  if (rule.freq === "DAILY") {
    for (let t = dtstart; ; t += rule.interval * DAY) if (!push(t)) break;
  } else if (rule.freq === "WEEKLY") {
    const dow0 = d0.getUTCDay();
    const monday = dtstart - tod - ((dow0 + 6) % 7) * DAY; // WKST=MO
    const days = [...rule.byday!].sort((a, b) => ((a + 6) % 7) - ((b + 6) % 7));
    outer: for (let w = 0; ; w += rule.interval) {
      for (const d of days) {
        const t = monday + w * 7 * DAY + ((d + 6) % 7) * DAY + tod;
        if (t < dtstart) continue;
        if (!push(t)) break outer;
      }
    }
  } else if (rule.freq === "MONTHLY") {
    for (let k = 0; ; k += rule.interval) {
      const t = Date.UTC(d0.getUTCFullYear(), d0.getUTCMonth() + k, d0.getUTCDate()) + tod; // day ≤ 28
      if (!push(t)) break;
    }
  } else {
    for (let k = 0; ; k += rule.interval) {
      const t = Date.UTC(d0.getUTCFullYear() + k, d0.getUTCMonth(), d0.getUTCDate()) + tod; // never Feb 29
      if (!push(t)) break;
    }
  }
  return out;
}

function ruleText(r: Rule, allDay: boolean): string {
  const parts = [`FREQ=${r.freq}`];
  if (r.interval !== 1) parts.push(`INTERVAL=${r.interval}`);
  if (r.byday) parts.push(`BYDAY=${r.byday.map((d) => DAYS[d]).join(",")}`);
  if (r.count !== undefined) parts.push(`COUNT=${r.count}`);
  if (r.until !== undefined) parts.push(`UNTIL=${allDay ? fmtDate(r.until) : fmtUtc(r.until)}`);
  return `RRULE:${parts.join(";")}`;
}

/** Generates event `index` for `seed`. Pure. */
export function generateEvent(seed: number, index: number): BenchEvent {
  const r = new Rng(hash2(seed, index));
  const uid = r.uuid();
  const name = `${uid}.ics`;
  const roll = r.float();
  const kind =
    roll < 0.42 ? "single" : roll < 0.52 ? "allday" : roll < 0.67 ? "weekly" : roll < 0.75 ? "daily" : roll < 0.82 ? "monthly" : roll < 0.87 ? "birthday" : "utc";
  const allDay = kind === "allday" || kind === "birthday";
  const zone: Zone | null = allDay || kind === "utc" ? null : r.pick(ZONES);

  const spanDays = Math.floor((SPAN_END - SPAN_START) / DAY);
  const day = SPAN_START + r.int(0, spanDays - 1) * DAY;
  let dtstart: number; // local ms
  let dur: number;
  if (allDay) {
    dtstart = day;
    dur = kind === "birthday" ? DAY : r.int(1, 3) * DAY;
  } else {
    dtstart = day + r.int(7, 19) * HOUR + r.pick([0, 0, 15, 30, 45]) * 60_000;
    dur = r.pick([30, 45, 60, 60, 90, 120]) * 60_000;
  }

  let rule: Rule | null = null;
  if (kind === "weekly") {
    const first = new Date(dtstart).getUTCDay();
    const extra = r.chance(0.4) ? [(first + r.int(1, 3)) % 7] : [];
    rule = { freq: "WEEKLY", interval: r.pick([1, 1, 1, 2]), byday: [first, ...extra] };
    if (r.chance(0.15)) {
      /* infinite weekly */
    } else if (r.chance(0.5)) rule.count = r.int(4, 40);
    else rule.until = toUtc(dtstart, zone) + r.int(20, 200) * DAY;
  } else if (kind === "daily") {
    rule = { freq: "DAILY", interval: r.pick([1, 1, 2, 3]), count: r.int(3, 30) };
  } else if (kind === "monthly") {
    dtstart = Date.UTC(new Date(dtstart).getUTCFullYear(), new Date(dtstart).getUTCMonth(), r.int(1, 28)) + (dtstart % DAY);
    rule = { freq: "MONTHLY", interval: 1 };
    if (r.chance(0.5)) rule.count = r.int(6, 24);
    else rule.until = toUtc(dtstart, zone) + r.int(120, 600) * DAY;
  } else if (kind === "birthday") {
    const d = new Date(dtstart);
    if (d.getUTCMonth() === 1 && d.getUTCDate() === 29) dtstart -= DAY;
    rule = { freq: "YEARLY", interval: 1 };
  }

  let starts = expandLocal(dtstart, rule, allDay, zone);
  // EXDATEs and overrides (RECURRENCE-ID) for recurring timed events with enough instances.
  const exdates: number[] = [];
  const overrides: { rid: number; start: number; dur: number; summary: string }[] = [];
  if (rule !== null && !allDay && starts.length >= 4) {
    const nEx = r.int(0, 2);
    for (let i = 0; i < nEx; i++) {
      const t = starts[r.int(1, starts.length - 1)]!;
      if (!exdates.includes(t)) exdates.push(t);
    }
    const nOv = r.int(0, 2);
    for (let i = 0; i < nOv; i++) {
      const rid = starts[r.int(1, starts.length - 1)]!;
      if (exdates.includes(rid) || overrides.some((o) => o.rid === rid)) continue;
      const shift = r.pick([2 * HOUR, -HOUR, DAY, 3 * DAY, -2 * DAY, 9 * DAY]);
      let ns = rid + shift;
      const h = new Date(ns).getUTCHours();
      if (h < 7 || h > 20) ns = rid + DAY; // keep away from DST transitions
      overrides.push({ rid, start: ns, dur: r.pick([dur, 2 * dur]), summary: "" });
    }
  }
  exdates.sort((a, b) => a - b);
  starts = starts.filter((t) => !exdates.includes(t) && !overrides.some((o) => o.rid === t));

  const inst = (local: number, d: number): Instance => {
    if (allDay) return { start: local, end: local + d, floating: true };
    return { start: toUtc(local, zone), end: toUtc(local + d, zone), floating: false };
  };
  // DTEND is given in local time in the same zone, so the UTC end is the converted local end.
  const instances: Instance[] = starts.map((t) => inst(t, dur));
  for (const o of overrides) instances.push(inst(o.start, o.dur));
  instances.sort((a, b) => a.start - b.start);

  // ---- iCalendar text
  const title = kind === "birthday" ? r.pick(BIRTHDAYS) : r.pick(TITLES);
  const stamp = fmtUtc(Date.UTC(2024, 11, 1) + r.int(0, 300) * DAY);
  const dt = (prop: string, local: number): string =>
    allDay ? `${prop};VALUE=DATE:${fmtDate(local)}` : zone ? `${prop};TZID=${zone.tzid}:${fmtLocal(local)}` : `${prop}:${fmtUtc(local)}`;
  const useDuration = !allDay && r.chance(0.1);
  const attendees: string[] = [];
  let organizer: string | null = null;
  if (!allDay && r.chance(0.35)) {
    const org = r.pick(PEOPLE);
    organizer = `ORGANIZER;CN="${org[0]}":mailto:${org[1]}`;
    const n = r.int(1, 6);
    for (let i = 0; i < n; i++) {
      const p = PEOPLE[(PEOPLE.indexOf(org) + 1 + i) % PEOPLE.length]!;
      const ps = r.pick(["ACCEPTED", "NEEDS-ACTION", "TENTATIVE", "DECLINED"]);
      attendees.push(`ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=${ps};RSVP=TRUE;CN="${p[0]}":mailto:${p[1]}`);
    }
  }
  const alarm = r.chance(0.45)
    ? ["BEGIN:VALARM", "ACTION:DISPLAY", `DESCRIPTION:${escText(title)}`, `TRIGGER:${allDay ? "-PT15H" : r.pick(["-PT10M", "-PT15M", "-PT1H", "-P1D"])}`, `X-WR-ALARMUID:${r.uuid()}`, "END:VALARM"]
    : [];
  const location = r.pick(LOCATIONS);
  const description = r.chance(0.4)
    ? `Agenda:\n1. Rückblick auf die letzte Woche — what went well\n2. Ziele für das nächste Quartal, 予算, бюджет; owners & deadlines\n3. AOB. Notes: https://notes.example.com/${uid.toLowerCase()}`
    : "";

  const common = (summary: string, seq: number): string[] => {
    const l = [`UID:${uid}`, `DTSTAMP:${stamp}`, `CREATED:${stamp}`, `LAST-MODIFIED:${stamp}`, `SEQUENCE:${seq}`, `SUMMARY:${escText(summary)}`];
    if (location) l.push(`LOCATION:${escText(location)}`);
    if (description) l.push(`DESCRIPTION:${escText(description)}`);
    if (organizer) l.push(organizer, ...attendees);
    l.push(`STATUS:CONFIRMED`, `TRANSP:${allDay ? "TRANSPARENT" : "OPAQUE"}`);
    if (r.chance(0.2)) l.push(`CATEGORIES:${r.pick(["Work", "Family", "Privat", "仕事"])}`);
    return l;
  };
  const lines: string[] = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate//bench generator 1//EN", "CALSCALE:GREGORIAN"];
  if (zone) lines.push(zone.vtimezone);
  lines.push("BEGIN:VEVENT", ...common(title, 0), dt("DTSTART", dtstart));
  if (useDuration) lines.push(`DURATION:PT${dur / 60_000}M`);
  else lines.push(dt("DTEND", dtstart + dur));
  if (rule) lines.push(ruleText(rule, allDay));
  if (exdates.length) lines.push(zone ? `EXDATE;TZID=${zone.tzid}:${exdates.map(fmtLocal).join(",")}` : `EXDATE:${exdates.map(fmtUtc).join(",")}`);
  lines.push(...alarm, "END:VEVENT");
  for (const o of overrides) {
    lines.push("BEGIN:VEVENT", ...common(`${title} (moved)`, 1), dt("RECURRENCE-ID", o.rid), dt("DTSTART", o.start), dt("DTEND", o.start + o.dur), "END:VEVENT");
  }
  lines.push("END:VCALENDAR");
  const ics = lines.flatMap((l) => l.split("\r\n")).map(fold).join("\r\n") + "\r\n";
  return { index, uid, name, kind, ics, instances };
}

export function generateEvents(seed: number, count: number, from = 0): BenchEvent[] {
  const out: BenchEvent[] = [];
  for (let i = from; i < from + count; i++) out.push(generateEvent(seed, i));
  return out;
}

/** Floating values may be read in any zone from UTC−12 to UTC+14. */
const FLOAT_SLACK = 14 * HOUR;
const overlaps = (i: Instance, s: number, e: number, shift = 0): boolean => i.start + shift < e && i.end + shift > s;

/**
 * The resources a recurrence-aware VEVENT time-range query [start, end) must return (RFC 4791 9.9),
 * from the generator's own instance lists: `definite` must be there; `ambiguous` (floating all-day
 * events near the window's edges) may or may not be, depending on the server's floating-time zone.
 */
export function expectedInRange(events: Iterable<BenchEvent>, start: number, end: number): { definite: Set<string>; ambiguous: Set<string> } {
  const definite = new Set<string>();
  const ambiguous = new Set<string>();
  for (const ev of events) {
    let amb = false;
    let hit = false;
    for (const i of ev.instances) {
      if (i.start >= end + FLOAT_SLACK) break;
      const o = overlaps(i, start, end);
      if (i.floating && (o !== overlaps(i, start, end, -FLOAT_SLACK) || o !== overlaps(i, start, end, FLOAT_SLACK))) amb = true;
      else if (o) {
        hit = true;
        break;
      }
    }
    if (hit) definite.add(ev.name);
    else if (amb) ambiguous.add(ev.name);
  }
  return { definite, ambiguous };
}

// `node --import tsx bench/generate.ts [seed] [count]`: writes nothing, prints a summary and a sample.
if (import.meta.url === `file://${process.argv[1]}`) {
  selfCheckZones();
  const seed = Number(process.argv[2] ?? 42);
  const n = Number(process.argv[3] ?? 1000);
  const evs = generateEvents(seed, n);
  const kinds: Record<string, number> = {};
  for (const e of evs) kinds[e.kind] = (kinds[e.kind] ?? 0) + 1;
  const exp = expectedInRange(evs, QUERY_MONTH.start, QUERY_MONTH.end);
  const bytes = evs.reduce((a, e) => a + Buffer.byteLength(e.ics), 0);
  console.log({ seed, n, kinds, avgBytes: Math.round(bytes / n), month: { definite: exp.definite.size, ambiguous: exp.ambiguous.size } });
  console.log(evs.find((e) => e.ics.includes("RECURRENCE-ID"))?.ics);
}
