/**
 * The passphrase slot: slot key = Argon2id(passphrase bytes, salt), which
 * AES-256-GCM-wraps the master KEK under AAD = header ‖ u32 BE slot_id.
 *
 * Invariants:
 * - Costs from a bundle are checked against the accepted band before any
 *   KDF allocation; new slots use a fresh 16-byte salt and 12-byte nonce.
 * - The slot key is wiped in `finally`; the passphrase is wiped by
 *   {@linkcode PassphraseMethod.dispose}.
 * - A wrong passphrase and a tampered wrap both reject with
 *   {@linkcode SlotOpenFailed}, indistinguishably.
 * @module
 */

import { InputError } from "../../core/errors.ts";
import type { SecretBytes } from "../../core/secret.ts";
import { aesGcmOpen, aesGcmSeal, KEY_LEN, NONCE_LEN, randomBytes } from "../aead.ts";
import type { Slot } from "../format.ts";
import { argon2idKdf, checkArgon2Params, type Kdf, SALT_LEN } from "../kdf.ts";
import {
  type SlotCreateContext,
  type SlotMaterial,
  type SlotMethod,
  SlotOpenFailed,
  wrapAad,
} from "./types.ts";

/** Options for {@linkcode PassphraseMethod}. */
export interface PassphraseMethodOptions {
  /** The KDF (default: Argon2id via hash-wasm). Tests may pass a spy. */
  kdf?: Kdf;
}

/** A passphrase unlock method holding the passphrase bytes. */
export class PassphraseMethod implements SlotMethod {
  /** Always `passphrase`. */
  readonly method = "passphrase" as const;
  readonly #passphrase: SecretBytes;
  readonly #kdf: Kdf;

  /** Takes ownership of `passphrase`, which must not be empty. */
  constructor(passphrase: SecretBytes, options: PassphraseMethodOptions = {}) {
    if (passphrase.length === 0) {
      throw new InputError("passphrase_empty", "passphrase is empty");
    }
    this.#passphrase = passphrase;
    this.#kdf = options.kdf ?? argon2idKdf;
  }

  /** Wraps `kek` under a key derived with a fresh salt and `ctx.argon2`. */
  async create(kek: Uint8Array, ctx: SlotCreateContext): Promise<SlotMaterial> {
    checkArgon2Params(ctx.argon2);
    const salt = randomBytes(SALT_LEN);
    const argon2 = { ...ctx.argon2 };
    const key = await this.#kdf(this.#passphrase.expose(), salt, argon2);
    try {
      const nonce = randomBytes(NONCE_LEN);
      const ciphertext = await aesGcmSeal(key, nonce, wrapAad(ctx.headerBytes, ctx.slotId), kek);
      return { params: { kind: "passphrase", salt, argon2 }, wrap: { nonce, ciphertext } };
    } finally {
      key.fill(0);
    }
  }

  /** Recovers the KEK from a passphrase slot. */
  async open(slot: Slot, headerBytes: Uint8Array): Promise<Uint8Array> {
    const p = slot.params;
    if (p.kind !== "passphrase") {
      throw new InputError("slot_params", `slot ${slot.slot_id}: expected passphrase params`);
    }
    checkArgon2Params(p.argon2);
    if (slot.wrap.nonce.length !== NONCE_LEN) {
      throw new InputError("slot_params", `slot ${slot.slot_id}: wrap nonce must be 12 bytes`);
    }
    const key = await this.#kdf(this.#passphrase.expose(), p.salt, p.argon2);
    let kek: Uint8Array | undefined;
    try {
      kek = await aesGcmOpen(
        key,
        slot.wrap.nonce,
        wrapAad(headerBytes, slot.slot_id),
        slot.wrap.ciphertext,
      );
    } finally {
      key.fill(0);
    }
    if (kek === undefined) throw new SlotOpenFailed();
    if (kek.length !== KEY_LEN) {
      kek.fill(0);
      throw new InputError(
        "slot_params",
        `slot ${slot.slot_id}: unwrapped key has the wrong length`,
      );
    }
    return kek;
  }

  /** Wipes the passphrase. */
  dispose(): void {
    this.#passphrase.wipe();
  }
}
