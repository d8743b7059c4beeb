/**
 * Byte encodings used on files, the wire and the CLI: hex, standard padded
 * base64 and base64url without padding. Decoders reject malformed input
 * instead of guessing.
 *
 * Both base64 variants have exactly one implementation, here, used wherever
 * Basil decodes them (JWT segments, sealed-bundle fields, deposit tokens,
 * PEM bodies, Vault request and response bodies):
 * - Decoding is canonical: characters outside the variant's alphabet, a
 *   wrong padding (required for standard base64, refused for base64url), a
 *   length of `4n+1` and non-zero trailing bits are all rejected, so every
 *   byte string has exactly one accepted text form (as Rust's `STANDARD` and
 *   `URL_SAFE_NO_PAD` do). A changed character never decodes to the same
 *   bytes.
 * - {@linkcode base64Ascii}, {@linkcode base64UrlAscii},
 *   {@linkcode decodeBase64} and {@linkcode decodeBase64Url} also work on
 *   ASCII byte buffers, so a secret (a DEK, a token, a KV value) never has
 *   to pass through a JavaScript string; a failed decode wipes its partial
 *   output. The string forms are thin wrappers over the same functions.
 * @module
 */

const HEX = "0123456789abcdef";

/** Lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += HEX[b >> 4]! + HEX[b & 15]!;
  return s;
}

/** Parses hex (either case); throws `SyntaxError` on bad input. */
export function fromHex(text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new SyntaxError("Cannot parse hex: expected an even number of hex digits");
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** The two base64 alphabets Basil uses (RFC 4648 §4 and §5). */
interface Base64Variant {
  readonly enc: Uint8Array;
  readonly dec: Int16Array;
  /** Standard base64 is written with `=` padding (and must be read with it); base64url never is. */
  readonly padded: boolean;
}

function variant(alphabet: string, padded: boolean): Base64Variant {
  const enc = new Uint8Array(64);
  const dec = new Int16Array(256).fill(-1);
  for (let i = 0; i < 64; i++) {
    enc[i] = alphabet.charCodeAt(i);
    dec[alphabet.charCodeAt(i)] = i;
  }
  return { enc, dec, padded };
}

const STD = variant("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", true);
const URL = variant("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", false);
const PAD = 0x3d;
const ascii = new TextDecoder();

/** Encodes as ASCII bytes (no JavaScript string is made). */
function encodeAscii(bytes: Uint8Array, v: Base64Variant): Uint8Array {
  const full = Math.floor(bytes.length / 3);
  const rest = bytes.length - full * 3;
  const tail = rest === 0 ? 0 : v.padded ? 4 : rest + 1;
  const out = new Uint8Array(full * 4 + tail);
  let o = 0;
  let i = 0;
  for (; i < full * 3; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = v.enc[(n >> 18) & 63]!;
    out[o++] = v.enc[(n >> 12) & 63]!;
    out[o++] = v.enc[(n >> 6) & 63]!;
    out[o++] = v.enc[n & 63]!;
  }
  if (rest > 0) {
    const n = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0);
    out[o++] = v.enc[(n >> 18) & 63]!;
    out[o++] = v.enc[(n >> 12) & 63]!;
    if (rest === 2) out[o++] = v.enc[(n >> 6) & 63]!;
    else if (v.padded) out[o++] = PAD;
    if (v.padded) out[o++] = PAD;
  }
  return out;
}

/**
 * Decodes canonical input of a variant, as a string or ASCII bytes (not
 * modified); `undefined` when it is not canonical. Nothing decoded survives
 * a failure.
 */
function decode(input: string | Uint8Array, v: Base64Variant): Uint8Array | undefined {
  const at = typeof input === "string"
    ? (i: number) => {
      const c = input.charCodeAt(i);
      return c < 256 ? c : -1;
    }
    : (i: number) => input[i]!;
  let len = input.length;
  if (v.padded) {
    if (len % 4 !== 0) return undefined;
    if (len > 0 && at(len - 1) === PAD) len--;
    if (len > 0 && at(len - 1) === PAD) len--;
    if (input.length - len > 0 && len % 4 < 2) return undefined;
  }
  if (len % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < len; i++) {
    const c = at(i);
    const x = c < 0 ? -1 : v.dec[c]!;
    if (x < 0) {
      out.fill(0);
      return undefined;
    }
    acc = ((acc << 6) | x) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  // Leftover bits must be zero for the encoding to be canonical.
  const trailing = acc & ((1 << bits) - 1);
  acc = 0;
  if (trailing !== 0) {
    out.fill(0);
    return undefined;
  }
  return out;
}

/** Standard padded base64, as ASCII bytes (no JavaScript string is made). */
export function base64Ascii(bytes: Uint8Array): Uint8Array {
  return encodeAscii(bytes, STD);
}

/** Standard padded base64. */
export function toBase64(bytes: Uint8Array): string {
  return ascii.decode(encodeAscii(bytes, STD));
}

/**
 * Decodes canonical standard base64 (padding required, zero trailing bits),
 * given as a string or ASCII bytes (not modified); `undefined` otherwise.
 */
export function decodeBase64(input: string | Uint8Array): Uint8Array | undefined {
  return decode(input, STD);
}

/** Parses canonical standard base64; throws `SyntaxError` otherwise. */
export function fromBase64(text: string): Uint8Array {
  const out = decode(text, STD);
  if (out === undefined) {
    throw new SyntaxError("Cannot parse base64: expected canonical padded base64");
  }
  return out;
}

/** base64url without padding, as ASCII bytes (no JavaScript string is made). */
export function base64UrlAscii(bytes: Uint8Array): Uint8Array {
  return encodeAscii(bytes, URL);
}

/** base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  return ascii.decode(encodeAscii(bytes, URL));
}

/**
 * Decodes canonical base64url without padding, given as a string or as
 * ASCII bytes (which are not modified); `undefined` when the input is not
 * canonical (see the module doc). Nothing decoded survives a failure.
 */
export function decodeBase64Url(input: string | Uint8Array): Uint8Array | undefined {
  return decode(input, URL);
}

/** Parses canonical base64url without padding; throws `SyntaxError` otherwise. */
export function fromBase64Url(text: string): Uint8Array {
  const out = decodeBase64Url(text);
  if (out === undefined) {
    throw new SyntaxError(
      "Cannot parse base64url: expected canonical base64url without padding",
    );
  }
  return out;
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8, throwing `TypeError` on invalid sequences. */
export function fromUtf8(bytes: Uint8Array): string {
  return strictDecoder.decode(bytes);
}

/** Concatenates byte strings. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Big-endian u32. */
export function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, false);
  return b;
}
