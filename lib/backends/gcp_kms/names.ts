/**
 * Cloud KMS resource names and the key-type map (contract §10).
 *
 * - The key ring is `projects/{p}/locations/{l}/keyRings/{r}` (the bundle
 *   credential's project, location and key ring).
 * - A catalog `path` names a key of that ring: the full resource name, or
 *   the part after the ring (`cryptoKeys/{id}`), or the bare `{id}`.
 * - An asymmetric path must pin a version (`…/cryptoKeyVersions/N`): Cloud
 *   KMS signs with a version, never with a key. A symmetric path names the
 *   key (its primary version encrypts, the ciphertext names the version that
 *   decrypts).
 * - ed25519 → EC_SIGN_ED25519, ecdsa-p256 → EC_SIGN_P256_SHA256,
 *   ecdsa-p384 → EC_SIGN_P384_SHA384, aes-256-gcm →
 *   GOOGLE_SYMMETRIC_ENCRYPTION; every other type is refused, never
 *   substituted.
 * @module
 */

import { BasilError } from "../../core/errors.ts";
import type { KeyType } from "../../core/ops.ts";

/** The ring a backend works in. */
export interface KeyRing {
  readonly project: string;
  readonly location: string;
  readonly keyRing: string;
}

/** A catalog path resolved to Cloud KMS names. */
export interface KeyRef {
  /** `projects/…/cryptoKeys/{id}`. */
  readonly key: string;
  /** The key id. */
  readonly id: string;
  /** The pinned version number, when the path pins one. */
  readonly version: number | undefined;
  /** `…/cryptoKeyVersions/N` when pinned. */
  readonly versionName: string | undefined;
}

/** What Basil does with a Cloud KMS algorithm. */
export interface GcpAlgorithm {
  readonly keyType: KeyType;
  readonly algorithm:
    | "EC_SIGN_ED25519"
    | "EC_SIGN_P256_SHA256"
    | "EC_SIGN_P384_SHA384"
    | "GOOGLE_SYMMETRIC_ENCRYPTION";
  readonly purpose: "ASYMMETRIC_SIGN" | "ENCRYPT_DECRYPT";
  /** ECDSA: the digest field AsymmetricSign takes; undefined signs the raw message. */
  readonly digest?: "sha256" | "sha384";
  /** ECDSA: byte size of r and s. */
  readonly size?: number;
}

const MAP: readonly GcpAlgorithm[] = [
  { keyType: "ed25519", algorithm: "EC_SIGN_ED25519", purpose: "ASYMMETRIC_SIGN" },
  {
    keyType: "ecdsa-p256",
    algorithm: "EC_SIGN_P256_SHA256",
    purpose: "ASYMMETRIC_SIGN",
    digest: "sha256",
    size: 32,
  },
  {
    keyType: "ecdsa-p384",
    algorithm: "EC_SIGN_P384_SHA384",
    purpose: "ASYMMETRIC_SIGN",
    digest: "sha384",
    size: 48,
  },
  {
    keyType: "aes-256-gcm",
    algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION",
    purpose: "ENCRYPT_DECRYPT",
  },
];

/** The key types this backend holds. */
export const GCP_KEY_TYPES: readonly KeyType[] = MAP.map((m) => m.keyType);

/** The Cloud KMS algorithm of a catalog key type; UNSUPPORTED_ALGORITHM for any other. */
export function gcpAlgorithm(keyType: KeyType): GcpAlgorithm {
  const m = MAP.find((x) => x.keyType === keyType);
  if (m === undefined) {
    throw new BasilError(
      "UNSUPPORTED_ALGORITHM",
      `the gcp-kms backend does not hold ${keyType} keys`,
    );
  }
  return m;
}

/** The catalog key type of a Cloud KMS algorithm name, or undefined. */
export function keyTypeOfAlgorithm(algorithm: string): KeyType | undefined {
  return MAP.find((x) => x.algorithm === algorithm)?.keyType;
}

