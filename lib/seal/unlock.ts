/**
 * Agent start-up unlock (contract §1 `[unlock]`, §6 "Unlock at startup").
 *
 * Order, each step failing closed with an `InputError`:
 * 1. configuration: at least one method, and only supported ones
 *    (`unlock_not_configured`, `unlock_unsupported`);
 * 2. bundle permissions: not 0600 → `bundle_perms` if strict, else a warning;
 * 3. read and decode the bundle (`bundle_unreadable`, `bundle_corrupt`, ...);
 * 4. epoch sidecar check (`bundle_stale_epoch`), before any secret is read
 *    and before any Argon2 work;
 * 5. read the passphrase, try slots in file order (`bundle_locked`);
 * 6. advance the sidecar; 7. wipe the passphrase file unless no-wipe (a
 *    failure only warns). Once read, the passphrase file is wiped whether or
 *    not a slot opened, as upstream does ("wiped after read").
 *
 * Invariants: the KEK, slot keys and passphrase bytes are wiped in `finally`;
 * only the backend map is returned (deposit material is wiped); no message
 * or log line holds a secret.
 * @module
 */

import { InputError } from "../core/errors.ts";
import { describeFsError, fileMode, formatMode, wipeFile } from "../core/fs.ts";
import type { Logger } from "../core/log.ts";
import type { SecretBytes } from "../core/secret.ts";
import { openBundle } from "./bundle.ts";
import type { BackendCred } from "./creds.ts";
import { advanceEpoch, checkEpoch } from "./epoch.ts";
import { decodeBundle } from "./format.ts";
import type { Kdf } from "./kdf.ts";
import { readPassphraseFile } from "./slot_spec.ts";
import { PassphraseMethod } from "./slots/passphrase.ts";
import type { SlotMethod } from "./slots/types.ts";

/** The `[unlock]` settings. */
export interface UnlockSettings {
  readonly passphraseFile?: string;
  readonly passphraseNoWipe: boolean;
  readonly bip39PhraseFile?: string;
  readonly ageYubikey: boolean;
  readonly unlockTpm: boolean;
  readonly strictBundlePerms: boolean;
}

/** Inputs to {@linkcode unlockBundle}. */
export interface UnlockOptions {
  readonly bundlePath: string;
  readonly unlock: UnlockSettings;
  readonly logger: Logger;
  /** KDF override (tests only). */
  readonly kdf?: Kdf;
}

function checkConfig(u: UnlockSettings): void {
  const unsupported: string[] = [];
  if (u.bip39PhraseFile !== undefined) unsupported.push("bip39-phrase-file");
  if (u.ageYubikey) unsupported.push("age-yubikey");
  if (u.unlockTpm) unsupported.push("unlock-tpm");
  if (unsupported.length > 0) {
    throw new InputError(
      "unlock_unsupported",
      `[unlock]: ${unsupported.join(", ")} ${unsupported.length > 1 ? "are" : "is"} not ` +
        `supported by this build yet; use unlock-passphrase-file`,
    );
  }
  if (u.passphraseFile === undefined) {
    throw new InputError(
      "unlock_not_configured",
      "[unlock]: no unlock method configured; set unlock-passphrase-file",
    );
  }
}

function checkPerms(path: string, strict: boolean, logger: Logger): void {
  let mode: number;
  try {
    mode = fileMode(path) & 0o777;
  } catch (e) {
    throw new InputError("bundle_unreadable", `bundle ${path}: cannot read: ${describeFsError(e)}`);
  }
  if (mode === 0o600) return;
  if (strict) {
    throw new InputError(
      "bundle_perms",
      `bundle ${path}: mode is ${formatMode(mode)}, must be 0600 (strict-bundle-perms)`,
    );
  }
  logger.log("warn", "sealed bundle is not 0600; set strict-bundle-perms to refuse", {
    path,
    mode: formatMode(mode),
  });
}

function readBundle(path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    throw new InputError("bundle_unreadable", `bundle ${path}: cannot read: ${describeFsError(e)}`);
  }
}

/** Unlocks the bundle and returns its credentials (the caller wipes them). */
export async function unlockBundle(options: UnlockOptions): Promise<Map<string, BackendCred>> {
  const { bundlePath: path, unlock, logger } = options;
  checkConfig(unlock);
  checkPerms(path, unlock.strictBundlePerms, logger);
  const bundle = decodeBundle(readBundle(path), path);
  checkEpoch(path, bundle.header.epoch);

  const passFile = unlock.passphraseFile!;
  const methods: SlotMethod[] = [];
  let read = false;
  try {
    const pass: SecretBytes = readPassphraseFile(passFile, "unlock-passphrase-file");
    read = true;
    methods.push(new PassphraseMethod(pass, options.kdf ? { kdf: options.kdf } : {}));
    const opened = await openBundle(bundle, path, methods, logger);
    try {
      advanceEpoch(path, bundle.header.epoch);
      if (bundle.deposits.length > 0) {
        logger.log("warn", "bundle deposits are not applied by this build", {
          path,
          deposits: bundle.deposits.length,
        });
      }
      const backends = new Map(opened.backends);
      opened.backends.clear();
      return backends;
    } finally {
      opened.wipe();
    }
  } finally {
    for (const m of methods) m.dispose();
    if (read && !unlock.passphraseNoWipe) {
      const err = wipeFile(passFile);
      if (err !== undefined) {
        logger.log("warn", "passphrase file wipe failed; continuing", {
          path: passFile,
          error: err,
        });
      }
    }
  }
}
