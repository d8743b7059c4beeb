/**
 * Sealing and opening of keystore rows and of the DEK-check constant.
 *
 * Every row's secret is AES-256-GCM under the DEK, stored as
 * `nonce(12) ‖ ciphertext ‖ tag(16)`. The AAD binds everything that says what
 * the secret is, so a row whose blob was swapped, or whose path, version,
 * kind, key type or public key was edited, fails to open:
 *
 * ```
 * "basil-keystore-row-v1" ‖ 0x00
 * ‖ kind       u8 (1 = value, 2 = key)
 * ‖ version    u32 BE
 * ‖ path       u32 BE length ‖ UTF-8
 * ‖ key_type   u8 present ‖ [u32 BE length ‖ UTF-8]
 * ‖ public     u8 present ‖ [u32 BE length ‖ bytes]
 * ```
 * @module
 */

import { aeadOpen, aeadSeal, packSealed, unpackSealed } from "../../crypto/aead.ts";
import { concat, u32be, utf8 } from "../../core/encoding.ts";

/** What a row holds: a kv value, or one version of a crypto key. */
export type EntryKind = "value" | "key";

/** Every entry kind (the SQL CHECK constraint lists the same set). */
export const ENTRY_KINDS: readonly EntryKind[] = ["value", "key"];

/** The columns a row's AAD binds. */
export interface RowBinding {
  readonly kind: EntryKind;
  readonly path: string;
  readonly version: number;
  readonly keyType?: string | undefined;
  readonly publicKey?: Uint8Array | undefined;
}

const ROW_LABEL = utf8("basil-keystore-row-v1\0");
const DEK_CHECK_AAD = utf8("basil-keystore-meta-v1\0dek_check");
const DEK_CHECK_PLAINTEXT = utf8("basil-keystore-dek-check-v1");
const KIND_BYTE: Readonly<Record<EntryKind, number>> = { value: 1, key: 2 };

/** The AAD for a row (layout in the module doc). */
export function rowAad(row: RowBinding): Uint8Array {
  if (!Number.isInteger(row.version) || row.version < 1 || row.version > 0xffffffff) {
    throw new RangeError("keystore row version must be 1..2^32-1");
  }
  return concat(
    ROW_LABEL,
    new Uint8Array([KIND_BYTE[row.kind]]),
    u32be(row.version),
    lengthPrefixed(utf8(row.path)),
    optional(row.keyType === undefined ? undefined : utf8(row.keyType)),
    optional(row.publicKey),
  );
}

/** Seals a row's secret; returns the packed blob for the `sealed` column. */
export function sealRow(dek: Uint8Array, row: RowBinding, secret: Uint8Array): Uint8Array {
  return packSealed(aeadSeal("aes-256-gcm", dek, secret, rowAad(row)));
}

/**
 * Opens a row's `sealed` blob against the row's columns. Returns a fresh
 * buffer the caller wipes; throws `AeadOpenError` when it does not verify.
 */
export function openRow(dek: Uint8Array, row: RowBinding, sealed: Uint8Array): Uint8Array {
  return aeadOpen("aes-256-gcm", dek, unpackSealed(sealed), rowAad(row));
}

/** A fresh DEK-check blob for the meta table. */
export function sealDekCheck(dek: Uint8Array): Uint8Array {
  return packSealed(aeadSeal("aes-256-gcm", dek, DEK_CHECK_PLAINTEXT, DEK_CHECK_AAD));
}

/** Whether `blob` is a DEK-check sealed under `dek`. */
export function dekCheckOpens(dek: Uint8Array, blob: Uint8Array): boolean {
  let plain: Uint8Array | undefined;
  try {
    plain = aeadOpen("aes-256-gcm", dek, unpackSealed(blob), DEK_CHECK_AAD);
    return plain.length === DEK_CHECK_PLAINTEXT.length &&
      plain.every((b, i) => b === DEK_CHECK_PLAINTEXT[i]);
  } catch {
    return false;
  } finally {
    plain?.fill(0);
  }
}

function lengthPrefixed(bytes: Uint8Array): Uint8Array {
  return concat(u32be(bytes.length), bytes);
}

function optional(bytes: Uint8Array | undefined): Uint8Array {
  return bytes === undefined
    ? new Uint8Array([0])
    : concat(new Uint8Array([1]), lengthPrefixed(bytes));
}
