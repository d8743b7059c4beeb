/**
 * Reads the private scalar out of an ECDSA PKCS#8 DER (RFC 5208 wrapping an
 * RFC 5915 ECPrivateKey), for the pure-JS signer, which takes raw scalars.
 *
 * Invariants:
 * - Strict DER subset: definite lengths only, minimal length encodings, no
 *   trailing bytes after the outer SEQUENCE. Anything else is undefined,
 *   never a guess.
 * - The algorithm must be id-ecPublicKey with the named-curve OID asked for;
 *   the scalar is returned left-padded to the curve's byte length as a fresh
 *   buffer the caller wipes. No other copy of the scalar bytes is made.
 * @module
 */

/** Named curves by their DER-encoded OID body. */
const CURVE_OIDS = {
  "P-256": [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
  "P-384": [0x2b, 0x81, 0x04, 0x00, 0x22],
  "P-521": [0x2b, 0x81, 0x04, 0x00, 0x23],
} as const;

/** Scalar byte length per curve. */
const SCALAR_BYTES = { "P-256": 32, "P-384": 48, "P-521": 66 } as const;

/** id-ecPublicKey, 1.2.840.10045.2.1. */
const EC_PUBLIC_KEY_OID = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/** A named NIST curve. */
export type NistCurve = keyof typeof CURVE_OIDS;

interface Tlv {
  readonly tag: number;
  /** The value bytes (a view into the input). */
  readonly value: Uint8Array;
  /** Offset just past this element. */
  readonly end: number;
}

/** Reads one TLV at `offset`; undefined when malformed or past `limit`. */
function readTlv(bytes: Uint8Array, offset: number, limit = bytes.length): Tlv | undefined {
  if (offset + 2 > limit) return undefined;
  const tag = bytes[offset]!;
  let len = bytes[offset + 1]!;
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || pos + n > limit) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | bytes[pos + i]!;
    pos += n;
    // Minimal length encoding: long form only for >= 128, no leading zero byte.
    if (len < 0x80 || bytes[offset + 2] === 0) return undefined;
  }
  if (pos + len > limit) return undefined;
  return { tag, value: bytes.subarray(pos, pos + len), end: pos + len };
}

function sameBytes(a: Uint8Array, b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The private scalar of an EC PKCS#8 on `curve`, left-padded to the curve's
 * length; undefined when `der` is not exactly such a key.
 */
export function ecScalarFromPkcs8(der: Uint8Array, curve: NistCurve): Uint8Array | undefined {
  const outer = readTlv(der, 0);
  if (!outer || outer.tag !== 0x30 || outer.end !== der.length) return undefined;
  const body = outer.value;
  const version = readTlv(body, 0);
  if (!version || version.tag !== 0x02 || !sameBytes(version.value, [0])) return undefined;
  const algId = readTlv(body, version.end);
  if (!algId || algId.tag !== 0x30) return undefined;
  const oid = readTlv(algId.value, 0);
  if (!oid || oid.tag !== 0x06 || !sameBytes(oid.value, EC_PUBLIC_KEY_OID)) return undefined;
  const params = readTlv(algId.value, oid.end);
  if (!params || params.tag !== 0x06 || !sameBytes(params.value, CURVE_OIDS[curve])) {
    return undefined;
  }
  if (params.end !== algId.value.length) return undefined;
  const wrapped = readTlv(body, algId.end);
  if (!wrapped || wrapped.tag !== 0x04) return undefined;
  // ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] params?, [1] pub? }
  const ecKey = readTlv(wrapped.value, 0);
  if (!ecKey || ecKey.tag !== 0x30 || ecKey.end !== wrapped.value.length) return undefined;
  const ecVersion = readTlv(ecKey.value, 0);
  if (!ecVersion || ecVersion.tag !== 0x02 || !sameBytes(ecVersion.value, [1])) return undefined;
  const scalar = readTlv(ecKey.value, ecVersion.end);
  const size = SCALAR_BYTES[curve];
  if (!scalar || scalar.tag !== 0x04 || scalar.value.length === 0 || scalar.value.length > size) {
    return undefined;
  }
  const out = new Uint8Array(size);
  out.set(scalar.value, size - scalar.value.length);
  return out;
}
