/**
 * Changing an existing bundle without a full reseal (contract §5/§6):
 * `add-slot`, `remove-slot`, and payload edits (`set-backend`, `allow`,
 * `deposit-key`). The header bytes (so the epoch), the bundle id and the
 * deposit log are kept; only `promote` (in `promote.ts`) bumps the epoch.
 *
 * Invariants:
 * - Every edit first proves authority: a given opener must open a slot and
 *   the recovered KEK must authenticate the payload.
 * - `add-slot` wraps the SAME KEK for slot id max+1 and leaves the payload
 *   bytes untouched.
 * - `remove-slot` refuses to remove the last slot, and requires an opener
 *   for a slot that stays (the removed slot is excluded when opening), so a
 *   bundle is never left without a slot its operator can open.
 * - Payload edits re-encrypt under the same header with the same KEK and a
 *   fresh nonce.
 * - The KEK and payload secrets are wiped in `finally`.
 * @module
 */

import { InputError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { nullLogger } from "../core/log.ts";
import { decryptPayload, recoverKek, sealPayload } from "./bundle.ts";
import { type DecodedBundle, encodeBundle } from "./format.ts";
import { type Argon2Params, PRODUCTION_ARGON2 } from "./kdf.ts";
import { type Payload, wipePayload } from "./payload.ts";
import type { SlotMethod, SlotSpec } from "./slots/types.ts";

/** Appends a slot wrapping the bundle's KEK; returns the new file bytes and the slot id. */
export async function addSlot(
  bundle: DecodedBundle,
  file: string,
  openers: readonly SlotMethod[],
  spec: SlotSpec,
  options: { argon2?: Argon2Params; logger?: Logger; now?: () => number } = {},
): Promise<{ bytes: Uint8Array; slotId: number }> {
  const { kek } = await recoverKek(bundle, file, openers, options.logger ?? nullLogger);
  try {
    wipePayload(decryptPayload(bundle, kek, file));
    const slotId = bundle.slots.reduce((m, s) => Math.max(m, s.slot_id + 1), 0);
    if (slotId > 0xffff_ffff) {
      throw new InputError("bundle_slots_full", `bundle ${file}: no slot id left`);
    }
    const argon2 = options.argon2 ?? PRODUCTION_ARGON2;
    const { params, wrap } = await spec.method.create(kek, {
      headerBytes: bundle.headerBytes,
      slotId,
      argon2,
    });
    const now = options.now?.() ?? Math.floor(Date.now() / 1000);
    const slot = {
      slot_id: slotId,
      method: spec.method.method,
      label: spec.label,
      created_unix: now,
      params,
      wrap,
    };
    return { bytes: encodeBundle({ ...bundle, slots: [...bundle.slots, slot] }), slotId };
  } finally {
    kek.fill(0);
  }
}

/** Removes slot `slotId`; an opener must open one of the remaining slots. */
export async function removeSlot(
  bundle: DecodedBundle,
  file: string,
  openers: readonly SlotMethod[],
  slotId: number,
  logger: Logger = nullLogger,
): Promise<Uint8Array> {
  const target = bundle.slots.find((s) => s.slot_id === slotId);
  if (target === undefined) {
    const ids = bundle.slots.map((s) => s.slot_id).join(", ");
    throw new InputError(
      "bundle_slot_unknown",
      `bundle ${file} has no slot ${slotId} (slots: ${ids})`,
    );
  }
  if (bundle.slots.length === 1) {
    throw new InputError(
      "bundle_last_slot",
      `bundle ${file}: slot ${slotId} is the last slot and cannot be removed; add another slot first`,
    );
  }
  let kek: Uint8Array;
  try {
    ({ kek } = await recoverKek(bundle, file, openers, logger, { skip: new Set([slotId]) }));
  } catch (e) {
    if (!(e instanceof InputError) || e.token !== "bundle_locked") throw e;
    throw new InputError(
      "bundle_locked",
      `${e.message}; remove-slot needs an --open method for a slot that stays ` +
        `(slot ${slotId} itself does not count)`,
    );
  }
  try {
    wipePayload(decryptPayload(bundle, kek, file));
  } finally {
    kek.fill(0);
  }
  return encodeBundle({ ...bundle, slots: bundle.slots.filter((s) => s.slot_id !== slotId) });
}

/**
 * Opens the payload, lets `mutate` change it, and re-encrypts it under the
 * same header and KEK. Returns the new file bytes and whatever `mutate`
 * returned.
 */
export async function editPayload<T>(
  bundle: DecodedBundle,
  file: string,
  openers: readonly SlotMethod[],
  mutate: (payload: Payload) => T,
  logger: Logger = nullLogger,
): Promise<{ bytes: Uint8Array; result: T }> {
  const { kek } = await recoverKek(bundle, file, openers, logger);
  let payload: Payload | undefined;
  try {
    payload = decryptPayload(bundle, kek, file);
    const result = mutate(payload);
    const sealed = sealPayload(bundle.headerBytes, kek, payload);
    return { bytes: encodeBundle({ ...bundle, payload: sealed }), result };
  } finally {
    kek.fill(0);
    if (payload !== undefined) wipePayload(payload);
  }
}
