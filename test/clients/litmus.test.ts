/**
 * litmus (WebDAV conformance, Debian 0.13) against a fresh calendar collection made with MKCALENDAR.
 * Failures must be listed in litmus-expected.tsv (suite, test, reason); anything else fails the test,
 * and listed tests that now pass are reported as stale. The output parser is checked against each
 * suite's own summary line, and against a full run on Xandikos (which allows plain collections).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { startTarget, targetKind, type DavTarget } from "../helpers/target.ts";
import { startXandikos, type PeerServer } from "../helpers/peers.ts";
import { which } from "../helpers/proc.ts";
import { basic } from "./replay.ts";
import { parseExpectedTsv, parseLitmus, type LitmusTest } from "./litmus-parse.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const EXPECTED_FILE = process.env.LITMUS_EXPECTED ?? join(HERE, targetKind() === "radicale" ? "litmus-expected.radicale.tsv" : "litmus-expected.tsv");
const SUITES = process.env.LITMUS_TESTS ?? "basic copymove props locks http";
const missing = which("litmus") === null ? 'litmus is not installed (Debian package "litmus"; test/run.sh installs it when run as root)' : null;

function runLitmus(url: string, user: string, pass: string): { output: string; status: number | null } {
  const cwd = mkdtempSync(join(tmpdir(), "litmus-")); // litmus writes debug.log and child.log into its cwd
  try {
    const r = spawnSync("litmus", ["-k", url, user, pass], { cwd, env: { ...process.env, TESTS: SUITES }, encoding: "latin1", timeout: 120_000 });
    if (r.error) throw r.error;
    return { output: (r.stdout ?? "") + (r.stderr ?? ""), status: r.status };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

function checkAgainstSummaries(output: string): LitmusTest[] {
  const { tests, summaries } = parseLitmus(output);
  assert.ok(summaries.length > 0, `no litmus suite summary in the output:\n${output}`);
  for (const s of summaries) {
    const ts = tests.filter((t) => t.suite === s.suite);
    const passed = ts.filter((t) => t.result === "pass").length;
    const failed = ts.filter((t) => t.result === "FAIL").length;
    assert.deepEqual({ passed, failed }, { passed: s.passed, failed: s.failed }, `parsed results of suite ${s.suite} disagree with litmus' summary line\n${output}`);
  }
  return tests;
}

function table(tests: LitmusTest[]): string {
  const suites = [...new Set(tests.map((t) => t.suite))];
  const rows = [["suite", "pass", "FAIL", "SKIPPED", "warnings"]];
  for (const s of suites) {
    const ts = tests.filter((t) => t.suite === s);
    rows.push([s, ...(["pass", "FAIL", "SKIPPED"] as const).map((r) => String(ts.filter((t) => t.result === r).length)), String(ts.reduce((a, t) => a + t.warnings, 0))]);
  }
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(10) : c.padStart(8))).join(" ")).join("\n");
}

describe("litmus", { skip: missing ?? false }, () => {
  let target: DavTarget;
  before(async () => {
    target = await startTarget();
  });
  after(async () => {
    await target?.stop();
  });

  test(`litmus (${SUITES}) on a new calendar collection; failures only as listed in ${EXPECTED_FILE.split("/").pop()}`, async (t) => {
    const u = target.users[0]!;
    const cal = new URL(`litmus-${randomBytes(3).toString("hex")}/`, target.homeUrl(u)).toString();
    const mk = await fetch(cal, { method: "MKCALENDAR", headers: { authorization: basic(u.username, u.password) } });
    assert.equal(mk.status, 201, `MKCALENDAR ${cal}: ${mk.status} ${await mk.text()}`);
    const { output } = runLitmus(cal, u.username, u.password);
    const tests = checkAgainstSummaries(output);
    console.log(`litmus against ${target.kind} at ${cal}\n${table(tests)}`);
    const expected = parseExpectedTsv(readFileSync(EXPECTED_FILE, "utf8"));
    const listed = (s: string, n: string): boolean => expected.some((e) => e.suite === s && e.test === n);
    const failures = tests.filter((x) => x.result === "FAIL");
    const unexpected = failures.filter((f) => !listed(f.suite, f.name));
    const stale = expected.filter((e) => !failures.some((f) => f.suite === e.suite && f.name === e.test));
    for (const e of stale) {
      const now = tests.find((x) => x.suite === e.suite && x.name === e.test);
      const msg = `stale entry in ${EXPECTED_FILE}: ${e.suite}/${e.test} now ${now ? now.result : "not run"} (listed reason: ${e.reason})`;
      console.log(msg);
      t.diagnostic(msg);
    }
    // Current failures, ready to paste into the TSV after review.
    if (unexpected.length > 0) {
      const tsv = unexpected.map((f) => `${f.suite}\t${f.name}\t${f.reason.replace(/[^\x20-\x7e]/g, "?")}`).join("\n");
      assert.fail(`${unexpected.length} litmus test(s) failed that are not listed in ${EXPECTED_FILE}:\n${tsv}\n\n--- litmus output ---\n${output.replace(/\r/g, "")}\n--- server output ---\n${target.logs()}`);
    }
  });
});

describe("litmus output parser (full run on Xandikos, which allows plain collections)", { skip: missing ?? (which("xandikos") === null ? "xandikos is not installed" : false) }, () => {
  let x: PeerServer;
  before(async () => {
    x = await startXandikos();
  });
  after(async () => {
    await x?.stop();
  });
  test("every suite's parsed pass/fail counts equal litmus' own summary", () => {
    const { output } = runLitmus(`${x.baseUrl}/user/`, "user", "user");
    const tests = checkAgainstSummaries(output);
    assert.ok(tests.filter((t) => t.suite === "basic" && t.result === "pass").length >= 10, `basic suite barely ran on Xandikos:\n${output}`);
  });
});
