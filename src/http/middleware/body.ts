/** Reads the request body up to a limit; larger bodies get 413 before anything is parsed or stored. */
import type { IncomingMessage } from "node:http";

export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
  }
}
export class BodyNotUtf8 extends Error {}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Reads the raw body bytes under the limit. */
export async function readBodyBytes(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) throw new BodyTooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.destroy();
      throw new BodyTooLarge(limit);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** XML bodies must be UTF-8 (or declare nothing else); anything else is refused with a reason. */
export function decodeUtf8(bytes: Buffer): string {
  if (bytes.length === 0) return "";
  try {
    return decoder.decode(bytes);
  } catch {
    throw new BodyNotUtf8("request body is not valid UTF-8; send XML as UTF-8");
  }
}
