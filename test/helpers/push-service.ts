/**
 * A Web Push service stub (RFC 8030) for WebDAV-Push tests: https on 127.0.0.1 with a throw-away test
 * CA (the Graph emulator's openssl PKI), subscriptions with their own RFC 8291 key pair and auth
 * secret, and for every message it receives: the VAPID token checked (RFC 8292: ES256 JWT signed by
 * the key in `k`, aud = this service's origin, exp in the future and at most 24 h ahead, sub an https:
 * or mailto: URL; a restricted subscription also needs `k` to be its application server key) and the
 * body decrypted (RFC 8291 / RFC 8188 aes128gcm). Written from the RFCs with node:crypto only, so it
 * judges the web-push package rather than reusing it.
 */
import { createECDH, createPublicKey, createDecipheriv, hkdfSync, randomBytes, verify, type ECDH } from "node:crypto";
import { EventEmitter } from "node:events";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { sharedPki } from "../emulators/graph/tls.ts";

export interface PushSubscriptionKeys {
  readonly id: string;
  readonly endpoint: string;
  /** The user agent's public key, uncompressed P-256, base64url (what the client registers). */
  readonly p256dh: string;
  readonly auth: string;
}

export interface ReceivedMessage {
  readonly subscription: string;
  readonly at: number;
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly vapid: { aud: string; exp: number; sub: string; k: string };
}

interface Sub {
  keys: PushSubscriptionKeys;
  ecdh: ECDH;
  authSecret: Buffer;
  applicationServerKey: string | null;
  answer: number;
}

const b64u = (b: Buffer): string => b.toString("base64url");

export class PushServiceStub {
  readonly messages: ReceivedMessage[] = [];
  /** Requests the stub refused (bad VAPID, undecryptable body...), with the reason. */
  readonly errors: string[] = [];
  private readonly subs = new Map<string, Sub>();
  private readonly events = new EventEmitter().setMaxListeners(0);
  private constructor(private readonly server: Server, readonly origin: string, readonly caCert: string, readonly caCertPath: string) {}

  static async start(): Promise<PushServiceStub> {
    const pki = sharedPki();
    let stub!: PushServiceStub;
    const server = createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const { status, error } = stub.receive(req.method ?? "", req.url ?? "", req.headers, Buffer.concat(chunks));
        if (error) stub.errors.push(error);
        res.writeHead(status, { "content-type": "text/plain" }).end(error ?? "");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    stub = new PushServiceStub(server, `https://127.0.0.1:${port}`, pki.caCert, pki.caCertPath);
    return stub;
  }

  /** A new subscription, restricted to `applicationServerKey` (the VAPID public key) when given. */
  subscribe(applicationServerKey: string | null = null): PushSubscriptionKeys {
    const ecdh = createECDH("prime256v1");
    ecdh.generateKeys();
    const authSecret = randomBytes(16);
    const id = b64u(randomBytes(12));
    const keys = { id, endpoint: `${this.origin}/push/${id}`, p256dh: b64u(ecdh.getPublicKey()), auth: b64u(authSecret) };
    this.subs.set(id, { keys, ecdh, authSecret, applicationServerKey, answer: 201 });
    return keys;
  }

  /** What the service answers for a subscription from now on (e.g. 410 once it is gone). */
  answer(id: string, status: number): void {
    this.subs.get(id)!.answer = status;
  }

  received(id: string): ReceivedMessage[] {
    return this.messages.filter((m) => m.subscription === id);
  }

