/**
 * What a person needs to know about a source, in one record: its state (ok | degraded | offline |
 * auth_required), the last successful sync, the next scheduled one, the writes still queued for it,
 * the last error in plain words with what to do about it, and a warning to act on before something
 * breaks (an OAuth sign-in about to expire). `source.status` events carry it and /status.json lists it.
 */
import type { SourceRow, SourceStatus } from "../store/sources.ts";

export interface SourceLastError {
  /** What went wrong, in words (names the upstream and what it answered). */
  readonly message: string;
  /** What to do about it. */
  readonly advice: string;
  /** ISO time of the failed attempt. */
  readonly at: string | null;
}

/** The fields `source.status` adds to its status (and /status.json repeats per source). */
export interface SourceStateFields {
  /** ISO time of the last successful sync (null: none yet). */
  readonly lastSyncAt: string | null;
  /** ISO time of the next sync this server has scheduled (null: none, e.g. not served by this process). */
  readonly nextSyncAt: string | null;
  /** Client writes still queued for the upstream. */
  readonly outbox: number;
  readonly lastError: SourceLastError | null;
  /** Something to act on before it breaks (e.g. an OAuth sign-in that expires soon), or null. */
  readonly warning: string | null;
}

export interface SourceState extends SourceStateFields {
  readonly id: string;
  readonly type: string;
  readonly state: SourceStatus;
  /** False for sources calgate does not sync (local calendars): they are always ok. */
  readonly synced: boolean;
}

export interface SourceStateDeps {
  /** The stored sync state of a source (store/sources). */
  row(owner: string, sourceId: string): Promise<SourceRow | null>;
  /** Writes pending per source (store/outbox pendingBySource). */
  pending(): Promise<readonly { owner: string; source: string; pending: number }[]>;
  /** The configured sources of a user, in config order. */
  configured(owner: string): readonly { id: string; type: string; synced: boolean }[];
  /** Current warning of a source (the sync engine keeps adapters' warnings). */
  warning(owner: string, sourceId: string): string | null;
}

const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(Number(ms)).toISOString());

export class SourceStates {
  /** When the next sync of a source is due (the scheduler, in the serving process); set by the composition root. */
  nextSyncAt: (owner: string, sourceId: string) => number | null = () => null;

  constructor(private readonly d: SourceStateDeps) {}

  /** The fields of one source for its `source.status` event. */
  async fields(owner: string, sourceId: string): Promise<SourceStateFields> {
    const [row, pending] = await Promise.all([this.d.row(owner, sourceId), this.d.pending()]);
    const type = this.d.configured(owner).find((s) => s.id === sourceId)?.type ?? row?.type ?? "unknown";
    return this.fieldsOf(owner, sourceId, type, row, pending);
  }

  /** Every configured source of a user. */
  async list(owner: string): Promise<SourceState[]> {
    const pending = await this.d.pending();
    const out: SourceState[] = [];
    for (const s of this.d.configured(owner)) {
      const row = s.synced ? await this.d.row(owner, s.id) : null;
      out.push({ id: s.id, type: s.type, state: row?.status ?? "ok", synced: s.synced, ...this.fieldsOf(owner, s.id, s.type, row, pending) });
    }
    return out;
  }

  private fieldsOf(owner: string, sourceId: string, type: string, row: SourceRow | null, pending: readonly { owner: string; source: string; pending: number }[]): SourceStateFields {
    const failing = row !== null && row.status_message !== null && (row.consecutive_failures > 0 || row.status !== "ok");
    return {
      lastSyncAt: iso(row?.last_success_at),
      nextSyncAt: iso(this.nextSyncAt(owner, sourceId)),
      outbox: pending.find((p) => p.owner === owner && p.source === sourceId)?.pending ?? 0,
      lastError: failing ? { message: row.status_message!, advice: adviceFor(row.status, type, sourceId, row.status_message!), at: iso(row.last_sync_at) } : null,
      warning: this.d.warning(owner, sourceId),
    };
  }
}

/** What a person can do about a failing source, in words. */
export function adviceFor(state: SourceStatus, type: string, sourceId: string, message: string): string {
  const cached = "Calendars keep being served from the cache and client changes are queued meanwhile.";
  if (state === "auth_required") {
    if (type === "google" || type === "microsoft") return `Sign in again with \`calgate auth ${type} ${sourceId}\`; syncing resumes on its own afterwards. ${cached}`;
    return `Check the username and password of source "${sourceId}" in the configuration (many providers need an app-specific password), then restart calgate. ${cached}`;
  }
  if (/rate-limit/i.test(message)) return `The provider asked calgate to slow down; it waits as told and retries by itself, nothing to do unless this lasts for hours. ${cached}`;
  if (state === "offline") return `calgate cannot reach the upstream: check this machine's network and DNS and the source's URL. It retries by itself with growing pauses. ${cached}`;
  if (state === "degraded") return `The upstream keeps failing; calgate retries by itself with growing pauses. If it lasts, check the provider's status page and the calgate log (search for source "${sourceId}"). ${cached}`;
  return `calgate retries by itself; nothing to do unless the next attempts fail too.`;
}
