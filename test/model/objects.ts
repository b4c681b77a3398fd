/**
 * The model's calendar objects and its conflict oracle. Every object is one VEVENT whose SUMMARY,
 * LOCATION, DESCRIPTION and CATEGORIES a writer changes at random (a mask of the four), stamped with
 * LAST-MODIFIED from a logical clock (the model's version counter: a later write is newer), so that
 * a merge has both sides' changes to keep and "newest" is well defined.
 *
 * The oracle (`resolutionProblems`) is written from the policy texts (issue 11, config.example.yaml),
 * not from src/: per property, a change on one side is kept; both changed differently → the newer
 * LAST-MODIFIED (ties: the upstream); CATEGORIES merge as a set; a delete against an edit keeps the
 * edit; upstream-wins / client-wins take that side whole; newest-wins takes the newer whole object.
 */
import { contentKey } from "../../src/sync/conflict.ts";

export type Policy = "merge" | "upstream-wins" | "client-wins" | "newest-wins";
export const POLICIES: readonly Policy[] = ["merge", "upstream-wins", "client-wins", "newest-wins"];

export const FIELD_NAMES = ["SUMMARY", "LOCATION", "DESCRIPTION", "CATEGORIES"] as const;
/** Bits of an edit mask: which properties a write changes. */
export const SUMMARY = 1, LOCATION = 2, DESCRIPTION = 4, CATEGORIES = 8;

export interface Fields {
  readonly summary: string | null;
  readonly location: string | null;
  readonly description: string | null;
  readonly categories: readonly string[];
  /** LAST-MODIFIED digits ("" when absent). */
  readonly stamp: string;
}

export const slotUid = (slot: number): string => `model-s${slot}@calgate.test`;
export const summaryOf = (ics: string | null): string => (ics === null ? "∅" : (/^SUMMARY[^:]*:(.*)$/m.exec(ics.replace(/\r?\n[ \t]/g, ""))?.[1]?.trim() ?? "?"));

