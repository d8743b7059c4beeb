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
import { readSecretFile } from "../../core/fs.ts";
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

/** Options for {@linkcode readPassphraseFile}. */
export interface ReadPassphraseOptions {
  /**
   * Called with the permission bits of the opened file before it is read;
   * may throw to refuse it. Without it the mode is not checked.
   */
  readonly onMode?: (mode: number) => void;
}

/**
 * Reads a passphrase file: bytes minus one trailing LF then one CR. Throws
 * `InputError` (`secret_file_unreadable`, `passphrase_empty`, or whatever
 * `onMode` throws) naming `what` and the path.
 */
export function readPassphraseFile(
  path: string,
  what: string,
  options: ReadPassphraseOptions = {},
): SecretBytes {
  const pass = readSecretFile(path, {
    stripNewline: true,
    what,
    ...(options.onMode === undefined ? {} : { onMode: options.onMode }),
  });
  if (pass.length === 0) {
    pass.wipe();
    throw new InputError("passphrase_empty", `${what} ${path}: is empty`);
  }
  return pass;
}
