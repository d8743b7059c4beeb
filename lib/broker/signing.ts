/**
 * SigningService operations (Tier 2): NewKey, Import/ImportSet, Sign, Verify,
 * GetPublicKey. The key signs where it lives (the transit engine); the raw
 * message is signed and the algorithm comes from the catalog keyType.
 * Verify accepts any version inside the grace window and never errors on a
 * bad signature: it answers false, and so it does when the stored key or a
 * version inside the window is missing (every verify failure is the same).
 * @module
 */

import type { Backend, ImportMaterial, TransitEngine } from "../backends/backend.ts";
import type { CatalogKey } from "../catalog/schema.ts";
import {
  BasilError,
  invalidRequest,
  isKeyNotFound,
  KEY_NOT_FOUND_MESSAGE,
  payloadTooLarge,
} from "../core/errors.ts";
import type { KeyType } from "../core/ops.ts";
import { signMessage, verifyMessage } from "../crypto/signing.ts";
import { x25519Generate, x25519PublicKey } from "../crypto/x25519_seal.ts";
import { authorizeKey, authorizeKeys } from "./authorize.ts";
import {
  isMlDsa,
  isMlKem,
  pqcNewKey,
  pqcPublicKeyOf,
  pqcRequireCustody,
  pqcSign,
  pqcVerify,
} from "./pqc.ts";
import type { BrokerCall } from "./call.ts";
import type { BrokerDeps } from "./deps.ts";
import {
  cap,
  graceWindow,
  infoOf,
  keyTypeOf,
  requireClass,
  transitOf,
  withKeyLock,
} from "./keys.ts";

/** A created or imported key. */
export interface NewKeyResult {
  readonly keyId: string;
  readonly publicKey: Uint8Array;
}

function checkRequestedType(requested: KeyType | undefined, actual: KeyType, op: string): void {
  if (requested !== undefined && requested !== actual) {
    throw invalidRequest(`key_type ${requested} does not match the catalog keyType ${actual}`, op);
  }
}

/**
 * NewKey: creates version 1 of a catalog key that has none. On a key that
 * already has material it answers as upstream 0.7.1 does: OK with the
 * latest version's public key, creating no version (its clients call it
 * repeatedly, as "ensure this key exists").
 */
export async function newKey(
  deps: BrokerDeps,
  call: BrokerCall,
  keyId: string,
  requested: KeyType | undefined,
): Promise<NewKeyResult> {
  const a = authorizeKey(deps, call, "new_key", keyId);
  requireClass(a.key, ["asymmetric", "symmetric", "sealing"], "new_key");
  const kt = keyTypeOf(a.key, "new_key");
  checkRequestedType(requested, kt, "new_key");
  if (isMlDsa(kt) || isMlKem(kt)) return { keyId, publicKey: await pqcNewKey(deps, call, a, kt) };
  if (a.key.class === "sealing") return await newSealingKey(a.backend, a.key, keyId);
  const backendDecl = a.gen.catalog.backends.get(a.key.backend);
  if (a.key.class === "asymmetric" && !backendDecl?.mintKeyTypes.includes(kt)) {
    throw new BasilError("UNSUPPORTED", `backend ${a.key.backend} does not mint ${kt} keys`, {
      op: "new_key",
    });
  }
  const t = transitOf(a, "new_key");
  return await withKeyLock(a.backend, a.key.path, async () => {
    const info = await t.info(a.key.path);
    if (info) return { keyId, publicKey: await t.publicKey(a.key.path, kt, info.latest) };
    return { keyId, publicKey: (await t.create(a.key.path, kt)).publicKey };
  });
}

/**
 * A sealing key is two kv paths (private, public) whose versions must match.
 * Creation runs under the per-key lock, so two NewKey calls cannot
 * interleave. The private half is written first, so a public key is never
 * visible without its private half; if the public write fails, the key is
 * half-made (private at version n, public at n - 1) and the next NewKey
 * completes it from the stored private half instead of refusing forever. A
 * complete key answers with its latest public key, unchanged.
 */
