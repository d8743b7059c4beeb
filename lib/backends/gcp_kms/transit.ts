/**
 * Cloud KMS keys used in place (TransitEngine over `@google-cloud/kms`).
 *
 * Invariants:
 * - Every request that carries bytes sends their CRC32C (`data_crc32c`,
 *   `digest_crc32c`, `plaintext_crc32c`, `ciphertext_crc32c`,
 *   `additional_authenticated_data_crc32c`) and every answer must confirm
 *   them (`verified_*_crc32c`) and carry a matching CRC32C of its own bytes
 *   (`signature_crc32c`, `ciphertext_crc32c`, `plaintext_crc32c`,
 *   `pem_crc32c`) and the resource name asked for. Any mismatch is
 *   BACKEND_ERROR, never a wrong answer.
 * - A signing key is pinned to one version by its path, and that version
 *   number is its only Basil version (`latest = minAvailable = N`); it does
 *   not rotate here (a new version is pinned in the catalog). Signatures are
 *   verified locally against the version's public key (fetched once per
 *   version, CRC-checked, its algorithm matched to the catalog keyType) before
 *   they are returned, and `verify` is local.
 * - A symmetric key's Basil versions are its Cloud KMS versions: encrypt
 *   uses the primary version and reports the one the answer names; rotate
 *   adds a version and makes it primary. Envelopes carry no nonce.
 * - Decrypt refusals are DECRYPT_FAILED; outages and permission problems
 *   stay BACKEND_UNAVAILABLE / BACKEND_ERROR. Plaintexts the client
 *   returned are copied and the client's buffers zeroed.
 * - Import and prune are not offered (UNSUPPORTED).
 * @module
 */

import { createHash, createPublicKey } from "node:crypto";
import type { KeyManagementServiceClient } from "@google-cloud/kms";
import { p256, p384 } from "@noble/curves/nist.js";
import type { AeadEnvelope, TransitEngine, TransitKeyInfo } from "../backend.ts";
import { BasilError, decryptFailed, invalidRequest, payloadTooLarge } from "../../core/errors.ts";
import type { KeyType } from "../../core/ops.ts";
import {
  bufferView,
  pemToSpkiDer,
  rawFromFixedDer,
  spkiDerToPem,
} from "../../crypto/key_formats.ts";
import { verifyMessage } from "../../crypto/signing.ts";
import { crc32c } from "./crc32c.ts";
import {
  GrpcCode,
  grpcCodeOf,
  keyNotFound,
  mapCallError,
  mapDecryptError,
  rejected,
} from "./errors.ts";
import {
  type GcpAlgorithm,
  gcpAlgorithm,
  type KeyRef,
  type KeyRing,
  keyRingName,
  keyTypeOfAlgorithm,
  parseKeyPath,
  versionOf,
} from "./names.ts";

/** Cloud KMS's cap on Encrypt plaintext and AAD. */
export const MAX_KMS_BYTES = 65_536;

/** Options for {@linkcode createGcpTransit}. */
export interface GcpTransitOptions {
  readonly client: KeyManagementServiceClient;
  readonly ring: KeyRing;
  /** Per-call deadline. */
  readonly timeoutMs: number;
  /** How long create/rotate wait for a new version to leave PENDING_GENERATION. */
  readonly generationWaitMs?: number;
}

interface PublicKeyEntry {
  readonly keyType: KeyType;
  /** Basil's public form: raw 32 bytes (Ed25519) or SPKI PEM (ECDSA). */
  readonly publicKey: Uint8Array;
}

/** An Int64Value wrapper field as the client returns it. */
type Int64Field = { value?: number | string | { toString(): string } | null } | null | undefined;

