/**
 * The README's performance figures as markdown, made from the runner's JSON files (never typed by
 * hand): the side-by-side table (calgate at c=8 against the faster peer whose answers were right),
 * the scaling table and the sync figures, each with its date, machine and command.
 *
 *   node --import tsx bench/readme-table.ts                 print the markdown
 *   node --import tsx bench/readme-table.ts --write         replace the block between the
 *                                                           <!-- bench:begin --> / <!-- bench:end -->
 *                                                           markers in README.md
 *   ... --side FILE --scaling FILE --sync FILE              other inputs (defaults: bench/results/
 *                                                           latest.json, scaling.json, sync.json; a
 *                                                           missing file leaves its part out)
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { OP_LABEL, OPS, type OpName } from "./ops.ts";
import { fasterCorrectPeer, fmtNum, fmtX, sizeAt, type AllResults, type ServerResult } from "./report.ts";
import type { SyncResult } from "./sync.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
export const BEGIN = "<!-- bench:begin -->";
export const END = "<!-- bench:end -->";

interface RunJson {
  date: string;
  command?: string;
  machine: Record<string, string | number>;
  config: { events: number; durationS?: number; calgateRuntime?: string; clientProcs?: number; mode?: string };
  servers?: AllResults;
  sync?: SyncResult;
}

const mdTable = (head: string[], rows: string[][]): string =>
  [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "--:")).join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
const thousands = (n: number): string => n.toLocaleString("en-US");

function provenance(j: RunJson): string {
  const m = j.machine;
  const cmd = j.command ?? "command not recorded (a run from before the command was stored)";
  return `${j.date.slice(0, 10)}, \`${cmd}\`; ${m.cpu}, ${m.cores} cores, ${m.memGB} GB, Linux ${m.kernel}, Node ${m.node}; Radicale ${m.radicale}, ${m.xandikos}; calgate ${j.config.calgateRuntime ?? "?"}`;
}

export function sideBySide(j: RunJson): string {
  const all = j.servers ?? {};
  const n = j.config.events;
  const cg = sizeAt(all.calgate, n);
  if (!cg) return "";
  let anyBound = false;
  const mark = (s: { clientBound?: boolean } | undefined): string => (s?.clientBound ? ((anyBound = true), " †") : "");
  const rows = OPS.filter((op) => cg.ops[op]).map((op: OpName) => {
    const o = cg.ops[op]!;
    const p = fasterCorrectPeer(all, op, "c8", n);
    const peerOps = (["radicale", "xandikos"] as const).map((name) => [name, sizeAt(all[name], n)?.ops[op]] as const);
    const wrongPeers = peerOps.filter(([, x]) => x && (x.wrong || x.error)).map(([name]) => name);
    const peerCell = p ? `${fmtNum(p.rps)} (${p.name})${mark(sizeAt(all[p.name], n)?.ops[op]?.c8)}${wrongPeers.length ? `; ${wrongPeers.join(", ")} wrong` : ""}` : wrongPeers.length ? `none correct (${wrongPeers.join(", ")} wrong)` : "-";
    return [
      OP_LABEL[op],
      `${fmtNum(o.c8.rps)}${o.wrong ? " WRONG" : ""}${mark(o.c8)}`,
      peerCell,
      p ? fmtX(o.c8.rps / p.rps) : "-",
      String(o.c1.p50),
    ];
  });
  const lines = [
    `Side by side at ${thousands(n)} events (${provenance(j)}). Concurrency 8, ${j.config.durationS ?? "?"} s per operation, sampled answers checked; the ratio is against the faster peer whose answers were all right.`,
    "",
    mdTable(["operation", "calgate req/s (c=8)", "faster correct peer req/s (c=8)", "calgate ÷ peer", "calgate p50 ms (c=1)"], rows),
  ];
  const cl = all.calgate?.load;
  if (cl?.putEvents) lines.push("", `Loading by PUT: ${thousands(cl.putEvents)} events in ${cl.putSeconds} s (${fmtNum(cl.putEventsPerSec)}/s at c=4); calgate peak RSS ${all.calgate!.hwmMB} MB (VmHWM).`);
  if (anyBound) lines.push("", "† the load client may have capped this figure (bench/README.md, \"client-bound\").");
  return lines.join("\n");
}

export function scaling(j: RunJson): string {
  const cg: ServerResult | undefined = j.servers?.calgate;
  if (!cg || cg.sizes.length < 2) return "";
  const sizes = cg.sizes;
  const first = sizes[0]!;
  const last = sizes[sizes.length - 1]!;
  const rows = OPS.filter((op) => sizes.some((s) => s.ops[op])).map((op) => [
    OP_LABEL[op],
    ...sizes.map((s) => (s.ops[op] ? `${s.ops[op]!.c1.p50}${s.ops[op]!.wrong ? " WRONG" : ""}` : "-")),
    fmtX((last.ops[op]?.c1.p50 ?? NaN) / (first.ops[op]?.c1.p50 ?? NaN)),
  ]);
  const matches = (s: (typeof sizes)[number]): number => Number(/^(\d+)/.exec(s.ops["query-month"]?.note ?? "")?.[1] ?? NaN);
  const perMatch = (s: (typeof sizes)[number]): number => (s.ops["query-month"]?.c1.p50 ?? NaN) / matches(s);
  if (sizes.some((s) => s.ops["query-month"])) rows.push(["one-month query, ms per matched object", ...sizes.map((s) => fmtNum(perMatch(s))), fmtX(perMatch(last) / perMatch(first))]);
  rows.push(["peak RSS MB (VmHWM) after this size", ...sizes.map((s) => String(s.rss.hwmMB)), "-"]);
  return [
    `calgate scaling, p50 ms at c=1 (${provenance(j)}). The one-month query's answer grows with the calendar (about a tenth of it).`,
    "",
    mdTable(["operation", ...sizes.map((s) => `${thousands(s.events)} events`), `growth (${fmtNum(last.events / first.events)}x events)`], rows),
  ].join("\n");
}

export function syncPart(j: RunJson): string {
  const s = j.sync;
  if (!s) return "";
  const rows: string[][] = [];
  if (s.import) rows.push([`import of ${thousands(s.events)} events from Radicale`, `${fmtNum(s.import.engineMs / 1000)} s, ${s.import.proxyRequests} upstream requests${s.import.wrong ? " (WRONG: " + s.import.wrong + ")" : ""}`]);
  if (s.change) rows.push([`event changed upstream → in a client's sync-collection after POST /sync`, `p50 ${s.change.p50} ms (max ${s.change.max} ms, ${s.change.trials} trials)`]);
  if (s.idlePoll) {
    const reqs = [...new Set(s.idlePoll.proxyRequests)].join(" or ");
    rows.push([`idle poll of ${s.idlePoll.calendars} calendars`, `${reqs} upstream request(s), ${s.idlePoll.cpuMsPerPoll} ms calgate CPU per poll`]);
  }
  if (!rows.length) return s.error ? `Sync part failed: ${s.error.split("\n")[0]}` : "";
  return [`Sync side (${provenance(j)}):`, "", mdTable(["figure", "measured"], rows)].join("\n");
}

function readJson(file: string): RunJson | null {
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as RunJson) : null;
}

export function markdown(files: { side: string; scaling: string; sync: string }): string {
  const side = readJson(files.side);
  const scal = readJson(files.scaling);
  const sync = readJson(files.sync);
  // A side-by-side run with several calgate sizes (--full) carries its own scaling table.
  const parts = [side && sideBySide(side), (scal && scaling(scal)) || (side && scaling(side)), sync && syncPart(sync)].filter((x): x is string => !!x);
  return parts.join("\n\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      side: { type: "string", default: join(HERE, "results", "latest.json") },
      scaling: { type: "string", default: join(HERE, "results", "scaling.json") },
      sync: { type: "string", default: join(HERE, "results", "sync.json") },
      write: { type: "boolean", default: false },
      readme: { type: "string", default: join(HERE, "..", "README.md") },
    },
  });
  const md = markdown({ side: values.side!, scaling: values.scaling!, sync: values.sync! });
  if (!values.write) console.log(md);
  else {
    const text = readFileSync(values.readme!, "utf8");
    const a = text.indexOf(BEGIN);
    const b = text.indexOf(END);
    if (a < 0 || b < a) throw new Error(`${values.readme}: no ${BEGIN} ... ${END} block to replace`);
    writeFileSync(values.readme!, text.slice(0, a + BEGIN.length) + "\n" + md + "\n" + text.slice(b));
    console.error(`replaced the block between the bench markers in ${values.readme}`);
  }
}
