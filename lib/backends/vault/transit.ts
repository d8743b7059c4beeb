/**
 * The Vault/OpenBao transit engine (contract §10): keys used in place under
 * `{transit-mount}`; only public keys, signatures and ciphertexts come back.
 *
 * Invariants:
 * - Every call names the key version explicitly (`key_version`), so what is
 *   signed or encrypted is the version the broker chose.
 * - Signatures travel as `vault:vN:<base64>`; ECDSA is DER on the backend
 *   side and raw `r ‖ s` on Basil's; RSA is PKCS#1 v1.5 over SHA-256.
 * - Ciphertexts travel as `vault:vN:<base64>`; the envelope carries `N` as
 *   its version, the decoded bytes (the backend's nonce ‖ ciphertext ‖ tag)
 *   as its ciphertext, and an empty nonce. Decrypt refuses a non-empty
 *   nonce. A decrypt transit rejects (400: tag, AAD, version, format) is
 *   DECRYPT_FAILED; any other status (403 from the ACL, 5xx) does not
 *   depend on the envelope and is the usual BACKEND_ERROR/UNAVAILABLE.
 * - Rotate applies the grace window in the backend too:
 *   `min_decryption_version = latest − grace` (verify and decrypt of older
 *   versions are refused there as well). `prune` raises
 *   `min_available_version` through `trim` (after raising the encryption and
 *   decryption minimums it needs).
 * - `create` refuses an existing key (transit's create is an upsert).
 *   `importKeys` wraps each key for the backend's RSA-4096 wrapping key
 *   (RSA-OAEP-SHA256 of an ephemeral AES-256 key ‖ AES-KWP of the PKCS#8);
 *   every item is checked and every path probed before anything is imported,
 *   but imports are sequential, not atomic (contract §4.2).
 * - Plaintexts, AAD and key material are written into request bodies as
 *   bytes and wiped; decrypted plaintexts are read as bytes.
 * @module
 */

import { constants, createCipheriv, createPublicKey, publicEncrypt } from "node:crypto";
import type { AeadEnvelope, ImportItem, TransitEngine, TransitKeyInfo } from "../backend.ts";
import { BasilError, decryptFailed, KEY_NOT_FOUND_MESSAGE } from "../../core/errors.ts";
import type { KeyType } from "../../core/ops.ts";
import { isSigningKeyType, normalizeImport } from "../../crypto/signing.ts";
import { bufferView, rawPrivateToPkcs8 } from "../../crypto/key_formats.ts";
import { type JsonValue, wipeJson } from "../../seal/json_bytes.ts";
import { JsonWriter } from "../../seal/json_writer.ts";
import type { VaultAuth } from "./auth.ts";
import { base64Ascii, decodeBase64 } from "../../core/encoding.ts";
import { derToRaw, rawToDer } from "./ecdsa_sig.ts";
import { rejected, statusError } from "./errors.ts";
import { encodePath, type VaultReply } from "./http.ts";
import { bool, malformed, member, obj, str, strings, textBytes, uint } from "./json.ts";
import { ECDSA, keyTypeOfVault, publicKeyFromVault, vaultKeyType } from "./types.ts";

/** Options for {@linkcode createVaultTransit}. */
export interface VaultTransitOptions {
  readonly auth: VaultAuth;
  readonly mount: string;
  /** `grace-versions`: versions below `latest − grace` are refused by the backend after rotate. */
  readonly graceVersions: number;
}

/** The parsed `GET {m}/keys/{name}`. */
interface KeyDoc {
  readonly type: string;
  readonly latest: number;
  readonly minAvailable: number;
  readonly minDecryption: number;
  readonly minEncryption: number;
  /** Per version: the public key text (empty for AEAD keys). */
  readonly keys: ReadonlyMap<number, string>;
}

const enc = new TextEncoder();

