/**
 * EncryptNatsCurve / DecryptNatsCurve: xkv1 boxes (xkv1.ts) between a
 * custodied X25519 key and a peer's public curve NKey (`X…`). The
 * custodied key is a `sealing` `x25519` key; its private half is read from
 * KV for this one operation and wiped before the call returns, and never
 * leaves the broker (the xkey seed stays in Basil).
 *
 * Every failure to open a box after authorization is the same
 * DECRYPT_FAILED (wrong prefix, short input, wrong key, tampering).
 * @module
 */

import type { Authorized } from "../broker/authorize.ts";
import type { BrokerCall } from "../broker/call.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import { cap } from "../broker/keys.ts";
import {
  BasilError,
  decryptFailed,
  invalidRequest,
  KEY_NOT_FOUND_MESSAGE,
} from "../core/errors.ts";
import type { SecretBytes } from "../core/secret.ts";
import { authorizeNats } from "./issuer.ts";
import { decodePublicNkey } from "./nkey.ts";
import { openXkv1, sealXkv1, XKV1_OVERHEAD } from "./xkv1.ts";

function requireCurveKey(a: Authorized, op: string): void {
  if (a.key.class !== "sealing" || a.key.keyType !== "x25519") {
    throw invalidRequest(`${op} needs a sealing x25519 key; ${a.key.name} is not one`, op);
  }
}

function peerKey(text: string, field: string, op: string): Uint8Array {
  const k = decodePublicNkey(text, ["X"]);
  if (!k) throw invalidRequest(`${field} must be a public curve (X) NKey`, op);
  return k.key;
}

/** The latest private half, or INTERNAL when absent. The caller wipes it. */
async function privateOf(a: Authorized, op: string): Promise<SecretBytes> {
  const v = await a.backend.kv?.read(a.key.path);
  if (!v) throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, { op });
  if (v.value.expose().length !== 32) {
    v.value.wipe();
    throw new BasilError("INTERNAL", undefined, { op, detail: "x25519 private key size" });
  }
  return v.value;
}

/** EncryptNatsCurve: seals `plaintext` to `recipient` (an X NKey). */
export async function encryptNatsCurve(
  deps: BrokerDeps,
  call: BrokerCall,
  keyId: string,
  recipient: string,
  plaintext: Uint8Array,
): Promise<Uint8Array> {
  const op = "encrypt_nats_curve";
  cap("plaintext", plaintext, deps.limits.maxEncryptSize - XKV1_OVERHEAD, op);
  const a = authorizeNats(deps, call, op, keyId, op);
  requireCurveKey(a, op);
  const peer = peerKey(recipient, "recipient_public_xkey", op);
  using priv = await privateOf(a, op);
  return sealXkv1(priv.expose(), peer, plaintext);
}

/** DecryptNatsCurve: opens a box from `sender` (an X NKey). */
export async function decryptNatsCurve(
  deps: BrokerDeps,
  call: BrokerCall,
  keyId: string,
  sender: string,
  ciphertext: Uint8Array,
): Promise<Uint8Array> {
  const op = "decrypt_nats_curve";
  cap("ciphertext", ciphertext, deps.limits.maxEncryptSize, op);
  const a = authorizeNats(deps, call, op, keyId, op);
  requireCurveKey(a, op);
  const peer = peerKey(sender, "sender_public_xkey", op);
  using priv = await privateOf(a, op);
  try {
    return openXkv1(priv.expose(), peer, ciphertext);
  } catch {
    throw decryptFailed(op);
  }
}
