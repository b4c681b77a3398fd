/**
 * `calgate auth google <id>`: Google's installed-app loopback flow with PKCE. A one-shot listener on
 * 127.0.0.1 receives the browser's redirect; on a headless box (SSH) the user pastes the address the
 * browser ended on instead. Whichever arrives first wins. Import through ./auth.ts.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Readable, Writable } from "node:stream";
import { CodeChallengeMethod } from "google-auth-library";
import { GOOGLE_DEFAULTS, GoogleAuthError, oauthClient, reconnectCommand, type GoogleOAuthSource, type StoredGoogleToken } from "./auth-core.ts";

export const LOOPBACK_TIMEOUT_MS = 10 * 60_000;

/** A PKCE pair (RFC 7636, S256): a 43-character base64url verifier and its SHA-256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: pkceChallenge(verifier) };
}

export const pkceChallenge = (verifier: string): string => createHash("sha256").update(verifier, "ascii").digest("base64url");

export const randomState = (): string => randomBytes(24).toString("base64url");

export type RedirectOutcome =
  | { kind: "code"; code: string }
  /** A definite failure: the sign-in cannot go on. */
  | { kind: "error"; message: string }
  /** Not an OAuth redirect at all (e.g. a bare code, or some other text): ask again. */
  | { kind: "unrecognised" };

/**
 * Reads a redirect back from Google: a full URL (`http://127.0.0.1:PORT/?state=..&code=..`), or just its
 * query. The state must match; `error=` (e.g. access_denied) is a failure.
 */
export function parseRedirect(input: string, expectedState: string): RedirectOutcome {
  const text = input.trim();
  let params: URLSearchParams;
  if (/^https?:\/\//i.test(text)) {
    try {
      params = new URL(text).searchParams;
    } catch {
      return { kind: "unrecognised" };
    }
  } else if (/(^|[?&])(code|error|state)=/.test(text)) {
    params = new URLSearchParams(text.slice(text.indexOf("?") + 1));
  } else {
    return { kind: "unrecognised" };
  }
  const state = params.get("state");
  const code = params.get("code");
  const error = params.get("error");
  if (state === null && code === null && error === null) return { kind: "unrecognised" };
  if (state !== expectedState) {
    return { kind: "error", message: "the address does not belong to this sign-in (its state does not match; an old or foreign address?): nothing was stored" };
  }
  if (error !== null) {
    const desc = params.get("error_description");
    if (error === "access_denied") return { kind: "error", message: "Google sign-in was cancelled or access was refused (access_denied): nothing was stored" };
    return { kind: "error", message: `Google sign-in failed (${error}${desc ? `: ${desc}` : ""}): nothing was stored` };
  }
  if (code === null || code === "") return { kind: "error", message: "Google's redirect carries no authorization code: nothing was stored" };
  return { kind: "code", code };
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page the browser shows after the redirect. */
export function resultPage(ok: boolean, message: string): string {
  const title = ok ? "calgate is connected to Google" : "calgate could not connect to Google";
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body style="font-family:sans-serif;max-width:40em;margin:3em auto"><h1>${title}</h1><p>${escapeHtml(message)}</p><p>You can close this window.</p></body></html>`;
}

/** Whether a browser can be opened on this machine: a desktop session, not an SSH login. */
export function browserAvailable(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): boolean {
  if (platform === "darwin") return !env.SSH_CONNECTION && !env.SSH_TTY;
  if (platform === "win32") return false;
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
}

/** Opens `url` with xdg-open / open, detached; false when no browser is available or it cannot start. */
export async function openBrowser(url: string): Promise<boolean> {
  if (!browserAvailable()) return false;
  const cmd = process.platform === "darwin" ? "open" : "xdg-open";
  return new Promise((resolve) => {
    try {
      const child = spawn(cmd, [url], { detached: true, stdio: "ignore" });
      child.once("error", () => resolve(false));
      child.once("spawn", () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}

export interface LoopbackIo {
  stdout: Writable;
  stdin: Readable;
  /** Defaults to openBrowser (only where a browser is available); tests pass `async () => false`. */
  openBrowser?: (url: string) => Promise<boolean>;
  signal?: AbortSignal;
  now?: () => number;
  /** Default LOOPBACK_TIMEOUT_MS (10 minutes). */
  timeoutMs?: number;
}

interface Arrival {
  code: string;
  /** Answers the browser waiting on the listener (absent for a pasted address). */
  reply?: (ok: boolean, message: string) => void;
}

/**
 * The loopback flow for one source: prints the authorization URL (and opens a browser when one is
 * available), waits for the redirect on 127.0.0.1 or a pasted address on stdin, exchanges the code with
 * its PKCE verifier and returns the token to store. Throws GoogleAuthError with advice on failure.
 */
export async function loopbackAuth(source: GoogleOAuthSource, io: LoopbackIo): Promise<StoredGoogleToken> {
  const now = io.now ?? Date.now;
  const timeoutMs = io.timeoutMs ?? LOOPBACK_TIMEOUT_MS;
  const { verifier, challenge } = pkcePair();
  const state = randomState();
  const again = `run \`${reconnectCommand(source.id)}\` again`;

  let settle!: { resolve: (a: Arrival) => void; reject: (e: Error) => void };
  const arrived = new Promise<Arrival>((resolve, reject) => (settle = { resolve, reject }));
  let done = false;
  const finish = (a: Arrival | Error): void => {
    if (done) return;
    done = true;
    if (a instanceof Error) settle.reject(a);
    else settle.resolve(a);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, ok: boolean, message: string): void => {
      res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", connection: "close" });
      res.end(resultPage(ok, message));
    };
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method !== "GET" || url.pathname !== "/") {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8", connection: "close" }).end("Not found\n");
      return;
    }
    if (done) return send(409, false, "This sign-in is already finished; look at the terminal.");
    const out = parseRedirect(url.href, state);
    if (out.kind === "unrecognised") return send(400, false, "This is calgate's sign-in listener: it expects the redirect from Google's sign-in page.");
    if (out.kind === "error") {
      send(400, false, `${out.message}.`);
      return finish(new GoogleAuthError(`${out.message}; ${again}`));
    }
    finish({ code: out.code, reply: (ok, message) => send(ok ? 200 : 400, ok, message) });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  // A pasted address on stdin (SSH sessions: the browser's redirect to this machine's 127.0.0.1 fails).
  let buffered = "";
  const onData = (chunk: Buffer | string): void => {
    buffered += chunk.toString();
    let nl: number;
    while (!done && (nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl).replace(/\r$/, "");
      buffered = buffered.slice(nl + 1);
      if (line.trim() === "") continue;
      const out = parseRedirect(line, state);
      if (out.kind === "code") finish({ code: out.code });
      else if (out.kind === "error") finish(new GoogleAuthError(`${out.message}; ${again}`));
      else io.stdout.write("That is not the address the browser ended on; paste the whole address (http://127.0.0.1:...?state=...&code=...), then press Enter.\n");
    }
  };
  io.stdin.on("data", onData);
  io.stdin.on("error", () => {}); // a closed or broken stdin leaves the browser route open
  io.stdin.resume();

  const timer = setTimeout(() => finish(new GoogleAuthError(`no answer from the browser within ${Math.round(timeoutMs / 60_000)} minutes: nothing was stored; ${again}`)), timeoutMs);
  const onAbort = (): void => finish(new GoogleAuthError("sign-in cancelled: nothing was stored"));
  io.signal?.addEventListener("abort", onAbort, { once: true });
  if (io.signal?.aborted) onAbort();

  const client = oauthClient(source, redirectUri);
  const authUrl = client.generateAuthUrl({
    access_type: "offline",
    prompt: "consent",
    scope: GOOGLE_DEFAULTS.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: CodeChallengeMethod.S256,
  });

  let arrival: Arrival | null = null;
  try {
    const opener = io.openBrowser ?? openBrowser;
    const opened = await opener(authUrl).catch(() => false);
    io.stdout.write(
      `Sign in to Google for source "${source.id}"${opened ? " in the browser window that just opened, or open this address" : ": open this address in a browser"}:\n\n  ${authUrl}\n\n` +
        "If the browser runs on another machine, it ends on a page that cannot be reached: copy that page's address from the address bar, paste it here and press Enter.\n",
    );
    arrival = await arrived;
    const token = await exchange(source, client, arrival.code, verifier, redirectUri, now, again);
    arrival.reply?.(true, `Source "${source.id}" is connected; calgate stores its token encrypted.`);
    return token;
  } catch (e) {
    arrival?.reply?.(false, `${(e as Error).message}.`);
    throw e;
  } finally {
    clearTimeout(timer);
    io.signal?.removeEventListener("abort", onAbort);
    io.stdin.off("data", onData);
    io.stdin.pause();
    done = true;
    server.close();
    // The browser's answer went out with "connection: close"; idle (pre-)connections go now, the rest soon.
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 1000).unref();
  }
}

