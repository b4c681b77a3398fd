/**
 * A TCP relay calgate reaches an upstream through: down() closes its port (connections are refused,
 * as when the server is stopped: a request provably never leaves), up() listens again on the same
 * port. (The same relay as in conflict-policies.test.ts, shared from here for new tests.)
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export interface TcpSwitch {
  url: string;
  down(): Promise<void>;
  up(): Promise<void>;
}

export async function startSwitch(target: string): Promise<TcpSwitch> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  const up = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = createServer((c) => {
        const u = connect(Number(t.port), t.hostname);
        for (const x of [c, u]) {
          sockets.add(x);
          x.on("close", () => sockets.delete(x)).on("error", () => (c.destroy(), u.destroy()));
        }
        c.pipe(u).pipe(c);
      });
      s.once("error", reject).listen(port, "127.0.0.1", () => ((port = (s.address() as AddressInfo).port), (server = s), resolve()));
    });
  const down = (): Promise<void> =>
    new Promise((resolve) => {
      const s = server;
      server = null;
      if (!s) return resolve();
      s.close(() => resolve());
      for (const x of sockets) x.destroy();
    });
  await up();
  return { url: `http://127.0.0.1:${port}`, up, down };
}
