/** The scale simulation's verdict (bench/scale-analysis.ts) on made-up status events. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { analyse, type SyncEventRow } from "../../bench/scale-analysis.ts";

const T = 1_800_000_000_000 - (1_800_000_000_000 % 60_000); // a tick
const started = (owner: string, source: string, at: number, instance = "a:1:x", reason = "scheduled"): SyncEventRow => ({ type: "sync.started", owner, payload: JSON.stringify({ source, reason, instance }), at });
const completed = (owner: string, source: string, at: number, ms: number, requests: number): SyncEventRow => ({ type: "sync.completed", owner, payload: JSON.stringify({ source, ms, requests }), at });

test("delays after the tick, double polls, misses, gaps and the spread over instances", () => {
  const rows: SyncEventRow[] = [
    // Tick 1: u1/a at +2 s by instance a, u1/b at +40 s (later than the 30 s jitter) by b.
    started("u1", "a", T + 2_000), completed("u1", "a", T + 2_500, 500, 2),
    started("u1", "b", T + 40_000, "b:2:y"), completed("u1", "b", T + 41_000, 1_000, 3),
    // Tick 2: u1/a twice (a double poll), u1/b missing.
    started("u1", "a", T + 61_000), started("u1", "a", T + 62_000, "b:2:y"),
    { type: "sync.failed", owner: "u1", payload: JSON.stringify({ source: "a", error: "upstream 503 after 3 tries" }), at: T + 62_500 },
  ];
  const r = analyse(rows, { from: T, to: T + 120_000, intervalMs: 60_000, jitterMs: 30_000, sources: 2 });
  assert.equal(r.ticks, 2);
  assert.equal(r.syncsStarted, 4);
  assert.equal(r.startedLaterThanJitter, 1);
  assert.equal(r.delayAfterTickMs.max, 40_000);
  assert.equal(r.sourcesPolledTwiceInOneTick, 1);
  assert.equal(r.sourceTicksMissed, 1, "u1/b had no poll in the second tick");
  assert.equal(r.sourcesNeverPolled, 0);
  assert.equal(r.gapBetweenPollsMs.max, 59_000);
  assert.equal(r.upstreamRequests, 5);
  assert.equal(r.failed, 1);
  assert.deepEqual(r.errors, { "upstream N after N tries": 1 });
  assert.deepEqual(r.instances.map((i) => [i.instance, i.syncs, i.distinctSources]).sort(), [["a:1:x", 2, 1], ["b:2:y", 2, 2]]);
});
