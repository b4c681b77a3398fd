/**
 * A raw HTTP/1.1 client for the hostile tests: sends the request-target exactly as given (fetch and
 * URL normalise "..", "%2e" and backslashes away, which would hide what the server does with them).
 */
import { request } from "node:http";

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function rawRequest(
  base: string,
  method: string,
  target: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {},
): Promise<RawReply> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body, "utf8");
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (body !== undefined) headers["content-length"] = String(body.length);
    const req = request({ host: u.hostname, port: u.port, method, path: target, headers, insecureHTTPParser: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${target}: no answer within ${opts.timeoutMs ?? 30_000} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}
