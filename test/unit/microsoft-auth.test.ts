/**
 * Microsoft sign-in basics without a network: the authority and MSAL configuration of a source, the
 * encrypted token cache through MSAL's cache plugin (an in-memory SecretAccess), the 90-day idle
 * warning, how MSAL failures are classified, and a session with nothing stored.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AuthError, ClientConfigurationError, InteractionRequiredAuthError, PublicClientApplication, ServerError, type INetworkModule } from "@azure/msal-node";
import { AuthRequired, Transient } from "../../src/sources/adapter.ts";
import {
  IDLE_WARNING_AFTER_MS,
  MSAL_ACCOUNT_KIND,
  MSAL_CACHE_KIND,
  MicrosoftAuthError,
  REFRESH_TOKEN_IDLE_LIFETIME_MS,
  authorityUrl,
  classifyMsalError,
  deviceCodeFailure,
  deviceCodePrompt,
  expiryWarning,
  knownAuthorities,
  microsoftSession,
  msalConfiguration,
  parseStoredAccount,
  secretCachePlugin,
  serializeAccount,
  type NetworkFailure,
  type StoredMicrosoftAccount,
} from "../../src/sources/microsoft/auth.ts";

const SOURCE = { id: "office", clientId: "11111111-2222-3333-4444-555555555555" };
const DAY = 24 * 3600_000;

/** A network client that must never be used. */
const noNetwork: INetworkModule = {
  sendGetRequestAsync: async (url) => assert.fail(`unexpected GET ${url}`),
  sendPostRequestAsync: async (url) => assert.fail(`unexpected POST ${url}`),
};

function memorySecrets(initial: Record<string, string> = {}) {
  const m = new Map(Object.entries(initial));
  let sets = 0;
  return {
    map: m,
    sets: () => sets,
    get: async (k: string) => m.get(k) ?? null,
    set: async (k: string, v: string) => {
      sets++;
      m.set(k, v);
    },
  };
}

