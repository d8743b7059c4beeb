/**
 * Sealing and opening a bundle (contract §6).
 *
 * Invariants:
 * - One random 32-byte master KEK per bundle encrypts the payload
 *   (AES-256-GCM, AAD = header bytes); every slot wraps that same KEK.
 * - A new bundle has a random 16-byte id, epoch 1 and N slots numbered
 *   0..N-1.
 * - {@linkcode recoverKek} (and {@linkcode openBundle} on top of it) tries
 *   slots in file order, only those whose method has an opener (every
 *   opener of that method, in the order given), and stops at the first that
 *   opens. A wrong secret and a tampered slot give the same `bundle_locked`
 *   error; a method may add a non-secret reason (a TPM's "PCR mismatch").
 * - {@linkcode sealPayload} / {@linkcode decryptPayload} are the only ways
 *   the payload is encrypted or decrypted (AAD = the literal header bytes).
 * - The KEK, slot keys and payload plaintext are wiped in `finally`.
 * @module
 */

import { InputError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { nullLogger } from "../core/log.ts";
import { AEAD_KEY_BYTES, aeadOpen, AeadOpenError, aeadSeal } from "../crypto/aead.ts";
import type { BackendCred } from "./creds.ts";
import {
  decodeBundle,
  type DecodedBundle,
  encodeBundle,
  encodeHeader,
  type SealedPayload,
  type Slot,
  SUITE_V1,
} from "./format.ts";
import { type Argon2Params, PRODUCTION_ARGON2 } from "./kdf.ts";
import {
  decodePayload,
  type DepositMaterial,
  emptyDeposit,
  encodePayload,
  type Payload,
  wipePayload,
} from "./payload.ts";
import { type SlotMethod, SlotOpenFailed, type SlotSpec } from "./slots/types.ts";

/** Inputs to {@linkcode createBundle}. */
export interface CreateBundleOptions {
  /** At least one slot; ids are assigned 0..N in this order. */
  readonly slots: readonly SlotSpec[];
  /** Backend id → credential (not wiped by this call). */
  readonly backends: ReadonlyMap<string, BackendCred>;
  /** Deposit material (default: none). */
  readonly deposit?: DepositMaterial;
  /** Argon2id costs for KDF slots (default: production). */
  readonly argon2?: Argon2Params;
  /** Clock in unix seconds (tests). */
  readonly now?: () => number;
}

const nowUnix = (): number => Math.floor(Date.now() / 1000);

/** Seals a new bundle and returns the file bytes. */
export async function createBundle(options: CreateBundleOptions): Promise<Uint8Array> {
  if (options.slots.length === 0) {
    throw new InputError("bundle_create_invalid", "bundle create requires at least one slot");
  }
  const now = options.now ?? nowUnix;
  const argon2 = options.argon2 ?? PRODUCTION_ARGON2;
  const header = {
    format_version: 1 as const,
    bundle_id: crypto.getRandomValues(new Uint8Array(16)),
    created_unix: now(),
    epoch: 1,
  };
  const headerBytes = encodeHeader(header);
  const kek = crypto.getRandomValues(new Uint8Array(AEAD_KEY_BYTES));
  let plaintext: Uint8Array | undefined;
  try {
    plaintext = encodePayload({
      backends: new Map(options.backends),
      deposit: options.deposit ?? emptyDeposit(),
    });
    const payload = aeadSeal(SUITE_V1.payload_aead, kek, plaintext, headerBytes);
    const slots: Slot[] = [];
    for (const [slotId, spec] of options.slots.entries()) {
      const { params, wrap } = await spec.method.create(kek, { headerBytes, slotId, argon2 });
      slots.push({
        slot_id: slotId,
        method: spec.method.method,
        label: spec.label,
        created_unix: now(),
        params,
        wrap,
      });
    }
    return encodeBundle({
      headerBytes,
      header,
      slots,
      payload,
      deposits: [],
    });
  } finally {
    kek.fill(0);
    plaintext?.fill(0);
  }
}

/** A successfully opened bundle. Call {@linkcode OpenedBundle.wipe} when done. */
export interface OpenedBundle {
  /** The decoded file. */
  readonly bundle: DecodedBundle;
  /** The slot that opened it. */
  readonly slotId: number;
  /** Backend id → credential. */
  readonly backends: Map<string, BackendCred>;
  /** Deposit identity and allow-list. */
  readonly deposit: DepositMaterial;
  /** Wipes every secret in the opened payload. */
  wipe(): void;
}

/** The recovered master KEK (caller wipes) and the slot that gave it. */
export interface RecoveredKek {
  readonly kek: Uint8Array;
  readonly slotId: number;
  readonly opener: SlotMethod;
}

/** Options for {@linkcode recoverKek}. */
export interface RecoverOptions {
  /** Slot ids not to try (e.g. the slot `remove-slot` is about to drop). */
  readonly skip?: ReadonlySet<number>;
}

/**
 * Tries slots in file order with the openers of their method and returns
 * the first KEK. Throws `InputError("bundle_locked")` when none opens.
 */
export async function recoverKek(
  bundle: DecodedBundle,
  file: string,
  openers: readonly SlotMethod[],
  logger: Logger = nullLogger,
  options: RecoverOptions = {},
): Promise<RecoveredKek> {
  const tried = [...new Set(openers.map((o) => o.method))];
  const problems: string[] = [];
  let matched = 0;
  for (const slot of bundle.slots) {
    if (options.skip?.has(slot.slot_id)) continue;
    for (const opener of openers.filter((o) => o.method === slot.method)) {
      matched++;
      const kek = await tryOpen(opener, slot, bundle.headerBytes, logger, problems);
      if (kek === undefined) continue;
      logger.log("info", "unlock slot opened", { slot_id: slot.slot_id, method: slot.method });
      return { kek, slotId: slot.slot_id, opener };
    }
  }
  let detail = "";
  if (matched === 0 && tried.length > 0) {
    detail = `; the bundle has no ${tried.join(" or ")} slot`;
    if (options.skip !== undefined && options.skip.size > 0) detail += " besides the one excluded";
  } else if (problems.length > 0) detail = `; ${problems.join("; ")}`;
  throw new InputError(
    "bundle_locked",
    `bundle ${file}: no configured unlock slot opened it (tried: ${
      tried.join(", ") || "none"
    })${detail}`,
  );
}

/**
 * Opens a bundle with the given openers. Throws `InputError`:
 * `bundle_corrupt` / `bundle_unsupported` (decode, payload), `bundle_locked`
 * (no slot opened).
 */
export async function openBundle(
  input: Uint8Array | DecodedBundle,
  file: string,
  openers: readonly SlotMethod[],
  logger: Logger = nullLogger,
): Promise<OpenedBundle> {
  const bundle = input instanceof Uint8Array ? decodeBundle(input, file) : input;
  const { kek, slotId } = await recoverKek(bundle, file, openers, logger);
  try {
    const opened = decryptPayload(bundle, kek, file);
    return { bundle, slotId, ...opened, wipe: () => wipePayload(opened) };
  } finally {
    kek.fill(0);
  }
}

/** One opener on one slot: the KEK, or `undefined` after logging why not. */
export async function tryOpen(
  opener: SlotMethod,
  slot: Slot,
  headerBytes: Uint8Array,
  logger: Logger,
  problems: string[],
): Promise<Uint8Array | undefined> {
  try {
    return await opener.open(slot, headerBytes);
  } catch (e) {
    const fields = { slot_id: slot.slot_id, method: slot.method };
    if (e instanceof SlotOpenFailed) {
      logger.log("warn", "unlock slot did not open", fields);
      // A method may say why without saying anything secret (a TPM: "PCR policy check failed").
      if (e.reason !== undefined) {
        const problem = `slot ${slot.slot_id}: ${e.reason}`;
        if (!problems.includes(problem)) problems.push(problem);
      }
    } else if (e instanceof InputError) {
      logger.log("warn", `unlock slot unusable: ${e.message}`, fields);
      const prefix = `slot ${slot.slot_id}`;
      const problem = e.message.startsWith(prefix) ? e.message : `${prefix}: ${e.message}`;
      if (!problems.includes(problem)) problems.push(problem);
    } else throw e;
    return undefined;
  }
}

/** Decrypts and decodes the payload with `kek` (not wiped here). */
export function decryptPayload(
  bundle: DecodedBundle,
  kek: Uint8Array,
  file: string,
): Payload {
  let plaintext: Uint8Array;
  try {
    plaintext = aeadOpen(SUITE_V1.payload_aead, kek, bundle.payload, bundle.headerBytes);
  } catch (e) {
    if (!(e instanceof AeadOpenError)) throw e;
    throw new InputError(
      "bundle_corrupt",
      `bundle ${file}: corrupt or tampered: payload failed authentication`,
    );
  }
  try {
    return decodePayload(plaintext, file);
  } finally {
    plaintext.fill(0);
  }
}

/** Encrypts a payload under `kek` with a fresh nonce, AAD = `headerBytes`. */
export function sealPayload(
  headerBytes: Uint8Array,
  kek: Uint8Array,
  payload: Payload,
): SealedPayload {
  const plaintext = encodePayload(payload);
  try {
    return aeadSeal(SUITE_V1.payload_aead, kek, plaintext, headerBytes);
  } finally {
    plaintext.fill(0);
  }
}
