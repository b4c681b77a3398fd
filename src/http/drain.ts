/**
 * Graceful stop of the HTTP listener: stop accepting, let requests in flight finish (bounded), then
 * close what is left. Keep-alive connections that sit idle are closed at once (they would otherwise
 * keep the server open until their timeout).
 */
import type { Server } from "node:http";

export interface HttpDrain {
  /** Requests being answered now. */
  inFlight(): number;
  /** Stops accepting; waits up to `graceMs` for the requests in flight, then cuts every connection. Resolves when the server is closed. */
  close(graceMs: number): Promise<{ cut: number }>;
}

export function drainable(server: Server): HttpDrain {
  let inFlight = 0;
  let changed: (() => void) | null = null;
  server.on("request", (_req, res) => {
    inFlight++;
    res.once("close", () => {
      inFlight--;
      changed?.();
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
  });
  let closing = false;
  return {
    inFlight: () => inFlight,
    async close(graceMs) {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (inFlight > 0 && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
          changed = () => (clearTimeout(t), resolve());
        });
        changed = null;
      }
      const cut = inFlight;
      server.closeAllConnections();
      await closed;
      return { cut };
    },
  };
}
