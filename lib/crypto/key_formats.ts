/**
 * Fixed byte layouts for raw 32-byte Curve25519 keys, PEM armour for
 * SubjectPublicKeyInfo, and zero-copy `Buffer` views for `node:crypto`.
 *
 * Invariants:
 * - Ed25519 and X25519 private keys are handled as 32 raw bytes and wrapped
 *   into their one fixed RFC 8410 PKCS#8 encoding only to hand them to
 *   `node:crypto`; the caller wipes the wrapped copy.
 * - Public keys are public: these helpers make no effort to wipe them.
 * - PEM text is `-----BEGIN PUBLIC KEY-----`, base64 in 64-column lines, a
 *   trailing newline (the layout Go's `pem.EncodeToMemory` and OpenSSL emit).
 * @module
 */

import { Buffer } from "node:buffer";
import { concat, fromBase64, fromHex, fromUtf8, utf8 } from "../core/encoding.ts";
import { derToPem } from "./x509/pem.ts";

/** Length of a raw Ed25519 seed, X25519 private key, or either public key. */
export const RAW_KEY_BYTES = 32;

/** Which Curve25519 form a raw key belongs to. */
export type RawCurve = "ed25519" | "x25519";

/**
 * RFC 8410 DER prefixes that precede the raw 32 bytes: PKCS#8 v1 and SPKI,
 * for Ed25519 (OID 1.3.101.112) and X25519 (OID 1.3.101.110).
 */
const PREFIX: Record<RawCurve, { pkcs8: Uint8Array; spki: Uint8Array }> = {
  ed25519: {
    pkcs8: fromHex("302e020100300506032b657004220420"),
    spki: fromHex("302a300506032b6570032100"),
  },
  x25519: {
    pkcs8: fromHex("302e020100300506032b656e04220420"),
    spki: fromHex("302a300506032b656e032100"),
  },
};

/** Wraps a 32-byte private key as PKCS#8 DER; the caller wipes the result. */
export function rawPrivateToPkcs8(curve: RawCurve, raw: Uint8Array): Uint8Array {
  if (raw.length !== RAW_KEY_BYTES) throw new RangeError("raw private key must be 32 bytes");
  return concat(PREFIX[curve].pkcs8, raw);
}

/** Wraps a 32-byte public key as SubjectPublicKeyInfo DER. */
export function rawPublicToSpki(curve: RawCurve, raw: Uint8Array): Uint8Array {
  if (raw.length !== RAW_KEY_BYTES) throw new RangeError("raw public key must be 32 bytes");
  return concat(PREFIX[curve].spki, raw);
}

/**
 * The raw 32 bytes inside a fixed-layout RFC 8410 encoding (PKCS#8 v1 or
 * SPKI) produced by `node:crypto`; undefined when `der` is not that layout.
 * Returns a copy (the caller wipes it when it is private).
 */
export function rawFromFixedDer(
  curve: RawCurve,
  form: "pkcs8" | "spki",
  der: Uint8Array,
): Uint8Array | undefined {
  const prefix = PREFIX[curve][form];
  if (der.length !== prefix.length + RAW_KEY_BYTES) return undefined;
  for (let i = 0; i < prefix.length; i++) if (der[i] !== prefix[i]) return undefined;
  // Not `der.slice`: on a node `Buffer` that is a view, not a copy.
  return new Uint8Array(der.subarray(prefix.length));
}

const PEM_LABEL = "PUBLIC KEY";
const PEM_BEGIN = `-----BEGIN ${PEM_LABEL}-----`;
const PEM_END = `-----END ${PEM_LABEL}-----`;

/** SPKI DER → PEM text as UTF-8 bytes (64-column base64, trailing newline). */
export function spkiDerToPem(der: Uint8Array): Uint8Array {
  return utf8(derToPem(der, PEM_LABEL));
}

/**
 * PEM `PUBLIC KEY` text (UTF-8 bytes) → SPKI DER; undefined when the bytes
 * are not exactly one such block (surrounding whitespace allowed).
 */
export function pemToSpkiDer(pem: Uint8Array): Uint8Array | undefined {
  let text: string;
  try {
    text = fromUtf8(pem).trim();
  } catch {
    return undefined;
  }
  if (!text.startsWith(PEM_BEGIN) || !text.endsWith(PEM_END)) return undefined;
  const body = text.slice(PEM_BEGIN.length, text.length - PEM_END.length).replace(/\s+/g, "");
  if (body.length === 0) return undefined;
  try {
    return fromBase64(body);
  } catch {
    return undefined;
  }
}

/**
 * A `Buffer` view over `bytes` for `node:crypto` APIs typed to take a
 * `Buffer` (no copy, so there is no extra copy of a key to wipe).
 */
export function bufferView(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
