/**
 * The adapter's side of Microsoft sign-in: access tokens for the source's stored account, from MSAL's
 * token cache kept in the encrypted secrets (acquireTokenSilent refreshes them with the cached refresh
 * token). Import through ./auth.ts.
 *
 * Rules, for every call of accessToken():
 *  - the stored account record is read again first: a `calgate auth microsoft` run while serving is
 *    picked up at once (and the cache plugin reads the stored cache on every access);
 *  - a refusal (InteractionRequiredAuthError, invalid_grant: expired, revoked, consent withdrawn; or a
 *    refused application) marks the source auth_required (tokenRefreshed(false, advice)) and throws
 *    AuthRequired; the refused sign-in is remembered for the life of the process and never sent to
 *    Microsoft again, so nothing retries it in a loop. A new sign-in (new account record) is tried;
 *  - network failures and 5xx answers throw Transient, 429 RateLimited: nothing is marked;
 *  - a refresh Microsoft accepted is noted in the account record (refreshed_at: the 90-day idle clock);
 *  - the first success after a failure reports tokenRefreshed(true).
 */
import { PublicClientApplication, type AccountInfo, type AuthenticationResult } from "@azure/msal-node";
import { AuthRequired, RateLimited, Transient, type SecretAccess } from "../adapter.ts";
import {
  MICROSOFT_DEFAULTS,
  MSAL_ACCOUNT_KIND,
  MSAL_CACHE_KIND,
  expiryWarning,
  msalConfiguration,
  parseStoredAccount,
  reconnectCommand,
  serializeAccount,
  type MicrosoftOAuthSource,
  type StoredMicrosoftAccount,
} from "./auth-core.ts";
import { secretCachePlugin } from "./auth-cache.ts";
import { classifyMsalError } from "./auth-errors.ts";
import { CalgateNetworkClient } from "./auth-network.ts";

export interface MicrosoftAuthContext {
  readonly secrets: SecretAccess;
  tokenRefreshed(ok: boolean, message?: string): Promise<void>;
}

export interface MicrosoftSession {
  /** A valid access token for Microsoft Graph; forceRefresh (after a 401) skips the cached one. */
  accessToken(forceRefresh?: boolean): Promise<string>;
  /** A warning when the sign-in was last used more than 80 days ago (it ends after 90 unused), else null. */
  expiryWarning(now: number): string | null;
  /** The signed-in account's name (UPN or e-mail). */
  readonly username: string;
  /** Identity-platform requests made so far (tests). */
  readonly requests: number;
}

/** Sign-ins Microsoft refused, for the life of the process: key → the message reported. */
const refused = new Map<string, string>();

/** Clears the memory of refused sign-ins (tests). */
export function forgetRefusedSignIns(): void {
  refused.clear();
}

/** One sign-in: a new `calgate auth microsoft` run gives a new key, even for the same account. */
const signInKey = (source: MicrosoftOAuthSource, a: StoredMicrosoftAccount): string => `${source.id}\0${source.clientId}\0${a.homeAccountId}\0${a.obtained_at}`;

export const notConnectedMessage = (id: string): string => `source "${id}" is not connected to Microsoft: run \`${reconnectCommand(id)}\``;

/** The stored account record, checked; AuthRequired (not yet reported) when there is none or it does not fit. */
async function loadAccount(source: MicrosoftOAuthSource, secrets: SecretAccess, checkCache: boolean): Promise<StoredMicrosoftAccount> {
  const cmd = `run \`${reconnectCommand(source.id)}\``;
  let raw: string | null;
  try {
    raw = await secrets.get(MSAL_ACCOUNT_KIND);
    if (raw !== null && checkCache && (await secrets.get(MSAL_CACHE_KIND)) === null) raw = null;
  } catch (e) {
    throw new AuthRequired(`the saved Microsoft sign-in of source "${source.id}" cannot be read (${(e as Error).message}); ${cmd}`);
  }
  if (raw === null) throw new AuthRequired(notConnectedMessage(source.id));
  let account: StoredMicrosoftAccount;
  try {
    account = parseStoredAccount(raw);
  } catch (e) {
    throw new AuthRequired(`${(e as Error).message} (source "${source.id}"); ${cmd}`);
  }
  if (account.client_id !== undefined && account.client_id !== source.clientId) {
    throw new AuthRequired(`source "${source.id}" was connected with another application (clientId changed since); ${cmd}`);
  }
  return account;
}

