/**
 * The passphrase slot: slot key = Argon2id(passphrase bytes, salt), which
 * AES-256-GCM-wraps the master KEK (the shared logic is in `kdf_slot.ts`).
 *
 * Invariants: the passphrase is never empty; it is wiped by
 * {@linkcode PassphraseMethod.dispose}; a wrong passphrase and a tampered
 * wrap both reject with `SlotOpenFailed`, indistinguishably.
 * @module
 */

import { InputError } from "../../core/errors.ts";
import type { SecretBytes } from "../../core/secret.ts";
import { KdfSlotMethod, type KdfSlotOptions } from "./kdf_slot.ts";

/** Options for {@linkcode PassphraseMethod}. */
export type PassphraseMethodOptions = KdfSlotOptions;

/** A passphrase unlock method holding the passphrase bytes. */
export class PassphraseMethod extends KdfSlotMethod {
  /** Always `passphrase`. */
  readonly method = "passphrase" as const;

  /** Takes ownership of `passphrase`, which must not be empty. */
  constructor(passphrase: SecretBytes, options: PassphraseMethodOptions = {}) {
    if (passphrase.length === 0) {
      throw new InputError("passphrase_empty", "passphrase is empty");
    }
    super(passphrase, options);
  }
}
