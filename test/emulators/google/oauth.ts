/**
 * OAuth 2.0 for installed apps (reference §9): authorize (loopback redirect, PKCE S256, auto
 * consent), token (authorization_code, refresh_token), revoke, and Bearer validation for the API.
 */
import { createHash } from "node:crypto";
import { opaqueToken } from "./util.ts";

export const SCOPES = {
  full: "https://www.googleapis.com/auth/calendar",
  events: "https://www.googleapis.com/auth/calendar.events",
  readonly: "https://www.googleapis.com/auth/calendar.readonly",
  eventsReadonly: "https://www.googleapis.com/auth/calendar.events.readonly",
  settingsReadonly: "https://www.googleapis.com/auth/calendar.settings.readonly",
};
const KNOWN_SCOPES = new Set([...Object.values(SCOPES), "openid", "email", "profile",
  "https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/userinfo.profile"]);

const TESTING_REFRESH_TTL_MS = 7 * 86_400_000;
const CODE_TTL_MS = 10 * 60_000;
const REFRESH_TOKEN_CAP = 100;
const UNUSED_REFRESH_TTL_MS = 183 * 86_400_000;

interface Client { clientId: string; clientSecret: string; testing: boolean }
interface Grant { id: number; clientId: string; email: string; scopes: string[]; revoked: boolean }
interface RefreshToken { grant: Grant; issuedAt: number; lastUsed: number; revoked: boolean }
interface AccessToken { grant: Grant; expiresAt: number; revoked: boolean }
interface Code {
  clientId: string; redirectUri: string; scopes: string[]; email: string; challenge?: string; method?: string;
  offline: boolean; forceConsent: boolean; expiresAt: number; used: boolean;
}

export interface Principal { email: string; clientId: string; scopes: string[] }

export interface HttpAnswer { status: number; headers: Record<string, string>; body: string }

const json = (status: number, body: unknown): HttpAnswer => ({
  status, headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-cache, no-store, max-age=0, must-revalidate" }, body: JSON.stringify(body),
});
const page = (status: number, text: string): HttpAnswer => ({ status, headers: { "content-type": "text/html; charset=utf-8" }, body: `<!doctype html><title>Error</title><p>${text}</p>` });
const invalidGrant = (description = "Token has been expired or revoked."): HttpAnswer => json(400, { error: "invalid_grant", error_description: description });

/** Loopback redirect URIs only: http://127.0.0.1:PORT, http://[::1]:PORT or localhost (§9). */
function isLoopback(uri: string): boolean {
  try {
    const u = new URL(uri);
    return u.protocol === "http:" && ["127.0.0.1", "[::1]", "localhost"].includes(u.hostname);
  } catch {
    return false;
  }
}

export class OAuth {
  private readonly clients = new Map<string, Client>();
  private readonly codes = new Map<string, Code>();
  private readonly refreshTokens = new Map<string, RefreshToken>();
  private readonly accessTokens = new Map<string, AccessToken>();
  private readonly consented = new Set<string>();
  private grantSeq = 0;
  consentEmail: string | undefined;
  deny = false;
  tokenRequests = 0;

  constructor(
    private readonly now: () => number,
    private readonly rng: () => number,
    private readonly accessTtlSec: number,
    private readonly accountExists: (email: string) => boolean,
  ) {}

  addClient(c: { clientId: string; clientSecret: string; testing?: boolean }): void {
    this.clients.set(c.clientId, { clientId: c.clientId, clientSecret: c.clientSecret, testing: c.testing ?? false });
  }

  private issueAccess(grant: Grant): { access_token: string; expires_in: number } {
    const token = opaqueToken(this.rng, "ya29.a0", 48);
    this.accessTokens.set(token, { grant, expiresAt: this.now() + this.accessTtlSec * 1000, revoked: false });
    return { access_token: token, expires_in: this.accessTtlSec };
  }

