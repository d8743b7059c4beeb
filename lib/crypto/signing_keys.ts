/**
 * Private and public signing keys as `node:crypto` key objects, from and to
 * the byte forms Basil stores.
 *
 * Stored forms (what the keystore seals):
 * - Ed25519: the 32-byte seed (RFC 8032 private key).
 * - ECDSA P-256/384/521 and RSA-2048: PKCS#8 DER as `node:crypto` exports it
 *   (so an imported key is stored re-encoded, never as the caller's bytes).
 *
 * Public forms (what callers see): Ed25519 raw 32 bytes; ECDSA and RSA the
 * SubjectPublicKeyInfo PEM text as UTF-8 bytes (the Vault backend's
 * GetPublicKey encoding).
 *
 * Invariants:
 * - Every intermediate buffer holding private bytes (wrapped PKCS#8, exported
 *   `Buffer`s) is zeroed before these functions return. A `KeyObject` holds a
 *   native copy of the key that JavaScript cannot wipe; it is dropped right
 *   after use and left to the garbage collector.
 * - A key object is only returned after its type, curve or modulus was
 *   checked against the key type asked for.
 * @module
 */

import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import {
  bufferView,
  pemToSpkiDer,
  RAW_KEY_BYTES,
  rawFromFixedDer,
  rawPrivateToPkcs8,
  rawPublicToSpki,
  spkiDerToPem,
} from "./key_formats.ts";
import type { SigningParams } from "./signing_params.ts";

/** Smallest RSA public exponent accepted (FIPS 186-5: e > 2^16). */
const MIN_RSA_EXPONENT = 65537n;

/** Why a key object does not fit the parameters; undefined when it fits. */
export function keyMismatch(params: SigningParams, key: KeyObject): string | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  switch (params.family) {
    case "ed25519":
      return key.asymmetricKeyType === "ed25519" ? undefined : "not an Ed25519 key";
    case "ecdsa":
      if (key.asymmetricKeyType !== "ec") return `not an ECDSA ${params.curve} key`;
      return details.namedCurve === params.namedCurve
        ? undefined
        : `not an ECDSA ${params.curve} key`;
    case "rsa": {
      if (key.asymmetricKeyType !== "rsa") return "not an RSA (PKCS#1) key";
      if (details.modulusLength !== params.modulusBits) {
        return `RSA key must have a ${params.modulusBits}-bit modulus`;
      }
      const e = details.publicExponent;
      if (typeof e !== "bigint" || e < MIN_RSA_EXPONENT || e % 2n === 0n) {
        return "RSA public exponent must be odd and at least 65537";
      }
      return undefined;
    }
  }
}

/**
 * A private key object from PKCS#8 DER; undefined when the bytes do not
 * parse. The caller still owns (and wipes) `der`.
 */
export function parsePkcs8(der: Uint8Array): KeyObject | undefined {
  try {
    return createPrivateKey({ key: bufferView(der), format: "der", type: "pkcs8" });
  } catch {
    return undefined;
  }
}

/**
 * A private key object from a stored private form (seed for Ed25519, PKCS#8
 * otherwise); undefined when it does not parse or does not fit `params`.
 */
export function privateKeyFromStored(
  params: SigningParams,
  stored: Uint8Array,
): KeyObject | undefined {
  let key: KeyObject | undefined;
  if (params.family === "ed25519") {
    if (stored.length !== RAW_KEY_BYTES) return undefined;
    const pkcs8 = rawPrivateToPkcs8("ed25519", stored);
    try {
      key = parsePkcs8(pkcs8);
    } finally {
      pkcs8.fill(0);
    }
  } else {
    key = parsePkcs8(stored);
  }
  return key !== undefined && keyMismatch(params, key) === undefined ? key : undefined;
}

/**
 * The stored private form of a checked private key object: the seed for
 * Ed25519, canonical PKCS#8 DER otherwise. The caller wipes the result.
 */
export function storedFormOf(params: SigningParams, key: KeyObject): Uint8Array {
  const exported = key.export({ format: "der", type: "pkcs8" });
  try {
    if (params.family === "ed25519") {
      const seed = rawFromFixedDer("ed25519", "pkcs8", exported);
      if (seed === undefined) throw new Error("unexpected Ed25519 PKCS#8 layout");
      return seed;
    }
    return new Uint8Array(exported);
  } finally {
    exported.fill(0);
  }
}

/** The caller-facing public form of a key object (private or public). */
export function publicFormOf(params: SigningParams, key: KeyObject): Uint8Array {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  const spki = new Uint8Array(pub.export({ format: "der", type: "spki" }));
  if (params.family !== "ed25519") return spkiDerToPem(spki);
  const raw = rawFromFixedDer("ed25519", "spki", spki);
  if (raw === undefined) throw new Error("unexpected Ed25519 SPKI layout");
  return raw;
}

/**
 * SubjectPublicKeyInfo DER for a caller-facing public form, checked against
 * `params`; undefined when it is malformed or of another type.
 */
export function spkiFromPublicForm(
  params: SigningParams,
  publicKey: Uint8Array,
): Uint8Array | undefined {
  return parsePublicForm(params, publicKey)?.der;
}

/** A public key object from a caller-facing public form; undefined when it does not fit. */
export function publicKeyFromPublicForm(
  params: SigningParams,
  publicKey: Uint8Array,
): KeyObject | undefined {
  return parsePublicForm(params, publicKey)?.key;
}

function parsePublicForm(
  params: SigningParams,
  publicKey: Uint8Array,
): { der: Uint8Array; key: KeyObject } | undefined {
  const der = params.family === "ed25519"
    ? (publicKey.length === RAW_KEY_BYTES ? rawPublicToSpki("ed25519", publicKey) : undefined)
    : pemToSpkiDer(publicKey);
  if (der === undefined) return undefined;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: bufferView(der), format: "der", type: "spki" });
  } catch {
    return undefined;
  }
  return keyMismatch(params, key) === undefined ? { der, key } : undefined;
}
