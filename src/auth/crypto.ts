/**
 * Authenticated encryption of secrets at rest (provider refresh tokens, upstream credentials) with the
 * config's `secretKey`: AES-256-GCM, a fresh random 96-bit nonce per value, and the place the value is
 * stored (owner, source, kind) as associated data, so a ciphertext copied into another user's row
 * does not decrypt there. The AES key is derived from `secretKey` once per process with scrypt (a
 * passphrase-like secretKey is stretched; the salt is fixed and versioned, the key is not stored).
 *
 * Sealed format: `v1.<keyId>.<nonce>.<tag>.<ciphertext>` (base64url). keyId is an HMAC of the derived
 * key: it tells which key sealed a value (for `calgate rotate-key`) without revealing anything of it.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, scryptSync, timingSafeEqual } from "node:crypto";

const VERSION = "v1";
const SALT = "calgate/secrets/v1";
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/** The value cannot be decrypted: wrong key, tampered or moved ciphertext, or not a sealed value. */
export class SecretDecryptError extends Error {
  override name = "SecretDecryptError";
}

const b64 = (b: Buffer): string => b.toString("base64url");
const unb64 = (s: string): Buffer => Buffer.from(s, "base64url");

export class SecretBox {
  /** Identifies the key (8 hex digits); stable for a given secretKey. */
  readonly keyId: string;

  private constructor(private readonly key: Buffer) {
    this.keyId = createHmac("sha256", key).update("calgate key id").digest("hex").slice(0, 8);
  }

  /** Derives the AES-256 key from `secretKey` (tens of milliseconds: do it once and keep the box). */
  static fromSecretKey(secretKey: string): SecretBox {
    if (secretKey.length < 32) throw new Error("secretKey must be at least 32 characters");
    return new SecretBox(scryptSync(secretKey.normalize("NFC"), SALT, 32, SCRYPT));
  }

  /** The keyId a sealed value names, or null when it is not a sealed value. */
  static keyIdOf(sealed: string): string | null {
    const parts = sealed.split(".");
    return parts.length === 5 && parts[0] === VERSION ? parts[1]! : null;
  }

  /** Encrypts `plaintext`, bound to `context` (e.g. "owner\0source\0kind"). */
  seal(plaintext: string, context: string): string {
    const nonce = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.key, nonce);
    c.setAAD(Buffer.from(`${VERSION}\0${context}`, "utf8"));
    const ct = Buffer.concat([c.update(plaintext, "utf8"), c.final()]);
    return [VERSION, this.keyId, b64(nonce), b64(c.getAuthTag()), b64(ct)].join(".");
  }

  /** Decrypts a value sealed by this key for the same `context`; throws SecretDecryptError otherwise. */
  open(sealed: string, context: string): string {
    const parts = sealed.split(".");
    if (parts.length !== 5 || parts[0] !== VERSION) throw new SecretDecryptError("not a sealed secret (unknown format)");
    const [, keyId, nonce, tag, ct] = parts as [string, string, string, string, string];
    if (keyId.length !== this.keyId.length || !timingSafeEqual(Buffer.from(keyId), Buffer.from(this.keyId))) {
      throw new SecretDecryptError(`sealed with another key (key id ${keyId}, this key is ${this.keyId}); was secretKey changed without \`calgate rotate-key\`?`);
    }
    try {
      const d = createDecipheriv("aes-256-gcm", this.key, unb64(nonce));
      d.setAAD(Buffer.from(`${VERSION}\0${context}`, "utf8"));
      d.setAuthTag(unb64(tag));
      return Buffer.concat([d.update(unb64(ct)), d.final()]).toString("utf8");
    } catch {
      throw new SecretDecryptError("the secret does not authenticate (tampered with, or stored for another user/source)");
    }
  }
}
