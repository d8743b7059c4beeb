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
import type { BackendKind, KeyType } from "../core/ops.ts";
import type { SecretBytes } from "../core/secret.ts";
import type { PrivateKeyMaterial } from "../crypto/signing.ts";
import type { LeafRequest } from "../crypto/x509/mod.ts";

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

/** Versions of a transit key. */
export interface TransitKeyInfo {
  readonly keyType: KeyType;
  /** The newest version (used to sign and encrypt). */
  readonly latest: number;
  /** The oldest version still stored (older ones were pruned). */
  readonly minAvailable: number;
}

/** Private key material for import. The backend copies what it keeps; the caller wipes. */
export type ImportMaterial = PrivateKeyMaterial;

/** One entry of an all-or-nothing import. */
export interface ImportItem {
  readonly path: string;
  readonly keyType: KeyType;
  readonly material: ImportMaterial;
}

/** An AEAD result: the broker-owned nonce travels with the ciphertext. */
export interface AeadEnvelope {
  readonly version: number;
  readonly nonce: Uint8Array;
  /** Ciphertext including the 16-byte tag. */
  readonly ciphertext: Uint8Array;
}

/**
 * Keys used in place (engine transit). Private material never leaves the
 * backend through this interface; only public keys, signatures and
 * ciphertexts come back. Paths are catalog `path`s; `keyType` is the
 * catalog keyType, which the backend must match against what it stores.
 *
 * Failures: an absent key or version rejects with INTERNAL ("key material
 * not found in backend"); any decrypt failure rejects with DECRYPT_FAILED
 * and nothing else; `verify` resolves false for any bad signature.
 */
export interface TransitEngine {
  /** Versions of the key at `path`, or undefined when absent. */
  info(path: string): Promise<TransitKeyInfo | undefined>;
  /** Creates version 1 of a new key; rejects if the key already exists. */
  create(path: string, keyType: KeyType): Promise<{ version: number; publicKey: Uint8Array }>;
  /**
   * Imports every item as version 1 of a new key, atomically: if any item is
   * invalid or already exists, none is stored.
   */
  importKeys(items: readonly ImportItem[]): Promise<{ version: number; publicKey: Uint8Array }[]>;
  /** Adds a new latest version; returns its number. */
  rotate(path: string, keyType: KeyType): Promise<number>;
  /** The public key of `version` (empty for symmetric keys). */
  publicKey(path: string, keyType: KeyType, version: number): Promise<Uint8Array>;
  /**
   * Signs the raw message with `version`, or with the latest when omitted
   * (a plain Sign: the backend picks its latest itself, one request fewer).
   */
  sign(path: string, keyType: KeyType, message: Uint8Array, version?: number): Promise<Uint8Array>;
  verify(
    path: string,
    keyType: KeyType,
    message: Uint8Array,
    signature: Uint8Array,
    version: number,
  ): Promise<boolean>;
  /** Encrypts under `version` with a fresh backend-owned nonce. */
  encrypt(
    path: string,
    keyType: KeyType,
    plaintext: Uint8Array,
    aad: Uint8Array | undefined,
    version: number,
  ): Promise<AeadEnvelope>;
  /** Decrypts an envelope (its own version); every failure is DECRYPT_FAILED. */
  decrypt(
    path: string,
    keyType: KeyType,
    envelope: AeadEnvelope,
    aad: Uint8Array | undefined,
  ): Promise<Uint8Array>;
  /** Deletes versions below `minVersion` (retention). */
  prune(path: string, minVersion: number): Promise<void>;
}

/** What a certificate should say. */
export type CertRequest = LeafRequest;

/** A freshly issued leaf. The leaf private key is released to the caller. */
export interface IssuedCert {
  /** DER certificates, leaf first. */
  readonly chainDer: readonly Uint8Array[];
  /** DER PKCS#8 of the leaf key. The caller wipes it. */
  readonly privateKeyPkcs8: SecretBytes;
  /** DER CA certificates (the trust bundle). */
  readonly caChainDer: readonly Uint8Array[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * A certificate authority used in place (engine pki). The CA key signs where
 * it lives; leaves get fresh key pairs. CA rotation adds a version: leaves
 * are issued by the latest, bundles carry every version still accepted.
 */
export interface PkiEngine {
  /** Versions of the CA at `path`, or undefined when absent. */
  info(path: string): Promise<TransitKeyInfo | undefined>;
  /** Creates the CA (version 1: key + self-signed certificate) if absent. */
  createCa(
    path: string,
    keyType: KeyType,
    subject: { commonName: string; uri?: string },
  ): Promise<void>;
  /** Adds a CA version (new key + certificate); returns its number. */
  rotateCa(path: string, keyType: KeyType): Promise<number>;
  /** DER CA certificates of versions `from..to`, newest first. */
  caCertificates(path: string, keyType: KeyType, from: number, to: number): Promise<Uint8Array[]>;
  /** Issues a leaf signed by the latest CA version. */
  issue(path: string, keyType: KeyType, req: CertRequest): Promise<IssuedCert>;
}

/** A live backend built from a catalog backend and its bundle credential. */
export interface Backend {
  /** The catalog backend name (= bundle credential id). */
  readonly name: string;
  readonly kind: BackendKind;
  /** What `Admin.Status` reports (`keystore`, `vault`, ...). */
  readonly statusName: string;
  readonly kv?: KvStore;
  readonly transit?: TransitEngine;
  readonly pki?: PkiEngine;
  /**
   * Read-only existence probe for reconcile and readiness. Resolves false
   * when the key's material is absent; rejects with BACKEND_UNAVAILABLE or
   * BACKEND_ERROR when the backend cannot answer (never treated as absent).
   */
  exists(key: CatalogKey): Promise<boolean>;
  /** Releases handles. Safe to call twice. */
  close(): void;
}
