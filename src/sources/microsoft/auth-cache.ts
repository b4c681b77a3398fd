/**
 * MSAL's token cache kept in calgate's encrypted secrets (kind "msal-cache"), through MSAL's cache
 * plugin hooks. Import through ./auth.ts.
 *
 * "stored" mode (the adapter's session): every cache access starts from the stored cache, so a newer
 * `calgate auth microsoft` run is picked up at once; a changed cache (a refresh, a refresh token MSAL
 * dropped) is written back only when nobody replaced the stored one meanwhile, so a session never
 * overwrites a newer sign-in with its older cache.
 *
 * "fresh" mode (`calgate auth microsoft`): starts from an empty cache, ignoring what is stored, and
 * stores the cache the sign-in produced (replacing the old one) once MSAL has saved the new tokens.
 */
import type { ICachePlugin, TokenCacheContext } from "@azure/msal-node";
import type { SecretAccess } from "../adapter.ts";
import { MSAL_CACHE_KIND } from "./auth-core.ts";

export interface SecretCachePlugin extends ICachePlugin {
  /** How many times the plugin stored the cache (tests). */
  readonly writes: number;
}

/**
 * An empty serialized cache. MSAL merges what it deserializes into its in-memory cache (entries are
 * added, never dropped); acquireTokenSilent clears that memory before its cache access, so tokens are
 * always looked up in what is stored.
 */
const EMPTY = "{}";

export function secretCachePlugin(secrets: SecretAccess, mode: "stored" | "fresh"): SecretCachePlugin {
  /** The serialized cache as last read from (or written to) the secrets; null when nothing was stored. */
  let loaded: string | null = null;
  let writes = 0;
  return {
    get writes() {
      return writes;
    },
    async beforeCacheAccess(ctx: TokenCacheContext): Promise<void> {
      if (mode === "fresh") {
        ctx.tokenCache.deserialize(loaded ?? EMPTY);
        return;
      }
      loaded = await secrets.get(MSAL_CACHE_KIND);
      ctx.tokenCache.deserialize(loaded ?? EMPTY);
    },
    async afterCacheAccess(ctx: TokenCacheContext): Promise<void> {
      if (!ctx.cacheHasChanged) return;
      if (mode === "stored") {
        const current = await secrets.get(MSAL_CACHE_KIND);
        // Someone stored another cache since this access began (a new `calgate auth microsoft`): it wins.
        if (current !== loaded) return;
      }
      const next = ctx.tokenCache.serialize();
      await secrets.set(MSAL_CACHE_KIND, next);
      loaded = next;
      writes++;
    },
  };
}
