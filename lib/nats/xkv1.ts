/**
 * xkv1 curve boxes, as NATS xkeys write them: `xkv1` ‖ 24-byte random
 * nonce ‖ NaCl box (X25519 shared secret → HSalsa20 → XSalsa20-Poly1305,
 * 16-byte tag first). The cipher is @noble/ciphers; the X25519 is
 * @noble/curves. The shared secret and the derived box key are wiped before
 * returning; the caller owns (and wipes) the private key.
 * @module
 */

import { hsalsa, xsalsa20poly1305 } from "@noble/ciphers/salsa.js";
import { u32 } from "@noble/ciphers/utils.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { concat, utf8 } from "../core/encoding.ts";

/** The version tag every box starts with. */
export const XKV1_PREFIX: Uint8Array = utf8("xkv1");
const NONCE_BYTES = 24;
const TAG_BYTES = 16;

/** Bytes a box adds to its plaintext. */
export const XKV1_OVERHEAD = XKV1_PREFIX.length + NONCE_BYTES + TAG_BYTES;

const SIGMA = u32(utf8("expand 32-byte k"));

/** NaCl `crypto_box_beforenm`: HSalsa20 of the X25519 shared secret. */
function boxKey(privateKey: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  const shared = x25519.getSharedSecret(privateKey, peerPublic);
  const out = new Uint32Array(8);
  try {
    hsalsa(SIGMA, u32(shared), new Uint32Array(4), out);
    return new Uint8Array(out.buffer);
  } finally {
    shared.fill(0);
  }
}

/** Seals `plaintext` from `privateKey` to `peerPublic` (both raw 32 bytes). */
export function sealXkv1(
  privateKey: Uint8Array,
  peerPublic: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const key = boxKey(privateKey, peerPublic);
  try {
    return concat(XKV1_PREFIX, nonce, xsalsa20poly1305(key, nonce).encrypt(plaintext));
  } finally {
    key.fill(0);
  }
}

/** Opens a box from `peerPublic` to `privateKey`; throws on any failure (the caller says nothing more). */
export function openXkv1(
  privateKey: Uint8Array,
  peerPublic: Uint8Array,
  box: Uint8Array,
): Uint8Array {
  if (box.length < XKV1_OVERHEAD) throw new Error("short box");
  for (let i = 0; i < XKV1_PREFIX.length; i++) {
    if (box[i] !== XKV1_PREFIX[i]) throw new Error("not xkv1");
  }
  const nonce = box.subarray(XKV1_PREFIX.length, XKV1_PREFIX.length + NONCE_BYTES);
  const key = boxKey(privateKey, peerPublic);
  try {
    return xsalsa20poly1305(key, nonce).decrypt(box.subarray(XKV1_PREFIX.length + NONCE_BYTES));
  } finally {
    key.fill(0);
  }
}
