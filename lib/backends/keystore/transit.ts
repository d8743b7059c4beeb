/**
 * The keystore's transit engine: keys used in place, stored as `key`
 * entries (one sealed row per version).
 *
 * What a version row holds:
 * - signing types (ed25519, ed25519-nkey, ecdsa-p256/384/521, rsa-2048): the
 *   private form sealed (Ed25519 seed, else PKCS#8 DER), the public form
 *   (raw Ed25519, else SPKI PEM) in the plaintext `public` column;
 * - AEAD types (aes-256-gcm, chacha20-poly1305): 32 random bytes sealed and
 *   an empty public key.
 * The `key_type` and `public` columns are bound into the row's AAD, so a
 * row's type cannot be edited without the row failing to open.
 *
 * Invariants:
 * - Private material never leaves: operations open one version, use it and
 *   wipe it in `finally`; only public keys, signatures and ciphertexts are
 *   returned.
 * - A stored key type that differs from the catalog key type asked for is
 *   INTERNAL; an absent key or version is INTERNAL "key material not found
 *   in backend".
 * - `create` and `importKeys` write version 1 of new paths only, all in one
 *   transaction; `importKeys` validates every item before writing anything.
 * - `encrypt` draws a fresh 12-byte nonce from the CSPRNG and binds the
 *   algorithm and version into the AAD (transit_aead.ts).
 * - `decrypt` rejects with DECRYPT_FAILED (op `decrypt`) and nothing else,
 *   whatever failed; the reason goes to `detail` only.
 * - `prune` never deletes the latest version.
 * @module
 */

import type { AeadEnvelope, ImportItem, TransitEngine, TransitKeyInfo } from "../backend.ts";
import { aeadOpen, aeadSeal, isAeadAlgorithm } from "../../crypto/aead.ts";
import {
  generateSigningKey,
  isSigningKeyType,
  normalizeImport,
  signMessageAsync,
  verifyMessage,
} from "../../crypto/signing.ts";
import { BasilError, decryptFailed, KEY_NOT_FOUND_MESSAGE } from "../../core/errors.ts";
import { KEY_TYPES, type KeyType } from "../../core/ops.ts";
import { SecretBytes } from "../../core/secret.ts";
import type { KeystoreStore, NewEntry, OpenedEntry } from "./store.ts";
import { transitAad } from "./transit_aead.ts";

/** AEAD key length in bytes. */
const AEAD_KEY_BYTES = 32;

/** A fresh or imported key version before it is stored. */
interface Material {
  readonly secret: SecretBytes;
  readonly publicKey: Uint8Array;
}

/** Creates the keystore transit engine over `store`'s `key` entries. */
export function createKeystoreTransit(store: KeystoreStore): TransitEngine {
  return {
    info: (path) => Promise.try(() => keyInfo(store, path)),
    create: (path, keyType) =>
      Promise.try(() => {
        const m = freshMaterial(keyType);
        try {
          store.insertNew("key", [entry(path, keyType, m)]);
          return { version: 1, publicKey: m.publicKey };
        } finally {
          m.secret.wipe();
        }
      }),
    importKeys: (items) => Promise.try(() => importKeys(store, items)),
    rotate: (path, keyType) =>
      Promise.try(() => {
        requireInfo(store, path, keyType);
        const m = freshMaterial(keyType);
        try {
          return store.append("key", path, m.secret.expose(), { keyType, publicKey: m.publicKey });
        } finally {
          m.secret.wipe();
        }
      }),
    publicKey: (path, keyType, version) =>
      Promise.try(() => publicOf(store, path, keyType, version).slice()),
    async sign(path, keyType, message, version) {
      if (!isSigningKeyType(keyType)) throw notSigning(keyType);
      const e = openVersion(store, path, keyType, version);
      try {
        return await signMessageAsync(keyType, e.secret.expose(), message);
      } finally {
        e.secret.wipe();
      }
    },
    verify: (path, keyType, message, signature, version) =>
      Promise.try(() => {
        if (!isSigningKeyType(keyType)) throw notSigning(keyType);
        return verifyMessage(keyType, publicOf(store, path, keyType, version), message, signature);
      }),
    encrypt: (path, keyType, plaintext, aad, version) =>
      Promise.try(() => {
        if (!isAeadAlgorithm(keyType)) throw notAead(keyType);
        const e = openVersion(store, path, keyType, version);
        try {
          const sealed = aeadSeal(
            keyType,
            e.secret.expose(),
            plaintext,
            transitAad(keyType, e.version, aad),
          );
          return { version: e.version, nonce: sealed.nonce, ciphertext: sealed.ciphertext };
        } finally {
          e.secret.wipe();
        }
      }),
    decrypt: (path, keyType, envelope, aad) =>
      Promise.try(() => decrypt(store, path, keyType, envelope, aad)),
    prune: (path, minVersion) =>
      Promise.try(() => {
        store.prune("key", path, minVersion);
      }),
  };
}

