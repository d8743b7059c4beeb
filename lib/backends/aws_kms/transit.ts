/**
 * The AWS KMS transit engine (seed 004, contract §10): keys used in place;
 * only public keys, signatures and ciphertexts come back.
 *
 * Invariants:
 * - The runtime path calls only DescribeKey, GetPublicKey, Sign, Verify,
 *   Encrypt and Decrypt; `create` adds CreateKey and CreateAlias; `rotate`
 *   adds CreateKey, CreateAlias and UpdateAlias (the alias swap).
 * - Every operation first describes the reference (DescribeKey) and checks
 *   the key's spec and usage against the catalog keyType (never
 *   substituted) and its version (see refs.ts) against the one asked.
 * - ECDSA signs in DIGEST mode over a locally computed SHA-256/384/512;
 *   signatures are DER on the KMS side, raw `r ‖ s` on Basil's. Ed25519
 *   signs the raw message (ED25519_SHA_512, at most 4096 bytes).
 * - AAD travels as the encryption context `{"basil:aad": base64url(aad)}`
 *   (no context when AAD is absent or empty). Envelopes carry the key
 *   version, an empty nonce, and the KMS ciphertext blob. Plaintexts are
 *   capped at 4096 bytes (KMS's own limit). Every decrypt failure that
 *   depends on the envelope or AAD is DECRYPT_FAILED.
 * @module
 */

import { createHash } from "node:crypto";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GetPublicKeyCommand,
  type KeyMetadata,
  type KMSClient,
  SignCommand,
  UpdateAliasCommand,
  VerifyCommand,
} from "@aws-sdk/client-kms";
import type { AeadEnvelope, TransitEngine, TransitKeyInfo } from "../backend.ts";
import { BasilError, decryptFailed, payloadTooLarge } from "../../core/errors.ts";
import type { KeyType } from "../../core/ops.ts";
import { toBase64Url } from "../../core/encoding.ts";
import type { Logger } from "../../core/log.ts";
import { derToRaw, rawToDer } from "../vault/ecdsa_sig.ts";
import { rejected } from "../vault/errors.ts";
import { awsError, awsErrorName, decryptError, isNotFound, notFound } from "./errors.ts";
import { keyRef, versionAlias, versionDescription, versionOf } from "./refs.ts";
import { keyTypeOfKms, kmsKeyType, publicKeyFromKms } from "./types.ts";

/** KMS's limit on an Encrypt plaintext and a RAW Sign/Verify message. */
export const KMS_MAX_PLAINTEXT = 4096;
/** KMS's limit on a ciphertext blob. */
const KMS_MAX_CIPHERTEXT = 6144;
/** The encryption-context key that carries the caller's AAD. */
export const AAD_CONTEXT_KEY = "basil:aad";

/** The encryption context for `aad` (undefined when there is none). */
export function aadContext(aad: Uint8Array | undefined): Record<string, string> | undefined {
  return aad === undefined || aad.length === 0
    ? undefined
    : { [AAD_CONTEXT_KEY]: toBase64Url(aad) };
}

/** A described key: what to call it by, its metadata, its version. */
interface Described {
  readonly keyId: string;
  readonly arn: string;
  readonly keyType: KeyType;
  readonly version: number;
  readonly meta: KeyMetadata;
}

/** Options for {@linkcode createKmsTransit}. */
export interface KmsTransitOptions {
  /**
   * How ECDSA messages are sent: DIGEST (the default, and what the agent
   * uses: only the locally computed hash leaves the host) or RAW (the whole
   * message, at most 4096 bytes; for emulators such as moto that ignore
   * DIGEST and would hash the digest again).
   */
  readonly ecdsaMessageType?: "DIGEST" | "RAW";
}

