/**
 * The pluggable slot layer: one {@linkcode SlotMethod} per unlock method
 * (passphrase, bip39, age-yubikey, tpm) turns an out-of-band
 * secret plus a slot's non-secret params into the master KEK, or wraps a KEK
 * into a new slot. The bundle core knows nothing method-specific.
 *
 * Invariants:
 * - `open` resolves to the 32-byte KEK (caller wipes) or rejects with
 *   {@linkcode SlotOpenFailed} (wrong secret or tampered slot: no secret
 *   detail, at most an operator-safe reason) or
 *   an `InputError` (the slot is structurally unusable, e.g. out-of-band
 *   Argon2 costs; the message is non-secret).
 * - Slot-wrap AAD is always {@linkcode wrapAad}: header bytes ‖ u32 BE slot_id.
 * - `dispose` wipes the method's secret; a disposed method cannot open.
 * @module
 */

import { InputError } from "../../core/errors.ts";
import { concat, u32be } from "../../core/encoding.ts";
import { AEAD_KEY_BYTES, aeadOpen, AeadOpenError, aeadSeal } from "../../crypto/aead.ts";
import {
  type Argon2Params,
  type KekWrap,
  type Slot,
  type SlotMethodName,
  type SlotParams,
  SUITE_V1,
} from "../format.ts";

/**
 * The wrong secret, or a slot that does not authenticate. Carries no secret
 * detail; a method may give a short, operator-safe `reason` (a TPM's "PCR
 * policy check failed"), which then is also the message.
 */
export class SlotOpenFailed extends Error {
  /** Why, when the method can say without revealing anything secret. */
  readonly reason: string | undefined;
  constructor(reason?: string) {
    super(reason ?? "slot did not open");
    this.name = "SlotOpenFailed";
    this.reason = reason;
  }
}

/** What a method needs to wrap the KEK into a new slot. */
export interface SlotCreateContext {
  /** The header bytes (AAD) of the bundle being written. */
  readonly headerBytes: Uint8Array;
  /** The id the new slot will carry. */
  readonly slotId: number;
  /** Argon2id costs for KDF-based methods. */
  readonly argon2: Argon2Params;
}

/** A new slot's method-specific parts. */
export interface SlotMaterial {
  readonly params: SlotParams;
  readonly wrap: KekWrap;
}

/** One configured unlock method. */
export interface SlotMethod {
  /** The slot method it handles. */
  readonly method: SlotMethodName;
  /** Wraps `kek` for a new slot. */
  create(kek: Uint8Array, ctx: SlotCreateContext): Promise<SlotMaterial>;
  /** Recovers the KEK from `slot` (whose `method` equals {@linkcode SlotMethod.method}). */
  open(slot: Slot, headerBytes: Uint8Array): Promise<Uint8Array>;
  /** Wipes the method's secret. */
  dispose(): void;
}

/** A slot to create: a method and its operator-facing label. */
export interface SlotSpec {
  readonly method: SlotMethod;
  readonly label: string;
}

/** The KEK-wrap AAD: header bytes ‖ u32 BE slot_id. */
export function wrapAad(headerBytes: Uint8Array, slotId: number): Uint8Array {
  return concat(headerBytes, u32be(slotId));
}

/** AES-256-GCM-wraps the KEK under a slot key, with AAD {@linkcode wrapAad}. */
export function wrapKek(
  slotKey: Uint8Array,
  kek: Uint8Array,
  headerBytes: Uint8Array,
  slotId: number,
): KekWrap {
  return aeadSeal(SUITE_V1.kek_wrap_aead, slotKey, kek, wrapAad(headerBytes, slotId));
}

/** Unwraps a slot's KEK with its slot key; undefined when it does not authenticate. */
export function unwrapKek(
  slotKey: Uint8Array,
  slot: Slot,
  headerBytes: Uint8Array,
): Uint8Array | undefined {
  try {
    return aeadOpen(SUITE_V1.kek_wrap_aead, slotKey, slot.wrap, wrapAad(headerBytes, slot.slot_id));
  } catch (e) {
    if (e instanceof AeadOpenError) return undefined;
    throw e;
  }
}

/** Returns `kek` if it is a 32-byte key; otherwise wipes it and throws `slot_params`. */
export function checkKekLength(kek: Uint8Array, slotId: number): Uint8Array {
  if (kek.length === AEAD_KEY_BYTES) return kek;
  kek.fill(0);
  throw new InputError("slot_params", `slot ${slotId}: unwrapped key has the wrong length`);
}
