/**
 * Value generation for catalog `generate` recipes (contract §2.3).
 *
 * Invariants:
 * - Randomness comes only from `crypto.getRandomValues`.
 * - `ascii-printable` draws each character uniformly from the 94 printable
 *   ASCII characters `!`..`~` by rejection sampling (no modulo bias).
 * - Text is produced directly as UTF-8 bytes (never a JS string) for the
 *   `ascii-printable`, `base64` and `hex` formats, and every intermediate
 *   random buffer is zeroed. `age-x25519` goes through age-encryption, whose
 *   API returns a string that cannot be wiped.
 * - TLS recipes are not supported by this build and fail with UNSUPPORTED.
 * @module
 */

import { generateIdentity } from "age-encryption";
import type { GenerateRecipe } from "../catalog/schema.ts";
import { BasilError } from "../core/errors.ts";
import { SecretBytes, wipeAll } from "../core/secret.ts";

/** Largest `bytes` a recipe may ask for (the catalog's own bound). */
export const MAX_RECIPE_BYTES = 65536;

/** The 94 printable ASCII characters `!` (0x21) .. `~` (0x7e). */
const PRINTABLE_FIRST = 0x21;
const PRINTABLE_COUNT = 94;
/** Largest multiple of 94 that fits in a byte: bytes below it are accepted. */
const PRINTABLE_LIMIT = PRINTABLE_COUNT * Math.floor(256 / PRINTABLE_COUNT);

const HEX_DIGITS = new TextEncoder().encode("0123456789abcdef");
const B64_DIGITS = new TextEncoder().encode(
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
);
const B64_PAD = 0x3d;

/**
 * Generates a fresh value for `recipe` as UTF-8 text bytes, owned by the
 * caller. Async because age identity generation is.
 */
export async function generateValue(recipe: GenerateRecipe): Promise<SecretBytes> {
  switch (recipe.format) {
    case "ascii-printable":
      return asciiPrintable(checkBytes(recipe.bytes));
    case "base64":
      return withRandom(checkBytes(recipe.bytes), base64Text);
    case "hex":
      return withRandom(checkBytes(recipe.bytes), hexText);
    case "age-x25519":
      return new SecretBytes(new TextEncoder().encode(await generateIdentity()));
    case "self-signed-tls":
    case "self-signed-tls-pair-of":
      throw new BasilError(
        "UNSUPPORTED",
        `generate format ${recipe.format} is not supported by this build`,
      );
  }
}

function checkBytes(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_RECIPE_BYTES) {
    throw new BasilError("INVALID_ARGUMENT", `generate bytes must be 1..${MAX_RECIPE_BYTES}`);
  }
  return n;
}

/** Fills `n` random bytes, encodes them with `encode`, and wipes the bytes. */
function withRandom(n: number, encode: (raw: Uint8Array) => Uint8Array): SecretBytes {
  const raw = randomBytes(n);
  try {
    return new SecretBytes(encode(raw));
  } finally {
    raw.fill(0);
  }
}

/** `crypto.getRandomValues` over any length (it caps one call at 64 KiB). */
function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) {
    crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  }
  return out;
}

function asciiPrintable(n: number): SecretBytes {
  const out = new Uint8Array(n);
  // Acceptance is 188/256, so asking for ~1.4x plus slack rarely loops.
  const pool = new Uint8Array(Math.min(65536, Math.ceil(n * 1.4) + 16));
  try {
    let filled = 0;
    while (filled < n) {
      crypto.getRandomValues(pool);
      for (let i = 0; i < pool.length && filled < n; i++) {
        const b = pool[i]!;
        if (b < PRINTABLE_LIMIT) out[filled++] = PRINTABLE_FIRST + (b % PRINTABLE_COUNT);
      }
    }
    return new SecretBytes(out);
  } catch (e) {
    out.fill(0);
    throw e;
  } finally {
    wipeAll(pool);
  }
}

function hexText(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(raw.length * 2);
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    out[2 * i] = HEX_DIGITS[b >> 4]!;
    out[2 * i + 1] = HEX_DIGITS[b & 15]!;
  }
  return out;
}

function base64Text(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(raw.length / 3) * 4);
  let o = 0;
  for (let i = 0; i < raw.length; i += 3) {
    const left = raw.length - i;
    const b0 = raw[i]!;
    const b1 = left > 1 ? raw[i + 1]! : 0;
    const b2 = left > 2 ? raw[i + 2]! : 0;
    out[o++] = B64_DIGITS[b0 >> 2]!;
    out[o++] = B64_DIGITS[((b0 & 3) << 4) | (b1 >> 4)]!;
    out[o++] = left > 1 ? B64_DIGITS[((b1 & 15) << 2) | (b2 >> 6)]! : B64_PAD;
    out[o++] = left > 2 ? B64_DIGITS[b2 & 63]! : B64_PAD;
  }
  return out;
}
