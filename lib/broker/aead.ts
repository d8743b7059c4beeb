/**
 * AeadService operations: Encrypt/Decrypt on symmetric keys with
 * broker-owned nonces, and WrapEnvelope/UnwrapEnvelope (X25519 → HKDF-SHA256
 * → ChaCha20-Poly1305) on sealing keys (ML-KEM keys go to pqc.ts), and UnsealCose (COSE_Encrypt to an
 * X25519 sealing key, lib/cose).
 *
 * No oracle: once the caller is authorized, every decrypt or unwrap failure
 * (tampered nonce, ciphertext, tag or AAD; unknown, pruned or out-of-grace
 * version; an envelope algorithm that is not the key's) is the same
 * DECRYPT_FAILED error.
 * @module
 */

import type { AeadEnvelope } from "../backends/backend.ts";
import {
  BasilError,
  decryptFailed,
  invalidRequest,
  KEY_NOT_FOUND_MESSAGE,
} from "../core/errors.ts";
import { openX25519, sealX25519 } from "../crypto/x25519_seal.ts";
import { CoseError, openEncrypt, parseEncrypt } from "../cose/cose.ts";
import { authorizeKey } from "./authorize.ts";
import { isMlKem, pqcUnwrap, pqcWrap } from "./pqc.ts";
import type { BrokerCall } from "./call.ts";
import type { BrokerDeps } from "./deps.ts";
import { cap, graceWindow, infoOf, keyTypeOf, requireClass, transitOf } from "./keys.ts";

/** The AEAD suites. */
export type AeadName = "aes-256-gcm" | "chacha20-poly1305";

/** Encrypt: `alg` must be the key's catalog keyType. */
export async function encrypt(
  deps: BrokerDeps,
  call: BrokerCall,
  keyId: string,
  alg: AeadName,
  plaintext: Uint8Array,
  aad: Uint8Array | undefined,
): Promise<AeadEnvelope & { alg: AeadName }> {
  cap("plaintext", plaintext, deps.limits.maxEncryptSize, "encrypt");
  cap("aad", aad, deps.limits.maxEncryptSize, "encrypt");
  const a = authorizeKey(deps, call, "encrypt", keyId);
  requireClass(a.key, ["symmetric"], "encrypt");
  const kt = keyTypeOf(a.key, "encrypt");
  if (kt !== alg) {
    throw invalidRequest(`algorithm ${alg} does not match the key's ${kt}`, "encrypt");
  }
  const t = transitOf(a, "encrypt");
  const info = await infoOf(t, a.key, "encrypt");
  const env = await t.encrypt(a.key.path, kt, plaintext, aad, info.latest);
  return { ...env, alg };
}

/**
 * Decrypt: any failure after authorization is DECRYPT_FAILED, except a
 * backend that could not answer (BACKEND_UNAVAILABLE, BACKEND_ERROR): that
 * says nothing about the envelope, and the caller must know to retry.
 */
export async function decrypt(
  deps: BrokerDeps,
  call: BrokerCall,
  keyId: string,
  alg: AeadName | undefined,
  envelope: AeadEnvelope,
  aad: Uint8Array | undefined,
): Promise<Uint8Array> {
  cap("ciphertext", envelope.ciphertext, deps.limits.maxEncryptSize, "decrypt");
  cap("aad", aad, deps.limits.maxEncryptSize, "decrypt");
  const a = authorizeKey(deps, call, "decrypt", keyId);
  requireClass(a.key, ["symmetric"], "decrypt");
  const kt = keyTypeOf(a.key, "decrypt");
  const t = transitOf(a, "decrypt");
  if (alg !== kt) throw decryptFailed("decrypt", "envelope algorithm mismatch");
  const info = await t.info(a.key.path).catch((e) => {
    if (isBackendFailure(e)) throw e;
    return undefined;
  });
  if (!info) throw decryptFailed("decrypt", "no key");
  const w = graceWindow(info, deps.limits.graceVersions);
  if (envelope.version < w.from || envelope.version > w.to) {
    throw decryptFailed("decrypt", `version ${envelope.version} outside ${w.from}..${w.to}`);
  }
  try {
    return await t.decrypt(a.key.path, kt, envelope, aad);
  } catch (e) {
    if (e instanceof BasilError && e.code === "DECRYPT_FAILED") throw e;
    if (isBackendFailure(e)) throw e;
    throw decryptFailed("decrypt", e instanceof Error ? e.name : "error");
  }
}

/**
 * The backend did not answer the question (unreachable, or it failed): the
 * same for every envelope, so passing it through is no oracle. Backends
 * report a decrypt they refused as DECRYPT_FAILED, never as these.
 */
function isBackendFailure(e: unknown): boolean {
  return e instanceof BasilError &&
    (e.code === "BACKEND_UNAVAILABLE" || e.code === "BACKEND_ERROR");
}

