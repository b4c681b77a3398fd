/** Parser for litmus 0.13 output (Debian's `litmus` wrapper), which redraws lines with CR. */

export type LitmusResult = "pass" | "FAIL" | "SKIPPED";
export interface LitmusTest {
  suite: string;
  num: number;
  name: string;
  result: LitmusResult;
  /** Failure reason (first line, without the surrounding parentheses), or "". */
  reason: string;
  warnings: number;
}
export interface LitmusSummary {
  suite: string;
  run: number;
  passed: number;
  failed: number;
}

export function parseLitmus(output: string): { tests: LitmusTest[]; summaries: LitmusSummary[] } {
  const tests: LitmusTest[] = [];
  const summaries: LitmusSummary[] = [];
  const tokens = /-> running `([^']+)':|<- summary for `([^']+)': of (\d+) tests run: (\d+) passed, (\d+) failed|(?<![\w.])(\d{1,3})\. ([A-Za-z0-9_]+)\.* |\b(pass|FAIL|SKIPPED)\b|WARNING:/g;
  let suite = "";
  let current: { num: number; name: string; warnings: number } | null = null;
  let m: RegExpExecArray | null;
  while ((m = tokens.exec(output)) !== null) {
    if (m[1] !== undefined) {
      suite = m[1];
      current = null;
    } else if (m[2] !== undefined) {
      summaries.push({ suite: m[2], run: Number(m[3]), passed: Number(m[4]), failed: Number(m[5]) });
      current = null;
    } else if (m[6] !== undefined) {
      const num = Number(m[6]);
      // A redraw of the same test (litmus prints "N. name...." twice) keeps the warning count.
      if (!(current && current.num === num && current.name === m[7])) current = { num, name: m[7]!, warnings: 0 };
    } else if (m[0] === "WARNING:") {
      if (current) current.warnings++;
    } else if (m[8] !== undefined && current) {
      let reason = "";
      if (m[8] === "FAIL") {
        const rest = output.slice(tokens.lastIndex);
        const r = /^ \(([^\n]*)/.exec(rest);
        if (r) reason = r[1]!.replace(/\)\s*$/, "").replace(/\r/g, "").trim();
      }
      tests.push({ suite, num: current.num, name: current.name, result: m[8] as LitmusResult, reason, warnings: current.warnings });
      current = null;
    }
  }
  return { tests, summaries };
}

export interface ExpectedFailure {
  suite: string;
  test: string;
  reason: string;
}

/** TSV with a header line "suite\ttest\treason"; lines starting with # and blank lines are ignored. */
export function parseExpectedTsv(text: string): ExpectedFailure[] {
  const out: ExpectedFailure[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    if (i === 0 || line.trim() === "" || line.startsWith("#")) continue;
    const [suite, test, ...reason] = line.split("\t");
    if (!suite || !test) throw new Error(`litmus-expected.tsv line ${i + 1}: expected "suite<TAB>test<TAB>reason", got ${JSON.stringify(line)}`);
    out.push({ suite: suite.trim(), test: test.trim(), reason: reason.join("\t").trim() });
  }
  return out;
}
