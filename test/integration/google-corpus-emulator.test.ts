/**
 * Fidelity of the REAL Google path over the real-world corpus: every VALID file with VEVENTs (the
 * selection of google-fidelity.test.ts), split into one object per UID as an importing client does, is
 * written by the GoogleAdapter through the official client library to the Google Calendar API emulator
 * (calendar zone Asia/Tokyo, not the zone of any corpus event: the emulator renders dateTime in it), then
 * read back three ways:
 *  (a) what write reported (stored "as-sent": the original; "changed": its ics),
 *  (b) adapter.get(cal, id),
 *  (c) the object of that id in a full listing from adapter.pull(cal, null) on (series grouping of events.list).
 * Each is compared with the original per component and per property (test/helpers/ical-fidelity.ts, the
 * rule of google-fidelity.test.ts with its documented exceptions), and (b), (c) must say the same as (a)
 * (sameContent) under the same version tag. Objects the adapter refuses are counted with their reason;
 * a file whose UID an earlier file already used goes to another calendar (the corpus has duplicates).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { GoogleSourceConfig } from "../../src/config/schema.ts";
import { Permanent, type RemoteCalendar, type RemoteChange } from "../../src/sources/adapter.ts";
import { GoogleAdapter } from "../../src/sources/google/adapter.ts";
import { sameContent } from "../../src/ical/content.ts";
import { startGoogleEmulator, type GoogleEmulator } from "../emulators/google/index.ts";
import { CORPUS_ICS_DIR } from "../helpers/fixtures.ts";
import { Fidelity, splitByUid, veventCorpusRows } from "../helpers/ical-fidelity.ts";
import { memoryContext } from "../helpers/memory-upstream.ts";
import { pullAll } from "../contract/source-adapter.ts";

const CAL_ZONE = "Asia/Tokyo";
const EMAIL = "corpus@example.com";
const CLIENT = { clientId: "corpus.apps.googleusercontent.com", clientSecret: "corpus-secret" };
const SCOPE = "https://www.googleapis.com/auth/calendar";
const QUOTA = 2_000;

interface Obj { file: string; uid: string; ics: string; cal: number }
interface Stored extends Obj { id: string; etag: string | null; written: string; asSent: boolean }

/** Every object of the corpus; a file colliding by UID with an earlier one goes to the first calendar free of its UIDs. */
const files = veventCorpusRows().map((r) => r[0]!);
const calendarUids: Set<string>[] = [];
const objects: Obj[] = [];
for (const file of files) {
  const split = splitByUid(readFileSync(join(CORPUS_ICS_DIR, file), "utf8"));
  let cal = calendarUids.findIndex((uids) => ![...split.keys()].some((u) => uids.has(u)));
  if (cal < 0) cal = calendarUids.push(new Set()) - 1;
  for (const [uid, ics] of split) {
    calendarUids[cal]!.add(uid);
    objects.push({ file, uid, ics, cal });
  }
}

let emu: GoogleEmulator;
let adapter: GoogleAdapter;
let cals: RemoteCalendar[] = [];
const ctx = memoryContext();
const stored: Stored[] = [];
const refused: string[] = [];
const requests = { import: 0, get: 0, listing: 0 };
const fid = { write: new Fidelity(CAL_ZONE), get: new Fidelity(CAL_ZONE), pull: new Fidelity(CAL_ZONE) };
const disagree: string[] = [];
/** Writes that failed otherwise (none expected). */
const failed: string[] = [];
/**
 * Defects this test found once, kept as categories so a regression is named: "instances-page"
 * (events.instances read past its first page: pages may be short or empty, reference §3, §11.1) and
 * "sequence" (an override's SEQUENCE below its master's is raised to what Google holds and given back
 * on reads). None is expected any more: the test fails on any.
 */
