/**
 * A source's own conflictPolicy overrides sync.conflictPolicy: two sources over in-memory upstreams,
 * the same clash on each (the upstream edits SUMMARY, then a client PUTs its own SUMMARY on the old
 * ETag), decided by each source's policy: client-wins on one, the global upstream-wins on the other.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { parseConfigText } from "../../src/config/load.ts";
import { startServer } from "../../src/main.ts";
import type { ServerHandle } from "../../src/cli/contract.ts";
import type { SourceConfig } from "../../src/config/schema.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { MemoryUpstream, idForName } from "../helpers/memory-upstream.ts";
import { basic, dav } from "../helpers/inproc.ts";

const ev = (summary: string): string =>
  `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:p-uid@test\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250301T100000Z\r\nDTEND:20250301T110000Z\r\nSUMMARY:${summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
const summary = (ics: string | null | undefined): string | null => (ics ? (/^SUMMARY:(.*)$/m.exec(ics.replace(/\r\n/g, "\n"))?.[1] ?? null) : null);

let dir: string;
let server: ServerHandle;
let db: Db;
let base: string;
const ups: Record<string, MemoryUpstream> = { mine: new MemoryUpstream(), theirs: new MemoryUpstream() };
const auth = basic("alice", "secret-a");

async function until(what: string, f: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "calgate-policy-"));
  const file = join(dir, "db.sqlite");
  const yaml = `server: { host: 127.0.0.1, port: 0 }
storage: { client: sqlite, filename: "${file}" }
sync: { schedule: "0 0 1 1 *", jitterSeconds: 0, writeDeadlineMs: 20000, timeoutMs: 2000, conflictPolicy: upstream-wins }
users:
  - username: alice
    password: secret-a
    sources:
      - { id: mine, type: caldav, url: "http://127.0.0.1:1/", username: u, password: p, conflictPolicy: client-wins }
      - { id: theirs, type: caldav, url: "http://127.0.0.1:1/", username: u, password: p }
`;
  server = await startServer(parseConfigText(yaml, "policy.yaml", {}), {
    configPath: null, generatedPassword: null, logger: pino({ level: "silent" }),
    adapters: { caldav: (s: SourceConfig) => ups[s.id]!.adapter() },
  });
  base = server.url.replace(/\/$/, "");
  db = await openDb(file);
  for (const u of Object.values(ups)) u.other.put("cal1", "a.ics", ev("v0"));
  const mark = Number(((await db("status_events").max({ m: "id" }).first()) as { m: number | null }).m ?? 0);
  assert.equal((await dav(base, "POST", "/sync", { auth })).status, 202);
  await until("both sources synced", async () => (await db("status_events").where("id", ">", mark).where({ type: "sync.completed" })).length >= 2);
});
after(async () => {
  await db?.destroy();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

for (const [source, expected] of [["mine", { policy: "client-wins", outcome: "client-won", upstream: "edited here", status: [201, 204] }], ["theirs", { policy: "upstream-wins", outcome: "upstream-won", upstream: "edited upstream", status: [412] }]] as const) {
  test(`source "${source}": decided by ${expected.policy}`, async () => {
    const { name: cal, id: calId } = (await db("calendars").where({ owner: "alice", source_id: source }).first()) as { name: string; id: number };
    const url = `/dav/calendars/alice/${cal}/a.ics`;
    const got = await dav(base, "GET", url, { auth });
    ups[source]!.other.edit("cal1", idForName("a.ics"), ev("edited upstream"));
    const put = await dav(base, "PUT", url, { auth, body: ev("edited here"), headers: { "if-match": got.headers.get("etag")! } });
    assert.ok((expected.status as readonly number[]).includes(put.status), `${put.status} ${put.body}`);
    assert.equal(summary(ups[source]!.itemByName("cal1", "a.ics")?.ics), expected.upstream);
    assert.equal(summary((await dav(base, "GET", url, { auth })).body), expected.upstream, "calgate serves what the upstream holds");
    const c = (await db("conflicts").where({ calendar_id: calId, object_name: "a.ics" }).select()).find((r: { ours: string }) => summary(r.ours) === "edited here") as { policy: string; outcome: string; theirs: string } | undefined;
    assert.ok(c, "recorded");
    assert.equal(c.policy, expected.policy);
    assert.equal(c.outcome, expected.outcome);
    assert.equal(summary(c.theirs), "edited upstream", "the upstream's version is kept in the record");
  });
}
