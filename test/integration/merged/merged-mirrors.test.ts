/**
 * Merged calendars and mirror rules together (issue 12): a busy block a rule copied into a calendar
 * the merged calendar also includes is not shown beside the meeting it copies; a merged calendar that
 * includes only the target shows the busy block, under the meeting's UID key; when the meeting goes,
 * so do the block and the member.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { parseConfigText } from "../../../src/config/load.ts";
import { startServer } from "../../../src/main.ts";
import { openDb } from "../../../src/store/db.ts";
import { col, objects, req, syncCollection, unfold, until, vevent, type World } from "../../helpers/dav-world.ts";

const summaries = async (w: World, cal: string): Promise<string[]> => [...(await objects(col(w, cal))).values()].map((ics) => /^SUMMARY[^:]*:(.*)$/m.exec(unfold(ics))![1]!.trim()).sort();

describe("merged calendars over mirror rules", () => {
  let w: World;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), "calgate-merged-mirrors-"));
    const filename = join(dir, "db.sqlite");
    const yaml = `server: { host: 127.0.0.1, port: 0 }
storage: { client: sqlite, filename: ${filename} }
sync: { schedule: "0 0 1 1 *" }
users:
  - username: alice
    password: secret-a
    sources:
      - { id: home, type: local, calendars: [ { id: work, name: Work }, { id: family, name: Family } ] }
    mirrors:
      - { from: home/work, to: home/family, mode: busy }
    merged:
      - { id: everything, name: Everything, include: ["home/*"], writeTo: home/work }
      - { id: family-view, name: Family view, include: ["home/family"] }
`;
    const server = await startServer(parseConfigText(yaml, "mm.yaml", {}), { configPath: null, generatedPassword: null, logger: pino({ level: process.env.TEST_LOG ?? "silent" }) });
    w = { server, db: await openDb(filename), dir, base: server.url.replace(/\/$/, "") };
  });
  after(async () => {
    await w?.server.close();
    await w?.db.destroy();
    if (w) rmSync(w.dir, { recursive: true, force: true });
  });

  test("the busy block is hidden where its meeting is shown, shown where it is not, and goes with it", async () => {
    assert.equal((await req(col(w, "home-work") + "review.ics", "PUT", vevent("review-1", "Budget review"))).status, 201);
    await until("the busy block in home-family", async () => (await summaries(w, "home-family")).includes("Busy"));
    assert.deepEqual(await summaries(w, "everything"), ["Budget review"], "one member: the meeting, not its busy block");
    assert.deepEqual(await summaries(w, "family-view"), ["Busy"], "without the meeting, the busy block");
    // The status data: which merged calendars show how much, which rules ran and what they wrote.
    const status = JSON.parse((await req(`${w.base}/status.json`, "GET")).body) as { merged: { id: string; members: number }[]; mirrors: { rule: string; copies: number; written: { created: number } }[] };
    assert.deepEqual(status.merged.map((m) => [m.id, m.members]), [["everything", 1], ["family-view", 1]]);
    assert.equal(status.mirrors.length, 1);
    assert.equal(status.mirrors[0]!.copies, 1);
    assert.equal(status.mirrors[0]!.written.created, 1);
    const token = (await syncCollection(col(w, "everything"), "")).token;

    assert.equal((await req(col(w, "home-work") + "review.ics", "DELETE")).status, 204);
    await until("the busy block to go", async () => !(await summaries(w, "home-family")).includes("Busy"));
    assert.deepEqual(await summaries(w, "everything"), []);
    assert.deepEqual(await summaries(w, "family-view"), []);
    const s = await syncCollection(col(w, "everything"), token);
    assert.deepEqual([s.changed, s.removed], [[], ["review.ics"]], "one removal, no flash of the busy block");
  });
});
