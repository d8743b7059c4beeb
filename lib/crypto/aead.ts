/**
 * Authenticated encryption with one API for AES-256-GCM and
 * ChaCha20-Poly1305, synchronous via `node:crypto` (measured fastest here).
 * This is Basil's only AEAD implementation: the keystore, transit, the
 * X25519 box and the sealed bundle (payload and every slot's KEK wrap) all
 * use it.
 *
 * Invariants:
 * - Keys are 32 bytes; every seal draws a fresh 12-byte random nonce; the
 *   16-byte tag is appended to the ciphertext (`ciphertext ‖ tag`).
 * - {@linkcode aeadOpen} fails with one fixed error, {@linkcode AeadOpenError},
 *   whatever went wrong (bad key, nonce, tag, AAD or length), so callers cannot
 *   leak why.
 * - Results are fresh `Uint8Array`s owned by the caller; the intermediate
 *   `Buffer`s from `node:crypto` (which may sit in a shared pool) are zeroed.
 * @module
 */

import {
  type CipherChaCha20Poly1305,
  type CipherGCM,
  createCipheriv,
  createDecipheriv,
  type DecipherChaCha20Poly1305,
  type DecipherGCM,
} from "node:crypto";

/** The AEAD algorithms this module implements. */
export type AeadAlgorithm = "aes-256-gcm" | "chacha20-poly1305";

/** Every supported algorithm name. */
export const AEAD_ALGORITHMS: readonly AeadAlgorithm[] = ["aes-256-gcm", "chacha20-poly1305"];

/** Key length in bytes for both algorithms. */
export const AEAD_KEY_BYTES = 32;
/** Nonce length in bytes for both algorithms. */
export const AEAD_NONCE_BYTES = 12;
/** Authentication tag length in bytes, appended to the ciphertext. */
export const AEAD_TAG_BYTES = 16;

/** A sealed message: the nonce and `ciphertext ‖ tag`. */
export interface AeadSealed {
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** The one error {@linkcode aeadOpen} throws, with a fixed message. */
export class AeadOpenError extends Error {
  constructor() {
    super("authenticated decryption failed");
    this.name = "AeadOpenError";
  }
}

/** Whether `name` is a supported AEAD algorithm. */
export function isAeadAlgorithm(name: string): name is AeadAlgorithm {
  return name === "aes-256-gcm" || name === "chacha20-poly1305";
}

/**
 * Encrypts `plaintext` under `key` with a fresh random nonce, binding `aad`.
 * Throws `RangeError` when the key is not 32 bytes (a programming error).
 */
export function aeadSeal(
  algorithm: AeadAlgorithm,
  key: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = EMPTY,
): AeadSealed {
  if (key.length !== AEAD_KEY_BYTES) throw new RangeError("AEAD key must be 32 bytes");
  const nonce = crypto.getRandomValues(new Uint8Array(AEAD_NONCE_BYTES));
  const cipher = newCipher(algorithm, key, nonce);
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  const tail = cipher.final();
  const tag = cipher.getAuthTag();
  const ciphertext = new Uint8Array(body.length + tail.length + tag.length);
  ciphertext.set(body, 0);
  ciphertext.set(tail, body.length);
  ciphertext.set(tag, body.length + tail.length);
  return { nonce, ciphertext };
}

/**
 * Decrypts and authenticates a sealed message. Returns a fresh plaintext
 * buffer the caller must wipe; throws {@linkcode AeadOpenError} on any failure.
 */
export function aeadOpen(
  algorithm: AeadAlgorithm,
  key: Uint8Array,
  sealed: AeadSealed,
  aad: Uint8Array = EMPTY,
): Uint8Array {
  const { nonce, ciphertext } = sealed;
  if (
    !isAeadAlgorithm(algorithm) ||
    key.length !== AEAD_KEY_BYTES ||
    nonce.length !== AEAD_NONCE_BYTES ||
    ciphertext.length < AEAD_TAG_BYTES
  ) {
    throw new AeadOpenError();
  }
  const split = ciphertext.length - AEAD_TAG_BYTES;
  let body: Uint8Array | undefined;
  let tail: Uint8Array | undefined;
  try {
    const decipher = newDecipher(algorithm, key, nonce);
    decipher.setAAD(aad, { plaintextLength: split });
    decipher.setAuthTag(ciphertext.subarray(split));
    body = decipher.update(ciphertext.subarray(0, split));
    tail = decipher.final();
    const out = new Uint8Array(body.length + tail.length);
    out.set(body, 0);
    out.set(tail, body.length);
    return out;
  } catch {
    throw new AeadOpenError();
  } finally {
    body?.fill(0);
    tail?.fill(0);
  }
}

function newCipher(
  algorithm: AeadAlgorithm,
  key: Uint8Array,
  nonce: Uint8Array,
): CipherGCM | CipherChaCha20Poly1305 {
  const options = { authTagLength: AEAD_TAG_BYTES };
  return algorithm === "aes-256-gcm"
    ? createCipheriv(algorithm, key, nonce, options)
    : createCipheriv(algorithm, key, nonce, options);
}

function newDecipher(
  algorithm: AeadAlgorithm,
  key: Uint8Array,
  nonce: Uint8Array,
): DecipherGCM | DecipherChaCha20Poly1305 {
  const options = { authTagLength: AEAD_TAG_BYTES };
  return algorithm === "aes-256-gcm"
    ? createDecipheriv(algorithm, key, nonce, options)
    : createDecipheriv(algorithm, key, nonce, options);
}

/** Concatenates a sealed message as `nonce ‖ ciphertext ‖ tag`. */
export function packSealed(sealed: AeadSealed): Uint8Array {
  const out = new Uint8Array(sealed.nonce.length + sealed.ciphertext.length);
  out.set(sealed.nonce, 0);
  out.set(sealed.ciphertext, sealed.nonce.length);
  return out;
}

/**
 * Splits `nonce ‖ ciphertext ‖ tag` into views of `packed` (no copy). Throws
 * {@linkcode AeadOpenError} when it is too short to hold a nonce and a tag.
 */
export function unpackSealed(packed: Uint8Array): AeadSealed {
  if (packed.length < AEAD_NONCE_BYTES + AEAD_TAG_BYTES) throw new AeadOpenError();
  return {
    nonce: packed.subarray(0, AEAD_NONCE_BYTES),
    ciphertext: packed.subarray(AEAD_NONCE_BYTES),
  };
}
