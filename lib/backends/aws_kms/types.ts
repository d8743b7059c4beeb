/**
 * Catalog key types as AWS KMS knows them (seed 004, contract §10): the key
 * spec and usage to create, the signing algorithm and message type, and the
 * public-key forms Basil returns (raw 32 bytes for Ed25519, SPKI PEM text for
 * ECDSA, like every other backend). Anything else is refused, never
 * substituted.
 * @module
 */

import { createPublicKey } from "node:crypto";
import { BasilError } from "../../core/errors.ts";
import type { KeyType } from "../../core/ops.ts";
import { bufferView, rawFromFixedDer, spkiDerToPem } from "../../crypto/key_formats.ts";
import { rejected } from "../vault/errors.ts";

/** How one catalog key type lives in KMS. */
export interface KmsKeyType {
  readonly keySpec: string;
  readonly keyUsage: "SIGN_VERIFY" | "ENCRYPT_DECRYPT";
  /**
   * Signing keys: the algorithm; for ECDSA the digest computed locally (the
   * message is sent as DIGEST) and the byte size of r and s. Ed25519 is RAW.
   */
  readonly sign?: {
    readonly algorithm: string;
    readonly digest?: "sha256" | "sha384" | "sha512";
    readonly size?: number;
  };
}

const ED25519: KmsKeyType = {
  keySpec: "ECC_NIST_EDWARDS25519",
  keyUsage: "SIGN_VERIFY",
  sign: { algorithm: "ED25519_SHA_512" },
};

const TO_KMS: Partial<Record<KeyType, KmsKeyType>> = {
  "ed25519": ED25519,
  "ed25519-nkey": ED25519,
  "ecdsa-p256": {
    keySpec: "ECC_NIST_P256",
    keyUsage: "SIGN_VERIFY",
    sign: { algorithm: "ECDSA_SHA_256", digest: "sha256", size: 32 },
  },
  "ecdsa-p384": {
    keySpec: "ECC_NIST_P384",
    keyUsage: "SIGN_VERIFY",
    sign: { algorithm: "ECDSA_SHA_384", digest: "sha384", size: 48 },
  },
  "ecdsa-p521": {
    keySpec: "ECC_NIST_P521",
    keyUsage: "SIGN_VERIFY",
    sign: { algorithm: "ECDSA_SHA_512", digest: "sha512", size: 66 },
  },
  "aes-256-gcm": { keySpec: "SYMMETRIC_DEFAULT", keyUsage: "ENCRYPT_DECRYPT" },
};

const CURVES: Partial<Record<KeyType, string>> = {
  "ecdsa-p256": "prime256v1",
  "ecdsa-p384": "secp384r1",
  "ecdsa-p521": "secp521r1",
};

const FROM_KMS: Record<string, KeyType> = {
  ECC_NIST_EDWARDS25519: "ed25519",
  ECC_NIST_P256: "ecdsa-p256",
  ECC_NIST_P384: "ecdsa-p384",
  ECC_NIST_P521: "ecdsa-p521",
  SYMMETRIC_DEFAULT: "aes-256-gcm",
};

/** The key types an aws-kms backend holds (what `mintKeyTypes` may name). */
export const AWS_KMS_KEY_TYPES: readonly KeyType[] = Object.keys(TO_KMS) as KeyType[];

/** How `keyType` lives in KMS; UNSUPPORTED_ALGORITHM when KMS holds no such key. */
export function kmsKeyType(keyType: KeyType): KmsKeyType {
  const t = TO_KMS[keyType];
  if (t === undefined) {
    throw new BasilError(
      "UNSUPPORTED_ALGORITHM",
      `the aws-kms backend does not hold ${keyType} keys`,
    );
  }
  return t;
}

/** The catalog key type of a KMS key spec and usage, or undefined for one Basil does not use. */
export function keyTypeOfKms(keySpec: string, keyUsage: string): KeyType | undefined {
  const kt = Object.hasOwn(FROM_KMS, keySpec) ? FROM_KMS[keySpec] : undefined;
  if (kt === undefined || TO_KMS[kt]!.keyUsage !== keyUsage) return undefined;
  return kt;
}

/** A GetPublicKey SPKI DER in Basil's form for `keyType`; BACKEND_ERROR if it is not one. */
export function publicKeyFromKms(keyType: KeyType, spki: Uint8Array, where: string): Uint8Array {
  if (keyType === "ed25519" || keyType === "ed25519-nkey") {
    const raw = rawFromFixedDer("ed25519", "spki", spki);
    if (raw === undefined) throw rejected(`aws-kms ${where}: not an Ed25519 SPKI public key`);
    return raw;
  }
  let curve: string | undefined;
  try {
    const key = createPublicKey({ key: bufferView(spki), format: "der", type: "spki" });
    curve = key.asymmetricKeyType === "ec" ? key.asymmetricKeyDetails?.namedCurve : undefined;
  } catch {
    curve = undefined;
  }
  if (curve === undefined || curve !== CURVES[keyType]) {
    throw rejected(`aws-kms ${where}: not a ${keyType} SPKI public key`);
  }
  return spkiDerToPem(spki);
}
