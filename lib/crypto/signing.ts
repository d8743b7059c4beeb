/**
 * Local signing for keys used in place (Tier 2): key generation, import
 * normalization, sign and verify for Ed25519, ECDSA P-256/384/521 and
 * RSA-2048 (PKCS#1 v1.5, SHA-256).
 *
 * Invariants:
 * - The broker hashes inside: callers pass the raw message. Ed25519 is pure
 *   EdDSA (64-byte signature); ECDSA hashes with SHA-256/384/512 for
 *   P-256/384/521 and returns raw `r ‖ s` (64/96/132 bytes); RSA is RS256
 *   (256 bytes). See signing_params.ts.
 * - Private forms: Ed25519 = 32-byte seed; ECDSA/RSA = PKCS#8 DER. Public
 *   forms: Ed25519 raw 32 bytes; ECDSA/RSA SPKI PEM text as UTF-8 bytes.
 * - Import errors are `BasilError` INVALID_REQUEST with a fixed, caller-safe
 *   reason; no error from this module ever carries key bytes or a library's
 *   message about them.
 * - `verifyMessage` never throws for a malformed signature, public key or
 *   length: it returns false.
 * - Every private byte buffer this module creates is zeroed before it
 *   returns. Callers own (and wipe) the private bytes they pass in.
 *   `node:crypto` `KeyObject`s hold a native copy of the key that JavaScript
 *   cannot wipe; they are never cached, and are dropped right after use.
 *
 * Implementation per algorithm, chosen by measurement
 * (bench/crypto_impl_bench.ts; figures in its module doc):
 * - Ed25519 sign/verify: `node:crypto` (≈40 µs import + sign; @noble 7×
 *   slower; WebCrypto no faster, and async).
 * - ECDSA P-256/384/521 sign: @noble/curves (pure JS, synchronous, hedged
 *   RFC 6979 nonces): 2.7–3.2× faster than `node:crypto` and 1.7–4× faster
 *   than WebCrypto in Deno per op, and still ahead with 8 requests in flight
 *   (WebCrypto runs off the JS thread but does not scale past ~2.5k/s on
 *   P-256 here). The scalar becomes a JS `bigint` inside @noble, which
 *   cannot be wiped.
 * - ECDSA verify: `node:crypto` (1.7–2× faster than @noble); it accepts both
 *   the low-S and the high-S form, as OpenSSL, Go and Vault do.
 * - RSA-2048: `node:crypto` for the synchronous API; WebCrypto for
 *   {@linkcode signMessageAsync} (≈10% faster per op and per request under
 *   load, and the ≈1.4 ms private-key operation leaves the event loop free).
 * @module
 */

import { generateKeyPairSync, type KeyObject, sign, verify } from "node:crypto";
import { p256, p384, p521 } from "@noble/curves/nist.js";
import { BasilError } from "../core/errors.ts";
import type { KeyType } from "../core/ops.ts";
import { SecretBytes } from "../core/secret.ts";
import { ecScalarFromPkcs8 } from "./ec_pkcs8.ts";
import { RAW_KEY_BYTES } from "./key_formats.ts";
import {
  keyMismatch,
  parsePkcs8,
  privateKeyFromStored,
  publicFormOf,
  publicKeyFromPublicForm,
  spkiFromPublicForm,
  storedFormOf,
} from "./signing_keys.ts";
import {
  isSigningKeyType,
  type SigningKeyType,
  type SigningParams,
  signingParams,
} from "./signing_params.ts";

export { isSigningKeyType, SIGNING_KEY_TYPES, type SigningKeyType } from "./signing_params.ts";

/** A signing key: the stored private form (caller wipes) and the public form. */
export interface SigningKeyPair {
  readonly privateKey: SecretBytes;
  readonly publicKey: Uint8Array;
}

/**
 * Private key material offered for import (the backend contract's
 * `ImportMaterial`). The caller keeps ownership and wipes it.
 */
export type PrivateKeyMaterial =
  | { readonly kind: "ed25519-seed"; readonly seed: SecretBytes }
  | { readonly kind: "pkcs8"; readonly der: SecretBytes };

/** The pure-JS ECDSA signers (prehash with the curve's SHA-2). */
const NOBLE_CURVES = { "P-256": p256, "P-384": p384, "P-521": p521 } as const;