/** Creates the transit engine of one vault backend. */
export function createVaultTransit(o: VaultTransitOptions): TransitEngine {
  const m = encodePath(o.mount);
  const keyPath = (path: string, action?: string) =>
    action === undefined ? `${m}/keys/${encodePath(path)}` : `${m}/${action}/${encodePath(path)}`;

  async function readKey(path: string): Promise<KeyDoc | undefined> {
    const reply = await o.auth.send({ method: "GET", path: keyPath(path) });
    try {
      if (reply.status === 404) return undefined;
      if (reply.status !== 200) throw statusError(`read key ${path}`, reply.status, reply.errors);
      return parseKeyDoc(reply.json);
    } finally {
      wipe(reply.json);
    }
  }

  async function requireKey(path: string, keyType: KeyType): Promise<KeyDoc> {
    const doc = await readKey(path);
    if (doc === undefined) throw notFound(`vault transit key ${path} is absent`);
    checkType(path, doc, keyType);
    return doc;
  }

  /** POSTs `body` (wiped afterwards). */
  async function post(path: string, body: Uint8Array): Promise<VaultReply> {
    try {
      return await o.auth.send({ method: "POST", path, body });
    } finally {
      body.fill(0);
    }
  }

  function publicOf(doc: KeyDoc, path: string, keyType: KeyType, version: number): Uint8Array {
    const text = doc.keys.get(version);
    if (text === undefined || version < doc.minAvailable) {
      throw notFound(`vault transit key ${path} has no version ${version}`);
    }
    if (!isSigningKeyType(keyType)) return new Uint8Array(0);
    return publicKeyFromVault(keyType, text, `data.keys.${version}.public_key`);
  }

  return {
    async info(path: string): Promise<TransitKeyInfo | undefined> {
      const doc = await readKey(path);
      if (doc === undefined) return undefined;
      const keyType = keyTypeOfVault(doc.type);
      if (keyType === undefined) {
        throw new BasilError("INTERNAL", undefined, {
          detail: `vault transit key ${path} has type ${doc.type}, which Basil does not use`,
        });
      }
      return {
        keyType,
        latest: doc.latest,
        minAvailable: Math.max(1, doc.minAvailable, doc.minDecryption),
      };
    },

    async create(path: string, keyType: KeyType) {
      const type = vaultKeyType(keyType);
      if (await readKey(path) !== undefined) throw alreadyExists(path);
      const reply = await post(
        keyPath(path),
        JsonWriter.build((w) => w.raw('{"type":').str(type).raw("}")),
      );
      try {
        if (reply.status !== 200 && reply.status !== 204) {
          throw statusError(`create key ${path}`, reply.status, reply.errors);
        }
        const warnings = strings(member(reply.json, "warnings"), "warnings");
        if (warnings.some((w) => w.includes("already existed"))) throw alreadyExists(path);
      } finally {
        wipe(reply.json);
      }
      const doc = await requireKey(path, keyType);
      return { version: doc.latest, publicKey: publicOf(doc, path, keyType, doc.latest) };
    },

    async importKeys(items: readonly ImportItem[]) {
      const prepared: { item: ImportItem; type: string; pkcs8: Uint8Array }[] = [];
      try {
        const paths = new Set<string>();
        items.forEach((item, n) => {
          const where = items.length > 1 ? `import entry ${n + 1}: ` : "";
          if (!isSigningKeyType(item.keyType)) {
            throw new BasilError(
              "INVALID_REQUEST",
              `${where}${item.keyType} keys cannot be imported`,
            );
          }
          if (paths.has(item.path)) {
            throw new BasilError("INVALID_REQUEST", `${where}the key appears twice`);
          }
          paths.add(item.path);
          let pair;
          try {
            pair = normalizeImport(item.keyType, item.material);
          } catch (e) {
            if (e instanceof BasilError && where !== "") {
              throw new BasilError(e.code, `${where}${e.message}`, { detail: e.detail });
            }
            throw e;
          }
          const stored = pair.privateKey.expose();
          const pkcs8 = stored.length === 32
            ? rawPrivateToPkcs8("ed25519", stored)
            : stored.slice();
          pair.privateKey.wipe();
          prepared.push({ item, type: vaultKeyType(item.keyType), pkcs8 });
        });
        for (const [n, p] of prepared.entries()) {
          if (await readKey(p.item.path) !== undefined) {
            const where = items.length > 1 ? `import entry ${n + 1}: ` : "";
            throw new BasilError("INVALID_REQUEST", `${where}key already exists`, {
              detail: `vault transit key ${p.item.path} already exists`,
            });
          }
        }
        const wrapping = await wrappingKey();
        const out: { version: number; publicKey: Uint8Array }[] = [];
        for (const p of prepared) {
          const blob = wrapForImport(wrapping, p.pkcs8);
          const body = JsonWriter.build((w) => {
            w.raw('{"type":').str(p.type).raw(',"hash_function":"SHA256","ciphertext":');
            const b64 = base64Ascii(blob);
            try {
              w.text(b64);
            } finally {
              b64.fill(0);
              blob.fill(0);
            }
            w.raw("}");
          });
          const reply = await post(`${keyPath(p.item.path)}/import`, body);
          wipe(reply.json);
          if (reply.status !== 200 && reply.status !== 204) {
            throw statusError(`import key ${p.item.path}`, reply.status, reply.errors);
          }
          const doc = await requireKey(p.item.path, p.item.keyType);
          out.push({
            version: doc.latest,
            publicKey: publicOf(doc, p.item.path, p.item.keyType, doc.latest),
          });
        }
        return out;
      } finally {
        for (const p of prepared) p.pkcs8.fill(0);
      }
    },

    async rotate(path: string, keyType: KeyType): Promise<number> {
      await requireKey(path, keyType);
      const reply = await post(`${keyPath(path)}/rotate`, enc.encode("{}"));
      wipe(reply.json);
      if (reply.status !== 200 && reply.status !== 204) {
        throw statusError(`rotate key ${path}`, reply.status, reply.errors);
      }
      const doc = await requireKey(path, keyType);
      const floor = Math.max(1, doc.latest - o.graceVersions);
      if (floor > doc.minDecryption) {
        const cfg = await post(
          `${keyPath(path)}/config`,
          enc.encode(`{"min_decryption_version":${floor}}`),
        );
        wipe(cfg.json);
        if (cfg.status !== 200 && cfg.status !== 204) {
          throw statusError(`config key ${path}`, cfg.status, cfg.errors);
        }
      }
      return doc.latest;
    },

    async publicKey(path: string, keyType: KeyType, version: number): Promise<Uint8Array> {
      const doc = await requireKey(path, keyType);
      return publicOf(doc, path, keyType, version);
    },

    async sign(path: string, keyType: KeyType, message: Uint8Array, version?: number) {
      if (!isSigningKeyType(keyType)) throw notSigning(keyType);
      const reply = await post(keyPath(path, "sign"), signBody(keyType, message, version));
      try {
        if (reply.status === 400 && (await readKey(path)) === undefined) {
          throw notFound(`vault transit key ${path} is absent`);
        }
        if (reply.status !== 200) throw statusError(`sign ${path}`, reply.status, reply.errors);
        const data = obj(member(reply.json, "data"), "data");
        const sig = parseVersioned(
          str(member(data, "signature"), "data.signature"),
          "data.signature",
        );
        if (version !== undefined && sig.version !== version) {
          throw rejected(`vault sign ${path}: signed with v${sig.version}, asked v${version}`);
        }
        const ec = ECDSA[keyType];
        if (ec === undefined) return sig.bytes;
        const raw = derToRaw(sig.bytes, ec.size);
        if (raw === undefined) throw rejected(`vault sign ${path}: signature is not DER ECDSA`);
        return raw;
      } finally {
        wipe(reply.json);
      }
    },

    async verify(path, keyType, message, signature, version) {
      if (!isSigningKeyType(keyType)) throw notSigning(keyType);
      const ec = ECDSA[keyType];
      const sigBytes = ec === undefined ? signature : rawToDer(signature, ec.size);
      if (sigBytes === undefined) return false;
      const reply = await post(
        keyPath(path, "verify"),
        signBody(keyType, message, undefined, versioned(version, sigBytes)),
      );
      try {
        // 400 is transit refusing this signature (malformed, too old, too new).
        if (reply.status === 400) return false;
        if (reply.status !== 200) throw statusError(`verify ${path}`, reply.status, reply.errors);
        return bool(member(obj(member(reply.json, "data"), "data"), "valid"), "data.valid");
      } finally {
        wipe(reply.json);
      }
    },

    async encrypt(path, keyType, plaintext, aad, version): Promise<AeadEnvelope> {
      vaultKeyType(keyType);
      const body = JsonWriter.build((w) => {
        w.raw('{"key_version":').raw(String(version)).raw(',"plaintext":');
        b64Field(w, plaintext);
        if (aad !== undefined && aad.length > 0) {
          w.raw(',"associated_data":');
          b64Field(w, aad);
        }
        w.raw("}");
      });
      const reply = await post(keyPath(path, "encrypt"), body);
      try {
        if (reply.status !== 200) throw statusError(`encrypt ${path}`, reply.status, reply.errors);
        const data = obj(member(reply.json, "data"), "data");
        const ct = parseVersioned(
          str(member(data, "ciphertext"), "data.ciphertext"),
          "data.ciphertext",
        );
        if (ct.version !== version) {
          throw rejected(`vault encrypt ${path}: encrypted with v${ct.version}, asked v${version}`);
        }
        return { version: ct.version, nonce: new Uint8Array(0), ciphertext: ct.bytes };
      } finally {
        wipe(reply.json);
      }
    },

    async decrypt(path, keyType, envelope, aad): Promise<Uint8Array> {
      vaultKeyType(keyType);
      const v = envelope.version;
      if (envelope.nonce.length !== 0) {
        throw decryptFailed("decrypt", "vault envelopes carry no nonce");
      }
      if (!Number.isSafeInteger(v) || v < 1 || v > 0xffffffff) {
        throw decryptFailed("decrypt", "bad version");
      }
      const body = JsonWriter.build((w) => {
        w.raw('{"ciphertext":');
        const ct = versioned(v, envelope.ciphertext);
        try {
          w.text(ct);
        } finally {
          ct.fill(0);
        }
        if (aad !== undefined && aad.length > 0) {
          w.raw(',"associated_data":');
          b64Field(w, aad);
        }
        w.raw("}");
      });
      const reply = await post(keyPath(path, "decrypt"), body);
      try {
        if (reply.status === 400) {
          throw decryptFailed("decrypt", `vault decrypt ${path}: HTTP 400`);
        }
        if (reply.status !== 200) throw statusError(`decrypt ${path}`, reply.status, reply.errors);
        const data = obj(member(reply.json, "data"), "data");
        const plain = decodeBase64(textBytes(member(data, "plaintext"), "data.plaintext"));
        if (plain === undefined) malformed("data.plaintext", "base64");
        return plain;
      } finally {
        wipe(reply.json);
      }
    },

    async prune(path: string, minVersion: number): Promise<void> {
      const doc = await readKey(path);
      if (doc === undefined || minVersion <= doc.minAvailable) return;
      const floor = Math.min(minVersion, doc.latest);
      const cfg = [];
      if (doc.minDecryption < floor) cfg.push(`"min_decryption_version":${floor}`);
      if (doc.minEncryption < floor) cfg.push(`"min_encryption_version":${floor}`);
      if (cfg.length > 0) {
        const r = await post(`${keyPath(path)}/config`, enc.encode(`{${cfg.join(",")}}`));
        wipe(r.json);
        if (r.status !== 200 && r.status !== 204) {
          throw statusError(`config key ${path}`, r.status, r.errors);
        }
      }
      const r = await post(
        `${keyPath(path)}/trim`,
        enc.encode(`{"min_available_version":${floor}}`),
      );
      wipe(r.json);
      if (r.status !== 200 && r.status !== 204) {
        throw statusError(`trim key ${path}`, r.status, r.errors);
      }
    },
  };

  async function wrappingKey(): Promise<string> {
    const reply = await o.auth.send({ method: "GET", path: `${m}/wrapping_key` });
    try {
      if (reply.status !== 200) throw statusError("read wrapping_key", reply.status, reply.errors);
      return str(member(obj(member(reply.json, "data"), "data"), "public_key"), "data.public_key");
    } finally {
      wipe(reply.json);
    }
  }
}

