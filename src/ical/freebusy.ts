/** RFC 4791 7.10 free-busy: busy periods of one object in a range, and the VFREEBUSY answer. */
import type { TimeRange } from "./time-range.ts";
import type { CalendarObject } from "./parse.ts";
import { rawInstancesInRange, type ExpandOptions } from "./expand.ts";
import { contextFor } from "./engine.ts";
import { fmtUtc, periodValues, toUtc } from "./values.ts";

export type BusyType = "BUSY" | "BUSY-TENTATIVE" | "BUSY-UNAVAILABLE";
export interface BusyPeriod {
  start: number;
  end: number;
  type: BusyType;
}

function upper(v: unknown): string {
  return typeof v === "string" ? v.trim().toUpperCase() : "";
}

export function busyPeriods(obj: CalendarObject, range: TimeRange, opts: ExpandOptions): BusyPeriod[] {
  const rs = range.start ?? -Infinity;
  const re = range.end ?? Infinity;
  const out: BusyPeriod[] = [];
  const clip = (s: number, e: number, type: BusyType): void => {
    const a = Math.max(s, rs);
    const b = Math.min(e, re);
    if (b > a) out.push({ start: a, end: b, type });
  };
  if (obj.component === "VEVENT") {
    for (const i of rawInstancesInRange(obj, range, opts)) {
      const c = i.component;
      if (upper(c.getFirstPropertyValue("transp")) === "TRANSPARENT") continue;
      const status = upper(c.getFirstPropertyValue("status"));
      if (status === "CANCELLED") continue;
      clip(i.start, i.end, status === "TENTATIVE" ? "BUSY-TENTATIVE" : "BUSY");
    }
  } else if (obj.component === "VFREEBUSY") {
    const ctx = contextFor(obj, opts.floatingZone);
    for (const c of obj.root.getAllSubcomponents("vfreebusy")) {
      for (const p of c.getAllProperties("freebusy")) {
        const fb = upper(p.getParameter("fbtype")) || "BUSY";
        if (fb === "FREE") continue;
        const type: BusyType = fb === "BUSY-TENTATIVE" ? "BUSY-TENTATIVE" : fb === "BUSY-UNAVAILABLE" ? "BUSY-UNAVAILABLE" : "BUSY";
        for (const pv of periodValues(p, ctx.root)) {
          const s = toUtc(pv.start, ctx.floating);
          const e = pv.end ? toUtc(pv.end, ctx.floating) : pv.duration ? s + (pv.duration.days * 86400 + pv.duration.secs) * 1000 : s;
          clip(s, e, type);
        }
      }
    }
  }
  return out;
}

/** Merges overlapping/adjacent periods of the same type; sorted by start, then type. */
export function mergePeriods(periods: readonly BusyPeriod[]): BusyPeriod[] {
  const sorted = [...periods].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : a.start - b.start));
  const merged: BusyPeriod[] = [];
  for (const p of sorted) {
    const last = merged[merged.length - 1];
    if (last && last.type === p.type && p.start <= last.end) last.end = Math.max(last.end, p.end);
    else merged.push({ ...p });
  }
  return merged.sort((a, b) => a.start - b.start || a.end - b.end || (a.type < b.type ? -1 : 1));
}

export function freeBusyCalendar(periods: readonly BusyPeriod[], range: TimeRange, now: Date): string {
  const merged = mergePeriods(periods);
  const start = range.start ?? (merged[0]?.start ?? now.getTime());
  const end = range.end ?? Math.max(start, ...merged.map((p) => p.end));
  const lines = [
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate//calgate//EN", "CALSCALE:GREGORIAN",
    "BEGIN:VFREEBUSY", `DTSTAMP:${fmtUtc(Math.floor(now.getTime() / 1000) * 1000)}`, `DTSTART:${fmtUtc(start)}`, `DTEND:${fmtUtc(end)}`,
  ];
  for (const p of merged) {
    lines.push(`FREEBUSY${p.type === "BUSY" ? "" : `;FBTYPE=${p.type}`}:${fmtUtc(p.start)}/${fmtUtc(p.end)}`);
  }
  lines.push("END:VFREEBUSY", "END:VCALENDAR");
  return lines.join("\r\n") + "\r\n";
}
