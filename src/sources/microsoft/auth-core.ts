/**
 * Microsoft sign-in basics shared by `calgate auth microsoft` (auth-flow.ts) and the adapter's token
 * plumbing (auth-session.ts): the authority and MSAL configuration of a source, the stored account
 * record, and the "unused for 90 days" warning. Import these through ./auth.ts.
 *
 * Secrets (SourceContext.secrets / SecretStore, encrypted at rest):
 *  - "msal-cache": MSAL's serialized token cache (accounts, id/access/refresh tokens), via a cache plugin;
 *  - "msal-account": StoredMicrosoftAccount as JSON: which account of the cache the source uses.
 */
import { LogLevel, type Configuration, type ICachePlugin, type INetworkModule } from "@azure/msal-node";
import type { MicrosoftSourceConfig } from "../../config/schema.ts";

export const MICROSOFT_DEFAULTS = {
  authority: "https://login.microsoftonline.com",
  tenant: "common",
  scopes: ["Calendars.ReadWrite", "offline_access"],
} as const;

export const MSAL_CACHE_KIND = "msal-cache";
export const MSAL_ACCOUNT_KIND = "msal-account";

/** Refresh tokens stop working after this long unused (Microsoft identity platform default). */
export const REFRESH_TOKEN_IDLE_LIFETIME_MS = 90 * 24 * 3600_000;
/** expiryWarning speaks up once the last successful sign-in or refresh is older than this. */
export const IDLE_WARNING_AFTER_MS = 80 * 24 * 3600_000;

/** What the sign-in code needs of a microsoft source (a MicrosoftSourceConfig fits). */
export type MicrosoftOAuthSource = Pick<MicrosoftSourceConfig, "id" | "clientId"> & Partial<Pick<MicrosoftSourceConfig, "tenant" | "authority" | "caCert">>;

/** The "msal-account" secret: which account of the stored cache the source signs in as. */
export interface StoredMicrosoftAccount {
  homeAccountId: string;
  /** The account's sign-in name (UPN or e-mail), for messages. */
  username: string;
  /** When `calgate auth microsoft` completed (ms since the epoch). */
  obtained_at: number;
  /** The last refresh Microsoft accepted (ms); a refresh renews the 90-day idle lifetime. */
  refreshed_at?: number;
  /** The application (client) id the sign-in belongs to. */
  client_id?: string;
}

/**
 * A failure meant for the person at the terminal: its message says what happened and what to do.
 * The CLI prints `stack ?? message`; the stack is the message alone, so no trace clutters the advice.
 */
export class MicrosoftAuthError extends Error {
  override name = "MicrosoftAuthError";
  constructor(message: string) {
    super(message);
    this.stack = message;
  }
}

/** The command that (re)connects a source, for messages. */
export const reconnectCommand = (sourceId: string): string => `calgate auth microsoft ${sourceId}`;

const DEFAULT_HOST = new URL(MICROSOFT_DEFAULTS.authority).host;

/** The authority base (no tenant) a source uses, checked: MSAL talks to https authorities only. */
function authorityBase(source: Pick<MicrosoftOAuthSource, "authority">): URL {
  let base: URL;
  try {
    base = new URL(source.authority ?? MICROSOFT_DEFAULTS.authority);
  } catch {
    throw new MicrosoftAuthError(`authority "${source.authority}" is not a URL`);
  }
  if (base.protocol !== "https:") throw new MicrosoftAuthError(`authority "${source.authority}" must be an https URL (MSAL refuses anything else)`);
  return base;
}

/** The full authority MSAL is given: the authority base plus the tenant, e.g. https://login.microsoftonline.com/common. */
export function authorityUrl(source: Pick<MicrosoftOAuthSource, "authority" | "tenant">): string {
  const base = authorityBase(source);
  const tenant = source.tenant ?? MICROSOFT_DEFAULTS.tenant;
  const path = base.pathname.endsWith("/") ? base.pathname : `${base.pathname}/`;
  return `${base.origin}${path}${encodeURIComponent(tenant)}`;
}

