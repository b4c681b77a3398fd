/**
 * Shared calendar reads (src/store/shared-reads.ts): concurrent callers may share one statement,
 * but no caller is ever answered from a snapshot older than its call. Writes commit through the
 * same handle and through a second handle on the same file (another process), in random
 * interleavings with the reads.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { openDb, tx } from "../../src/store/db.ts";
import { CalendarStore } from "../../src/store/calendars.ts";
import { ObjectStore } from "../../src/store/objects.ts";
import { parseCalendarObject } from "../../src/ical/parse.ts";
import { objectWrite } from "../../src/sync/object-write.ts";
import { SharedReads } from "../../src/store/shared-reads.ts";
import type { Knex } from "knex";

const ics = (uid: string, summary: string): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20260101T000000Z", "DTSTART:20260105T100000Z", "DTEND:20260105T110000Z", `SUMMARY:${summary}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

async function setup() {
  const file = join(mkdtempSync(join(tmpdir(), "calgate-shared-")), "c.sqlite");
  const db = await openDb(file);
  const other = await openDb(file);
  const calendars = new CalendarStore(db);
  const cal = await calendars.create({ owner: "alice", name: "work", sourceId: "local" });
  return { db, other, calendars, cal };
}

/**
 * A model of the driver: a read is queued, later sent (knex's "query" event, the moment it may
 * start to see the database), later answered with what the database held when it was sent.
 * Commits can happen at any point in between. fast-check chooses the interleaving.
 */
test("model: a caller never joins a read that was sent before it asked", async () => {
  type Fake = { on(e: string, f: () => void): void; then(ok: (v: number) => void, bad: (e: unknown) => void): void };
  await fc.assert(
    fc.asyncProperty(fc.array(fc.constantFrom("call", "call", "send", "answer", "commit"), { minLength: 1, maxLength: 80 }), async (ops) => {
      const shared = new SharedReads<number>();
      let version = 0;
      const queued: { listeners: (() => void)[]; resolve: ((v: number) => void) | null; seen: number | null }[] = [];
      const sent: typeof queued = [];
      const calls: { floor: number; answer: Promise<number> }[] = [];
      const make = (): Knex.QueryBuilder => {
        const q = { listeners: [] as (() => void)[], resolve: null as ((v: number) => void) | null, seen: null as number | null };
        queued.push(q);
        const fake: Fake = {
          on: (e, f) => void (e === "query" && q.listeners.push(f)),
          then: (ok) => void (q.resolve = ok),
        };
        return fake as unknown as Knex.QueryBuilder;
      };
      const turn = () => new Promise((r) => setImmediate(r));
      for (const op of ops) {
        if (op === "call") calls.push({ floor: version, answer: shared.read("k", make) });
        else if (op === "commit") version++;
        else if (op === "send" && queued.length > 0) {
          const q = queued.shift()!;
          q.seen = version;
          for (const f of q.listeners) f();
          sent.push(q);
        } else if (op === "answer" && sent.length > 0) {
          const q = sent.shift()!;
          q.resolve?.(q.seen!);
        }
        await turn();
      }
      // Drain: send and answer whatever is left.
      for (;;) {
        await turn();
        const q = queued.shift() ?? sent.shift();
        if (!q) break;
        if (q.seen === null) {
          q.seen = version;
          for (const f of q.listeners) f();
        }
        q.resolve?.(q.seen);
      }
      for (const c of calls) {
        const v = await c.answer;
        assert.ok(v >= c.floor, `a caller that asked at version ${c.floor} was answered from version ${v}`);
      }
    }),
    { numRuns: 300 },
  );
});

test("no shared read answers a caller with a sequence older than the last commit before its call", async () => {
  const { db, other, calendars, cal } = await setup();
  const stores = [new ObjectStore(db), new ObjectStore(other)];
  let committed = 0; // the calendar's sequence after the last write whose commit has returned
  let statements = 0;
  let reads = 0;
  db.on("query", (q: { sql: string }) => {
    if (/^select \* from `calendars` where `owner`/.test(q.sql)) statements++;
  });
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom("read", "read", "write-here", "write-there", "turn", "turn", "settle"), { minLength: 5, maxLength: 60 }), async (ops) => {
        const pending: Promise<void>[] = [];
        let n = 0;
        for (const op of ops) {
          if (op === "settle") {
            await Promise.all(pending.splice(0));
          } else if (op === "turn") {
            // Let the database answer some of what is pending, so that later calls land between a
            // statement being sent and its answer, after other commits.
            await new Promise((r) => setImmediate(r));
          } else if (op === "read") {
            const floor = committed;
            reads++;
            pending.push(calendars.get("alice", "work").then((row) => {
              assert.ok(row, "the calendar exists");
              assert.ok(Number(row.sync_seq) >= floor, `read answered sequence ${row.sync_seq}, but ${floor} had committed before it was called`);
            }));
          } else {
            const store = stores[op === "write-here" ? 0 : 1]!;
            const name = `e${n++}.ics`;
            pending.push(store.put(cal.id, objectWrite(name, parseCalendarObject(ics(`${name}-${Math.random()}`, "x"))), { ifMatch: null, ifNoneMatch: null }).then((r) => {
              assert.ok(r.ok);
              committed = Math.max(committed, r.seq);
            }));
          }
        }
        await Promise.all(pending);
      }),
      { numRuns: 150 },
    );
    assert.ok(statements < reads, `some reads shared a statement (${statements} statements for ${reads} reads)`);
  } finally {
    await db.destroy();
    await other.destroy();
  }
});

test("concurrent reads share one statement while it waits; inside a transaction nothing is shared", async () => {
  const { db, other, calendars, cal } = await setup();
  let statements = 0;
  db.on("query", (q: { sql: string }) => {
    if (/^select \* from `calendars` where `owner`/.test(q.sql)) statements++;
  });
  try {
    // The one connection is busy (a transaction), so eight reads wait together: one statement for all,
    // each with its own copy of the row.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let begun!: () => void;
    const inside = new Promise<void>((r) => (begun = r));
    const holding = tx(db, async () => {
      begun();
      await held;
    });
    await inside;
    const reads = Array.from({ length: 8 }, () => calendars.get("alice", "work"));
    release();
    await holding;
    const rows = await Promise.all(reads);
    assert.equal(statements, 1, "eight waiting reads, one statement");
    assert.ok(rows.every((r) => r?.id === cal.id));
    assert.notEqual(rows[0], rows[1], "each caller has its own copy");
    // In a transaction, reads are the transaction's own (never shared with the outside).
    statements = 0;
    await tx(db, async (trx) => {
      const inner = new CalendarStore(trx);
      await Promise.all([inner.get("alice", "work"), inner.get("alice", "work")]);
    });
    assert.equal(statements, 2);
  } finally {
    await db.destroy();
    await other.destroy();
  }
});

test("a read asked for once the statement is sent starts a statement of its own (knex's real timing)", async () => {
  const { db, other, calendars } = await setup();
  let statements = 0;
  let late: Promise<unknown> | null = null;
  // knex emits the client's "query" event after the builder's, just before the driver runs it:
  // a caller arriving then must not be handed that statement's answer.
  db.on("query", (q: { sql: string }) => {
    if (!/^select \* from `calendars` where `owner`/.test(q.sql)) return;
    statements++;
    late ??= calendars.get("alice", "work");
  });
  try {
    await calendars.get("alice", "work");
    await late;
    assert.equal(statements, 2, "the late caller got a statement of its own");
  } finally {
    await db.destroy();
    await other.destroy();
  }
});
