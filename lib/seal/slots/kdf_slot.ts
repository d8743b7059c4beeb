/**
 * The shared body of the Argon2id slots (passphrase and bip39): slot key =
 * Argon2id(secret, salt), which AES-256-GCM-wraps the master KEK under
 * AAD = header ‖ u32 BE slot_id. Params are `{kind, salt, argon2}`.
 *
 * Invariants:
 * - Costs from a bundle are checked against the accepted band before any
 *   KDF allocation; new slots use a fresh 16-byte salt and 12-byte nonce.
 * - The slot key is wiped in `finally`; the secret is wiped by
 *   {@linkcode KdfSlotMethod.dispose}.
 * - A wrong secret and a tampered wrap both reject with
 *   {@linkcode SlotOpenFailed}, indistinguishably.
 * @module
 */

import { InputError } from "../../core/errors.ts";
import type { SecretBytes } from "../../core/secret.ts";
import { AEAD_NONCE_BYTES } from "../../crypto/aead.ts";
import type { Slot } from "../format.ts";
import { argon2idKdf, checkArgon2Params, type Kdf, SALT_LEN } from "../kdf.ts";
import {
  checkKekLength,
  type SlotCreateContext,
  type SlotMaterial,
  type SlotMethod,
  SlotOpenFailed,
  unwrapKek,
  wrapKek,
} from "./types.ts";

/** Options for the KDF slot methods. */
export interface KdfSlotOptions {
  /** The KDF (default: Argon2id via hash-wasm). Tests may pass a spy. */
  kdf?: Kdf;
}

/** An Argon2id-wrapped slot method over one secret. */
export abstract class KdfSlotMethod implements SlotMethod {
  abstract readonly method: "passphrase" | "bip39";
  readonly #secret: SecretBytes;
  readonly #kdf: Kdf;

  /** Takes ownership of `secret` (already checked non-empty by the subclass). */
  protected constructor(secret: SecretBytes, options: KdfSlotOptions) {
    this.#secret = secret;
    this.#kdf = options.kdf ?? argon2idKdf;
  }

  /** Wraps `kek` under a key derived with a fresh salt and `ctx.argon2`. */
  async create(kek: Uint8Array, ctx: SlotCreateContext): Promise<SlotMaterial> {
    checkArgon2Params(ctx.argon2);
    const salt = crypto.getRandomValues(new Uint8Array(SALT_LEN));
    const argon2 = { ...ctx.argon2 };
    const key = await this.#kdf(this.#secret.expose(), salt, argon2);
    try {
      const wrap = wrapKek(key, kek, ctx.headerBytes, ctx.slotId);
      return { params: { kind: this.method, salt, argon2 }, wrap };
    } finally {
      key.fill(0);
    }
  }

  /** Recovers the KEK from a slot of this method. */
  async open(slot: Slot, headerBytes: Uint8Array): Promise<Uint8Array> {
    const p = slot.params;
    if (p.kind !== this.method) {
      throw new InputError("slot_params", `slot ${slot.slot_id}: expected ${this.method} params`);
    }
    checkArgon2Params(p.argon2);
    if (slot.wrap.nonce.length !== AEAD_NONCE_BYTES) {
      throw new InputError("slot_params", `slot ${slot.slot_id}: wrap nonce must be 12 bytes`);
    }
    const key = await this.#kdf(this.#secret.expose(), p.salt, p.argon2);
    let kek: Uint8Array | undefined;
    try {
      kek = unwrapKek(key, slot, headerBytes);
    } finally {
      key.fill(0);
    }
    if (kek === undefined) throw new SlotOpenFailed();
    return checkKekLength(kek, slot.slot_id);
  }

  /** Wipes the secret. */
  dispose(): void {
    this.#secret.wipe();
  }
}
