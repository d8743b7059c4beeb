/**
 * Post-quantum keys in software custody (contract §4.1-§4.2): ML-DSA-44/65/87
 * (NewKey, Sign, Verify, GetPublicKey) and ML-KEM-512/768/1024 sealing keys
 * (NewKey, WrapEnvelope, UnwrapEnvelope). signing.ts and aead.ts hand a
 * post-quantum key here after the operation's own grant is decided.
 *
 * Invariants:
 * - Every operation on a custodied key (asymmetric ML-DSA, sealing ML-KEM)
 *   also needs the explicit `use_software_custody` grant on the key, never
 *   implied by `*`; it is decided and audited as its own record, and a
 *   denial is the generic UNAUTHORIZED.
 * - Only the keystore database backend holds them: the seed is a KV value,
 *   sealed by the keystore like any other. Any other backend (vault, AWS,
 *   GCP, 1Password) answers UNSUPPORTED_ALGORITHM.
 * - ML-DSA: versions of the seed live at `pqc_storage_key` (label) or the
 *   key's path; public keys are expanded from the seed. ML-KEM: the seed at
 *   `path`, the public key at `publicPath`, versions in step (as x25519).
 * - A seed is read for one operation and wiped in `finally`.
 * - Unwrap failures after authorization are one DECRYPT_FAILED.
 * - Rotate: ML-DSA gets a new seed version (custody-gated); ML-KEM sealing
 *   keys are kv2-held crypto keys, which the contract (§4.2) refuses to rotate.
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { BasilError, decryptFailed, KEY_NOT_FOUND_MESSAGE } from "../core/errors.ts";
import {
  isMlDsa,
  isMlKem,
  mlDsaSeedPath,
  mlDsaSign,
  type MlDsaType,
  mlDsaVerify,
  type MlKemType,
  openMlKem,
  pqcPublicKey,
  pqcSeed,
  sealMlKem,
} from "../crypto/pqc.ts";
import { type Authorized, authorizeKey } from "./authorize.ts";
import type { BrokerCall } from "./call.ts";
import type { BrokerDeps } from "./deps.ts";
import { withKeyLock } from "./keys.ts";

export { isMlDsa, isMlKem };

type Kv = NonNullable<Backend["kv"]>;

/** A post-quantum KEM envelope as the broker sees it. */
export interface PqcBox {
  readonly version: number;
  readonly encapsulatedKey: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/**
 * Requires `use_software_custody` on the key (one more audit record) and a
 * backend that can hold the key; returns its KV store.
 */
function custody(deps: BrokerDeps, call: BrokerCall, a: Authorized, op: string): Kv {
  authorizeKey(deps, call, "use_software_custody", a.key.name);
  const kv = a.backend.kv;
  // The encrypted keystore database; 1Password (also kind keystore) has no transit engine.
  if (a.backend.kind !== "keystore" || !a.backend.transit || !kv) {
    throw new BasilError(
      "UNSUPPORTED_ALGORITHM",
      `backend ${a.backend.name} cannot hold ${a.key.keyType} keys`,
      { op },
    );
  }
  return kv;
}

/** Where an ML-DSA key's seed versions live. */
function seedPath(a: Authorized): string {
  return mlDsaSeedPath(a.key);
}

async function readSeed(kv: Kv, path: string, version: number | undefined, op: string) {
  const got = await kv.read(path, version);
  if (!got) throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, { op });
  return got;
}

/** NewKey for an ML-DSA or ML-KEM key (ensure-exists, as for other keys). */
export async function pqcNewKey(
  deps: BrokerDeps,
  call: BrokerCall,
  a: Authorized,
  kt: MlDsaType | MlKemType,
): Promise<Uint8Array> {
  const kv = custody(deps, call, a, "new_key");
  if (isMlDsa(kt)) {
    const backendDecl = a.gen.catalog.backends.get(a.key.backend);
    if (!backendDecl?.mintKeyTypes.includes(kt)) {
      throw new BasilError("UNSUPPORTED", `backend ${a.key.backend} does not mint ${kt} keys`, {
        op: "new_key",
      });
    }
  }
  const path = isMlDsa(kt) ? seedPath(a) : a.key.path;
  return await withKeyLock(a.backend, path, async () => {
    if (isMlDsa(kt)) {
      const latest = await kv.latestVersion(path);
      if (latest === undefined) {
        using seed = pqcSeed(kt);
        await kv.write(path, seed.expose());
        return pqcPublicKey(kt, seed.expose());
      }
      using got = (await readSeed(kv, path, latest, "new_key")).value;
      return pqcPublicKey(kt, got.expose());
    }
    return await newKemPair(kv, path, a.key.publicPath!, kt);
  });
}

/** The ML-KEM seed/public pair, created or completed as x25519 sealing keys are. */
async function newKemPair(
  kv: Kv,
  path: string,
  publicPath: string,
  kt: MlKemType,
): Promise<Uint8Array> {
  const priv = await kv.latestVersion(path);
  const pub = await kv.latestVersion(publicPath);
  if (priv !== undefined && priv === pub) {
    using got = (await readSeed(kv, publicPath, pub, "new_key")).value;
    return got.expose().slice();
  }
  let publicKey: Uint8Array;
  let v: number;
  if (priv === undefined && pub === undefined) {
    using seed = pqcSeed(kt);
    v = await kv.write(path, seed.expose());
    publicKey = pqcPublicKey(kt, seed.expose());
  } else if (priv !== undefined && priv === (pub ?? 0) + 1) {
    using seed = (await readSeed(kv, path, priv, "new_key")).value;
    v = priv;
    publicKey = pqcPublicKey(kt, seed.expose());
  } else {
    throw new BasilError("INTERNAL", undefined, {
      op: "new_key",
      detail: `private v${priv ?? "none"} and public v${pub ?? "none"} are out of step`,
    });
  }
  const written = await kv.write(publicPath, publicKey);
  if (written !== v) {
    throw new BasilError("INTERNAL", undefined, {
      op: "new_key",
      detail: `public half stored as v${written}, private half is v${v}`,
    });
  }
  return publicKey;
}

