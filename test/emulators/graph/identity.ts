/**
 * The Microsoft identity platform as far as MSAL Node's public client needs it (reference §9):
 * OpenID configuration, instance discovery, device-code grant and refresh-token grant, plus the
 * Bearer check of the Graph side (opaque access tokens, 401 InvalidAuthenticationToken).
 */
import { createHmac } from "node:crypto";
import { b64url, randomBytes, uuid } from "./util.ts";

export interface Account {
  upn: string;
  oid: string;
  tid: string;
  displayName: string;
  timeZone: string; // Windows name (mailbox zone)
}

export interface Principal {
  clientId: string;
  upn: string;
  scopes: string[];
}

interface DeviceCode {
  deviceCode: string;
  userCode: string;
  clientId: string;
  scopes: string[];
  tenant: string;
  expiresAt: number;
  state: "pending" | "approved" | "declined" | "redeemed";
  upn?: string;
}

export interface TokenSet {
  token_type: "Bearer";
  scope: string;
  expires_in: number;
  ext_expires_in: number;
  access_token: string;
  refresh_token: string;
  id_token: string;
  client_info: string;
}

export interface OAuthAnswer {
  status: number;
  body: unknown;
}

const CONSUMERS_TID = "9188040d-6c67-4c5b-b112-36a304b66dad";
export const DEVICE_CODE_GRANTS = new Set(["device_code", "urn:ietf:params:oauth:grant-type:device_code"]);

export class Identity {
  readonly clients = new Set<string>();
  readonly accounts = new Map<string, Account>();
  private readonly codes = new Map<string, DeviceCode>(); // by device_code
  private readonly refresh = new Map<string, { clientId: string; upn: string; scopes: string[]; revoked: boolean }>();
  private readonly access = new Map<string, { principal: Principal; expiresAt: number }>();
  tokenRequests = 0;

  constructor(
    private readonly now: () => number,
    private readonly rng: () => number,
    private readonly baseUrl: () => string,
    private readonly accessTtlSec = 3599,
    private readonly deviceIntervalSec = 5,
  ) {}

  addAccount(upn: string, timeZone: string): Account {
    const a: Account = { upn, oid: uuid(this.rng), tid: uuid(this.rng), displayName: upn.split("@")[0]!, timeZone };
    this.accounts.set(upn, a);
    return a;
  }

  private account(upn: string): Account {
    const a = this.accounts.get(upn);
    if (!a) throw new Error(`Graph emulator: unknown account ${upn}`);
    return a;
  }

