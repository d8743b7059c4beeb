/**
 * Catalog key types as Vault/OpenBao transit knows them (contract §10), and
 * the public-key forms Basil returns: raw 32 bytes for Ed25519, SPKI PEM
 * text for ECDSA and RSA (normalized, so every backend spells a key alike).
 * @module
 */

import { BasilError } from "../../core/errors.ts";
import type { KeyType } from "../../core/ops.ts";
import { pemToSpkiDer, spkiDerToPem } from "../../crypto/key_formats.ts";
import { decodeBase64 } from "../../core/encoding.ts";
import { rejected } from "./errors.ts";

const TO_VAULT: Partial<Record<KeyType, string>> = {
  "ed25519": "ed25519",
  "ed25519-nkey": "ed25519",
  "rsa-2048": "rsa-2048",
  "ecdsa-p256": "ecdsa-p256",
  "ecdsa-p384": "ecdsa-p384",
  "ecdsa-p521": "ecdsa-p521",
  "aes-256-gcm": "aes256-gcm96",
  "chacha20-poly1305": "chacha20-poly1305",
};

const FROM_VAULT: Record<string, KeyType> = {
  "ed25519": "ed25519",
  "rsa-2048": "rsa-2048",
  "ecdsa-p256": "ecdsa-p256",
  "ecdsa-p384": "ecdsa-p384",
  "ecdsa-p521": "ecdsa-p521",
  "aes256-gcm96": "aes-256-gcm",
  "chacha20-poly1305": "chacha20-poly1305",
};

/** The transit `type` of a catalog key type; UNSUPPORTED_ALGORITHM if transit has none. */
export function vaultKeyType(keyType: KeyType): string {
  const t = TO_VAULT[keyType];
  if (t === undefined) {
    throw new BasilError(
      "UNSUPPORTED_ALGORITHM",
      `the vault transit engine does not hold ${keyType} keys`,
    );
  }
  return t;
}

/** The catalog key type of a transit `type`, or undefined for one Basil does not use. */
export function keyTypeOfVault(type: string): KeyType | undefined {
  return Object.hasOwn(FROM_VAULT, type) ? FROM_VAULT[type] : undefined;
}

/** ECDSA: the transit `hash_algorithm` and the byte size of r and s. */
export const ECDSA: Partial<Record<KeyType, { hash: string; size: number }>> = {
  "ecdsa-p256": { hash: "sha2-256", size: 32 },
  "ecdsa-p384": { hash: "sha2-384", size: 48 },
  "ecdsa-p521": { hash: "sha2-512", size: 66 },
};

/** A transit `public_key` in Basil's form for `keyType`; BACKEND_ERROR if malformed. */
export function publicKeyFromVault(keyType: KeyType, text: string, where: string): Uint8Array {
  const enc = new TextEncoder();
  if (keyType === "ed25519" || keyType === "ed25519-nkey") {
    const raw = decodeBase64(enc.encode(text));
    if (raw === undefined || raw.length !== 32) {
      throw rejected(`vault response: ${where} is not a base64 Ed25519 public key`);
    }
    return raw;
  }
  const der = pemToSpkiDer(enc.encode(text));
  if (der === undefined) throw rejected(`vault response: ${where} is not a PEM public key`);
  return spkiDerToPem(der);
}
