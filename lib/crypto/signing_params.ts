/**
 * The signing key types Basil's local crypto implements, and the fixed
 * algorithm parameters of each: curve or modulus, hash, and signature length.
 *
 * Invariants:
 * - The hash is fixed by the key type, never chosen by a caller: Ed25519 is
 *   pure EdDSA over the raw message; ECDSA P-256/384/521 hash with
 *   SHA-256/384/512; RSA-2048 is PKCS#1 v1.5 with SHA-256 (RS256).
 * - ECDSA signatures are raw `r ‖ s` (IEEE P1363), each half the curve's
 *   field size, so every signature of a key type has one fixed length.
 * - `ed25519-nkey` is Ed25519 (NATS keys): same storage, same signature.
 * @module
 */

import type { KeyType } from "../core/ops.ts";

/** Key types that sign. */
export type SigningKeyType =
  | "ed25519"
  | "ed25519-nkey"
  | "ecdsa-p256"
  | "ecdsa-p384"
  | "ecdsa-p521"
  | "rsa-2048";

/** Every signing key type, in catalog order. */
export const SIGNING_KEY_TYPES: readonly SigningKeyType[] = [
  "ed25519",
  "ed25519-nkey",
  "ecdsa-p256",
  "ecdsa-p384",
  "ecdsa-p521",
  "rsa-2048",
];

/** The algorithm family of a signing key type. */
export type SigningFamily = "ed25519" | "ecdsa" | "rsa";

/** Fixed parameters of one signing key type. */
export interface SigningParams {
  readonly family: SigningFamily;
  /** `node:crypto` digest name; null for pure EdDSA. */
  readonly hash: "sha256" | "sha384" | "sha512" | null;
  /** OpenSSL's curve name as `asymmetricKeyDetails.namedCurve` reports it. */
  readonly namedCurve?: "prime256v1" | "secp384r1" | "secp521r1";
  /** The curve name `generateKeyPairSync` accepts. */
  readonly curve?: "P-256" | "P-384" | "P-521";
  /** RSA modulus length in bits. */
  readonly modulusBits?: number;
  /** Signature length in bytes. */
  readonly signatureBytes: number;
}

const PARAMS: Readonly<Record<SigningKeyType, SigningParams>> = {
  "ed25519": { family: "ed25519", hash: null, signatureBytes: 64 },
  "ed25519-nkey": { family: "ed25519", hash: null, signatureBytes: 64 },
  "ecdsa-p256": {
    family: "ecdsa",
    hash: "sha256",
    namedCurve: "prime256v1",
    curve: "P-256",
    signatureBytes: 64,
  },
  "ecdsa-p384": {
    family: "ecdsa",
    hash: "sha384",
    namedCurve: "secp384r1",
    curve: "P-384",
    signatureBytes: 96,
  },
  "ecdsa-p521": {
    family: "ecdsa",
    hash: "sha512",
    namedCurve: "secp521r1",
    curve: "P-521",
    signatureBytes: 132,
  },
  "rsa-2048": { family: "rsa", hash: "sha256", modulusBits: 2048, signatureBytes: 256 },
};

/** Whether `keyType` is a signing key type this module implements. */
export function isSigningKeyType(keyType: KeyType | string): keyType is SigningKeyType {
  return Object.hasOwn(PARAMS, keyType);
}

/** The parameters of a signing key type. */
export function signingParams(keyType: SigningKeyType): SigningParams {
  return PARAMS[keyType];
}
