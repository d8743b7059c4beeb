/**
 * The double's transit engine, after OpenBao's builtin/logical/transit:
 * real keys (node:crypto), versions from 1, `vault:vN:` ciphertexts and
 * signatures, min_decryption/encryption/available_version semantics, the
 * RSA-4096 wrapping key and BYOK import (RSA-OAEP ‖ AES-KWP of a PKCS#8),
 * and the handlers' status codes: a missing key is 400 on sign/verify/
 * decrypt/rotate/config/trim and 404 on read; create is an upsert that
 * warns "key X already existed"; import onto an existing key is 500;
 * encrypt upserts an absent key.
 * @module
 */

import {
  type CipherGCM,
  constants,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  type DecipherGCM,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  sign,
  verify,
} from "node:crypto";
import { bad, Fields, internal, ok, type Reply, unsupported } from "./reply.ts";

type KeyKind =
  | "aes256-gcm96"
  | "chacha20-poly1305"
  | "ed25519"
  | "ecdsa-p256"
  | "ecdsa-p384"
  | "ecdsa-p521"
  | "rsa-2048"
  | "rsa-3072"
  | "rsa-4096";
const KINDS: readonly string[] = [
  "aes256-gcm96",
  "chacha20-poly1305",
  "ed25519",
  "ecdsa-p256",
  "ecdsa-p384",
  "ecdsa-p521",
  "rsa-2048",
  "rsa-3072",
  "rsa-4096",
];
const AEAD = new Set(["aes256-gcm96", "chacha20-poly1305"]);
const HASHES: Record<string, string> = {
  "sha2-224": "sha224",
  "sha2-256": "sha256",
  "sha2-384": "sha384",
  "sha2-512": "sha512",
};
const CURVES: Record<string, string> = {
  "ecdsa-p256": "P-256",
  "ecdsa-p384": "P-384",
  "ecdsa-p521": "P-521",
};

interface Version {
  secret?: Uint8Array;
  key?: KeyObject;
  publicText: string;
  created: Date;
}

interface TransitKey {
  name: string;
  type: KeyKind;
  versions: Map<number, Version>;
  latest: number;
  minDecryption: number;
  minEncryption: number;
  minAvailable: number;
  deletionAllowed: boolean;
  imported: boolean;
}

/** One transit mount. */
export class TransitMount {
  readonly keys = new Map<string, TransitKey>();
  #wrapping: KeyObject | undefined;

  handle(rest: string, method: string, f: Fields): Reply {
    const seg = rest.split("/");
    if (rest === "wrapping_key") return method === "GET" ? this.#wrappingKey() : unsupported();
    if (rest === "keys" && method === "LIST") return ok({ keys: [...this.keys.keys()].sort() });
    const [head, name, action] = seg as [string, string | undefined, string | undefined];
    if (name === undefined) return notFound(rest);
    if (head === "keys") {
      if (action === undefined) {
        if (method === "GET") return this.#read(name);
        if (method === "POST" || method === "PUT") return this.#create(name, f);
        if (method === "DELETE") return this.#delete(name);
        return unsupported();
      }
      if (seg.length !== 3) return notFound(rest);
      if (method !== "POST" && method !== "PUT") return unsupported();
      switch (action) {
        case "rotate":
          return this.#rotate(name);
        case "config":
          return this.#config(name, f);
        case "trim":
          return this.#trim(name, f);
        case "import":
          return this.#import(name, f);
      }
      return notFound(rest);
    }
    if (method !== "POST" && method !== "PUT") return unsupported();
    if (seg.length > 3) return notFound(rest);
    switch (head) {
      case "sign":
        return this.#sign(name, f, action);
      case "verify":
        return this.#verify(name, f, action);
      case "encrypt":
        return this.#encrypt(name, f);
      case "decrypt":
        return this.#decrypt(name, f);
    }
    return notFound(rest);
  }