  private issueRefresh(grant: Grant): string {
    const token = opaqueToken(this.rng, "1//0", 48);
    this.refreshTokens.set(token, { grant, issuedAt: this.now(), lastUsed: this.now(), revoked: false });
    // At most 100 live refresh tokens per client and account: the oldest is silently invalidated (§9).
    const live = [...this.refreshTokens.values()].filter((t) => !t.revoked && !t.grant.revoked && t.grant.clientId === grant.clientId && t.grant.email === grant.email);
    if (live.length > REFRESH_TOKEN_CAP) live[0]!.revoked = true;
    return token;
  }

  private newGrant(clientId: string, email: string, scopes: string[]): Grant {
    this.consented.add(`${clientId}|${email}`);
    return { id: ++this.grantSeq, clientId, email, scopes, revoked: false };
  }

  /** Skips the browser flow (test set-up). */
  grant(clientId: string, email: string, scopes: string[]): { refresh_token: string; access_token: string; expires_in: number } {
    if (!this.clients.has(clientId)) throw new Error(`unknown client ${clientId}`);
    if (!this.accountExists(email)) throw new Error(`unknown account ${email}`);
    const g = this.newGrant(clientId, email, scopes);
    return { refresh_token: this.issueRefresh(g), ...this.issueAccess(g) };
  }

  /** GET /o/oauth2/v2/auth (§9). */
  authorize(q: URLSearchParams): HttpAnswer {
    const client = this.clients.get(q.get("client_id") ?? "");
    if (!client) return page(401, "Error 401: invalid_client. The OAuth client was not found.");
    const redirectUri = q.get("redirect_uri") ?? "";
    if (!isLoopback(redirectUri)) return page(400, "Error 400: redirect_uri_mismatch / invalid_request: loopback redirect URIs only.");
    if (q.get("response_type") !== "code") return page(400, "Error 400: invalid_request: response_type must be code.");
    const scopes = (q.get("scope") ?? "").split(/\s+/).filter(Boolean);
    if (scopes.length === 0) return page(400, "Error 400: invalid_request: Missing required parameter: scope");
    if (scopes.some((s) => !KNOWN_SCOPES.has(s))) return page(400, "Error 400: invalid_scope: Some requested scopes were invalid.");
    const method = q.get("code_challenge_method") ?? undefined;
    const challenge = q.get("code_challenge") ?? undefined;
    if (challenge !== undefined && method !== undefined && method !== "S256" && method !== "plain") return page(400, "Error 400: invalid_request: Invalid code_challenge_method");
    const target = new URL(redirectUri);
    const state = q.get("state");
    if (this.deny || !this.consentEmail) {
      target.searchParams.set("error", "access_denied");
    } else {
      const code = opaqueToken(this.rng, "4/0A", 40);
      this.codes.set(code, {
        clientId: client.clientId, redirectUri, scopes, email: this.consentEmail,
        ...(challenge !== undefined ? { challenge, method: method ?? "plain" } : {}),
        offline: q.get("access_type") === "offline",
        forceConsent: (q.get("prompt") ?? "").split(/\s+/).includes("consent"),
        expiresAt: this.now() + CODE_TTL_MS, used: false,
      });
      target.searchParams.set("code", code);
      target.searchParams.set("scope", scopes.join(" "));
    }
    if (state !== null) target.searchParams.set("state", state);
    return { status: 302, headers: { location: target.toString(), "content-type": "text/html; charset=utf-8" }, body: "" };
  }

  private clientOf(form: URLSearchParams, authorization: string | undefined): Client | undefined {
    let id = form.get("client_id") ?? undefined;
    let secret = form.get("client_secret") ?? undefined;
    if (authorization?.startsWith("Basic ")) {
      const [i, s] = Buffer.from(authorization.slice(6), "base64").toString().split(":");
      id = decodeURIComponent(i ?? "");
      secret = decodeURIComponent(s ?? "");
    }
    const c = this.clients.get(id ?? "");
    return c && c.clientSecret === secret ? c : undefined;
  }

