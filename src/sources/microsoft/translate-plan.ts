/** icsToPlan: one calendar object resource → what to write to Graph (docs/microsoft-fidelity.md). */
import ICAL from "ical.js";
import { IcalError } from "../../ical/errors.ts";
import { parseCalendarObject } from "../../ical/parse.ts";
import { TranslateRefused, type GraphEvent, type GraphWritePlan } from "./translate-types.ts";
import { recurrenceToRrule, rruleToRecurrence, type Recurrence } from "./translate-recur.ts";
import { occurrenceDate, occurrenceMs, seriesOf, untilStyleOf, type Series } from "./translate-series.ts";
import { readIcsProp, readIcsValues, usableIana, utcIso } from "./translate-time.ts";
import { sealExtras, transactionIdFor, veventBody, type BodyOut, type WriteCtx } from "./translate-write.ts";
import { isoDate } from "./translate-zones.ts";

export interface PlanOptions {
  /** Zone (IANA or Windows name) for floating times and all-day events, e.g. the mailbox zone; default UTC.
   *  An object's X-WR-TIMEZONE wins. */
  readonly floatingZone?: string | null;
}

function parse(ics: string): ICAL.Component {
  try {
    const obj = parseCalendarObject(ics);
    if (obj.component !== "VEVENT") throw new TranslateRefused(`${obj.component}: Outlook calendars hold events only (no VTODO, VJOURNAL or VFREEBUSY)`);
    return obj.root;
  } catch (e) {
    if (e instanceof IcalError) throw new TranslateRefused(`not a valid calendar object: ${e.message}`);
    throw e;
  }
}

const isCancelled = (v: ICAL.Component): boolean => String(v.getFirstPropertyValue("status") ?? "").toUpperCase() === "CANCELLED";
const ruleText = (p: ICAL.Property): string => p.toICALString().replace(/^[^:]*:/, "");

function recurrence(master: ICAL.Component, m: BodyOut, s: Series): Recurrence | null {
  const rules = master.getAllProperties("rrule");
  if (rules.length === 0) return null;
  if (rules.length > 1) throw new TranslateRefused(`RRULE: ${rules.length} rules (${rules.map(ruleText).join(" + ")}); Outlook series have one pattern`);
  const text = ruleText(rules[0]!);
  if (m.start.custom) {
    throw new TranslateRefused(`DTSTART;TZID=${m.start.tzid}: the zone matches no Windows/IANA zone; a series in it cannot be expressed in Graph's zones`);
  }
  const rec = rruleToRecurrence(text, s);
  const sorted = (t: string): string => t.toUpperCase().split(";").sort().join(";");
  if (sorted(recurrenceToRrule(rec, untilStyleOf(s))) !== sorted(text)) m.extras.shadows.push(rules[0]!);
  return rec;
}

interface Exc { originalStart: string; originalDate: string; body: GraphEvent }

function overrides(comps: ICAL.Component[], ctx: WriteCtx, uid: string, s: Series, rec: Recurrence | null, cancelled: Set<string>): Exc[] {
  const out: Exc[] = [];
  for (const o of comps) {
    const ridProp = o.getFirstProperty("recurrence-id")!;
    const rid = readIcsProp(ridProp, ctx.root, s.date || s.floating ? ctx.pin : s.zone);
    const raw = ridProp.toICALString();
    if (!rid) throw new TranslateRefused(`RECURRENCE-ID: '${raw}' is not a DATE or DATE-TIME`);
    if (!rec) throw new TranslateRefused(`${raw}: an override of an event that has no RRULE`);
    if (String(ridProp.getParameter("range") ?? "").toUpperCase() === "THISANDFUTURE") throw new TranslateRefused(`${raw}: RANGE=THISANDFUTURE overrides cannot be stored by Graph (split the series instead)`);
    const d = occurrenceDate(s, rec.pattern, rid);
    if (!d) throw new TranslateRefused(`${raw}: not an occurrence of the series; Graph can only change existing occurrences`);
    if (isCancelled(o)) {
      cancelled.add(isoDate(d));
      continue;
    }
    const b = veventBody(o, ctx, uid, true);
    b.extras.meta.set("RID", raw);
    out.push({ originalStart: utcIso(occurrenceMs(s, d)), originalDate: isoDate(d), body: sealExtras(b) });
  }
  return out;
}

/** iCalendar → what to write. Throws TranslateRefused when the object cannot be represented without changing it. */
export function icsToPlan(ics: string, opts: PlanOptions = {}): GraphWritePlan {
  const root = parse(ics);
  const xwr = root.getFirstPropertyValue("x-wr-timezone");
  const ctx: WriteCtx = { root, pin: usableIana(typeof xwr === "string" && xwr ? xwr : opts.floatingZone ?? "UTC") };
  const all = root.getAllSubcomponents("vevent");
  const master = all.find((v) => !v.getFirstProperty("recurrence-id"));
  if (!master) throw new TranslateRefused("RECURRENCE-ID: the object holds overrides only; Graph cannot hold occurrences without their series");
  const uid = String(master.getFirstPropertyValue("uid") ?? "");
  const m = veventBody(master, ctx, uid);
  const zone = m.start.date ? ctx.pin : m.start.iana ?? "UTC";
  const s = seriesOf(m.start.wall, m.start.date, zone, m.start.floating);
  const rec = recurrence(master, m, s);
  const cancelled = new Set<string>();
  for (const p of master.getAllProperties("exdate")) {
    if (!rec) throw new TranslateRefused(`${p.toICALString()}: EXDATE on an event that has no RRULE`);
    m.extras.shadows.push(p);
    // A floating EXDATE on a zoned series means the series' local time (as Outlook and Thunderbird write it).
    for (const t of readIcsValues(p, root, s.date || s.floating ? ctx.pin : s.zone)) {
      const d = occurrenceDate(s, rec.pattern, t);
      if (d) cancelled.add(isoDate(d));
    }
  }
  const exceptions = overrides(all.filter((v) => v !== master), ctx, uid, s, rec, cancelled);
  for (const e of exceptions) cancelled.delete(e.originalDate);
  const body: GraphEvent = { ...sealExtras(m), recurrence: rec };
  body.transactionId = transactionIdFor(uid, body);
  return { uid, master: body, exceptions, cancelled: [...cancelled].sort() };
}
