/**
 * The CalDAV server a client-interoperability test runs against. calgate by default; set
 * CLIENT_TEST_TARGET=radicale to run the very same scenarios against Radicale, which is how the
 * harness itself is validated against a server nobody on the team wrote.
 */
import { startCalgate, DEFAULT_USERS } from "./calgate.ts";
import { startRadicale } from "./peers.ts";

export interface TargetUser {
  username: string;
  password: string;
}
export interface DavTarget {
  kind: "calgate" | "radicale";
  /** http://127.0.0.1:<port> (no trailing slash). */
  baseUrl: string;
  /** users[0] is "alice", users[1] is "bob@example.com". */
  users: TargetUser[];
  /** Absolute URL of a user's calendar home (trailing slash). */
  homeUrl(user: TargetUser): string;
  /** Absolute URL of the calendar every user has from the start (trailing slash). */
  defaultCalendarUrl(user: TargetUser): string;
  logs(): string;
  stop(): Promise<void>;
}

export const targetKind = (): "calgate" | "radicale" => (process.env.CLIENT_TEST_TARGET === "radicale" ? "radicale" : "calgate");

export async function startTarget(): Promise<DavTarget> {
  const users = DEFAULT_USERS;
  if (targetKind() === "radicale") {
    const r = await startRadicale({ users, calendars: ["personal"] });
    // Create bob's principal and calendar too, so both servers start alike.
    const bob = users[1]!;
    const bobAuth = "Basic " + Buffer.from(`${bob.username}:${bob.password}`).toString("base64");
    await (await fetch(`${r.baseUrl}/`, { method: "PROPFIND", headers: { authorization: bobAuth, depth: "0" } })).arrayBuffer();
    const mk = await fetch(`${r.baseUrl}/${encodeURIComponent(bob.username)}/personal/`, { method: "MKCALENDAR", headers: { authorization: bobAuth } });
    await mk.arrayBuffer();
    return {
      kind: "radicale",
      baseUrl: r.baseUrl,
      users,
      homeUrl: (u) => `${r.baseUrl}/${encodeURIComponent(u.username)}/`,
      defaultCalendarUrl: (u) => `${r.baseUrl}/${encodeURIComponent(u.username)}/personal/`,
      logs: r.logs,
      stop: r.stop,
    };
  }
  const c = await startCalgate({ users });
  return {
    kind: "calgate",
    baseUrl: c.baseUrl,
    users,
    homeUrl: (u) => `${c.baseUrl}/dav/calendars/${encodeURIComponent(u.username)}/`,
    defaultCalendarUrl: (u) => `${c.baseUrl}/dav/calendars/${encodeURIComponent(u.username)}/local-personal/`,
    logs: c.logs,
    stop: c.stop,
  };
}
