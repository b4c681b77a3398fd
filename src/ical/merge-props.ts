/**
 * Three-way merge inside one component (a master, an override, a VALARM, the VCALENDAR itself):
 * per property, per element of a multi-valued property, per subcomponent. A property changed on one
 * side takes that side; changed on both to the same value is fine; changed differently is a clash,
 * decided for the whole component by `ctx.decision` (the newer component) and named in `ctx.clashes`.
 * DTSTART, DTEND, DUE and DURATION are one unit (the time). ATTENDEE (by address, parameters merged
 * one by one), CATEGORIES, RESOURCES, EXDATE and RDATE (by instant), COMMENT, CONTACT, ATTACH and
 * VALARM (by UID, else ACTION + TRIGGER + RELATED) are sets: an element added on one side is kept,
 * removed on one side and unchanged on the other is removed, removed against edited is kept. Pure.
 */
import type ICAL from "ical.js";
import { canon, first, normParams, normProp, paramOf, splitValues, unquote, instantKey, type Comp, type Prop } from "./merge-model.ts";

export type Side = "ours" | "theirs";
export interface Decision {
  readonly side: Side;
  /** Why that side is the newer one, for the clash text ("newer LAST-MODIFIED", …). */
  readonly why: string;
}
export interface Roots {
  readonly base: ICAL.Component | null;
  readonly ours: ICAL.Component | null;
  readonly theirs: ICAL.Component | null;
}
export interface MergeCtx {
  readonly decision: Decision;
  /** Prefix of property names in clash texts ("VALARM[…] "), usually "". */
  readonly label: string;
  /** Suffix naming the component (" (RECURRENCE-ID 20260105T090000Z)"), "" for the master. */
  readonly where: string;
  readonly clashes: string[];
  readonly roots: Roots;
}

/** Managed by the merge, never merged as data: the result takes the newer stamps and the larger SEQUENCE. */
export const STAMPS: ReadonlySet<string> = new Set(["DTSTAMP", "LAST-MODIFIED", "SEQUENCE"]);
/** The time of a component, merged as one unit. */
const TIME: ReadonlySet<string> = new Set(["DTSTART", "DTEND", "DUE", "DURATION"]);
/** Multi-valued properties merged per line, keyed by the whole normalised line (ATTENDEE: by address). */
const LINE_SETS = new Set(["ATTENDEE", "COMMENT", "CONTACT", "ATTACH"]);
/** Multi-valued properties merged per value (a line may carry several, comma-separated). */
const VALUE_SETS = new Set(["CATEGORIES", "RESOURCES", "EXDATE", "RDATE"]);

export interface Stamps {
  readonly lastModified: string | null;
  readonly dtstamp: string | null;
  readonly sequence: number;
}

const digits = (p: Prop | undefined): string | null => (p ? p.value.replace(/[^0-9]/g, "") || null : null);
const seqOf = (c: Comp | undefined): number | null => {
  const p = c && first(c, "SEQUENCE");
  const n = p ? Number.parseInt(p.value, 10) : NaN;
  return Number.isFinite(n) ? n : null;
};

/** A component's stamps; what it lacks is taken from its master (an override without LAST-MODIFIED). */
export function stampsOf(c: Comp, master?: Comp): Stamps {
  return {
    lastModified: digits(first(c, "LAST-MODIFIED")) ?? digits(master && first(master, "LAST-MODIFIED")),
    dtstamp: digits(first(c, "DTSTAMP")) ?? digits(master && first(master, "DTSTAMP")),
    sequence: seqOf(c) ?? seqOf(master) ?? 0,
  };
}

/** The newer side by LAST-MODIFIED, then DTSTAMP, then SEQUENCE; a tie goes to theirs (the upstream). */
export function decide(o: Stamps, t: Stamps): Decision {
  const by = (a: string | null, b: string | null, what: string): Decision | null =>
    a !== null && b !== null && a !== b ? { side: a > b ? "ours" : "theirs", why: `newer ${what}` } : null;
  return (
    by(o.lastModified, t.lastModified, "LAST-MODIFIED") ??
    by(o.dtstamp, t.dtstamp, "DTSTAMP") ??
    (o.sequence !== t.sequence ? { side: o.sequence > t.sequence ? "ours" : "theirs", why: "higher SEQUENCE" } : null) ?? {
      side: "theirs",
      why: "same LAST-MODIFIED, DTSTAMP and SEQUENCE: the upstream wins ties",
    }
  );
}

/** "ours" when the result is ours' value, "theirs" when it is theirs', "clash" when both changed it differently. */
export function three(kb: string, ko: string, kt: string): Side | "clash" {
  if (ko === kt || kt === kb) return "ours";
  if (ko === kb) return "theirs";
  return "clash";
}

function orderedUnion<T>(lists: readonly (readonly T[])[]): T[] {
  const seen = new Set<T>();
  for (const l of lists) for (const x of l) seen.add(x);
  return [...seen];
}

function clash(ctx: MergeCtx, what: string): Side {
  ctx.clashes.push(`${ctx.label}${what}${ctx.where}: ${ctx.decision.side} (${ctx.decision.why})`);
  return ctx.decision.side;
}

