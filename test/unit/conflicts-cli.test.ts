/**
 * `calgate conflicts`: argument parsing, --help per subcommand, the JSON shapes and text formats, and
 * the conflict log's store (migration 007's backfill, record() defaults, rows written by older code).
 */
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, test } from "node:test";
import knexFactory from "knex";
import { runCli } from "../../src/cli/index.ts";
import type { CliContext } from "../../src/cli/common.ts";
import { formatList, formatRestore, formatShow, listItem, parseConflictsArgs, showItem } from "../../src/cli/conflicts.ts";
import { migrations } from "../../migrations/index.ts";
import { ConflictStore, uidOf, type ConflictDetail } from "../../src/store/conflicts.ts";

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = "";
  let stderr = "";
  out.on("data", (d: Buffer) => (stdout += d.toString()));
  err.on("data", (d: Buffer) => (stderr += d.toString()));
  const ctx: CliContext = { env: {}, cwd: "/nonexistent", stdin: new PassThrough(), stdout: out, stderr: err };
  const code = await runCli(args, ctx);
  return { code, stdout, stderr };
}

const ICS = (uid: string, s: string): string => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nSUMMARY:${s}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
const DETAIL: ConflictDetail = {
  id: 7, user: "alice", source: "icloud", calendar: "icloud-home", calendarId: 3, object: "abc.ics", uid: "abc@x", detectedAt: "2026-12-01T10:00:00.000Z",
  policy: "upstream-wins", outcome: "upstream-won", resolvedAt: "2026-12-01T10:00:00.000Z", resolution: "upstream-wins", restored: null,
  base: ICS("abc@x", "base"), local: ICS("abc@x", "mine"), remote: ICS("abc@x", "theirs"), result: ICS("abc@x", "theirs"),
};

describe("calgate conflicts: arguments and help", () => {
  test("parses list, show and restore", () => {
    assert.deepEqual(parseConflictsArgs({ json: true, user: "alice", source: "icloud", config: "c.yaml" }, ["list"]), { sub: "list", json: true, user: "alice", source: "icloud", config: "c.yaml" });
    assert.deepEqual(parseConflictsArgs({}, ["list"]), { sub: "list", json: false });
    assert.deepEqual(parseConflictsArgs({ json: true }, ["show", "12"]), { sub: "show", id: 12, json: true });
    assert.deepEqual(parseConflictsArgs({ version: "remote" }, ["restore", "3"]), { sub: "restore", id: 3, version: "remote" });
  });

  test("bad usage: exit 2 with the command's usage", async () => {
    const cases: [string[], RegExp][] = [
      [["conflicts"], /missing subcommand/],
      [["conflicts", "frob"], /unknown subcommand "frob"/],
      [["conflicts", "show"], /missing conflict id/],
      [["conflicts", "show", "x1"], /"x1" is not a conflict id/],
      [["conflicts", "show", "0"], /not a conflict id/],
      [["conflicts", "restore", "3"], /missing --version local\|remote\|base/],
      [["conflicts", "restore", "3", "--version", "mine"], /unknown version "mine"/],
      [["conflicts", "list", "--version", "local"], /--version does not apply to `conflicts list`/],
      [["conflicts", "restore", "3", "--version", "local", "--json"], /--json does not apply/],
      [["conflicts", "list", "extra"], /unexpected argument "extra"/],
      [["conflicts", "list", "--bogus"], /Unknown option '--bogus'/],
    ];
    for (const [args, msg] of cases) {
      const r = await run(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, msg, args.join(" "));
      assert.match(r.stderr, /Usage: calgate conflicts/);
      assert.equal(r.stdout, "");
    }
  });

  test("--help: the command, and each subcommand with only its options", async () => {
    const top = await run(["--help"]);
    assert.match(top.stdout, /^ {2}conflicts +List, show and restore/m);
    const all = await run(["conflicts", "--help"]);
    assert.equal(all.code, 0);
    for (const s of ["calgate conflicts list [--json] [--user U] [--source ID]", "calgate conflicts show <id> [--json]", "calgate conflicts restore <id> --version local|remote|base"]) assert.ok(all.stdout.includes(s), s);
    const list = await run(["conflicts", "list", "--help"]);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /^Usage: calgate conflicts list \[--json\] \[--user U\] \[--source ID\] \[-c FILE\]/);
    for (const o of [/--json/, /-u, --user USER/, /--source ID/, /-c, --config FILE/, /-h, --help/, /detectedAt/, /kept-edit/]) assert.match(list.stdout, o);
    assert.doesNotMatch(list.stdout, /--version/);
    const show = await run(["conflicts", "show", "-h"]);
    assert.match(show.stdout, /^Usage: calgate conflicts show <id> \[--json\]/);
    assert.match(show.stdout, /base, local, remote and resulting iCalendar texts/);
    assert.doesNotMatch(show.stdout, /--user|--version/);
    const restore = await run(["conflicts", "restore", "--help"]);
    assert.match(restore.stdout, /^Usage: calgate conflicts restore <id> --version local\|remote\|base/);
    assert.match(restore.stdout, /normal write path/);
    assert.match(restore.stdout, /--version local\|remote\|base/);
    assert.doesNotMatch(restore.stdout, /--json/);
  });
});

