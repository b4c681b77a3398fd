/**
 * `calgate backup FILE` while `calgate serve` is serving and writing, then a restore as the docs
 * describe it (copy the file into a fresh data folder, serve): every write acknowledged before the
 * backup started is there, and the backup is one consistent snapshot (a prefix of the writes, no gaps).
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { calgateYaml, DEFAULT_USERS, REPO_ROOT, startCalgate, type CalgateHandle } from "../helpers/calgate.ts";
import { runCalgate, startServe } from "../helpers/cli-run.ts";
import { freePort, waitForHttp } from "../helpers/proc.ts";

const AUTH = `Basic ${Buffer.from("alice:secret-a").toString("base64")}`;
const CAL = "/dav/calendars/alice/local-personal/";
const scratch = mkdtempSync(join(tmpdir(), "calgate-backup-"));
const cleanups: (() => Promise<void> | void)[] = [() => rmSync(scratch, { recursive: true, force: true })];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const event = (i: number): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate test//EN", "BEGIN:VEVENT", `UID:backup-${i}`, "DTSTAMP:20260101T000000Z", `DTSTART:202602${String((i % 28) + 1).padStart(2, "0")}T090000Z`, "DURATION:PT1H", `SUMMARY:write ${i}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

async function put(base: string, i: number): Promise<number> {
  const res = await fetch(`${base}${CAL}ev-${i}.ics`, { method: "PUT", headers: { authorization: AUTH, "content-type": "text/calendar", "if-none-match": "*" }, body: event(i) });
  await res.arrayBuffer();
  return res.status;
}

async function get(base: string, i: number): Promise<{ status: number; body: string }> {
  const res = await fetch(`${base}${CAL}ev-${i}.ics`, { headers: { authorization: AUTH } });
  return { status: res.status, body: await res.text() };
}

describe("backup while serving, restore into a fresh data folder", () => {
  test("every acknowledged write before the backup is restored; the snapshot has no gaps", async () => {
    const server: CalgateHandle = await startCalgate();
    cleanups.push(() => server.stop());
    const configFile = join(server.dataDir, "calgate.yaml");

    // A client keeps writing, one PUT after another, through the whole backup.
    let acked = 0;
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const status = await put(server.baseUrl, i);
        assert.equal(status, 201, `PUT ev-${i}`);
        acked = i + 1;
      }
    })();
    while (acked < 20) await new Promise((r) => setImmediate(r));

    const file = join(scratch, "nested", "calgate-backup.sqlite");
    const ackedBefore = acked;
    const r = await runCalgate(["backup", file, "-c", configFile], { cwd: REPO_ROOT });
    const ackedAfter = acked;
    stop = true;
    await writer;
    assert.equal(r.code, 0, r.stderr);
    const m = /^backup: (.+) \((\d+) calendars, (\d+) objects, (\d+) queued writes; \d+ KiB\)$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(m[1], file);
    const inBackup = Number(m[3]);
    assert.ok(inBackup >= ackedBefore, `backup holds ${inBackup} objects; ${ackedBefore} were acknowledged before it started`);
    assert.ok(ackedAfter > ackedBefore, "the server kept acknowledging writes while the backup ran");
    assert.ok(!existsSync(`${file}.partial-${process.pid}`));

    // A second backup to the same name is refused, the first one untouched.
    const again = await runCalgate(["backup", file, "-c", configFile], { cwd: REPO_ROOT });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists; a backup never overwrites a file/);

    // Restore as documented: the backup becomes storage.filename of a fresh data folder.
    const fresh = mkdtempSync(join(scratch, "restored-"));
    copyFileSync(file, join(fresh, "calgate.sqlite"));
    const port = await freePort();
    const restoredConfig = join(fresh, "calgate.yaml");
    writeFileSync(restoredConfig, calgateYaml(port, fresh, DEFAULT_USERS));
    const proc = startServe(["-c", restoredConfig], { cwd: fresh, env: { CALGATE_LOG_LEVEL: "warn" } });
    cleanups.push(() => proc.stop());
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/healthz`, { proc });

    // One snapshot: the writes it holds are exactly the first inBackup ones, so every acknowledged one before it.
    const listing = await fetch(`${base}${CAL}`, { method: "PROPFIND", headers: { authorization: AUTH, depth: "1" }, body: '<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>' });
    assert.equal(listing.status, 207);
    const names = [...(await listing.text()).matchAll(/ev-(\d+)\.ics/g)].map((x) => Number(x[1])).sort((a, b) => a - b);
    assert.deepEqual(names, Array.from({ length: inBackup }, (_, i) => i));
    for (const i of [0, ackedBefore - 1, inBackup - 1]) {
      const g = await get(base, i);
      assert.equal(g.status, 200);
      assert.match(g.body, new RegExp(`SUMMARY:write ${i}\\r\\n`));
    }
    // The restored server takes writes.
    assert.equal(await put(base, 100_000), 201);
  });

  test("a missing database is named, not created", async () => {
    const dir = mkdtempSync(join(scratch, "empty-"));
    writeFileSync(join(dir, "calgate.yaml"), `storage: { filename: ./db/calgate.sqlite }\nusers: [{ username: a, password: p, sources: [] }]\n`);
    const r = await runCalgate(["backup", "out.sqlite"], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no database at .*db\/calgate\.sqlite \(storage\.filename\); nothing to back up/);
    assert.equal(existsSync(join(dir, "db")), false);
    assert.equal(existsSync(join(dir, "out.sqlite")), false);
  });
});
