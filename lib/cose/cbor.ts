/**
 * Strict deterministic CBOR (RFC 8949 §4.2.1, "core deterministic") for the
 * sealed-invocation COSE profile (contract §11.3).
 *
 * Hand-written on purpose: the profile accepts a small data model (integers
 * in the JS safe range, byte and text strings, arrays, integer-keyed maps,
 * false/true/null and a caller-chosen set of tags) and must reject every
 * other encoding with a typed reason. The npm decoders (cborg, cbor2,
 * cbor-x) are permissive by design: they accept floats, `undefined`,
 * unsorted maps and arbitrary tags, and cborg's `strict` option only checks
 * minimal lengths, so each would still need a full validating walk and a
 * re-encode on top. This decoder knows only the subset, so it is smaller
 * than that glue.
 *
 * Decoding rejects: trailing bytes, indefinite lengths, reserved additional
 * info, non-minimal heads, floats and simple values other than
 * false/true/null, integers outside ±(2^53−1), invalid UTF-8, tags not
 * allowed by the caller, map keys that are not integers, duplicate keys,
 * keys not in ascending bytewise order, nesting deeper than 16, and lengths
 * beyond the input. Anything accepted re-encodes to the same bytes.
 * @module
 */

/** A CBOR tag around a value. */
export class CborTag {
  constructor(readonly tag: number, readonly value: CborValue) {}
}

/** An integer-keyed CBOR map (the only map shape the profile uses). */
export type CborMap = Map<number, CborValue>;

/** The CBOR data model this codec accepts. */
export type CborValue =
  | number
  | string
  | boolean
  | null
  | Uint8Array
  | CborValue[]
  | CborMap
  | CborTag;

/** Why a decode failed; `wrong-tag` is a tag where another was expected. */
export type CborFailure = "malformed" | "noncanonical" | "wrong-tag";

/** A decode failure with a stable reason (the message names the problem, never data). */
export class CborError extends Error {
  constructor(readonly failure: CborFailure, message: string) {
    super(message);
    this.name = "CborError";
  }
}

const MAX_DEPTH = 16;
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

// ---------------------------------------------------------------- encoder

/** Encodes `value` deterministically (minimal heads, map keys sorted bytewise). */
export function encodeCbor(value: CborValue): Uint8Array {
  const out: number[] = [];
  write(out, value, 0);
  return Uint8Array.from(out);
}

function head(out: number[], major: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError("CBOR length or integer out of range");
  }
  const m = major << 5;
  if (n < 24) out.push(m | n);
  else if (n < 0x100) out.push(m | 24, n);
  else if (n < 0x10000) out.push(m | 25, n >> 8, n & 0xff);
  else if (n < 0x100000000) out.push(m | 26, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
  else {
    const hi = Math.floor(n / 0x100000000);
    const lo = n >>> 0;
    out.push(m | 27, hi >>> 24, (hi >> 16) & 0xff, (hi >> 8) & 0xff, hi & 0xff);
    out.push(lo >>> 24, (lo >> 16) & 0xff, (lo >> 8) & 0xff, lo & 0xff);
  }
}

function write(out: number[], v: CborValue, depth: number): void {
  if (depth > MAX_DEPTH) throw new RangeError("CBOR nesting too deep");
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new RangeError("CBOR integers must be safe integers");
    if (v >= 0) head(out, 0, v);
    else head(out, 1, -1 - v);
  } else if (typeof v === "string") {
    const b = utf8Encoder.encode(v);
    head(out, 3, b.length);
    for (const x of b) out.push(x);
  } else if (typeof v === "boolean") out.push(v ? 0xf5 : 0xf4);
  else if (v === null) out.push(0xf6);
  else if (v instanceof Uint8Array) {
    head(out, 2, v.length);
    for (const x of v) out.push(x);
  } else if (Array.isArray(v)) {
    head(out, 4, v.length);
    for (const x of v) write(out, x, depth + 1);
  } else if (v instanceof Map) {
    const entries = [...v.entries()].map(([k, x]) => ({ k: encodeCbor(k), x }));
    entries.sort((a, b) => compareBytes(a.k, b.k));
    head(out, 5, entries.length);
    for (let i = 0; i < entries.length; i++) {
      if (i > 0 && compareBytes(entries[i - 1]!.k, entries[i]!.k) === 0) {
        throw new RangeError("duplicate CBOR map key");
      }
      for (const x of entries[i]!.k) out.push(x);
      write(out, entries[i]!.x, depth + 1);
    }
  } else if (v instanceof CborTag) {
    head(out, 6, v.tag);
    write(out, v.value, depth + 1);
  } else {
    throw new RangeError("value has no CBOR encoding in this profile");
  }
}

