/**
 * Real third-party CalDAV servers on loopback for interoperability tests, the sync-engine tests and
 * the benchmark: Radicale (htpasswd plain auth) and Xandikos (no auth). Each gets a temporary storage
 * directory and a free port, is polled until it answers, and is killed (SIGTERM, then SIGKILL) and
 * its directory removed on stop().
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startProcess, waitForHttp, which } from "./proc.ts";

export interface PeerUser {
  username: string;
  password: string;
}
export interface PeerServer {
  /** http://127.0.0.1:<port> (no trailing slash). */
  baseUrl: string;
  /** Calendar home of the first user, absolute URL with trailing slash. */
  calendarHomeUrl: string;
  /** Principal URL of the first user, absolute, with trailing slash. */
  principalUrl: string;
  /** Calendars created at start-up (absolute URLs, trailing slash), in the order asked for. */
  calendarUrls: string[];
  /** First user's credentials (Xandikos: accepted but not checked). */
  username: string;
  password: string;
  users: PeerUser[];
  /** Value for an Authorization header (Xandikos ignores it). */
  authHeader: string;
  dataDir: string;
  /** Process id of the server (for RSS / CPU sampling from /proc). */
  pid: number | undefined;
  logs(): string;
  stop(): Promise<void>;
}

export const basicAuth = (u: string, p: string): string => "Basic " + Buffer.from(`${u}:${p}`).toString("base64");

const mkcalendarBody = (displayname: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>${displayname}</D:displayname><C:supported-calendar-component-set><C:comp name="VEVENT"/><C:comp name="VTODO"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>`;

async function mkcalendar(url: string, auth: string, displayname: string): Promise<void> {
  const res = await fetch(url, { method: "MKCALENDAR", headers: { authorization: auth, "content-type": "application/xml; charset=utf-8" }, body: mkcalendarBody(displayname) });
  const body = await res.text();
  if (res.status !== 201) throw new Error(`MKCALENDAR ${url} → ${res.status}: ${body}`);
}

export function peerAvailable(name: "radicale" | "xandikos"): string | null {
  return which(name) === null ? `${name} is not installed (Debian package "${name}")` : null;
}

/**
 * Radicale 3 with htpasswd (plain) auth and owner_only rights. The home of user U is /U/; each
 * name in `calendars` (default ["personal"]) is created there with MKCALENDAR.
 */
export async function startRadicale(opts: { users?: PeerUser[]; calendars?: string[]; timeoutMs?: number } = {}): Promise<PeerServer> {
  const users = opts.users ?? [{ username: "alice", password: "secret-a" }, { username: "bob@example.com", password: "secret-b" }];
  const dataDir = mkdtempSync(join(tmpdir(), "radicale-it-"));
  const port = await freePort();
  writeFileSync(join(dataDir, "users"), users.map((u) => `${u.username}:${u.password}`).join("\n") + "\n");
  writeFileSync(
    join(dataDir, "config"),
    [
      "[server]",
      `hosts = 127.0.0.1:${port}`,
      "[auth]",
      "type = htpasswd",
      `htpasswd_filename = ${join(dataDir, "users")}`,
      "htpasswd_encryption = plain",
      "delay = 0",
      "[rights]",
      "type = owner_only",
      "[storage]",
      `filesystem_folder = ${join(dataDir, "collections")}`,
      "[logging]",
      "level = warning",
      "mask_passwords = True",
      "",
    ].join("\n"),
  );
  const proc = startProcess("radicale", ["--config", join(dataDir, "config")], { env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } });
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await proc.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`${baseUrl}/.web/`, { proc, timeoutMs: opts.timeoutMs ?? 30_000, name: "radicale", ok: (s) => s < 500 });
    const u = users[0]!;
    const auth = basicAuth(u.username, u.password);
    // Radicale creates the principal collection on the first authenticated PROPFIND.
    const r = await fetch(`${baseUrl}/`, { method: "PROPFIND", headers: { authorization: auth, depth: "0" } });
    await r.arrayBuffer();
    const home = `${baseUrl}/${encodeURIComponent(u.username)}/`;
    const calendarUrls: string[] = [];
    for (const c of opts.calendars ?? ["personal"]) {
      const url = `${home}${c}/`;
      await mkcalendar(url, auth, c);
      calendarUrls.push(url);
    }
    return { baseUrl, calendarHomeUrl: home, principalUrl: home, calendarUrls, username: u.username, password: u.password, users, authHeader: auth, dataDir, pid: proc.child.pid, logs: () => proc.output(), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Xandikos (no authentication) with `--defaults`: principal /user/, calendar home
 * /user/calendars/, default calendar /user/calendars/calendar/. Extra calendars named in
 * `calendars` are created in the home with MKCALENDAR.
 */
export async function startXandikos(opts: { calendars?: string[]; timeoutMs?: number } = {}): Promise<PeerServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "xandikos-it-"));
  const port = await freePort();
  const proc = startProcess("xandikos", ["--defaults", "-d", join(dataDir, "root"), "-l", "127.0.0.1", "-p", String(port)], {
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await proc.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`${baseUrl}/user/calendars/calendar/`, { proc, timeoutMs: opts.timeoutMs ?? 30_000, name: "xandikos", ok: (s) => s < 500 });
    const home = `${baseUrl}/user/calendars/`;
    const calendarUrls = [`${home}calendar/`];
    const auth = basicAuth("user", "user");
    for (const c of opts.calendars ?? []) {
      const url = `${home}${c}/`;
      await mkcalendar(url, auth, c);
      calendarUrls.push(url);
    }
    return { baseUrl, calendarHomeUrl: home, principalUrl: `${baseUrl}/user/`, calendarUrls, username: "user", password: "user", users: [{ username: "user", password: "user" }], authHeader: auth, dataDir, pid: proc.child.pid, logs: () => proc.output(), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