  // OpenID metadata -------------------------------------------------------------------------------
  openidConfiguration(tenant: string): unknown {
    const b = this.baseUrl();
    return {
      token_endpoint: `${b}${tenant}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
      jwks_uri: `${b}${tenant}/discovery/v2.0/keys`,
      response_modes_supported: ["query", "fragment", "form_post"],
      subject_types_supported: ["pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
      response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
      scopes_supported: ["openid", "profile", "email", "offline_access"],
      issuer: `${b}{tenantid}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${b}oidc/userinfo`,
      authorization_endpoint: `${b}${tenant}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${b}${tenant}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${b}${tenant}/oauth2/v2.0/logout`,
      claims_supported: ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
      kerberos_endpoint: `${b}${tenant}/kerberos`,
      tenant_region_scope: "EU",
      cloud_instance_name: "microsoftonline.com",
      cloud_graph_host_name: "graph.windows.net",
      msgraph_host: this.baseUrl().replace(/^https:\/\//, "").replace(/\/$/, ""),
    };
  }

  /** `/common/discovery/instance`: what MSAL asks the public cloud for without knownAuthorities. */
  instanceDiscovery(authorizationEndpoint: string | null): unknown {
    const host = new URL(this.baseUrl()).host;
    const tenant = authorizationEndpoint ? new URL(authorizationEndpoint).pathname.split("/")[1] ?? "common" : "common";
    return {
      tenant_discovery_endpoint: `${this.baseUrl()}${tenant}/v2.0/.well-known/openid-configuration`,
      "api-version": "1.1",
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    };
  }

  // Device code (RFC 8628 as implemented by Entra) --------------------------------------------------
  deviceCode(tenant: string, form: URLSearchParams): OAuthAnswer {
    const clientId = form.get("client_id") ?? "";
    if (!this.clients.has(clientId)) return this.oauthError(400, "unauthorized_client", `AADSTS700016: Application with identifier '${clientId}' was not found in the directory.`, 700016);
    const userCode = Array.from({ length: 9 }, () => "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[Math.floor(this.rng() * 32)]).join("");
    const deviceCode = "DAQABAAEAAAD" + b64url(randomBytes(this.rng, 48));
    const expiresIn = 900;
    this.codes.set(deviceCode, {
      deviceCode, userCode, clientId, tenant, scopes: (form.get("scope") ?? "").split(" ").filter(Boolean),
      expiresAt: this.now() + expiresIn * 1000, state: "pending",
    });
    const verificationUri = `${this.baseUrl()}devicelogin`;
    return {
      status: 200,
      body: {
        user_code: userCode, device_code: deviceCode, verification_uri: verificationUri, expires_in: expiresIn, interval: this.deviceIntervalSec,
        message: `To sign in, use a web browser to open the page ${verificationUri} and enter the code ${userCode} to authenticate.`,
      },
    };
  }

  get pendingDeviceCodes(): Array<{ userCode: string; clientId: string; expiresAt: number }> {
    return [...this.codes.values()].filter((c) => c.state === "pending" && c.expiresAt > this.now())
      .map((c) => ({ userCode: c.userCode, clientId: c.clientId, expiresAt: c.expiresAt }));
  }

  private byUserCode(userCode: string): DeviceCode {
    const c = [...this.codes.values()].find((x) => x.userCode === userCode.replace(/-/g, "").toUpperCase());
    if (!c) throw new Error(`Graph emulator: unknown user code ${userCode}`);
    return c;
  }
  approve(userCode: string, upn: string): void {
    this.account(upn);
    const c = this.byUserCode(userCode);
    c.state = "approved";
    c.upn = upn;
  }
  decline(userCode: string): void {
    this.byUserCode(userCode).state = "declined";
  }

  // Token endpoint ---------------------------------------------------------------------------------
  token(tenant: string, form: URLSearchParams): OAuthAnswer {
    this.tokenRequests++;
    const grant = form.get("grant_type") ?? "";
    const clientId = form.get("client_id") ?? "";
    if (!this.clients.has(clientId)) return this.oauthError(400, "unauthorized_client", `AADSTS700016: Application with identifier '${clientId}' was not found in the directory.`, 700016);
    if (DEVICE_CODE_GRANTS.has(grant)) {
      const c = this.codes.get(form.get("device_code") ?? "");
      if (!c || c.clientId !== clientId) return this.oauthError(400, "bad_verification_code", "AADSTS70019: Verification code is invalid.", 70019);
      if (c.state === "redeemed") return this.oauthError(400, "invalid_grant", "AADSTS54005: OAuth2 Authorization code was already redeemed.", 54005);
      if (c.expiresAt <= this.now()) return this.oauthError(400, "expired_token", "AADSTS70020: The provided value for the input parameter 'device_code' is not valid. This device code has expired.", 70020);
      if (c.state === "declined") return this.oauthError(400, "authorization_declined", "AADSTS70000: The user declined the authorization.", 70000);
      if (c.state === "pending") return this.oauthError(400, "authorization_pending", "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.", 70016);
      c.state = "redeemed";
      return { status: 200, body: this.issue(clientId, c.upn!, scopesOf(form.get("scope"), c.scopes), tenant) };
    }
    if (grant === "refresh_token") {
      const rt = this.refresh.get(form.get("refresh_token") ?? "");
      if (!rt || rt.clientId !== clientId) return this.oauthError(400, "invalid_grant", "AADSTS9002313: Invalid request. Request is malformed or invalid.", 9002313);
      if (rt.revoked) {
        return this.oauthError(400, "invalid_grant",
          "AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
          50173, "bad_token");
      }
      // Each use returns a new refresh token; the old one stays valid (reference §9).
      return { status: 200, body: this.issue(clientId, rt.upn, scopesOf(form.get("scope"), rt.scopes), tenant) };
    }
    return this.oauthError(400, "unsupported_grant_type", `AADSTS70003: The app requested an unsupported grant type '${grant}'.`, 70003);
  }

  issue(clientId: string, upn: string, scopes: string[], tenant = "common"): TokenSet {
    const a = this.account(upn);
    const all = [...new Set(scopes.map(normScope).filter((s) => !["openid", "profile", "offline_access"].includes(s)))];
    const accessToken = "EwB" + b64url(randomBytes(this.rng, 60));
    const refreshToken = "M.C5" + b64url(randomBytes(this.rng, 60));
    this.access.set(accessToken, { principal: { clientId, upn, scopes: all }, expiresAt: this.now() + this.accessTtlSec * 1000 });
    this.refresh.set(refreshToken, { clientId, upn, scopes: all, revoked: false });
    const tid = tenant === "consumers" ? CONSUMERS_TID : a.tid;
    return {
      token_type: "Bearer",
      scope: all.join(" "),
      expires_in: this.accessTtlSec,
      ext_expires_in: this.accessTtlSec,
      access_token: accessToken,
      refresh_token: refreshToken,
      id_token: this.idToken(clientId, a, tid),
      client_info: b64url(JSON.stringify({ uid: a.oid, utid: tid })),
    };
  }

  /** HS256-signed id_token (MSAL Node parses its claims but does not verify the signature). */
  private idToken(clientId: string, a: Account, tid: string): string {
    const iat = Math.floor(this.now() / 1000);
    const header = b64url(JSON.stringify({ typ: "JWT", alg: "HS256", kid: "graph-emulator" }));
    const claims = b64url(JSON.stringify({
      aud: clientId, iss: `${this.baseUrl()}${tid}/v2.0`, iat, nbf: iat, exp: iat + 3600,
      name: a.displayName, oid: a.oid, preferred_username: a.upn, sub: b64url(a.oid + clientId).slice(0, 43), tid, ver: "2.0",
    }));
    const sig = b64url(createHmac("sha256", "graph-emulator").update(`${header}.${claims}`).digest());
    return `${header}.${claims}.${sig}`;
  }

  revokeAll(upn: string): void {
    for (const rt of this.refresh.values()) if (rt.upn === upn) rt.revoked = true;
    for (const [k, at] of this.access) if (at.principal.upn === upn) this.access.delete(k);
  }
  expireAccessTokens(): void {
    for (const at of this.access.values()) at.expiresAt = Math.min(at.expiresAt, this.now() - 1);
  }

  /** Bearer check for Graph requests: undefined = 401 InvalidAuthenticationToken. */
  principal(authorization: string | undefined): Principal | undefined {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
    if (!m) return undefined;
    const at = this.access.get(m[1]!);
    if (!at || at.expiresAt <= this.now()) return undefined;
    return at.principal;
  }

  private oauthError(status: number, error: string, description: string, code: number, suberror?: string): OAuthAnswer {
    const traceId = uuid(this.rng);
    const correlationId = uuid(this.rng);
    const timestamp = new Date(this.now()).toISOString().replace("T", " ").slice(0, 19) + "Z";
    return {
      status,
      body: {
        error,
        error_description: `${description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
        error_codes: [code],
        timestamp,
        trace_id: traceId,
        correlation_id: correlationId,
        ...(suberror ? { suberror } : {}),
        error_uri: `${this.baseUrl()}error?code=${code}`,
      },
    };
  }
}

/** `https://graph.microsoft.com/Calendars.ReadWrite` → `Calendars.ReadWrite`. */
function normScope(s: string): string {
  return s.replace(/^https:\/\/graph\.microsoft\.com\//i, "");
}
function scopesOf(requested: string | null, granted: string[]): string[] {
  const r = (requested ?? "").split(" ").filter(Boolean);
  return r.length > 0 ? r : granted;
}
