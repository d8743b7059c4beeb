/**
 * Byte encodings used on files, the wire and the CLI: hex, standard base64
 * and base64url without padding. Decoders reject malformed input instead of
 * guessing.
 *
 * base64url has exactly one implementation, here, used wherever Basil
 * decodes it (JWT segments, sealed-bundle fields, deposit tokens):
 * - Decoding is canonical: padding, characters outside `A-Za-z0-9-_`, a
 *   length of `4n+1` and non-zero trailing bits are all rejected, so every
 *   byte string has exactly one accepted text form (as Rust's
 *   `URL_SAFE_NO_PAD` does). A changed character never decodes to the same
 *   bytes.
 * - {@linkcode base64UrlAscii} and {@linkcode decodeBase64Url} also work on
 *   ASCII byte buffers, so a secret (a DEK, an ingest key) never has to pass
 *   through a JavaScript string; a failed decode wipes its partial output.
 *   The string forms {@linkcode toBase64Url} and {@linkcode fromBase64Url}
 *   are thin wrappers over the same two functions.
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

/** Standard padded base64. */
export function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** Parses standard base64 (padding optional); throws `SyntaxError`. */
export function fromBase64(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw new SyntaxError("Cannot parse base64: unexpected character");
  }
  const padded = text + "=".repeat((4 - (text.length % 4)) % 4);
  let bin: string;
  try {
    bin = atob(padded);
  } catch {
    throw new SyntaxError("Cannot parse base64: malformed input");
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64URL_ENC = new Uint8Array(64);
const B64URL_DEC = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) {
  B64URL_ENC[i] = B64URL.charCodeAt(i);
  B64URL_DEC[B64URL.charCodeAt(i)] = i;
}
const ascii = new TextDecoder();

/** base64url without padding, as ASCII bytes (no JavaScript string is made). */
export function base64UrlAscii(bytes: Uint8Array): Uint8Array {
  const full = Math.floor(bytes.length / 3);
  const rest = bytes.length - full * 3;
  const out = new Uint8Array(full * 4 + (rest === 0 ? 0 : rest + 1));
  let o = 0;
  let i = 0;
  for (; i < full * 3; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = B64URL_ENC[(n >> 18) & 63]!;
    out[o++] = B64URL_ENC[(n >> 12) & 63]!;
    out[o++] = B64URL_ENC[(n >> 6) & 63]!;
    out[o++] = B64URL_ENC[n & 63]!;
  }
  if (rest > 0) {
    const n = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0);
    out[o++] = B64URL_ENC[(n >> 18) & 63]!;
    out[o++] = B64URL_ENC[(n >> 12) & 63]!;
    if (rest === 2) out[o++] = B64URL_ENC[(n >> 6) & 63]!;
  }
  return out;
}

/** base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  return ascii.decode(base64UrlAscii(bytes));
}

/**
 * Decodes canonical base64url without padding, given as a string or as
 * ASCII bytes (which are not modified); `undefined` when the input is not
 * canonical (see the module doc). Nothing decoded survives a failure.
 */
export function decodeBase64Url(input: string | Uint8Array): Uint8Array | undefined {
  const len = input.length;
  if (len % 4 === 1) return undefined;
  const at = typeof input === "string"
    ? (i: number) => {
      const c = input.charCodeAt(i);
      return c < 256 ? B64URL_DEC[c]! : -1;
    }
    : (i: number) => B64URL_DEC[input[i]!]!;
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < len; i++) {
    const v = at(i);
    if (v < 0) {
      out.fill(0);
      return undefined;
    }
    acc = ((acc << 6) | v) & 0xffffff;
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
