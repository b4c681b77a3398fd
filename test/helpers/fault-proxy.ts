/**
 * A fault-injecting HTTP proxy for the sync tests: sits between calgate and an upstream CalDAV
 * server on loopback, counts every request, and applies queued faults to the next matching requests:
 * delay, 503 with Retry-After, connection reset, truncated body (Content-Length promises more than
 * is sent, then the socket is destroyed).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Fault =
  | { kind: "delay"; ms: number }
  | { kind: "503"; retryAfterS: number }
  | { kind: "reset" }
  | { kind: "truncate" }
  /** Answer with this status without reaching the upstream (e.g. 403 to simulate a refusal). */
  | { kind: "status"; code: number; body?: string };

export interface FaultRule {
  fault: Fault;
  /** Requests it applies to (default: every request). */
  match?: (method: string, path: string) => boolean;
  /** How many matching requests it hits (default 1). */
  times?: number;
}

export interface FaultProxy {
  url: string;
  /** Requests seen, with the fault applied (if any). */
  log: { method: string; path: string; fault: Fault["kind"] | null }[];
  requests(): number;
  inject(rule: FaultRule): void;
  clear(): void;
  /** Faults not consumed yet. */
  pending(): number;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const up = new URL(target);
  const rules: (FaultRule & { left: number })[] = [];
  const log: FaultProxy["log"] = [];

  const forward = (req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: IncomingMessage["headers"]; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const r = httpRequest({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      r.on("error", reject);
      r.end(body);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const rule = rules.find((r) => r.left > 0 && (!r.match || r.match(method, path)));
    const fault = rule?.fault ?? null;
    if (rule) rule.left--;
    log.push({ method, path, fault: fault?.kind ?? null });
    if (fault?.kind === "reset") {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "503") {
      res.writeHead(503, { "retry-after": String(fault.retryAfterS), "content-type": "text/plain" });
      res.end("service unavailable (injected)\n");
      return;
    }
    if (fault?.kind === "status") {
      res.writeHead(fault.code, { "content-type": "application/xml; charset=utf-8" });
      res.end(fault.body ?? `<?xml version="1.0"?><error xmlns="DAV:"><message xmlns="urn:calgate:test">injected ${fault.code}</message></error>`);
      return;
    }
    if (fault?.kind === "delay") await new Promise((r) => setTimeout(r, fault.ms));
    let out;
    try {
      out = await forward(req, body);
    } catch (e) {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`proxy: ${(e as Error).message}\n`);
      return;
    }
    const headers = { ...out.headers };
    delete headers["transfer-encoding"];
    delete headers.connection;
    if (fault?.kind === "truncate") {
      headers["content-length"] = String(out.body.length);
      res.writeHead(out.status, headers);
      res.write(out.body.subarray(0, Math.floor(out.body.length / 2)));
      setTimeout(() => req.socket.destroy(), 10);
      return;
    }
    headers["content-length"] = String(out.body.length);
    res.writeHead(out.status, headers);
    res.end(out.body);
  };

  const server: Server = createServer((req, res) => void handle(req, res).catch(() => req.socket.destroy()));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    requests: () => log.length,
    inject: (rule) => rules.push({ ...rule, left: rule.times ?? 1 }),
    clear: () => void rules.splice(0),
    pending: () => rules.reduce((n, r) => n + r.left, 0),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
