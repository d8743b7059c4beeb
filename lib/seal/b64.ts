/**
 * Strict base64url-without-padding, the encoding of every binary field in a
 * sealed bundle and its payload (contract §6).
 *
 * Invariants:
 * - Decoding is canonical: padding, characters outside `A-Za-z0-9-_`, a
 *   length of `4n+1`, and non-zero trailing bits are all rejected, so every
 *   byte string has exactly one accepted text form (as Rust's
 *   `URL_SAFE_NO_PAD` does). A flipped character therefore never decodes to
 *   the same bytes.
 * - The `*Ascii` variants work on byte buffers so secret values (a DEK, an
 *   ingest key) never pass through a JavaScript string.
 * @module
 */

const ASCII = new TextDecoder();
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const ENC = new Uint8Array(64);
const DEC = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) {
  ENC[i] = ALPHABET.charCodeAt(i);
  DEC[ALPHABET.charCodeAt(i)] = i;
}

/** Encodes bytes as base64url-no-pad ASCII bytes (no string is created). */
export function b64urlEncodeAscii(bytes: Uint8Array): Uint8Array {
  const full = Math.floor(bytes.length / 3);
  const rest = bytes.length - full * 3;
  const out = new Uint8Array(full * 4 + (rest === 0 ? 0 : rest + 1));
  let o = 0;
  let i = 0;
  for (; i < full * 3; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = ENC[(n >> 18) & 63]!;
    out[o++] = ENC[(n >> 12) & 63]!;
    out[o++] = ENC[(n >> 6) & 63]!;
    out[o++] = ENC[n & 63]!;
  }
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out[o++] = ENC[(n >> 18) & 63]!;
    out[o++] = ENC[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out[o++] = ENC[(n >> 18) & 63]!;
    out[o++] = ENC[(n >> 12) & 63]!;
    out[o++] = ENC[(n >> 6) & 63]!;
  }
  return out;
}

/**
 * Decodes canonical base64url-no-pad ASCII bytes; `undefined` if the input is
 * not canonical. The input is not modified.
 */
export function b64urlDecodeAscii(ascii: Uint8Array): Uint8Array | undefined {
  const len = ascii.length;
  if (len % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < len; i++) {
    const v = DEC[ascii[i]!]!;
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
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) {
    out.fill(0);
    return undefined;
  }
  acc = 0;
  return out;
}

/** Encodes bytes as a base64url-no-pad string (for non-secret fields). */
export function b64urlEncode(bytes: Uint8Array): string {
  return ASCII.decode(b64urlEncodeAscii(bytes));
}

/** Decodes a canonical base64url-no-pad string; `undefined` if malformed. */
export function b64urlDecode(text: string): Uint8Array | undefined {
  const ascii = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return undefined;
    ascii[i] = c;
  }
  return b64urlDecodeAscii(ascii);
}
