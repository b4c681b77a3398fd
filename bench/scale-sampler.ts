/**
 * What the scale simulation's processes cost, sampled once a second from /proc (Linux): CPU and
 * resident memory of each calgate instance and Radicale, PostgreSQL's CPU (the postmaster and all
 * its backends), this process (the emulators and the load), and the database's connections and
 * commits (the driver's own connections, named scale-driver, left out). `cut()` summarises the window since the previous cut.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { Db } from "../src/store/db.ts";

const TICK_S = 100; // USER_HZ (clock ticks per second) on Linux

interface Tracked { name: string; pid: number }
interface Window {
  started: number;
  cpu0: Map<string, number>;
  rssPeakMb: Map<string, number>;
  connections: number[];
  commits0: number;
}

/** utime+stime (and the children's, when `children`) of a pid in seconds, or null when it is gone. */
function cpuSeconds(pid: number, children = false): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields after the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    const own = Number(f[11]) + Number(f[12]);
    return (children ? own + Number(f[13]) + Number(f[14]) : own) / TICK_S;
  } catch {
    return null;
  }
}
function ppidOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}
function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

export class ProcSampler {
  private tracked: Tracked[] = [];
  private postmaster: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private window: Window | null = null;

  constructor(private readonly db: Db) {}

  track(...procs: (Tracked | Tracked[])[]): void {
    this.tracked.push(...procs.flat());
  }

  async start(): Promise<void> {
    const r = (await this.db.raw("select pg_backend_pid() as pid")) as { rows: { pid: number }[] };
    this.postmaster = ppidOf(r.rows[0]!.pid);
    this.window = await this.open();
    this.timer = setInterval(() => void this.sample(), 1000);
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The window since the previous cut (or start); a new one begins. */
  cut(): Record<string, unknown> {
    const w = this.window!;
    const now = this.readCpu();
    const wall = (Date.now() - w.started) / 1000;
    const cpuPercent: Record<string, number> = {};
    for (const [name, v] of now) cpuPercent[name] = round(((v - (w.cpu0.get(name) ?? v)) / wall) * 100);
    const rss: Record<string, number> = {};
    for (const [name, v] of w.rssPeakMb) rss[name] = round(v);
    const conns = w.connections.length ? w.connections : [0];
    const out = {
      wallS: round(wall),
      cpuPercentOfOneCore: cpuPercent,
      peakRssMb: rss,
      dbConnections: { max: Math.max(...conns), mean: round(conns.reduce((a, b) => a + b, 0) / conns.length) },
      dbCommitsPerS: round((this.lastCommits - w.commits0) / wall),
    };
    void this.open().then((x) => (this.window = x));
    return out;
  }

  private lastCommits = 0;

  private async open(): Promise<Window> {
    this.lastCommits = await this.commits();
    return { started: Date.now(), cpu0: this.readCpu(), rssPeakMb: new Map(), connections: [], commits0: this.lastCommits };
  }

  private readCpu(): Map<string, number> {
    const m = new Map<string, number>();
    for (const t of this.tracked) {
      const v = cpuSeconds(t.pid);
      if (v !== null) m.set(t.name, v);
    }
    if (this.postmaster !== null) m.set("postgresql", this.postgresCpu());
    const self = process.cpuUsage();
    m.set("emulators+driver (this process)", (self.user + self.system) / 1e6);
    return m;
  }

  /** The postmaster with its exited children, plus every live backend. */
  private postgresCpu(): number {
    let total = cpuSeconds(this.postmaster!, true) ?? 0;
    for (const d of readdirSync("/proc")) {
      if (!/^\d+$/.test(d)) continue;
      const pid = Number(d);
      if (ppidOf(pid) === this.postmaster) total += cpuSeconds(pid) ?? 0;
    }
    return total;
  }

  private async commits(): Promise<number> {
    const r = (await this.db.raw("select xact_commit from pg_stat_database where datname = current_database()")) as { rows: { xact_commit: number | string }[] };
    return Number(r.rows[0]?.xact_commit ?? 0);
  }

  private async sample(): Promise<void> {
    const w = this.window;
    if (!w) return;
    for (const t of this.tracked) w.rssPeakMb.set(t.name, Math.max(w.rssPeakMb.get(t.name) ?? 0, rssMb(t.pid)));
    try {
      const r = (await this.db.raw("select count(*) as n from pg_stat_activity where datname = current_database() and application_name <> 'scale-driver'")) as { rows: { n: number | string }[] };
      w.connections.push(Number(r.rows[0]!.n));
      this.lastCommits = await this.commits();
    } catch {
      // the database is going away at the end of the run
    }
  }
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
