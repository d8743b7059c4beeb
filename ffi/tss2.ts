/**
 * TPM 2.0 through tpm2-tss ESYS (libtss2-esys, -tctildr, -mu, -rc) over
 * Deno FFI, for the sealed bundle's TPM slot.
 *
 * Works under a SCOPED `--allow-ffi=<exact .so paths>`: pointers are carried
 * as `u64` (never `Deno.UnsafePointer*`, which a scoped flag denies) and C
 * memory is read with libc `memcpy`/`strlen`. Inputs are built in TPM wire
 * format (`_tss2_wire.ts`) and converted with `Tss2_MU_*_Unmarshal`; outputs
 * are converted back with `Tss2_MU_*_Marshal`. The only C layouts read by
 * hand are `TPM2B` outputs (native-endian u16 size, then bytes).
 *
 * Invariants:
 * - An {@linkcode EsysContext} tracks every transient handle it creates and
 *   flushes what is left on `close` (swtpm has no resource manager).
 * - Unsealed data is copied out, then zeroed in C memory before `Esys_Free`.
 * - A failing call throws {@linkcode Tss2Error} with the function name, the
 *   return code and its `Tss2_RC_Decode` text (never argument bytes).
 * - Calls are synchronous: they block the event loop for one TPM command.
 * @module
 */

import { dlopen } from "./_dlopen.ts";
import {
  ESYS,
  LIBC,
  type Marshal,
  MU,
  RC,
  TCTILDR,
  TSS2_LIB_FILES,
  type Unmarshal,
} from "./_tss2_symbols.ts";
import { sensitiveCreate, symDef } from "./_tss2_wire.ts";

export { TSS2_LIB_FILES };

/**
 * Destination sizes for unmarshalled C structs. tss 3.2.1 on x86_64 needs
 * PUBLIC 616, PRIVATE 1552, SENSITIVE_CREATE 326, PCR_SELECTION 132,
 * SYM_DEF 6, DIGEST/DATA 66; one generous size covers other builds too.
 */
const STRUCT_BYTES = 4096;

/** ESYS_TR constants. */
export const ESYS_TR = { NONE: 0xfff, PASSWORD: 0x0ff, RH_OWNER: 0x101 } as const;
/** TPM2_SE session types. */
export const SESSION_TYPE = { HMAC: 0, POLICY: 1, TRIAL: 3 } as const;
/** TPMA_SESSION bits. */
export const SESSION_ATTR = { CONTINUE: 0x01, DECRYPT: 0x20, ENCRYPT: 0x40 } as const;

/** A failed TSS2 call. The message holds the function and decoded code, never data. */
export class Tss2Error extends Error {
  /** The TSS2_RC. */
  readonly rc: number;
  /** The failing function. */
  readonly fn: string;
  constructor(fn: string, rc: number, decoded: string) {
    super(`${fn} failed: ${decoded} (0x${rc.toString(16)})`);
    this.name = "Tss2Error";
    this.fn = fn;
    this.rc = rc;
  }
}

/** `TSS2_MU_RC_LAYER | TSS2_BASE_RC_BAD_SIZE`: the MU layer's "wrong size". */
export const TSS2_MU_RC_BAD_SIZE = 0x0009_0010;

/** A marshalling failure found here, not by tpm2-tss (e.g. trailing bytes after a structure). */
export class Tss2WireError extends Tss2Error {
  constructor(fn: string, decoded: string) {
    super(fn, TSS2_MU_RC_BAD_SIZE, decoded);
    this.name = "Tss2WireError";
  }
}

/**
 * The TPM-layer response code of `rc` with its per-call position stripped,
 * or `undefined` for another TSS2 layer (ESYS, TCTI, MU, ...). TPM 2.0 Part 2
 * §6.6: a format-one code (bit 7 set) keeps `0x80 | E` (bits 0-5), dropping
 * the P flag (bit 6) and the parameter/handle/session number (bits 8-11); a
 * format-zero code keeps bits 0-6 (E) and 8-11 (VER1, reserved, vendor,
 * WARN), so warnings (`0x9xx`) never collide with errors (`0x1xx`).
 */
export function tpmErrorNumber(rc: number): number | undefined {
  if ((rc >>> 16) !== 0) return undefined; // another layer (ESYS, TCTI, ...)
  return (rc & 0x80) !== 0 ? 0x80 | (rc & 0x3f) : rc & 0xf7f;
}