/** LAST-MODIFIED of logical time n: T0 + n seconds (a later model write is newer). */
export function stampOf(n: number): string {
  return new Date(Date.UTC(2024, 0, 1) + n * 1000).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

const esc = (s: string): string => s.replace(/\\/g, "\\\\").replace(/;/g, "\\;").replace(/,/g, "\\,");

/** The text of slot `slot`'s object. A comma in SUMMARY is written raw (as clients that Radicale 3.1.8 cuts short do). */
export function render(slot: number, f: Omit<Fields, "stamp">, n: number): string {
  return [
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate model//EN",
    "BEGIN:VEVENT", `UID:${slotUid(slot)}`, "DTSTAMP:20240101T000000Z", `LAST-MODIFIED:${stampOf(n)}`,
    `DTSTART:20240${1 + slot}01T100000Z`, "DURATION:PT1H",
    ...(f.summary !== null ? [`SUMMARY:${f.summary}`] : []),
    ...(f.location !== null ? [`LOCATION:${esc(f.location)}`] : []),
    ...(f.description !== null ? [`DESCRIPTION:${esc(f.description)}`] : []),
    ...(f.categories.length ? [`CATEGORIES:${f.categories.map(esc).join(",")}`] : []),
    "END:VEVENT", "END:VCALENDAR", "",
  ].join("\r\n");
}

const unesc = (s: string): string => s.replace(/\\([\\;,nN])/g, (_, c: string) => (c === "n" || c === "N" ? "\n" : c));
const splitList = (v: string): string[] => v.split(/(?<!\\),/).map((x) => unesc(x).trim()).filter(Boolean);

/** The four properties and the stamp of a version (of the master VEVENT; the model writes no overrides). */
export function fieldsOf(ics: string): Fields {
  const lines = ics.replace(/\r\n?/g, "\n").replace(/\n[ \t]/g, "").split("\n");
  const one = (name: string): string | null => {
    const l = lines.find((x) => new RegExp(`^${name}[;:]`, "i").test(x));
    return l === undefined ? null : unesc(l.slice(l.indexOf(":") + 1).trim());
  };
  const categories = lines.filter((x) => /^CATEGORIES[;:]/i.test(x)).flatMap((l) => splitList(l.slice(l.indexOf(":") + 1)));
  return { summary: one("SUMMARY"), location: one("LOCATION"), description: one("DESCRIPTION"), categories: [...new Set(categories)].sort(), stamp: (one("LAST-MODIFIED") ?? "").replace(/[^0-9]/g, "") };
}

/** A writer's new version: `base` (null: a create, every property set) with the properties in `mask` changed to values tagged `tag`. */
export function edit(base: Fields | null, mask: number, tag: string, comma: boolean): Omit<Fields, "stamp"> {
  const m = base === null ? SUMMARY | LOCATION | DESCRIPTION | CATEGORIES : mask || SUMMARY;
  const b = base ?? { summary: null, location: null, description: null, categories: [], stamp: "" };
  let categories = [...b.categories];
  if (m & CATEGORIES) {
    // A set edit: add one category, and drop the first (in sorted order) once there are two (so removals happen too).
    if (categories.length >= 2) categories = categories.slice(1);
    categories.push(`k${tag}`);
  }
  return {
    summary: m & SUMMARY ? (comma ? `${tag}, with Bob` : tag) : b.summary,
    location: m & LOCATION ? `room ${tag}` : b.location,
    description: m & DESCRIPTION ? `note ${tag}` : b.description,
    categories,
  };
}

export const maskText = (mask: number): string => FIELD_NAMES.filter((_, i) => mask & (1 << i)).map((n) => n.slice(0, 3)).join("+");

// --- the oracle -----------------------------------------------------------------------------------

const same = (a: string | null, b: string | null): boolean => a === b;
/** What an upstream that rewrites (Radicale 3.1.8, the "rewrite" fault) may store for a SUMMARY: cut at its first comma. */
const summaryMatches = (got: string | null, want: string | null): boolean => got === want || (want !== null && want.includes(",") && got === want.slice(0, want.indexOf(",")));

function sameFields(got: Fields, want: Fields, what: string): string[] {
  const out: string[] = [];
  if (!summaryMatches(got.summary, want.summary)) out.push(`${what}: SUMMARY is "${got.summary}", expected "${want.summary}"`);
  if (!same(got.location, want.location)) out.push(`${what}: LOCATION is "${got.location}", expected "${want.location}"`);
  if (!same(got.description, want.description)) out.push(`${what}: DESCRIPTION is "${got.description}", expected "${want.description}"`);
  if (got.categories.join(",") !== want.categories.join(",")) out.push(`${what}: CATEGORIES are [${got.categories.join(",")}], expected [${want.categories.join(",")}]`);
  return out;
}

/** theirs wins ties (same LAST-MODIFIED), as the upstream does under every rule. */
const oursNewer = (o: Fields, t: Fields): boolean => o.stamp !== "" && t.stamp !== "" && o.stamp > t.stamp;

/** The three-way merge of the four properties, by the rule: a one-sided change is kept; both changed differently → the newer side; CATEGORIES as a set. */
export function expectedMerge(b: Fields | null, o: Fields, t: Fields): Fields {
  const base = b ?? { summary: null, location: null, description: null, categories: [], stamp: "" };
  const newer = oursNewer(o, t) ? o : t;
  const pick = (k: "summary" | "location" | "description"): string | null => (o[k] === t[k] || t[k] === base[k] ? o[k] : o[k] === base[k] ? t[k] : newer[k]);
  const inB = new Set(base.categories), inO = new Set(o.categories), inT = new Set(t.categories);
  const categories = [...new Set([...o.categories, ...t.categories])].filter((x) => (inO.has(x) && inT.has(x)) || (inO.has(x) && !inB.has(x)) || (inT.has(x) && !inB.has(x))).sort();
  return { summary: pick("summary"), location: pick("location"), description: pick("description"), categories, stamp: "" };
}

export interface ConflictRecord {
  readonly id: number;
  readonly base: string | null;
  readonly ours: string | null;
  readonly theirs: string | null;
  readonly result: string | null;
  readonly policy: string | null;
  readonly outcome: string | null;
  readonly resolution: string | null;
}

/**
 * Is a conflict record's result what its policy says? Records without a policy (refusals) are not
 * decisions and are skipped. Every policy may fall back to the upstream's version when the upstream
 * kept changing while the resolution was being written (writer.ts: at most two more clashes).
 */
export function resolutionProblems(c: ConflictRecord, oursMayBeDelete = false): string[] {
  const problems = decisionProblems(c);
  // The record keeps as ours the newest version a client was acknowledged (store/writeback.ts
  // versionToKeep), while the policy decided from the newest queued write, which may be a DELETE
  // queued behind it: then the decision is checked as one against a delete.
  if (problems.length && oursMayBeDelete && c.ours !== null && decisionProblems({ ...c, ours: null }).length === 0) return [];
  return problems;
}

function decisionProblems(c: ConflictRecord): string[] {
  if (c.policy === null || /^refused/.test(c.resolution ?? "")) return [];
  const what = `conflict #${c.id} (policy ${c.policy}, outcome ${c.outcome})`;
  if (c.outcome === "upstream-won" && c.policy !== "upstream-wins") {
    return /kept changing/.test(c.resolution ?? "") ? [] : [`${what}: the upstream's version was kept, which ${c.policy} does not do (${c.resolution})`];
  }
  const key = (s: string | null): string | null => (s === null ? null : contentKey(s));
  let want: Fields | null | "whole-ours" | "whole-theirs";
  const [b, o, t] = [c.base && fieldsOf(c.base), c.ours && fieldsOf(c.ours), c.theirs && fieldsOf(c.theirs)];
  if (c.policy === "upstream-wins") want = t ? "whole-theirs" : null;
  else if (c.policy === "client-wins") want = o ? "whole-ours" : null;
  else if (!o || !t) {
    // A delete on one side: against an edit the edit is kept (merge and newest-wins alike); against no change (the kept side is the base) the delete stands.
    const kept = o ? "whole-ours" : t ? "whole-theirs" : null;
    const keptText = o ? c.ours : c.theirs;
    want = kept === null ? null : c.base !== null && key(keptText) === key(c.base) ? null : kept;
  } else if (c.policy === "newest-wins") want = oursNewer(o, t) ? "whole-ours" : "whole-theirs";
  else want = expectedMerge(b, o, t);
  if (want === null) return c.result === null ? [] : [`${what}: the result is "${fieldsOf(c.result).summary}", expected the object deleted`];
  if (c.result === null) return [`${what}: the object was deleted, expected a version to be kept`];
  const got = fieldsOf(c.result);
  if (want === "whole-ours") return sameFields(got, o!, `${what}: expected ours`);
  if (want === "whole-theirs") return sameFields(got, t!, `${what}: expected theirs`);
  return sameFields(got, want, `${what}: the merge`);
}
