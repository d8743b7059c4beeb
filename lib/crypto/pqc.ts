/**
 * Post-quantum primitives in software custody (contract §4.1-§4.2):
 * ML-DSA-44/65/87 (FIPS 204) signatures and ML-KEM-512/768/1024 (FIPS 203)
 * sealed envelopes, from `@noble/post-quantum`.
 *
 * Only the seed is stored: 32 bytes for ML-DSA (FIPS 204 ξ), 64 bytes for
 * ML-KEM (FIPS 203 d ‖ z). Key pairs are expanded from it for one operation;
 * the seed, the expanded secret key, the KEM shared secret and the derived
 * AEAD key are zeroed before return.
 *
 * ML-KEM envelope, the §11.4 box with the KEM in place of X25519:
 *
 * ```
 * (ct, ss) = ML-KEM.Encaps(recipient_pub)
 * key      = HKDF-SHA256(ikm = ss, salt = none,
 *                        info = "basil-ml-kem-seal-v1" ‖ alg ‖ 0x00 ‖ ct ‖ recipient_pub, L = 32)
 * box      = ChaCha20-Poly1305(key, nonce = 12 random bytes, aad = caller AAD or empty)
 * wire     = { encapsulatedKey = ct, nonce (12), ciphertext ‖ tag (16) }
 * ```
 *
 * {@linkcode openMlKem} fails with one fixed `AeadOpenError` whatever went
 * wrong (lengths, ciphertext, tag, AAD), so it is no oracle.
 *
 * The broker's paths run through FIPS-named steps that take their
 * randomness as an argument ({@linkcode pqcKeyPair}, {@linkcode
 * mlDsaSignInternal}, {@linkcode mlDsaVerifyInternal}, {@linkcode
 * mlKemEncapsulate}, {@linkcode mlKemDecapsulate}): the NIST ACVP vectors in
 * tests/fixtures/nist/ drive exactly those. No RPC lets a caller choose a
 * seed, `rnd` or `m`.
 * @module
 */

