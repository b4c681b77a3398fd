/**
 * The runner's result shapes and the text tables made from them (printed at the end of a run and
 * stored in the JSON), plus the helpers readme-table.ts uses for the README's markdown.
 */
import { CLIENT_BOUND_PCT, round, type LoadStats } from "./http.ts";
import type { Tenth } from "./load.ts";
import { OP_LABEL, OPS, READ_OPS, type OpName } from "./ops.ts";
import type { ServerName } from "./servers.ts";

export interface OpResult {
  c1: LoadStats;
  c8: LoadStats;
  /** null when every checked answer (warm-up and sampled) was right. */
  wrong: string | null;
  error: string | null;
  /** Members in the answer for query-month (for the scaling curve). */
  note?: string;
  /** The server's RSS and VmHWM (MB) right after this operation's phases. */
  rssAfter?: { rssMB: number; hwmMB: number };
}
export interface SizeResult {
  events: number;
  ops: Partial<Record<OpName, OpResult>>;
  rss: { hwmMB: number; rssMB: number };
}
export interface LoadResult {
  method: string;
  putEvents: number;
  putSeconds: number;
  putEventsPerSec: number;
  putTenths: Tenth[];
  directEvents: number;
  directSeconds: number;
  failures: number;
  firstFailure?: string;
}
export interface ServerResult {
  name: ServerName;
  version?: string;
  load: LoadResult;
  sizes: SizeResult[];
  peakRssMB: number;
  hwmMB: number;
  sse?: { subscribers: number; extraMB: number } | { skipped: string };
  error?: string;
}
export type AllResults = Partial<Record<ServerName, ServerResult>>;
export interface Target {
  target: string;
  status: "met" | "missed" | "n/a";
  measured: string;
}
/** What the run was asked to do (for headings and size notes). */
export interface RunShape {
  main: number;
  calgateSizes: number[];
  durationS: number;
}

export const PEERS = ["radicale", "xandikos"] as const;

export const fmtNum = (x: number): string => (!Number.isFinite(x) ? "-" : x >= 100 ? String(Math.round(x)) : x >= 10 ? x.toFixed(1) : x >= 0.1 ? x.toFixed(2) : x.toPrecision(2));
export const fmtX = (r: number): string => (Number.isFinite(r) ? `${fmtNum(r)}x` : "-");

export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]): string => "| " + r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(" | ") + " |";
  return [line(head), "|" + w.map((n, i) => (i === 0 ? "-".repeat(n + 2) : "-".repeat(n + 1) + ":")).join("|") + "|", ...rows.map(line)].join("\n");
}

export const sizeAt = (r: ServerResult | undefined, events: number): SizeResult | undefined => r?.sizes.find((s) => s.events === events) ?? r?.sizes[r.sizes.length - 1];
const correct = (o: OpResult | undefined): o is OpResult => o !== undefined && !o.wrong && !o.error;
/** "1618", "0.41 WRONG", "21.2 CLIENT" (the client may have capped it: http.ts clientBound). */
export const cell = (o: OpResult | undefined, c: "c1" | "c8"): string => (o ? fmtNum(o[c].rps) + (o.wrong ? " WRONG" : o.error ? " ERR" : "") + (o[c].clientBound ? " CLIENT" : "") : "-");

/** The peer with the higher req/s among those whose answers were all right; null when none was. */
export function fasterCorrectPeer(all: AllResults, op: OpName, c: "c1" | "c8", events: number): { name: ServerName; rps: number; clientBound: boolean } | null {
  let best: { name: ServerName; rps: number; clientBound: boolean } | null = null;
  for (const p of PEERS) {
    const o = sizeAt(all[p], events)?.ops[op];
    if (correct(o) && (!best || o[c].rps > best.rps)) best = { name: p, rps: o[c].rps, clientBound: o[c].clientBound ?? false };
  }
  return best;
}
/** calgate ÷ the faster correct peer, as text ("7.84x (xandikos)"); "-" without one. */
export function vsPeer(all: AllResults, op: OpName, c: "c1" | "c8", events: number): string {
  const o = sizeAt(all.calgate, events)?.ops[op];
  const p = fasterCorrectPeer(all, op, c, events);
  if (!o || !p) return p ? "-" : PEERS.some((n) => all[n]) ? "no correct peer" : "-";
  return `${fmtX(o[c].rps / p.rps)} (${p.name})${o.wrong ? " WRONG" : ""}`;
}

