/**
 * Model-based test of the sync engine + writer + store (issue 8), with fast-check commands against
 * the in-memory upstream (test/helpers/memory-upstream.ts): client PUT/DELETE through the
 * CalendarService (fresh, stale or no precondition), another client editing the upstream, syncs
 * (also from a second process on the same database file), outbox replays, upstream faults (5xx,
 * 429, 401, refusals, 412, apply-then-fail, rewrite, drop, a calendar missing from one listing),
 * holds (a call parked before or after the upstream processed it, released later, possibly with
 * another outcome), mocked time (write deadlines, backoffs), expired cursors, a second process
 * writing status events concurrently, and restarts.
 *
 * Objects (objects.ts): the client and the other client change SUMMARY, LOCATION, DESCRIPTION and
 * CATEGORIES at random (Race: the other client's change, then the client's, before any sync), with
 * LAST-MODIFIED from a logical clock; every run picks one sync.conflictPolicy (merge, upstream-wins,
 * client-wins, newest-wins; MODEL_POLICY pins one).
 *
 * Invariants, after every command: no outbox row vanishes, the calendar keeps its id, the latest
 * acknowledged write of every object is in the cache, stored upstream, or kept in the conflict log
 * (for a conflict: as `ours`), every conflict record's result is what its policy says (objects.ts: a
 * merge keeps each property one side changed, a property both changed goes to the newer
 * LAST-MODIFIED, CATEGORIES merge as a set, a delete against an edit keeps the edit), and no client
 * request is answered with an unexpected error. After quiescence (holds released, faults cleared,
 * time passed, replay + sync until nothing changes): the cache and the upstream agree item for item;
 * nothing is pending in the outbox; a write answered 412 or refused was never stored upstream nor
 * served; every upstream version calgate replaced or deleted was one the new version was made from,
 * one a client deleted, or is kept in the conflict log as `theirs` (lineage.ts; under merge a
 * deleted version must be one a client deleted).
 *
 * MODEL_RUNS (default 200 in `npm test`, a new seed each run; `npm run model` runs 100,000), MODEL_SEED and MODEL_PATH (to replay a counterexample: both are printed
 * on failure), MODEL_MAX_COMMANDS (default 25), MODEL_SIZE (small | medium | large; default small),
 * MODEL_STATS=1 (print what the runs reached and where the time went), MODEL_EXCLUDE (features to leave out, to look past a
 * known failure: see commandArb; also cursor-throw, null-etags), MODEL_KNOWN_DEFECTS (see KNOWN),
 * MODEL_POLICY (one conflict policy for every run), MODEL_SHRINK=0 (report the first failure unshrunk). `npm run model` runs 100,000.
 */
import { test, mock } from "node:test";
import { performance } from "node:perf_hooks";
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import assert from "node:assert/strict";
import { ClientPut, Fault, OtherPut, Race, Sync, commandArb, type Model } from "./commands.ts";
import { ModelViolation, World, count, lookedPastCounts, stats, slotName, type RunParams } from "./world.ts";
import { T0, runScenario, scratchDir } from "./scenario.ts";
import { startPostgres } from "../helpers/postgres.ts";
import { LOCATION, POLICIES, SUMMARY, type Policy } from "./objects.ts";

const RUNS = Number(process.env.MODEL_RUNS ?? 200);
const MAX_COMMANDS = Number(process.env.MODEL_MAX_COMMANDS ?? 25);
/** fast-check size of the command sequences: "small" (default; most runs are short, some reach MAX_COMMANDS) or "medium" / "large". */
const SIZE = (process.env.MODEL_SIZE ?? "small") as "small" | "medium" | "large";
const SEED = process.env.MODEL_SEED !== undefined ? Number(process.env.MODEL_SEED) : undefined;
const PATH = process.env.MODEL_PATH;
/** Features left out (see commandArb), plus "cursor-throw" and "null-etags" for the run parameters. */
/**
 * Known engine defects (each a todo test in regressions.test.ts) whose exact symptom the runs look past,
 * so that the suite stays usable until they are fixed; the count is printed. MODEL_KNOWN_DEFECTS=none
 * fails on them. locate-delete: a DELETE of a never-sent create deletes another client's item;
 * resolution-answer-lost: a conflict result written upstream whose answer is lost is never recorded (lineage.ts).
 */
