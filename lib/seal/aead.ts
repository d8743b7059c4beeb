/**
 * AES-256-GCM (WebCrypto) for the payload and every slot's KEK wrap, plus the
 * CSPRNG helpers the bundle uses.
 *
 * Invariants: keys are exactly 32 bytes, nonces exactly 12, tags 16 and
 * appended to the ciphertext (the layout Rust's `aes-gcm` uses); every open
 * failure (wrong key, AAD, nonce or tampered ciphertext) yields `undefined`,
 * with no detail. A key that is not 32 bytes (a caller bug, not an open
 * failure) throws `RangeError`, as does a wrong-length nonce on seal.
 * Callers own and wipe key and plaintext buffers.
 * @module
 */

/** AES-256 key length. */
export const KEY_LEN = 32;
/** GCM nonce length. */
export const NONCE_LEN = 12;
/** GCM tag length. */
export const TAG_LEN = 16;

/** `n` bytes from the OS CSPRNG. */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  crypto.getRandomValues(out);
  return out;
}

/** A view WebCrypto accepts (copies only if backed by a SharedArrayBuffer). */
function ab(u: Uint8Array): Uint8Array<ArrayBuffer> {
  return u.buffer instanceof ArrayBuffer ? (u as Uint8Array<ArrayBuffer>) : new Uint8Array(u);
}

async function importKey(key: Uint8Array, usage: "encrypt" | "decrypt"): Promise<CryptoKey> {
  if (key.length !== KEY_LEN) throw new RangeError("AES-256-GCM key must be 32 bytes");
  return await crypto.subtle.importKey("raw", ab(key), { name: "AES-GCM" }, false, [usage]);
}

/** Encrypts; returns ciphertext ‖ tag. */
export async function aesGcmSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Promise<Uint8Array> {
  if (nonce.length !== NONCE_LEN) throw new RangeError("AES-GCM nonce must be 12 bytes");
  const k = await importKey(key, "encrypt");
  const params = { name: "AES-GCM", iv: ab(nonce), additionalData: ab(aad), tagLength: 128 };
  return new Uint8Array(await crypto.subtle.encrypt(params, k, ab(plaintext)));
}

/** Decrypts ciphertext ‖ tag; `undefined` on any authentication failure. */
export async function aesGcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
): Promise<Uint8Array | undefined> {
  if (nonce.length !== NONCE_LEN || ciphertext.length < TAG_LEN) return undefined;
  const k = await importKey(key, "decrypt");
  const params = { name: "AES-GCM", iv: ab(nonce), additionalData: ab(aad), tagLength: 128 };
  try {
    return new Uint8Array(await crypto.subtle.decrypt(params, k, ab(ciphertext)));
  } catch {
    return undefined;
  }
}