/** Creates the transit engine over one KMS client. */
export function createKmsTransit(
  client: KMSClient,
  logger: Logger,
  options: KmsTransitOptions = {},
): TransitEngine {
  /** What Sign/Verify send for `message`: the bytes and the message type. */
  function signInput(
    s: NonNullable<ReturnType<typeof kmsKeyType>["sign"]>,
    message: Uint8Array,
  ): { input: Uint8Array; messageType: "RAW" | "DIGEST" } | undefined {
    if (s.digest !== undefined && options.ecdsaMessageType !== "RAW") {
      return { input: digestOf(s.digest, message), messageType: "DIGEST" };
    }
    if (message.length > KMS_MAX_PLAINTEXT) return undefined;
    return { input: message, messageType: "RAW" };
  }

  /** DescribeKey of `keyId`; undefined when absent. */
  async function describe(keyId: string, what: string): Promise<Described | undefined> {
    let meta: KeyMetadata | undefined;
    try {
      meta = (await client.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw awsError(`describe ${what}`, e);
    }
    if (meta?.Arn === undefined || meta.KeySpec === undefined || meta.KeyUsage === undefined) {
      throw rejected(`aws-kms describe ${what}: no key metadata in the answer`);
    }
    const keyType = keyTypeOfKms(meta.KeySpec, meta.KeyUsage);
    if (keyType === undefined) {
      throw new BasilError("INTERNAL", undefined, {
        detail: `aws-kms key ${what} is ${meta.KeySpec}/${meta.KeyUsage}, which Basil does not use`,
      });
    }
    return { keyId, arn: meta.Arn, keyType, version: versionOf(meta.Description), meta };
  }

  /** The described latest version of `path`, checked against `keyType`. */
  async function latest(path: string, keyType: KeyType): Promise<Described> {
    const d = await describe(keyRef(path).id, path);
    if (d === undefined) throw notFound(`aws-kms key ${path} is absent`);
    checkType(path, d, keyType);
    return d;
  }

  /**
   * The key of `version`: the reference itself when that is the latest, the
   * version alias for an older one of an alias reference; key-not-found else.
   */
  async function atVersion(path: string, keyType: KeyType, version: number): Promise<Described> {
    const d = await latest(path, keyType);
    if (d.version === version) return d;
    const ref = keyRef(path);
    if (ref.kind !== "alias" || !Number.isSafeInteger(version) || version < 1) {
      throw notFound(`aws-kms key ${path} has no version ${version}`);
    }
    if (version > d.version) throw notFound(`aws-kms key ${path} has no version ${version}`);
    const old = await describe(versionAlias(ref.id, version), `${path} v${version}`);
    if (old === undefined || old.version !== version) {
      throw notFound(`aws-kms key ${path} has no version ${version}`);
    }
    checkType(path, old, keyType);
    return old;
  }

  async function createKey(path: string, keyType: KeyType, version: number): Promise<string> {
    const t = kmsKeyType(keyType);
    try {
      const out = await client.send(
        new CreateKeyCommand({
          KeySpec: t.keySpec as never,
          KeyUsage: t.keyUsage,
          Description: versionDescription(path, version),
        }),
      );
      const id = out.KeyMetadata?.Arn ?? out.KeyMetadata?.KeyId;
      if (id === undefined) throw rejected(`aws-kms create ${path}: no key id in the answer`);
      return id;
    } catch (e) {
      throw awsError(`create key ${path}`, e);
    }
  }

  async function createAlias(alias: string, target: string, path: string): Promise<void> {
    try {
      await client.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: target }));
    } catch (e) {
      if (awsErrorName(e) === "AlreadyExistsException") {
        logger.log("warn", "aws-kms alias already exists; the new key is left unaliased", {
          path,
          alias,
          key: target,
        });
        throw alreadyExists(path);
      }
      throw awsError(`create alias ${alias}`, e);
    }
  }

  async function publicKeyOf(d: Described, path: string, keyType: KeyType): Promise<Uint8Array> {
    if (kmsKeyType(keyType).sign === undefined) return new Uint8Array(0);
    try {
      const out = await client.send(new GetPublicKeyCommand({ KeyId: d.keyId }));
      if (!sameKey(out.KeyId, d)) {
        throw rejected(`aws-kms public key ${path}: answered for another key`);
      }
      if (out.PublicKey === undefined) throw rejected(`aws-kms public key ${path}: no key`);
      return publicKeyFromKms(keyType, out.PublicKey, `public key ${path}`);
    } catch (e) {
      if (isNotFound(e)) throw notFound(`aws-kms key ${path} is absent`);
      throw awsError(`public key ${path}`, e);
    }
  }

  return {
    async info(path: string): Promise<TransitKeyInfo | undefined> {
      const d = await describe(keyRef(path).id, path);
      if (d === undefined) return undefined;
      return { keyType: d.keyType, latest: d.version, minAvailable: 1 };
    },

    async create(path: string, keyType: KeyType) {
      kmsKeyType(keyType);
      const ref = keyRef(path);
      if (ref.kind !== "alias") {
        throw new BasilError(
          "INVALID_REQUEST",
          "an aws-kms key named by ARN or key id is created out of band",
          { detail: `aws-kms create ${path}: KMS assigns key ids; use an alias or logical name` },
        );
      }
      if (await describe(ref.id, path) !== undefined) throw alreadyExists(path);
      const id = await createKey(path, keyType, 1);
      await createAlias(ref.id, id, path);
      const d = await latest(path, keyType);
      return { version: d.version, publicKey: await publicKeyOf(d, path, keyType) };
    },

    importKeys() {
      return Promise.reject(
        new BasilError("UNSUPPORTED", "the aws-kms backend does not import keys"),
      );
    },

    async rotate(path: string, keyType: KeyType): Promise<number> {
      const ref = keyRef(path);
      if (ref.kind !== "alias") {
        throw new BasilError(
          "UNSUPPORTED",
          "an aws-kms key named by ARN or key id is rotated out of band",
        );
      }
      const cur = await latest(path, keyType);
      const keep = versionAlias(ref.id, cur.version);
      const kept = await describe(keep, `${path} v${cur.version}`);
      if (kept === undefined) await createAlias(keep, cur.arn, path);
      else if (kept.arn !== cur.arn) {
        throw rejected(`aws-kms rotate ${path}: ${keep} names another key`);
      }
      const next = cur.version + 1;
      const id = await createKey(path, keyType, next);
      try {
        await client.send(new UpdateAliasCommand({ AliasName: ref.id, TargetKeyId: id }));
      } catch (e) {
        throw awsError(`update alias ${ref.id}`, e);
      }
      return next;
    },

    async publicKey(path: string, keyType: KeyType, version: number): Promise<Uint8Array> {
      const d = await atVersion(path, keyType, version);
      return await publicKeyOf(d, path, keyType);
    },

    async sign(path: string, keyType: KeyType, message: Uint8Array, version?: number) {
      const s = kmsKeyType(keyType).sign;
      if (s === undefined) throw notSigning(keyType);
      const m = signInput(s, message);
      if (m === undefined) throw payloadTooLarge("message", KMS_MAX_PLAINTEXT, "sign");
      const d = version === undefined
        ? await latest(path, keyType)
        : await atVersion(path, keyType, version);
      try {
        const out = await client.send(
          new SignCommand({
            KeyId: d.keyId,
            Message: m.input,
            MessageType: m.messageType,
            SigningAlgorithm: s.algorithm as never,
          }),
        );
        if (!sameKey(out.KeyId, d)) {
          throw rejected(`aws-kms sign ${path}: signed with another key`);
        }
        if (out.Signature === undefined) throw rejected(`aws-kms sign ${path}: no signature`);
        if (s.size === undefined) return out.Signature;
        const raw = derToRaw(out.Signature, s.size);
        if (raw === undefined) throw rejected(`aws-kms sign ${path}: signature is not DER ECDSA`);
        return raw;
      } catch (e) {
        if (isNotFound(e)) throw notFound(`aws-kms key ${path} is absent`);
        throw awsError(`sign ${path}`, e);
      }
    },

    async verify(path, keyType, message, signature, version) {
      const s = kmsKeyType(keyType).sign;
      if (s === undefined) throw notSigning(keyType);
      const m = signInput(s, message);
      if (m === undefined) return false;
      const sig = s.size === undefined
        ? (signature.length === 64 ? signature : undefined)
        : rawToDer(signature, s.size);
      if (sig === undefined) return false;
      const d = await atVersion(path, keyType, version);
      try {
        const out = await client.send(
          new VerifyCommand({
            KeyId: d.keyId,
            Message: m.input,
            MessageType: m.messageType,
            Signature: sig,
            SigningAlgorithm: s.algorithm as never,
          }),
        );
        return out.SignatureValid === true;
      } catch (e) {
        if (awsErrorName(e) === "KMSInvalidSignatureException") return false;
        if (isNotFound(e)) throw notFound(`aws-kms key ${path} is absent`);
        throw awsError(`verify ${path}`, e);
      }
    },

    async encrypt(path, keyType, plaintext, aad, version): Promise<AeadEnvelope> {
      if (kmsKeyType(keyType).keyUsage !== "ENCRYPT_DECRYPT") throw notAead(keyType);
      if (plaintext.length > KMS_MAX_PLAINTEXT) {
        throw payloadTooLarge("plaintext", KMS_MAX_PLAINTEXT, "encrypt");
      }
      const d = await atVersion(path, keyType, version);
      try {
        const out = await client.send(
          new EncryptCommand({
            KeyId: d.keyId,
            Plaintext: plaintext,
            EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
            EncryptionContext: aadContext(aad),
          }),
        );
        if (!sameKey(out.KeyId, d)) {
          throw rejected(`aws-kms encrypt ${path}: encrypted with another key`);
        }
        if (out.CiphertextBlob === undefined || out.CiphertextBlob.length === 0) {
          throw rejected(`aws-kms encrypt ${path}: no ciphertext`);
        }
        return { version: d.version, nonce: new Uint8Array(0), ciphertext: out.CiphertextBlob };
      } catch (e) {
        throw awsError(`encrypt ${path}`, e);
      }
    },

    async decrypt(path, keyType, envelope, aad): Promise<Uint8Array> {
      if (kmsKeyType(keyType).keyUsage !== "ENCRYPT_DECRYPT") throw notAead(keyType);
      const v = envelope.version;
      if (envelope.nonce.length !== 0) {
        throw decryptFailed("decrypt", "aws-kms envelopes carry no nonce");
      }
      const ct = envelope.ciphertext;
      if (ct.length === 0 || ct.length > KMS_MAX_CIPHERTEXT) {
        throw decryptFailed("decrypt", "aws-kms ciphertext length");
      }
      let d: Described;
      try {
        d = await atVersion(path, keyType, v);
      } catch (e) {
        if (e instanceof BasilError && e.code === "INTERNAL") {
          throw decryptFailed("decrypt", `aws-kms ${path}: no version ${v}`);
        }
        throw e;
      }
      try {
        const out = await client.send(
          new DecryptCommand({
            KeyId: d.keyId,
            CiphertextBlob: ct,
            EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
            EncryptionContext: aadContext(aad),
          }),
        );
        if (!sameKey(out.KeyId, d)) {
          out.Plaintext?.fill(0);
          throw decryptFailed("decrypt", `aws-kms decrypt ${path}: another key answered`);
        }
        if (out.Plaintext === undefined) throw rejected(`aws-kms decrypt ${path}: no plaintext`);
        return out.Plaintext;
      } catch (e) {
        throw decryptError(`decrypt ${path}`, e);
      }
    },

    prune(): Promise<void> {
      return Promise.reject(
        new BasilError(
          "UNSUPPORTED",
          "aws-kms key versions are not pruned by Basil; schedule deletion in KMS",
        ),
      );
    },
  };
}