/** `projects/{p}/locations/{l}/keyRings/{r}`. */
export function keyRingName(r: KeyRing): string {
  return `projects/${r.project}/locations/${r.location}/keyRings/${r.keyRing}`;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,63}$/;
const SEGMENT = /^[A-Za-z0-9_.-]{1,100}$/;
const VERSION = /^[1-9][0-9]{0,9}$/;

/** Why a ring field is unusable, or undefined when it is fine. */
export function ringProblem(r: KeyRing): string | undefined {
  for (
    const [field, v] of [["project", r.project], ["location", r.location], [
      "key_ring",
      r.keyRing,
    ]] as const
  ) {
    if (!SEGMENT.test(v)) return `${field} must be 1-100 letters, digits, '_', '-' or '.'`;
  }
  return undefined;
}

/**
 * Resolves a catalog path against the ring. Throws an `Error` whose message
 * says what is wrong (callers wrap it: the registry names the key, the
 * engine answers BACKEND_ERROR).
 */
export function parseKeyPath(ring: KeyRing, path: string): KeyRef {
  const prefix = `${keyRingName(ring)}/`;
  let rest = path;
  if (path.startsWith("projects/")) {
    if (!path.startsWith(prefix)) {
      throw new Error(`is not in the credential's key ring ${keyRingName(ring)}`);
    }
    rest = path.slice(prefix.length);
  }
  const parts = rest.split("/");
  if (parts[0] === "cryptoKeys") parts.shift();
  const [id, versions, n, ...extra] = parts;
  if (id === undefined || !KEY_ID.test(id)) {
    throw new Error("must name a key: 1-63 letters, digits, '_' or '-'");
  }
  const key = `${prefix}cryptoKeys/${id}`;
  if (versions === undefined) return { key, id, version: undefined, versionName: undefined };
  if (versions !== "cryptoKeyVersions" || n === undefined || !VERSION.test(n) || extra.length) {
    throw new Error("may only continue with /cryptoKeyVersions/N (N ≥ 1)");
  }
  const version = Number(n);
  return { key, id, version, versionName: `${key}/cryptoKeyVersions/${version}` };
}

/** The version number at the end of a `…/cryptoKeyVersions/N` name under `key`, or undefined. */
export function versionOf(key: string, name: unknown): number | undefined {
  if (typeof name !== "string" || !name.startsWith(`${key}/cryptoKeyVersions/`)) return undefined;
  const n = name.slice(key.length + "/cryptoKeyVersions/".length);
  return VERSION.test(n) ? Number(n) : undefined;
}

/**
 * Why a catalog key cannot live on this backend (type not in the map, an
 * asymmetric path without a version pin, a symmetric path with one), or
 * undefined when it can.
 */
export function catalogKeyProblem(
  ring: KeyRing,
  key: { keyType: KeyType | undefined; class: string; engine: string; path: string },
): string | undefined {
  if (key.engine !== "transit") return `engine ${key.engine} is not supported (transit only)`;
  if (key.class !== "asymmetric" && key.class !== "symmetric") {
    return `class ${key.class} is not supported (asymmetric or symmetric only)`;
  }
  let ref: KeyRef;
  try {
    ref = parseKeyPath(ring, key.path);
  } catch (e) {
    return `path ${(e as Error).message}`;
  }
  if (key.keyType === undefined) return "needs a keyType";
  const m = MAP.find((x) => x.keyType === key.keyType);
  if (m === undefined) {
    return `keyType ${key.keyType} is not supported (${GCP_KEY_TYPES.join(", ")})`;
  }
  if (m.purpose === "ASYMMETRIC_SIGN" && ref.version === undefined) {
    return "path of an asymmetric key must pin a version (…/cryptoKeyVersions/N)";
  }
  if (m.purpose === "ENCRYPT_DECRYPT" && ref.version !== undefined) {
    return "path of a symmetric key must name the key, not a version";
  }
  return undefined;
}
