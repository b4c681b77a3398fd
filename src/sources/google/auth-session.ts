/**
 * The adapter's side of Google OAuth: an OAuth2Client holding the source's stored refresh token, whose
 * refreshes report to the sync engine (SourceContext.tokenRefreshed) and end in AuthRequired when
 * Google refuses the token for good. Import through ./auth.ts.
 *
 * Every refresh goes through SessionClient.refreshTokenNoCache, whatever started it (an API request,
 * getAccessToken, forceRefresh), so the rules hold everywhere:
 *  - the stored token is read again first: a `calgate auth google` run while serving is picked up;
 *  - invalid_grant (expired or revoked), invalid_client and other 4xx answers mark the source
 *    auth_required (tokenRefreshed(false, advice)) and throw AuthRequired; a token Google refused is
 *    remembered for the life of the process and never sent again, so nothing retries it in a loop;
 *  - a refresh token Google rotates (a `refresh_token` in the answer, as in the `tokens` event) is stored;
 *  - the first success after a failure reports tokenRefreshed(true).
 */
import { createHash } from "node:crypto";
import { OAuth2Client } from "google-auth-library";
import { AuthRequired, RateLimited, Transient, type SecretAccess } from "../adapter.ts";
import { GOOGLE_TOKEN_KIND, oauthClientOptions, parseStoredToken, reconnectCommand, serializeToken, tokenExpiryWarning, type GoogleOAuthSource, type StoredGoogleToken } from "./auth-core.ts";
import { describeOAuthError, oauthErrorCode } from "./auth-flow.ts";

export interface GoogleAuthContext {
  readonly secrets: SecretAccess;
  tokenRefreshed(ok: boolean, message?: string): Promise<void>;
}

export interface AuthorisedGoogle {
  /** Pass as `auth` to @googleapis/calendar; it refreshes its access token by itself when it expires. */
  client: OAuth2Client;
  /** Drops the cached access token and refreshes now (after a 401: the library does not, while its expiry is ahead). */
  forceRefresh(): Promise<void>;
  /** The stored token in use (obtained_at, scope ...). */
  token(): StoredGoogleToken;
  /** tokenExpiryWarning for the token in use. */
  expiryWarning(now?: number): string | null;
}

/** Refresh tokens Google refused (by hash), for the life of the process. */
const refused = new Map<string, string>();
const fingerprint = (refreshToken: string): string => createHash("sha256").update(refreshToken).digest("base64url");

/** Clears the memory of refused tokens (tests). */
export function forgetRefusedTokens(): void {
  refused.clear();
}

const notConnected = (id: string): string => `source "${id}" is not connected to Google: run \`${reconnectCommand(id)}\``;

/** The stored token, checked; AuthRequired when there is none or it cannot be used with this source. */
async function loadToken(source: GoogleOAuthSource, secrets: SecretAccess): Promise<StoredGoogleToken> {
  let raw: string | null;
  try {
    raw = await secrets.get(GOOGLE_TOKEN_KIND);
  } catch (e) {
    throw new AuthRequired(`the saved Google sign-in of source "${source.id}" cannot be read (${(e as Error).message}); run \`${reconnectCommand(source.id)}\``);
  }
  if (raw === null) throw new AuthRequired(notConnected(source.id));
  let token: StoredGoogleToken;
  try {
    token = parseStoredToken(raw);
  } catch (e) {
    throw new AuthRequired(`${(e as Error).message} (source "${source.id}"); run \`${reconnectCommand(source.id)}\``);
  }
  if (token.client_id !== source.clientId) {
    throw new AuthRequired(`source "${source.id}" was connected with another OAuth client (clientId changed since); run \`${reconnectCommand(source.id)}\``);
  }
  return token;
}

/**
 * An OAuth2Client signed in as the source's stored token. Throws AuthRequired (after reporting
 * tokenRefreshed(false, ...)) when nothing usable is stored or the stored token was already refused.
 */
