/**
 * The CalDAV server a client-interoperability test runs against. calgate by default; set
 * CLIENT_TEST_TARGET=radicale to run the very same scenarios against Radicale, which is how the
 * harness itself is validated against a server nobody on the team wrote.
 */
import { startCalgate, DEFAULT_USERS } from "./calgate.ts";
import { startRadicale } from "./peers.ts";
import { startPostgres } from "./postgres.ts";
import pg from "pg";

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
  // CLIENT_TEST_STORAGE=postgres: the same scenarios with calgate on a throwaway PostgreSQL cluster.
  const pgCluster = process.env.CLIENT_TEST_STORAGE === "postgres" ? await startPostgres() : null;
  const storage = pgCluster ? `{ client: postgres, connection: "${await pgCluster.createDatabase("calgate")}" }` : undefined;
  const c = await startCalgate({ users, ...(storage ? { storage } : {}) });
  if (pgCluster) {
    // calgate really is on PostgreSQL: its local calendars are rows there.
    const db = new pg.Client({ connectionString: pgCluster.url("calgate") });
    await db.connect();
    const n = Number((await db.query("SELECT count(*) AS n FROM calendars")).rows[0].n);
    await db.end();
    if (n < users.length) throw new Error(`calgate did not create its calendars in PostgreSQL (${n} rows)`);
  }
  return {
    kind: "calgate",
    baseUrl: c.baseUrl,
    users,
    homeUrl: (u) => `${c.baseUrl}/dav/calendars/${encodeURIComponent(u.username)}/`,
    defaultCalendarUrl: (u) => `${c.baseUrl}/dav/calendars/${encodeURIComponent(u.username)}/local-personal/`,
    logs: c.logs,
    async stop() {
      await c.stop();
      pgCluster?.stop();
    },
  };
}