export function evaluate(all: AllResults, shape: RunShape): Target[] {
  const main = shape.main;
  const cg = sizeAt(all.calgate, main);
  const out: Target[] = [];
  const sizeNote = main === 10_000 ? "" : ` [at ${main} events; the target is stated for 10,000]`;
  if (!cg) return [{ target: "calgate measured", status: "missed", measured: all.calgate?.error?.split("\n")[0] ?? "calgate not run" }];
  const anyPeer = PEERS.some((p) => all[p]);
  for (const op of READ_OPS) {
    const o = cg.ops[op];
    if (!o) continue;
    const best = fasterCorrectPeer(all, op, "c8", main);
    const r = best ? o.c8.rps / best.rps : NaN;
    const ok = !o.wrong && !o.error && Number.isFinite(r) && r >= 10;
    const bound = o.c8.clientBound || best?.clientBound ? " [the load client may have capped a figure: see CPU table]" : "";
    out.push({
      target: `${op}: >= 10x the faster correct peer at c=8, correct`,
      status: !anyPeer || !best ? "n/a" : ok ? "met" : "missed",
      measured: `${fmtNum(o.c8.rps)} vs ${best ? `${fmtNum(best.rps)} (${best.name})` : anyPeer ? "no correct peer" : "no peer in this run"} req/s = ${fmtX(r)}${o.wrong ? "; WRONG: " + o.wrong : ""}${o.error ? "; ERROR: " + o.error : ""}${bound}${sizeNote}`,
    });
  }
  for (const op of ["propfind-d0-getctag", "sync-empty-delta"] as const) {
    const o = cg.ops[op];
    if (!o) continue;
    const ok = !o.wrong && !o.error && o.c8.rps >= 2000 && o.c8.p50 < 2;
    out.push({ target: `${op}: >= 2,000 req/s at c=8 with p50 < 2 ms`, status: ok ? "met" : "missed", measured: `${fmtNum(o.c8.rps)} req/s, p50 ${o.c8.p50} ms (c=8)${o.c8.clientBound ? " [client-bound]" : ""}${sizeNote}` });
  }
  const q = cg.ops["query-month"];
  if (q) out.push({ target: "query-month: p50 < 20 ms (c=1)", status: !q.wrong && q.c1.p50 < 20 ? "met" : "missed", measured: `p50 ${q.c1.p50} ms at c=1 (${q.c8.p50} ms at c=8)${q.wrong ? "; WRONG" : ""}${sizeNote}` });

  const cl = all.calgate!.load;
  for (const p of PEERS) {
    const pl = all[p]?.load;
    if (!pl || !pl.putEvents) continue;
    const r = cl.putEventsPerSec / pl.putEventsPerSec;
    const provisional = pl.putEvents < 10_000 ? ` [provisional: ${p} measured on its first ${pl.putEvents} PUTs only, where it is fastest; --full loads 10,000]` : "";
    out.push({ target: `load by PUT (c=4): >= 100x ${p}`, status: r >= 100 ? "met" : "missed", measured: `${fmtNum(cl.putEventsPerSec)} vs ${fmtNum(pl.putEventsPerSec)} events/s = ${fmtX(r)}${provisional}` });
  }
  // Issue 4's own measurements on this machine: 10,000 PUTs at c=4 took Radicale 2,427 s, Xandikos ~3,050 s.
  if (cl.putEvents >= 10_000) {
    for (const [p, secs] of [["radicale", 2427], ["xandikos", 3050]] as const) {
      if ((all[p]?.load.putEvents ?? 0) >= 10_000) continue;
      const mine = (cl.putSeconds * 10_000) / cl.putEvents;
      out.push({ target: `load 10,000 by PUT: >= 100x ${p} (issue 4's ${secs} s)`, status: secs / mine >= 100 ? "met" : "missed", measured: `${round(mine, 1)} s vs ${secs} s (issue 4's figure, not this run) = ${fmtX(secs / mine)}` });
    }
  }
  const tt = cl.putTenths;
  if (tt.length >= 2) {
    const f = tt[0]!.p50;
    const l = tt[tt.length - 1]!.p50;
    out.push({ target: "PUT latency flat while loading (last tenth p50 <= 2x first)", status: l <= 2 * f ? "met" : "missed", measured: `p50 ${f} ms first tenth, ${l} ms last tenth (${fmtX(l / f)}) over ${cl.putEvents} PUTs` });
  }
  const big = all.calgate!.sizes.find((s) => s.events === 100_000);
  out.push(
    big
      ? { target: "peak RSS < 150 MB at 100,000 events", status: all.calgate!.hwmMB < 150 ? "met" : "missed", measured: `VmHWM ${all.calgate!.hwmMB} MB` }
      : { target: "peak RSS < 150 MB at 100,000 events", status: "n/a", measured: `not run at 100,000 (use --scaling or --full); VmHWM ${all.calgate!.hwmMB} MB at ${Math.max(...shape.calgateSizes)}` },
  );
  const sse = all.calgate!.sse;
  out.push(
    sse && "extraMB" in sse
      ? { target: "1,000 idle SSE subscribers < 50 MB extra", status: sse.subscribers >= 1000 && sse.extraMB < 50 ? "met" : "missed", measured: `${sse.subscribers} subscribers, +${sse.extraMB} MB RSS` }
      : { target: "1,000 idle SSE subscribers < 50 MB extra", status: "n/a", measured: sse && "skipped" in sse ? sse.skipped : "not run" },
  );
  return out;
}

