/**
 * The scale simulation's verdict, from the status events every instance wrote to the database
 * (pure, so it can be checked on made-up rows): how long after its tick each scheduled poll
 * started, whether each source was polled once per tick, the largest gap between two polls of a
 * source, how syncs spread over the instances, their durations, upstream requests and failures.
 */
export interface SyncEventRow {
  type: string;
  owner: string | null;
  payload: string;
  at: number | string;
}
export interface AnalysisWindow {
  from: number;
  to: number;
  intervalMs: number;
  jitterMs: number;
  /** How many sources are configured in total. */
  sources: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const summary = (xs: number[]): { n: number; p50: number; p95: number; p99: number; max: number } => {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), max: s.length ? s[s.length - 1]! : 0 };
};

export function analyse(rows: SyncEventRow[], w: AnalysisWindow) {
  const starts: { key: string; at: number; reason: string; instance: string }[] = [];
  const durations: number[] = [];
  const durationsById = new Map<string, number[]>();
  let requests = 0;
  const requestsByType = new Map<string, number>();
  const errors = new Map<string, number>();
  let failed = 0;
  for (const r of rows) {
    const at = Number(r.at);
    if (at < w.from || at >= w.to + w.intervalMs) continue;
    const p = JSON.parse(r.payload) as { source?: string; reason?: string; instance?: string; ms?: number; requests?: number; error?: string };
    const key = `${r.owner}/${p.source}`;
    if (r.type === "sync.started" && at < w.to) starts.push({ key, at, reason: p.reason ?? "?", instance: p.instance ?? "?" });
    if (r.type === "sync.completed") {
      durations.push(p.ms ?? 0);
      durationsById.set(p.source ?? "?", [...(durationsById.get(p.source ?? "?") ?? []), p.ms ?? 0]);
      requests += p.requests ?? 0;
      requestsByType.set(p.source ?? "?", (requestsByType.get(p.source ?? "?") ?? 0) + (p.requests ?? 0));
    }
    if (r.type === "sync.failed") {
      failed++;
      const e = (p.error ?? "?").replace(/\d+/g, "N").slice(0, 120);
      errors.set(e, (errors.get(e) ?? 0) + 1);
    }
  }
  // Lateness of scheduled polls after their tick (the tick is the schedule's time; jitter is part of it).
  const scheduled = starts.filter((s) => s.reason === "scheduled");
  const delays = scheduled.map((s) => s.at - Math.floor(s.at / w.intervalMs) * w.intervalMs);
  // Each source once per full tick inside the window: duplicates and misses, any reason counting.
  const firstTick = Math.ceil(w.from / w.intervalMs) * w.intervalMs;
  const ticks: number[] = [];
  for (let t = firstTick; t + w.intervalMs <= w.to; t += w.intervalMs) ticks.push(t);
  const perTick = new Map<string, number>();
  for (const s of starts) {
    const t = Math.floor(s.at / w.intervalMs) * w.intervalMs;
    if (!ticks.includes(t)) continue;
    perTick.set(`${s.key}@${t}`, (perTick.get(`${s.key}@${t}`) ?? 0) + 1);
  }
  const duplicated = [...perTick.values()].filter((n) => n > 1).length;
  const duplicateSamples = [...perTick.entries()].filter(([, n]) => n > 1).slice(0, 3).map(([k]) => {
    const [key, t] = k.split("@");
    return starts.filter((s) => s.key === key && Math.floor(s.at / w.intervalMs) * w.intervalMs === Number(t)).map((s) => ({ source: s.key, afterTickMs: s.at - Number(t), reason: s.reason, instance: s.instance }));
  });
  const missed = w.sources * ticks.length - perTick.size;
  // The largest gap between two consecutive polls of one source.
  const bySource = new Map<string, number[]>();
  for (const s of starts) bySource.set(s.key, [...(bySource.get(s.key) ?? []), s.at]);
  const gaps: number[] = [];
  for (const ats of bySource.values()) for (let i = 1; i < ats.length; i++) gaps.push(ats[i]! - ats[i - 1]!);
  // Spread over the instances.
  const perInstance = new Map<string, { syncs: number; sources: Set<string> }>();
  for (const s of starts) {
    const x = perInstance.get(s.instance) ?? { syncs: 0, sources: new Set<string>() };
    x.syncs++;
    x.sources.add(s.key);
    perInstance.set(s.instance, x);
  }
  const windowS = (w.to - w.from) / 1000;
  return {
    ticks: ticks.length,
    syncsStarted: starts.length,
    syncsPerS: Math.round((starts.length / windowS) * 10) / 10,
    byReason: Object.fromEntries([...new Set(starts.map((s) => s.reason))].map((r) => [r, starts.filter((s) => s.reason === r).length])),
    delayAfterTickMs: summary(delays),
    startedLaterThanJitter: delays.filter((d) => d > w.jitterMs).length,
    sourcesPolledTwiceInOneTick: duplicated,
    duplicateSamples,
    sourceTicksMissed: missed,
    sourcesNeverPolled: w.sources - bySource.size,
    gapBetweenPollsMs: summary(gaps),
    syncDurationMs: summary(durations),
    syncDurationMsBySourceId: Object.fromEntries([...durationsById].map(([id, xs]) => [id, summary(xs)])),
    failed,
    errors: Object.fromEntries([...errors.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5)),
    upstreamRequests: requests,
    upstreamRequestsPerS: Math.round((requests / windowS) * 10) / 10,
    upstreamRequestsBySourceId: Object.fromEntries(requestsByType),
    instances: [...perInstance.entries()].map(([instance, x]) => ({ instance, syncs: x.syncs, distinctSources: x.sources.size })),
  };
}
