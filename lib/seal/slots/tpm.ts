/**
 * The TPM 2.0 slot (contract §6): a fresh 32-byte slot key is sealed in a
 * KEYEDHASH object under an ECC P-256 owner-hierarchy SRK (template
 * `ecc-p256-srk-v1`, AES-128-CFB), with authPolicy = PolicyPCR over the
 * selected sha256 PCRs (default 0,2,4,7) and no userWithAuth; the slot key
 * AES-256-GCM-wraps the master KEK under AAD = header ‖ u32 BE slot_id.
 * The slot stores the TPM2B_PUBLIC / TPM2B_PRIVATE wire blobs.
 *
 * Invariants:
 * - The SRK is re-derived with CreatePrimary on each use (never persisted);
 *   every transient handle is flushed and every context finalized.
 * - Create and Unseal run in sessions salted to the SRK with parameter
 *   encryption, so the slot key never crosses the TPM bus in clear (this
 *   defeats passive sniffing; the SRK itself is not authenticated).
 * - FFI calls are synchronous (one TPM command blocks the event loop).
 * - `open` fails closed: any TPM or environment failure (no TPM, PCR
 *   mismatch, another TPM, missing libraries) rejects with
 *   {@linkcode TpmSlotOpenFailed} carrying a short operator-safe reason;
 *   structurally bad params reject with `InputError` `slot_params`.
 * - The slot key and unsealed buffers are wiped in `finally`.
 * @module
 */

import { findLibrary } from "../../../ffi/_dlopen.ts";
import {
  ALG,
  isTpm2b,
  OBJECT_ATTR,
  PCR_COUNT,
  pcrSelection,
  readPublic,
  sealedTemplate,
  sensitiveCreate,
  srkTemplate,
} from "../../../ffi/_tss2_wire.ts";
import {
  type EsysContext,
  SESSION_ATTR,
  SESSION_TYPE,
  TPM_RC,
  tpmErrorNumber,
  Tss2,
  TSS2_LIB_FILES,
  Tss2Error,
} from "../../../ffi/tss2.ts";
import { InputError } from "../../core/errors.ts";
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES } from "../../crypto/aead.ts";
import type { Slot, SlotParams } from "../format.ts";
import {
  checkKekLength,
  type SlotCreateContext,
  type SlotMaterial,
  type SlotMethod,
  SlotOpenFailed,
  unwrapKek,
  wrapKek,
} from "./types.ts";

/** The only SRK template this build knows. */
export const SRK_TEMPLATE = "ecc-p256-srk-v1";
/** The default PCR selection. */
export const DEFAULT_PCRS: readonly number[] = [0, 2, 4, 7];
/** TCTIs tried, in order, when none is configured. */
export const DEFAULT_TCTIS: readonly string[] = ["device:/dev/tpmrm0", "device:/dev/tpm0"];
/** The libtss2 file names (relative to `libDir`). */
export const TSS2_ONLY_LIBS: readonly string[] = Object.values(TSS2_LIB_FILES);
/** Library file names needed under `--allow-ffi` when libc is `libDir/libc.so.6`. */
export const TSS2_LIBS: readonly string[] = [...TSS2_ONLY_LIBS, "libc.so.6"];
/** Directories searched by {@linkcode findTss2Dir}. */
export const TSS2_DIR_CANDIDATES: readonly string[] = [
  "/usr/lib/x86_64-linux-gnu",
  "/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/lib64",
  "/usr/lib",
];

/** Options for {@linkcode TpmMethod}. */
export interface TpmOptions {
  /** TCTI config, e.g. "swtpm:host=127.0.0.1,port=2321" or "device:/dev/tpmrm0"; default: try device:/dev/tpmrm0 then device:/dev/tpm0. */
  tcti?: string;
  /** Absolute directory holding the libtss2 *.so.0 files and libc.so.6 (the launcher resolves it; scoped --allow-ffi needs exact paths). */
  libDir: string;
  /** libc path when it is not `libDir/libc.so.6` (e.g. NixOS store paths). */
  libc?: string;
  /** PCR indices (default [0,2,4,7]) and bank (only "sha256"). */
  pcrs?: readonly number[];
  bank?: "sha256";
  /**
   * The libraries, already opened (the agent opens them before it gives up
   * the ffi permission). The method owns them from here and closes them on
   * `dispose`.
   */
  opened?: Tss2;
}