type DefectKind = "instances-page" | "sequence";
const DEFECTS: [DefectKind, RegExp][] = [["instances-page", /^RECURRENCE-ID .* is not an occurrence of the series at Google$/], ["sequence", /Invalid sequence value/]];
/** Objects Google cannot hold as written: refusals, with a CalDAV error for the client, and nothing left at Google. */
const REFUSALS = [/^Google cannot hold/, /overrides an occurrence the series excludes/];
/** Files whose RECURRENCE-ID names no occurrence of the series (RFC 5545 wants one): Google's refusal is right. */
const NOT_AN_OCCURRENCE = new Set(["nextcloud-calendar-js/apple-thisandfuture-rdate.ics"]);
const defect: { kind: DefectKind; cal: number; uid: string; line: string }[] = [];

before(async () => {
  // The per-user quota raised from 600 (emulator) and 540 (adapter budget) a minute: the run makes ~800
  // requests, which at the real rate would spend ~50 s waiting. It changes timing only, not the counts.
  emu = await startGoogleEmulator({ seed: 3, quota: { perUserPerMinute: QUOTA } });
  emu.addClient(CLIENT);
  emu.addAccount(EMAIL, { timeZone: "Europe/Zurich" });
  const ids = calendarUids.map((_, i) => emu.addCalendar(EMAIL, { summary: `Corpus ${i + 1}`, timeZone: CAL_ZONE, accessRole: "owner" }));
  const cfg = { id: "corpus-google", type: "google", ...CLIENT, apiUrl: emu.apiUrl, authUrl: emu.authUrl, tokenUrl: emu.tokenUrl } as GoogleSourceConfig;
  adapter = new GoogleAdapter(cfg, { timeoutMs: 10_000, backoffBaseMs: 5, perUserPerMinute: QUOTA });
  const grant = emu.grant(CLIENT.clientId, EMAIL, [SCOPE]);
  ctx.secretValues.set("oauth", JSON.stringify({ refresh_token: grant.refresh_token, scope: SCOPE, obtained_at: Date.now(), client_id: CLIENT.clientId }));
  const listed = await adapter.listCalendars(ctx);
  cals = ids.map((id) => listed.find((c) => c.id === id) ?? assert.fail(`calendar ${id} not listed`));
});
after(async () => {
  await emu?.close();
});

test("google corpus via emulator: import (write)", async () => {
  const start = adapter.requests;
  for (const o of objects) {
    const cal = cals[o.cal]!;
    try {
      const w = await adapter.write(cal, { name: `${o.file.replace(/\W+/g, "-")}-${stored.length}.ics`, ref: null, ics: o.ics }, ctx);
      if (w.stored === "dropped" || !w.ref) { failed.push(`${o.file} ${o.uid}: dropped (${w.stored === "dropped" ? w.why : "no ref"})`); continue; }
      const written = w.stored === "changed" ? w.ics : o.ics;
      stored.push({ ...o, id: w.ref.id, etag: w.ref.etag, written, asSent: w.stored === "as-sent" });
      // What the engine keeps after a write (get reads the UID from it).
      ctx.cache.get(cal.id) ?? ctx.cache.set(cal.id, new Map());
      ctx.cache.get(cal.id)!.set(w.ref.id, { ref: w.ref, ics: written, name: `${w.ref.id}.ics` });
      fid.write.compare(o.file, o.uid, o.ics, written);
    } catch (e) {
      const msg = (e as Error).message;
      if (e instanceof Permanent && (REFUSALS.some((re) => re.test(msg)) || (NOT_AN_OCCURRENCE.has(o.file) && DEFECTS[0]![1].test(msg)))) refused.push(`${o.file} ${o.uid}: ${msg}`);
      else if (e instanceof Permanent && DEFECTS.some(([, re]) => re.test(msg))) defect.push({ kind: DEFECTS.find(([, re]) => re.test(msg))![0], cal: o.cal, uid: o.uid, line: `${o.file} ${o.uid}: ${msg}` });
      else failed.push(`${o.file} ${o.uid}: ${e instanceof Error ? e.name : ""} ${msg}`);
    }
  }
  requests.import = adapter.requests - start;
  assert.equal(stored.length + refused.length + defect.length + failed.length, objects.length);
  assert.deepEqual(failed, [], "every object is stored or refused with a reason");
});