/**
 * Whether an answer's `KeyId` (an ARN; some emulators say the bare id) is
 * `d`'s key. KMS always names the key in these answers, so one that names
 * none is not taken as this key's.
 */
function sameKey(answer: string | undefined, d: Described): boolean {
  return answer !== undefined && (answer === d.arn || answer === d.meta.KeyId);
}

function digestOf(alg: "sha256" | "sha384" | "sha512", message: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(alg).update(message).digest());
}

function checkType(path: string, d: Described, keyType: KeyType): void {
  const want = kmsKeyType(keyType);
  if (d.meta.KeySpec !== want.keySpec || d.meta.KeyUsage !== want.keyUsage) {
    throw new BasilError("INTERNAL", undefined, {
      detail:
        `aws-kms key ${path} is ${d.meta.KeySpec}/${d.meta.KeyUsage}, the catalog says ${keyType}`,
    });
  }
}

function alreadyExists(path: string): BasilError {
  return new BasilError("INVALID_REQUEST", "key already exists", {
    detail: `aws-kms key ${path} already exists`,
  });
}

function notSigning(keyType: KeyType): BasilError {
  return new BasilError("UNSUPPORTED_ALGORITHM", `${keyType} keys do not sign`);
}

function notAead(keyType: KeyType): BasilError {
  return new BasilError("UNSUPPORTED_ALGORITHM", `${keyType} keys do not encrypt`);
}