const SCALING_OPS: readonly OpName[] = ["propfind-d0-getctag", "sync-empty-delta", "get", "query-month", "multiget-100", "put", "propfind-d1-getetag", "sync-empty-token"];

/** calgate's c=1 p50 per operation at each size, and the growth from the smallest to the largest. */
export function scalingTable(r: ServerResult): string {
  const sizes = r.sizes;
  const p50 = (s: SizeResult, op: OpName): number => s.ops[op]?.c1.p50 ?? NaN;
  const matches = (s: SizeResult): number => Number(/^(\d+)/.exec(s.ops["query-month"]?.note ?? "")?.[1] ?? NaN);
  const first = sizes[0]!;
  const last = sizes[sizes.length - 1]!;
  const rows = SCALING_OPS.filter((op) => sizes.some((s) => s.ops[op])).map((op) => [
    OP_LABEL[op],
    ...sizes.map((s) => (s.ops[op] ? String(p50(s, op)) + (s.ops[op]!.wrong ? " WRONG" : "") + (s.ops[op]!.c1.clientBound ? " CLIENT" : "") : "-")),
    fmtX(p50(last, op) / p50(first, op)),
  ]);
  if (sizes.some((s) => s.ops["query-month"])) {
    rows.push(["  query-month: matched objects", ...sizes.map((s) => String(matches(s))), fmtX(matches(last) / matches(first))]);
    rows.push(["  query-month: ms per matched object", ...sizes.map((s) => fmtNum(p50(s, "query-month") / matches(s))), fmtX(p50(last, "query-month") / matches(last) / (p50(first, "query-month") / matches(first)))]);
  }
  rows.push(["VmHWM MB after this size", ...sizes.map((s) => String(s.rss.hwmMB)), "-"]);
  return table(["p50 ms at c=1", ...sizes.map((s) => `${s.events} events`), `growth (${fmtNum(last.events / first.events)}x events)`], rows);
}

/** Where each phase's CPU went: server / client (all processes), % of one core, and the busiest client process. */
export function cpuTable(all: AllResults, events: number): string {
  const srv = (["calgate", ...PEERS] as const).filter((s) => all[s]);
  const c = (s: LoadStats | undefined): string => (s ? `${s.serverCpuPct ?? "?"} / ${s.clientCpuPct ?? "?"} (${s.clientCpuPctMax ?? "?"})${s.clientBound ? " CLIENT" : ""}` : "-");
  return table(
    ["operation", ...srv.flatMap((s) => [`${s} c1`, `${s} c8`])],
    OPS.map((op) => [OP_LABEL[op], ...srv.flatMap((s) => { const o = sizeAt(all[s], events)?.ops[op]; return [c(o?.c1), c(o?.c8)]; })]),
  );
}

