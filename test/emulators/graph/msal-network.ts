/**
 * A small MSAL `INetworkModule` over node:https that trusts an extra CA. MSAL Node 7 uses the
 * global fetch without agent options, so NODE_EXTRA_CA_CERTS-style trust has to come through
 * `system.networkClient` (facts recorded in the Microsoft source issue). Usage:
 *
 *   new PublicClientApplication({
 *     auth: { clientId, authority: emu.authority + "common", knownAuthorities: [emu.host] },
 *     system: { networkClient: new CaNetworkClient(emu.caCert) },
 *   });
 *
 * MSAL reads `status`, lower-case `headers` and the parsed JSON `body`; for non-2xx answers of
 * the token endpoint it still expects the JSON body (the OAuth error), so the body is always parsed.
 */
import https from "node:https";
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from "@azure/msal-node";

export class CaNetworkClient implements INetworkModule {
  /** Every request MSAL made (method and URL), for tests that check MSAL stays on the emulator. */
  readonly calls: Array<{ method: string; url: string }> = [];
  private readonly agent: https.Agent;

  constructor(ca: string | string[], private readonly timeoutMs = 10_000) {
    this.agent = new https.Agent({ ca, keepAlive: false });
  }

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.send<T>("GET", url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>("POST", url, options);
  }

  private send<T>(method: string, url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    this.calls.push({ method, url });
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      if (u.protocol !== "https:") {
        reject(new Error(`CaNetworkClient: refusing non-https URL ${url}`));
        return;
      }
      const body = options?.body;
      const headers: Record<string, string | number> = { ...(options?.headers ?? {}) };
      if (body !== undefined) headers["content-length"] = Buffer.byteLength(body);
      const req = https.request(u, { method, headers, agent: this.agent, timeout: timeout ?? this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const outHeaders: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) outHeaders[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
          let parsed: unknown;
          try {
            parsed = text === "" ? {} : JSON.parse(text);
          } catch {
            reject(new Error(`CaNetworkClient: ${method} ${url} answered ${res.statusCode} with a non-JSON body`));
            return;
          }
          resolve({ status: res.statusCode ?? 0, headers: outHeaders, body: parsed as T });
        });
      });
      req.on("timeout", () => req.destroy(new Error(`CaNetworkClient: ${method} ${url} timed out`)));
      req.on("error", reject);
      req.end(body);
    });
  }
}