/**
 * knownAuthorities for MSAL: the authority's host (with port) when the authority is overridden, so MSAL
 * trusts it without asking the public cloud's instance discovery (which fails offline and rejects
 * unknown hosts); empty for Microsoft's own authority, whose metadata MSAL carries built in.
 */
export function knownAuthorities(source: Pick<MicrosoftOAuthSource, "authority">): string[] {
  if (source.authority === undefined) return [];
  const host = authorityBase(source).host.toLowerCase();
  return host === DEFAULT_HOST ? [] : [host];
}

/** MSAL's configuration for a source: authority (+ knownAuthorities), cache plugin, network client, quiet logger. */
export function msalConfiguration(source: MicrosoftOAuthSource, deps: { networkClient: INetworkModule; cachePlugin?: ICachePlugin }): Configuration {
  const known = knownAuthorities(source);
  return {
    auth: {
      clientId: source.clientId,
      authority: authorityUrl(source),
      ...(known.length > 0 ? { knownAuthorities: known } : {}),
    },
    ...(deps.cachePlugin ? { cache: { cachePlugin: deps.cachePlugin } } : {}),
    system: {
      networkClient: deps.networkClient,
      // MSAL's logger never sees personal data (piiLoggingEnabled false) and calgate does not print it.
      loggerOptions: { piiLoggingEnabled: false, logLevel: LogLevel.Error, loggerCallback: () => {} },
    },
  };
}

/** Parses the stored account record; throws an Error saying what is wrong when it is not one. */
export function parseStoredAccount(s: string): StoredMicrosoftAccount {
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    throw new Error("the stored Microsoft account is not JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("the stored Microsoft account is not a JSON object");
  const o = v as Record<string, unknown>;
  const str = (k: string): string => {
    const x = o[k];
    if (typeof x !== "string" || x === "") throw new Error(`the stored Microsoft account has no valid "${k}" (expected a non-empty string)`);
    return x;
  };
  const num = (k: string, optional: boolean): number | undefined => {
    const x = o[k];
    if (x === undefined && optional) return undefined;
    if (typeof x !== "number" || !Number.isFinite(x)) throw new Error(`the stored Microsoft account has no valid "${k}" (expected a number)`);
    return x;
  };
  const account: StoredMicrosoftAccount = { homeAccountId: str("homeAccountId"), username: typeof o.username === "string" ? o.username : "", obtained_at: num("obtained_at", false)! };
  const refreshed = num("refreshed_at", true);
  if (refreshed !== undefined) account.refreshed_at = refreshed;
  if (o.client_id !== undefined) account.client_id = str("client_id");
  return account;
}

export const serializeAccount = (a: StoredMicrosoftAccount): string =>
  JSON.stringify({
    homeAccountId: a.homeAccountId,
    username: a.username,
    obtained_at: a.obtained_at,
    ...(a.refreshed_at !== undefined ? { refreshed_at: a.refreshed_at } : {}),
    ...(a.client_id !== undefined ? { client_id: a.client_id } : {}),
  });

/** The last time Microsoft accepted this sign-in (consent or refresh), ms. */
export const lastSuccessAt = (a: StoredMicrosoftAccount): number => Math.max(a.obtained_at, a.refreshed_at ?? 0);

const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/**
 * Microsoft ends a sign-in whose refresh token goes unused for 90 days; every refresh issues a new one.
 * A plain-words warning once the last success is more than 80 days ago, else null.
 */
export function expiryWarning(account: StoredMicrosoftAccount, source: Pick<MicrosoftOAuthSource, "id">, now: number): string | null {
  const last = lastSuccessAt(account);
  if (now - last <= IDLE_WARNING_AFTER_MS) return null;
  const ends = last + REFRESH_TOKEN_IDLE_LIFETIME_MS;
  const cmd = reconnectCommand(source.id);
  return ends <= now
    ? `The Microsoft sign-in of source "${source.id}" has not been used since ${day(last)}, so Microsoft has probably ended it (sign-ins unused for 90 days expire); run \`${cmd}\` to reconnect.`
    : `The Microsoft sign-in of source "${source.id}" has not been used since ${day(last)}; Microsoft ends it on ${day(ends)} unless calgate syncs it before then (sign-ins unused for 90 days expire). If syncing keeps failing, run \`${cmd}\`.`;
}