  private refreshValid(rt: RefreshToken | undefined, client: Client): rt is RefreshToken {
    if (!rt || rt.revoked || rt.grant.revoked || rt.grant.clientId !== client.clientId) return false;
    // "Testing" publishing status: refresh tokens expire 7 days after issue (§9).
    if (client.testing && this.now() >= rt.issuedAt + TESTING_REFRESH_TTL_MS) return false;
    // Unused for six months: invalid (§9).
    if (this.now() >= rt.lastUsed + UNUSED_REFRESH_TTL_MS) return false;
    rt.lastUsed = this.now();
    return true;
  }

  /** POST /token (§9). */
  token(form: URLSearchParams, authorization: string | undefined): HttpAnswer {
    this.tokenRequests++;
    const client = this.clientOf(form, authorization);
    if (!client) return json(401, { error: "invalid_client", error_description: "Unauthorized" });
    const grantType = form.get("grant_type");
    if (grantType === "authorization_code") {
      const code = this.codes.get(form.get("code") ?? "");
      if (!code || code.clientId !== client.clientId) return invalidGrant("Malformed auth code.");
      if (code.used || this.now() > code.expiresAt) return invalidGrant("Bad Request");
      if (form.get("redirect_uri") !== code.redirectUri) return json(400, { error: "redirect_uri_mismatch", error_description: "Bad Request" });
      if (code.challenge !== undefined) {
        const verifier = form.get("code_verifier");
        if (!verifier) return invalidGrant("Missing code verifier.");
        const derived = code.method === "S256" ? createHash("sha256").update(verifier).digest("base64url") : verifier;
        if (derived !== code.challenge) return invalidGrant("Invalid code verifier.");
      }
      code.used = true; // single use
      const first = !this.consented.has(`${client.clientId}|${code.email}`);
      const grant = this.newGrant(client.clientId, code.email, code.scopes);
      const body: Record<string, unknown> = { ...this.issueAccess(grant) };
      // A refresh token only with access_type=offline, on first consent or prompt=consent (§9).
      if (code.offline && (first || code.forceConsent)) body.refresh_token = this.issueRefresh(grant);
      body.scope = code.scopes.join(" ");
      body.token_type = "Bearer";
      return json(200, body);
    }
    if (grantType === "refresh_token") {
      const rt = this.refreshTokens.get(form.get("refresh_token") ?? "");
      if (!this.refreshValid(rt, client)) return invalidGrant();
      return json(200, { ...this.issueAccess(rt.grant), scope: rt.grant.scopes.join(" "), token_type: "Bearer" });
    }
    return json(400, { error: "unsupported_grant_type", error_description: `Invalid grant_type: ${grantType ?? ""}` });
  }

  /** POST /revoke?token= : revokes the whole grant behind a refresh or access token. */
  revoke(token: string | null): HttpAnswer {
    const t = this.refreshTokens.get(token ?? "") ?? this.accessTokens.get(token ?? "");
    if (!t || t.revoked || t.grant.revoked) return json(400, { error: "invalid_token", error_description: "Token expired or revoked" });
    t.grant.revoked = true;
    return json(200, {});
  }

  revokeRefreshToken(token: string): void {
    const t = this.refreshTokens.get(token);
    if (!t) throw new Error("unknown refresh token");
    t.grant.revoked = true;
  }

  revokeAll(email: string): void {
    for (const t of [...this.refreshTokens.values(), ...this.accessTokens.values()]) if (t.grant.email === email) t.grant.revoked = true;
  }

  /** Every issued access token now answers 401 (the client still believes it valid). */
  expireAccessTokens(): void {
    for (const t of this.accessTokens.values()) t.revoked = true;
  }

  /** Bearer validation for API requests; undefined = 401 authError. */
  authenticate(authorization: string | undefined): Principal | undefined {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
    const t = m ? this.accessTokens.get(m[1]!) : undefined;
    if (!t || t.revoked || t.grant.revoked || this.now() >= t.expiresAt) return undefined;
    return { email: t.grant.email, clientId: t.grant.clientId, scopes: t.grant.scopes };
  }
}
