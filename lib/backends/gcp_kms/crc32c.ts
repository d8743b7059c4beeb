/**
 * CRC32C (Castagnoli), the checksum Cloud KMS uses for its request and
 * response integrity fields. hash-wasm's CRC-32 with the Castagnoli
 * polynomial; the WebAssembly instance is created once and reused (its
 * methods are synchronous, so calls cannot interleave).
 * @module
 */

import { createCRC32, type IHasher } from "hash-wasm";

/** The reflected Castagnoli polynomial (CRC32C). */
const CASTAGNOLI = 0x82f63b78;

let hasher: Promise<IHasher> | undefined;

/** CRC32C of `bytes` as an unsigned 32-bit number. */
export async function crc32c(bytes: Uint8Array): Promise<number> {
  hasher ??= createCRC32(CASTAGNOLI);
  const h = await hasher;
  h.init();
  h.update(bytes);
  const out = h.digest("binary");
  return ((out[0]! << 24) | (out[1]! << 16) | (out[2]! << 8) | out[3]!) >>> 0;
}
