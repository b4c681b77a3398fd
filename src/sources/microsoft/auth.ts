/**
 * Microsoft sign-in for calgate, with MSAL Node: `calgate auth microsoft <id>` (deviceCodeAuth) and the
 * token plumbing the adapter uses (microsoftSession). Secrets: "msal-cache" (MSAL's serialized token
 * cache) and "msal-account" (StoredMicrosoftAccount as JSON).
 */
export {
  IDLE_WARNING_AFTER_MS,
  MICROSOFT_DEFAULTS,
  MSAL_ACCOUNT_KIND,
  MSAL_CACHE_KIND,
  MicrosoftAuthError,
  REFRESH_TOKEN_IDLE_LIFETIME_MS,
  authorityUrl,
  expiryWarning,
  knownAuthorities,
  lastSuccessAt,
  msalConfiguration,
  parseStoredAccount,
  reconnectCommand,
  serializeAccount,
  type MicrosoftOAuthSource,
  type StoredMicrosoftAccount,
} from "./auth-core.ts";
export { secretCachePlugin, type SecretCachePlugin } from "./auth-cache.ts";
export { classifyMsalError, describeMsalError, deviceCodeFailure, shortDescription, type MsalFailure } from "./auth-errors.ts";
export { deviceCodeAuth, deviceCodePrompt, type DeviceCodeIo } from "./auth-flow.ts";
export { CalgateNetworkClient, NETWORK_TIMEOUT_MS, type NetworkFailure } from "./auth-network.ts";
export { forgetRefusedSignIns, microsoftSession, notConnectedMessage, type MicrosoftAuthContext, type MicrosoftSession } from "./auth-session.ts";