  #read(name: string): Reply {
    const k = this.keys.get(name);
    return k === undefined ? { kind: "notFound" } : ok(format(k));
  }

  #create(name: string, f: Fields): Reply {
    const type = f.str("type", "aes256-gcm96");
    if (!KINDS.includes(type)) return bad(`unknown key type ${type}`);
    if (f.bool("convergent_encryption") && !f.bool("derived")) {
      return bad("convergent encryption requires derivation to be enabled");
    }
    const existing = this.keys.get(name);
    if (existing) return ok(format(existing), [`key ${name} already existed`]);
    const k: TransitKey = {
      name,
      type: type as KeyKind,
      versions: new Map(),
      latest: 0,
      minDecryption: 1,
      minEncryption: 0,
      minAvailable: 0,
      deletionAllowed: false,
      imported: false,
    };
    addVersion(k, fresh(k.type));
    this.keys.set(name, k);
    return ok(format(k));
  }

  #delete(name: string): Reply {
    const k = this.keys.get(name);
    if (k === undefined) return { kind: "empty" };
    if (!k.deletionAllowed) return bad("deletion is not allowed for this key");
    this.keys.delete(name);
    return { kind: "empty" };
  }

  #rotate(name: string): Reply {
    const k = this.keys.get(name);
    if (k === undefined) return bad("key not found");
    if (k.imported) return bad("imported key rotation is not allowed for this key");
    addVersion(k, fresh(k.type));
    return ok(format(k));
  }

  #config(name: string, f: Fields): Reply {
    const k = this.keys.get(name);
    if (k === undefined) return bad(`no existing key named ${name} could be found`);
    const before = { d: k.minDecryption, e: k.minEncryption, del: k.deletionAllowed };
    const warnings: string[] = [];
    if (f.has("min_decryption_version")) {
      let v = f.int("min_decryption_version");
      if (v < 0) return bad("min decryption version cannot be negative");
      if (v === 0) {
        v = 1;
        warnings.push(
          "since Vault 0.3 (prior to the OpenBao fork), transit key numbering starts at 1; forcing minimum to 1",
        );
      }
      if (v !== k.minDecryption) {
        if (v > k.latest) {
          return bad(
            `cannot set min decryption version of ${v}, latest key version is ${k.latest}`,
          );
        }
        k.minDecryption = v;
      }
    }
    if (f.has("min_encryption_version")) {
      const v = f.int("min_encryption_version");
      if (v < 0) return restore(bad("min encryption version cannot be negative"));
      if (v > k.latest) {
        return restore(
          bad(`cannot set min encryption version of ${v}, latest key version is ${k.latest}`),
        );
      }
      k.minEncryption = v;
    }
    if (k.minEncryption > 0 && k.minEncryption < k.minDecryption) {
      return restore(bad(
        `cannot set min encryption/decryption values; min encryption version of ${k.minEncryption} must be greater than or equal to min decryption version of ${k.minDecryption}`,
      ));
    }
    if (f.has("deletion_allowed")) k.deletionAllowed = f.bool("deletion_allowed");
    const unknown = Object.keys(f.raw).filter((x) =>
      ![
        "min_decryption_version",
        "min_encryption_version",
        "deletion_allowed",
        "exportable",
        "allow_plaintext_backup",
        "auto_rotate_period",
      ].includes(x)
    );
    if (unknown.length > 0) {
      warnings.push(`Endpoint ignored these unrecognized parameters: [${unknown.join(" ")}]`);
    }
    return ok(format(k), warnings);

    function restore(r: Reply): Reply {
      k!.minDecryption = before.d;
      k!.minEncryption = before.e;
      k!.deletionAllowed = before.del;
      return r;
    }
  }

  #trim(name: string, f: Fields): Reply {
    const k = this.keys.get(name);
    if (k === undefined) return bad("invalid key name");
    if (!f.has("min_available_version")) return bad("missing min_available_version");
    const v = f.int("min_available_version");
    if (v < k.minAvailable) return bad("minimum available version cannot be decremented");
    if (k.minEncryption === 0) {
      return bad(
        "minimum available version cannot be set when minimum encryption version is not set",
      );
    }
    if (k.minDecryption === 0) {
      return bad(
        "minimum available version cannot be set when minimum decryption version is not set",
      );
    }
    if (v > k.minEncryption) {
      return bad("minimum available version cannot be greater than minmum encryption version");
    }
    if (v > k.minDecryption) {
      return bad("minimum available version cannot be greater than minimum decryption version");
    }
    if (v < 0) return bad("minimum available version cannot be negative");
    if (v === 0) return bad("minimum available version should be positive");
    k.minAvailable = v;
    for (const ver of [...k.versions.keys()]) if (ver < v) k.versions.delete(ver);
    return ok(format(k));
  }

  #wrappingKey(): Reply {
    this.#wrapping ??= generateKeyPairSync("rsa", { modulusLength: 4096 }).privateKey;
    const pem = createPublicKey(this.#wrapping).export({ type: "spki", format: "pem" }) as string;
    return ok({ public_key: pem });
  }

  #import(name: string, f: Fields): Reply {
    if (f.has("convergent_encryption")) {
      return internal("import cannot be used on keys with convergent encryption enabled");
    }
    const type = f.str("type", "aes256-gcm96").toLowerCase();
    if (!KINDS.includes(type)) return bad(`unknown key type: ${type}`);
    if (this.keys.has(name)) {
      return internal(
        "the import path cannot be used with an existing key; use import-version to rotate an existing imported key",
      );
    }
    const ctB64 = f.str("ciphertext");
    if (ctB64 === "") return internal("either ciphertext or public_key field must be set");
    const hash = f.str("hash_function", "SHA256");
    const oaep: Record<string, string> = {
      SHA1: "sha1",
      SHA224: "sha224",
      SHA256: "sha256",
      SHA384: "sha384",
      SHA512: "sha512",
    };
    if (!(hash in oaep)) return bad(`unsupported hash function: ${hash}`);
    let blob: Uint8Array;
    try {
      blob = b64(ctB64);
    } catch {
      return internal("error decoding ciphertext: illegal base64 data");
    }
    if (blob.length <= 512) return bad("provided ciphertext is too short");
    this.#wrapping ??= generateKeyPairSync("rsa", { modulusLength: 4096 }).privateKey;
    let material: Uint8Array;
    try {
      const aes = privateDecrypt(
        { key: this.#wrapping, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: oaep[hash] },
        blob.subarray(0, 512),
      );
      const d = createDecipheriv("id-aes256-wrap-pad", aes, Buffer.from("A65959A6", "hex"));
      material = new Uint8Array(Buffer.concat([d.update(blob.subarray(512)), d.final()]));
    } catch {
      return internal("error unwrapping key: failed to decrypt or unwrap the ciphertext");
    }
    let v: Version;
    if (AEAD.has(type)) {
      if (material.length !== 32) return internal("invalid key size: expected 32 bytes");
      v = { secret: material, publicText: "", created: new Date() };
    } else {
      let key: KeyObject;
      try {
        key = createPrivateKey({ key: Buffer.from(material), format: "der", type: "pkcs8" });
      } catch {
        return internal("error parsing key: asn1: structure error");
      }
      if (!matches(type as KeyKind, key)) {
        return internal(`key type does not match the imported key: ${type}`);
      }
      v = { key, publicText: publicText(type as KeyKind, key), created: new Date() };
    }
    const k: TransitKey = {
      name,
      type: type as KeyKind,
      versions: new Map(),
      latest: 0,
      minDecryption: 1,
      minEncryption: 0,
      minAvailable: 0,
      deletionAllowed: false,
      imported: true,
    };
    addVersion(k, v);
    this.keys.set(name, k);
    return { kind: "empty" };
  }

  #signingKey(name: string, missing: string): TransitKey | Reply {
    const k = this.keys.get(name);
    if (k === undefined) return bad(missing);
    if (AEAD.has(k.type)) return bad(`key type ${k.type} does not support signing`);
    return k;
  }

  #sign(name: string, f: Fields, urlAlg: string | undefined): Reply {
    const hashName = urlAlg ?? (f.str("hash_algorithm") || f.str("algorithm") || "sha2-256");
    if (!(hashName in HASHES)) return bad(`invalid hash algorithm "${hashName}"`);
    const marshaling = f.str("marshaling_algorithm", "asn1");
    if (marshaling !== "asn1" && marshaling !== "jws") {
      return bad(`invalid marshaling type "${marshaling}"`);
    }
    if (f.bool("prehashed")) return bad("the double does not implement prehashed input");
    const k = this.#signingKey(name, "signing key not found");
    if (!("type" in k)) return k;
    const ver = f.int("key_version") || k.latest;
    if (ver < 0) return bad("requested version for signing is negative");
    if (ver > k.latest) {
      return bad("requested version for signing is higher than the latest key version");
    }
    if (k.minEncryption > 0 && ver < k.minEncryption) {
      return bad("requested version for signing is less than the minimum encryption key version");
    }
    const v = k.versions.get(ver);
    if (v?.key === undefined) return internal("no key found with given version");
    let input: Uint8Array;
    try {
      input = b64(f.str("input"));
    } catch {
      return bad("unable to decode input as base64: illegal base64 data");
    }
    const sigAlg = f.str("signature_algorithm", "pss");
    let sig: Uint8Array;
    if (k.type === "ed25519") sig = sign(null, input, v.key);
    else if (k.type.startsWith("ecdsa")) {
      sig = sign(HASHES[hashName]!, input, {
        key: v.key,
        dsaEncoding: marshaling === "jws" ? "ieee-p1363" : "der",
      });
    } else {
      if (sigAlg !== "pss" && sigAlg !== "pkcs1v15") {
        return bad(`unsupported rsa signature algorithm ${sigAlg}`);
      }
      sig = sign(HASHES[hashName]!, input, {
        key: v.key,
        padding: sigAlg === "pss" ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING,
        ...(sigAlg === "pss" ? { saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN } : {}),
      });
    }
    const text = marshaling === "jws" ? toB64Url(sig) : toB64(sig);
    return ok({ signature: `vault:v${ver}:${text}`, key_version: ver });
  }

  #verify(name: string, f: Fields, urlAlg: string | undefined): Reply {
    if (!f.has("signature") && !f.has("hmac")) {
      return bad("neither a 'signature' nor an 'hmac' were given to verify");
    }
    if (f.has("signature") && f.has("hmac")) return bad("provide one of 'signature' or 'hmac'");
    if (f.has("hmac")) return bad("the double does not implement hmac");
    const hashName = urlAlg ?? (f.str("hash_algorithm") || f.str("algorithm") || "sha2-256");
    if (!(hashName in HASHES)) return bad(`invalid hash algorithm "${hashName}"`);
    const marshaling = f.str("marshaling_algorithm", "asn1");
    if (marshaling !== "asn1" && marshaling !== "jws") {
      return bad(`invalid marshaling type "${marshaling}"`);
    }
    const k = this.#signingKey(name, "signature verification key not found");
    if (!("type" in k)) return k;
    let input: Uint8Array;
    try {
      input = b64(f.str("input"));
    } catch {
      return bad("unable to decode input as base64: illegal base64 data");
    }
    const m = /^vault:v(\d+):(.*)$/s.exec(f.str("signature"));
    if (!f.str("signature").startsWith("vault:")) return bad("invalid signature: no prefix");
    if (!m) return bad("invalid signature: wrong number of fields");
    const ver = Number(m[1]);
    if (ver > k.latest) return bad("invalid signature: version is too new");
    if (k.minDecryption > 0 && ver < k.minDecryption) {
      return bad("ciphertext or signature version is disallowed by policy (too old)");
    }
    const v = k.versions.get(ver);
    if (v?.key === undefined) return internal("no key found with given version");
    let sig: Uint8Array;
    try {
      sig = marshaling === "jws" ? fromB64Url(m[2]!) : b64(m[2]!);
    } catch {
      return bad("invalid base64 signature value");
    }
    const pub = createPublicKey(v.key);
    let valid: boolean;
    try {
      if (k.type === "ed25519") valid = verify(null, input, pub, sig);
      else if (k.type.startsWith("ecdsa")) {
        valid = verify(HASHES[hashName]!, input, {
          key: pub,
          dsaEncoding: marshaling === "jws" ? "ieee-p1363" : "der",
        }, sig);
      } else {
        const sigAlg = f.str("signature_algorithm", "pss");
        valid = verify(HASHES[hashName]!, input, {
          key: pub,
          padding: sigAlg === "pss" ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING,
          ...(sigAlg === "pss" ? { saltLength: constants.RSA_PSS_SALTLEN_AUTO } : {}),
        }, sig);
      }
    } catch {
      if (k.type.startsWith("ecdsa")) return bad("supplied signature is invalid");
      valid = false;
    }
    return ok({ valid });
  }

  #encrypt(name: string, f: Fields): Reply {
    if (!f.has("plaintext")) return bad("missing plaintext to encrypt");
    let k = this.keys.get(name);
    if (k === undefined) {
      const type = f.str("type", "aes256-gcm96");
      if (!KINDS.includes(type)) return bad(`unknown key type ${type}`);
      if (!AEAD.has(type)) return bad(`key type ${type} not supported for this operation`);
      this.#create(name, new Fields({ type }));
      k = this.keys.get(name)!;
    }
    if (!AEAD.has(k.type)) return bad(`message encryption not supported for key type ${k.type}`);
    let plain: Uint8Array;
    let aad: Uint8Array | undefined;
    try {
      plain = b64(f.str("plaintext"));
      aad = f.has("associated_data") ? b64(f.str("associated_data")) : undefined;
    } catch {
      return bad("illegal base64 data at input byte 0");
    }
    const ver = f.int("key_version") || k.latest;
    if (ver < 0) return bad("requested version for encryption is negative");
    if (ver > k.latest) {
      return bad("requested version for encryption is higher than the latest key version");
    }
    if (ver < k.minEncryption) {
      return bad(
        "requested version for encryption is less than the minimum encryption key version",
      );
    }
    const v = k.versions.get(ver);
    if (v?.secret === undefined) return internal("no key found with given version");
    const nonce = crypto.getRandomValues(new Uint8Array(12));
    const c = aeadCipher(k.type, v.secret, nonce);
    if (aad !== undefined && aad.length > 0) c.setAAD(aad, { plaintextLength: plain.length });
    const ct = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
    const out = new Uint8Array(12 + ct.length);
    out.set(nonce, 0);
    out.set(ct, 12);
    return ok({ ciphertext: `vault:v${ver}:${toB64(out)}`, key_version: ver });
  }

  #decrypt(name: string, f: Fields): Reply {
    const k = this.keys.get(name);
    if (k === undefined) return bad("encryption key not found");
    if (!AEAD.has(k.type)) return bad(`message decryption not supported for key type ${k.type}`);
    const text = f.str("ciphertext");
    if (text === "") return bad("missing ciphertext to decrypt");
    if (!text.startsWith("vault:")) return bad("invalid ciphertext: no prefix");
    const m = /^vault:v([^:]*):(.*)$/s.exec(text);
    if (!m) return bad("invalid ciphertext: wrong number of fields");
    if (!/^\d+$/.test(m[1]!)) return bad("invalid ciphertext: version number could not be decoded");
    const ver = Math.max(1, Number(m[1]));
    if (ver > k.latest) return bad("invalid ciphertext: version is too new");
    if (k.minDecryption > 0 && ver < k.minDecryption) {
      return bad("ciphertext or signature version is disallowed by policy (too old)");
    }
    let blob: Uint8Array;
    let aad: Uint8Array | undefined;
    try {
      blob = b64(m[2]!);
      aad = f.has("associated_data") ? b64(f.str("associated_data")) : undefined;
    } catch {
      return bad("invalid ciphertext: could not decode base64");
    }
    const v = k.versions.get(ver);
    if (v?.secret === undefined) return internal("no key found with given version");
    if (blob.length < 12 + 16) return bad("invalid ciphertext length");
    try {
      const d = aeadDecipher(k.type, v.secret, blob.subarray(0, 12));
      d.setAuthTag(blob.subarray(blob.length - 16));
      if (aad !== undefined && aad.length > 0) d.setAAD(aad, { plaintextLength: blob.length - 28 });
      const plain = Buffer.concat([d.update(blob.subarray(12, blob.length - 16)), d.final()]);
      return ok({ plaintext: toB64(plain) });
    } catch {
      return bad("cipher: message authentication failed");
    }
  }
}

