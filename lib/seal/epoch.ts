/**
 * The epoch sidecar `<bundle>.epoch` (contract §6): the highest bundle epoch
 * this host has unlocked, as `"<n>\n"`, written 0600 and atomically.
 *
 * Invariants:
 * - {@linkcode checkEpoch} only reads; it must run before any unlock work.
 *   A missing sidecar is fine (the caller initializes it after unlocking);
 *   a bundle epoch below the sidecar is refused with `bundle_stale_epoch`.
 * - {@linkcode advanceEpoch} never lowers the sidecar.
 * - This catches accidental rollback (a restored backup), it is not a
 *   security boundary: whoever can replace the bundle can delete the sidecar.
 * @module
 */

import { fromUtf8, utf8 } from "../core/encoding.ts";
import { InputError } from "../core/errors.ts";
import { describeFsError, writeFileAtomic } from "../core/fs.ts";

/** `<bundle>.epoch`. */
export function epochSidecarPath(bundlePath: string): string {
  return `${bundlePath}.epoch`;
}

/** The recorded epoch, or `undefined` if there is no sidecar. */
export function readEpochSidecar(bundlePath: string): number | undefined {
  const path = epochSidecarPath(bundlePath);
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new InputError(
      "bundle_epoch_sidecar",
      `bundle ${bundlePath}: cannot read epoch sidecar ${path}: ${describeFsError(e)}`,
    );
  }
  let text = "";
  try {
    text = fromUtf8(bytes).trim();
  } catch { /* reported below */ }
  if (!/^\d{1,15}$/.test(text)) {
    throw new InputError(
      "bundle_epoch_sidecar",
      `bundle ${bundlePath}: epoch sidecar ${path} is corrupt (expected a decimal epoch); ` +
        `restore it, or delete it to re-initialize from the bundle`,
    );
  }
  return Number(text);
}

/** Refuses a bundle older than the sidecar records. */
export function checkEpoch(bundlePath: string, epoch: number): void {
  const seen = readEpochSidecar(bundlePath);
  if (seen === undefined || epoch >= seen) return;
  const side = epochSidecarPath(bundlePath);
  throw new InputError(
    "bundle_stale_epoch",
    `bundle ${bundlePath} has epoch ${epoch} but ${side} records ${seen}: this looks like an ` +
      `older bundle restored over a newer one; use the current bundle, or delete ${side} ` +
      `only if you deliberately rolled back`,
  );
}

/** Records `epoch` if the sidecar is missing or lower. */
export function advanceEpoch(bundlePath: string, epoch: number): void {
  const seen = readEpochSidecar(bundlePath);
  if (seen !== undefined && seen >= epoch) return;
  const path = epochSidecarPath(bundlePath);
  try {
    writeFileAtomic(path, utf8(`${epoch}\n`));
  } catch (e) {
    throw new InputError(
      "bundle_epoch_sidecar",
      `bundle ${bundlePath}: cannot write epoch sidecar ${path}: ${describeFsError(e)}`,
    );
  }
}