import { ml_dsa44, ml_dsa65, ml_dsa87 } from "@noble/post-quantum/ml-dsa.js";
import { ml_kem1024, ml_kem512, ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { CatalogKey } from "../catalog/schema.ts";
import { BasilError } from "../core/errors.ts";
import { concat, utf8 } from "../core/encoding.ts";
import { SecretBytes } from "../core/secret.ts";
import { AEAD_NONCE_BYTES, aeadOpen, AeadOpenError, aeadSeal } from "./aead.ts";

/** ML-DSA parameter sets. */
export type MlDsaType = "ml-dsa-44" | "ml-dsa-65" | "ml-dsa-87";
/** ML-KEM parameter sets. */
export type MlKemType = "ml-kem-512" | "ml-kem-768" | "ml-kem-1024";

/** ML-DSA seed length (FIPS 204 ξ). */
export const ML_DSA_SEED_BYTES = 32;
/** ML-KEM seed length (FIPS 203 d ‖ z). */
export const ML_KEM_SEED_BYTES = 64;

const DSA = { "ml-dsa-44": ml_dsa44, "ml-dsa-65": ml_dsa65, "ml-dsa-87": ml_dsa87 } as const;
const KEM = {
  "ml-kem-512": ml_kem512,
  "ml-kem-768": ml_kem768,
  "ml-kem-1024": ml_kem1024,
} as const;

const INFO_LABEL = utf8("basil-ml-kem-seal-v1");
const EMPTY = new Uint8Array(0);

/** True for an ML-DSA key type. */
export function isMlDsa(kt: string | undefined): kt is MlDsaType {
  return kt !== undefined && Object.hasOwn(DSA, kt);
}

/** True for an ML-KEM key type. */
export function isMlKem(kt: string | undefined): kt is MlKemType {
  return kt !== undefined && Object.hasOwn(KEM, kt);
}

/**
 * Where an ML-DSA key's seed versions live in the keystore's KV store: the
 * `pqc_storage_key` label, else the key's path.
 */
export function mlDsaSeedPath(key: Pick<CatalogKey, "path" | "labelMap">): string {
  return key.labelMap.get("pqc_storage_key") ?? key.path;
}

/** A fresh random seed for `kt` (the caller wipes it). */
export function pqcSeed(kt: MlDsaType | MlKemType): SecretBytes {
  const n = isMlDsa(kt) ? ML_DSA_SEED_BYTES : ML_KEM_SEED_BYTES;
  return new SecretBytes(crypto.getRandomValues(new Uint8Array(n)));
}

function checkSeed(kt: MlDsaType | MlKemType, seed: Uint8Array): void {
  const n = isMlDsa(kt) ? ML_DSA_SEED_BYTES : ML_KEM_SEED_BYTES;
  if (seed.length !== n) {
    throw new BasilError("INTERNAL", undefined, { detail: `stored ${kt} seed is not ${n} bytes` });
  }
}

/**
 * FIPS 204 ML-DSA.KeyGen_internal / FIPS 203 ML-KEM.KeyGen_internal: the key
 * pair of a seed (ML-DSA ξ; ML-KEM d ‖ z). The caller wipes `secretKey`.
 * Not reachable from the wire; the known-answer tests drive it.
 */
export function pqcKeyPair(
  kt: MlDsaType | MlKemType,
  seed: Uint8Array,
): { publicKey: Uint8Array; secretKey: Uint8Array } {
  checkSeed(kt, seed);
  // keygen may keep a reference to its input; hand it a copy we wipe.
  const copy = seed.slice();
  try {
    return isMlDsa(kt) ? DSA[kt].keygen(copy) : KEM[kt as MlKemType].keygen(copy);
  } finally {
    copy.fill(0);
  }
}

/** The public key of a seed. */
export function pqcPublicKey(kt: MlDsaType | MlKemType, seed: Uint8Array): Uint8Array {
  const pair = pqcKeyPair(kt, seed);
  pair.secretKey.fill(0);
  return pair.publicKey;
}

/** FIPS 204 Algorithm 2's M′ for pure ML-DSA: 0 ‖ |ctx| ‖ ctx ‖ M (here ctx is empty). */
export function mlDsaPureMessage(message: Uint8Array): Uint8Array {
  return concat(new Uint8Array([0, 0]), message);
}

/**
 * FIPS 204 ML-DSA.Sign_internal over an already formatted M′ with the given
 * 32-byte `rnd` (all zeros = the deterministic variant). Not reachable from
 * the wire; {@linkcode mlDsaSign} calls it with fresh randomness.
 */
export function mlDsaSignInternal(
  kt: MlDsaType,
  secretKey: Uint8Array,
  formatted: Uint8Array,
  rnd: Uint8Array,
): Uint8Array {
  return DSA[kt].internal.sign(formatted, secretKey, { extraEntropy: rnd });
}

/** FIPS 204 ML-DSA.Verify_internal over an already formatted M′; throws on malformed input. */
export function mlDsaVerifyInternal(
  kt: MlDsaType,
  publicKey: Uint8Array,
  formatted: Uint8Array,
  signature: Uint8Array,
): boolean {
  return DSA[kt].internal.verify(signature, formatted, publicKey);
}

/** Signs `message` (pure ML-DSA, empty context, hedged). */
export function mlDsaSign(kt: MlDsaType, seed: Uint8Array, message: Uint8Array): Uint8Array {
  const pair = pqcKeyPair(kt, seed);
  const rnd = crypto.getRandomValues(new Uint8Array(32));
  try {
    return mlDsaSignInternal(kt, pair.secretKey, mlDsaPureMessage(message), rnd);
  } finally {
    pair.secretKey.fill(0);
    rnd.fill(0);
  }
}

/** Verifies a pure ML-DSA signature (empty context); false on any malformed input. */
export function mlDsaVerify(
  kt: MlDsaType,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    return mlDsaVerifyInternal(kt, publicKey, mlDsaPureMessage(message), signature);
  } catch {
    return false;
  }
}