/** Bytewise lexicographic order (shorter first on a common prefix). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

// ---------------------------------------------------------------- decoder

/** Options for {@linkcode decodeCbor}. */
export interface DecodeOptions {
  /** Tags that may appear anywhere (default none). */
  readonly tags?: readonly number[];
}

/**
 * Decodes exactly one strict deterministic CBOR item spanning all of
 * `bytes`. Throws {@linkcode CborError} on anything outside the profile.
 */
export function decodeCbor(bytes: Uint8Array, options: DecodeOptions = {}): CborValue {
  const r = new Reader(bytes, options.tags ?? []);
  const v = r.item(0);
  if (r.pos !== bytes.length) {
    throw new CborError("malformed", "trailing bytes after the CBOR item");
  }
  return v;
}

class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array, readonly tags: readonly number[]) {}

  byte(): number {
    if (this.pos >= this.b.length) throw new CborError("malformed", "truncated CBOR");
    return this.b[this.pos++]!;
  }

  /** Reads a head's argument; enforces minimal encoding. */
  arg(info: number): number {
    if (info < 24) return info;
    if (info === 24) {
      const n = this.byte();
      if (n < 24) throw new CborError("noncanonical", "non-minimal CBOR head");
      return n;
    }
    if (info === 25 || info === 26 || info === 27) {
      const len = info === 25 ? 2 : info === 26 ? 4 : 8;
      let n = 0;
      for (let i = 0; i < len; i++) n = n * 256 + this.byte();
      if (!Number.isSafeInteger(n)) throw new CborError("malformed", "CBOR integer out of range");
      const min = info === 25 ? 0x100 : info === 26 ? 0x10000 : 0x100000000;
      if (n < min) throw new CborError("noncanonical", "non-minimal CBOR head");
      return n;
    }
    if (info === 31) throw new CborError("noncanonical", "indefinite-length CBOR");
    throw new CborError("malformed", "reserved CBOR additional information");
  }

  take(n: number): Uint8Array {
    if (n > this.b.length - this.pos) throw new CborError("malformed", "truncated CBOR");
    // A copy, and a plain Uint8Array even when the input is a node Buffer (no species constructor).
    const out = new Uint8Array(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  item(depth: number): CborValue {
    if (depth > MAX_DEPTH) throw new CborError("malformed", "CBOR nesting too deep");
    const ib = this.byte();
    const major = ib >> 5;
    const info = ib & 31;
    if (major === 7) {
      if (info === 20) return false;
      if (info === 21) return true;
      if (info === 22) return null;
      if (info === 31) throw new CborError("noncanonical", "indefinite-length CBOR");
      throw new CborError("malformed", "CBOR simple value or float not allowed");
    }
    const n = this.arg(info);
    switch (major) {
      case 0:
        return n;
      case 1:
        if (n >= Number.MAX_SAFE_INTEGER) {
          throw new CborError("malformed", "CBOR integer out of range");
        }
        return -1 - n;
      case 2:
        return this.take(n);
      case 3:
        try {
          return utf8Decoder.decode(this.take(n));
        } catch (e) {
          if (e instanceof CborError) throw e;
          throw new CborError("malformed", "invalid UTF-8 in a CBOR text string");
        }
      case 4: {
        if (n > this.b.length - this.pos) throw new CborError("malformed", "truncated CBOR");
        const arr: CborValue[] = [];
        for (let i = 0; i < n; i++) arr.push(this.item(depth + 1));
        return arr;
      }
      case 5: {
        if (n * 2 > this.b.length - this.pos) throw new CborError("malformed", "truncated CBOR");
        const map: CborMap = new Map();
        let prev: Uint8Array | undefined;
        for (let i = 0; i < n; i++) {
          const start = this.pos;
          const k = this.item(depth + 1);
          if (typeof k !== "number") {
            throw new CborError("malformed", "CBOR map key is not an integer");
          }
          const kb = this.b.subarray(start, this.pos);
          if (prev) {
            const c = compareBytes(prev, kb);
            if (c === 0) throw new CborError("malformed", "duplicate CBOR map key");
            if (c > 0) throw new CborError("noncanonical", "CBOR map keys out of order");
          }
          prev = kb;
          map.set(k, this.item(depth + 1));
        }
        return map;
      }
      default: {
        if (!this.tags.includes(n)) throw new CborError("wrong-tag", "unexpected CBOR tag");
        return new CborTag(n, this.item(depth + 1));
      }
    }
  }
}
