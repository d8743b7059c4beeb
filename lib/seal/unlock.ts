/**
 * Agent start-up unlock (contract §1 `[unlock]`, §6 "Unlock at startup").
 *
 * Order, each step failing closed with an `InputError`:
 * 1. configuration: at least one method (`unlock_not_configured`);
 * 2. open the bundle once; the opened file must be a regular file, and its
 *    mode (fstat of that handle) not 0600 → `bundle_perms` if strict, else a
 *    warning;
 * 3. read that same handle and decode (`bundle_unreadable`, `bundle_corrupt`, ...);
 * 4. epoch sidecar check (`bundle_stale_epoch`), before any secret is read
 *    and before any Argon2, plugin or TPM work;
 * 5. read every configured secret file (passphrase, BIP39 phrase; a
 *    passphrase file readable or writable by group/other is refused with
 *    `secret_file_mode` if strict-bundle-perms, else warned about; a phrase
 *    file must always be 0600), build
 *    the configured methods (age-yubikey: the plugin's default identity
 *    `yubikey`; TPM), and try slots in file order (`bundle_locked`);
 * 6. advance the sidecar; 7. overlay the effective deposits (bad records are
 *    logged with their status token and ignored, never fatal);
 * 8. wipe the secret files: the phrase file ALWAYS once read (valid or
 *    not), the passphrase file unless no-wipe (a failure only warns).
 *
 * Invariants: the KEK, slot keys, phrase entropy and passphrase bytes are
 * wiped in `finally`; only the backend map is returned (deposit material is
 * wiped); no message or log line holds a secret.
 * @module
 */

import { InputError } from "../core/errors.ts";
import { describeFsError, formatMode, readCheckedFile, wipeFile } from "../core/fs.ts";
import type { Logger } from "../core/log.ts";
import { openBundle } from "./bundle.ts";
import { type BackendCred, wipeCred } from "./creds.ts";
import { evaluateDeposits, wipeReviews } from "./deposits/evaluate.ts";
import { advanceEpoch, checkEpoch } from "./epoch.ts";
import { decodeBundle, type DecodedBundle } from "./format.ts";
import type { Kdf } from "./kdf.ts";
import type { DepositMaterial } from "./payload.ts";
import type { PluginOptions } from "./slots/age_plugin.ts";
import { PassphraseMethod, readPassphraseFile } from "./slots/passphrase.ts";
import type { TpmSettings } from "./slots/tpm_loader.ts";
import type { SlotMethod } from "./slots/types.ts";

/** The `[unlock]` settings. */
export interface UnlockSettings {
  readonly passphraseFile?: string;
  readonly passphraseNoWipe: boolean;
  readonly bip39PhraseFile?: string;
  readonly ageYubikey: boolean;
  readonly unlockTpm: boolean;
  readonly strictBundlePerms: boolean;
  /** `[unlock] tpm-tcti` (extension): the TCTI for the TPM slot. */
  readonly tpmTcti?: string;
}

/** Inputs to {@linkcode unlockBundle}. */
export interface UnlockOptions {
  readonly bundlePath: string;
  readonly unlock: UnlockSettings;
  readonly logger: Logger;
  /** KDF override (tests only). */
  readonly kdf?: Kdf;
  /** libtss2 directory and libc for the TPM slot (from the launcher). */
  readonly tpm?: Omit<TpmSettings, "tcti">;
  /** age plugin launcher override (tests only). */
  readonly agePlugin?: PluginOptions;
}

function checkConfig(u: UnlockSettings): void {
  if (
    u.passphraseFile === undefined && u.bip39PhraseFile === undefined && !u.ageYubikey &&
    !u.unlockTpm
  ) {
    throw new InputError(
      "unlock_not_configured",
      "[unlock]: no unlock method configured; set unlock-passphrase-file, bip39-phrase-file, " +
        "age-yubikey or unlock-tpm",
    );
  }
}

