/**
 * The embedded keystore backend ("db-keystore", catalog kind `keystore`): one
 * SQLite file at the catalog backend's `addr`, protected by the bundle's
 * 32-byte DEK.
 *
 * Invariants:
 * - No secret is stored in plaintext: every value and every key version is
 *   AES-256-GCM under the DEK, with an AAD binding a fixed label, the entry
 *   kind, path, version, key type and public key (rows.ts), so a swapped or
 *   edited row fails to open (INTERNAL, detail names path and version only).
 * - Opening with another DEK fails at startup with `InputError`
 *   `keystore_dek_mismatch`, naming the file, never the DEK.
 * - The file and its `-wal`/`-shm` companions are 0600; WAL journal,
 *   `synchronous = FULL`, a busy timeout for concurrent writers.
 * - Entries are versioned from 1; kv values and crypto key versions live in
 *   separate namespaces (`kind` value / key). Values are append-only; key
 *   versions below a retention minimum may be pruned (never the latest).
 * - Transit keys (engine transit) are `key` entries used in place: private
 *   material never leaves the backend (transit.ts).
 * - CAs (engine pki) are `key` entries too: one row per CA version holding
 *   the sealed CA key and, in the AAD-bound `public` column, that version's
 *   self-signed certificate (pki.ts).
 * - The backend keeps its own copy of the DEK; `close()` wipes it.
 *
 * Not covered: an attacker who can write the file can delete the newest rows
 * (roll a path back to an older version) or the whole file; the AAD only
 * guarantees that what is read was written under this DEK for this
 * kind/path/version.
 * @module
 */

import type { Backend, KvStore, KvVersion, PkiEngine, TransitEngine } from "../backend.ts";
import type { CatalogKey } from "../../catalog/schema.ts";
import type { Logger } from "../../core/log.ts";
import { isMlDsa, mlDsaSeedPath } from "../../crypto/pqc.ts";
import type { SecretBytes } from "../../core/secret.ts";
import type { EntryKind } from "./rows.ts";
import { createKeystorePki } from "./pki.ts";
import { KeystoreStore } from "./store.ts";
import { createKeystoreTransit } from "./transit.ts";

export { type EntryAttributes, KeystoreStore, type OpenedEntry } from "./store.ts";
export { transitAad } from "./transit_aead.ts";
export type { EntryKind } from "./rows.ts";

/** Options for {@linkcode openKeystoreBackend}. */
export interface KeystoreBackendOptions {
  /** The catalog backend name (= bundle credential id). */
  name: string;
  /** The SQLite file path (catalog backend `addr`). */
  dbPath: string;
  /** The bundle's 32-byte DEK; copied, so the caller may wipe it after. */
  dek: SecretBytes;
  logger?: Logger;
}

/** A keystore {@linkcode Backend}, with its entry store for crypto-key work. */
export interface KeystoreBackend extends Backend {
  readonly kind: "keystore";
  readonly kv: KvStore;
  /** Keys used in place (`key` entries; see transit.ts). */
  readonly transit: TransitEngine;
  /** CAs used in place (`key` entries with their certificates; see pki.ts). */
  readonly pki: PkiEngine;
  /** The underlying store (kv values and key versions). */
  readonly store: KeystoreStore;
}

/**
 * Opens (creating when absent) the keystore file and returns the backend.
 * Throws `InputError` at startup for a bad DEK, an unreadable file, an
 * unknown schema or a DEK mismatch (see {@linkcode KeystoreStore.open}).
 */
export function openKeystoreBackend(options: KeystoreBackendOptions): KeystoreBackend {
  const store = KeystoreStore.open({
    dbPath: options.dbPath,
    dek: options.dek,
    logger: options.logger,
  });
  const kv: KvStore = {
    read(path: string, version?: number): Promise<KvVersion | undefined> {
      return Promise.try(() => {
        const entry = store.read("value", path, version);
        return entry && { value: entry.secret, version: entry.version };
      });
    },
    write(path: string, value: Uint8Array): Promise<number> {
      return Promise.try(() => store.append("value", path, value));
    },
    latestVersion(path: string): Promise<number | undefined> {
      return Promise.try(() => store.latestVersion("value", path));
    },
  };
  return {
    name: options.name,
    kind: "keystore",
    statusName: "keystore",
    kv,
    transit: createKeystoreTransit(store),
    pki: createKeystorePki(store),
    store,
    exists(key: CatalogKey): Promise<boolean> {
      return Promise.try(() => {
        // A software-custody ML-DSA key is its seed, a KV value (lib/broker/pqc.ts).
        if (isMlDsa(key.keyType)) return store.has("value", mlDsaSeedPath(key));
        const kind = entryKindFor(key);
        if (!store.has(kind, key.path)) return false;
        return key.publicPath === undefined || store.has("value", key.publicPath);
      });
    },
    close(): void {
      store.close();
    },
  };
}

/**
 * Where a catalog key's material lives: kv2 keys (value, public, and the
 * private half of materialize-to-use keys) are `value` entries; transit keys
 * and pki CAs (key + certificate per version) are `key` entries.
 */
export function entryKindFor(key: CatalogKey): EntryKind {
  switch (key.engine) {
    case "kv2":
      return "value";
    case "transit":
    case "pki":
      return "key";
  }
}
