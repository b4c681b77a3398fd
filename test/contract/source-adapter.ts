/**
 * The SourceAdapter contract: what every provider adapter must do for the sync engine to keep its
 * promises (nothing acknowledged is lost, nothing diverges silently). Registered as node:test tests
 * by `adapterContract(name, makeFixture)`; each test gets a fresh fixture (an empty calendar).
 *
 * Run for the in-memory reference adapter in memory.test.ts and for the CalDAV adapter against
 * Radicale and Xandikos in caldav.test.ts. A fixture gives the adapter, a SourceContext, the
 * calendar to use, and an "other client" that changes the upstream behind the adapter's back (for
 * CalDAV: raw HTTP PUT / DELETE against the server; for memory: its direct API).
 *
 * Properties:
 *  - listCalendars lists the fixture's calendar;
 *  - create (ref null) then get / locate({name, uid}) return it, with an ETag, and the text write reported;
 *  - create over an existing item (ours or the other client's) → PreconditionFailedUpstream, nothing changed;
 *  - update with the current ETag → a new ETag; with a stale ETag → PreconditionFailedUpstream, nothing changed;
 *  - update or remove with a null ETag → refused (Permanent or PreconditionFailedUpstream), nothing changed;
 *  - remove with a stale ETag → PreconditionFailedUpstream; remove of a gone item → ok;
 *  - get of an unknown id, locate of an unknown name → null;
 *  - pull from a null cursor lists everything (full = true on the last page, `listed` holds every id);
 *  - pull from the returned cursor after another client's edit / delete returns exactly that change,
 *    and nothing once nothing changed;
 *  - our own writes come back in a pull with the ETag write returned, and with the text write
 *    reported (what was sent, or `stored: "changed"` with the stored text);
 *  - whatever write reports is true: get returns that text (a payload that Radicale 3.1.8 rewrites is
 *    used, and fixtures that can make their upstream rewrite do so);
 *  - every upstream call is counted in `requests`.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  Permanent, PreconditionFailedUpstream, UpstreamError,
  type Cursor, type RemoteCalendar, type RemoteChange, type RemoteRef, type SourceAdapter, type SourceContext, type Written,
} from "../../src/sources/adapter.ts";
import { sameContent } from "../../src/sync/conflict.ts";
import { applyPage } from "../helpers/memory-upstream.ts";

/** Changes the upstream directly, as another client of the provider would (no preconditions). */
export interface OtherClient {
  /** Create or overwrite the item stored under `name` (the name the adapter's write / locate use). */
  put(name: string, ics: string): Promise<void>;
  /** Delete the item stored under `name` (gone already: fine). */
  remove(name: string): Promise<void>;
}

export interface AdapterFixture {
  readonly adapter: SourceAdapter;
  readonly ctx: SourceContext;
  /** An empty calendar as the adapter's listCalendars reports it (or would). */
  readonly calendar: RemoteCalendar;
  readonly other: OtherClient;
  /** When the upstream can be told to: its next write is stored rewritten (SUMMARY cut at the first comma). */
  rewriteNextWrite?(): void;
  close?(): Promise<void>;
}

export type FixtureFactory = () => Promise<AdapterFixture>;

let counter = 0;
/** A fresh name and UID per call, so tests on a shared server never collide. */
export function fresh(prefix = "ct"): { name: string; uid: string } {
  counter++;
  const tag = `${prefix}-${process.pid}-${counter}`;
  return { name: `${tag}.ics`, uid: `${tag}@contract.calgate.test` };
}

export function event(uid: string, summary: string, day = 1): string {
  return [
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate contract//EN",
    "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20240101T000000Z",
    `DTSTART:202403${String(day).padStart(2, "0")}T100000Z`, "DURATION:PT1H", `SUMMARY:${summary}`,
    "END:VEVENT", "END:VCALENDAR", "",
  ].join("\r\n");
}

const summary = (ics: string): string | undefined => /^SUMMARY[^:]*:(.*)$/m.exec(ics.replace(/\r?\n[ \t]/g, ""))?.[1]?.trim();

/** What the upstream holds after `w` answered a write of `sent`. */
export function storedText(w: Written, sent: string): string | null {
  if (w.stored === "changed") return w.ics;
  if (w.stored === "dropped") return w.ics;
  return sent;
}

export interface PulledAll {
  changes: RemoteChange[];
  next: Cursor | null;
  full: boolean;
  listed: ReadonlyMap<string, string | null> | undefined;
  pages: number;
  /** Every page's note. */
  notes: string[];
}

