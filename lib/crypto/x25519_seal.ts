/**
 * The X25519 sealed box (contract §11.4) behind WrapEnvelope/UnwrapEnvelope
 * and deposits.
 *
 * Layout: the sender draws an ephemeral X25519 key pair and computes
 * `shared = X25519(eph_priv, recipient_pub)`, then
 *
 * ```
 * key   = HKDF-SHA256(ikm = shared, salt = none,
 *                     info = "basil-x25519-seal-v1" ‖ eph_pub ‖ recipient_pub, L = 32)
 * box   = ChaCha20-Poly1305(key, nonce = 12 random bytes, aad = caller AAD or empty)
 * wire  = { encapsulatedKey = eph_pub (32), nonce (12), ciphertext ‖ tag (16) }
 * ```
 *
 * Invariants:
 * - An all-zero shared secret (a low-order public key) is rejected on both
 *   sides.
 * - {@linkcode openX25519} fails with one fixed error, `AeadOpenError`,
 *   whatever went wrong (lengths, public key, tag, AAD), so it is no oracle.
 * - The shared secret, the derived key, the ephemeral private key and every
 *   wrapped private key buffer are zeroed before return. `node:crypto`
 *   `KeyObject`s hold native copies JavaScript cannot wipe; they are dropped
 *   right after use.
 * @module
 */

import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from "node:crypto";
import { BasilError } from "../core/errors.ts";
import { concat, utf8 } from "../core/encoding.ts";
import { SecretBytes } from "../core/secret.ts";
import { AEAD_NONCE_BYTES, aeadOpen, AeadOpenError, aeadSeal } from "./aead.ts";
import {
  bufferView,
  RAW_KEY_BYTES,
  rawFromFixedDer,
  rawPrivateToPkcs8,
  rawPublicToSpki,
} from "./key_formats.ts";

/** The HKDF info label. */
const INFO_LABEL = utf8("basil-x25519-seal-v1");
const EMPTY = new Uint8Array(0);
/** The derived ChaCha20-Poly1305 key length. */
const KEY_BYTES = 32;

/** An X25519 key pair: raw 32-byte private key (caller wipes) and public key. */
export interface X25519KeyPair {
  readonly privateKey: SecretBytes;
  readonly publicKey: Uint8Array;
}

/** A sealed box. */
export interface X25519Sealed {
  /** The sender's ephemeral public key (32 bytes). */
  readonly encapsulatedKey: Uint8Array;
  /** The ChaCha20-Poly1305 nonce (12 bytes). */
  readonly nonce: Uint8Array;
  /** Ciphertext including the 16-byte tag. */
  readonly ciphertext: Uint8Array;
}

/** Generates an X25519 key pair from the CSPRNG. */
export function x25519Generate(): X25519KeyPair {
  const { privateKey } = generateKeyPairSync("x25519");
  const publicKey = publicOf(privateKey);
  const pkcs8 = privateKey.export({ format: "der", type: "pkcs8" });
  try {
    const raw = rawFromFixedDer("x25519", "pkcs8", pkcs8);
    if (raw === undefined) throw new Error("unexpected X25519 PKCS#8 layout");
    return { privateKey: new SecretBytes(raw), publicKey };
  } finally {
    pkcs8.fill(0);
  }
}

/** The public key of a raw X25519 private key. */
export function x25519PublicKey(privateKey: Uint8Array): Uint8Array {
  return publicOf(privateObject(privateKey));
}

/**
 * Seals `plaintext` to a recipient's raw X25519 public key. Throws
 * INVALID_REQUEST when the public key is not 32 bytes or is of low order.
 */
