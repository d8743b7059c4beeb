/**
 * Reading and writing C memory through libc, for FFI layers whose pointers
 * are plain `u64` numbers. `Deno.UnsafePointer` and `Deno.UnsafePointerView`
 * need the process-wide ffi grant, which the agent gives up after start-up;
 * calls of already-loaded symbols keep working, so every access here is a
 * libc call (`memcpy`, `memmove`, `memset`, `strlen`) on `buffer` arguments.
 * @module
 */

import { dlopen } from "./_dlopen.ts";

const B = "buffer", U64 = "u64", USZ = "usize", I32 = "i32";

const SYMBOLS = {
  /** void *memcpy(void *dst, const void *src, size_t n), copying C memory into a buffer */
  copyIn: { name: "memcpy", parameters: [B, U64, USZ], result: U64 },
  /** void *memcpy(void *dst, const void *src, size_t n), copying a buffer into C memory */
  copyOut: { name: "memcpy", parameters: [U64, B, USZ], result: U64 },
  /** void *memmove(void *dst, const void *src, size_t n): with n = 0, returns `dst` (a buffer's address) */
  addressOf: { name: "memmove", parameters: [B, B, USZ], result: U64 },
  /** void *memset(void *s, int c, size_t n) */
  memset: { parameters: [U64, I32, USZ], result: U64 },
  /** size_t strlen(const char *s) */
  strlen: { parameters: [U64], result: USZ },
} as const satisfies Deno.ForeignLibraryInterface;

/** libc's memory primitives, opened from an absolute path. */
export class NativeMemory {
  #lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

  constructor(libcPath: string) {
    this.#lib = dlopen(libcPath, SYMBOLS);
  }

  get #s(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
    if (!this.#lib) throw new TypeError("Cannot use libc memory after close");
    return this.#lib.symbols;
  }

  /** Copies `dst.length` bytes of C memory at `addr` into `dst`. */
  read(dst: Uint8Array, addr: bigint): void {
    if (dst.length > 0) this.#s.copyIn(dst, addr, BigInt(dst.length));
  }

  /** A fresh copy of `n` bytes of C memory at `addr`. */
  peek(addr: bigint, n: number): Uint8Array {
    const out = new Uint8Array(n);
    this.read(out, addr);
    return out;
  }

  /** Copies `src` into C memory at `addr`. */
  write(addr: bigint, src: Uint8Array): void {
    if (src.length > 0) this.#s.copyOut(addr, src, BigInt(src.length));
  }

  /** Zeroes `n` bytes of C memory at `addr`. */
  wipe(addr: bigint, n: number): void {
    if (n > 0) this.#s.memset(addr, 0, BigInt(n));
  }

  /**
   * The address of a buffer's bytes. Only meaningful for a buffer whose
   * backing store never moves: allocate it as `new Uint8Array(new
   * ArrayBuffer(n))` and keep a reference for as long as C may use it.
   */
  addressOf(buf: Uint8Array): bigint {
    return this.#s.addressOf(buf, buf, 0n);
  }

  /** The NUL-terminated C string at `addr` (empty for NULL). */
  cString(addr: bigint): string {
    if (addr === 0n) return "";
    return new TextDecoder().decode(this.peek(addr, Number(this.#s.strlen(addr))));
  }

  /** Closes the library handle. Safe to call twice. */
  close(): void {
    this.#lib?.close();
    this.#lib = undefined;
  }
}
