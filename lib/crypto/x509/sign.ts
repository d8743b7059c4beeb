/**
 * Signature algorithms of CA key types, and certificate assembly from a
 * signed TBSCertificate: `Certificate ::= SEQUENCE { tbsCertificate,
 * signatureAlgorithm, signatureValue BIT STRING }` (RFC 5280 §4.1).
 *
 * Invariants:
 * - The signature is made by a callback over the exact TBS bytes that go
 *   into the certificate, so a CA key signs where it lives (a keystore row,
 *   a remote engine) and never passes through here.
 * - The algorithm follows the CA key type, never a caller: ecdsa-p256/384/521
 *   → ecdsa-with-SHA256/384/512 (no parameters, RFC 5758), ed25519 →
 *   id-Ed25519 (no parameters, RFC 8410), rsa-2048 → sha256WithRSAEncryption
 *   with NULL parameters (RFC 4055). The TBS builders put the same
 *   identifier in the TBS `signature` field.
 * - ECDSA signers return raw `r ‖ s` (signing.ts); it is converted here to
 *   the DER `ECDSA-Sig-Value` X.509 needs (RFC 3279 §2.2.3), after a length
 *   check.
 *
 * The outer SEQUENCE and BIT STRING are written here (two tag-length
 * headers) rather than by re-serializing the TBS object through
 * @peculiar/asn1-schema: the signed bytes are then the embedded bytes by
 * construction, and the TBS is encoded once instead of twice.
 * @module
 */

import { p256, p384, p521 } from "@noble/curves/nist.js";
import { concat } from "../../core/encoding.ts";
import { BasilError } from "../../core/errors.ts";
import type { KeyType } from "../../core/ops.ts";
import { AlgorithmIdentifier, AsnConvert } from "./asn1.ts";

/** Key types a CA (the signing key of a certificate) may have. */
export type CaKeyType = "ed25519" | "ecdsa-p256" | "ecdsa-p384" | "ecdsa-p521" | "rsa-2048";

/** Every CA key type. */
export const CA_KEY_TYPES: readonly CaKeyType[] = [
  "ed25519",
  "ecdsa-p256",
  "ecdsa-p384",
  "ecdsa-p521",
  "rsa-2048",
];

/** Signs the DER TBSCertificate in place; returns the key type's native signature. */
export type TbsSigner = (tbsDer: Uint8Array) => Promise<Uint8Array>;

interface AlgorithmSpec {
  readonly oid: string;
  /** `null` encodes ASN.1 NULL parameters; `undefined` omits them. */
  readonly nullParams: boolean;
  /** Raw signature length from the signer. */
  readonly rawBytes: number;
  readonly curve?: typeof p256 | typeof p384 | typeof p521;
}

const SPECS: Readonly<Record<CaKeyType, AlgorithmSpec>> = {
  "ecdsa-p256": { oid: "1.2.840.10045.4.3.2", nullParams: false, rawBytes: 64, curve: p256 },
  "ecdsa-p384": { oid: "1.2.840.10045.4.3.3", nullParams: false, rawBytes: 96, curve: p384 },
  "ecdsa-p521": { oid: "1.2.840.10045.4.3.4", nullParams: false, rawBytes: 132, curve: p521 },
  "ed25519": { oid: "1.3.101.112", nullParams: false, rawBytes: 64 },
  "rsa-2048": { oid: "1.2.840.113549.1.1.11", nullParams: true, rawBytes: 256 },
};

const ALGORITHM_DER = new Map<CaKeyType, Uint8Array>();

/** Whether `keyType` can be a CA key type. */
export function isCaKeyType(keyType: KeyType | string): keyType is CaKeyType {
  return Object.hasOwn(SPECS, keyType);
}

/**
 * The CA key type, checked; throws UNSUPPORTED_ALGORITHM for a key type that
 * cannot sign certificates.
 */
export function requireCaKeyType(keyType: KeyType | string): CaKeyType {
  if (!isCaKeyType(keyType)) {
    throw new BasilError("UNSUPPORTED_ALGORITHM", `${keyType} keys cannot sign certificates`);
  }
  return keyType;
}

/** A fresh `AlgorithmIdentifier` for certificates signed by a `keyType` key. */
export function signatureAlgorithm(keyType: CaKeyType): AlgorithmIdentifier {
  const spec = SPECS[keyType];
  return new AlgorithmIdentifier({
    algorithm: spec.oid,
    parameters: spec.nullParams ? null : undefined,
  });
}

/** The DER `AlgorithmIdentifier` for `keyType` (cached; do not modify). */
export function signatureAlgorithmDer(keyType: CaKeyType): Uint8Array {
  let der = ALGORITHM_DER.get(keyType);
  if (der === undefined) {
    der = new Uint8Array(AsnConvert.serialize(signatureAlgorithm(keyType)));
    ALGORITHM_DER.set(keyType, der);
  }
  return der;
}

/**
 * Signs `tbsDer` through `sign` and returns the DER certificate. The TBS
 * must carry {@linkcode signatureAlgorithm}(keyType) (the builders in tbs.ts
 * do). Throws INTERNAL when the signer returns a signature of the wrong
 * length or shape.
 */
export async function signCertificate(
  tbsDer: Uint8Array,
  keyType: CaKeyType,
  sign: TbsSigner,
): Promise<Uint8Array> {
  const raw = await sign(tbsDer);
  const value = x509SignatureValue(keyType, raw);
  const bitString = concat(derHeader(0x03, value.length + 1), Uint8Array.of(0), value);
  const alg = signatureAlgorithmDer(keyType);
  const body = tbsDer.length + alg.length + bitString.length;
  return concat(derHeader(0x30, body), tbsDer, alg, bitString);
}

/**
 * The `signatureValue` bytes for a signer's native output: DER
 * `ECDSA-Sig-Value` for ECDSA, unchanged for Ed25519 and RSA.
 */
export function x509SignatureValue(keyType: CaKeyType, raw: Uint8Array): Uint8Array {
  const spec = SPECS[keyType];
  if (raw.length !== spec.rawBytes) {
    throw new BasilError("INTERNAL", undefined, {
      detail: `certificate signer returned ${raw.length} bytes, ${keyType} signs ${spec.rawBytes}`,
    });
  }
  if (spec.curve === undefined) return raw;
  try {
    return spec.curve.Signature.fromBytes(raw, "compact").toBytes("der");
  } catch {
    throw new BasilError("INTERNAL", undefined, {
      detail: `certificate signer returned a malformed ${keyType} signature`,
    });
  }
}

/** A DER tag-length header (definite, minimal length). */
function derHeader(tag: number, length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(tag, length);
  const len: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) len.unshift(n & 0xff);
  return Uint8Array.of(tag, 0x80 | len.length, ...len);
}