export async function authorisedClient(source: GoogleOAuthSource, ctx: GoogleAuthContext): Promise<AuthorisedGoogle> {
  let current: StoredGoogleToken;
  try {
    current = await loadToken(source, ctx.secrets);
  } catch (e) {
    if (e instanceof AuthRequired) await ctx.tokenRefreshed(false, e.message);
    throw e;
  }
  const known = refused.get(fingerprint(current.refresh_token));
  if (known !== undefined) {
    await ctx.tokenRefreshed(false, known);
    throw new AuthRequired(known, 400);
  }
  let failed = false;

  /** Reports a refusal for good and returns the AuthRequired to throw. */
  const refuse = async (message: string, token: StoredGoogleToken | null): Promise<AuthRequired> => {
    if (token !== null) refused.set(fingerprint(token.refresh_token), message);
    failed = true;
    await ctx.tokenRefreshed(false, message);
    return new AuthRequired(message, 400);
  };

  class SessionClient extends OAuth2Client {
    protected override async refreshTokenNoCache(_ignored?: string | null): ReturnType<OAuth2Client["refreshTokenNoCache"]> {
      // A newer sign-in (`calgate auth google` while serving) replaces the one this client started with.
      let stored: StoredGoogleToken;
      try {
        stored = await loadToken(source, ctx.secrets);
      } catch (e) {
        if (e instanceof AuthRequired) throw await refuse(e.message, null);
        throw e;
      }
      if (stored.refresh_token !== current.refresh_token) {
        current = stored;
        this.credentials = { refresh_token: stored.refresh_token };
      }
      const known = refused.get(fingerprint(current.refresh_token));
      if (known !== undefined) throw await refuse(known, null);

      let r: Awaited<ReturnType<OAuth2Client["refreshTokenNoCache"]>>;
      try {
        r = await super.refreshTokenNoCache(current.refresh_token);
      } catch (e) {
        throw await refreshFailure(source, e, (m) => refuse(m, current));
      }
      const rotated = r.tokens.refresh_token;
      if (rotated && rotated !== current.refresh_token) {
        current = { ...current, refresh_token: rotated, ...(r.tokens.scope ? { scope: r.tokens.scope } : {}) };
        await ctx.secrets.set(GOOGLE_TOKEN_KIND, serializeToken(current));
      }
      // The library copies credentials.refresh_token onto the new credentials after this returns.
      this.credentials = { ...this.credentials, refresh_token: current.refresh_token };
      if (failed) {
        failed = false;
        await ctx.tokenRefreshed(true);
      }
      return r;
    }
  }

  const client = new SessionClient(oauthClientOptions(source));
  client.setCredentials({ refresh_token: current.refresh_token });
  return {
    client,
    async forceRefresh() {
      client.setCredentials({ refresh_token: client.credentials.refresh_token ?? current.refresh_token });
      await client.getAccessToken();
    },
    token: () => current,
    expiryWarning: (now = Date.now()) => tokenExpiryWarning(current, source, now),
  };
}

/** The error a failed refresh becomes: AuthRequired (reported) for a refusal, else Transient / RateLimited. */
async function refreshFailure(source: GoogleOAuthSource, e: unknown, refuse: (message: string) => Promise<AuthRequired>): Promise<Error> {
  const code = oauthErrorCode(e);
  const status = (e as { response?: { status?: unknown } } | null)?.response?.status;
  const cmd = `run \`${reconnectCommand(source.id)}\``;
  if (code === "invalid_grant") {
    const testing = source.testingApp ? "; its OAuth app is in Testing status, where Google ends sign-ins after 7 days" : "";
    return refuse(`Google refused the saved sign-in of source "${source.id}" (expired or revoked${testing}); ${cmd}`);
  }
  if (code === "invalid_client" || code === "unauthorized_client") {
    return refuse(`Google refused the OAuth client of source "${source.id}" (${describeOAuthError(e)}): check its clientId and clientSecret, then ${cmd}`);
  }
  const what = `Google token refresh for source "${source.id}" failed (${describeOAuthError(e)})`;
  if (status === 429) return new RateLimited(what, 30_000, 429);
  if (typeof status === "number" && status >= 400 && status < 500 && status !== 408) return refuse(`${what}; ${cmd}`);
  return new Transient(what, typeof status === "number" ? status : null);
}
