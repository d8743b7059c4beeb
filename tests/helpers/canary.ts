/**
 * Searching outputs for planted canary secrets, in every encoding a leak
 * might take: raw, hex (both cases), base64, base64url, and JSON-escaped.
 */

import assert from "node:assert/strict";
import { toBase64, toBase64Url, toHex } from "../../lib/core/encoding.ts";

const enc = new TextEncoder();

/** The encodings of `secret` worth searching for (each at least 8 bytes). */
export function canaryForms(secret: Uint8Array): Uint8Array[] {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(secret);
  return [
    secret,
    enc.encode(toHex(secret)),
    enc.encode(toHex(secret).toUpperCase()),
    enc.encode(toBase64(secret)),
    enc.encode(toBase64Url(secret)),
    enc.encode(JSON.stringify(text).slice(1, -1)),
  ].filter((f) => f.length >= 8);
}

/** How many times `needle` occurs in `hay`. */
export function countBytes(hay: Uint8Array, needle: Uint8Array): number {
  let n = 0;
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    n++;
  }
  return n;
}

/** Fails naming the canary and the place if any form of any canary occurs in `hay`. */
export function assertNoCanary(
  where: string,
  hay: Uint8Array,
  canaries: Record<string, Uint8Array>,
): void {
  for (const [name, secret] of Object.entries(canaries)) {
    for (const f of canaryForms(secret)) {
      assert.equal(countBytes(hay, f), 0, `${name} canary found in ${where}`);
    }
  }
}

/** A file's bytes, or nothing when it does not exist. */
export function readIfExists(path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch {
    return new Uint8Array();
  }
}