/** `{input, key_version?, signature?, ...algorithm}` for sign and verify. */
function signBody(
  keyType: KeyType,
  message: Uint8Array,
  version: number | undefined,
  signature?: Uint8Array,
): Uint8Array {
  return JsonWriter.build((w) => {
    w.raw('{"input":');
    b64Field(w, message);
    if (version !== undefined) w.raw(`,"key_version":${version}`);
    if (signature !== undefined) {
      w.raw(',"signature":').text(signature);
      signature.fill(0);
    }
    const ec = ECDSA[keyType];
    if (ec !== undefined) w.raw(`,"hash_algorithm":"${ec.hash}","marshaling_algorithm":"asn1"`);
    if (keyType === "rsa-2048") {
      w.raw(',"hash_algorithm":"sha2-256","signature_algorithm":"pkcs1v15"');
    }
    w.raw("}");
  });
}

function b64Field(w: JsonWriter, bytes: Uint8Array): void {
  const b64 = base64Ascii(bytes);
  try {
    w.text(b64);
  } finally {
    b64.fill(0);
  }
}

/** `vault:v<N>:<base64>` as ASCII bytes; the caller wipes them. */
function versioned(version: number, bytes: Uint8Array): Uint8Array {
  const prefix = enc.encode(`vault:v${version}:`);
  const b64 = base64Ascii(bytes);
  const out = new Uint8Array(prefix.length + b64.length);
  out.set(prefix, 0);
  out.set(b64, prefix.length);
  b64.fill(0);
  return out;
}

