/** Config `type` → adapter factory. Local sources have no adapter: their calendars live only in the cache. */
import type { SourceConfig, CaldavSourceConfig, GoogleSourceConfig, MicrosoftSourceConfig } from "../config/schema.ts";
import type { PushParse, PushRequest, SourceAdapter } from "./adapter.ts";
import { parseNotification as parseGoogleNotification } from "./google/push.ts";
import { parseNotification as parseMicrosoftNotification } from "./microsoft/push.ts";
import { CaldavAdapter } from "./caldav/adapter.ts";
import { GoogleAdapter } from "./google/adapter.ts";
import { MicrosoftAdapter } from "./microsoft/adapter.ts";

export interface AdapterDeps {
  /** sync.timeoutMs: per-request timeout when the source sets none. */
  timeoutMs: number;
}
export type AdapterFactory = (source: SourceConfig, deps: AdapterDeps) => SourceAdapter;
export type AdapterRegistry = Readonly<Partial<Record<SourceConfig["type"], AdapterFactory>>>;

export const ADAPTERS: AdapterRegistry = {
  caldav: (s, d) => new CaldavAdapter(s as CaldavSourceConfig, d.timeoutMs),
  google: (s, d) => new GoogleAdapter(s as GoogleSourceConfig, { timeoutMs: d.timeoutMs }),
  microsoft: (s, d) => new MicrosoftAdapter(s as MicrosoftSourceConfig, { timeoutMs: d.timeoutMs }),
};

export function isSynced(type: string): boolean {
  return type in ADAPTERS;
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
