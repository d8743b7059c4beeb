/**
 * Argon2id (v0x13) slot-key derivation via hash-wasm, and the cost band a
 * bundle may ask for (contract §6).
 *
 * Invariants:
 * - {@linkcode checkArgon2Params} runs before any memory is allocated; a
 *   bundle cannot make the agent allocate more than 1 GiB or run more than
 *   64 passes / lanes.
 * - Output is always 32 bytes; the caller owns and wipes it.
 * - Production costs are m = 65536 KiB, t = 3, p = 1 with a 16-byte salt;
 *   smaller costs exist only for tests and are chosen explicitly.
 * @module
 */

import { argon2id } from "hash-wasm";
import { InputError } from "../core/errors.ts";
import type { Argon2Params } from "./format.ts";

export type { Argon2Params } from "./format.ts";

/** The production profile (64 MiB, 3 passes, 1 lane). */
export const PRODUCTION_ARGON2: Argon2Params = Object.freeze({
  m_cost_kib: 65536,
  t_cost: 3,
  p_cost: 1,
});

/** Accepted inclusive ranges. */
export const ARGON2_BAND = Object.freeze({
  m_cost_kib: [8, 1_048_576] as const,
  t_cost: [1, 64] as const,
  p_cost: [1, 64] as const,
});

/** Salt length for new slots. */
export const SALT_LEN = 16;
/** Slot key length. */
export const SLOT_KEY_LEN = 32;
/** Shortest salt Argon2 accepts. */
export const MIN_SALT_LEN = 8;

/** Derives a 32-byte key from `secret` and `salt`. */
export type Kdf = (
  secret: Uint8Array,
  salt: Uint8Array,
  params: Argon2Params,
) => Promise<Uint8Array>;

/**
 * Throws `InputError("bundle_kdf_params")` unless the costs are inside the
 * accepted band and `m_cost_kib ≥ 8 × p_cost`.
 */
export function checkArgon2Params(p: Argon2Params): void {
  for (const name of ["m_cost_kib", "t_cost", "p_cost"] as const) {
    const [lo, hi] = ARGON2_BAND[name];
    const v = p[name];
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new InputError("bundle_kdf_params", `argon2 ${name} ${v} is outside ${lo}..=${hi}`);
    }
  }
  if (p.m_cost_kib < 8 * p.p_cost) {
    throw new InputError(
      "bundle_kdf_params",
      `argon2 m_cost_kib ${p.m_cost_kib} is below 8 × p_cost (${8 * p.p_cost})`,
    );
  }
}

/**
 * Argon2id(secret, salt) → 32 bytes, after checking the costs and salt
 * (`bundle_kdf_params`) and that the secret is not empty (`kdf_secret_empty`).
 */
export async function argon2idKdf(
  secret: Uint8Array,
  salt: Uint8Array,
  params: Argon2Params,
): Promise<Uint8Array> {
  checkArgon2Params(params);
  if (salt.length < MIN_SALT_LEN) {
    throw new InputError("bundle_kdf_params", `argon2 salt must be at least ${MIN_SALT_LEN} bytes`);
  }
  // Not a bundle problem: the secret (passphrase, phrase entropy) is the caller's input.
  if (secret.length === 0) throw new InputError("kdf_secret_empty", "argon2 secret is empty");
  const out = await argon2id({
    password: secret,
    salt,
    parallelism: params.p_cost,
    iterations: params.t_cost,
    memorySize: params.m_cost_kib,
    hashLength: SLOT_KEY_LEN,
    outputType: "binary",
  });
  return out;
}
