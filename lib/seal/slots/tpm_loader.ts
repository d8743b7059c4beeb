/**
 * Builds the TPM slot method (`tpm.ts`) from the CLI's or the agent's
 * settings.
 *
 * Invariants: the libtss2 directory is `libDir` when given, else the one
 * `findTss2Dir()` locates (libc is only searched for alongside the libtss2
 * libraries when no `libc` path is given); none found is an
 * `InputError("tpm_unavailable")` (fail closed: a missing TPM stack is
 * reported like any unusable slot).
 * @module
 */

import { InputError } from "../../core/errors.ts";
import type { Tss2 } from "../../../ffi/tss2.ts";
import { findTss2Dir, TpmMethod } from "./tpm.ts";
import type { SlotMethod } from "./types.ts";

/** Where and how to reach the TPM. */
export interface TpmSettings {
  /** TCTI string (e.g. `device:/dev/tpmrm0`, `swtpm:port=2321`); default: tpmrm0 then tpm0. */
  readonly tcti?: string;
  /** Directory holding the libtss2 libraries; default: searched. */
  readonly libDir?: string;
  /** libc path when it is not `<libDir>/libc.so.6`. */
  readonly libc?: string;
  /** The libraries, already opened from `libDir` (see `TpmOptions.opened`). */
  readonly opened?: Tss2;
}

/** Builds a TPM method; `pcrs`/`bank` apply to newly created slots. */
// deno-lint-ignore require-await -- async so that every failure is a rejection
export async function loadTpmMethod(
  s: TpmSettings & { readonly pcrs?: readonly number[]; readonly bank?: string },
): Promise<SlotMethod> {
  const libDir = s.libDir ?? findTss2Dir(s.libc === undefined ? {} : { libc: s.libc });
  if (libDir === undefined) {
    throw new InputError(
      "tpm_unavailable",
      "tpm: libtss2 (tss2-esys, tss2-mu, tss2-tctildr) was not found; install tpm2-tss",
    );
  }
  if (s.bank !== undefined && s.bank !== "sha256") {
    throw new InputError("slot_spec_invalid", "tpm: unsupported PCR bank (only sha256)");
  }
  return new TpmMethod({
    libDir,
    ...(s.tcti === undefined ? {} : { tcti: s.tcti }),
    ...(s.libc === undefined ? {} : { libc: s.libc }),
    ...(s.pcrs === undefined ? {} : { pcrs: s.pcrs }),
    ...(s.opened === undefined ? {} : { opened: s.opened }),
    bank: "sha256",
  });
}
