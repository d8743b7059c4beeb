/**
 * Catalog tokens ↔ wire enums. The catalog speaks kebab-case strings; the
 * wire speaks numbered enums; this is the only place that translates.
 * @module
 */

import type { KeyType } from "../core/ops.ts";
import {
  AeadAlgorithm as WireAead,
  KeyType as WireKeyType,
} from "../wire/basil/broker/v1/broker_pb.ts";

const TO_WIRE: Partial<Record<KeyType, WireKeyType>> = {
  "ed25519": WireKeyType.ED25519,
  "ed25519-nkey": WireKeyType.ED25519_NKEY,
  "rsa-2048": WireKeyType.RSA_2048,
  "ecdsa-p256": WireKeyType.ECDSA_P256,
  "ecdsa-p384": WireKeyType.ECDSA_P384,
  "ecdsa-p521": WireKeyType.ECDSA_P521,
  "ml-dsa-44": WireKeyType.ML_DSA_44,
  "ml-dsa-65": WireKeyType.ML_DSA_65,
  "ml-dsa-87": WireKeyType.ML_DSA_87,
  "ml-kem-512": WireKeyType.ML_KEM_512,
  "ml-kem-768": WireKeyType.ML_KEM_768,
  "ml-kem-1024": WireKeyType.ML_KEM_1024,
};

/** The wire KeyType of a catalog keyType; UNSPECIFIED for AEAD and X25519 types. */
export function keyTypeToWire(kt: KeyType): WireKeyType {
  return TO_WIRE[kt] ?? WireKeyType.UNSPECIFIED;
}

/** The catalog keyType of a wire KeyType, or undefined for UNSPECIFIED/unknown. */
export function keyTypeFromWire(kt: WireKeyType): KeyType | undefined {
  for (const [k, v] of Object.entries(TO_WIRE)) if (v === kt) return k as KeyType;
  return undefined;
}

/** Wire AEAD algorithm → catalog token; undefined for UNSPECIFIED or unknown values. */
export function aeadFromWire(a: WireAead): "aes-256-gcm" | "chacha20-poly1305" | undefined {
  if (a === WireAead.AES_256_GCM) return "aes-256-gcm";
  if (a === WireAead.CHACHA20_POLY1305) return "chacha20-poly1305";
  return undefined;
}

/** Catalog AEAD token → wire enum. */
export function aeadToWire(a: "aes-256-gcm" | "chacha20-poly1305"): WireAead {
  return a === "aes-256-gcm" ? WireAead.AES_256_GCM : WireAead.CHACHA20_POLY1305;
}

/** Whether a wire value is a declared member of `enumObj` (protobuf-es keeps unknown numbers). */
export function isKnownEnum(enumObj: Record<string, string | number>, v: number): boolean {
  return typeof enumObj[v] === "string";
}
