/**
 * Shared helpers for Tier 2 operations: class and key-type checks, the
 * transit engine of an authorized key, the grace window of versions that
 * verify and decrypt accept, and the per-key lock that serializes creation
 * and rotation.
 * @module
 */

import type { Backend, TransitEngine, TransitKeyInfo } from "../backends/backend.ts";
import type { CatalogKey } from "../catalog/schema.ts";
import {
  BasilError,
  invalidRequest,
  KEY_NOT_FOUND_MESSAGE,
  payloadTooLarge,
} from "../core/errors.ts";
import { KeyedMutex } from "../core/mutex.ts";
import type { KeyClass, KeyType } from "../core/ops.ts";
import type { Authorized } from "./authorize.ts";

/** Throws INVALID_REQUEST unless the key's class is one of `classes`. */
export function requireClass(key: CatalogKey, classes: readonly KeyClass[], op: string): void {
  if (!classes.includes(key.class)) {
    throw invalidRequest(`${op} is not an operation on ${key.class} keys`, op);
  }
}

/** The catalog keyType of a key that must have one. */
export function keyTypeOf(key: CatalogKey, op: string): KeyType {
  if (key.keyType === undefined) {
    throw invalidRequest(`key ${key.name} declares no keyType`, op);
  }
  return key.keyType;
}

/** The transit engine behind an authorized transit key. */
export function transitOf(a: Authorized, op: string): TransitEngine {
  if (a.key.engine !== "transit") {
    throw invalidRequest(`${op} needs a transit key; ${a.key.name} is held in ${a.key.engine}`, op);
  }
  const t = a.backend.transit;
  if (!t) {
    throw new BasilError("UNSUPPORTED", `backend ${a.backend.name} has no transit engine`, { op });
  }
  return t;
}

/** Transit key metadata, or INTERNAL when the material is absent. */
export async function infoOf(
  t: TransitEngine,
  key: CatalogKey,
  op: string,
): Promise<TransitKeyInfo> {
  const info = await t.info(key.path);
  if (!info) {
    throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, {
      op,
      detail: `${key.name} has no stored key`,
    });
  }
  return info;
}

/** Versions verify/decrypt accept: the newest `grace + 1` still stored. */
export function graceWindow(info: TransitKeyInfo, grace: number): { from: number; to: number } {
  return { from: Math.max(info.minAvailable, info.latest - grace), to: info.latest };
}

/** Enforces a byte cap with PAYLOAD_TOO_LARGE. */
export function cap(field: string, bytes: Uint8Array | undefined, limit: number, op: string): void {
  if (bytes !== undefined && bytes.length > limit) throw payloadTooLarge(field, limit, op);
}

const keyLocks = new WeakMap<Backend, KeyedMutex>();

/**
 * Runs `fn` holding the lock of one key (`path` in `backend`): NewKey and
 * rotate of the same key never interleave inside this agent.
 */
export function withKeyLock<T>(backend: Backend, path: string, fn: () => Promise<T>): Promise<T> {
  let m = keyLocks.get(backend);
  if (!m) {
    m = new KeyedMutex();
    keyLocks.set(backend, m);
  }
  return m.run(path, fn);
}