test("google corpus via emulator: adapter.get of every object", async () => {
  const start = adapter.requests;
  for (const s of stored) {
    const got = await adapter.get(cals[s.cal]!, s.id, ctx);
    if (!got) { disagree.push(`${s.file} ${s.uid}: get found nothing under ${s.id}`); continue; }
    fid.get.compare(s.file, s.uid, s.ics, got.ics);
    if (!sameContent(got.ics, s.written)) disagree.push(`${s.file} ${s.uid}: get differs from what write reported`);
    if (got.ref.etag !== s.etag) disagree.push(`${s.file} ${s.uid}: get version ${got.ref.etag} ≠ write version ${s.etag}`);
  }
  requests.get = adapter.requests - start;
});

test("google corpus via emulator: full pull listing", async () => {
  const start = adapter.requests;
  const listed = new Map<string, Extract<RemoteChange, { kind: "upsert" }>>();
  for (const cal of cals) {
    // A context with an empty cache: a first sync, every object comes with its text.
    const first = memoryContext();
    for (const [k, v] of ctx.secretValues) first.secretValues.set(k, v);
    // The listing comes in pages (full-listing.ts): pulled until done and applied, as the engine does.
    const all = await pullAll(adapter, cal, null, first);
    assert.deepEqual(all.notes, [], `pull of ${cal.id}`);
    assert.equal(all.full, true, "a first sync is a full listing");
    for (const ch of all.changes) if (ch.kind === "upsert") listed.set(`${cal.id} ${ch.ref.id}`, ch);
  }
  requests.listing = adapter.requests - start;
  for (const s of stored) {
    const ch = listed.get(`${cals[s.cal]!.id} ${s.id}`);
    if (!ch) { disagree.push(`${s.file} ${s.uid}: not in the listing under ${s.id}`); continue; }
    listed.delete(`${cals[s.cal]!.id} ${s.id}`);
    fid.pull.compare(s.file, s.uid, s.ics, ch.ics);
    if (!sameContent(ch.ics, s.written)) disagree.push(`${s.file} ${s.uid}: listing differs from what write reported`);
    if (ch.ref.etag !== s.etag) disagree.push(`${s.file} ${s.uid}: listing version ${ch.ref.etag} ≠ write version ${s.etag}`);
  }
  for (const [key, ch] of listed) {
    const uid = /^UID:(.*)$/m.exec(ch.ics.replace(/\r?\n[ \t]/g, ""))?.[1]?.trim();
    // A write that failed on a known defect leaves its master at Google (the write is not atomic): listed, not an error here.
    if (!defect.some((d) => cals[d.cal]!.id === key.split(" ")[0] && d.uid === uid)) disagree.push(`listing holds ${key} (UID ${uid}), which no write reported`);
  }
});

/**
 * Google sets the organizer itself on events.insert ("read-only except on import", reference §2); the
 * adapter imports events organized by someone else, so an ORGANIZER replaced by the calendar is a loss
 * like any other. The column stays to name it if it comes back.
 */
function split(f: Fidelity): { lost: string[]; organizer: string[] } {
  const byInsert = (l: string): boolean => /\] ORGANIZER: /.test(l) && cals.some((c) => l.includes(`(back: mailto:${c.id}|`));
  return { lost: f.losses, organizer: f.losses.filter(byInsert) };
}