/**
 * Versions and key type of the `key` entry at `path` (transit keys and pki
 * CAs alike), from one query; undefined when absent.
 */
export function keyInfo(store: KeystoreStore, path: string): TransitKeyInfo | undefined {
  const latest = store.peekLatest("key", path);
  if (latest === undefined) return undefined;
  // Metadata only: no key is opened here (every use of the key opens and
  // authenticates its row, whose AAD binds the key type).
  const keyType = latest.keyType;
  if (keyType === null || !(KEY_TYPES as readonly string[]).includes(keyType)) {
    throw new BasilError("INTERNAL", undefined, {
      detail: `keystore key ${path} has no valid key type`,
    });
  }
  return { keyType: keyType as KeyType, latest: latest.version, minAvailable: latest.minVersion };
}

/** `info`, checked against the catalog key type; INTERNAL when absent or different. */
function requireInfo(store: KeystoreStore, path: string, keyType: KeyType): TransitKeyInfo {
  const i = keyInfo(store, path);
  if (i === undefined) throw notFound(`keystore key ${path} is absent`);
  if (i.keyType !== keyType) throw typeMismatch(path, i.keyType, keyType);
  return i;
}

/**
 * Opens `version` (latest when undefined) checked against the catalog key
 * type; INTERNAL when absent or of another type. The caller wipes `secret`.
 */
export function openVersion(
  store: KeystoreStore,
  path: string,
  keyType: KeyType,
  version?: number,
): OpenedEntry {
  const e = store.read("key", path, version);
  if (e === undefined) {
    throw notFound(
      version === undefined
        ? `keystore key ${path} is absent`
        : `keystore key ${path} has no version ${version}`,
    );
  }
  if (e.keyType !== keyType) {
    e.secret.wipe();
    throw typeMismatch(path, e.keyType, keyType);
  }
  return e;
}

/** The public key of one version (authenticated, cached by the store), checked against the type. */
function publicOf(
  store: KeystoreStore,
  path: string,
  keyType: KeyType,
  version: number,
): Uint8Array {
  const e = store.readPublic("key", path, version);
  if (e === undefined) throw notFound(`keystore key ${path} has no version ${version}`);
  if (e.keyType !== keyType) throw typeMismatch(path, e.keyType, keyType);
  return e.publicKey ?? new Uint8Array(0);
}