/** WebCrypto parameters for RS256. */
const RSA_WEBCRYPTO = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/** The fixed message signed and verified by an import's consistency check. */
const CONSISTENCY_MESSAGE = new TextEncoder().encode("basil-import-consistency-v1");

/**
 * The parameters of a signing key type; throws UNSUPPORTED_ALGORITHM for a
 * key type that does not sign (a catalog/broker routing error).
 */
export function requireSigningParams(keyType: KeyType): SigningParams {
  if (!isSigningKeyType(keyType)) {
    throw new BasilError("UNSUPPORTED_ALGORITHM", `key type ${keyType} does not sign`);
  }
  return signingParams(keyType);
}

/** Signature length in bytes for a signing key type. */
export function signatureLength(keyType: SigningKeyType): number {
  return signingParams(keyType).signatureBytes;
}

/** Generates a fresh key pair from the CSPRNG (OpenSSL's, via `node:crypto`). */
export function generateSigningKey(keyType: KeyType): SigningKeyPair {
  const params = requireSigningParams(keyType);
  const { privateKey } = params.family === "ed25519"
    ? generateKeyPairSync("ed25519")
    : params.family === "ecdsa"
    ? generateKeyPairSync("ec", { namedCurve: params.curve! })
    : generateKeyPairSync("rsa", { modulusLength: params.modulusBits!, publicExponent: 65537 });
  const publicKey = publicFormOf(params, privateKey);
  return { privateKey: new SecretBytes(storedFormOf(params, privateKey)), publicKey };
}

/**
 * Checks import material against `keyType` and returns the form to store.
 * Ed25519 accepts a 32-byte seed or an Ed25519 PKCS#8; ECDSA needs PKCS#8 on
 * the matching named curve; RSA needs an RSA (not RSA-PSS) PKCS#8 with a
 * 2048-bit modulus and an odd exponent ≥ 65537. Every accepted key must sign
 * and verify a fixed message. Anything else throws INVALID_REQUEST with a
 * caller-safe reason. `material` is not consumed (the caller wipes it).
 */
export function normalizeImport(keyType: KeyType, material: PrivateKeyMaterial): SigningKeyPair {
  const params = requireSigningParams(keyType);
  const key = importedKeyObject(params, keyType, material);
  const stored = storedFormOf(params, key);
  try {
    const publicKey = publicFormOf(params, key);
    if (!consistent(keyType as SigningKeyType, stored, publicKey)) {
      throw rejected("the private key failed its consistency check");
    }
    return { privateKey: new SecretBytes(stored), publicKey };
  } catch (e) {
    stored.fill(0);
    throw e;
  }
}

function importedKeyObject(
  params: SigningParams,
  keyType: KeyType,
  material: PrivateKeyMaterial,
): KeyObject {
  if (material.kind === "ed25519-seed") {
    if (params.family !== "ed25519") {
      throw rejected(`seed material is only accepted for Ed25519 keys, not ${keyType}`);
    }
    if (material.seed.length !== RAW_KEY_BYTES) {
      throw rejected(`an Ed25519 seed must be ${RAW_KEY_BYTES} bytes`);
    }
    const key = privateKeyFromStored(params, material.seed.expose());
    if (key === undefined) throw rejected("the Ed25519 seed was not accepted");
    return key;
  }
  if (material.kind !== "pkcs8") throw rejected("unknown key material kind");
  const key = parsePkcs8(material.der.expose());
  if (key === undefined) throw rejected("the key material is not a valid PKCS#8 private key");
  const mismatch = keyMismatch(params, key);
  if (mismatch !== undefined) throw rejected(`PKCS#8 key: ${mismatch}`);
  return key;
}

function consistent(keyType: SigningKeyType, stored: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    const sig = signMessage(keyType, stored, CONSISTENCY_MESSAGE);
    return verifyMessage(keyType, publicKey, CONSISTENCY_MESSAGE, sig);
  } catch {
    return false;
  }
}

function rejected(reason: string): BasilError {
  return new BasilError("INVALID_REQUEST", `invalid key material: ${reason}`);
}

