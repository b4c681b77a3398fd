/**
 * Runs a fixed list of model commands (a shrunk counterexample, a regression) through a World:
 * commands, quiescence, final checks. Time is mocked for the duration.
 */
import { mock } from "node:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Model } from "./commands.ts";
import { World, type RunParams } from "./world.ts";
import type { Policy } from "./objects.ts";

export const T0 = Date.UTC(2024, 0, 1);

/** MODEL_POLICY: the conflict policy of scenarios that name none (default merge, as calgate's). */
export const DEFAULT_PARAMS: RunParams = { slots: 1, initial: [false, false, false], pageSize: 1, nullEtags: false, cursorExpiry: "full", writeDeadlineMs: 5_000, policy: (process.env.MODEL_POLICY as Policy | undefined) ?? "merge" };

export interface Step {
  run(m: Model, w: World): Promise<void>;
  toString(): string;
}

/** A fresh directory for database files: tmpfs when there is one (synchronous=FULL costs an fsync per commit). */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), prefix));
}

/** Runs `steps`, then (unless `final` is false) quiescence and the final checks; throws ModelViolation on a broken invariant. */
export async function runScenario(steps: readonly Step[], params: Partial<RunParams> = {}, opts: { final?: boolean; between?: (w: World) => Promise<void> } = {}): Promise<void> {
  const dir = scratchDir("calgate-scenario-");
  mock.timers.enable({ apis: ["Date", "setTimeout"], now: T0 });
  try {
    const world = await World.create({ ...DEFAULT_PARAMS, ...params }, join(dir, "db.sqlite"), { tick: (ms) => mock.timers.tick(ms) });
    try {
      for (const s of steps) await s.run({} as Model, world);
      await opts.between?.(world);
      if (opts.final !== false) {
        await world.quiesce();
        await world.checkFinal();
      }
    } finally {
      await world.dispose();
    }
  } finally {
    mock.timers.reset();
    rmSync(dir, { recursive: true, force: true });
  }
}