/** TPM_RC values the seal flow distinguishes (as {@linkcode tpmErrorNumber} returns them). */
export const TPM_RC = {
  /** A policy check failed (format one: RC_FMT1 + 0x01d). */
  POLICY_FAIL: 0x9d,
  /** Integrity check failed: the object was not made by this TPM's parent (RC_FMT1 + 0x01f). */
  INTEGRITY: 0x9f,
  /** A PCR changed while the policy session was open (RC_VER1 + 0x028). */
  PCR_CHANGED: 0x128,
} as const;

/** An open set of tpm2-tss libraries. */
export class Tss2 {
  #esys: Deno.DynamicLibrary<typeof ESYS>;
  #tctildr: Deno.DynamicLibrary<typeof TCTILDR>;
  #mu: Deno.DynamicLibrary<typeof MU>;
  #rc: Deno.DynamicLibrary<typeof RC>;
  #libc: Deno.DynamicLibrary<typeof LIBC>;
  #closed = false;

  /** Opens the libraries: `libDir/<TSS2_LIB_FILES>` and `libc` (absolute paths). */
  constructor(libDir: string, libc: string) {
    const opened: { close(): void }[] = [];
    const open = <S extends Deno.ForeignLibraryInterface>(path: string, s: S) => {
      const lib = dlopen(path, s);
      opened.push(lib);
      return lib;
    };
    try {
      this.#libc = open(libc, LIBC);
      this.#rc = open(`${libDir}/${TSS2_LIB_FILES.rc}`, RC);
      this.#mu = open(`${libDir}/${TSS2_LIB_FILES.mu}`, MU);
      this.#tctildr = open(`${libDir}/${TSS2_LIB_FILES.tctildr}`, TCTILDR);
      this.#esys = open(`${libDir}/${TSS2_LIB_FILES.esys}`, ESYS);
    } catch (e) {
      for (const lib of opened) lib.close();
      throw e;
    }
  }