/** Parses `vault:v<N>:<base64>`; BACKEND_ERROR naming `where` if malformed. */
function parseVersioned(text: string, where: string): { version: number; bytes: Uint8Array } {
  const m = /^vault:v([1-9][0-9]{0,9}):([A-Za-z0-9+/]*={0,2})$/.exec(text);
  const bytes = m ? decodeBase64(enc.encode(m[2]!)) : undefined;
  if (!m || bytes === undefined) malformed(where, '"vault:vN:<base64>"');
  return { version: Number(m[1]), bytes };
}

function parseKeyDoc(json: JsonValue | undefined): KeyDoc {
  const data = obj(member(json, "data"), "data");
  const keysObj = obj(member(data, "keys"), "data.keys");
  const keys = new Map<number, string>();
  for (const [k, v] of keysObj.fields) {
    if (!/^[1-9][0-9]{0,9}$/.test(k)) malformed(`data.keys.${k}`, "a version number key");
    // AEAD keys map versions to creation times; signing keys to {public_key, ...}.
    const pub = member(v, "public_key");
    keys.set(Number(k), pub === undefined ? "" : str(pub, `data.keys.${k}.public_key`));
  }
  const opt = (name: string) => {
    const x = member(data, name);
    return x === undefined ? 0 : uint(x, `data.${name}`);
  };
  return {
    type: str(member(data, "type"), "data.type"),
    latest: uint(member(data, "latest_version"), "data.latest_version"),
    minAvailable: opt("min_available_version"),
    minDecryption: opt("min_decryption_version"),
    minEncryption: opt("min_encryption_version"),
    keys,
  };
}

