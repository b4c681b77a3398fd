/**
 * Config `type` → adapter factory. Local sources have no adapter: their calendars live only in the cache.
 *
 * Each provider's module (and its client library: tsdav, @googleapis/calendar, MSAL and the Graph
 * client) is imported only when a configured source needs it: together they are tens of megabytes
 * of heap that a server without such a source never uses.
 */
import type { SourceConfig, CaldavSourceConfig, GoogleSourceConfig, MicrosoftSourceConfig } from "../config/schema.ts";
import type { PushParse, PushRequest, SourceAdapter } from "./adapter.ts";
import { parseNotification as parseGoogleNotification } from "./google/push.ts";
import { parseNotification as parseMicrosoftNotification } from "./microsoft/push.ts";

export interface AdapterDeps {
  /** sync.timeoutMs: per-request timeout when the source sets none. */
  timeoutMs: number;
}
export type AdapterFactory = (source: SourceConfig, deps: AdapterDeps) => SourceAdapter;
/** The factories of the source types a process syncs; a type absent here is not synced by it. */
export type AdapterRegistry = Readonly<Partial<Record<SourceConfig["type"], AdapterFactory>>>;

type SyncedType = Exclude<SourceConfig["type"], "local">;

const LOADERS: Readonly<Record<SyncedType, () => Promise<AdapterFactory>>> = {
  caldav: async () => {
    const { CaldavAdapter } = await import("./caldav/adapter.ts");
    return (s, d) => new CaldavAdapter(s as CaldavSourceConfig, d.timeoutMs);
  },
  google: async () => {
    const { GoogleAdapter } = await import("./google/adapter.ts");
    return (s, d) => new GoogleAdapter(s as GoogleSourceConfig, { timeoutMs: d.timeoutMs });
  },
  microsoft: async () => {
    const { MicrosoftAdapter } = await import("./microsoft/adapter.ts");
    return (s, d) => new MicrosoftAdapter(s as MicrosoftSourceConfig, { timeoutMs: d.timeoutMs });
  },
};

/** Whether this version syncs sources of `type` (a config check: nothing is loaded). */
export function isSynced(type: string): boolean {
  return Object.hasOwn(LOADERS, type);
}

/** The factories for `types` (unknown and unsynced types are left out), each provider module loaded once. */
export async function loadAdapters(types: Iterable<string>): Promise<AdapterRegistry> {
  const out: Partial<Record<SyncedType, AdapterFactory>> = {};
  for (const t of new Set(types)) if (isSynced(t)) out[t as SyncedType] = await LOADERS[t as SyncedType]();
  return out;
}

/** The factories for every source type the config uses. */
export function configuredAdapters(config: { users: readonly { sources: readonly { type: string }[] }[] }): Promise<AdapterRegistry> {
  return loadAdapters(config.users.flatMap((u) => u.sources.map((s) => s.type)));
}

/**
 * Provider push notifications arrive at POST /hooks/<type> before calgate knows whose they are: each
 * provider's parser reads the subscription id and secret from the request.
 */
export const PUSH_PARSERS: Readonly<Record<string, (req: PushRequest) => PushParse | null>> = {
  google: (req) => {
    const n = parseGoogleNotification(req.headers);
    return n ? { notices: [n] } : null;
  },
  microsoft: parseMicrosoftNotification,
};