/** A single-valued property (or an unknown repeated one, merged as a whole). */
function mergeGroup(name: string, b: Prop[], o: Prop[], t: Prop[], ctx: MergeCtx): Prop[] {
  const k = (ps: Prop[]): string => ps.map(normProp).sort().join("\n");
  const r = three(k(b), k(o), k(t));
  if (r !== "clash") return r === "ours" ? o : t;
  // Which program wrote it last is not a conflict; a RECURRENCE-ID names the same instant on both sides
  // (that is how the component was matched), only written differently.
  if (name === "PRODID" || name === "RECURRENCE-ID") return t.length > 0 ? t : o;
  return clash(ctx, name) === "ours" ? o : t;
}

interface Elem {
  readonly key: string;
  readonly norm: string;
  readonly prop: Prop;
}

function elements(name: string, props: Prop[], root: ICAL.Component | null): Map<string, Elem> {
  const out = new Map<string, Elem>();
  for (const p of props) {
    if (LINE_SETS.has(name)) {
      const key = name === "ATTENDEE" ? p.value.trim().toLowerCase().replace(/^mailto:/, "") : normProp(p);
      out.set(key, { key, norm: normProp(p), prop: p });
      continue;
    }
    for (const raw of splitValues(p.value)) {
      const v = raw.trim();
      if (v === "") continue;
      let key = v;
      if (name === "EXDATE" || name === "RDATE") {
        const slash = v.indexOf("/");
        const tzid = paramOf(p, "TZID");
        key = slash < 0 ? instantKey(v, tzid, root) : `${instantKey(v.slice(0, slash), tzid, root)}/${v.slice(slash + 1)}`;
      }
      out.set(key, { key, norm: `${normParams(p)}|${v}`, prop: { name, params: p.params, value: v } });
    }
  }
  return out;
}

/** One attendee changed on both sides: its parameters (PARTSTAT, ROLE, …) merge one by one. */
function mergeAttendee(b: Elem | undefined, o: Elem, t: Elem, ctx: MergeCtx): Elem {
  const map = (e: Elem | undefined): Map<string, string> => new Map(e ? e.prop.params : []);
  const [pb, po, pt] = [map(b), map(o), map(t)];
  const params: [string, string][] = [];
  for (const name of orderedUnion([[...pt.keys()], [...po.keys()], [...pb.keys()]])) {
    const v = (m: Map<string, string>): string => (m.has(name) ? unquote(m.get(name)!) : "\u0000");
    let r = three(v(pb), v(po), v(pt));
    if (r === "clash") r = clash(ctx, `ATTENDEE ${t.key} ${name}`);
    const raw = (r === "ours" ? po : pt).get(name);
    if (raw !== undefined) params.push([name, raw]);
  }
  const prop: Prop = { name: "ATTENDEE", params, value: t.prop.value };
  return { key: t.key, norm: normProp(prop), prop };
}

function mergeSet(name: string, b: Prop[], o: Prop[], t: Prop[], ctx: MergeCtx): Prop[] {
  const [eb, eo, et] = [elements(name, b, ctx.roots.base), elements(name, o, ctx.roots.ours), elements(name, t, ctx.roots.theirs)];
  const out: Elem[] = [];
  for (const key of orderedUnion([[...et.keys()], [...eo.keys()], [...eb.keys()]])) {
    const [xb, xo, xt] = [eb.get(key), eo.get(key), et.get(key)];
    const r = three(xb?.norm ?? "", xo?.norm ?? "", xt?.norm ?? "");
    const pick = r === "ours" ? xo : r === "theirs" ? xt : undefined;
    if (r !== "clash") {
      if (pick) out.push(pick);
    } else if (!xo || !xt) {
      // Removed on one side, changed on the other: the edit is kept.
      ctx.clashes.push(`${ctx.label}${name} ${key}${ctx.where}: removed by ${xo ? "theirs" : "ours"}, changed by ${xo ? "ours" : "theirs"}: the edit is kept`);
      out.push((xo ?? xt)!);
    } else if (name === "ATTENDEE") out.push(mergeAttendee(xb, xo, xt, ctx));
    else out.push(clash(ctx, `${name} ${key}`) === "ours" ? xo : xt);
  }
  const norms = (es: Iterable<Elem>): string => [...new Set([...es].map((e) => e.norm))].sort().join("\n");
  const result = norms(out);
  if (result === norms(eo.values())) return o;
  if (result === norms(et.values())) return t;
  if (LINE_SETS.has(name)) return out.map((e) => e.prop);
  // Values with the same parameters share one line again.
  const lines = new Map<string, { params: Prop["params"]; values: string[] }>();
  for (const e of out) {
    const pk = e.prop.params.map(([k, v]) => `${k}=${v}`).join(";");
    const line = lines.get(pk) ?? { params: e.prop.params, values: [] };
    line.values.push(e.prop.value);
    lines.set(pk, line);
  }
  return [...lines.values()].map((l) => ({ name, params: l.params, value: l.values.join(",") }));
}

