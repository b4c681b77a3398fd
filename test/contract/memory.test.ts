/**
 * The SourceAdapter contract for the in-memory reference adapter (test/helpers/memory-upstream.ts),
 * with small pages so that listings span several pages, plus the fault behaviours the model test
 * relies on.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { adapterContract, event, pullAll, type AdapterFixture } from "./source-adapter.ts";
import { MemoryUpstream, idForName, memoryContext, truncateSummaryAtComma } from "../helpers/memory-upstream.ts";
import { CursorExpired, Permanent, PreconditionFailedUpstream, RateLimited, Transient } from "../../src/sources/adapter.ts";

export function memoryFixture(opts: { pageSize?: number; rewrite?: boolean } = {}): () => Promise<AdapterFixture> {
  return async () => {
    const upstream = new MemoryUpstream({ pageSize: opts.pageSize ?? 2, calendars: ["work"] });
    const adapter = upstream.adapter();
    const ctx = memoryContext();
    return {
      adapter,
      ctx,
      calendar: upstream.remoteCalendar("work"),
      other: {
        put: async (name, ics) => void upstream.other.put("work", name, ics),
        remove: async (name) => void upstream.other.removeByName("work", name),
      },
      ...(opts.rewrite ? { rewriteNextWrite: () => upstream.next("write", { kind: "rewrite" }) } : {}),
    };
  };
}

adapterContract("memory (pages of 2)", memoryFixture());
adapterContract("memory (one page, rewriting upstream)", memoryFixture({ pageSize: 1000, rewrite: true }));

describe("memory upstream: faults", () => {
  const setup = () => {
    const up = new MemoryUpstream({ pageSize: 2, calendars: ["c"] });
    return { up, a: up.adapter(), ctx: memoryContext(), cal: up.remoteCalendar("c") };
  };

  test("a held write waits for release and can be released with a 412 that stores nothing", async () => {
    const { up, a, ctx, cal } = setup();
    const h = up.hold("write");
    let settled = false;
    const p = a.write(cal, { name: "x.ics", ref: null, ics: event("x", "X") }, ctx).finally(() => (settled = true));
    await h.reached;
    await Promise.resolve();
    assert.equal(settled, false);
    assert.equal(up.items("c").size, 0);
    h.release({ kind: "precondition" });
    await assert.rejects(p, PreconditionFailedUpstream);
    assert.equal(up.items("c").size, 0);
  });

  test("a write held after processing is stored before its answer; losing the answer is Transient", async () => {
    const { up, a, ctx, cal } = setup();
    const h = up.hold("write", { when: "after" });
    const p = a.write(cal, { name: "x.ics", ref: null, ics: event("x", "X") }, ctx);
    await h.reached;
    assert.equal(up.items("c").size, 1, "stored while the answer is held");
    h.release({ kind: "transient" });
    await assert.rejects(p, Transient);
    assert.ok(await a.locate(cal, { name: "x.ics", uid: null }, ctx), "locate finds the create whose answer was lost");
  });

  test("apply-then-fail stores, then throws Transient", async () => {
    const { up, a, ctx, cal } = setup();
    up.next("write", { kind: "apply-then-fail" });
    await assert.rejects(a.write(cal, { name: "x.ics", ref: null, ics: event("x", "X") }, ctx), Transient);
    assert.equal(up.itemByName("c", "x.ics")?.name, "x.ics");
  });

  test("rewrite: reported as changed with the stored text; the lying variant says as-sent", async () => {
    const { up, a, ctx, cal } = setup();
    up.next("write", { kind: "rewrite" });
    const w = await a.write(cal, { name: "x.ics", ref: null, ics: event("x", "Lunch, with Bob") }, ctx);
    assert.equal(w.stored, "changed");
    assert.ok(w.stored === "changed" && /SUMMARY:Lunch\r\n/.test(w.ics));
    up.next("write", { kind: "rewrite", lie: true });
    const w2 = await a.write(cal, { name: "y.ics", ref: null, ics: event("y", "Tea, with Ann") }, ctx);
    assert.equal(w2.stored, "as-sent");
    assert.match(up.itemByName("c", "y.ics")!.ics, /SUMMARY:Tea\r\n/);
    assert.equal(truncateSummaryAtComma("SUMMARY:a\\, b, c\r\n"), "SUMMARY:a\\, b\r\n", "an escaped comma is text");
  });

  test("drop: success answered, nothing stored, reported as dropped", async () => {
    const { up, a, ctx, cal } = setup();
    up.next("write", { kind: "drop" });
    const w = await a.write(cal, { name: "x.ics", ref: null, ics: event("x", "X") }, ctx);
    assert.equal(w.stored, "dropped");
    assert.equal(up.items("c").size, 0);
  });

  test("typed failures; a fault matches its op, calendar and name only", async () => {
    const { up, a, ctx, cal } = setup();
    up.next("write", { kind: "rate-limited", retryAfterMs: 7 }, { name: "y.ics" });
    up.next("remove", { kind: "permanent" });
    up.next("pull", { kind: "transient", status: 503 });
    await a.write(cal, { name: "x.ics", ref: null, ics: event("x", "X") }, ctx); // not y.ics: no fault
    const e = await a.write(cal, { name: "y.ics", ref: null, ics: event("y", "Y") }, ctx).catch((x: unknown) => x);
    assert.ok(e instanceof RateLimited && e.retryAfterMs === 7);
    await assert.rejects(a.pull(cal, null, ctx), Transient);
    const g = (await a.locate(cal, { name: "x.ics", uid: null }, ctx))!;
    await assert.rejects(a.remove(cal, g.ref, ctx), Permanent);
    assert.equal(up.pendingFaults().length, 0);
    assert.equal(up.requests, 5);
    assert.equal(up.requestsBy.write, 2);
  });

  test("omit-calendar hides a calendar from one listing only", async () => {
    const up = new MemoryUpstream({ calendars: ["a", "b"] });
    const ad = up.adapter();
    const ctx = memoryContext();
    up.next("listCalendars", { kind: "omit-calendar", calendar: "a" });
    assert.deepEqual((await ad.listCalendars(ctx)).map((c) => c.id), ["b"]);
    assert.deepEqual((await ad.listCalendars(ctx)).map((c) => c.id), ["a", "b"]);
  });

  test("expired cursors answer a full listing (or CursorExpired); changes during a paged listing are not lost", async () => {
    const { up, a, ctx, cal } = setup();
    for (const n of ["a", "b", "c", "d", "e"]) up.other.put("c", `${n}.ics`, event(n, n));
    const first = await pullAll(a, cal, null, ctx);
    assert.equal(first.pages, 3);
    assert.equal(first.listed?.size, 5);
    up.expireCursors();
    const again = await pullAll(a, cal, first.next, ctx);
    assert.equal(again.full, true);
    assert.equal(again.changes.length, 5);
    // Mid-listing: delete an already-listed item, create one sorting before the position, edit one after it.
    const p1 = await a.pull(cal, null, ctx);
    up.other.removeByName("c", "a.ics");
    up.other.put("c", "0.ics", event("0", "zero"));
    up.other.put("c", "e.ics", event("e", "e2"));
    let cur = p1.next;
    const seen = new Map(p1.changes.map((c) => [c.kind === "upsert" ? c.ref.id : c.id, c]));
    for (;;) {
      const p = await a.pull(cal, cur, ctx);
      for (const c of p.changes) seen.set(c.kind === "upsert" ? c.ref.id : c.id, c);
      cur = p.next;
      if (p.done) break;
    }
    const tail = await pullAll(a, cal, cur, ctx);
    for (const c of tail.changes) seen.set(c.kind === "upsert" ? c.ref.id : c.id, c);
    assert.equal(seen.get(idForName("a.ics"))?.kind, "delete");
    assert.equal(seen.get(idForName("0.ics"))?.kind, "upsert");
    const e = seen.get(idForName("e.ics"));
    assert.ok(e?.kind === "upsert" && /SUMMARY:e2/.test(e.ics));
    const strict = new MemoryUpstream({ cursorExpiry: "throw", calendars: ["c"] });
    const sa = strict.adapter();
    const s1 = await pullAll(sa, strict.remoteCalendar("c"), null, ctx);
    strict.expireCursors("c");
    await assert.rejects(sa.pull(strict.remoteCalendar("c"), s1.next, ctx), CursorExpired);
  });

  test("null ETags: none in pulls ('pull'), none anywhere ('all')", async () => {
    const { up, a, ctx, cal } = setup();
    up.other.put("c", "x.ics", event("x", "X"));
    up.nullEtags = "pull";
    const p = await pullAll(a, cal, null, ctx);
    assert.ok(p.changes.every((c) => c.kind === "upsert" && c.ref.etag === null));
    assert.ok((await a.locate(cal, { name: "x.ics", uid: null }, ctx))!.ref.etag !== null);
    up.nullEtags = "all";
    assert.equal((await a.locate(cal, { name: "x.ics", uid: null }, ctx))!.ref.etag, null);
    const w = await a.write(cal, { name: "y.ics", ref: null, ics: event("y", "Y") }, ctx);
    assert.equal(w.ref?.etag, null);
  });

  test("an aborted signal fails a held call with Transient", async () => {
    const { up, a, cal } = setup();
    const ac = new AbortController();
    const ctx = memoryContext({ signal: ac.signal });
    const h = up.hold("pull");
    const p = a.pull(cal, null, ctx);
    await h.reached;
    ac.abort(new Error("shutting down"));
    await assert.rejects(p, Transient);
  });
});