async function exchange(source: GoogleOAuthSource, client: ReturnType<typeof oauthClient>, code: string, verifier: string, redirectUri: string, now: () => number, again: string): Promise<StoredGoogleToken> {
  let tokens;
  try {
    ({ tokens } = await client.getToken({ code, codeVerifier: verifier, redirect_uri: redirectUri }));
  } catch (e) {
    // A fresh error: the library's error carries the request (with the code and client secret) along.
    throw new GoogleAuthError(`Google refused the sign-in code (${describeOAuthError(e)}): nothing was stored; ${again}`);
  }
  if (!tokens.refresh_token) {
    throw new GoogleAuthError("Google returned no refresh token; revoke calgate's access at https://myaccount.google.com/permissions and run the command again");
  }
  const scope = tokens.scope ?? GOOGLE_DEFAULTS.scope;
  if (!scope.split(/\s+/).includes(GOOGLE_DEFAULTS.scope)) {
    throw new GoogleAuthError(`Google granted no access to the calendars (the calendar permission was left unticked on the consent screen): nothing was stored; ${again} and allow access to Google Calendar`);
  }
  return { refresh_token: tokens.refresh_token, scope, obtained_at: now(), client_id: source.clientId };
}

/** The parts of a gaxios error (google-auth-library's HTTP layer) that are safe to show. */
interface HttpFailure {
  response?: { status: number; data?: unknown };
  code?: string | number;
  message: string;
}

/** The OAuth error code ("invalid_grant" ...) of a token endpoint's answer, when there is one. */
export function oauthErrorCode(e: unknown): string | null {
  const data = (e as HttpFailure | null)?.response?.data as { error?: unknown } | undefined;
  return data && typeof data === "object" && typeof data.error === "string" ? data.error : null;
}

/** "invalid_grant: Token has been expired or revoked." and the like; never the request (it holds secrets). */
export function describeOAuthError(e: unknown): string {
  if (typeof e !== "object" || e === null) return String(e);
  const f = e as HttpFailure;
  const code = oauthErrorCode(e);
  if (code !== null) {
    const desc = (f.response!.data as { error_description?: unknown }).error_description;
    return typeof desc === "string" && desc !== "" ? `${code}: ${desc}` : code;
  }
  if (f.response && typeof f.response.status === "number") return `HTTP ${f.response.status}`;
  if (f.code !== undefined && typeof f.message === "string") return `network error: ${f.message}`;
  return typeof f.message === "string" ? f.message : String(e);
}