/** A TPM slot that did not open; `reason` (also the message) is short and operator-safe. */
export class TpmSlotOpenFailed extends SlotOpenFailed {
  /** E.g. "tpm: PCR policy check failed". */
  declare readonly reason: string;
  constructor(reason: string) {
    super(reason);
  }
}

/** Options for {@linkcode findTss2Dir}. */
export interface FindTss2Options {
  /** libc's path when it is given separately (then libc is not searched for). */
  readonly libc?: string;
  /** Directories to search (default {@linkcode TSS2_DIR_CANDIDATES}). */
  readonly candidates?: readonly string[];
}

/**
 * Finds a directory containing the libtss2 libraries (needs read
 * permission): with `libc` given, only {@linkcode TSS2_ONLY_LIBS}; without
 * it, all of {@linkcode TSS2_LIBS}, since libc is then `<dir>/libc.so.6`.
 */
export function findTss2Dir(o: FindTss2Options = {}): string | undefined {
  const needed = o.libc === undefined ? TSS2_LIBS : TSS2_ONLY_LIBS;
  return (o.candidates ?? TSS2_DIR_CANDIDATES).find((d) =>
    needed.every((f) => findLibrary([`${d}/${f}`]) !== undefined)
  );
}

/** The absolute paths a scoped `--allow-ffi` must list for `opts`. */
export function tss2FfiPaths(opts: Pick<TpmOptions, "libDir" | "libc">): string[] {
  return [...Object.values(TSS2_LIB_FILES).map((f) => `${opts.libDir}/${f}`), libcPath(opts)];
}

function libcPath(opts: Pick<TpmOptions, "libDir" | "libc">): string {
  return opts.libc ?? `${opts.libDir}/libc.so.6`;
}

/** Checks a PCR list: non-empty, distinct integers in 0..23. Returns it sorted, or a reason. */
function checkPcrs(pcrs: readonly number[]): number[] | string {
  if (pcrs.length === 0) return "at least one PCR is required";
  for (const p of pcrs) {
    if (!Number.isInteger(p) || p < 0 || p >= PCR_COUNT) {
      return `PCR index ${p} is out of range 0..${PCR_COUNT - 1}`;
    }
  }
  if (new Set(pcrs).size !== pcrs.length) return "PCR indices must be distinct";
  return [...pcrs].sort((a, b) => a - b);
}

/** The TPM unlock method. It holds no secret; `dispose` closes the libraries. */
export class TpmMethod implements SlotMethod {
  /** Always `tpm`. */
  readonly method = "tpm" as const;
  readonly #tctis: readonly string[];
  readonly #libDir: string;
  readonly #libc: string;
  readonly #pcrs: readonly number[];
  #tss2: Tss2 | undefined;
  #disposed = false;

  /** Validates the PCR selection and bank; opens nothing yet. */
  constructor(opts: TpmOptions) {
    if (!opts.libDir.startsWith("/")) {
      throw new InputError("slot_spec_invalid", "tpm: the TSS2 library directory must be absolute");
    }
    if ((opts.bank ?? "sha256") !== "sha256") {
      throw new InputError("slot_spec_invalid", `tpm: unsupported PCR bank (only sha256)`);
    }
    const pcrs = checkPcrs(opts.pcrs ?? DEFAULT_PCRS);
    if (typeof pcrs === "string") throw new InputError("slot_spec_invalid", `tpm: ${pcrs}`);
    this.#pcrs = pcrs;
    this.#tctis = opts.tcti === undefined ? DEFAULT_TCTIS : [opts.tcti];
    this.#libDir = opts.libDir;
    this.#libc = libcPath(opts);
    this.#tss2 = opts.opened;
  }

