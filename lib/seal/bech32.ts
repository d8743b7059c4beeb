/**
 * Bech32 (BIP 173) as age uses it for recipients (`age1…`, `age1yubikey1…`)
 * and identities (`AGE-SECRET-KEY-1…`, `AGE-PLUGIN-YUBIKEY-1…`).
 *
 * Invariants:
 * - No length limit (age strings exceed BIP 173's 90 characters); mixed case
 *   is rejected; the HRP is returned lowercase.
 * - {@linkcode bech32DecodeBytes} works on ASCII bytes and returns the data
 *   in a fresh buffer, so a secret identity never becomes a JS string; its
 *   intermediate 5-bit buffer is wiped.
 * - Data is 8-bit bytes regrouped to 5 bits with zero padding; non-zero or
 *   overlong padding is rejected.
 * @module
 */

const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const REV = new Int8Array(128).fill(-1);
for (let i = 0; i < CHARSET.length; i++) {
  REV[CHARSET.charCodeAt(i)] = i;
  REV[CHARSET.toUpperCase().charCodeAt(i)] = i;
}
const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: ArrayLike<number>, start = 1): number {
  let chk = start;
  for (let i = 0; i < values.length; i++) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ values[i]!;
    for (let j = 0; j < 5; j++) if ((top >>> j) & 1) chk ^= GEN[j]!;
  }
  return chk;
}

function hrpExpand(hrp: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) >> 5);
  out.push(0);
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) & 31);
  return out;
}

function toWords(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil((data.length * 8) / 5));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const b of data) {
    acc = ((acc << 8) | b) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out[o++] = (acc >> bits) & 31;
    }
  }
  if (bits > 0) out[o++] = (acc << (5 - bits)) & 31;
  acc = 0;
  return out;
}

function fromWords(words: Uint8Array): Uint8Array | undefined {
  const out = new Uint8Array(Math.floor((words.length * 5) / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const w of words) {
    acc = ((acc << 5) | w) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  const bad = bits >= 5 || ((acc << (8 - bits)) & 0xff) !== 0;
  acc = 0;
  if (bad) {
    out.fill(0);
    return undefined;
  }
  return out;
}

/** Encodes `data` under `hrp` (lowercase output; callers uppercase identities). */
export function bech32Encode(hrp: string, data: Uint8Array): string {
  const h = hrp.toLowerCase();
  const words = toWords(data);
  const values = [...hrpExpand(h), ...words, 0, 0, 0, 0, 0, 0];
  const mod = polymod(values) ^ 1;
  let out = `${h}1`;
  for (const w of words) out += CHARSET[w];
  for (let i = 0; i < 6; i++) out += CHARSET[(mod >> (5 * (5 - i))) & 31];
  return out;
}

/** A decoded bech32 string. */
export interface Bech32Decoded {
  /** Lowercase human-readable part. */
  readonly hrp: string;
  /** The payload bytes (caller owns; wipe if secret). */
  readonly data: Uint8Array;
}

/** Decodes bech32 from ASCII bytes; `undefined` if malformed or the checksum fails. */
export function bech32DecodeBytes(ascii: Uint8Array): Bech32Decoded | undefined {
  let lower = false;
  let upper = false;
  for (const c of ascii) {
    if (c < 33 || c > 126) return undefined;
    if (c >= 0x61 && c <= 0x7a) lower = true;
    if (c >= 0x41 && c <= 0x5a) upper = true;
  }
  if (lower && upper) return undefined;
  const sep = ascii.lastIndexOf(0x31);
  if (sep < 1 || ascii.length - sep - 1 < 6) return undefined;
  let hrp = "";
  for (let i = 0; i < sep; i++) hrp += String.fromCharCode(ascii[i]!).toLowerCase();
  const words = new Uint8Array(ascii.length - sep - 1);
  try {
    for (let i = 0; i < words.length; i++) {
      const v = REV[ascii[sep + 1 + i]!] ?? -1;
      if (v < 0) return undefined;
      words[i] = v;
    }
    if (polymod(words, polymod(hrpExpand(hrp))) !== 1) return undefined;
    const data = fromWords(words.subarray(0, words.length - 6));
    return data === undefined ? undefined : { hrp, data };
  } finally {
    words.fill(0);
  }
}

/** Decodes a (non-secret) bech32 string. */
export function bech32Decode(text: string): Bech32Decoded | undefined {
  return bech32DecodeBytes(new TextEncoder().encode(text));
}
