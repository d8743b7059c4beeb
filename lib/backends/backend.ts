/**
 * The contract every backend implements: small role interfaces, chosen by the
 * catalog (engine and class), never guessed by the backend.
 *
 * - `kv`: versioned values (engine kv2): value and public keys, and the
 *   private half of materialize-to-use keys.
 * - `transit`: keys used in place (engine transit): the backend signs or
 *   encrypts and only results come back.
 *
 * Backends report failures as `BasilError`s: BACKEND_UNAVAILABLE for a
 * transport failure, BACKEND_ERROR for a rejection, with the upstream detail
 * in `detail` (logged, never sent). They never put secret bytes in an error.
 * @module
 */

import type { CatalogKey } from "../catalog/schema.ts";
import type { BackendKind } from "../core/ops.ts";
import type { SecretBytes } from "../core/secret.ts";

/** One stored version of a value. The caller wipes `value` after use. */
export interface KvVersion {
  readonly value: SecretBytes;
  readonly version: number;
}

/** Versioned value storage (engine kv2). Paths are catalog `path`s. */
export interface KvStore {
  /** Reads `version` (latest when undefined); undefined when absent. */
  read(path: string, version?: number): Promise<KvVersion | undefined>;
  /** Stores a new version and returns its number (1, 2, ...). */
  write(path: string, value: Uint8Array): Promise<number>;
  /** The latest version, or undefined when the path holds nothing. */
  latestVersion(path: string): Promise<number | undefined>;
}

/** A live backend built from a catalog backend and its bundle credential. */
export interface Backend {
  /** The catalog backend name (= bundle credential id). */
  readonly name: string;
  readonly kind: BackendKind;
  /** What `Admin.Status` reports (`keystore`, `vault`, ...). */
  readonly statusName: string;
  readonly kv?: KvStore;
  /**
   * Read-only existence probe for reconcile and readiness. Resolves false
   * when the key's material is absent; rejects with BACKEND_UNAVAILABLE or
   * BACKEND_ERROR when the backend cannot answer (never treated as absent).
   */
  exists(key: CatalogKey): Promise<boolean>;
  /** Releases handles. Safe to call twice. */
  close(): void;
}