  /** Connects to a TPM through `Tss2_TctiLdr` (e.g. `device:/dev/tpmrm0`). */
  connect(tcti: string): EsysContext {
    this.#live();
    const tctiOut = new BigUint64Array(1);
    const conf = new TextEncoder().encode(`${tcti}\0`);
    this.check(
      "Tss2_TctiLdr_Initialize",
      this.#tctildr.symbols.Tss2_TctiLdr_Initialize(conf, tctiOut),
    );
    const ctxOut = new BigUint64Array(1);
    const rc = this.#esys.symbols.Esys_Initialize(ctxOut, tctiOut[0]!, 0n);
    if (rc !== 0) {
      this.#tctildr.symbols.Tss2_TctiLdr_Finalize(tctiOut);
      this.check("Esys_Initialize", rc);
    }
    return new EsysContext(this, this.#esys.symbols, ctxOut, () => {
      this.#esys.symbols.Esys_Finalize(ctxOut);
      this.#tctildr.symbols.Tss2_TctiLdr_Finalize(tctiOut);
    });
  }

  /** Throws {@linkcode Tss2Error} unless `rc` is success. */
  check(fn: string, rc: number): void {
    if (rc === 0) return;
    throw new Tss2Error(fn, rc, this.#cString(this.#rc.symbols.Tss2_RC_Decode(rc)));
  }

  /**
   * Wire bytes → a C struct buffer, rejecting trailing bytes
   * ({@linkcode Tss2WireError}). `dest` may hold a secret (a
   * SENSITIVE_CREATE's data): it is wiped on every failure; on success the
   * caller wipes it.
   */
  unmarshal(fn: Unmarshal, wire: Uint8Array): Uint8Array {
    const dest = new Uint8Array(STRUCT_BYTES);
    const offset = new BigUint64Array(1);
    try {
      this.check(fn, this.#mu.symbols[fn](wire, BigInt(wire.length), offset, dest));
      if (offset[0] !== BigInt(wire.length)) {
        throw new Tss2WireError(fn, "trailing bytes after the structure");
      }
    } catch (e) {
      dest.fill(0);
      throw e;
    }
    return dest;
  }

  /** A C struct at `src` → wire bytes. */
  marshal(fn: Marshal, src: bigint): Uint8Array {
    const buf = new Uint8Array(STRUCT_BYTES);
    const offset = new BigUint64Array(1);
    this.check(fn, this.#mu.symbols[fn](src, buf, BigInt(buf.length), offset));
    return buf.slice(0, Number(offset[0]));
  }

  /** Copies `n` bytes of C memory at `addr`. */
  peek(addr: bigint, n: number): Uint8Array {
    const out = new Uint8Array(n);
    if (n > 0) this.#libc.symbols.memcpy(out, addr, BigInt(n));
    return out;
  }

  /** Zeroes `n` bytes of C memory at `addr`. */
  wipeAt(addr: bigint, n: number): void {
    if (n > 0) this.#libc.symbols.memset(addr, 0, BigInt(n));
  }

  /** Reads the C `TPM2B` at `addr` (host-endian u16 size, then bytes). */
  tpm2bAt(addr: bigint): Uint8Array {
    const size = new DataView(this.peek(addr, 2).buffer).getUint16(0, true);
    return this.peek(addr + 2n, size);
  }

  #cString(addr: bigint): string {
    if (addr === 0n) return "unknown error";
    return new TextDecoder().decode(this.peek(addr, Number(this.#libc.symbols.strlen(addr))));
  }

  #live(): void {
    if (this.#closed) throw new TypeError("Cannot use tss2 after close");
  }

  /** Closes the libraries. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const lib of [this.#esys, this.#tctildr, this.#mu, this.#rc, this.#libc]) lib.close();
  }
}

type EsysSymbols = Deno.DynamicLibrary<typeof ESYS>["symbols"];
const { NONE, PASSWORD } = ESYS_TR;

/** A connected ESYS context. Transient handles it creates are flushed on `close`. */
export class EsysContext {
  readonly #t: Tss2;
  readonly #s: EsysSymbols;
  readonly #ctxOut: BigUint64Array;
  readonly #finalize: () => void;
  readonly #handles = new Set<number>();
  #closed = false;

  /** @internal Use {@linkcode Tss2.connect}. */
  constructor(t: Tss2, s: EsysSymbols, ctxOut: BigUint64Array, finalize: () => void) {
    this.#t = t;
    this.#s = s;
    this.#ctxOut = ctxOut;
    this.#finalize = finalize;
  }

  get #ctx(): bigint {
    if (this.#closed) throw new TypeError("Cannot use an ESYS context after close");
    return this.#ctxOut[0]!;
  }

  #track(fn: string, rc: number, out: Uint32Array): number {
    this.#t.check(fn, rc);
    this.#handles.add(out[0]!);
    return out[0]!;
  }

  /** CreatePrimary in the owner hierarchy (empty auth) from a wire `TPM2B_PUBLIC`. */
  createPrimary(publicWire: Uint8Array): number {
    const t = this.#t;
    const out = new Uint32Array(1);
    const rc = this.#s.Esys_CreatePrimary(
      this.#ctx,
      ESYS_TR.RH_OWNER,
      PASSWORD,
      NONE,
      NONE,
      t.unmarshal("Tss2_MU_TPM2B_SENSITIVE_CREATE_Unmarshal", sensitiveCreate(new Uint8Array())),
      t.unmarshal("Tss2_MU_TPM2B_PUBLIC_Unmarshal", publicWire),
      new Uint8Array(STRUCT_BYTES),
      new Uint8Array(STRUCT_BYTES),
      out,
      0n,
      0n,
      0n,
      0n,
    );
    return this.#track("Esys_CreatePrimary", rc, out);
  }

  /**
   * Starts a sha256 session. With `saltKey` it is salted to that loaded key
   * and uses AES-128-CFB parameter encryption per `attributes`.
   */
  startSession(type: number, saltKey?: number, attributes = 0): number {
    const t = this.#t;
    const out = new Uint32Array(1);
    const sym = t.unmarshal("Tss2_MU_TPMT_SYM_DEF_Unmarshal", symDef(saltKey !== undefined));
    const rc = this.#s.Esys_StartAuthSession(
      this.#ctx,
      saltKey ?? NONE,
      NONE,
      NONE,
      NONE,
      NONE,
      0n,
      type,
      sym,
      0x000b,
      out,
    );
    const h = this.#track("Esys_StartAuthSession", rc, out);
    if (attributes !== 0) {
      t.check(
        "Esys_TRSess_SetAttributes",
        this.#s.Esys_TRSess_SetAttributes(this.#ctx, h, attributes, attributes),
      );
    }
    return h;
  }

  /** PolicyPCR over the CURRENT values of the PCRs in a wire `TPML_PCR_SELECTION`. */
  policyPcr(session: number, selectionWire: Uint8Array): void {
    const t = this.#t;
    const sel = t.unmarshal("Tss2_MU_TPML_PCR_SELECTION_Unmarshal", selectionWire);
    const emptyDigest = new Uint8Array(STRUCT_BYTES);
    t.check(
      "Esys_PolicyPCR",
      this.#s.Esys_PolicyPCR(this.#ctx, session, NONE, NONE, NONE, emptyDigest, sel),
    );
  }

  /** The session's policy digest. */
  policyGetDigest(session: number): Uint8Array {
    const out = new BigUint64Array(1);
    this.#t.check(
      "Esys_PolicyGetDigest",
      this.#s.Esys_PolicyGetDigest(this.#ctx, session, NONE, NONE, NONE, out),
    );
    try {
      return this.#t.tpm2bAt(out[0]!);
    } finally {
      this.#s.Esys_Free(out[0]!);
    }
  }

  /**
   * Create under `parent`, authorized by `auth` (a session or PASSWORD).
   * `sensitiveWire` may hold a secret: its C copy is wiped before returning.
   */
  create(
    parent: number,
    auth: number,
    sensitiveWire: Uint8Array,
    publicWire: Uint8Array,
  ): { private: Uint8Array; public: Uint8Array } {
    const t = this.#t;
    const privOut = new BigUint64Array(1);
    const pubOut = new BigUint64Array(1);
    const sens = t.unmarshal("Tss2_MU_TPM2B_SENSITIVE_CREATE_Unmarshal", sensitiveWire);
    try {
      const rc = this.#s.Esys_Create(
        this.#ctx,
        parent,
        auth,
        NONE,
        NONE,
        sens,
        t.unmarshal("Tss2_MU_TPM2B_PUBLIC_Unmarshal", publicWire),
        new Uint8Array(STRUCT_BYTES),
        new Uint8Array(STRUCT_BYTES),
        privOut,
        pubOut,
        0n,
        0n,
        0n,
      );
      t.check("Esys_Create", rc);
    } finally {
      sens.fill(0);
    }
    try {
      return {
        private: t.marshal("Tss2_MU_TPM2B_PRIVATE_Marshal", privOut[0]!),
        public: t.marshal("Tss2_MU_TPM2B_PUBLIC_Marshal", pubOut[0]!),
      };
    } finally {
      this.#s.Esys_Free(privOut[0]!);
      this.#s.Esys_Free(pubOut[0]!);
    }
  }

  /** Loads wire `TPM2B_PRIVATE` + `TPM2B_PUBLIC` under `parent` (empty auth). */
  load(parent: number, privateWire: Uint8Array, publicWire: Uint8Array): number {
    const t = this.#t;
    const priv = t.unmarshal("Tss2_MU_TPM2B_PRIVATE_Unmarshal", privateWire);
    const pub = t.unmarshal("Tss2_MU_TPM2B_PUBLIC_Unmarshal", publicWire);
    const out = new Uint32Array(1);
    const rc = this.#s.Esys_Load(this.#ctx, parent, PASSWORD, NONE, NONE, priv, pub, out);
    return this.#track("Esys_Load", rc, out);
  }

  /** Unseals `item` under `session`. The caller wipes the result; the C copy is wiped here. */
  unseal(item: number, session: number): Uint8Array {
    const out = new BigUint64Array(1);
    this.#t.check("Esys_Unseal", this.#s.Esys_Unseal(this.#ctx, item, session, NONE, NONE, out));
    const addr = out[0]!;
    try {
      return this.#t.tpm2bAt(addr);
    } finally {
      const size = new DataView(this.#t.peek(addr, 2).buffer).getUint16(0, true);
      this.#t.wipeAt(addr, 2 + size);
      this.#s.Esys_Free(addr);
    }
  }

  /** Flushes a transient object or session. */
  flush(handle: number): void {
    if (!this.#handles.delete(handle)) return;
    this.#t.check("Esys_FlushContext", this.#s.Esys_FlushContext(this.#ctx, handle));
  }

  /** Flushes every handle still live (best effort), then finalizes. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    for (const h of [...this.#handles].reverse()) {
      try {
        this.flush(h);
      } catch { /* the TPM may be gone; finalize anyway */ }
    }
    this.#closed = true;
    this.#finalize();
  }
}