export function report(all: AllResults, targets: Target[], shape: RunShape): string {
  const main = shape.main;
  const cg = sizeAt(all.calgate, main);
  const rad = sizeAt(all.radicale, main);
  const xan = sizeAt(all.xandikos, main);
  const lines: string[] = [];
  const srv = (["calgate", ...PEERS] as const).filter((s) => all[s]);
  if (srv.some((s) => sizeAt(all[s], main))) {
    lines.push(`Throughput (req/s) at ${main} events, ${shape.durationS} s per operation and concurrency; ratios are calgate / the faster peer whose answers were right. WRONG = a checked answer was wrong; CLIENT = the load client may have capped the figure.`);
    lines.push(
      table(
        ["operation", "calgate c1", "calgate c8", "c8 p50 ms", "c8 p99 ms", "radicale c8", "xandikos c8", "vs faster correct peer c8", "vs faster correct peer c1"],
        OPS.map((op) => {
          const o = cg?.ops[op];
          return [OP_LABEL[op], cell(o, "c1"), cell(o, "c8"), o ? String(o.c8.p50) : "-", o ? String(o.c8.p99) : "-", cell(rad?.ops[op], "c8"), cell(xan?.ops[op], "c8"), vsPeer(all, op, "c8", main), vsPeer(all, op, "c1", main)];
        }),
      ),
    );
    lines.push("");
    lines.push("Latency p50 / p99 (ms), c=1 and c=8");
    lines.push(
      table(
        ["operation", ...srv.flatMap((s) => [`${s} c1`, `${s} c8`])],
        OPS.map((op) => [OP_LABEL[op], ...srv.flatMap((s) => (["c1", "c8"] as const).map((c) => { const o = sizeAt(all[s], main)?.ops[op]; return o ? `${o[c].p50} / ${o[c].p99}` : "-"; }))]),
      ),
    );
    lines.push("");
    lines.push(`CPU per phase, % of one core: server / load client, all processes (its busiest process). CLIENT: the busiest client process used >= ${CLIENT_BOUND_PCT}% of a core, or the client spent more CPU per request than the server.`);
    lines.push(cpuTable(all, main));
    lines.push("");
    lines.push("Loading and memory");
    lines.push(
      table(
        ["server", "loaded", "PUT events/s (c=4)", "PUT p50 1st tenth", "PUT p50 last tenth", "into storage (s)", "peak RSS MB (VmHWM)"],
        srv.map((s) => {
          const r = all[s]!;
          const t = r.load.putTenths;
          return [s, r.load.method || "-", fmtNum(r.load.putEventsPerSec), String(t[0]?.p50 ?? "-"), String(t[t.length - 1]?.p50 ?? "-"), r.load.directEvents ? String(r.load.directSeconds) : "-", String(r.hwmMB)];
        }),
      ),
    );
  }
  if (all.calgate && all.calgate.sizes.length > 1) {
    lines.push("");
    lines.push("calgate scaling: p50 ms at c=1 per calendar size (flat = the last column near 1x; query-month's answer grows with the calendar, so it is also given per matched object)");
    lines.push(scalingTable(all.calgate));
  }
  lines.push("");
  lines.push("Targets (issue 4 and 15)");
  lines.push(table(["target", "status", "measured"], targets.map((t) => [t.target, t.status.toUpperCase(), t.measured])));
  const wrongs = srv.flatMap((s) => OPS.map((op) => [s, op, sizeAt(all[s], main)?.ops[op]] as const).filter(([, , o]) => o?.wrong || o?.error).map(([s, op, o]) => `  ${s} ${op}: ${o!.wrong ?? ""} ${o!.error ?? ""}`));
  if (wrongs.length) lines.push("", "Wrong answers and errors:", ...wrongs);
  for (const s of srv) if (all[s]!.error) lines.push("", `${s} failed: ${all[s]!.error!.split("\n")[0]}`);
  return lines.join("\n");
}