/**
 * Signs the raw `message` with a stored private form, synchronously (blocks
 * the event loop for the whole operation). Throws UNSUPPORTED_ALGORITHM for
 * a non-signing key type and INTERNAL (no key bytes in the detail) when the
 * private form does not parse as `keyType`. The caller still owns (and
 * wipes) `privateKey`.
 */
export function signMessage(
  keyType: KeyType,
  privateKey: Uint8Array,
  message: Uint8Array,
): Uint8Array {
  const params = requireSigningParams(keyType);
  if (params.family === "ecdsa") return signEcdsa(params, keyType, privateKey, message);
  const key = privateKeyFromStored(params, privateKey);
  if (key === undefined) throw unparsable(keyType);
  return new Uint8Array(sign(params.hash, message, key));
}

/**
 * {@linkcode signMessage} for callers that can wait: RSA runs through
 * WebCrypto off the JavaScript thread (same deterministic PKCS#1 v1.5
 * signature); every other type signs synchronously as `signMessage` does.
 * Same errors, as rejections. The caller wipes `privateKey` after the
 * promise settles; the WebCrypto `CryptoKey` keeps a native copy that
 * JavaScript cannot wipe (dropped after use, like a `KeyObject`).
 */
export async function signMessageAsync(
  keyType: KeyType,
  privateKey: Uint8Array,
  message: Uint8Array,
): Promise<Uint8Array> {
  const params = requireSigningParams(keyType);
  if (params.family !== "rsa") return signMessage(keyType, privateKey, message);
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey("pkcs8", source(privateKey), RSA_WEBCRYPTO, false, [
      "sign",
    ]);
  } catch {
    throw unparsable(keyType);
  }
  return new Uint8Array(await crypto.subtle.sign(RSA_WEBCRYPTO, key, source(message)));
}

/** ECDSA through @noble/curves: the scalar is read from PKCS#8 and wiped after. */
function signEcdsa(
  params: SigningParams,
  keyType: KeyType,
  privateKey: Uint8Array,
  message: Uint8Array,
): Uint8Array {
  const curve = params.curve!;
  const scalar = ecScalarFromPkcs8(privateKey, curve);
  if (scalar === undefined) throw unparsable(keyType);
  try {
    return NOBLE_CURVES[curve].sign(message, scalar, { prehash: true, extraEntropy: true });
  } catch {
    throw unparsable(keyType);
  } finally {
    scalar.fill(0);
  }
}

/** WebCrypto's `BufferSource` typing for a view (no copy). */
function source(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}

function unparsable(keyType: KeyType): BasilError {
  return new BasilError("INTERNAL", undefined, {
    detail: `stored private key does not parse as ${keyType}`,
  });
}

/**
 * Whether `signature` is a valid signature of the raw `message` under a
 * public form. Returns false (never throws) for a malformed or wrong-length
 * signature or public key; throws UNSUPPORTED_ALGORITHM only for a key type
 * that does not sign.
 */
export function verifyMessage(
  keyType: KeyType,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  const params = requireSigningParams(keyType);
  if (signature.length !== params.signatureBytes) return false;
  const key = publicKeyFromPublicForm(params, publicKey);
  if (key === undefined) return false;
  try {
    return params.family === "ecdsa"
      ? verify(params.hash, message, { key, dsaEncoding: "ieee-p1363" }, signature)
      : verify(params.hash, message, key, signature);
  } catch {
    return false;
  }
}

/**
 * SubjectPublicKeyInfo DER of a public form (for JWKS and X.509). Throws
 * INVALID_REQUEST when the bytes are not a `keyType` public key.
 */
export function publicKeyToSpkiDer(keyType: KeyType, publicKey: Uint8Array): Uint8Array {
  const der = spkiFromPublicForm(requireSigningParams(keyType), publicKey);
  if (der === undefined) {
    throw new BasilError("INVALID_REQUEST", `the public key is not a valid ${keyType} public key`);
  }
  return der;
}

/**
 * The public form for a stored private form. Throws INTERNAL when the
 * private form does not parse as `keyType`.
 */
export function publicKeyOf(keyType: KeyType, privateKey: Uint8Array): Uint8Array {
  const params = requireSigningParams(keyType);
  const key = privateKeyFromStored(params, privateKey);
  if (key === undefined) throw unparsable(keyType);
  return publicFormOf(params, key);
}