/** A VALARM's identity: its UID (or Apple's X-WR-ALARMUID), else ACTION + TRIGGER (with RELATED). */
function subKey(c: Comp): string {
  if (c.name !== "VALARM") return `${c.name}:${canon(c)}`;
  const uid = first(c, "UID") ?? first(c, "X-WR-ALARMUID");
  if (uid) return `UID=${uid.value}`;
  const trig = first(c, "TRIGGER");
  const related = trig ? (paramOf(trig, "RELATED") ?? "START").toUpperCase() : "";
  return `ACTION=${(first(c, "ACTION")?.value ?? "").toUpperCase()} TRIGGER=${trig?.value ?? ""}${trig && paramOf(trig, "VALUE") ? ` VALUE=${paramOf(trig, "VALUE")}` : ""} RELATED=${related}`;
}

function mergeSubs(b: readonly Comp[], o: readonly Comp[], t: readonly Comp[], ctx: MergeCtx): Comp[] {
  const byKey = (cs: readonly Comp[]): Map<string, Comp> => new Map(cs.map((c) => [subKey(c), c]));
  const [mb, mo, mt] = [byKey(b), byKey(o), byKey(t)];
  const out: Comp[] = [];
  for (const key of orderedUnion([[...mt.keys()], [...mo.keys()], [...mb.keys()]])) {
    const [cb, co, ct] = [mb.get(key), mo.get(key), mt.get(key)];
    const c = (x: Comp | undefined): string => (x ? canon(x) : "");
    const r = three(c(cb), c(co), c(ct));
    if (r !== "clash") {
      const pick = r === "ours" ? co : ct;
      if (pick) out.push(pick);
    } else if (!co || !ct) {
      ctx.clashes.push(`${ctx.label}${(co ?? ct)!.name}[${key}]${ctx.where}: removed by ${co ? "theirs" : "ours"}, changed by ${co ? "ours" : "theirs"}: the edit is kept`);
      out.push((co ?? ct)!);
    } else out.push(mergeComponent(cb ?? null, co, ct, { ...ctx, label: `${ctx.label}${co.name}[${key}] ` }, false));
  }
  return out;
}

const newer = (a: Prop | undefined, b: Prop | undefined): Prop | undefined => (!a ? b : !b ? a : (digits(a) ?? "") > (digits(b) ?? "") ? a : b);

/**
 * Merges one component changed on both sides (b null: created on both sides). `main`: a VEVENT/VTODO/…
 * whose DTSTAMP/LAST-MODIFIED become the newer of both sides and whose SEQUENCE becomes the larger one,
 * plus one when the merge produced something neither side had (RFC 5546 2.1.4: a change attendees must
 * see is a new sequence; a side's own value already carried its sequence).
 */
export function mergeComponent(b: Comp | null, o: Comp, t: Comp, ctx: MergeCtx, main: boolean): Comp {
  const base = b ?? { name: o.name, props: [], subs: [] };
  const group = (c: Comp, name: string): Prop[] => c.props.filter((p) => p.name === name);
  const names = orderedUnion([t, o, base].map((c) => c.props.map((p) => p.name)));
  const merged = new Map<string, Prop[]>();
  const timeNames = [...TIME].filter((n) => names.includes(n));
  for (const name of names) {
    if (main && STAMPS.has(name)) continue;
    if (TIME.has(name)) {
      // The time of a component is one unit: a start from one side and an end from the other could
      // make an end before the start, or a DTEND next to a DURATION.
      if (name !== timeNames[0]) continue;
      const unit = (c: Comp): Prop[] => c.props.filter((p) => TIME.has(p.name));
      merged.set(name, mergeGroup(timeNames.join("/"), unit(base), unit(o), unit(t), ctx));
      continue;
    }
    const args = [group(base, name), group(o, name), group(t, name)] as const;
    merged.set(name, LINE_SETS.has(name) || VALUE_SETS.has(name) ? mergeSet(name, ...args, ctx) : mergeGroup(name, ...args, ctx));
  }
  const subs = mergeSubs(base.subs, o.subs, t.subs, ctx);
  if (main) {
    const draft: Comp = { name: o.name, props: [...merged.values()].flat(), subs };
    const novel = canon(draft, STAMPS) !== canon(o, STAMPS) && canon(draft, STAMPS) !== canon(t, STAMPS);
    const seq = Math.max(seqOf(o) ?? 0, seqOf(t) ?? 0) + (novel ? 1 : 0);
    const stamp = (n: string): Prop[] => {
      const p = newer(first(o, n), first(t, n));
      return p ? [p] : [];
    };
    merged.set("DTSTAMP", stamp("DTSTAMP"));
    merged.set("LAST-MODIFIED", stamp("LAST-MODIFIED"));
    merged.set("SEQUENCE", seqOf(o) !== null || seqOf(t) !== null || seq > 0 ? [{ name: "SEQUENCE", params: [], value: String(seq) }] : []);
  }
  const order = orderedUnion([names, [...merged.keys()]]);
  return { name: o.name, props: order.flatMap((n) => merged.get(n) ?? []), subs };
}