async function newSealingKey(
  backend: Backend,
  key: CatalogKey,
  keyId: string,
): Promise<NewKeyResult> {
  if (key.keyType !== "x25519") {
    throw new BasilError("UNSUPPORTED_ALGORITHM", `new_key does not generate ${key.keyType}`, {
      op: "new_key",
    });
  }
  const kv = backend.kv;
  const publicPath = key.publicPath;
  if (!kv || publicPath === undefined) {
    throw new BasilError("UNSUPPORTED", `backend ${backend.name} stores no values`, {
      op: "new_key",
    });
  }
  return await withKeyLock(backend, key.path, async () => {
    const priv = await kv.latestVersion(key.path);
    const pub = await kv.latestVersion(publicPath);
    if (priv !== undefined && priv === pub) {
      const got = await kv.read(publicPath, pub);
      if (!got) throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, { op: "new_key" });
      const publicKey = got.value.expose().slice();
      got.value.wipe();
      return { keyId, publicKey };
    }
    if (priv === undefined && pub === undefined) {
      return { keyId, publicKey: await createSealingPair(kv, key.path, publicPath) };
    }
    if (priv !== undefined && priv === (pub ?? 0) + 1) {
      return { keyId, publicKey: await completeSealingPair(kv, key.path, publicPath, priv) };
    }
    throw new BasilError("INTERNAL", undefined, {
      op: "new_key",
      detail: `${keyId}: private v${priv ?? "none"} and public v${pub ?? "none"} are out of step`,
    });
  });
}

type Kv = NonNullable<Backend["kv"]>;

/** Writes a fresh pair (private first); returns the public key. */
async function createSealingPair(kv: Kv, path: string, publicPath: string): Promise<Uint8Array> {
  const pair = x25519Generate();
  try {
    const v = await kv.write(path, pair.privateKey.expose());
    await writePublicHalf(kv, publicPath, pair.publicKey, v);
    return pair.publicKey;
  } finally {
    pair.privateKey.wipe();
  }
}

/** Writes the missing public half of private version `v`; returns the public key. */
async function completeSealingPair(
  kv: Kv,
  path: string,
  publicPath: string,
  v: number,
): Promise<Uint8Array> {
  const got = await kv.read(path, v);
  if (!got) {
    throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, { op: "new_key" });
  }
  let publicKey: Uint8Array;
  try {
    publicKey = x25519PublicKey(got.value.expose());
  } finally {
    got.value.wipe();
  }
  await writePublicHalf(kv, publicPath, publicKey, v);
  return publicKey;
}

async function writePublicHalf(
  kv: Kv,
  publicPath: string,
  publicKey: Uint8Array,
  expected: number,
): Promise<void> {
  const v = await kv.write(publicPath, publicKey);
  if (v !== expected) {
    throw new BasilError("INTERNAL", undefined, {
      op: "new_key",
      detail: `public half stored as v${v}, private half is v${expected}`,
    });
  }
}

/**
 * Most entries one ImportSet may carry. Each entry is decided and audited
 * before anything is stored, so without a cap one request of empty entries
 * could write tens of thousands of audit lines.
 */
export const MAX_IMPORT_SET_ENTRIES = 256;

/** One requested import. */
export interface ImportRequestItem {
  readonly keyId: string;
  readonly keyType: KeyType | undefined;
  readonly material: ImportMaterial;
}

/**
 * Import / ImportSet: every entry is decided on one pinned generation before
 * anything is stored (see {@linkcode authorizeKeys}: one record per entry;
 * when any entry is denied, none is applied and every record's outcome is
 * deny), and the backend stores all or none.
 */
export async function importKeys(
  deps: BrokerDeps,
  call: BrokerCall,
  items: readonly ImportRequestItem[],
): Promise<NewKeyResult[]> {
  if (items.length === 0) throw invalidRequest("no keys to import", "import");
  if (items.length > MAX_IMPORT_SET_ENTRIES) {
    throw invalidRequest(`entries: at most ${MAX_IMPORT_SET_ENTRIES} keys per set`, "import");
  }
  const total = items.reduce((n, i) => n + materialLength(i.material), 0);
  if (total > deps.limits.maxPayloadSize) {
    throw payloadTooLarge("key material", deps.limits.maxPayloadSize, "import");
  }
  const authorized = authorizeKeys(deps, call, "import", items.map((i) => i.keyId));
  const seen = new Set<string>();
  const backends = new Set<string>();
  const prepared = authorized.map((a, n) => {
    requireClass(a.key, ["asymmetric"], "import");
    const kt = keyTypeOf(a.key, "import");
    checkRequestedType(items[n]!.keyType, kt, "import");
    if (kt.startsWith("ml-")) {
      throw invalidRequest("post-quantum keys cannot be imported", "import");
    }
    if (seen.has(a.key.name)) throw invalidRequest(`key ${a.key.name} appears twice`, "import");
    seen.add(a.key.name);
    backends.add(a.backend.name);
    transitOf(a, "import");
    return { path: a.key.path, keyType: kt, material: items[n]!.material };
  });
  if (backends.size > 1) {
    throw invalidRequest("one import set must stay within one backend", "import");
  }
  const t = transitOf(authorized[0]!, "import");
  const out = await t.importKeys(prepared);
  return out.map((r, n) => ({ keyId: items[n]!.keyId, publicKey: r.publicKey }));
}

