/**
 * Provider tokens and credentials, encrypted at rest (src/auth/crypto.ts): one row per (owner, source,
 * kind). Plaintext never reaches the database, and each ciphertext is bound to its row.
 */
import type { Db } from "./db.ts";
import { SecretBox, SecretDecryptError } from "../auth/crypto.ts";

export type SecretKind = "refresh_token" | "access_token" | "password" | (string & {});

interface SecretRow {
  owner: string;
  source_id: string;
  kind: string;
  ciphertext: string;
  updated_at: number;
}

const contextOf = (owner: string, sourceId: string, kind: string): string => `${owner}\0${sourceId}\0${kind}`;

export class SecretStore {
  constructor(private readonly db: Db, private readonly box: SecretBox) {}

  async put(owner: string, sourceId: string, kind: SecretKind, value: string): Promise<void> {
    const ciphertext = this.box.seal(value, contextOf(owner, sourceId, kind));
    await this.db("secrets")
      .insert({ owner, source_id: sourceId, kind, ciphertext, updated_at: Date.now() })
      .onConflict(["owner", "source_id", "kind"])
      .merge(["ciphertext", "updated_at"]);
  }

  /** The plaintext, or null when nothing is stored; throws SecretDecryptError when it cannot be decrypted. */
  async get(owner: string, sourceId: string, kind: SecretKind): Promise<string | null> {
    const row = await this.db<SecretRow>("secrets").where({ owner, source_id: sourceId, kind }).first();
    return row ? this.box.open(row.ciphertext, contextOf(owner, sourceId, kind)) : null;
  }

  async delete(owner: string, sourceId: string, kind?: SecretKind): Promise<void> {
    await this.db("secrets").where({ owner, source_id: sourceId, ...(kind !== undefined ? { kind } : {}) }).delete();
  }

  /**
   * Re-encrypts every stored secret from `from` to `to`, in one transaction: either all rows are under
   * the new key afterwards, or (when one decrypts with neither key) nothing changed. Rows already under
   * the new key are left alone, so an interrupted or repeated rotation is harmless.
   */
  static async rotate(db: Db, from: SecretBox, to: SecretBox): Promise<{ rotated: number; already: number }> {
    return db.transaction(async (trx) => {
      const rows = await trx<SecretRow>("secrets").select();
      let rotated = 0;
      let already = 0;
      for (const r of rows) {
        const ctx = contextOf(r.owner, r.source_id, r.kind);
        if (SecretBox.keyIdOf(r.ciphertext) === to.keyId) {
          to.open(r.ciphertext, ctx); // must still authenticate
          already++;
          continue;
        }
        let plain: string;
        try {
          plain = from.open(r.ciphertext, ctx);
        } catch (e) {
          if (e instanceof SecretDecryptError) throw new SecretDecryptError(`secret ${r.kind} of ${r.owner}/${r.source_id}: ${e.message}`);
          throw e;
        }
        await trx("secrets").where({ owner: r.owner, source_id: r.source_id, kind: r.kind }).update({ ciphertext: to.seal(plain, ctx), updated_at: Date.now() });
        rotated++;
      }
      return { rotated, already };
    });
  }
}
