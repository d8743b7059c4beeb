/**
 * `bundle show` without `--open`: plaintext metadata only (contract §5).
 *
 * Invariants: nothing here decrypts; the description holds no ciphertext,
 * salt or key material, only ids, epochs, times, methods, labels and deposit
 * metadata. Output lines follow upstream (`bundle:`, `epoch:`, `slots:`,
 * `deposits:`, `slot N: method=…, label=…`, `deposit: backend=…`). Labels
 * and deposit metadata are unauthenticated and printed escaped
 * ({@linkcode printable}).
 * @module
 */

import { toHex } from "../core/encoding.ts";
import { type DepositMeta, depositMeta } from "./deposits/review.ts";
import { decodeBundle, type DecodedBundle, type SlotMethodName } from "./format.ts";
import { printable } from "./printable.ts";

/** Non-secret bundle metadata. */
export interface BundleDescription {
  readonly bundleIdHex: string;
  readonly epoch: number;
  readonly createdUnix: number;
  readonly slots: readonly {
    readonly slotId: number;
    readonly method: SlotMethodName;
    readonly label: string;
    readonly createdUnix: number;
  }[];
  readonly deposits: readonly DepositMeta[];
}

/** Decodes `bytes` (or takes a decoded bundle) and describes it. */
export function describeBundle(
  input: Uint8Array | DecodedBundle,
  file: string,
): BundleDescription {
  const b = input instanceof Uint8Array ? decodeBundle(input, file) : input;
  return {
    bundleIdHex: toHex(b.header.bundle_id),
    epoch: b.header.epoch,
    createdUnix: b.header.created_unix,
    slots: b.slots.map((s) => ({
      slotId: s.slot_id,
      method: s.method,
      label: s.label,
      createdUnix: s.created_unix,
    })),
    deposits: b.deposits.map((d) => ({
      backend_id: d.backend_id,
      contributor_key_id: d.contributor_key_id,
      epoch: d.epoch,
      seq: d.seq,
    })),
  };
}

/**
 * The `bundle show` lines for a description. Without `depositLines` (no
 * `--open`), each deposit shows its plaintext metadata only.
 */
export function formatBundleDescription(
  path: string,
  d: BundleDescription,
  depositLines?: readonly string[],
): string[] {
  return [
    `bundle: ${path}`,
    `epoch: ${d.epoch}`,
    `slots: ${d.slots.length}`,
    `deposits: ${d.deposits.length}`,
    ...d.slots.map((s) => `slot ${s.slotId}: method=${s.method}, label=${printable(s.label)}`),
    ...(depositLines ?? d.deposits.map((x) => `deposit: ${depositMeta(x)}`)),
  ];
}
