/**
 * TPM 2.0 wire-format builders and parsers (TCG TPM 2.0 Part 2: big-endian,
 * `TPM2B` = u16 size ‖ bytes). Every input to ESYS is built here as wire
 * bytes and turned into the C struct by `Tss2_MU_*_Unmarshal`, so no C struct
 * layout is ever written by hand.
 *
 * Invariants: builders are pure (no FFI); parsers reject truncated input and
 * trailing bytes by returning `undefined`; nothing here sees a secret except
 * {@linkcode sensitiveCreate}, whose output the caller wipes.
 * @module
 */

/** TPM_ALG_ID values used by the seal flow. */
export const ALG = {
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  SHA256: 0x000b,
  NULL: 0x0010,
  ECC: 0x0023,
  CFB: 0x0043,
} as const;

/** TPM_ECC_NIST_P256. */
export const ECC_NIST_P256 = 0x0003;

/** TPMA_OBJECT bits. */
export const OBJECT_ATTR = {
  FIXED_TPM: 0x0000_0002,
  FIXED_PARENT: 0x0000_0010,
  SENSITIVE_DATA_ORIGIN: 0x0000_0020,
  USER_WITH_AUTH: 0x0000_0040,
  NO_DA: 0x0000_0400,
  RESTRICTED: 0x0001_0000,
  DECRYPT: 0x0002_0000,
} as const;

/** The number of PCRs in a bank that a selection may name (0..23). */
export const PCR_COUNT = 24;

/** Appends big-endian TPM wire fields. */
class WireWriter {
  #bytes: number[] = [];

  /** One byte. */
  u8(v: number): this {
    this.#bytes.push(v & 0xff);
    return this;
  }
  /** A big-endian u16. */
  u16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }
  /** A big-endian u32. */
  u32(v: number): this {
    return this.u16(v >>> 16).u16(v & 0xffff);
  }
  /** Raw bytes. */
  bytes(b: Uint8Array): this {
    for (const x of b) this.#bytes.push(x);
    return this;
  }
  /** A `TPM2B`: u16 size ‖ bytes. */
  tpm2b(b: Uint8Array): this {
    if (b.length > 0xffff) throw new RangeError("TPM2B too large");
    return this.u16(b.length).bytes(b);
  }
  /** The bytes written so far. */
  out(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }
}

/** A symmetric definition: AES-128-CFB or NULL (`TPMT_SYM_DEF(_OBJECT)` wire). */
export function symDef(aes128cfb: boolean): Uint8Array {
  const w = new WireWriter();
  return aes128cfb ? w.u16(ALG.AES).u16(128).u16(ALG.CFB).out() : w.u16(ALG.NULL).out();
}

/**
 * `TPM2B_PUBLIC` of the storage root key, template `ecc-p256-srk-v1`: an ECC
 * NIST P-256 restricted decryption key in the owner hierarchy (TCG SRK
 * attributes), AES-128-CFB, no scheme, no KDF, empty unique. Deterministic
 * for a given TPM, so it is recreated on each use instead of persisted.
 */
export function srkTemplate(): Uint8Array {
  const a = OBJECT_ATTR;
  const attrs = a.FIXED_TPM | a.FIXED_PARENT | a.SENSITIVE_DATA_ORIGIN | a.USER_WITH_AUTH |
    a.NO_DA | a.RESTRICTED | a.DECRYPT;
  const area = new WireWriter()
    .u16(ALG.ECC).u16(ALG.SHA256).u32(attrs)
    .tpm2b(new Uint8Array()) // authPolicy
    .bytes(symDef(true)) // TPMT_SYM_DEF_OBJECT
    .u16(ALG.NULL) // scheme
    .u16(ECC_NIST_P256)
    .u16(ALG.NULL) // kdf
    .tpm2b(new Uint8Array()).tpm2b(new Uint8Array()) // unique x, y
    .out();
  return new WireWriter().tpm2b(area).out();
}

/**
 * `TPM2B_PUBLIC` of a sealed data object: KEYEDHASH, sha256 name, fixedTPM |
 * fixedParent and NOT userWithAuth (only `authPolicy` can unseal it).
 */
export function sealedTemplate(authPolicy: Uint8Array): Uint8Array {
  const area = new WireWriter()
    .u16(ALG.KEYEDHASH).u16(ALG.SHA256)
    .u32(OBJECT_ATTR.FIXED_TPM | OBJECT_ATTR.FIXED_PARENT)
    .tpm2b(authPolicy)
    .u16(ALG.NULL) // TPMT_KEYEDHASH_SCHEME
    .tpm2b(new Uint8Array()) // unique
    .out();
  return new WireWriter().tpm2b(area).out();
}

/**
 * `TPM2B_SENSITIVE_CREATE{ userAuth = empty, data }`. The caller wipes the
 * result, the only copy made: it is written into one buffer of the exact
 * size (a growing `WireWriter` would leave copies of `data` behind).
 */
export function sensitiveCreate(data: Uint8Array): Uint8Array {
  const innerSize = 2 + 2 + data.length; // userAuth (empty TPM2B) ‖ data TPM2B
  if (innerSize > 0xffff) throw new RangeError("TPM2B too large");
  const out = new Uint8Array(2 + innerSize);
  const v = new DataView(out.buffer);
  v.setUint16(0, innerSize);
  v.setUint16(2, 0);
  v.setUint16(4, data.length);
  out.set(data, 6);
  return out;
}

/** `TPML_PCR_SELECTION` with one bank (sha256) and the given PCR indices. */
export function pcrSelection(pcrs: readonly number[]): Uint8Array {
  const bitmap = new Uint8Array(3);
  for (const p of pcrs) {
    if (!Number.isInteger(p) || p < 0 || p >= PCR_COUNT) throw new RangeError(`bad PCR ${p}`);
    bitmap[p >> 3]! |= 1 << (p & 7);
  }
  return new WireWriter().u32(1).u16(ALG.SHA256).u8(bitmap.length).bytes(bitmap).out();
}

/** The fields of a `TPM2B_PUBLIC` that the seal flow checks. */
export interface PublicSummary {
  readonly type: number;
  readonly nameAlg: number;
  readonly attributes: number;
  readonly authPolicy: Uint8Array;
}

/** Reads type, nameAlg, attributes and authPolicy of a wire `TPM2B_PUBLIC`. */
export function readPublic(wire: Uint8Array): PublicSummary | undefined {
  const v = new DataView(wire.buffer, wire.byteOffset, wire.byteLength);
  if (wire.length < 12 || v.getUint16(0) !== wire.length - 2) return undefined;
  const policyLen = v.getUint16(10);
  if (12 + policyLen > wire.length) return undefined;
  return {
    type: v.getUint16(2),
    nameAlg: v.getUint16(4),
    attributes: v.getUint32(6),
    authPolicy: wire.slice(12, 12 + policyLen),
  };
}

/** Whether `wire` is exactly one `TPM2B` (u16 size matching the rest). */
export function isTpm2b(wire: Uint8Array): boolean {
  return wire.length >= 2 && ((wire[0]! << 8) | wire[1]!) === wire.length - 2;
}
