/**
 * Hot spots of a V8 .cpuprofile (from `node --cpu-prof`): self time per function, and inclusive
 * time per source file of the project.
 *
 *   node --import tsx bench/profile.ts bench/results/prof/<file>.cpuprofile [top]
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export function summarizeProfiles(files: string[], top = 25): string {
  const self = new Map<string, number>();
  const incFile = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const f of files) {
    const p = JSON.parse(readFileSync(f, "utf8")) as Profile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const hits = new Map<number, number>();
    p.samples.forEach((id, i) => hits.set(id, (hits.get(id) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000));
    for (const [id, ms] of hits) {
      const n = byId.get(id)!;
      const name = n.callFrame.functionName || "(anonymous)";
      if (name === "(idle)" || name === "(program)" || name === "(garbage collector)") {
        if (name === "(idle)") idle += ms;
        else total += ms;
        self.set(name, (self.get(name) ?? 0) + ms);
        continue;
      }
      total += ms;
      const url = n.callFrame.url.replace(/^file:\/\/.*?\/(node_modules|src|bench)\//, "$1/");
      const key = `${name}  ${url}:${n.callFrame.lineNumber + 1}`;
      self.set(key, (self.get(key) ?? 0) + ms);
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const u = byId.get(cur)!.callFrame.url;
        const m = /\/(src\/[^?]+|node_modules\/[^/]+)/.exec(u);
        if (m && !seen.has(m[1]!)) {
          seen.add(m[1]!);
          incFile.set(m[1]!, (incFile.get(m[1]!) ?? 0) + ms);
        }
      }
    }
  }
  const pct = (ms: number): string => ((100 * ms) / total).toFixed(1).padStart(5) + "%";
  const out = [`CPU profile: ${(total / 1000).toFixed(1)} s busy, ${(idle / 1000).toFixed(1)} s idle`, "", "self time, top functions:"];
  for (const [k, ms] of [...self].filter(([k]) => k !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`${pct(ms)}  ${k}`);
  out.push("", "inclusive time by module/file:");
  for (const [k, ms] of [...incFile].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`${pct(ms)}  ${k}`);
  return out.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(summarizeProfiles(process.argv.slice(2).filter((a) => a.endsWith(".cpuprofile")), Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 30)));
}