function checkType(path: string, doc: KeyDoc, keyType: KeyType): void {
  if (doc.type !== vaultKeyType(keyType)) {
    throw new BasilError("INTERNAL", undefined, {
      detail: `vault transit key ${path} is ${doc.type}, the catalog says ${keyType}`,
    });
  }
}

/**
 * RSA-OAEP-SHA256(ephemeral AES-256 key) ‖ AES-KWP(ephemeral key, PKCS#8),
 * the transit BYOK format. The ephemeral key is wiped; the caller wipes the result.
 */
function wrapForImport(wrappingPem: string, pkcs8: Uint8Array): Uint8Array {
  const aes = crypto.getRandomValues(new Uint8Array(32));
  try {
    let pub;
    try {
      pub = createPublicKey(wrappingPem);
    } catch {
      throw rejected("vault wrapping_key is not a PEM public key");
    }
    const wrappedKey = publicEncrypt(
      { key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      bufferView(aes),
    );
    const kwp = createCipheriv(
      "id-aes256-wrap-pad",
      bufferView(aes),
      Buffer.from("A65959A6", "hex"),
    );
    const a = kwp.update(bufferView(pkcs8));
    const b = kwp.final();
    const out = new Uint8Array(wrappedKey.length + a.length + b.length);
    out.set(wrappedKey, 0);
    out.set(a, wrappedKey.length);
    out.set(b, wrappedKey.length + a.length);
    a.fill(0);
    b.fill(0);
    return out;
  } finally {
    aes.fill(0);
  }
}

function wipe(json: JsonValue | undefined): void {
  if (json !== undefined) wipeJson(json);
}

function notFound(detail: string): BasilError {
  return new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, { detail });
}

function alreadyExists(path: string): BasilError {
  return new BasilError("INVALID_REQUEST", "key already exists", {
    detail: `vault transit key ${path} already exists`,
  });
}

function notSigning(keyType: KeyType): BasilError {
  return new BasilError("UNSUPPORTED_ALGORITHM", `${keyType} keys do not sign`);
}
