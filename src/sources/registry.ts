/** Config `type` → adapter factory. Local sources have no adapter: their calendars live only in the cache. */
import type { SourceConfig, CaldavSourceConfig } from "../config/schema.ts";
import type { SourceAdapter } from "./adapter.ts";
import { CaldavAdapter, type StateStore } from "./caldav/adapter.ts";

export interface AdapterDeps {
  /** sync.timeoutMs: per-request timeout when the source sets none. */
  timeoutMs: number;
  /** Persistent adapter state (e.g. the discovered calendar home). */
  state: StateStore;
}
export type AdapterFactory = (source: SourceConfig, deps: AdapterDeps) => SourceAdapter;

export const ADAPTERS: Readonly<Partial<Record<SourceConfig["type"], AdapterFactory>>> = {
  caldav: (s, d) => new CaldavAdapter(s as CaldavSourceConfig, d.timeoutMs, d.state),
};

export function isSynced(type: string): boolean {
  return type in ADAPTERS;
}
