/**
 * The BIP39 break-glass slot: slot key = Argon2id(256-bit entropy of a
 * 24-word English mnemonic, salt) (contract §6; not the BIP39 PBKDF2 seed),
 * wrapping the master KEK like the passphrase slot.
 *
 * Invariants: the method holds only the 32-byte entropy (checksum already
 * validated), never the phrase; it is wiped by {@linkcode Bip39Method.dispose}.
 * Reading a phrase file wipes every intermediate buffer; whether the FILE is
 * wiped is the caller's decision (the agent always wipes it, the CLI never).
 * @module
 */

import { InputError } from "../../core/errors.ts";
import { readSecretFile } from "../../core/fs.ts";
import type { SecretBytes } from "../../core/secret.ts";
import { ENTROPY_BYTES, phraseToEntropy } from "../bip39_phrase.ts";
import { KdfSlotMethod, type KdfSlotOptions } from "./kdf_slot.ts";

/** A BIP39 unlock method holding the phrase's entropy. */
export class Bip39Method extends KdfSlotMethod {
  /** Always `bip39`. */
  readonly method = "bip39" as const;

  /** Takes ownership of the 32-byte `entropy`. */
  constructor(entropy: SecretBytes, options: KdfSlotOptions = {}) {
    if (entropy.length !== ENTROPY_BYTES) {
      entropy.wipe();
      throw new InputError("bip39_phrase_invalid", "BIP39 entropy must be 32 bytes");
    }
    super(entropy, options);
  }
}

/**
 * Reads a phrase file (mode 0600 required) and returns its entropy. Throws
 * `InputError` (`secret_file_mode`, `secret_file_unreadable`,
 * `bip39_phrase_invalid`) naming `what` and the path, never the phrase.
 */
export function readPhraseFile(path: string, what: string): SecretBytes {
  const raw = readSecretFile(path, { requireOwnerOnly: true, what });
  try {
    return phraseToEntropy(raw.expose(), `${what} ${path}`);
  } finally {
    raw.wipe();
  }
}