/**
 * RotateSecret on an ML-DSA key: a fresh seed as the next version at the
 * key's seed path, under the key's lock. Sign then uses it; Verify still
 * accepts the previous versions inside the grace window; GetPublicKey serves
 * every stored version. A key never created is the generic not-found INTERNAL.
 */
export async function pqcRotate(
  deps: BrokerDeps,
  call: BrokerCall,
  a: Authorized,
  kt: MlDsaType,
): Promise<number> {
  const kv = custody(deps, call, a, "rotate");
  const path = seedPath(a);
  return await withKeyLock(a.backend, path, async () => {
    if ((await kv.latestVersion(path)) === undefined) {
      throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, {
        op: "rotate",
        detail: `${a.key.name} has no ${kt} seed to rotate; NewKey creates it`,
      });
    }
    using seed = pqcSeed(kt);
    return await kv.write(path, seed.expose());
  });
}

/** Sign with the latest ML-DSA version. */
export async function pqcSign(
  deps: BrokerDeps,
  call: BrokerCall,
  a: Authorized,
  kt: MlDsaType,
  message: Uint8Array,
): Promise<Uint8Array> {
  const kv = custody(deps, call, a, "sign");
  using seed = (await readSeed(kv, seedPath(a), undefined, "sign")).value;
  return mlDsaSign(kt, seed.expose(), message);
}

/** Verify: true iff a version inside the grace window verifies; false for any failure. */
export async function pqcVerify(
  deps: BrokerDeps,
  call: BrokerCall,
  a: Authorized,
  kt: MlDsaType,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (a.key.class === "public") {
    const got = await a.backend.kv?.read(a.key.path);
    if (!got) return false;
    using pub = got.value;
    return mlDsaVerify(kt, pub.expose(), message, signature);
  }
  const kv = custody(deps, call, a, "verify");
  const path = seedPath(a);
  const latest = await kv.latestVersion(path);
  if (latest === undefined) return false;
  const from = Math.max(1, latest - deps.limits.graceVersions);
  for (let v = latest; v >= from; v--) {
    const got = await kv.read(path, v).catch(() => undefined);
    if (!got) continue;
    using seed = got.value;
    if (mlDsaVerify(kt, pqcPublicKey(kt, seed.expose()), message, signature)) return true;
  }
  return false;
}

/** GetPublicKey of an ML-DSA key version (latest when undefined). */
export async function pqcPublicKeyOf(
  deps: BrokerDeps,
  call: BrokerCall,
  a: Authorized,
  kt: MlDsaType,
  version: number | undefined,
): Promise<{ publicKey: Uint8Array; version: number }> {
  const kv = custody(deps, call, a, "get_public_key");
  const got = await readSeed(kv, seedPath(a), version, "get_public_key");
  using seed = got.value;
  return { publicKey: pqcPublicKey(kt, seed.expose()), version: got.version };
}

/** Custody check for a sealing ML-KEM key's public read (GetPublicKey). */
export function pqcRequireCustody(
  deps: BrokerDeps,
  call: BrokerCall,
  a: Authorized,
  op: string,
): void {
  custody(deps, call, a, op);
}

/** WrapEnvelope to the latest ML-KEM public key. */
export async function pqcWrap(
  deps: BrokerDeps,
  call: BrokerCall,
  a: Authorized,
  kt: MlKemType,
  plaintext: Uint8Array,
  aad: Uint8Array | undefined,
): Promise<PqcBox> {
  const kv = custody(deps, call, a, "wrap_envelope");
  const got = await readSeed(kv, a.key.publicPath!, undefined, "wrap_envelope");
  const recipient = got.value.expose().slice();
  got.value.wipe();
  return { version: got.version, ...sealMlKem(kt, recipient, plaintext, aad) };
}

/**
 * UnwrapEnvelope: the seed of the envelope's version, inside the grace
 * window. `labelled` is false when the envelope names another KEM: after the
 * custody decision, that is the same DECRYPT_FAILED as any other failure.
 */
export async function pqcUnwrap(
  deps: BrokerDeps,
  call: BrokerCall,
  a: Authorized,
  kt: MlKemType,
  box: PqcBox,
  aad: Uint8Array | undefined,
  labelled: boolean,
): Promise<Uint8Array> {
  const kv = custody(deps, call, a, "unwrap_envelope");
  if (!labelled) throw decryptFailed("unwrap_envelope", "not this key's ML-KEM envelope");
  const latest = (await kv.latestVersion(a.key.path).catch(() => undefined)) ?? 0;
  if (box.version < Math.max(1, latest - deps.limits.graceVersions) || box.version > latest) {
    throw decryptFailed("unwrap_envelope", "version outside the grace window");
  }
  const got = await kv.read(a.key.path, box.version).catch(() => undefined);
  try {
    if (!got) throw decryptFailed("unwrap_envelope", "version not stored");
    return openMlKem(kt, got.value.expose(), box, aad);
  } catch {
    throw decryptFailed("unwrap_envelope");
  } finally {
    got?.value.wipe();
  }
}