function notFound(rest: string): Reply {
  return {
    kind: "error",
    status: 404,
    errors: [`no handler for route "transit/${rest}". route entry not found.`],
  };
}

function addVersion(k: TransitKey, v: Version): void {
  k.latest++;
  k.versions.set(k.latest, v);
}

function fresh(type: KeyKind): Version {
  const created = new Date();
  if (AEAD.has(type)) {
    return { secret: crypto.getRandomValues(new Uint8Array(32)), publicText: "", created };
  }
  const key = type === "ed25519"
    ? generateKeyPairSync("ed25519").privateKey
    : type.startsWith("ecdsa")
    ? generateKeyPairSync("ec", { namedCurve: CURVES[type]! }).privateKey
    : generateKeyPairSync("rsa", { modulusLength: Number(type.slice(4)) }).privateKey;
  return { key, publicText: publicText(type, key), created };
}

function publicText(type: KeyKind, key: KeyObject): string {
  const pub = createPublicKey(key);
  if (type === "ed25519") {
    const der = pub.export({ type: "spki", format: "der" });
    return toB64(der.subarray(der.length - 32));
  }
  return pub.export({ type: "spki", format: "pem" }) as string;
}

function matches(type: KeyKind, key: KeyObject): boolean {
  if (type === "ed25519") return key.asymmetricKeyType === "ed25519";
  if (type.startsWith("ecdsa")) {
    const want = {
      "ecdsa-p256": "prime256v1",
      "ecdsa-p384": "secp384r1",
      "ecdsa-p521": "secp521r1",
    }[type as "ecdsa-p256"];
    return key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === want;
  }
  return key.asymmetricKeyType === "rsa" &&
    key.asymmetricKeyDetails?.modulusLength === Number(type.slice(4));
}