function importKeys(
  store: KeystoreStore,
  items: readonly ImportItem[],
): { version: number; publicKey: Uint8Array }[] {
  const prepared: { path: string; keyType: KeyType; m: Material }[] = [];
  try {
    const paths = new Set<string>();
    items.forEach((item, n) => {
      const where = items.length > 1 ? `import entry ${n + 1}: ` : "";
      if (!isSigningKeyType(item.keyType)) {
        throw new BasilError("INVALID_REQUEST", `${where}${item.keyType} keys cannot be imported`);
      }
      if (paths.has(item.path)) {
        throw new BasilError("INVALID_REQUEST", `${where}the key appears twice`);
      }
      paths.add(item.path);
      if (store.has("key", item.path)) {
        throw new BasilError("INVALID_REQUEST", `${where}key already exists`, {
          detail: `keystore key ${item.path} already exists`,
        });
      }
      let pair;
      try {
        pair = normalizeImport(item.keyType, item.material);
      } catch (e) {
        if (e instanceof BasilError && where !== "") {
          throw new BasilError(e.code, `${where}${e.message}`, { detail: e.detail });
        }
        throw e;
      }
      prepared.push({
        path: item.path,
        keyType: item.keyType,
        m: { secret: pair.privateKey, publicKey: pair.publicKey },
      });
    });
    store.insertNew("key", prepared.map((p) => entry(p.path, p.keyType, p.m)));
    return prepared.map((p) => ({ version: 1, publicKey: p.m.publicKey }));
  } finally {
    for (const p of prepared) p.m.secret.wipe();
  }
}

function decrypt(
  store: KeystoreStore,
  path: string,
  keyType: KeyType,
  envelope: AeadEnvelope,
  aad: Uint8Array | undefined,
): Uint8Array {
  let e: OpenedEntry | undefined;
  try {
    if (!isAeadAlgorithm(keyType)) throw new Error(`${keyType} is not an AEAD key type`);
    const v = envelope.version;
    if (!Number.isSafeInteger(v) || v < 1 || v > 0xffffffff) throw new Error("bad version");
    e = store.read("key", path, v);
    if (e === undefined) throw new Error(`no version ${v}`);
    if (e.keyType !== keyType) throw new Error("stored key type differs");
    return aeadOpen(
      keyType,
      e.secret.expose(),
      { nonce: envelope.nonce, ciphertext: envelope.ciphertext },
      transitAad(keyType, v, aad),
    );
  } catch (err) {
    throw decryptFailed("decrypt", `keystore decrypt ${path}: ${reason(err)}`);
  } finally {
    e?.secret.wipe();
  }
}

/** A short, content-free reason for a decrypt failure's detail. */
function reason(err: unknown): string {
  if (err instanceof BasilError) return `${err.code}${err.detail ? ` (${err.detail})` : ""}`;
  if (err instanceof Error) return err.name === "Error" ? err.message : err.name;
  return "unknown";
}

/** Fresh material for a new version of `keyType`. */
function freshMaterial(keyType: KeyType): Material {
  if (isSigningKeyType(keyType)) {
    const pair = generateSigningKey(keyType);
    return { secret: pair.privateKey, publicKey: pair.publicKey };
  }
  if (isAeadAlgorithm(keyType)) {
    return {
      secret: new SecretBytes(crypto.getRandomValues(new Uint8Array(AEAD_KEY_BYTES))),
      publicKey: new Uint8Array(0),
    };
  }
  throw new BasilError(
    "UNSUPPORTED_ALGORITHM",
    `the keystore transit engine does not hold ${keyType} keys`,
  );
}

function entry(path: string, keyType: KeyType, m: Material): NewEntry {
  return { path, secret: m.secret.expose(), attrs: { keyType, publicKey: m.publicKey } };
}

/** INTERNAL "key material not found in backend" with `detail`. */
export function notFound(detail: string): BasilError {
  return new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, { detail });
}

/** INTERNAL: the stored key type is not the catalog's. */
export function typeMismatch(
  path: string,
  stored: string | undefined,
  asked: KeyType,
): BasilError {
  return new BasilError("INTERNAL", undefined, {
    detail: `keystore key ${path} holds ${stored ?? "no key type"}, the catalog says ${asked}`,
  });
}

function notSigning(keyType: KeyType): BasilError {
  return new BasilError("UNSUPPORTED_ALGORITHM", `${keyType} keys do not sign`);
}

function notAead(keyType: KeyType): BasilError {
  return new BasilError("UNSUPPORTED_ALGORITHM", `${keyType} keys do not encrypt`);
}