/** Pulls until done; when ctx is a memoryContext, its cache follows what was pulled (as the engine's would). */
export async function pullAll(adapter: SourceAdapter, cal: RemoteCalendar, cursor: Cursor | null, ctx: SourceContext): Promise<PulledAll> {
  const changes: RemoteChange[] = [];
  const notes: string[] = [];
  let cur = cursor;
  for (let pages = 1; pages <= 1000; pages++) {
    const page = await adapter.pull(cal, cur, ctx);
    changes.push(...page.changes);
    if (page.note) notes.push(page.note);
    const cache = (ctx as { cache?: Parameters<typeof applyPage>[0] }).cache;
    if (cache) applyPage(cache, cal, page);
    cur = page.next;
    if (page.done) return { changes, next: page.next, full: page.full, listed: page.listed, pages, notes };
  }
  throw new Error("pull did not finish within 1000 pages");
}

/** The latest change per id, in order of last appearance. */
function latestById(changes: readonly RemoteChange[]): Map<string, RemoteChange> {
  const m = new Map<string, RemoteChange>();
  for (const c of changes) {
    const id = c.kind === "delete" ? c.id : c.ref.id;
    m.delete(id);
    m.set(id, c);
  }
  return m;
}

async function rejectsWith(p: Promise<unknown>, ok: readonly (abstract new (...a: never[]) => Error)[], what: string): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(ok.some((k) => e instanceof k), `${what}: expected ${ok.map((k) => k.name).join(" or ")}, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    return e as Error;
  }
  assert.fail(`${what}: expected ${ok.map((k) => k.name).join(" or ")}, but it succeeded`);
}

/** Writes a new item and checks the answer is usable; returns its ref and what the upstream stores. */
async function create(f: AdapterFixture, name: string, ics: string): Promise<{ ref: RemoteRef; stored: string; written: Written }> {
  const w = await f.adapter.write(f.calendar, { name, ref: null, ics }, f.ctx);
  assert.notEqual(w.stored, "dropped", `create of ${name} was dropped: ${w.stored === "dropped" ? w.why : ""}`);
  assert.ok(w.ref, "a create answers with a ref");
  assert.ok(w.ref.id.length > 0, "the ref has an id");
  return { ref: w.ref, stored: storedText(w, ics)!, written: w };
}

async function currentRef(f: AdapterFixture, id: string): Promise<RemoteRef> {
  const g = await f.adapter.get(f.calendar, id, f.ctx);
  assert.ok(g, `${id} exists`);
  assert.ok(g.ref.etag !== null, `get(${id}) gives an ETag`);
  return g.ref;
}

/**
 * Registers the contract's tests under `describe(name)`. `makeFixture` is called once per test and
 * must give an empty calendar; `close` (when given) runs after the test.
 */
export function adapterContract(name: string, makeFixture: FixtureFactory): void {
  const it = (title: string, body: (f: AdapterFixture) => Promise<void>): void => {
    test(title, async () => {
      const f = await makeFixture();
      try {
        await body(f);
      } finally {
        await f.close?.();
      }
    });
  };

  describe(`SourceAdapter contract: ${name}`, () => {
    it("listCalendars lists the fixture's calendar", async (f) => {
      const cals = await f.adapter.listCalendars(f.ctx);
      assert.ok(cals.some((c) => c.id === f.calendar.id), `listed ${cals.map((c) => c.id).join(", ")}; missing ${f.calendar.id}`);
      assert.equal(new Set(cals.map((c) => c.id)).size, cals.length, "calendar ids are unique");
    });

    it("create, then get and locate return it with an ETag and the text write reported", async (f) => {
      const { name, uid } = fresh();
      const ics = event(uid, "Contract create");
      const { ref, stored } = await create(f, name, ics);
      const got = await f.adapter.get(f.calendar, ref.id, f.ctx);
      assert.ok(got, "get finds the created item");
      assert.equal(got.ref.id, ref.id);
      assert.ok(got.ref.etag !== null, "get gives an ETag");
      if (ref.etag !== null) assert.equal(got.ref.etag, ref.etag, "get's ETag is the one write returned");
      assert.ok(sameContent(got.ics, stored), `get returns what write reported:\n${got.ics}\nvs\n${stored}`);
      const loc = await f.adapter.locate(f.calendar, { name, uid }, f.ctx);
      assert.ok(loc, "locate(name) finds the item created under that name");
      assert.equal(loc.ref.id, ref.id);
      assert.equal(loc.ref.etag, got.ref.etag);
      assert.ok(sameContent(loc.ics, stored));
    });

    it("get of an unknown id and locate of an unknown name answer null", async (f) => {
      const unknown = fresh();
      assert.equal(await f.adapter.locate(f.calendar, unknown, f.ctx), null);
      const { name: n2, uid } = fresh();
      const { ref } = await create(f, n2, event(uid, "To delete"));
      await f.adapter.remove(f.calendar, await currentRef(f, ref.id), f.ctx);
      assert.equal(await f.adapter.get(f.calendar, ref.id, f.ctx), null, "get of a deleted item");
      assert.equal(await f.adapter.locate(f.calendar, { name: n2, uid }, f.ctx), null, "locate of a deleted item");
    });

    it("a create over an existing item is refused with PreconditionFailedUpstream and changes nothing", async (f) => {
      const { name, uid } = fresh();
      const { ref, stored } = await create(f, name, event(uid, "First"));
      const before = await currentRef(f, ref.id);
      await rejectsWith(f.adapter.write(f.calendar, { name, ref: null, ics: event(uid, "Second") }, f.ctx), [PreconditionFailedUpstream], "create over our own item");
      const after = await f.adapter.get(f.calendar, ref.id, f.ctx);
      assert.equal(after?.ref.etag, before.etag, "ETag unchanged");
      assert.ok(after && sameContent(after.ics, stored), "content unchanged");
      // Over an item the other client created under that name.
      const o = fresh();
      await f.other.put(o.name, event(o.uid, "Theirs"));
      await rejectsWith(f.adapter.write(f.calendar, { name: o.name, ref: null, ics: event(o.uid, "Ours") }, f.ctx), [PreconditionFailedUpstream], "create over the other client's item");
      const theirs = await f.adapter.locate(f.calendar, o, f.ctx);
      assert.equal(theirs && summary(theirs.ics), "Theirs");
    });

    it("an update with the current ETag stores the new version under a new ETag", async (f) => {
      const { name, uid } = fresh();
      const { ref } = await create(f, name, event(uid, "v1"));
      const cur = await currentRef(f, ref.id);
      const v2 = event(uid, "v2", 2);
      const w = await f.adapter.write(f.calendar, { name, ref: cur, ics: v2 }, f.ctx);
      assert.notEqual(w.stored, "dropped");
      assert.ok(w.ref);
      assert.equal(w.ref.id, ref.id, "an update keeps the item's id");
      if (w.ref.etag !== null) assert.notEqual(w.ref.etag, cur.etag, "a new ETag");
      const got = await f.adapter.get(f.calendar, ref.id, f.ctx);
      assert.ok(got && sameContent(got.ics, storedText(w, v2)!), "get returns the update");
      assert.notEqual(got.ref.etag, cur.etag);
      if (w.ref.etag !== null) assert.equal(got.ref.etag, w.ref.etag);
    });

    it("an update with a stale ETag is refused with PreconditionFailedUpstream and changes nothing", async (f) => {
      const { name, uid } = fresh();
      const { ref } = await create(f, name, event(uid, "v1"));
      const stale = await currentRef(f, ref.id);
      await f.other.put(name, event(uid, "theirs"));
      const theirs = await currentRef(f, ref.id);
      assert.notEqual(theirs.etag, stale.etag, "the other client's edit changed the ETag");
      await rejectsWith(f.adapter.write(f.calendar, { name, ref: stale, ics: event(uid, "ours") }, f.ctx), [PreconditionFailedUpstream], "update with a stale ETag");
      const got = await f.adapter.get(f.calendar, ref.id, f.ctx);
      assert.equal(got?.ref.etag, theirs.etag);
      assert.equal(got && summary(got.ics), "theirs");
    });

    it("an update of an item deleted meanwhile is refused with PreconditionFailedUpstream and creates nothing", async (f) => {
      const { name, uid } = fresh();
      const { ref } = await create(f, name, event(uid, "v1"));
      const stale = await currentRef(f, ref.id);
      await f.other.remove(name);
      await rejectsWith(f.adapter.write(f.calendar, { name, ref: stale, ics: event(uid, "ours") }, f.ctx), [PreconditionFailedUpstream], "update of a deleted item");
      assert.equal(await f.adapter.get(f.calendar, ref.id, f.ctx), null, "still gone");
    });

    it("an update or delete with a null ETag is refused (never blind) and changes nothing", async (f) => {
      const { name, uid } = fresh();
      const { ref, stored } = await create(f, name, event(uid, "v1"));
      const cur = await currentRef(f, ref.id);
      await rejectsWith(f.adapter.write(f.calendar, { name, ref: { id: ref.id, etag: null }, ics: event(uid, "blind") }, f.ctx), [Permanent, PreconditionFailedUpstream], "update with a null ETag");
      await rejectsWith(f.adapter.remove(f.calendar, { id: ref.id, etag: null }, f.ctx), [Permanent, PreconditionFailedUpstream], "delete with a null ETag");
      const got = await f.adapter.get(f.calendar, ref.id, f.ctx);
      assert.equal(got?.ref.etag, cur.etag, "ETag unchanged");
      assert.ok(got && sameContent(got.ics, stored), "content unchanged");
    });

    it("a delete with a stale ETag is refused; with the current ETag it deletes; of a gone item it is ok", async (f) => {
      const { name, uid } = fresh();
      const { ref } = await create(f, name, event(uid, "v1"));
      const stale = await currentRef(f, ref.id);
      await f.other.put(name, event(uid, "theirs"));
      await rejectsWith(f.adapter.remove(f.calendar, stale, f.ctx), [PreconditionFailedUpstream], "delete with a stale ETag");
      const cur = await currentRef(f, ref.id);
      assert.equal(summary((await f.adapter.get(f.calendar, ref.id, f.ctx))!.ics), "theirs", "still there");
      await f.adapter.remove(f.calendar, cur, f.ctx);
      assert.equal(await f.adapter.get(f.calendar, ref.id, f.ctx), null, "deleted");
      await f.adapter.remove(f.calendar, cur, f.ctx); // again: already gone counts as done
      // Gone because the other client deleted it.
      const o = fresh();
      const c2 = await create(f, o.name, event(o.uid, "x"));
      const r2 = await currentRef(f, c2.ref.id);
      await f.other.remove(o.name);
      await f.adapter.remove(f.calendar, r2, f.ctx);
    });

    it("pull from a null cursor lists everything, with full = true and every id listed", async (f) => {
      const made = new Map<string, string>(); // id → stored text
      for (let i = 0; i < 3; i++) {
        const { name, uid } = fresh();
        const c = await create(f, name, event(uid, `Mine ${i}`, i + 1));
        made.set(c.ref.id, c.stored);
      }
      const o = fresh();
      await f.other.put(o.name, event(o.uid, "Theirs"));
      const theirs = await f.adapter.locate(f.calendar, o, f.ctx);
      assert.ok(theirs);
      made.set(theirs.ref.id, theirs.ics);
      const all = await pullAll(f.adapter, f.calendar, null, f.ctx);
      assert.equal(all.full, true, "a pull from null is a full listing");
      assert.ok(all.next !== null, "a full listing ends with a cursor");
      const byId = latestById(all.changes);
      for (const [id, ics] of made) {
        const c = byId.get(id);
        assert.ok(c && c.kind === "upsert", `${id} is in the listing`);
        assert.ok(sameContent(c.ics, ics), `${id}: listed text is the stored one`);
        if (all.listed) assert.ok(all.listed.has(id), `${id} is in listed`);
      }
      assert.equal([...byId.values()].filter((c) => c.kind === "upsert").length, made.size, "nothing else is listed");
      if (all.listed) assert.equal(all.listed.size, made.size, "listed holds exactly the calendar's items");
      assert.ok(!all.changes.some((c) => c.kind === "delete"), "a first full listing reports no deletions");
    });

    it("pull from the returned cursor returns exactly another client's edit, then its delete, then nothing", async (f) => {
      const a = fresh();
      const b = fresh();
      const ca = await create(f, a.name, event(a.uid, "A1"));
      const cb = await create(f, b.name, event(b.uid, "B1"));
      const first = await pullAll(f.adapter, f.calendar, null, f.ctx);
      assert.ok(first.next !== null);
      await f.other.put(a.name, event(a.uid, "A2"));
      const edited = await pullAll(f.adapter, f.calendar, first.next, f.ctx);
      const e = [...latestById(edited.changes).values()];
      assert.equal(e.length, 1, `exactly one change after one edit, got ${JSON.stringify(e.map((c) => (c.kind === "delete" ? `-${c.id}` : `+${c.ref.id}`)))}`);
      const up = e[0]!;
      assert.equal(up.kind, "upsert");
      assert.ok(up.kind === "upsert");
      assert.equal(up.ref.id, ca.ref.id);
      assert.equal(summary(up.ics), "A2");
      const cur = await currentRef(f, ca.ref.id);
      if (up.ref.etag !== null) assert.equal(up.ref.etag, cur.etag, "the pulled ETag is the current one");
      assert.ok(edited.next !== null);
      await f.other.remove(b.name);
      const deleted = await pullAll(f.adapter, f.calendar, edited.next, f.ctx);
      const d = [...latestById(deleted.changes).values()];
      if (deleted.full) {
        // An adapter may fall back to a full listing; then the deletion shows as an id no longer listed.
        assert.ok(deleted.listed && !deleted.listed.has(cb.ref.id), "the deleted item is no longer listed");
      } else {
        assert.equal(d.length, 1, `exactly one change after one delete, got ${d.length}`);
        assert.deepEqual(d[0], { kind: "delete", id: cb.ref.id });
      }
      assert.ok(deleted.next !== null);
      const idle = await pullAll(f.adapter, f.calendar, deleted.next, f.ctx);
      assert.equal(idle.full ? 0 : idle.changes.length, 0, "nothing changed, nothing pulled");
    });

    it("our own writes come back in a pull with the ETag write returned and the text write reported", async (f) => {
      const start = await pullAll(f.adapter, f.calendar, null, f.ctx);
      const { name, uid } = fresh();
      const sent = event(uid, "Ours v1");
      const c = await create(f, name, sent);
      const p1 = await pullAll(f.adapter, f.calendar, start.next, f.ctx);
      const got1 = latestById(p1.changes).get(c.ref.id);
      assert.ok(got1 && got1.kind === "upsert", "our create comes back");
      if (c.ref.etag !== null && got1.ref.etag !== null) assert.equal(got1.ref.etag, c.ref.etag, "with the ETag write returned");
      assert.ok(sameContent(got1.ics, c.stored), "with the text write reported");
      const cur = await currentRef(f, c.ref.id);
      const v2 = event(uid, "Ours v2", 3);
      const w2 = await f.adapter.write(f.calendar, { name, ref: cur, ics: v2 }, f.ctx);
      assert.notEqual(w2.stored, "dropped");
      const p2 = await pullAll(f.adapter, f.calendar, p1.next, f.ctx);
      const got2 = latestById(p2.changes).get(c.ref.id);
      assert.ok(got2 && got2.kind === "upsert", "our update comes back");
      if (w2.ref?.etag && got2.ref.etag !== null) assert.equal(got2.ref.etag, w2.ref.etag, "with the ETag the update returned");
      assert.ok(sameContent(got2.ics, storedText(w2, v2)!), "with the text the update reported");
    });

    it("what write reports is what the upstream stores (a payload Radicale 3.1.8 rewrites)", async (f) => {
      const { name, uid } = fresh();
      const sent = event(uid, "Lunch\\, with Bob, and Alice");
      f.rewriteNextWrite?.();
      const w = await f.adapter.write(f.calendar, { name, ref: null, ics: sent }, f.ctx);
      assert.ok(w.ref, "the write answered with a ref");
      const got = await f.adapter.get(f.calendar, w.ref.id, f.ctx);
      const reported = storedText(w, sent);
      if (w.stored === "dropped") assert.ok(got === null ? reported === null : reported !== null && sameContent(got.ics, reported), "a dropped write reports what is there");
      else {
        assert.ok(got, "the item exists");
        assert.ok(sameContent(got.ics, reported!), `write said ${w.stored}, the upstream holds:\n${got.ics}\nsent:\n${sent}`);
        if (w.ref.etag !== null) assert.equal(got.ref.etag, w.ref.etag);
      }
      if (f.rewriteNextWrite) assert.equal(w.stored, "changed", "a rewrite is reported as changed");
    });

    it("every upstream call is counted in requests", async (f) => {
      const before = f.adapter.requests;
      await f.adapter.listCalendars(f.ctx);
      const afterList = f.adapter.requests;
      assert.ok(afterList > before, "listCalendars is counted");
      const { name, uid } = fresh();
      await create(f, name, event(uid, "count"));
      assert.ok(f.adapter.requests > afterList, "write is counted");
      const afterWrite = f.adapter.requests;
      await f.adapter.locate(f.calendar, { name, uid }, f.ctx);
      assert.ok(f.adapter.requests > afterWrite, "locate is counted");
    });

    it("errors are typed UpstreamErrors", async (f) => {
      const { name, uid } = fresh();
      await create(f, name, event(uid, "x"));
      const e = await rejectsWith(f.adapter.write(f.calendar, { name, ref: null, ics: event(uid, "y") }, f.ctx), [PreconditionFailedUpstream], "duplicate create");
      assert.ok(e instanceof UpstreamError);
    });
  });
}
