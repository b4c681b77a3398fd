/**
 * The catalog: owner/source → config + adapter + context. One instance is shared by the engine, the
 * writer and (later) webhooks, so every room talks to a source through the same adapter (one request
 * counter, one token cache) and nothing is wired by assignment.
 */
import type { Config, SourceConfig } from "../config/schema.ts";
import type { CalendarRow, CalendarStore } from "../store/calendars.ts";
import type { ObjectStore } from "../store/objects.ts";
import type { SourceStore } from "../store/sources.ts";
import type { SecretStore } from "../store/secrets.ts";
import type { CachedObject, RemoteCalendar, SecretAccess, SourceAdapter, SourceContext } from "../sources/adapter.ts";
import type { AdapterRegistry } from "../sources/registry.ts";

export interface CatalogDeps {
  config: Config;
  registry: AdapterRegistry;
  calendars: CalendarStore;
  objects: ObjectStore;
  sources: SourceStore;
  /** Told when an adapter reports a token refresh (status follows it). */
  onTokenRefresh?: (owner: string, sourceId: string, ok: boolean, message: string | null) => Promise<void>;
  onWarning?: (owner: string, sourceId: string, message: string) => Promise<void>;
  /** Present when secretKey is configured (made on first use). */
  secrets: (() => SecretStore) | null;
}

const key = (owner: string, sourceId: string): string => `${owner}\u0000${sourceId}`;

export class Catalog {
  private readonly adapters = new Map<string, SourceAdapter>();

  constructor(private readonly d: CatalogDeps) {}

  /** Every (owner, source) with an adapter, optionally narrowed. */
  synced(owner?: string | null, sourceId?: string | null): { owner: string; source: SourceConfig }[] {
    const out: { owner: string; source: SourceConfig }[] = [];
    for (const u of this.d.config.users) {
      if (owner && u.username !== owner) continue;
      for (const s of u.sources) if (this.d.registry[s.type] && (!sourceId || s.id === sourceId)) out.push({ owner: u.username, source: s });
    }
    return out;
  }

  source(owner: string, sourceId: string): SourceConfig | null {
    return this.d.config.users.find((u) => u.username === owner)?.sources.find((s) => s.id === sourceId) ?? null;
  }

  /** The adapter of a configured, synced source; null when the source is not (or no longer) configured. */
  adapter(owner: string, sourceId: string): SourceAdapter | null {
    const k = key(owner, sourceId);
    const hit = this.adapters.get(k);
    if (hit) return hit;
    const src = this.source(owner, sourceId);
    const factory = src ? this.d.registry[src.type] : undefined;
    if (!src || !factory) return null;
    const a = factory(src, { timeoutMs: this.d.config.sync.timeoutMs });
    this.adapters.set(k, a);
    return a;
  }

  /** Upstream requests made so far by this process, per synced source (for /metrics). */
  upstreamRequests(): { owner: string; source: string; requests: number }[] {
    return this.synced().map(({ owner, source }) => ({ owner, source: source.id, requests: this.adapters.get(key(owner, source.id))?.requests ?? 0 }));
  }

  /** The upstream side of a cached calendar. */
  remote(row: CalendarRow): RemoteCalendar {
    return {
      id: row.source_calendar_id ?? "", nameHint: row.name, displayname: row.displayname, color: row.color, description: row.description,
      components: row.components.split(","), version: row.upstream_ctag, writable: !row.read_only,
    };
  }

  context(owner: string, sourceId: string, signal: AbortSignal): SourceContext {
    const d = this.d;
    const rowOf = async (cal: RemoteCalendar): Promise<CalendarRow | null> => (await d.calendars.listBySource(owner, sourceId)).find((r) => r.source_calendar_id === cal.id) ?? null;
    const toCached = (o: { name: string; uid: string; ics: string; upstream_href: string | null; upstream_etag: string | null }): CachedObject => ({
      name: o.name, uid: o.uid, ics: o.ics, ref: o.upstream_href ? { id: o.upstream_href, etag: o.upstream_etag } : null,
    });
    const store = d.secrets;
    const secrets: SecretAccess = store
      ? { get: (kind) => store().get(owner, sourceId, kind), set: (kind, value) => store().put(owner, sourceId, kind, value) }
      : {
          get: async () => null,
          set: async () => {
            throw new Error(`source "${sourceId}" needs secretKey (top level of the config) to store its tokens encrypted`);
          },
        };
    return {
      signal,
      secrets,
      tokenRefreshed: async (ok, message) => {
        await d.onTokenRefresh?.(owner, sourceId, ok, message ?? null);
      },
      warn: async (message) => {
        await d.onWarning?.(owner, sourceId, message);
      },
      state: { load: <T>() => d.sources.loadState<T>(owner, sourceId), save: (v: unknown) => d.sources.saveState(owner, sourceId, v) },
      async known(cal) {
        const row = await rowOf(cal);
        const m = new Map<string, string | null>();
        if (row) for (const l of await d.objects.links(row.id)) if (l.upstream_href) m.set(l.upstream_href, l.upstream_etag);
        return m;
      },
      async cached(cal, id) {
        const row = await rowOf(cal);
        const o = row ? await d.objects.byUpstreamHref(row.id, id) : null;
        return o ? toCached(o) : null;
      },
      async cachedByUid(cal, uid) {
        const row = await rowOf(cal);
        const o = row ? await d.objects.byUid(row.id, uid) : null;
        return o ? toCached(o) : null;
      },
    };
  }
}
