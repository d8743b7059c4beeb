/**
 * `bundle promote` (contract §6): fold effective deposits into the sealed
 * payload with a full reseal that bumps the epoch.
 *
 * Invariants:
 * - Every slot must open with a given opener (a full reseal rewraps every
 *   slot under a new header and a NEW master KEK); otherwise the promote is
 *   refused with the list of slots that did not open, and nothing changes.
 * - Each slot keeps its id, label, creation time and parameters' shape:
 *   KDF slots are rewrapped by the secret that opened them with their own
 *   Argon2 costs (fresh salt); an age slot is rewrapped to its recipient and
 *   must then open with the identity that opened it (so an edited
 *   `recipient` field cannot redirect the new KEK); a TPM slot is resealed
 *   with its own PCR selection.
 * - Every record for a promoted backend id leaves the log (the promoted
 *   one, those it superseded, and invalid ones); records for other backend
 *   ids stay, now stale since the epoch moved on.
 * - The caller writes the file, then advances the epoch sidecar.
 * @module
 */

import { InputError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { nullLogger } from "../core/log.ts";
import { timingSafeEqual } from "../core/secret.ts";
import { AEAD_KEY_BYTES } from "../crypto/aead.ts";
import { decryptPayload, type RecoveredKek, recoverKek, sealPayload, tryOpen } from "./bundle.ts";
import { wipeCred } from "./creds.ts";
import { type DepositReview, evaluateDeposits, wipeReviews } from "./deposits/evaluate.ts";
import { type DecodedBundle, encodeBundle, encodeHeader, type Slot } from "./format.ts";
import { PRODUCTION_ARGON2 } from "./kdf.ts";
import { type Payload, wipePayload } from "./payload.ts";
import { printable } from "./printable.ts";
import { AgeMethod, parseAgeRecipient } from "./slots/age.ts";
import type { PluginOptions } from "./slots/age_plugin.ts";
import { loadTpmMethod, type TpmSettings } from "./slots/tpm_loader.ts";
import type { SlotMaterial, SlotMethod } from "./slots/types.ts";

/** Which effective deposits to promote (empty = all). */
export interface PromoteSelection {
  readonly backends?: readonly string[];
  readonly contributors?: readonly string[];
}

/** Options for {@linkcode promoteBundle}. */
export interface PromoteOptions {
  readonly dryRun?: boolean;
  readonly logger?: Logger;
  readonly agePlugin?: PluginOptions;
  readonly tpm?: TpmSettings;
}

/** The outcome: every review, the ones selected, and (unless dry-run) the new file. */
export interface PromoteResult {
  readonly reviews: readonly DepositReview[];
  readonly selected: readonly DepositReview[];
  /** Backend ids present in the sealed payload before the promote. */
  readonly sealedIds: ReadonlySet<string>;
  readonly newEpoch: number;
  readonly bytes?: Uint8Array;
}

function selects(sel: PromoteSelection, r: DepositReview): boolean {
  if (r.status !== "effective") return false;
  if (sel.backends?.length && !sel.backends.includes(r.record.backend_id)) return false;
  if (sel.contributors?.length && !sel.contributors.includes(r.record.contributor_key_id)) {
    return false;
  }
  return true;
}

/** Reviews deposits and, unless `dryRun`, reseals with the selected ones folded in. */
export async function promoteBundle(
  bundle: DecodedBundle,
  file: string,
  openers: readonly SlotMethod[],
  sel: PromoteSelection,
  o: PromoteOptions = {},
): Promise<PromoteResult> {
  const logger = o.logger ?? nullLogger;
  const first = await recoverKek(bundle, file, openers, logger);
  let payload: Payload | undefined;
  let reviews: DepositReview[] = [];
  try {
    payload = decryptPayload(bundle, first.kek, file);
    reviews = evaluateDeposits(bundle, payload.deposit);
    const selected = reviews.filter((r) => selects(sel, r));
    const base = {
      reviews,
      selected,
      sealedIds: new Set(payload.backends.keys()),
      newEpoch: bundle.header.epoch + 1,
    };
    if (o.dryRun) return base;
    if (selected.length === 0) {
      throw new InputError(
        "bundle_promote_empty",
        `bundle ${file}: no effective deposit matches; nothing to promote`,
      );
    }
    const openerOf = await openEverySlot(bundle, file, openers, first, logger);
    for (const r of selected) {
      const old = payload.backends.get(r.record.backend_id);
      if (old !== undefined) wipeCred(old);
      payload.backends.set(r.record.backend_id, r.cred!);
      r.cred = undefined;
    }
    const bytes = await reseal(bundle, payload, openerOf, selected, o);
    return { ...base, bytes };
  } finally {
    first.kek.fill(0);
    wipeReviews(reviews);
    if (payload !== undefined) wipePayload(payload);
  }
}

/**
 * Maps every slot to an opener that opens it, checking they all yield the
 * KEK of `first` (whose slot is not opened again: no second Argon2 run,
 * TPM unseal or YubiKey touch).
 */
async function openEverySlot(
  bundle: DecodedBundle,
  file: string,
  openers: readonly SlotMethod[],
  first: RecoveredKek,
  logger: Logger,
): Promise<Map<number, SlotMethod>> {
  const kek = first.kek;
  const out = new Map<number, SlotMethod>([[first.slotId, first.opener]]);
  const missing: string[] = [];
  const problems: string[] = [];
  for (const slot of bundle.slots) {
    if (out.has(slot.slot_id)) continue;
    for (const opener of openers.filter((m) => m.method === slot.method)) {
      const k = await tryOpen(opener, slot, bundle.headerBytes, logger, problems);
      if (k === undefined) continue;
      const same = timingSafeEqual(k, kek);
      k.fill(0);
      if (!same) {
        throw new InputError(
          "bundle_corrupt",
          `bundle ${file}: slot ${slot.slot_id} holds a different master key`,
        );
      }
      out.set(slot.slot_id, opener);
      break;
    }
    if (!out.has(slot.slot_id)) {
      missing.push(`slot ${slot.slot_id} (method=${slot.method}, label=${printable(slot.label)})`);
    }
  }
  if (missing.length > 0) {
    throw new InputError(
      "bundle_promote_locked",
      `bundle ${file}: promote rewraps every slot, but ${missing.join(", ")} did not open ` +
        `with the given --open methods; pass an --open for each slot (or remove-slot it first)` +
        (problems.length > 0 ? `; ${problems.join("; ")}` : ""),
    );
  }
  return out;
}

async function rewrap(
  slot: Slot,
  opener: SlotMethod,
  kek: Uint8Array,
  headerBytes: Uint8Array,
  o: PromoteOptions,
): Promise<SlotMaterial> {
  const p = slot.params;
  const ctx = { headerBytes, slotId: slot.slot_id };
  switch (p.kind) {
    case "passphrase":
    case "bip39":
      return await opener.create(kek, { ...ctx, argon2: p.argon2 });
    case "age-yubikey": {
      const m = new AgeMethod({
        recipient: parseAgeRecipient(p.recipient),
        plugin: o.agePlugin ?? {},
      });
      const material = await m.create(kek, { ...ctx, argon2: PRODUCTION_ARGON2 });
      const check = await opener.open(
        { ...slot, params: material.params, wrap: material.wrap },
        headerBytes,
      )
        .catch(() => undefined);
      const ok = check !== undefined && timingSafeEqual(check, kek);
      check?.fill(0);
      if (!ok) {
        throw new InputError(
          "bundle_promote_age_mismatch",
          `slot ${slot.slot_id}: the rewrapped age slot does not open with the identity that ` +
            `opened it; its recipient field may have been edited (nothing was written)`,
        );
      }
      return material;
    }
    case "tpm": {
      const m = await loadTpmMethod({ ...o.tpm, pcrs: p.pcrs.pcrs, bank: p.pcrs.bank });
      try {
        return await m.create(kek, { ...ctx, argon2: PRODUCTION_ARGON2 });
      } finally {
        m.dispose();
      }
    }
  }
}

async function reseal(
  bundle: DecodedBundle,
  payload: Payload,
  openerOf: ReadonlyMap<number, SlotMethod>,
  selected: readonly DepositReview[],
  o: PromoteOptions,
): Promise<Uint8Array> {
  const header = { ...bundle.header, epoch: bundle.header.epoch + 1 };
  const headerBytes = encodeHeader(header);
  const kek = crypto.getRandomValues(new Uint8Array(AEAD_KEY_BYTES));
  try {
    const slots: Slot[] = [];
    for (const slot of bundle.slots) {
      const { params, wrap } = await rewrap(slot, openerOf.get(slot.slot_id)!, kek, headerBytes, o);
      slots.push({ ...slot, params, wrap });
    }
    const promotedIds = new Set(selected.map((r) => r.record.backend_id));
    const promotedIdx = new Set(selected.map((r) => r.index));
    const deposits = bundle.deposits.filter((d, i) =>
      !promotedIdx.has(i) && !promotedIds.has(d.backend_id)
    );
    const sealed = sealPayload(headerBytes, kek, payload);
    return encodeBundle({ headerBytes, header, slots, payload: sealed, deposits });
  } finally {
    kek.fill(0);
  }
}