describe("calgate conflicts: output", () => {
  test("list --json items have PRODUCT.md's fields, in ISO time; show --json adds the four texts", () => {
    const item = listItem(DETAIL);
    for (const k of ["id", "user", "source", "calendar", "object", "uid", "detectedAt", "policy", "outcome", "resolvedAt"]) assert.ok(k in item, k);
    assert.equal(item.calendar, "icloud-home");
    assert.equal(item.object, "abc.ics");
    assert.ok(!("calendarId" in item) && !("base" in item));
    const full = showItem(DETAIL);
    assert.deepEqual([full.base, full.local, full.remote, full.result], [DETAIL.base, DETAIL.local, DETAIL.remote, DETAIL.result]);
    assert.equal(full.id, 7);
  });

  test("text: a table, the labelled texts, what a restore did", () => {
    assert.equal(formatList([]), "No conflicts recorded.\n");
    const t = formatList([DETAIL, { ...DETAIL, id: 8, outcome: "pending", resolvedAt: null }]).split("\n");
    assert.match(t[0]!, /^ID\s+DETECTED\s+USER\s+SOURCE\s+CALENDAR\s+OBJECT\s+UID\s+POLICY\s+OUTCOME\s+RESOLVED$/);
    assert.match(t[1]!, /^7\s+2026-12-01T10:00:00.000Z\s+alice\s+icloud\s+icloud-home\s+abc.ics\s+abc@x\s+upstream-wins\s+upstream-won\s+2026-12-01T10:00:00.000Z$/);
    assert.match(t[2]!, /pending\s+-$/);
    const s = formatShow({ ...DETAIL, base: null });
    assert.match(s, /^Conflict 7: alice\/icloud-home\/abc.ics \(source "icloud", UID abc@x\)/);
    assert.match(s, /--- base \(the last version both sides agreed on\) ---\n\(none recorded\)\n/);
    assert.match(s, /--- local \(the version written here\) ---\nBEGIN:VCALENDAR\n[^]*SUMMARY:mine\n/);
    assert.match(s, /--- remote \(the upstream's version\) ---\n[^]*SUMMARY:theirs/);
    assert.match(s, /--- result \(what calgate served after the conflict\) ---\n[^]*SUMMARY:theirs/);
    assert.doesNotMatch(s, /\r/);
    const q = formatRestore({ ok: true, conflict: DETAIL, version: "local", delivery: "queued", etag: '"e1"', outboxId: 4, lastError: "PUT x: ECONNREFUSED" });
    assert.match(q, /^Restored the local version of conflict 7 to alice\/icloud-home\/abc.ics: queued for source "icloud" \(outbox 4\); `calgate serve` or `calgate sync --once icloud` sends it \(last attempt: PUT x: ECONNREFUSED\)\./);
    assert.match(formatRestore({ ok: true, conflict: DETAIL, version: "remote", delivery: "sent", etag: '"e1"', outboxId: 4, lastError: null }), /sent to source "icloud", which holds it now/);
  });
});

describe("conflict log store", () => {
  async function db() {
    const k = knexFactory({ client: "sqlite3", connection: { filename: ":memory:" }, useNullAsDefault: true, pool: { min: 1, max: 1 } });
    for (const [name, m] of migrations) if (name < "007") await m.up(k);
    await k("calendars").insert({ id: 1, owner: "alice", name: "up-cal1", source_id: "up", created_at: 0 });
    await k("calendars").insert({ id: 2, owner: "bob", name: "home", source_id: "local", created_at: 0 });
    return k;
  }

  test("migration 007 backfills older rows; rows written without its fields read the same way", async () => {
    const k = await db();
    try {
      await k("conflicts").insert({ calendar_id: 1, object_name: "a.ics", ours: ICS("a@x", "mine"), theirs: ICS("a@x", "theirs"), base: null, resolution: "upstream-wins", detected_at: 1000, resolved_at: 1000 });
      await k("conflicts").insert({ calendar_id: 2, object_name: "b.ics", ours: null, theirs: "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:very-long\r\n -folded@x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", base: null, resolution: null, detected_at: 2000, resolved_at: null });
      await migrations.find(([n]) => n === "007_conflict_log")![1].up(k);
      const rows = await k("conflicts").orderBy("id");
      assert.deepEqual(rows.map((r: { uid: string; policy: string; outcome: string }) => [r.uid, r.policy, r.outcome]), [["a@x", "upstream-wins", "upstream-won"], ["very-long-folded@x", "upstream-wins", "pending"]]);
      assert.equal(rows[0].result, rows[0].theirs);
      // What the write-back inserts today (no 007 fields).
      await k("conflicts").insert({ calendar_id: 1, object_name: "c.ics", ours: ICS("c@x", "mine"), theirs: ICS("c@x", "theirs"), base: ICS("c@x", "base"), resolution: "upstream-kept (policy merge pending)", detected_at: 3000, resolved_at: 3000 });
      const store = new ConflictStore(k);
      const c = (await store.get(3))!;
      assert.deepEqual([c.uid, c.policy, c.outcome, c.resolvedAt, c.calendar, c.user, c.source], ["c@x", "upstream-wins", "upstream-won", new Date(3000).toISOString(), "up-cal1", "alice", "up"]);
      assert.equal(c.result, c.remote);
      assert.equal((await store.get(2))!.resolvedAt, null);
      assert.equal(await store.get(99), null);
      assert.deepEqual((await store.listAll()).map((x) => x.id), [1, 2, 3]);
      assert.deepEqual((await store.listAll({ owner: "bob" })).map((x) => x.id), [2]);
      assert.deepEqual((await store.listAll({ sourceId: "up" })).map((x) => x.id), [1, 3]);
      assert.deepEqual((await store.listAll({ owner: "alice", sourceId: "local" })).map((x) => x.id), []);
      await migrations.find(([n]) => n === "007_conflict_log")![1].down(k);
      assert.ok(!(await k.schema.hasColumn("conflicts", "outcome")));
    } finally {
      await k.destroy();
    }
  });

  test("record(): old callers get upstream-won; new fields are kept; markRestored; eventFields", async () => {
    const k = await db();
    try {
      await migrations.find(([n]) => n === "007_conflict_log")![1].up(k);
      const store = new ConflictStore(k);
      const old = await store.record({ calendarId: 1, name: "a.ics", ours: ICS("a@x", "mine"), theirs: ICS("a@x", "theirs"), base: null, resolution: "upstream-wins" });
      const a = (await store.get(old))!;
      assert.deepEqual([a.uid, a.policy, a.outcome, a.result, a.restored], ["a@x", "upstream-wins", "upstream-won", a.remote, null]);
      assert.ok(a.resolvedAt);
      const merged = await store.record({ calendarId: 1, name: "b.ics", ours: ICS("b@x", "m"), theirs: ICS("b@x", "t"), base: ICS("b@x", "b"), resolution: "merged", policy: "merge", outcome: "merged", result: ICS("b@x", "m+t") });
      assert.deepEqual(await store.eventFields(merged), { conflictId: merged, object: "b.ics", uid: "b@x", policy: "merge", outcome: "merged" });
      assert.equal((await store.get(merged))!.result, ICS("b@x", "m+t"));
      const pending = await store.record({ calendarId: 1, name: "c.ics", ours: null, theirs: null, base: null, resolution: null, policy: "merge", outcome: "pending" });
      assert.equal((await store.get(pending))!.resolvedAt, null);
      await store.markRestored(pending, "base", "restored the base version");
      const p = (await store.get(pending))!;
      assert.equal(p.restored, "base");
      assert.ok(p.resolvedAt);
      assert.equal(p.outcome, "pending", "the outcome stays what the policy did");
      assert.equal((await store.list(1)).length, 3);
      assert.equal(uidOf(null), null);
    } finally {
      await k.destroy();
    }
  });
});