test("authorityUrl: Microsoft's authority with the configured tenant; overrides keep their path", () => {
  assert.equal(authorityUrl({}), "https://login.microsoftonline.com/common");
  assert.equal(authorityUrl({ tenant: "consumers" }), "https://login.microsoftonline.com/consumers");
  assert.equal(authorityUrl({ tenant: "organizations" }), "https://login.microsoftonline.com/organizations");
  assert.equal(authorityUrl({ tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47" }), "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47");
  assert.equal(authorityUrl({ authority: "https://127.0.0.1:8443/", tenant: "common" }), "https://127.0.0.1:8443/common");
  assert.equal(authorityUrl({ authority: "https://127.0.0.1:8443", tenant: "contoso.onmicrosoft.com" }), "https://127.0.0.1:8443/contoso.onmicrosoft.com");
  assert.equal(authorityUrl({ authority: "https://idp.example/prefix", tenant: "common" }), "https://idp.example/prefix/common");
  assert.throws(() => authorityUrl({ authority: "http://127.0.0.1:8080/" }), (e: Error) => e instanceof MicrosoftAuthError && /must be an https URL/.test(e.message));
});

test("knownAuthorities: the overridden authority's host and port, so MSAL asks no public cloud for instance discovery", () => {
  assert.deepEqual(knownAuthorities({}), []);
  assert.deepEqual(knownAuthorities({ authority: "https://login.microsoftonline.com" }), []);
  assert.deepEqual(knownAuthorities({ authority: "https://127.0.0.1:8443/" }), ["127.0.0.1:8443"]);
  assert.deepEqual(knownAuthorities({ authority: "https://Login.Example.TEST/" }), ["login.example.test"]);

  const plugin = secretCachePlugin(memorySecrets(), "stored");
  const overridden = msalConfiguration({ ...SOURCE, tenant: "common", authority: "https://127.0.0.1:8443/" }, { networkClient: noNetwork, cachePlugin: plugin });
  assert.equal(overridden.auth.clientId, SOURCE.clientId);
  assert.equal(overridden.auth.authority, "https://127.0.0.1:8443/common");
  assert.deepEqual(overridden.auth.knownAuthorities, ["127.0.0.1:8443"]);
  assert.equal(overridden.auth.cloudDiscoveryMetadata, undefined);
  assert.equal(overridden.system?.networkClient, noNetwork);
  assert.equal(overridden.system?.loggerOptions?.piiLoggingEnabled, false);
  assert.equal(overridden.cache?.cachePlugin, plugin);

  const standard = msalConfiguration({ ...SOURCE, tenant: "consumers" }, { networkClient: noNetwork });
  assert.equal(standard.auth.authority, "https://login.microsoftonline.com/consumers");
  assert.equal(standard.auth.knownAuthorities, undefined);
  assert.equal(standard.cache, undefined);
});

const ENV = "127.0.0.1:8443";
const HOME = "oid-1.tid-1";
/** MSAL's serialized cache for one account (placeholder secrets). */
function cacheJson(accessSecret = "placeholder-access-token"): string {
  return JSON.stringify({
    Account: {
      [`${HOME}-${ENV}-tid-1`]: { home_account_id: HOME, environment: ENV, realm: "tid-1", local_account_id: "oid-1", username: "alice@contoso.example", authority_type: "MSSTS", name: "Alice", client_info: Buffer.from('{"uid":"oid-1","utid":"tid-1"}').toString("base64url"),
        tenantProfiles: [JSON.stringify({ tenantId: "tid-1", localAccountId: "oid-1", name: "Alice", username: "alice@contoso.example", isHomeTenant: true })],
      },
    },
    AccessToken: {
      [`${HOME}-${ENV}-accesstoken-${SOURCE.clientId}-tid-1-calendars.readwrite openid profile offline_access-`]: {
        home_account_id: HOME,
        environment: ENV,
        credential_type: "AccessToken",
        client_id: SOURCE.clientId,
        secret: accessSecret,
        realm: "tid-1",
        target: "Calendars.ReadWrite openid profile offline_access",
        cached_at: "1796176668",
        expires_on: "1796180268",
        extended_expires_on: "1796183868",
        token_type: "Bearer",
      },
    },
    RefreshToken: { [`${HOME}-${ENV}-refreshtoken-${SOURCE.clientId}---`]: { home_account_id: HOME, environment: ENV, credential_type: "RefreshToken", client_id: SOURCE.clientId, secret: "placeholder-refresh-token" } },
    IdToken: {},
    AppMetadata: {},
  });
}

const pcaWith = (plugin: ReturnType<typeof secretCachePlugin>) =>
  new PublicClientApplication(msalConfiguration({ ...SOURCE, tenant: "common", authority: `https://${ENV}/` }, { networkClient: noNetwork, cachePlugin: plugin }));

test("cache plugin (stored): MSAL reads the stored cache on each access and writes back what changed", async () => {
  const secrets = memorySecrets({ [MSAL_CACHE_KIND]: cacheJson() });
  const plugin = secretCachePlugin(secrets, "stored");
  const cache = pcaWith(plugin).getTokenCache();
  const accounts = await cache.getAllAccounts();
  assert.deepEqual(accounts.map((a) => [a.homeAccountId, a.username]), [[HOME, "alice@contoso.example"]]);
  assert.equal(secrets.sets(), 0, "reading changes nothing");

  await cache.removeAccount(accounts[0]!);
  assert.equal(plugin.writes, 1);
  const stored = JSON.parse(secrets.map.get(MSAL_CACHE_KIND)!) as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(stored.Account!), []);
  assert.deepEqual(Object.keys(stored.RefreshToken!), []);
  assert.deepEqual(await cache.getAllAccounts(), []);

  // A new sign-in stored meanwhile is what the next access sees.
  secrets.map.set(MSAL_CACHE_KIND, cacheJson());
  assert.equal((await cache.getAllAccounts()).length, 1);
});

test("cache plugin (stored): a cache stored by someone else during an access is not overwritten", async () => {
  const secrets = memorySecrets({ [MSAL_CACHE_KIND]: cacheJson() });
  const plugin = secretCachePlugin(secrets, "stored");
  const ctx = (changed: boolean) => ({ cacheHasChanged: changed, tokenCache: { serialize: () => "from-this-session", deserialize: () => {} } }) as never;
  await plugin.beforeCacheAccess(ctx(true));
  secrets.map.set(MSAL_CACHE_KIND, "newer-sign-in");
  await plugin.afterCacheAccess(ctx(true));
  assert.equal(secrets.map.get(MSAL_CACHE_KIND), "newer-sign-in");
  assert.equal(plugin.writes, 0);
  await plugin.beforeCacheAccess(ctx(true));
  await plugin.afterCacheAccess(ctx(true));
  assert.equal(secrets.map.get(MSAL_CACHE_KIND), "from-this-session");
  assert.equal(plugin.writes, 1);
});

test("cache plugin (fresh): starts empty, ignoring the stored cache, and stores only what changed", async () => {
  const secrets = memorySecrets({ [MSAL_CACHE_KIND]: cacheJson() });
  const plugin = secretCachePlugin(secrets, "fresh");
  const cache = pcaWith(plugin).getTokenCache();
  assert.deepEqual(await cache.getAllAccounts(), []);
  assert.equal(secrets.sets(), 0);
  assert.equal(secrets.map.get(MSAL_CACHE_KIND), cacheJson());
});

const account = (obtained: number, refreshed?: number): StoredMicrosoftAccount => ({ homeAccountId: HOME, username: "alice@contoso.example", obtained_at: obtained, ...(refreshed !== undefined ? { refreshed_at: refreshed } : {}), client_id: SOURCE.clientId });

test("stored account: JSON round trip; a broken record says what is wrong", () => {
  const a = account(1_700_000_000_000, 1_700_000_100_000);
  assert.deepEqual(parseStoredAccount(serializeAccount(a)), a);
  assert.deepEqual(parseStoredAccount('{"homeAccountId":"x","username":"u","obtained_at":5}'), { homeAccountId: "x", username: "u", obtained_at: 5 });
  assert.throws(() => parseStoredAccount("nope"), /not JSON/);
  assert.throws(() => parseStoredAccount("[]"), /not a JSON object/);
  assert.throws(() => parseStoredAccount('{"username":"u","obtained_at":5}'), /"homeAccountId"/);
  assert.throws(() => parseStoredAccount('{"homeAccountId":"x","obtained_at":"5"}'), /"obtained_at"/);
});

test("expiryWarning: silent for 80 days after the last sign-in or refresh, then plain words with the command", () => {
  const t0 = Date.UTC(2026, 0, 1);
  assert.equal(expiryWarning(account(t0), SOURCE, t0 + 79 * DAY), null);
  assert.equal(expiryWarning(account(t0), SOURCE, t0 + IDLE_WARNING_AFTER_MS), null);
  const soon = expiryWarning(account(t0), SOURCE, t0 + 81 * DAY);
  assert.ok(soon);
  assert.match(soon, /source "office" has not been used since 2026-01-01/);
  assert.match(soon, /ends it on 2026-04-01/);
  assert.match(soon, /`calgate auth microsoft office`/);
  const gone = expiryWarning(account(t0), SOURCE, t0 + REFRESH_TOKEN_IDLE_LIFETIME_MS + DAY);
  assert.ok(gone);
  assert.match(gone, /probably ended it/);
  assert.match(gone, /run `calgate auth microsoft office` to reconnect/);
  // A refresh restarts the clock.
  assert.equal(expiryWarning(account(t0, t0 + 60 * DAY), SOURCE, t0 + 100 * DAY), null);
});

const failure = (status: number | null, error: string, retryAfterMs: number | null = null): NetworkFailure => ({ url: "https://127.0.0.1:8443/common/oauth2/v2.0/token", status, error, description: null, retryAfterMs, at: 0 });

test("classifyMsalError: refusals name the command; network trouble, 5xx and throttling are not refusals", () => {
  const revoked = new InteractionRequiredAuthError("invalid_grant", "", "AADSTS50173: The provided grant has expired due to it being revoked.", "bad_token");
  const r = classifyMsalError(revoked, SOURCE);
  assert.equal(r.kind, "refused");
  assert.match(r.message, /source "office"/);
  assert.match(r.message, /AADSTS50173/);
  assert.match(r.message, /run `calgate auth microsoft office`/);

  const grant = classifyMsalError(new ServerError("invalid_grant", "", "Error(s): 70008 - Timestamp: x - Description: AADSTS70008: expired - Correlation ID: y - Trace ID: z"), SOURCE, failure(400, "invalid_grant"));
  assert.equal(grant.kind, "refused");
  assert.doesNotMatch(grant.message, /Trace ID|Correlation/);
  assert.equal(classifyMsalError(new InteractionRequiredAuthError("no_tokens_found"), SOURCE).kind, "refused");

  const client = classifyMsalError(new ServerError("invalid_client", "", "AADSTS7000218: client_assertion or client_secret required"), SOURCE, failure(401, "invalid_client"));
  assert.equal(client.kind, "refused");
  assert.match(client.message, /check its clientId/);

  const net = classifyMsalError(new AuthError("network_error", "", "Network request failed: connect ECONNREFUSED"), SOURCE, failure(null, "connect ECONNREFUSED"));
  assert.equal(net.kind, "transient");
  assert.match(net.message, /ECONNREFUSED/);
  assert.equal(classifyMsalError(new AuthError("endpoints_resolution_error", ""), SOURCE, failure(null, "self-signed certificate")).kind, "transient");
  assert.match(classifyMsalError(new AuthError("endpoints_resolution_error", ""), SOURCE, failure(null, "self-signed certificate")).message, /self-signed certificate/);
  assert.equal(classifyMsalError(new ServerError("temporarily_unavailable", "", "busy"), SOURCE, failure(503, "temporarily_unavailable")).kind, "transient");
  assert.equal(classifyMsalError(new ServerError("", "", "throttled"), SOURCE).kind, "transient");
  assert.equal(classifyMsalError(new Error("socket hang up"), SOURCE).kind, "transient");

  const limited = classifyMsalError(new ServerError("", "", "too many"), SOURCE, failure(429, "HTTP 429", 7000));
  assert.equal(limited.kind, "rate-limited");
  assert.equal(limited.kind === "rate-limited" && limited.retryAfterMs, 7000);

  assert.equal(classifyMsalError(new ClientConfigurationError("untrusted_authority", "", "not trusted"), SOURCE).kind, "config");
});

test("deviceCodeFailure: declined, expired and bad codes in plain words; nothing stored", () => {
  // MSAL reports the token endpoint's error while polling as post_request_failed with the OAuth error as its message.
  const declined = deviceCodeFailure(new AuthError("post_request_failed", "", "authorization_declined"), SOURCE, failure(400, "authorization_declined"));
  assert.match(declined, /was declined; nothing was stored/);
  assert.match(declined, /`calgate auth microsoft office`/);
  assert.match(deviceCodeFailure(new AuthError("post_request_failed", "", "expired_token"), SOURCE, null), /expired before the sign-in was completed/);
  assert.match(deviceCodeFailure(new AuthError("device_code_expired", ""), SOURCE, null), /expired before the sign-in was completed/);
  assert.match(deviceCodeFailure(new AuthError("post_request_failed", "", "bad_verification_code"), SOURCE, null), /did not recognise the sign-in code/);
  assert.match(deviceCodeFailure(new AuthError("network_error", "", "Network request failed: timeout"), SOURCE, failure(null, "timeout")), /Could not complete the Microsoft sign-in.*Nothing was stored/);
});

test("deviceCodePrompt: Microsoft's message (URL and code) and how long the code lasts", () => {
  const text = deviceCodePrompt({ message: "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD1234 to authenticate.", userCode: "ABCD1234", verificationUri: "https://microsoft.com/devicelogin", expiresIn: 900 });
  assert.match(text, /https:\/\/microsoft\.com\/devicelogin/);
  assert.match(text, /ABCD1234/);
  assert.match(text, /valid for 15 minutes/);
  assert.match(deviceCodePrompt({ userCode: "XYZ", verificationUri: "https://idp.example/device" }), /open https:\/\/idp\.example\/device .*enter the code XYZ/);
});

test("microsoftSession: nothing stored → tokenRefreshed(false, advice) and AuthRequired naming the command", async () => {
  for (const initial of [{}, { [MSAL_ACCOUNT_KIND]: serializeAccount(account(Date.now())) }]) {
    const calls: [boolean, string | undefined][] = [];
    const ctx = { secrets: memorySecrets(initial), tokenRefreshed: async (ok: boolean, message?: string) => void calls.push([ok, message]) };
    const expected = 'source "office" is not connected to Microsoft: run `calgate auth microsoft office`';
    await assert.rejects(microsoftSession(SOURCE, ctx), (e: Error) => e instanceof AuthRequired && e.message === expected);
    assert.deepEqual(calls, [[false, expected]]);
  }
});

test("microsoftSession: a sign-in made with another clientId is not used", async () => {
  const calls: boolean[] = [];
  const secrets = memorySecrets({ [MSAL_CACHE_KIND]: cacheJson(), [MSAL_ACCOUNT_KIND]: serializeAccount({ ...account(Date.now()), client_id: "another-app" }) });
  await assert.rejects(microsoftSession(SOURCE, { secrets, tokenRefreshed: async (ok) => void calls.push(ok) }), (e: Error) => e instanceof AuthRequired && /clientId changed/.test(e.message) && /calgate auth microsoft office/.test(e.message));
  assert.deepEqual(calls, [false]);
});

test("microsoftSession: an identity platform that cannot be reached → Transient, nothing marked", async () => {
  const calls: boolean[] = [];
  const secrets = memorySecrets({ [MSAL_CACHE_KIND]: cacheJson(), [MSAL_ACCOUNT_KIND]: serializeAccount(account(Date.now())) });
  // Port 1 on localhost: connection refused at once, no network needed.
  const session = await microsoftSession({ ...SOURCE, tenant: "common", authority: "https://127.0.0.1:1/" }, { secrets, tokenRefreshed: async (ok) => void calls.push(ok) });
  assert.equal(session.username, "alice@contoso.example");
  await assert.rejects(session.accessToken(true), (e: Error) => e instanceof Transient && /source "office"/.test(e.message) && /ECONNREFUSED/.test(e.message));
  assert.deepEqual(calls, []);
  assert.equal(secrets.map.get(MSAL_CACHE_KIND), cacheJson(), "the stored cache is untouched");
});