test("google corpus via emulator: every property survives, the three reads agree; table", () => {
  const rows = ["| read | files | objects | stored | refused | failed (defect) | properties kept | lost | documented losses | ORGANIZER → calendar (insert) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"];
  for (const [name, f] of Object.entries(fid)) {
    const t = f.totals();
    const { lost, organizer } = split(f);
    rows.push(`| ${name} | ${files.length} | ${objects.length} | ${stored.length} | ${refused.length} | ${defect.length} | ${t.kept} | ${lost.length} | ${t.expected} | ${organizer.length} |`);
  }
  console.log(`\nGoogle corpus through the adapter and the emulator (calendar zone ${CAL_ZONE}, ${cals.length} calendars)\n${rows.join("\n")}`);
  console.log(`\nWrite reported: ${stored.filter((x) => x.asSent).length} as-sent, ${stored.filter((x) => !x.asSent).length} changed`);
  console.log(`\nAPI requests: import ${requests.import} (${stored.length} objects stored, ${refused.length} refused), get ${requests.get}, full listing ${requests.listing} (${cals.length} calendars)`);
  console.log(`\nPer property, full listing (c):\n${fid.pull.propertyTable().join("\n")}`);
  console.log(`\nRefused:\n${refused.map((r) => `- ${r}`).join("\n") || "(none)"}`);
  if (defect.length) console.log(`\nFailed on a known adapter defect:\n${defect.map((d) => `- [${d.kind}] ${d.line}`).join("\n")}`);
  for (const [name, f] of Object.entries(fid)) {
    const { lost, organizer } = split(f);
    if (f.expected.length) console.log(`\nDocumented losses, ${name}:\n${f.expected.join("\n")}`);
    if (organizer.length) console.log(`\nORGANIZER replaced by the calendar (events.insert), ${name}:\n${organizer.join("\n")}`);
    if (lost.length) console.log(`\nLost, ${name}:\n${lost.join("\n")}`);
  }
  if (disagree.length) console.log(`\nDisagreements:\n${disagree.join("\n")}`);
  assert.deepEqual(split(fid.write).lost, [], "no property may be lost (write)");
  assert.deepEqual(split(fid.get).lost, [], "no property may be lost (get)");
  assert.deepEqual(split(fid.pull).lost, [], "no property may be lost (listing)");
  assert.deepEqual(disagree, [], "write, get and the listing agree");
});

// ---- once known adapter defects (instance paging, override SEQUENCE), now regression tests ----------------

/** A calendar of its own (Asia/Tokyo) for a reproduction. */
async function freshCalendar(summary: string): Promise<RemoteCalendar> {
  const id = emu.addCalendar(EMAIL, { summary, timeZone: CAL_ZONE, accessRole: "owner" });
  return (await adapter.listCalendars(ctx)).find((c) => c.id === id) ?? assert.fail(`calendar ${id} not listed`);
}
const series = (uid: string, masterSeq: number, overrideSeq: number): string => [
  "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate repro//EN",
  "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20260101T000000Z", `SEQUENCE:${masterSeq}`, "SUMMARY:Daily",
  "DTSTART;TZID=America/New_York:20260201T100000", "DTEND;TZID=America/New_York:20260201T110000", "RRULE:FREQ=DAILY;COUNT=5", "END:VEVENT",
  "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20260101T000000Z", `SEQUENCE:${overrideSeq}`, "SUMMARY:Moved",
  "RECURRENCE-ID;TZID=America/New_York:20260203T100000", "DTSTART;TZID=America/New_York:20260203T120000", "DTEND;TZID=America/New_York:20260203T130000", "END:VEVENT",
  "END:VCALENDAR", "",
].join("\r\n");

test("overrides of the corpus are written whatever the paging of events.instances (short and empty pages, reference §3, §11.1)", () => {
  assert.deepEqual(defect.filter((d) => d.kind === "instances-page").map((d) => d.line), []);
});

test("ten daily series (COUNT=5) with one moved occurrence each are written whatever the paging of events.instances", async () => {
  const cal = await freshCalendar("Repro instances paging");
  const errors: string[] = [];
  for (let i = 0; i < 10; i++) {
    await adapter.write(cal, { name: `p${i}.ics`, ref: null, ics: series(`paging-${i}@repro.calgate.test`, 0, 0) }, ctx).catch((e: Error) => errors.push(`paging-${i}: ${e.message}`));
  }
  assert.deepEqual(errors, []);
});

test("an override with a SEQUENCE below the master's is written (Google refuses a SEQUENCE below the one it holds)", async () => {
  const cal = await freshCalendar("Repro override sequence");
  await adapter.write(cal, { name: "s.ics", ref: null, ics: series("sequence@repro.calgate.test", 3, 1) }, ctx);
});