const KNOWN = (process.env.MODEL_KNOWN_DEFECTS ?? "none").split(",").map((s) => s.trim()).filter((s) => s && s !== "none");
const EXCLUDE = new Set((process.env.MODEL_EXCLUDE ?? "").split(",").map((s) => s.trim()).filter(Boolean));

const paramsArb: fc.Arbitrary<RunParams> = fc.record({
  slots: fc.integer({ min: 1, max: 3 }),
  initial: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
  pageSize: fc.integer({ min: 1, max: 3 }),
  nullEtags: EXCLUDE.has("null-etags") ? fc.constant(false as const) : fc.constantFrom<false | "pull">(false, false, false, "pull"),
  cursorExpiry: EXCLUDE.has("cursor-throw") ? fc.constant("full" as const) : fc.constantFrom<"full" | "throw">("full", "throw"),
  writeDeadlineMs: fc.constant(5_000),
  // sync.conflictPolicy: every run one of the four (MODEL_POLICY pins one).
  policy: process.env.MODEL_POLICY ? fc.constant(process.env.MODEL_POLICY as Policy) : fc.constantFrom(...POLICIES),
  lookPast: fc.constant(KNOWN),
});

test(`sync engine model: ${RUNS} runs of up to ${MAX_COMMANDS} commands`, { timeout: 24 * 3600_000 }, async () => {
  const dir = scratchDir("calgate-model-");
  // MODEL_STORAGE=postgres: every run's database is a PostgreSQL database of a throwaway cluster.
  const cluster = process.env.MODEL_STORAGE === "postgres" ? await startPostgres() : null;
  // A database after the first sync, per set of initial upstream objects, copied for every run.
  const templates = new Map<string, string>();
  const template = async (params: RunParams): Promise<string> => {
    const key = params.initial.map((b) => (b ? 1 : 0)).join("");
    let path = templates.get(key);
    if (!path) {
      path = cluster ? await cluster.createDatabase(`template_${key}`) : join(dir, `template-${key}.sqlite`);
      mock.timers.setTime(T0);
      await (await World.create({ ...params, nullEtags: false }, path, clock)).close();
      templates.set(key, path);
    }
    return path;
  };
  mock.timers.enable({ apis: ["Date", "setTimeout"], now: T0 });
  const clock = { tick: (ms: number) => mock.timers.tick(ms) };
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(paramsArb, fc.commands([commandArb(EXCLUDE)], { maxCommands: MAX_COMMANDS, size: SIZE }), async (params, cmds) => {
        const tpl = await template(params);
        const file = cluster ? await cluster.createDatabase(`run_${++run}`, new URL(tpl).pathname.slice(1)) : join(dir, `run-${++run}.sqlite`);
        if (!cluster) copyFileSync(tpl, file);
        mock.timers.setTime(T0);
        let t = performance.now();
        const lap = (what: string): void => {
          const now = performance.now();
          count(`ms ${what}`, Math.round(now - t));
          t = now;
        };
        const world = await World.create(params, file, clock, true);
        lap("1 setup");
        try {
          await fc.asyncModelRun(() => ({ model: {} as Model, real: world }), cmds);
          lap("2 commands");
          await world.quiesce();
          lap("3 quiescence");
          await world.checkFinal();
          lap("4 final check");
        } finally {
          await world.dispose();
          lap("5 dispose");
        }
      }),
      { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}), ...(PATH ? { path: PATH } : {}), ...(process.env.MODEL_SHRINK === "0" ? { endOnFailure: true } : {}) },
    );
  } finally {
    mock.timers.reset();
    rmSync(dir, { recursive: true, force: true });
    cluster?.stop();
    for (const [defect, n] of lookedPastCounts) console.log(`model: looked past the known defect ${defect} (regressions.test.ts, todo) in ${n} check(s); MODEL_KNOWN_DEFECTS=none fails on it`);
    if (process.env.MODEL_STATS) console.log([...stats].sort().map(([k, v]) => `${k}: ${v}`).join("\n"));
  }
});