/** Checks the opened bundle's own stat (so what is checked is what is read). */
function checkBundleFile(path: string, st: Deno.FileInfo, strict: boolean, logger: Logger): void {
  if (!st.isFile) throw new InputError("bundle_unreadable", `bundle ${path}: not a regular file`);
  const mode = (st.mode ?? 0) & 0o777;
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

/**
 * A secret file that group or other may access: refused (`secret_file_mode`)
 * when strict, else a warning. Secrets should come only from 0600 files.
 */
function checkSecretFileMode(
  path: string,
  what: string,
  mode: number,
  strict: boolean,
  logger: Logger,
): void {
  if ((mode & 0o077) === 0) return;
  if (strict) {
    throw new InputError(
      "secret_file_mode",
      `${what} ${path}: mode is ${formatMode(mode)}, must be 0600 (strict-bundle-perms)`,
    );
  }
  logger.log(
    "warn",
    `${what} is accessible to group or other; chmod 0600 (strict-bundle-perms refuses it)`,
    { path, mode: formatMode(mode) },
  );
}

/** Opens the bundle once, checks that handle's mode (steps 2–3), then reads it. */
function readBundle(path: string, strict: boolean, logger: Logger): Uint8Array {
  try {
    return readCheckedFile(path, (st) => checkBundleFile(path, st, strict, logger));
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError("bundle_unreadable", `bundle ${path}: cannot read: ${describeFsError(e)}`);
  }
}

/** Files to wipe once the unlock attempt is over. */
interface WipeList {
  readonly files: { path: string; what: string }[];
}

async function buildMethods(o: UnlockOptions, wipe: WipeList): Promise<SlotMethod[]> {
  const u = o.unlock;
  const kdf = o.kdf ? { kdf: o.kdf } : {};
  const methods: SlotMethod[] = [];
  try {
    if (u.passphraseFile !== undefined) {
      const file = u.passphraseFile;
      const what = "unlock-passphrase-file";
      const pass = readPassphraseFile(file, what, {
        onMode: (mode) => checkSecretFileMode(file, what, mode, u.strictBundlePerms, o.logger),
      });
      if (!u.passphraseNoWipe) wipe.files.push({ path: u.passphraseFile, what: "passphrase" });
      methods.push(new PassphraseMethod(pass, kdf));
    }
    if (u.bip39PhraseFile !== undefined) {
      const file = u.bip39PhraseFile;
      // Always wiped once read, even when the phrase turns out to be invalid.
      // Loaded only when configured: the agent keeps no unused slot code resident.
      const { Bip39Method, readPhraseFile } = await import("./slots/bip39.ts");
      let entropy;
      try {
        entropy = readPhraseFile(file, "bip39-phrase-file");
      } catch (e) {
        if (e instanceof InputError && e.token === "bip39_phrase_invalid") {
          wipe.files.push({ path: file, what: "bip39 phrase" });
        }
        throw e;
      }
      wipe.files.push({ path: file, what: "bip39 phrase" });
      methods.push(new Bip39Method(entropy, kdf));
    }
    if (u.ageYubikey) {
      const { AgeMethod, DEFAULT_AGE_PLUGIN, defaultPluginIdentity } = await import(
        "./slots/age.ts"
      );
      methods.push(
        new AgeMethod({
          identities: [defaultPluginIdentity(DEFAULT_AGE_PLUGIN)],
          plugin: { ...o.agePlugin, callbacks: agentCallbacks(o.logger) },
        }),
      );
    }
    if (u.unlockTpm) {
      const { loadTpmMethod } = await import("./slots/tpm_loader.ts");
      methods.push(await loadTpmMethod({ ...o.tpm, ...(u.tpmTcti ? { tcti: u.tpmTcti } : {}) }));
    }
  } catch (e) {
    for (const m of methods) m.dispose();
    throw e;
  }
  return methods;
}

function agentCallbacks(logger: Logger): PluginOptions["callbacks"] {
  return {
    message: (text) => logger.log("info", "age plugin message", { message: text }),
    requestSecret: () => {
      logger.log(
        "warn",
        "age plugin asked for a PIN; the agent cannot prompt (set the YubiKey PIN policy to " +
          "'never' or 'once' for unattended starts, or use another slot)",
      );
      return Promise.resolve(undefined);
    },
  };
}

function wipeFiles(wipe: WipeList, logger: Logger): void {
  for (const { path, what } of wipe.files) {
    const err = wipeFile(path);
    if (err !== undefined) {
      logger.log("warn", `${what} file wipe failed; continuing`, { path, error: err });
    }
  }
}

/** Overlays effective deposits onto `backends`; logs every other record. */
function applyDeposits(
  bundle: DecodedBundle,
  deposit: DepositMaterial,
  backends: Map<string, BackendCred>,
  logger: Logger,
): void {
  if (bundle.deposits.length === 0) return;
  const reviews = evaluateDeposits(bundle, deposit);
  try {
    for (const r of reviews) {
      const fields = {
        index: r.index,
        backend_id: r.record.backend_id,
        contributor: r.record.contributor_key_id,
        epoch: r.record.epoch,
        seq: r.record.seq,
        status: r.status,
        ...(r.fingerprint === undefined ? {} : { fingerprint: r.fingerprint }),
      };
      if (r.status === "effective" && r.cred !== undefined) {
        const old = backends.get(r.record.backend_id);
        if (old !== undefined) wipeCred(old);
        backends.set(r.record.backend_id, r.cred);
        r.cred = undefined;
        logger.log("info", "credential deposit applied", fields);
      } else if (r.status === "superseded") {
        logger.log("info", "credential deposit superseded", fields);
      } else {
        logger.log("warn", "credential deposit ignored", fields);
      }
    }
  } finally {
    wipeReviews(reviews);
  }
}

/** Unlocks the bundle and returns its credentials (the caller wipes them). */
export async function unlockBundle(options: UnlockOptions): Promise<Map<string, BackendCred>> {
  const { bundlePath: path, unlock, logger } = options;
  checkConfig(unlock);
  const bundle = decodeBundle(readBundle(path, unlock.strictBundlePerms, logger), path);
  checkEpoch(path, bundle.header.epoch);

  const wipe: WipeList = { files: [] };
  let methods: SlotMethod[] = [];
  try {
    methods = await buildMethods(options, wipe);
    const opened = await openBundle(bundle, path, methods, logger);
    try {
      advanceEpoch(path, bundle.header.epoch);
      const backends = new Map(opened.backends);
      opened.backends.clear();
      try {
        applyDeposits(bundle, opened.deposit, backends, logger);
      } catch (e) {
        for (const c of backends.values()) wipeCred(c);
        throw e;
      }
      return backends;
    } finally {
      opened.wipe();
    }
  } finally {
    for (const m of methods) m.dispose();
    wipeFiles(wipe, logger);
  }
}