function materialLength(m: ImportMaterial): number {
  return m.kind === "ed25519-seed" ? m.seed.length : m.der.length;
}

/** Sign: the raw message, with the catalog's algorithm, by the latest version. */
export async function sign(
  deps: BrokerDeps,
  call: BrokerCall,
  keyId: string,
  message: Uint8Array,
): Promise<Uint8Array> {
  cap("message", message, deps.limits.maxPayloadSize, "sign");
  const a = authorizeKey(deps, call, "sign", keyId);
  requireClass(a.key, ["asymmetric"], "sign");
  const kt = keyTypeOf(a.key, "sign");
  if (isMlDsa(kt)) return await pqcSign(deps, call, a, kt, message);
  if (a.key.engine === "kv2") {
    // Materialize-to-use: the Ed25519 seed is read for this one operation, then wiped.
    const got = await a.backend.kv?.read(a.key.path);
    if (!got) {
      throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, { op: "sign" });
    }
    try {
      return signMessage(kt, got.value.expose(), message);
    } finally {
      got.value.wipe();
    }
  }
  // The backend signs with its latest version itself: no info request first.
  return await transitOf(a, "sign").sign(a.key.path, kt, message);
}

/** Verify: true iff some version in the grace window verifies (public keys: the stored key). */
export async function verify(
  deps: BrokerDeps,
  call: BrokerCall,
  keyId: string,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  cap("message", message, deps.limits.maxPayloadSize, "verify");
  cap("signature", signature, deps.limits.maxPayloadSize, "verify");
  const a = authorizeKey(deps, call, "verify", keyId);
  requireClass(a.key, ["asymmetric", "public"], "verify");
  const kt = keyTypeOf(a.key, "verify");
  if (isMlDsa(kt)) return await pqcVerify(deps, call, a, kt, message, signature);
  if (a.key.class === "public" || a.key.engine === "kv2") {
    const path = a.key.class === "public" ? a.key.path : a.key.publicPath!;
    const got = await a.backend.kv?.read(path);
    if (!got) return false;
    try {
      return verifyMessage(kt, got.value.expose(), message, signature);
    } finally {
      got.value.wipe();
    }
  }
  const t = transitOf(a, "verify");
  const info = await t.info(a.key.path);
  if (!info) return false;
  const w = graceWindow(info, deps.limits.graceVersions);
  for (let v = w.to; v >= w.from; v--) {
    if (await verifyVersion(t, a.key.path, kt, message, signature, v)) return true;
  }
  return false;
}

/** One version's verdict; a version that is not stored (say, pruned meanwhile) verifies nothing. */
async function verifyVersion(
  t: TransitEngine,
  path: string,
  kt: KeyType,
  message: Uint8Array,
  signature: Uint8Array,
  version: number,
): Promise<boolean> {
  try {
    return await t.verify(path, kt, message, signature, version);
  } catch (e) {
    if (isKeyNotFound(e)) return false;
    throw e;
  }
}

/** GetPublicKey: the public half of `version` (latest when undefined). */
export async function getPublicKey(
  deps: BrokerDeps,
  call: BrokerCall,
  keyId: string,
  version: number | undefined,
): Promise<{ keyType: KeyType | undefined; publicKey: Uint8Array; version: number }> {
  const a = authorizeKey(deps, call, "get_public_key", keyId);
  requireClass(a.key, ["asymmetric", "public", "sealing"], "get_public_key");
  if (version === 0) throw invalidRequest("version must be at least 1", "get_public_key");
  if (a.key.class === "asymmetric" && isMlDsa(a.key.keyType)) {
    const got = await pqcPublicKeyOf(deps, call, a, a.key.keyType, version);
    return { keyType: a.key.keyType, ...got };
  }
  if (a.key.class === "sealing" && isMlKem(a.key.keyType)) {
    pqcRequireCustody(deps, call, a, "get_public_key");
  }
  if (a.key.class !== "asymmetric" || a.key.engine === "kv2") {
    const path = a.key.class === "public" ? a.key.path : a.key.publicPath!;
    const got = await a.backend.kv?.read(path, version);
    if (!got) {
      throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, {
        op: "get_public_key",
      });
    }
    const bytes = got.value.expose().slice();
    got.value.wipe();
    return { keyType: a.key.keyType, publicKey: bytes, version: got.version };
  }
  const kt = keyTypeOf(a.key, "get_public_key");
  const t = transitOf(a, "get_public_key");
  const info = await infoOf(t, a.key, "get_public_key");
  const v = version ?? info.latest;
  if (v < info.minAvailable || v > info.latest) {
    throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, {
      op: "get_public_key",
      detail: `${keyId} has no version ${v}`,
    });
  }
  return { keyType: kt, publicKey: await t.publicKey(a.key.path, kt, v), version: v };
}