  /** Seals a fresh slot key to the current PCR values and wraps `kek` under it. */
  create(kek: Uint8Array, ctx: SlotCreateContext): Promise<SlotMaterial> {
    return Promise.try(() => this.#create(kek, ctx));
  }

  /** Unseals the slot key (PCR policy) and unwraps the KEK. */
  open(slot: Slot, headerBytes: Uint8Array): Promise<Uint8Array> {
    return Promise.try(() => this.#open(slot, headerBytes));
  }

  #create(kek: Uint8Array, ctx: SlotCreateContext): SlotMaterial {
    const fail = (token: string, why: string, e: unknown) =>
      new InputError(token, `tpm: cannot create the slot: ${why}`, { cause: e });
    let esys: EsysContext;
    try {
      esys = this.#connect();
    } catch (e) {
      if (!(e instanceof TpmSlotOpenFailed)) throw e;
      throw fail("tpm_unavailable", e.reason.replace(/^tpm: /, ""), e);
    }
    const slotKey = crypto.getRandomValues(new Uint8Array(AEAD_KEY_BYTES));
    let blobs: SealedBlobs;
    try {
      blobs = sealKey(esys, slotKey, this.#pcrs);
    } catch (e) {
      slotKey.fill(0);
      throw e instanceof Tss2Error ? fail("tpm_error", e.message, e) : e;
    } finally {
      esys.close();
    }
    try {
      const wrap = wrapKek(slotKey, kek, ctx.headerBytes, ctx.slotId);
      const params: SlotParams = {
        kind: "tpm",
        public: blobs.public,
        private: blobs.private,
        pcrs: { bank: "sha256", pcrs: [...this.#pcrs] },
        name_alg: "sha256",
        srk_template: SRK_TEMPLATE,
      };
      return { params, wrap };
    } finally {
      slotKey.fill(0);
    }
  }

  #open(slot: Slot, headerBytes: Uint8Array): Uint8Array {
    const p = checkParams(slot);
    const esys = this.#connect();
    let slotKey: Uint8Array;
    try {
      slotKey = unsealKey(esys, p, p.pcrs.pcrs);
    } finally {
      esys.close();
    }
    let kek: Uint8Array | undefined;
    try {
      if (slotKey.length !== AEAD_KEY_BYTES) {
        throw new TpmSlotOpenFailed("tpm: unsealed key has the wrong length");
      }
      kek = unwrapKek(slotKey, slot, headerBytes);
    } finally {
      slotKey.fill(0);
    }
    if (kek === undefined) throw new TpmSlotOpenFailed("tpm: KEK wrap did not authenticate");
    return checkKekLength(kek, slot.slot_id);
  }

  /** Closes the libraries (the method holds no secret). */
  dispose(): void {
    this.#disposed = true;
    this.#tss2?.close();
    this.#tss2 = undefined;
  }

  /** Opens the libraries (once) and the first TCTI that answers. */
  #connect(): EsysContext {
    if (this.#disposed) throw new TypeError("Cannot use a disposed TPM method");
    if (this.#tss2 === undefined) {
      try {
        this.#tss2 = new Tss2(this.#libDir, this.#libc);
      } catch (e) {
        if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
          throw new TpmSlotOpenFailed("tpm: --allow-ffi does not cover the TSS2 libraries");
        }
        throw new TpmSlotOpenFailed(`tpm: TSS2 libraries not available in ${this.#libDir}`);
      }
    }
    for (const tcti of this.#tctis) {
      try {
        return this.#tss2.connect(tcti);
      } catch (e) {
        if (!(e instanceof Tss2Error)) throw e; // (ESYS logs the cause unless TSS2_LOG silences it)
      }
    }
    throw new TpmSlotOpenFailed(`tpm: no TPM device (tried ${this.#tctis.join(", ")})`);
  }
}

type TpmParams = Extract<SlotParams, { kind: "tpm" }>;

/** The wire blobs of a sealed object. */
export interface SealedBlobs {
  readonly public: Uint8Array;
  readonly private: Uint8Array;
}

/**
 * Seals `key` under a fresh SRK with authPolicy = PolicyPCR over the current
 * values of `pcrs`. The Create runs in an HMAC session salted to the SRK with
 * command parameter encryption, so `key` is encrypted on the TPM bus.
 * Exported for tests; {@linkcode TpmMethod.create} is the API.
 */
export function sealKey(esys: EsysContext, key: Uint8Array, pcrs: readonly number[]): SealedBlobs {
  const srk = esys.createPrimary(srkTemplate());
  const trial = esys.startSession(SESSION_TYPE.TRIAL);
  esys.policyPcr(trial, pcrSelection(pcrs));
  const policy = esys.policyGetDigest(trial);
  esys.flush(trial);
  const hmac = esys.startSession(
    SESSION_TYPE.HMAC,
    srk,
    SESSION_ATTR.CONTINUE | SESSION_ATTR.DECRYPT,
  );
  const sensitive = sensitiveCreate(key);
  try {
    return esys.create(srk, hmac, sensitive, sealedTemplate(policy));
  } finally {
    sensitive.fill(0);
  }
}

/**
 * Loads `blobs` under a fresh SRK and unseals them in a real policy session
 * (PolicyPCR over `pcrs`), salted to the SRK with response parameter
 * encryption. TPM failures become {@linkcode TpmSlotOpenFailed}. The caller
 * wipes the result. Exported for tests; {@linkcode TpmMethod.open} is the API.
 */
export function unsealKey(
  esys: EsysContext,
  blobs: SealedBlobs,
  pcrs: readonly number[],
): Uint8Array {
  const srk = step("cannot create the storage key", () => esys.createPrimary(srkTemplate()));
  const item = step(
    "cannot load the sealed object",
    () => esys.load(srk, blobs.private, blobs.public),
  );
  return step("cannot unseal", () => {
    const session = esys.startSession(
      SESSION_TYPE.POLICY,
      srk,
      SESSION_ATTR.CONTINUE | SESSION_ATTR.ENCRYPT,
    );
    esys.policyPcr(session, pcrSelection(pcrs));
    return esys.unseal(item, session);
  });
}

/** Structural checks on a tpm slot's params (InputError `slot_params`). */
function checkParams(slot: Slot): TpmParams {
  const bad = (why: string) => new InputError("slot_params", `slot ${slot.slot_id}: tpm ${why}`);
  const p = slot.params;
  if (p.kind !== "tpm") throw bad("params expected");
  if (p.pcrs.bank !== "sha256") throw bad("PCR bank must be sha256");
  if (p.name_alg !== "sha256") throw bad("name_alg must be sha256");
  if (p.srk_template !== SRK_TEMPLATE) throw bad(`srk_template must be ${SRK_TEMPLATE}`);
  const pcrs = checkPcrs(p.pcrs.pcrs);
  if (typeof pcrs === "string") throw bad(pcrs);
  const pub = readPublic(p.public);
  if (
    pub === undefined || pub.type !== ALG.KEYEDHASH || pub.nameAlg !== ALG.SHA256 ||
    (pub.attributes & OBJECT_ATTR.USER_WITH_AUTH) !== 0 || pub.authPolicy.length !== 32
  ) {
    throw bad("public blob is not a PCR-sealed data object");
  }
  if (!isTpm2b(p.private)) throw bad("private blob is malformed");
  if (slot.wrap.nonce.length !== AEAD_NONCE_BYTES) throw bad("wrap nonce must be 12 bytes");
  return p;
}

/** Runs one TPM step, mapping TSS2 failures to an operator-safe reason. */
function step<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof Tss2Error)) throw e;
    const n = tpmErrorNumber(e.rc);
    if (n === TPM_RC.POLICY_FAIL || n === TPM_RC.PCR_CHANGED) {
      throw new TpmSlotOpenFailed("tpm: PCR policy check failed");
    }
    if (n === TPM_RC.INTEGRITY) {
      throw new TpmSlotOpenFailed("tpm: sealed object was not made by this TPM (or was altered)");
    }
    throw new TpmSlotOpenFailed(`tpm: ${what}: ${e.message}`);
  }
}
