/**
 * `calgate auth microsoft <id>`: MSAL's device code flow. The person opens the verification page on
 * any device and enters the code calgate prints (nothing needs a browser or a port on this machine, so
 * it works over SSH); MSAL polls the token endpoint until the sign-in completes, is declined, or the
 * code expires. Only a completed sign-in stores anything: the token cache ("msal-cache") and then the
 * account record ("msal-account"). Import through ./auth.ts.
 */
import type { Writable } from "node:stream";
import { PublicClientApplication, type AuthenticationResult, type DeviceCodeRequest } from "@azure/msal-node";
import type { SecretAccess } from "../adapter.ts";
import { MICROSOFT_DEFAULTS, MSAL_ACCOUNT_KIND, MicrosoftAuthError, msalConfiguration, serializeAccount, type MicrosoftOAuthSource, type StoredMicrosoftAccount } from "./auth-core.ts";
import { secretCachePlugin } from "./auth-cache.ts";
import { deviceCodeFailure, shortDescription } from "./auth-errors.ts";
import { CalgateNetworkClient } from "./auth-network.ts";

export interface DeviceCodeIo {
  /** Where the verification URL and the code are printed. */
  readonly stdout: Writable;
  /** Ends the wait (e.g. Ctrl-C); nothing is stored. */
  readonly signal?: AbortSignal;
}

/** The text shown to the person: MSAL's (Microsoft's) message, or one built from the URL and the code. */
export function deviceCodePrompt(r: { message?: string; verificationUri?: string; userCode?: string; expiresIn?: number }): string {
  const mins = typeof r.expiresIn === "number" && r.expiresIn > 0 ? Math.max(1, Math.round(r.expiresIn / 60)) : null;
  const base = r.message && r.message.trim() !== "" ? r.message.trim() : `To sign in, open ${r.verificationUri} in a web browser and enter the code ${r.userCode}.`;
  return `${base}\nWaiting for the sign-in to complete${mins !== null ? ` (the code is valid for ${mins} minute${mins === 1 ? "" : "s"})` : ""}...\n`;
}

/**
 * Signs the source in with a device code and stores its token cache and account. Resolves with the
 * account's sign-in name; rejects with a MicrosoftAuthError (plain words, nothing stored) when the
 * sign-in is declined, expires, is cancelled or cannot reach Microsoft.
 */
export async function deviceCodeAuth(source: MicrosoftOAuthSource, io: DeviceCodeIo, secrets: SecretAccess): Promise<{ username: string }> {
  const networkClient = new CalgateNetworkClient({ caCert: source.caCert });
  const cachePlugin = secretCachePlugin(secrets, "fresh");
  const pca = new PublicClientApplication(msalConfiguration(source, { networkClient, cachePlugin }));
  try {
    const result = await acquire(pca, source, io, networkClient);
    const account = result.account;
    if (account === null || cachePlugin.writes === 0) {
      throw new MicrosoftAuthError(`Microsoft completed the sign-in for source "${source.id}" but returned no account to keep; nothing usable was stored. Run \`calgate auth microsoft ${source.id}\` again.`);
    }
    const username = account.username || account.name || "account without a sign-in name";
    const stored: StoredMicrosoftAccount = { homeAccountId: account.homeAccountId, username, obtained_at: Date.now(), client_id: source.clientId };
    // The cache was stored by the plugin when MSAL saved the tokens; the account record goes last, so
    // a running session switches to the new sign-in only once its cache is in place.
    await secrets.set(MSAL_ACCOUNT_KIND, serializeAccount(stored));
    return { username };
  } finally {
    networkClient.close();
  }
}

async function acquire(pca: PublicClientApplication, source: MicrosoftOAuthSource, io: DeviceCodeIo, net: CalgateNetworkClient): Promise<AuthenticationResult> {
  if (io.signal?.aborted) throw new MicrosoftAuthError(`The sign-in for source "${source.id}" was cancelled; nothing was stored.`);
  let failEarly: (e: Error) => void = () => {};
  const early = new Promise<never>((_, reject) => (failEarly = reject));
  const request: DeviceCodeRequest = {
    scopes: [...MICROSOFT_DEFAULTS.scopes],
    deviceCodeCallback: (r) => {
      if (!r.userCode || !r.deviceCode) {
        // The device code endpoint answered with an error (MSAL passes the empty answer on): stop now.
        request.cancel = true;
        failEarly(new MicrosoftAuthError(startFailure(source, net)));
        return;
      }
      io.stdout.write(deviceCodePrompt(r));
    },
  };
  const onAbort = (): void => {
    request.cancel = true;
    failEarly(new MicrosoftAuthError(`The sign-in for source "${source.id}" was cancelled; nothing was stored.`));
  };
  io.signal?.addEventListener("abort", onAbort, { once: true });
  const flow = pca.acquireTokenByDeviceCode(request);
  try {
    const result = await Promise.race([flow, early]);
    if (result === null) throw new MicrosoftAuthError(`The Microsoft sign-in for source "${source.id}" returned nothing; nothing was stored.`);
    return result;
  } catch (e) {
    flow.catch(() => {}); // after an early failure MSAL stops on its own (request.cancel)
    if (e instanceof MicrosoftAuthError) throw e;
    throw new MicrosoftAuthError(deviceCodeFailure(e, source, net.lastFailure));
  } finally {
    io.signal?.removeEventListener("abort", onAbort);
  }
}

function startFailure(source: MicrosoftOAuthSource, net: CalgateNetworkClient): string {
  const f = net.lastFailure;
  const what = f ? `${f.status === null ? "" : `HTTP ${f.status} `}${f.error}${f.description ? `: ${shortDescription(f.description)}` : ""}` : "no code in the answer";
  const hint = f && (f.error === "invalid_client" || f.error === "unauthorized_client") ? ` Check clientId (an app registration with "Allow public client flows" on) and tenant.` : "";
  return `Microsoft did not start the sign-in for source "${source.id}" (${what}); nothing was stored.${hint}`;
}