/** The engine. */
export function createGcpTransit(o: GcpTransitOptions): TransitEngine {
  const { client, ring } = o;
  const ringName = keyRingName(ring);
  const callOpts = { timeout: o.timeoutMs, maxRetries: 2 };
  const publicKeys = new Map<string, PublicKeyEntry>();
  const latestOf = new Map<string, number>();

  function resolve(path: string): KeyRef {
    try {
      return parseKeyPath(ring, path);
    } catch (e) {
      throw rejected(`gcp-kms path ${path}: ${(e as Error).message}`);
    }
  }

  /** The ref of a signing key; the path must pin a version and `version` must be it. */
  function pinned(path: string, version: number | undefined): KeyRef & { versionName: string } {
    const ref = resolve(path);
    if (ref.versionName === undefined) {
      throw rejected(`gcp-kms path ${path}: a signing key's path must pin …/cryptoKeyVersions/N`);
    }
    if (version !== undefined && version !== ref.version) {
      throw keyNotFound(`gcp-kms ${path}: only version ${ref.version} is pinned, not ${version}`);
    }
    return ref as KeyRef & { versionName: string };
  }

  function symmetric(path: string): KeyRef {
    const ref = resolve(path);
    if (ref.version !== undefined) {
      throw rejected(`gcp-kms path ${path}: a symmetric key's path names the key, not a version`);
    }
    return ref;
  }

  async function call<T>(
    what: string,
    fn: () => Promise<[T, ...unknown[]]>,
    map: (what: string, e: unknown) => BasilError = mapCallError,
  ): Promise<T> {
    try {
      return (await fn())[0];
    } catch (e) {
      throw map(what, e);
    }
  }

  async function checkCrc(what: string, bytes: Uint8Array, field: Int64Field): Promise<void> {
    const raw = field?.value;
    if (raw === undefined || raw === null) throw rejected(`gcp-kms ${what}: no checksum`);
    const want = Number(String(raw));
    if (!Number.isSafeInteger(want) || want !== await crc32c(bytes)) {
      throw rejected(`gcp-kms ${what}: checksum mismatch (corrupted in transit)`);
    }
  }

  function verified(what: string, flag: boolean | null | undefined): void {
    if (flag !== true) {
      throw rejected(`gcp-kms ${what}: the request checksum was not verified by the server`);
    }
  }

  const int64 = async (bytes: Uint8Array) => ({ value: await crc32c(bytes) });

  async function publicKeyOf(ref: KeyRef & { versionName: string }): Promise<PublicKeyEntry> {
    const cached = publicKeys.get(ref.versionName);
    if (cached) return cached;
    const what = `GetPublicKey ${ref.versionName}`;
    const resp = await call(what, () => client.getPublicKey({ name: ref.versionName }, callOpts));
    if (resp.name !== ref.versionName) throw rejected(`${what}: answer names another version`);
    const pem = new TextEncoder().encode(resp.pem ?? "");
    await checkCrc(`${what} pem`, pem, resp.pemCrc32c);
    const keyType = keyTypeOfAlgorithm(String(resp.algorithm ?? ""));
    if (keyType === undefined) {
      throw rejected(`${what}: algorithm ${String(resp.algorithm)} is not one Basil uses`);
    }
    const der = pemToSpkiDer(pem);
    if (der === undefined) throw rejected(`${what}: pem is not a PUBLIC KEY`);
    const publicKey = keyType === "ed25519" ? rawFromFixedDer("ed25519", "spki", der) : (
      checkEcSpki(keyType, der) ? spkiDerToPem(der) : undefined
    );
    if (publicKey === undefined) throw rejected(`${what}: pem is not a ${keyType} key`);
    const entry = { keyType, publicKey };
    publicKeys.set(ref.versionName, entry);
    return entry;
  }

  async function signingKey(
    path: string,
    keyType: KeyType,
    version: number | undefined,
  ): Promise<{ ref: KeyRef & { versionName: string }; alg: GcpAlgorithm; pk: PublicKeyEntry }> {
    const alg = signingAlg(keyType);
    const ref = pinned(path, version);
    const pk = await publicKeyOf(ref);
    if (pk.keyType !== keyType) {
      throw rejected(
        `gcp-kms ${ref.versionName}: holds ${pk.keyType}, the catalog says ${keyType}`,
      );
    }
    return { ref, alg, pk };
  }

  async function waitEnabled(name: string): Promise<void> {
    const deadline = Date.now() + (o.generationWaitMs ?? 60_000);
    for (let delay = 50;; delay = Math.min(delay * 2, 2_000)) {
      const v = await call(
        `GetCryptoKeyVersion ${name}`,
        () => client.getCryptoKeyVersion({ name }, callOpts),
      );
      const state = String(v.state ?? "");
      if (state === "ENABLED") return;
      if (state !== "PENDING_GENERATION") {
        throw rejected(`gcp-kms ${name}: new version is ${state}, not ENABLED`);
      }
      if (Date.now() + delay > deadline) {
        throw new BasilError("BACKEND_UNAVAILABLE", undefined, {
          detail: `gcp-kms ${name}: still PENDING_GENERATION`,
        });
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  async function primaryOf(ref: KeyRef, what: string): Promise<TransitKeyInfo> {
    const key = await call(
      `GetCryptoKey ${ref.key}`,
      () => client.getCryptoKey({ name: ref.key }, callOpts),
    );
    if (String(key.purpose) !== "ENCRYPT_DECRYPT") {
      throw rejected(
        `gcp-kms ${what}: ${ref.key} is a ${String(key.purpose)} key; ` +
          "a signing key's path must pin …/cryptoKeyVersions/N",
      );
    }
    const algorithm = String(key.primary?.algorithm ?? key.versionTemplate?.algorithm ?? "");
    const keyType = keyTypeOfAlgorithm(algorithm);
    if (keyType === undefined) {
      throw rejected(`gcp-kms ${ref.key}: algorithm ${algorithm} is not one Basil uses`);
    }
    const latest = versionOf(ref.key, key.primary?.name);
    if (latest === undefined) throw rejected(`gcp-kms ${ref.key}: has no primary version`);
    latestOf.set(ref.key, latest);
    return { keyType, latest, minAvailable: 1 };
  }

  return {
    async info(path) {
      const ref = resolve(path);
      try {
        if (ref.versionName !== undefined) {
          publicKeys.delete(ref.versionName); // an existence probe always asks
          const pk = await publicKeyOf(ref as KeyRef & { versionName: string });
          return { keyType: pk.keyType, latest: ref.version!, minAvailable: ref.version! };
        }
        return await primaryOf(ref, `info ${path}`);
      } catch (e) {
        if (e instanceof BasilError && e.code === "INTERNAL") return undefined;
        throw e;
      }
    },

    async create(path, keyType) {
      const alg = gcpAlgorithm(keyType);
      const ref = alg.purpose === "ASYMMETRIC_SIGN" ? pinned(path, undefined) : symmetric(path);
      if (ref.version !== undefined && ref.version !== 1) {
        throw invalidRequest(`gcp-kms creates only version 1; ${path} pins ${ref.version}`);
      }
      const key = await call(
        `CreateCryptoKey ${ref.key}`,
        () =>
          client.createCryptoKey({
            parent: ringName,
            cryptoKeyId: ref.id,
            cryptoKey: {
              purpose: alg.purpose,
              versionTemplate: { algorithm: alg.algorithm, protectionLevel: "SOFTWARE" },
            },
          }, { timeout: o.timeoutMs }),
        (what, e) =>
          grpcCodeOf(e) === GrpcCode.ALREADY_EXISTS
            ? invalidRequest("the key already exists in the backend")
            : mapCallError(what, e),
      );
      if (key.name !== ref.key) {
        throw rejected(`CreateCryptoKey ${ref.key}: answer names another key`);
      }
      if (alg.purpose === "ENCRYPT_DECRYPT") {
        const version = versionOf(ref.key, key.primary?.name);
        if (version === undefined) throw rejected(`CreateCryptoKey ${ref.key}: no primary version`);
        latestOf.set(ref.key, version);
        return { version, publicKey: new Uint8Array() };
      }
      const pinnedRef = ref as KeyRef & { versionName: string };
      await waitEnabled(pinnedRef.versionName);
      const pk = await publicKeyOf(pinnedRef);
      if (pk.keyType !== keyType) throw rejected(`CreateCryptoKey ${ref.key}: wrong algorithm`);
      return { version: 1, publicKey: pk.publicKey.slice() };
    },

    importKeys() {
      return Promise.reject(
        new BasilError("UNSUPPORTED", "the gcp-kms backend does not import keys"),
      );
    },

    async rotate(path, keyType) {
      const alg = gcpAlgorithm(keyType);
      if (alg.purpose === "ASYMMETRIC_SIGN") {
        throw new BasilError(
          "UNSUPPORTED",
          "gcp-kms signing keys rotate by pinning a new cryptoKeyVersion in the catalog",
        );
      }
      const ref = symmetric(path);
      const created = await call(
        `CreateCryptoKeyVersion ${ref.key}`,
        () =>
          client.createCryptoKeyVersion({ parent: ref.key, cryptoKeyVersion: {} }, {
            timeout: o.timeoutMs,
          }),
      );
      const n = versionOf(ref.key, created.name);
      if (n === undefined) throw rejected(`CreateCryptoKeyVersion ${ref.key}: no version name`);
      if (String(created.state) !== "ENABLED") await waitEnabled(created.name!);
      const key = await call(
        `UpdateCryptoKeyPrimaryVersion ${ref.key}`,
        () =>
          client.updateCryptoKeyPrimaryVersion({ name: ref.key, cryptoKeyVersionId: String(n) }, {
            timeout: o.timeoutMs,
          }),
      );
      if (versionOf(ref.key, key.primary?.name) !== n) {
        throw rejected(`UpdateCryptoKeyPrimaryVersion ${ref.key}: primary is not version ${n}`);
      }
      latestOf.set(ref.key, n);
      return n;
    },

    async publicKey(path, keyType, version) {
      if (gcpAlgorithm(keyType).purpose === "ENCRYPT_DECRYPT") return new Uint8Array();
      const { pk } = await signingKey(path, keyType, version);
      return pk.publicKey.slice();
    },

    async sign(path, keyType, message, version) {
      const { ref, alg, pk } = await signingKey(path, keyType, version);
      const what = `AsymmetricSign ${ref.versionName}`;
      const digest = alg.digest === undefined
        ? undefined
        : new Uint8Array(createHash(alg.digest).update(message).digest());
      const resp = await call(what, async () =>
        client.asymmetricSign(
          digest === undefined
            ? { name: ref.versionName, data: message, dataCrc32c: await int64(message) }
            : {
              name: ref.versionName,
              digest: { [alg.digest!]: digest },
              digestCrc32c: await int64(digest),
            },
          callOpts,
        ));
      if (resp.name !== ref.versionName) throw rejected(`${what}: answer names another version`);
      verified(what, digest === undefined ? resp.verifiedDataCrc32c : resp.verifiedDigestCrc32c);
      const sig = toBytes(resp.signature);
      await checkCrc(`${what} signature`, sig, resp.signatureCrc32c);
      const raw = alg.size === undefined ? sig : derToRaw(alg, sig);
      if (raw === undefined || !verifyMessage(keyType, pk.publicKey, message, raw)) {
        throw rejected(`${what}: the signature does not verify under the version's public key`);
      }
      return raw;
    },

    async verify(path, keyType, message, signature, version) {
      const { pk } = await signingKey(path, keyType, version);
      return verifyMessage(keyType, pk.publicKey, message, signature);
    },

    async encrypt(path, keyType, plaintext, aad, version): Promise<AeadEnvelope> {
      aeadAlg(keyType);
      if (plaintext.length > MAX_KMS_BYTES) payloadTooLargeFail("plaintext");
      if (aad !== undefined && aad.length > MAX_KMS_BYTES) payloadTooLargeFail("aad");
      const ref = symmetric(path);
      const what = `Encrypt ${ref.key}`;
      const withAad = aad !== undefined && aad.length > 0;
      const resp = await call(what, async () =>
        client.encrypt({
          name: ref.key,
          plaintext,
          plaintextCrc32c: await int64(plaintext),
          ...(withAad
            ? {
              additionalAuthenticatedData: aad,
              additionalAuthenticatedDataCrc32c: await int64(aad),
            }
            : {}),
        }, callOpts));
      verified(`${what} plaintext`, resp.verifiedPlaintextCrc32c);
      if (withAad) verified(`${what} aad`, resp.verifiedAdditionalAuthenticatedDataCrc32c);
      const used = versionOf(ref.key, resp.name);
      if (used === undefined) throw rejected(`${what}: answer names another key`);
      const ciphertext = new Uint8Array(toBytes(resp.ciphertext));
      await checkCrc(`${what} ciphertext`, ciphertext, resp.ciphertextCrc32c);
      latestOf.set(ref.key, Math.max(used, latestOf.get(ref.key) ?? 0));
      void version; // the answer names the version that was used
      return { version: used, nonce: new Uint8Array(), ciphertext };
    },

    async decrypt(path, keyType, envelope, aad) {
      aeadAlg(keyType);
      const ref = symmetric(path);
      const what = `Decrypt ${ref.key}`;
      const v = envelope.version;
      if (envelope.nonce.length !== 0) {
        throw decryptFailed("decrypt", "gcp-kms envelopes carry no nonce");
      }
      if (!Number.isSafeInteger(v) || v < 1) throw decryptFailed("decrypt", "bad version");
      if (envelope.ciphertext.length === 0) throw decryptFailed("decrypt", "empty ciphertext");
      let latest = latestOf.get(ref.key);
      if (latest === undefined || v > latest) {
        try {
          latest = (await primaryOf(ref, what)).latest;
        } catch (e) {
          throw mapDecryptError(
            what,
            e instanceof BasilError && e.code === "INTERNAL" ? notFound() : e,
          );
        }
      }
      if (v > latest) throw decryptFailed("decrypt", `${ref.key} has no version ${v}`);
      const withAad = aad !== undefined && aad.length > 0;
      const resp = await call(what, async () =>
        client.decrypt({
          name: ref.key,
          ciphertext: envelope.ciphertext,
          ciphertextCrc32c: await int64(envelope.ciphertext),
          ...(withAad
            ? {
              additionalAuthenticatedData: aad,
              additionalAuthenticatedDataCrc32c: await int64(aad),
            }
            : {}),
        }, callOpts), mapDecryptError);
      const got = toBytes(resp.plaintext);
      const out = new Uint8Array(got); // a copy (`Buffer#slice` is a view)
      got.fill(0);
      try {
        await checkCrc(`${what} plaintext`, out, resp.plaintextCrc32c);
      } catch (e) {
        out.fill(0);
        throw e;
      }
      return out;
    },

    prune() {
      return Promise.reject(
        new BasilError(
          "UNSUPPORTED",
          "the gcp-kms backend does not prune versions (destroy them in Cloud KMS)",
        ),
      );
    },
  };
}

function signingAlg(keyType: KeyType): GcpAlgorithm {
  const alg = gcpAlgorithm(keyType);
  if (alg.purpose !== "ASYMMETRIC_SIGN") {
    throw new BasilError("UNSUPPORTED_ALGORITHM", `${keyType} keys do not sign`);
  }
  return alg;
}

function aeadAlg(keyType: KeyType): void {
  if (gcpAlgorithm(keyType).purpose !== "ENCRYPT_DECRYPT") {
    throw new BasilError("UNSUPPORTED_ALGORITHM", `${keyType} keys do not encrypt`);
  }
}

function payloadTooLargeFail(field: string): never {
  throw payloadTooLarge(field, MAX_KMS_BYTES, "encrypt");
}

function notFound(): Error & { code: number } {
  return Object.assign(new Error("key not found"), { code: GrpcCode.NOT_FOUND });
}

/** A bytes field as the gRPC client returns it (a Buffer); absent is empty. */
function toBytes(v: Uint8Array | string | null | undefined): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array();
}

/** The SPKI DER holds a point on the curve of `keyType`. */
function checkEcSpki(keyType: KeyType, der: Uint8Array): boolean {
  try {
    const k = createPublicKey({ key: bufferView(der), format: "der", type: "spki" });
    const want = keyType === "ecdsa-p256" ? "prime256v1" : "secp384r1";
    return k.asymmetricKeyType === "ec" && k.asymmetricKeyDetails?.namedCurve === want;
  } catch {
    return false;
  }
}

/** ASN.1 DER ECDSA → raw `r ‖ s`; undefined when not well-formed. */
function derToRaw(alg: GcpAlgorithm, der: Uint8Array): Uint8Array | undefined {
  try {
    const curve = alg.keyType === "ecdsa-p256" ? p256 : p384;
    return curve.Signature.fromBytes(der, "der").toBytes("compact");
  } catch {
    return undefined;
  }
}
