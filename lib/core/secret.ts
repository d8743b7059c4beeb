/**
 * Secret bytes that cannot be printed by accident and can be wiped.
 *
 * JavaScript strings cannot be wiped, so secrets stay in `Uint8Array` from the
 * moment they are read until the wire edge, and are zeroed in `finally` or by
 * `using`. `String()`, `JSON.stringify()` and `Deno.inspect()` all render
 * `[redacted N bytes]`.
 * @module
 */

const REDACTED = Symbol.for("Deno.customInspect");

/** An owned buffer holding secret material. */
export class SecretBytes implements Disposable {
  #bytes: Uint8Array;
  #wiped = false;

  /** Takes ownership of `bytes`: the caller must not keep using them. */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** Copies `bytes` into a new owned buffer. */
  static copyOf(bytes: Uint8Array): SecretBytes {
    return new SecretBytes(bytes.slice());
  }

  /** The number of bytes. */
  get length(): number {
    return this.#bytes.length;
  }

  /** Whether {@linkcode SecretBytes.wipe} has run. */
  get wiped(): boolean {
    return this.#wiped;
  }

  /** The underlying bytes; throws after a wipe. */
  expose(): Uint8Array {
    if (this.#wiped) throw new TypeError("Cannot use secret bytes after wipe");
    return this.#bytes;
  }

  /** Zeroes the buffer. Safe to call more than once. */
  wipe(): void {
    this.#bytes.fill(0);
    this.#wiped = true;
  }

  [Symbol.dispose](): void {
    this.wipe();
  }

  toString(): string {
    return `[redacted ${this.#bytes.length} bytes]`;
  }

  toJSON(): string {
    return this.toString();
  }

  [REDACTED](): string {
    return this.toString();
  }
}

/** Zeroes every buffer given, ignoring `undefined`. */
export function wipeAll(...buffers: (Uint8Array | undefined)[]): void {
  for (const b of buffers) b?.fill(0);
}

/** Constant-time equality of two byte strings (length is not secret). */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