/** The invariant checks have teeth: calgate's state tampered with behind its back is caught. */
test("sync engine model: the checks catch a lost write, a vanished outbox row and a diverged cache", async () => {
  const caught = (expected: RegExp) => (e: unknown) => e instanceof ModelViolation && expected.test(e.message);
  const params = { slots: 2, initial: [true, false, false], pageSize: 2 };
  // An acknowledged write (queued after a 503) whose outbox row is closed and whose object is removed.
  await assert.rejects(
    runScenario([new Fault("write", { kind: "transient", status: 503 }), new ClientPut(1, "fresh", false)], params, {
      final: false,
      between: async (w) => {
        const [row] = await w.primary.outbox();
        assert.ok(row && row.state === "pending", "the write is queued");
        await w.primary.db("outbox").update({ state: "failed" });
        await w.primary.db("objects").where({ name: slotName(1) }).delete();
        await w.checkStep("tampering");
      },
    }),
    caught(/acknowledged #\d+ PUT s1\.ics "c\d+" is lost/),
  );
  // An outbox row deleted.
  await assert.rejects(
    runScenario([new ClientPut(0, "fresh", false)], params, {
      final: false,
      between: async (w) => {
        await w.primary.db("outbox").delete();
        await w.checkStep("tampering");
      },
    }),
    caught(/outbox row \d+ vanished/),
  );
  // The cache changed behind calgate's back: it no longer agrees with the upstream.
  await assert.rejects(
    runScenario([new OtherPut(0), new Sync("primary")], params, {
      between: async (w) => {
        const ics = (await w.primary.cache()).find((c) => c.name === slotName(0))!.ics;
        await w.primary.db("objects").where({ name: slotName(0) }).update({ ics: ics.replace(/SUMMARY:[^\r\n]*/, "SUMMARY:tampered") });
      },
    }),
    caught(/the cache serves "tampered", the upstream holds "o\d+"/),
  );
});

/** The policy checks have teeth: a merge that dropped one side's change, and a replaced upstream version missing from the log. */
test("sync engine model: the checks catch a merge that lost a change and an upstream version that left no trace", async () => {
  const caught = (expected: RegExp) => (e: unknown) => e instanceof ModelViolation && expected.test(e.message);
  const race = new Race(new OtherPut(0, LOCATION), new ClientPut(0, "fresh", false, SUMMARY));
  const params = { slots: 1, initial: [true, false, false] };
  // The merge's result loses the client's SUMMARY (as if theirs had been taken whole).
  await assert.rejects(
    runScenario([race], { ...params, policy: "merge" }, {
      final: false,
      between: async (w) => {
        const [c] = await w.primary.conflicts();
        assert.ok(c && c.theirs, "the race ends in a conflict");
        await w.primary.db("conflicts").update({ result: c.theirs });
        (w as unknown as { conflictsChecked: number }).conflictsChecked = 0;
        await w.checkStep("tampering");
      },
    }),
    caught(/conflict #\d+ \(policy merge, outcome merged\): the merge: SUMMARY is "init0", expected "c\d+"/),
  );
  // Under client-wins the client's version replaced the other client's; its record is gone.
  await assert.rejects(
    runScenario([race], { ...params, policy: "client-wins" }, {
      between: async (w) => {
        assert.equal((await w.primary.conflicts()).length, 1, "the race ends in a conflict");
        await w.primary.db("conflicts").delete();
      },
    }),
    caught(/upstream version "init0" of item:s0\.ics \(replaced by calgate with "c\d+", history #\d+\) disappeared/),
  );
});
