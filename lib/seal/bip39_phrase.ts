/**
 * 24-word English BIP39 mnemonics ↔ 256-bit entropy, over bytes so a phrase
 * never becomes a JavaScript string (contract §6: the BIP39 slot stretches
 * the ENTROPY with Argon2id, not the BIP39 PBKDF2 seed).
 *
 * Invariants:
 * - Exactly 24 words from the English list, separated by any ASCII
 *   whitespace (leading/trailing whitespace trimmed); ASCII letters are
 *   case-folded; the 8-bit SHA-256 checksum must match.
 * - Words are looked up by binary search over the encoded list, byte by
 *   byte; every intermediate buffer is wiped. Errors name a word position,
 *   never a word.
 * - {@linkcode generatePhrase} draws entropy from the OS CSPRNG and returns
 *   the phrase as bytes (single spaces) for a one-time display.
 * @module
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { wordlist } from "@scure/bip39/wordlists/english.js";
import { InputError } from "../core/errors.ts";
import { SecretBytes } from "../core/secret.ts";

/** Words in a phrase. */
export const PHRASE_WORDS = 24;
/** Entropy bytes (256 bits). */
export const ENTROPY_BYTES = 32;

const TOKEN = "bip39_phrase_invalid";
const enc = new TextEncoder();
const WORDS: readonly Uint8Array[] = wordlist.map((w) => enc.encode(w));

function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

// The English list is sorted; binary search relies on it.
for (let i = 1; i < WORDS.length; i++) {
  if (compare(WORDS[i - 1]!, WORDS[i]!) >= 0) throw new Error("BIP39 wordlist is not sorted");
}

function indexOf(word: Uint8Array): number {
  let lo = 0;
  let hi = WORDS.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = compare(WORDS[mid]!, word);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * The 32-byte entropy of a 24-word phrase (`what` names the source in
 * errors). Throws `InputError("bip39_phrase_invalid")`. `phrase` is not
 * modified; the caller wipes both buffers.
 */
export function phraseToEntropy(phrase: Uint8Array, what: string): SecretBytes {
  const indices = new Uint16Array(PHRASE_WORDS);
  const word = new Uint8Array(16);
  let count = 0;
  try {
    let i = 0;
    while (i < phrase.length) {
      while (i < phrase.length && isSpace(phrase[i]!)) i++;
      if (i >= phrase.length) break;
      let len = 0;
      let tooLong = false;
      for (; i < phrase.length && !isSpace(phrase[i]!); i++) {
        const c = phrase[i]!;
        if (len >= word.length) tooLong = true;
        else word[len++] = c >= 0x41 && c <= 0x5a ? c + 32 : c;
      }
      count++;
      if (count > PHRASE_WORDS) continue;
      const idx = tooLong ? -1 : indexOf(word.subarray(0, len));
      word.fill(0);
      if (idx < 0) {
        throw new InputError(TOKEN, `${what}: word ${count} is not in the BIP39 English list`);
      }
      indices[count - 1] = idx;
    }
    if (count !== PHRASE_WORDS) {
      throw new InputError(TOKEN, `${what}: expected ${PHRASE_WORDS} words, found ${count}`);
    }
    return checkedEntropy(indices, what);
  } finally {
    indices.fill(0);
    word.fill(0);
  }
}

function checkedEntropy(indices: Uint16Array, what: string): SecretBytes {
  // 24 × 11 = 264 bits = 256 bits of entropy ‖ 8-bit checksum.
  const bits = new Uint8Array(33);
  let acc = 0;
  let n = 0;
  let o = 0;
  for (const idx of indices) {
    acc = ((acc << 11) | idx) & 0x7ffff;
    n += 11;
    while (n >= 8) {
      n -= 8;
      bits[o++] = (acc >> n) & 0xff;
    }
  }
  acc = 0;
  const entropy = bits.slice(0, ENTROPY_BYTES);
  const sum = bits[ENTROPY_BYTES]!;
  bits.fill(0);
  const digest = sha256(entropy);
  const ok = digest[0] === sum;
  digest.fill(0);
  if (!ok) {
    entropy.fill(0);
    throw new InputError(TOKEN, `${what}: checksum mismatch (a word is wrong or out of order)`);
  }
  return new SecretBytes(entropy);
}

/** The phrase (single-space separated ASCII bytes) for 32 bytes of entropy. */
export function entropyToPhrase(entropy: Uint8Array): SecretBytes {
  if (entropy.length !== ENTROPY_BYTES) throw new RangeError("BIP39 entropy must be 32 bytes");
  const digest = sha256(entropy);
  const bits = new Uint8Array(33);
  bits.set(entropy);
  bits[ENTROPY_BYTES] = digest[0]!;
  digest.fill(0);
  const parts: Uint8Array[] = [];
  let acc = 0;
  let n = 0;
  for (const b of bits) {
    acc = ((acc << 8) | b) & 0x7ffff;
    n += 8;
    if (n >= 11) {
      n -= 11;
      parts.push(WORDS[(acc >> n) & 0x7ff]!);
    }
  }
  acc = 0;
  bits.fill(0);
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0) + parts.length - 1);
  let o = 0;
  parts.forEach((p, i) => {
    if (i > 0) out[o++] = 0x20;
    out.set(p, o);
    o += p.length;
  });
  return new SecretBytes(out);
}

/** A fresh phrase and its entropy (caller wipes both). */
export function generatePhrase(): { entropy: SecretBytes; phrase: SecretBytes } {
  const entropy = new SecretBytes(crypto.getRandomValues(new Uint8Array(ENTROPY_BYTES)));
  return { entropy, phrase: entropyToPhrase(entropy.expose()) };
}
