/**
 * Google OAuth for calgate: `calgate auth google <id>` (loopbackAuth) and the token plumbing the
 * adapter uses (authorisedClient). The secret is stored as kind "oauth": StoredGoogleToken as JSON.
 */
export {
  EXPIRY_WARNING_MS,
  GOOGLE_DEFAULTS,
  GOOGLE_TOKEN_KIND,
  GoogleAuthError,
  TESTING_APP_TOKEN_LIFETIME_MS,
  googleEndpoints,
  oauthClient,
  oauthClientOptions,
  parseStoredToken,
  reconnectCommand,
  serializeToken,
  tokenExpiresAt,
  tokenExpiryWarning,
  type GoogleOAuthSource,
  type StoredGoogleToken,
} from "./auth-core.ts";
export { LOOPBACK_TIMEOUT_MS, browserAvailable, describeOAuthError, loopbackAuth, oauthErrorCode, openBrowser, parseRedirect, pkceChallenge, pkcePair, randomState, resultPage, type LoopbackIo, type RedirectOutcome } from "./auth-flow.ts";
export { authorisedClient, forgetRefusedTokens, type AuthorisedGoogle, type GoogleAuthContext } from "./auth-session.ts";
