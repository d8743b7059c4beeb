/**
 * The keystore transit engine's AEAD associated data (contract §10,
 * db-keystore):
 *
 * ```
 * "basil-keystore-aead-v1" ‖ alg u8 (chacha20-poly1305 = 1, aes-256-gcm = 2)
 * ‖ key_version u32 LE ‖ caller AAD (empty when none)
 * ```
 *
 * Binding the algorithm and the key version means an envelope cannot be
 * replayed under another version or algorithm even if the key bytes matched.
 * @module
 */

import type { AeadAlgorithm } from "../../crypto/aead.ts";
import { concat, utf8 } from "../../core/encoding.ts";

const LABEL = utf8("basil-keystore-aead-v1");

/** The algorithm byte of each AEAD (the wire enum's numbers). */
const AEAD_ALG_BYTE: Readonly<Record<AeadAlgorithm, number>> = {
  "chacha20-poly1305": 1,
  "aes-256-gcm": 2,
};

/** The full AAD for an envelope of `version` under `alg` (layout in the module doc). */
export function transitAad(
  alg: AeadAlgorithm,
  version: number,
  aad: Uint8Array | undefined,
): Uint8Array {
  if (!Number.isInteger(version) || version < 1 || version > 0xffffffff) {
    throw new RangeError("transit key version must be 1..2^32-1");
  }
  const v = new Uint8Array(4);
  new DataView(v.buffer).setUint32(0, version, true);
  return concat(LABEL, new Uint8Array([AEAD_ALG_BYTE[alg]]), v, aad ?? new Uint8Array(0));
}