export function sealX25519(
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  aad?: Uint8Array,
): X25519Sealed {
  if (recipientPublicKey.length !== RAW_KEY_BYTES) {
    throw new BasilError("INVALID_REQUEST", "the recipient X25519 public key must be 32 bytes");
  }
  const eph = x25519Generate();
  let key: Uint8Array | undefined;
  try {
    key = deriveKey(
      eph.privateKey.expose(),
      recipientPublicKey,
      eph.publicKey,
      recipientPublicKey,
    );
    if (key === undefined) {
      throw new BasilError("INVALID_REQUEST", "the recipient X25519 public key is not usable");
    }
    const sealed = aeadSeal("chacha20-poly1305", key, plaintext, aad ?? EMPTY);
    return { encapsulatedKey: eph.publicKey, nonce: sealed.nonce, ciphertext: sealed.ciphertext };
  } finally {
    eph.privateKey.wipe();
    key?.fill(0);
  }
}

/**
 * Opens a sealed box with the recipient's raw key pair. Returns a fresh
 * plaintext the caller wipes; throws `AeadOpenError` on any failure.
 */
export function openX25519(
  recipientPrivateKey: Uint8Array,
  recipientPublicKey: Uint8Array,
  sealed: X25519Sealed,
  aad?: Uint8Array,
): Uint8Array {
  if (
    recipientPrivateKey.length !== RAW_KEY_BYTES ||
    recipientPublicKey.length !== RAW_KEY_BYTES ||
    sealed.encapsulatedKey.length !== RAW_KEY_BYTES ||
    sealed.nonce.length !== AEAD_NONCE_BYTES
  ) {
    throw new AeadOpenError();
  }
  let key: Uint8Array | undefined;
  try {
    key = deriveKey(
      recipientPrivateKey,
      sealed.encapsulatedKey,
      sealed.encapsulatedKey,
      recipientPublicKey,
    );
    if (key === undefined) throw new AeadOpenError();
    return aeadOpen(
      "chacha20-poly1305",
      key,
      { nonce: sealed.nonce, ciphertext: sealed.ciphertext },
      aad ?? EMPTY,
    );
  } catch {
    throw new AeadOpenError();
  } finally {
    key?.fill(0);
  }
}

/**
 * The box key from one side's private key and the other side's public key
 * (`peerPub`); undefined when the public key is unusable or the shared
 * secret is all zero. The HKDF info always names `ephPub` then `recipientPub`.
 */
function deriveKey(
  privateKey: Uint8Array,
  peerPub: Uint8Array,
  ephPub: Uint8Array,
  recipientPub: Uint8Array,
): Uint8Array | undefined {
  const shared = x25519SharedSecret(privateKey, peerPub);
  if (shared === undefined) return undefined;
  try {
    const info = concat(INFO_LABEL, ephPub, recipientPub);
    return new Uint8Array(hkdfSync("sha256", shared, EMPTY, info, KEY_BYTES));
  } finally {
    shared.fill(0);
  }
}

/**
 * The raw X25519 shared secret of a raw private key and a raw public key
 * (native, through node:crypto); undefined when the public key is unusable
 * or the secret is all zero (a low-order point). The caller wipes it.
 */
export function x25519SharedSecret(
  privateKey: Uint8Array,
  publicKey: Uint8Array,
): Uint8Array | undefined {
  let shared: Uint8Array;
  try {
    const peer = createPublicKey({
      key: bufferView(rawPublicToSpki("x25519", publicKey)),
      format: "der",
      type: "spki",
    });
    shared = new Uint8Array(
      diffieHellman({ privateKey: privateObject(privateKey), publicKey: peer }),
    );
  } catch {
    return undefined;
  }
  if (isAllZero(shared)) {
    shared.fill(0);
    return undefined;
  }
  return shared;
}

/** Constant-time all-zero test. */
function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const b of bytes) acc |= b;
  return acc === 0;
}

function privateObject(raw: Uint8Array): KeyObject {
  const pkcs8 = rawPrivateToPkcs8("x25519", raw);
  try {
    return createPrivateKey({ key: bufferView(pkcs8), format: "der", type: "pkcs8" });
  } finally {
    pkcs8.fill(0);
  }
}

function publicOf(privateKey: KeyObject): Uint8Array {
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  const raw = rawFromFixedDer("x25519", "spki", spki);
  if (raw === undefined) throw new Error("unexpected X25519 SPKI layout");
  return raw;
}