/**
 * FIPS 203 ML-KEM.Encaps with the 32-byte message `m` given (Encaps_internal);
 * throws on a malformed key. The caller wipes `sharedSecret` and `m`. Not
 * reachable from the wire; {@linkcode sealMlKem} calls it with a random `m`.
 */
export function mlKemEncapsulate(
  kt: MlKemType,
  publicKey: Uint8Array,
  m: Uint8Array,
): { cipherText: Uint8Array; sharedSecret: Uint8Array } {
  return KEM[kt].encapsulate(publicKey, m);
}

/** FIPS 203 ML-KEM.Decaps (implicit rejection); the caller wipes the result. */
export function mlKemDecapsulate(
  kt: MlKemType,
  secretKey: Uint8Array,
  cipherText: Uint8Array,
): Uint8Array {
  return KEM[kt].decapsulate(cipherText, secretKey);
}

/** A sealed ML-KEM envelope. */
export interface MlKemSealed {
  readonly encapsulatedKey: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
}

function deriveKey(
  kt: MlKemType,
  shared: Uint8Array,
  ct: Uint8Array,
  recipient: Uint8Array,
): Uint8Array {
  const info = concat(INFO_LABEL, utf8(kt), new Uint8Array([0]), ct, recipient);
  return hkdf(sha256, shared, undefined, info, 32);
}

/** Seals `plaintext` to an ML-KEM public key. INVALID_REQUEST when the key is malformed. */
export function sealMlKem(
  kt: MlKemType,
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  aad?: Uint8Array,
): MlKemSealed {
  let enc;
  const m = crypto.getRandomValues(new Uint8Array(32));
  try {
    enc = mlKemEncapsulate(kt, recipientPublicKey, m);
  } catch {
    throw new BasilError("INVALID_REQUEST", `the recipient ${kt} public key is not usable`);
  } finally {
    m.fill(0);
  }
  let key: Uint8Array | undefined;
  try {
    key = deriveKey(kt, enc.sharedSecret, enc.cipherText, recipientPublicKey);
    const sealed = aeadSeal("chacha20-poly1305", key, plaintext, aad ?? EMPTY);
    return { encapsulatedKey: enc.cipherText, nonce: sealed.nonce, ciphertext: sealed.ciphertext };
  } finally {
    enc.sharedSecret.fill(0);
    key?.fill(0);
  }
}

/**
 * Opens an ML-KEM envelope with the recipient's seed. Returns a fresh
 * plaintext the caller wipes; throws `AeadOpenError` on any failure.
 */
export function openMlKem(
  kt: MlKemType,
  seed: Uint8Array,
  sealed: MlKemSealed,
  aad?: Uint8Array,
): Uint8Array {
  const ctBytes = KEM[kt].lengths.cipherText;
  if (
    seed.length !== ML_KEM_SEED_BYTES || sealed.encapsulatedKey.length !== ctBytes ||
    sealed.nonce.length !== AEAD_NONCE_BYTES
  ) {
    throw new AeadOpenError();
  }
  const pair = pqcKeyPair(kt, seed);
  let shared: Uint8Array | undefined;
  let key: Uint8Array | undefined;
  try {
    shared = mlKemDecapsulate(kt, pair.secretKey, sealed.encapsulatedKey);
    key = deriveKey(kt, shared, sealed.encapsulatedKey, pair.publicKey);
    return aeadOpen("chacha20-poly1305", key, sealed, aad ?? EMPTY);
  } catch {
    throw new AeadOpenError();
  } finally {
    pair.secretKey.fill(0);
    shared?.fill(0);
    key?.fill(0);
  }
}