function format(k: TransitKey): Record<string, unknown> {
  const aead = AEAD.has(k.type);
  const keys: Record<string, unknown> = {};
  for (const [ver, v] of k.versions) {
    keys[String(ver)] = aead ? Math.floor(v.created.getTime() / 1000) : {
      name: k.type === "ed25519" ? "ed25519" : k.type.startsWith("ecdsa") ? CURVES[k.type] : k.type,
      public_key: v.publicText,
      creation_time: v.created.toISOString(),
    };
  }
  const out: Record<string, unknown> = {
    name: k.name,
    type: k.type,
    derived: false,
    deletion_allowed: k.deletionAllowed,
    min_available_version: k.minAvailable,
    min_decryption_version: k.minDecryption,
    min_encryption_version: k.minEncryption,
    latest_version: k.latest,
    exportable: false,
    allow_plaintext_backup: false,
    supports_encryption: aead || k.type.startsWith("rsa"),
    supports_decryption: aead || k.type.startsWith("rsa"),
    supports_signing: !aead,
    supports_derivation: aead || k.type === "ed25519",
    auto_rotate_period: 0,
    imported_key: k.imported,
    soft_deleted: false,
    keys,
  };
  if (k.imported) out.imported_key_allow_rotation = false;
  return out;
}

/** Standard base64 decode as Go's StdEncoding (padding required). */
export function b64(s: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) {
    throw new SyntaxError("illegal base64 data");
  }
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

/** Standard padded base64. */
export function toB64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function toB64Url(bytes: Uint8Array): string {
  return toB64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromB64Url(s: string): Uint8Array {
  const b = s.replace(/-/g, "+").replace(/_/g, "/");
  return b64(b + "=".repeat((4 - b.length % 4) % 4));
}

function aeadCipher(type: KeyKind, key: Uint8Array, nonce: Uint8Array): CipherGCM {
  return type === "aes256-gcm96"
    ? createCipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 })
    : createCipheriv("chacha20-poly1305", key, nonce, {
      authTagLength: 16,
    }) as unknown as CipherGCM;
}

function aeadDecipher(type: KeyKind, key: Uint8Array, nonce: Uint8Array): DecipherGCM {
  return type === "aes256-gcm96"
    ? createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 })
    : createDecipheriv("chacha20-poly1305", key, nonce, {
      authTagLength: 16,
    }) as unknown as DecipherGCM;
}