/**
 * A session for the source's stored sign-in. Throws AuthRequired (after reporting tokenRefreshed(false,
 * ...)) when nothing is stored or the stored sign-in was already refused in this process.
 */
export async function microsoftSession(source: MicrosoftOAuthSource, ctx: MicrosoftAuthContext): Promise<MicrosoftSession> {
  let current: StoredMicrosoftAccount;
  try {
    current = await loadAccount(source, ctx.secrets, true);
  } catch (e) {
    if (e instanceof AuthRequired) await ctx.tokenRefreshed(false, e.message);
    throw e;
  }
  const known = refused.get(signInKey(source, current));
  if (known !== undefined) {
    await ctx.tokenRefreshed(false, known);
    throw new AuthRequired(known, 400);
  }

  const net = new CalgateNetworkClient({ caCert: source.caCert });
  const pca = new PublicClientApplication(msalConfiguration(source, { networkClient: net, cachePlugin: secretCachePlugin(ctx.secrets, "stored") }));
  let failed = false;

  /** Reports a refusal and returns the AuthRequired to throw; `remember` is the sign-in never to try again. */
  const refuse = async (message: string, remember: StoredMicrosoftAccount | null): Promise<AuthRequired> => {
    if (remember !== null) refused.set(signInKey(source, remember), message);
    failed = true;
    await ctx.tokenRefreshed(false, message);
    return new AuthRequired(message, 400);
  };

  const failure = async (e: unknown, account: StoredMicrosoftAccount): Promise<Error> => {
    const c = classifyMsalError(e, source, net.lastFailure);
    switch (c.kind) {
      case "refused":
        return refuse(c.message, account);
      case "config":
        return refuse(c.message, null);
      case "rate-limited":
        return new RateLimited(c.message, c.retryAfterMs, 429);
      case "transient":
        return new Transient(c.message, c.status);
    }
  };

  /** Notes a refresh Microsoft accepted, unless a newer sign-in replaced the record meanwhile. */
  const noteRefresh = async (account: StoredMicrosoftAccount): Promise<void> => {
    const raw = await ctx.secrets.get(MSAL_ACCOUNT_KIND);
    if (raw === null) return;
    const stored = parseStoredAccount(raw);
    if (stored.homeAccountId !== account.homeAccountId || stored.obtained_at !== account.obtained_at) return;
    current = { ...stored, refreshed_at: Date.now() };
    await ctx.secrets.set(MSAL_ACCOUNT_KIND, serializeAccount(current));
  };

  return {
    get username() {
      return current.username;
    },
    get requests() {
      return net.requests;
    },
    expiryWarning: (now: number) => expiryWarning(current, source, now),
    async accessToken(forceRefresh = false): Promise<string> {
      let account: StoredMicrosoftAccount;
      try {
        account = await loadAccount(source, ctx.secrets, false);
      } catch (e) {
        if (e instanceof AuthRequired) throw await refuse(e.message, null);
        throw e;
      }
      current = account;
      const known = refused.get(signInKey(source, account));
      if (known !== undefined) throw await refuse(known, null);

      net.lastFailure = null;
      let result: AuthenticationResult;
      try {
        const info: AccountInfo | null = await pca.getTokenCache().getAccountByHomeId(account.homeAccountId);
        if (info === null) {
          throw await refuse(`the saved Microsoft sign-in of source "${source.id}" is incomplete (its account is missing from the token cache); run \`${reconnectCommand(source.id)}\``, null);
        }
        result = await pca.acquireTokenSilent({ account: info, scopes: [...MICROSOFT_DEFAULTS.scopes], forceRefresh });
      } catch (e) {
        if (e instanceof AuthRequired) throw e;
        throw await failure(e, account);
      }
      if (!result.accessToken) throw new Transient(`the Microsoft identity platform returned no access token for source "${source.id}"`);
      if (!result.fromCache) {
        try {
          await noteRefresh(account);
        } catch {
          // bookkeeping only: the token is good; the idle clock is noted on the next refresh
        }
      }
      if (failed) {
        failed = false;
        await ctx.tokenRefreshed(true);
      }
      return result.accessToken;
    },
  };
}