/** A KEM envelope (X25519 sealed box, or ML-KEM when `kem` names it). */
export interface KemBox {
  /** The ML-KEM key type that sealed it; absent for X25519. */
  readonly kem?: string;
  readonly version: number;
  readonly encapsulatedKey: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/**
 * WrapEnvelope: seals to the latest public key of a sealing key. `kem`, when
 * given, must name the key's type (the request's kem_algorithm).
 */
export async function wrapEnvelope(
  deps: BrokerDeps,
  call: BrokerCall,
  keyId: string,
  plaintext: Uint8Array,
  aad: Uint8Array | undefined,
  kem?: string,
): Promise<KemBox> {
  cap("plaintext", plaintext, deps.limits.maxEncryptSize, "wrap_envelope");
  cap("aad", aad, deps.limits.maxEncryptSize, "wrap_envelope");
  const a = authorizeKey(deps, call, "encrypt", keyId);
  requireClass(a.key, ["sealing"], "wrap_envelope");
  if (kem !== undefined && kem !== a.key.keyType) {
    throw invalidRequest(
      `kem_algorithm ${kem} does not match the key's ${a.key.keyType}`,
      "wrap_envelope",
    );
  }
  if (isMlKem(a.key.keyType)) {
    const kt = a.key.keyType;
    return { kem: kt, ...(await pqcWrap(deps, call, a, kt, plaintext, aad)) };
  }
  if (a.key.keyType !== "x25519") {
    throw new BasilError("UNSUPPORTED_ALGORITHM", `${a.key.keyType} wrapping is not supported`, {
      op: "wrap_envelope",
    });
  }
  const pub = await a.backend.kv?.read(a.key.publicPath!);
  if (!pub) {
    throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, { op: "wrap_envelope" });
  }
  const recipient = pub.value.expose().slice();
  pub.value.wipe();
  const sealed = sealX25519(recipient, plaintext, aad);
  return { version: pub.version, ...sealed };
}

/** UnwrapEnvelope: the private half is read for this one operation, then wiped. */
export async function unwrapEnvelope(
  deps: BrokerDeps,
  call: BrokerCall,
  keyId: string,
  box: KemBox & { readonly x25519: boolean },
  aad: Uint8Array | undefined,
): Promise<Uint8Array> {
  cap("ciphertext", box.ciphertext, deps.limits.maxEncryptSize, "unwrap_envelope");
  cap("aad", aad, deps.limits.maxEncryptSize, "unwrap_envelope");
  const a = authorizeKey(deps, call, "decrypt", keyId);
  requireClass(a.key, ["sealing"], "unwrap_envelope");
  if (isMlKem(a.key.keyType)) {
    const kt = a.key.keyType;
    return await pqcUnwrap(deps, call, a, kt, box, aad, box.kem === kt);
  }
  if (a.key.keyType !== "x25519" || !box.x25519) {
    throw decryptFailed("unwrap_envelope", "not an x25519 envelope");
  }
  const kv = a.backend.kv;
  if (!kv) throw decryptFailed("unwrap_envelope", "no kv");
  const latest = (await kv.latestVersion(a.key.path).catch(() => undefined)) ?? 0;
  if (box.version < Math.max(1, latest - deps.limits.graceVersions) || box.version > latest) {
    throw decryptFailed("unwrap_envelope", "version outside the grace window");
  }
  const priv = await kv.read(a.key.path, box.version).catch(() => undefined);
  const pub = await kv.read(a.key.publicPath!, box.version).catch(() => undefined);
  try {
    if (!priv || !pub) throw decryptFailed("unwrap_envelope", "version not stored");
    return openX25519(priv.value.expose(), pub.value.expose(), box, aad);
  } catch {
    throw decryptFailed("unwrap_envelope");
  } finally {
    priv?.value.wipe();
    pub?.value.wipe();
  }
}

/**
 * UnsealCose: opens a tagged COSE_Encrypt (one ECDH-ES+HKDF-256 X25519
 * recipient, A256GCM or ChaCha20-Poly1305, lib/cose) with a sealing key,
 * authorized as `decrypt`. The private half is read for this one operation
 * and wiped. Once authorized, every failure (malformed, non-canonical,
 * wrong recipient kid, tag, AAD) is the same DECRYPT_FAILED.
 */
export async function unsealCose(
  deps: BrokerDeps,
  call: BrokerCall,
  keyId: string,
  coseEncrypt: Uint8Array,
  externalAad: Uint8Array | undefined,
): Promise<Uint8Array> {
  cap("cose_encrypt", coseEncrypt, deps.limits.maxEncryptSize, "unseal_cose");
  cap("external_aad", externalAad, deps.limits.maxEncryptSize, "unseal_cose");
  const a = authorizeKey(deps, call, "decrypt", keyId);
  requireClass(a.key, ["sealing"], "unseal_cose");
  if (a.key.keyType !== "x25519") throw decryptFailed("unseal_cose", "not an x25519 key");
  let parsed;
  try {
    parsed = parseEncrypt(coseEncrypt);
  } catch (e) {
    throw decryptFailed("unseal_cose", e instanceof CoseError ? e.reason : "undecodable");
  }
  if (new TextDecoder().decode(parsed.recipientKeyId) !== keyId) {
    throw decryptFailed("unseal_cose", "recipient kid is not this key");
  }
  const priv = await a.backend.kv?.read(a.key.path).catch(() => undefined);
  try {
    if (!priv) throw decryptFailed("unseal_cose", "no private key");
    return openEncrypt(parsed, priv.value.expose(), externalAad);
  } catch {
    throw decryptFailed("unseal_cose");
  } finally {
    priv?.value.wipe();
  }
}