  /** Waits for the first message of `id` (after the first `skip` of them) that satisfies `match`. */
  next(id: string, opts: { skip?: number; match?: (m: ReceivedMessage) => boolean; timeoutMs?: number } = {}): Promise<ReceivedMessage> {
    const skip = opts.skip ?? 0;
    const ok = (m: ReceivedMessage): boolean => (opts.match ? opts.match(m) : true);
    const found = this.received(id).slice(skip).find(ok);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.events.off("message", on);
        reject(new Error(`push service stub: no message for subscription ${id} within ${opts.timeoutMs ?? 10_000} ms (errors: ${this.errors.join("; ") || "none"})`));
      }, opts.timeoutMs ?? 10_000);
      const on = (m: ReceivedMessage): void => {
        if (m.subscription !== id || this.received(id).indexOf(m) < skip || !ok(m)) return;
        clearTimeout(timer);
        this.events.off("message", on);
        resolve(m);
      };
      this.events.on("message", on);
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }

  private receive(method: string, url: string, headers: Record<string, string | string[] | undefined>, body: Buffer): { status: number; error?: string } {
    const m = /^\/push\/([A-Za-z0-9_-]+)$/.exec(url);
    const sub = m ? this.subs.get(m[1]!) : undefined;
    if (method !== "POST" || !sub) return { status: 404, error: `${method} ${url}: no such subscription` };
    let vapid: ReceivedMessage["vapid"];
    try {
      vapid = this.checkVapid(String(headers.authorization ?? ""), sub);
    } catch (e) {
      return { status: 401, error: `VAPID: ${(e as Error).message}` };
    }
    if (headers["content-encoding"] !== "aes128gcm") return { status: 415, error: `content-encoding ${String(headers["content-encoding"])}, expected aes128gcm` };
    if (headers.ttl === undefined) return { status: 400, error: "no TTL header (RFC 8030 5.2)" };
    let plain: string;
    try {
      plain = decrypt(body, sub.ecdh, sub.authSecret);
    } catch (e) {
      return { status: 400, error: `decryption: ${(e as Error).message}` };
    }
    if (sub.answer >= 300) return { status: sub.answer };
    const msg: ReceivedMessage = { subscription: sub.keys.id, at: performance.timeOrigin + performance.now(), body: plain, headers, vapid };
    this.messages.push(msg);
    this.events.emit("message", msg);
    return { status: sub.answer };
  }

  /** RFC 8292: `vapid t=<JWT>, k=<public key>`; the JWT is ES256 over the key in `k`. */
  private checkVapid(authorization: string, sub: Sub): ReceivedMessage["vapid"] {
    const t = /(?:^|[\s,])t=([^,\s]+)/.exec(authorization.replace(/^vapid\s+/i, " "))?.[1];
    const k = /(?:^|[\s,])k=([^,\s]+)/.exec(authorization.replace(/^vapid\s+/i, " "))?.[1];
    if (!/^vapid /i.test(authorization) || !t || !k) throw new Error(`Authorization is not "vapid t=..., k=...": ${authorization.slice(0, 40)}`);
    const [h, p, s] = t.split(".");
    if (!h || !p || !s) throw new Error("t is not a JWT");
    const header = JSON.parse(Buffer.from(h, "base64url").toString("utf8")) as { alg?: string; typ?: string };
    if (header.alg !== "ES256") throw new Error(`JWT alg ${header.alg}, expected ES256`);
    const point = Buffer.from(k, "base64url");
    if (point.length !== 65 || point[0] !== 4) throw new Error("k is not an uncompressed P-256 point");
    const key = createPublicKey({ key: { kty: "EC", crv: "P-256", x: b64u(point.subarray(1, 33)), y: b64u(point.subarray(33)) }, format: "jwk" });
    if (!verify("sha256", Buffer.from(`${h}.${p}`), { key, dsaEncoding: "ieee-p1363" }, Buffer.from(s, "base64url"))) throw new Error("JWT signature does not verify with k");
    const claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as { aud?: string; exp?: number; sub?: string };
    if (claims.aud !== this.origin) throw new Error(`aud ${claims.aud}, expected ${this.origin}`);
    const now = Date.now() / 1000;
    if (typeof claims.exp !== "number" || claims.exp <= now || claims.exp > now + 86_400 + 5) throw new Error(`exp ${claims.exp} is not within the next 24 hours`);
    if (typeof claims.sub !== "string" || !/^(https:|mailto:)/.test(claims.sub)) throw new Error(`sub ${claims.sub} is not an https: or mailto: URL`);
    if (sub.applicationServerKey !== null && k !== sub.applicationServerKey) throw new Error("k is not the application server key this subscription is restricted to");
    return { aud: claims.aud, exp: claims.exp, sub: claims.sub, k };
  }
}

/** RFC 8291 section 3.4 + RFC 8188: one aes128gcm record, keyid = the sender's ephemeral public key. */
function decrypt(body: Buffer, ua: ECDH, authSecret: Buffer): string {
  if (body.length < 21 + 65 + 17) throw new Error(`body of ${body.length} bytes is too short for an aes128gcm record`);
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  if (idlen !== 65) throw new Error(`keyid is ${idlen} bytes, expected the 65-byte application server public key`);
  const asPublic = body.subarray(21, 21 + idlen);
  const record = body.subarray(21 + idlen);
  if (record.length > rs) throw new Error(`record of ${record.length} bytes exceeds rs ${rs} (one record expected)`);
  const ecdhSecret = ua.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), ua.getPublicKey(), asPublic]);
  const ikm = Buffer.from(hkdfSync("sha256", ecdhSecret, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: aes128gcm\0"), 16));
  const nonce = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: nonce\0"), 12));
  const decipher = createDecipheriv("aes-128-gcm", cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (end < 0 || padded[end] !== 2) throw new Error("no last-record padding delimiter (0x02)");
  return padded.subarray(0, end).toString("utf8");
}
