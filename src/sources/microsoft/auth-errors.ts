/**
 * What an MSAL failure means for calgate: the sign-in was refused for good (re-run `calgate auth
 * microsoft`), or the identity platform could not be reached / was busy (try again later). Messages are
 * plain words with the command; they carry error codes and descriptions, never tokens.
 * Import through ./auth.ts.
 */
import { AuthError, ClientConfigurationError, InteractionRequiredAuthError, ServerError } from "@azure/msal-node";
import { reconnectCommand, type MicrosoftOAuthSource } from "./auth-core.ts";
import type { NetworkFailure } from "./auth-network.ts";

export type MsalFailure =
  /** Microsoft will not accept the saved sign-in: mark the source auth_required; never retry it. */
  | { readonly kind: "refused"; readonly message: string }
  /** A settings problem (authority, tenant): auth_required too, but nothing to remember. */
  | { readonly kind: "config"; readonly message: string }
  | { readonly kind: "rate-limited"; readonly message: string; readonly retryAfterMs: number }
  | { readonly kind: "transient"; readonly message: string; readonly status: number | null };

/** OAuth errors that mean the refresh token (or the consent behind it) is no good any more. */
const REFUSED_CODES = new Set(["invalid_grant", "interaction_required", "consent_required", "login_required", "bad_token", "no_tokens_found", "refresh_token_expired", "native_account_unavailable"]);
/** OAuth errors about the application itself. */
const CLIENT_CODES = new Set(["invalid_client", "unauthorized_client", "unsupported_grant_type"]);
/** Local or transport failures: nothing was refused. */
const TRANSIENT_CODES = new Set(["network_error", "endpoints_resolution_error", "openid_config_error", "token_parsing_error", "no_network_connectivity", "temporarily_unavailable", "server_error", "request_cannot_be_made"]);

/** The first sentence of an identity-platform description (drops trace/correlation ids), at most 200 characters. */
export function shortDescription(s: string | null | undefined): string {
  if (!s) return "";
  const first = s.split(/\r?\n| - Timestamp:| Trace ID:/)[0]!.replace(/^Error\(s\): [^-]*- Timestamp: [^-]*- Description: /, "").trim();
  return first.length > 200 ? `${first.slice(0, 197)}...` : first;
}

/** "code: description" for messages. */
export function describeMsalError(e: unknown, last: NetworkFailure | null = null): string {
  if (e instanceof AuthError) {
    const code = e.errorCode || "error";
    let desc = shortDescription(e.errorMessage);
    // MSAL's codes for a failed discovery say nothing about why; the network client knows.
    if ((code === "endpoints_resolution_error" || code === "openid_config_error" || desc === "") && last !== null) {
      desc = `${last.status === null ? "" : `HTTP ${last.status} `}${last.error}${last.description ? `: ${shortDescription(last.description)}` : ""} at ${last.url}`;
    }
    if (desc === code || desc === "") return code;
    return desc.startsWith(code) ? desc : `${code}: ${desc}`;
  }
  return e instanceof Error ? e.message : String(e);
}

function codeOf(e: AuthError): string {
  // The OAuth `error` lands in errorCode (ServerError, InteractionRequiredAuthError), or in the message of
  // MSAL's post_request_failed (device code polling).
  if (e.errorCode === "post_request_failed") return e.errorMessage.split(/\s+/).pop() ?? e.errorCode;
  return e.errorCode;
}

/**
 * Classifies what acquireTokenSilent (or any MSAL call for a stored sign-in) threw. `last` is the network
 * client's last failure, which tells a 429/5xx answer from a refusal when MSAL's error does not.
 */
export function classifyMsalError(e: unknown, source: Pick<MicrosoftOAuthSource, "id">, last: NetworkFailure | null = null): MsalFailure {
  const cmd = `run \`${reconnectCommand(source.id)}\``;
  const what = describeMsalError(e, last);
  if (last !== null && last.status === 429) {
    return { kind: "rate-limited", message: `the Microsoft identity platform is rate limiting source "${source.id}" (${what})`, retryAfterMs: last.retryAfterMs ?? 30_000 };
  }
  if (e instanceof InteractionRequiredAuthError || (e instanceof AuthError && REFUSED_CODES.has(codeOf(e)))) {
    return { kind: "refused", message: `Microsoft no longer accepts the saved sign-in of source "${source.id}" (expired, revoked or consent withdrawn: ${what}); ${cmd} to reconnect` };
  }
  if (e instanceof ClientConfigurationError) {
    return { kind: "config", message: `the Microsoft sign-in settings of source "${source.id}" are not usable (${what}): check its authority and tenant, then ${cmd}` };
  }
  if (e instanceof AuthError && CLIENT_CODES.has(codeOf(e))) {
    return { kind: "refused", message: `Microsoft refused the application of source "${source.id}" (${what}): check its clientId (an app registration with public client flows allowed), then ${cmd}` };
  }
  const status = last?.status ?? null;
  const transient = (): MsalFailure => ({ kind: "transient", message: `could not reach the Microsoft identity platform for source "${source.id}" (${what})`, status });
  if (status !== null && status >= 500) return transient();
  if (e instanceof ServerError) {
    // A throttled request (429/5xx remembered by MSAL) comes back as a ServerError without an OAuth code.
    const code = codeOf(e);
    if (code === "" || /^\d[\d ]*$/.test(code) || TRANSIENT_CODES.has(code)) return transient();
    return { kind: "refused", message: `Microsoft refused to renew the sign-in of source "${source.id}" (${what}); ${cmd}` };
  }
  return transient();
}

/** What a failed device-code sign-in tells the person at the terminal (nothing was stored). */
export function deviceCodeFailure(e: unknown, source: Pick<MicrosoftOAuthSource, "id">, last: NetworkFailure | null): string {
  const again = `run \`${reconnectCommand(source.id)}\` to try again`;
  const Again = `R${again.slice(1)}`;
  const code = e instanceof AuthError ? codeOf(e) : "";
  switch (code) {
    case "authorization_declined":
    case "access_denied":
      return `The sign-in for source "${source.id}" was declined; nothing was stored. ${Again}.`;
    case "expired_token":
    case "device_code_expired":
    case "user_timeout_reached":
      return `The code for source "${source.id}" expired before the sign-in was completed; nothing was stored. ${Again} and enter the code within its time limit.`;
    case "bad_verification_code":
      return `Microsoft did not recognise the sign-in code for source "${source.id}"; nothing was stored. ${Again}.`;
    case "device_code_polling_cancelled":
      return `The sign-in for source "${source.id}" was cancelled; nothing was stored.`;
  }
  const c = classifyMsalError(e, source, last);
  const what = describeMsalError(e, last);
  if (c.kind === "transient" || c.kind === "rate-limited") return `Could not complete the Microsoft sign-in for source "${source.id}": ${what}. Nothing was stored; check the network (and authority/caCert, if set), then ${again}.`;
  if (c.kind === "config") return `The Microsoft sign-in settings of source "${source.id}" are not usable (${what}): check its authority and tenant; nothing was stored.`;
  if (e instanceof AuthError && CLIENT_CODES.has(codeOf(e)))
    return `Microsoft refused the application of source "${source.id}" (${what}): check its clientId (an app registration with "Allow public client flows" on) and tenant; nothing was stored.`;
  return `The Microsoft sign-in for source "${source.id}" failed (${what}); nothing was stored. ${Again}.`;
}
