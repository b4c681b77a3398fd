/**
 * Google OAuth basics shared by `calgate auth google` (auth-flow.ts) and the adapter's token plumbing
 * (auth-session.ts): endpoints, the OAuth2Client factory (with the source's caCert), the stored token
 * and the "Testing app" expiry warning. Import these through ./auth.ts.
 */
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { trustContext } from "../tls.ts";
import { OAuth2Client, type OAuth2ClientOptions } from "google-auth-library";
import type { GoogleSourceConfig } from "../../config/schema.ts";

export const GOOGLE_DEFAULTS = {
  authUrl: "https://accounts.google.com/o/oauth2/v2/auth",
  tokenUrl: "https://oauth2.googleapis.com/token",
  revokeUrl: "https://oauth2.googleapis.com/revoke",
  scope: "https://www.googleapis.com/auth/calendar",
} as const;

/** The secret kind the refresh token is stored under (SecretStore / SourceContext.secrets). */
export const GOOGLE_TOKEN_KIND = "oauth";

/** Refresh tokens of an OAuth app in "Testing" publishing status stop working this long after consent. */
export const TESTING_APP_TOKEN_LIFETIME_MS = 7 * 24 * 3600_000;
/** tokenExpiryWarning speaks up when less than this is left. */
export const EXPIRY_WARNING_MS = 2 * 24 * 3600_000;

/** What the OAuth code needs of a google source (a GoogleSourceConfig fits). */
export type GoogleOAuthSource = Pick<GoogleSourceConfig, "id" | "clientId" | "clientSecret" | "authUrl" | "tokenUrl" | "caCert" | "testingApp">;

/** The secret stored for a connected source (JSON, encrypted at rest). */
export interface StoredGoogleToken {
  refresh_token: string;
  /** Space-separated scopes Google granted. */
  scope: string;
  /** When the user consented (ms since the epoch). */
  obtained_at: number;
  /** The OAuth client the token belongs to (a token works only with the client that obtained it). */
  client_id: string;
}

/**
 * A failure meant for the person at the terminal: its message says what happened and what to do.
 * The CLI prints `stack ?? message`; the stack is the message alone, so no trace clutters the advice.
 */
export class GoogleAuthError extends Error {
  override name = "GoogleAuthError";
  constructor(message: string) {
    super(message);
    this.stack = message;
  }
}

/** The command that (re)connects a source, for messages. */
export const reconnectCommand = (sourceId: string): string => `calgate auth google ${sourceId}`;

export function googleEndpoints(source: Pick<GoogleOAuthSource, "authUrl" | "tokenUrl">): { authUrl: string; tokenUrl: string; revokeUrl: string } {
  const authUrl = source.authUrl ?? GOOGLE_DEFAULTS.authUrl;
  const tokenUrl = source.tokenUrl ?? GOOGLE_DEFAULTS.tokenUrl;
  const revokeUrl = source.tokenUrl ? new URL("/revoke", source.tokenUrl).toString() : GOOGLE_DEFAULTS.revokeUrl;
  return { authUrl, tokenUrl, revokeUrl };
}

/** A fetch agent trusting the system roots plus the PEM file at `caCert` (TLS checks stay on). */
function agentFor(caCert: string): (url: URL) => http.Agent {
  let pem: string;
  try {
    pem = readFileSync(caCert, "utf8");
  } catch (e) {
    throw new GoogleAuthError(`cannot read caCert "${caCert}": ${(e as Error).message}`);
  }
  const tlsAgent = new https.Agent({ secureContext: trustContext(pem, true), keepAlive: true });
  return (url) => (url.protocol === "https:" ? tlsAgent : http.globalAgent);
}

/** OAuth2Client options for a source: its client, endpoints, optional caCert, and a request timeout. */
export function oauthClientOptions(source: GoogleOAuthSource, redirectUri?: string): OAuth2ClientOptions {
  const ep = googleEndpoints(source);
  return {
    clientId: source.clientId,
    clientSecret: source.clientSecret,
    ...(redirectUri !== undefined ? { redirectUri } : {}),
    endpoints: { oauth2AuthBaseUrl: ep.authUrl, oauth2TokenUrl: ep.tokenUrl, oauth2RevokeUrl: ep.revokeUrl },
    // gaxios (node-fetch underneath) takes an agent or a per-URL agent function; an explicit agent
    // bypasses gaxios's proxy handling, so it is only set when a caCert is configured.
    transporterOptions: { timeout: 30_000, ...(source.caCert ? { agent: agentFor(source.caCert) } : {}) },
  };
}

/** An OAuth2Client for the source's OAuth client and endpoints (no credentials set). */
export function oauthClient(source: GoogleOAuthSource, redirectUri?: string): OAuth2Client {
  return new OAuth2Client(oauthClientOptions(source, redirectUri));
}

/** Parses the stored secret; throws an Error saying what is wrong when it is not a StoredGoogleToken. */
export function parseStoredToken(s: string): StoredGoogleToken {
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    throw new Error("the stored Google token is not JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("the stored Google token is not a JSON object");
  const o = v as Record<string, unknown>;
  const want = (key: keyof StoredGoogleToken, type: "string" | "number"): void => {
    const x = o[key];
    if (typeof x !== type || (type === "string" && x === "") || (type === "number" && !Number.isFinite(x))) {
      throw new Error(`the stored Google token has no valid "${key}" (expected a ${type === "string" ? "non-empty string" : "number"})`);
    }
  };
  want("refresh_token", "string");
  want("scope", "string");
  want("obtained_at", "number");
  want("client_id", "string");
  return { refresh_token: o.refresh_token as string, scope: o.scope as string, obtained_at: o.obtained_at as number, client_id: o.client_id as string };
}

export const serializeToken = (t: StoredGoogleToken): string =>
  JSON.stringify({ refresh_token: t.refresh_token, scope: t.scope, obtained_at: t.obtained_at, client_id: t.client_id });

/** When a Testing app's token stops working (ms), or null when the source is not a Testing app. */
export function tokenExpiresAt(token: StoredGoogleToken, source: Pick<GoogleOAuthSource, "testingApp">): number | null {
  return source.testingApp === true ? token.obtained_at + TESTING_APP_TOKEN_LIFETIME_MS : null;
}

/**
 * For an OAuth app in Testing status (source.testingApp), Google expires refresh tokens 7 days after
 * consent: a plain-words warning once less than two days are left (or the token already expired), else null.
 */
export function tokenExpiryWarning(token: StoredGoogleToken, source: Pick<GoogleOAuthSource, "id" | "testingApp">, now: number): string | null {
  const expires = tokenExpiresAt(token, source);
  if (expires === null || expires - now >= EXPIRY_WARNING_MS) return null;
  const when = new Date(expires).toISOString().replace(/\.\d{3}Z$/, "Z").replace("T", " ").replace("Z", " UTC");
  const why = "its OAuth app is in Testing status, where Google ends sign-ins after 7 days";
  return expires <= now
    ? `The Google sign-in of source "${source.id}" expired on ${when} (${why}); run \`${reconnectCommand(source.id)}\` to reconnect.`
    : `The Google sign-in of source "${source.id}" expires on ${when} (${why}); run \`${reconnectCommand(source.id)}\` before then to keep it syncing.`;
}
