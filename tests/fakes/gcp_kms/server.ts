/**
 * A Cloud KMS double: a `google.cloud.kms.v1.KeyManagementService` gRPC
 * server (grpc-js, plaintext, 127.0.0.1) built from the protos shipped in
 * `@google-cloud/kms`, with real crypto: Ed25519 (node:crypto), ECDSA
 * P-256/P-384 over a caller-supplied digest (@noble/curves, DER signatures
 * as Cloud KMS returns them), and AES-256-GCM for GOOGLE_SYMMETRIC_ENCRYPTION
 * (the ciphertext names its version, AAD bound).
 *
 * It implements the RPCs Basil uses (CreateCryptoKey, GetCryptoKey,
 * CreateCryptoKeyVersion, GetCryptoKeyVersion, UpdateCryptoKeyPrimaryVersion,
 * GetPublicKey, AsymmetricSign, Encrypt, Decrypt) with Cloud KMS's
 * documented checks and statuses: NOT_FOUND, ALREADY_EXISTS,
 * INVALID_ARGUMENT for a bad argument, a checksum that does not match its
 * data, or a ciphertext that does not decrypt, FAILED_PRECONDITION for a
 * version that is not ENABLED. Request `*_crc32c` fields are checked and
 * confirmed with `verified_*_crc32c`; answers carry the CRC32C of their
 * bytes. `faults` corrupts answers for tests. Every other RPC is
 * UNIMPLEMENTED. Its fidelity is checked with the official client in
 * tests/e2e/gcp_kms_fidelity_test.ts.
 */

import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign as nodeSign,
} from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { p256, p384 } from "@noble/curves/nist.js";
import { crc32c } from "../../../lib/backends/gcp_kms/crc32c.ts";
import { loadKmsService } from "./protos.ts";

type Algorithm =
  | "EC_SIGN_ED25519"
  | "EC_SIGN_P256_SHA256"
  | "EC_SIGN_P384_SHA384"
  | "GOOGLE_SYMMETRIC_ENCRYPTION";

const PURPOSE: Record<Algorithm, "ASYMMETRIC_SIGN" | "ENCRYPT_DECRYPT"> = {
  EC_SIGN_ED25519: "ASYMMETRIC_SIGN",
  EC_SIGN_P256_SHA256: "ASYMMETRIC_SIGN",
  EC_SIGN_P384_SHA384: "ASYMMETRIC_SIGN",
  GOOGLE_SYMMETRIC_ENCRYPTION: "ENCRYPT_DECRYPT",
};

interface Version {
  readonly n: number;
  readonly algorithm: Algorithm;
  state: "PENDING_GENERATION" | "ENABLED" | "DISABLED" | "DESTROYED";
  /** Ed25519 private key. */
  readonly edKey?: KeyObject;
  /** ECDSA secret scalar. */
  readonly ecSecret?: Uint8Array;
  /** AES-256 key. */
  readonly aesKey?: Uint8Array;
  readonly pem?: string;
}

interface Key {
  readonly name: string;
  readonly purpose: "ASYMMETRIC_SIGN" | "ENCRYPT_DECRYPT";
  readonly algorithm: Algorithm;
  readonly versions: Map<number, Version>;
  primary: number | undefined;
  next: number;
}

/** Ways to make the double lie, for tests of the client's checks. */
export interface GcpKmsFaults {
  /** Answer CRC32C fields are off by one. */
  badResponseCrc: boolean;
  /** `verified_*_crc32c` are false although the checksums matched. */
  dropVerified: boolean;
  /** Answers name another resource than the one asked for. */
  wrongName: boolean;
  /** New asymmetric versions stay PENDING_GENERATION for this many GetCryptoKeyVersion calls. */
  pendingReads: number;
}

/** A running double. */
export interface GcpKmsDouble {
  /** `127.0.0.1:PORT`. */
  readonly hostPort: string;
  /** `http://127.0.0.1:PORT` (the catalog `addr` for the backend). */
  readonly addr: string;
  readonly port: number;
  /** `Method resource` per call, in order. */
  readonly calls: string[];
  /** `x-goog-request-params` per call, in order. */
  readonly routing: string[];
  readonly faults: GcpKmsFaults;
  /** Disables a version (tests of FAILED_PRECONDITION). */
  setState(versionName: string, state: Version["state"]): void;
  close(): Promise<void>;
}

type Req = Record<string, unknown>;
type Reply = (err: grpc.ServiceError | null, value?: unknown) => void;

class Status extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

const ID = /^[a-zA-Z0-9_-]{1,63}$/;
const MAX_BYTES = 65_536;
const CT_MAGIC = new TextEncoder().encode("GKD1");

/** Starts the double with the given key rings (`projects/p/locations/l/keyRings/r`). */
export async function startGcpKmsDouble(rings: readonly string[]): Promise<GcpKmsDouble> {
  const ringSet = new Set(rings);
  const keys = new Map<string, Key>();
  const calls: string[] = [];
  const routing: string[] = [];
  const faults: GcpKmsFaults = {
    badResponseCrc: false,
    dropVerified: false,
    wrongName: false,
    pendingReads: 0,
  };
  const pendingLeft = new Map<string, number>();

  const outCrc = async (b: Uint8Array) => ({
    value: String(((await crc32c(b)) ^ (faults.badResponseCrc ? 1 : 0)) >>> 0),
  });
  const verifiedFlag = (checked: boolean) => checked && !faults.dropVerified;
  const nameOut = (name: string) => faults.wrongName ? `${name}x` : name;

  /** Checks an optional request checksum; returns whether one was given. */
  async function inCrc(field: string, data: Uint8Array, crc: unknown): Promise<boolean> {
    const v = (crc as { value?: string } | null | undefined)?.value;
    if (v === undefined || v === null) return false;
    if (Number(v) !== await crc32c(data)) {
      throw new Status(
        grpc.status.INVALID_ARGUMENT,
        `The checksum in field ${field}_crc32c did not match the data in field ${field}.`,
      );
    }
    return true;
  }

  function bytes(v: unknown): Uint8Array {
    return v instanceof Uint8Array ? v : new Uint8Array();
  }

  function keyOf(name: unknown): Key {
    const k = keys.get(String(name ?? ""));
    if (!k) throw new Status(grpc.status.NOT_FOUND, `${String(name)} not found.`);
    return k;
  }

  function parseVersionName(name: unknown): { key: Key; version: Version; name: string } {
    const s = String(name ?? "");
    const m = /^(.*)\/cryptoKeyVersions\/(\d+)$/.exec(s);
    if (!m) throw new Status(grpc.status.INVALID_ARGUMENT, `Resource name [${s}] is invalid.`);
    const key = keyOf(m[1]);
    const version = key.versions.get(Number(m[2]));
    if (!version) throw new Status(grpc.status.NOT_FOUND, `${s} not found.`);
    return { key, version, name: s };
  }

  function enabled(name: string, v: Version): void {
    if (v.state !== "ENABLED") {
      throw new Status(
        grpc.status.FAILED_PRECONDITION,
        `${name} is not enabled, current state is: ${v.state}.`,
      );
    }
  }

  function newVersion(key: { name: string; algorithm: Algorithm }, n: number): Version {
    const name = `${key.name}/cryptoKeyVersions/${n}`;
    const state = PURPOSE[key.algorithm] === "ASYMMETRIC_SIGN" && faults.pendingReads > 0
      ? "PENDING_GENERATION"
      : "ENABLED";
    if (state === "PENDING_GENERATION") pendingLeft.set(name, faults.pendingReads);
    switch (key.algorithm) {
      case "EC_SIGN_ED25519": {
        const { privateKey, publicKey } = generateKeyPairSync("ed25519");
        const pem = publicKey.export({ type: "spki", format: "pem" }) as string;
        return { n, algorithm: key.algorithm, state, edKey: privateKey, pem };
      }
      case "EC_SIGN_P256_SHA256":
      case "EC_SIGN_P384_SHA384": {
        const curve = key.algorithm === "EC_SIGN_P256_SHA256" ? p256 : p384;
        const ecSecret = curve.utils.randomSecretKey();
        const point = curve.getPublicKey(ecSecret, false);
        const half = (point.length - 1) / 2;
        const b64u = (b: Uint8Array) => Buffer.from(b).toString("base64url");
        const pem = createPublicKey({
          key: {
            kty: "EC",
            crv: key.algorithm === "EC_SIGN_P256_SHA256" ? "P-256" : "P-384",
            x: b64u(point.subarray(1, 1 + half)),
            y: b64u(point.subarray(1 + half)),
          },
          format: "jwk",
        }).export({ type: "spki", format: "pem" }) as string;
        return { n, algorithm: key.algorithm, state, ecSecret, pem };
      }
      case "GOOGLE_SYMMETRIC_ENCRYPTION":
        return { n, algorithm: key.algorithm, state, aesKey: new Uint8Array(randomBytes(32)) };
    }
  }

  function versionMsg(key: Key, v: Version) {
    return {
      name: `${key.name}/cryptoKeyVersions/${v.n}`,
      state: v.state,
      protectionLevel: "SOFTWARE",
      algorithm: v.algorithm,
    };
  }

  function keyMsg(key: Key) {
    const primary = key.primary === undefined ? undefined : key.versions.get(key.primary);
    return {
      name: key.name,
      purpose: key.purpose,
      versionTemplate: { algorithm: key.algorithm, protectionLevel: "SOFTWARE" },
      ...(primary ? { primary: versionMsg(key, primary) } : {}),
    };
  }

  const handlers: Record<string, (req: Req) => Promise<unknown> | unknown> = {
    CreateCryptoKey(req) {
      const parent = String(req.parent ?? "");
      if (!ringSet.has(parent)) throw new Status(grpc.status.NOT_FOUND, `${parent} not found.`);
      const id = String(req.cryptoKeyId ?? "");
      if (!ID.test(id)) {
        throw new Status(
          grpc.status.INVALID_ARGUMENT,
          "crypto_key_id must match [a-zA-Z0-9_-]{1,63}.",
        );
      }
      const name = `${parent}/cryptoKeys/${id}`;
      if (keys.has(name)) throw new Status(grpc.status.ALREADY_EXISTS, `${name} already exists.`);
      const ck = (req.cryptoKey ?? {}) as Req;
      const purpose = String(ck.purpose ?? "");
      const tmpl = (ck.versionTemplate ?? {}) as Req;
      let algorithm = String(tmpl.algorithm ?? "") as Algorithm;
      if (purpose === "ENCRYPT_DECRYPT" && (algorithm as string) === "") {
        algorithm = "GOOGLE_SYMMETRIC_ENCRYPTION";
      }
      if (!(algorithm in PURPOSE)) {
        throw new Status(
          grpc.status.INVALID_ARGUMENT,
          "crypto_key.version_template.algorithm is unsupported.",
        );
      }
      if (PURPOSE[algorithm] !== purpose) {
        throw new Status(
          grpc.status.INVALID_ARGUMENT,
          `Algorithm ${algorithm} is not compatible with purpose ${purpose}.`,
        );
      }
      const key: Key = {
        name,
        purpose: PURPOSE[algorithm],
        algorithm,
        versions: new Map(),
        primary: undefined,
        next: 1,
      };
      if (req.skipInitialVersionCreation !== true) {
        key.versions.set(1, newVersion(key, 1));
        key.next = 2;
        if (key.purpose === "ENCRYPT_DECRYPT") key.primary = 1;
      }
      keys.set(name, key);
      return keyMsg(key);
    },

    GetCryptoKey(req) {
      return keyMsg(keyOf(req.name));
    },

    CreateCryptoKeyVersion(req) {
      const key = keyOf(req.parent);
      const n = key.next++;
      const v = newVersion(key, n);
      key.versions.set(n, v);
      return versionMsg(key, v);
    },

    GetCryptoKeyVersion(req) {
      const { key, version, name } = parseVersionName(req.name);
      const left = pendingLeft.get(name);
      if (left !== undefined) {
        if (left <= 1) {
          pendingLeft.delete(name);
          version.state = "ENABLED";
        } else pendingLeft.set(name, left - 1);
        return { ...versionMsg(key, version), state: "PENDING_GENERATION" };
      }
      return versionMsg(key, version);
    },

    UpdateCryptoKeyPrimaryVersion(req) {
      const key = keyOf(req.name);
      if (key.purpose !== "ENCRYPT_DECRYPT") {
        throw new Status(
          grpc.status.FAILED_PRECONDITION,
          "Only ENCRYPT_DECRYPT keys have a primary version.",
        );
      }
      const n = Number(req.cryptoKeyVersionId);
      const v = key.versions.get(n);
      if (!v) {
        throw new Status(
          grpc.status.NOT_FOUND,
          `${key.name}/cryptoKeyVersions/${req.cryptoKeyVersionId} not found.`,
        );
      }
      enabled(`${key.name}/cryptoKeyVersions/${n}`, v);
      key.primary = n;
      return keyMsg(key);
    },

    async GetPublicKey(req) {
      const { key, version, name } = parseVersionName(req.name);
      if (key.purpose !== "ASYMMETRIC_SIGN") {
        throw new Status(grpc.status.FAILED_PRECONDITION, `${name} is not an asymmetric key.`);
      }
      enabled(name, version);
      const pem = version.pem!;
      return {
        pem,
        algorithm: version.algorithm,
        pemCrc32c: await outCrc(new TextEncoder().encode(pem)),
        name: nameOut(name),
        protectionLevel: "SOFTWARE",
      };
    },

    async AsymmetricSign(req) {
      const { key, version, name } = parseVersionName(req.name);
      if (key.purpose !== "ASYMMETRIC_SIGN") {
        throw new Status(
          grpc.status.FAILED_PRECONDITION,
          `${name} is not an asymmetric signing key.`,
        );
      }
      enabled(name, version);
      const data = bytes(req.data);
      const digestMsg = (req.digest ?? undefined) as Record<string, unknown> | undefined;
      let signature: Uint8Array;
      let verifiedData = false;
      let verifiedDigest = false;
      if (version.algorithm === "EC_SIGN_ED25519") {
        if (digestMsg !== undefined && digestMsg !== null) {
          throw new Status(
            grpc.status.INVALID_ARGUMENT,
            "EC_SIGN_ED25519 signs data, not a digest.",
          );
        }
        verifiedData = await inCrc("data", data, req.dataCrc32c);
        signature = new Uint8Array(nodeSign(null, data, version.edKey!));
      } else {
        const field = version.algorithm === "EC_SIGN_P256_SHA256" ? "sha256" : "sha384";
        const digest = bytes(digestMsg?.[field]);
        if (data.length > 0 || digest.length !== (field === "sha256" ? 32 : 48)) {
          throw new Status(
            grpc.status.INVALID_ARGUMENT,
            `${version.algorithm} needs digest.${field}.`,
          );
        }
        verifiedDigest = await inCrc("digest", digest, req.digestCrc32c);
        const curve = field === "sha256" ? p256 : p384;
        signature = curve.sign(digest, version.ecSecret!, { prehash: false, format: "der" });
      }
      return {
        signature: Buffer.from(signature),
        signatureCrc32c: await outCrc(signature),
        verifiedDigestCrc32c: verifiedFlag(verifiedDigest),
        verifiedDataCrc32c: verifiedFlag(verifiedData),
        name: nameOut(name),
        protectionLevel: "SOFTWARE",
      };
    },

    async Encrypt(req) {
      const reqName = String(req.name ?? "");
      let key: Key;
      let n: number | undefined;
      if (reqName.includes("/cryptoKeyVersions/")) {
        const p = parseVersionName(reqName);
        key = p.key;
        n = p.version.n;
      } else {
        key = keyOf(reqName);
        n = key.primary;
      }
      if (key.purpose !== "ENCRYPT_DECRYPT") {
        throw new Status(
          grpc.status.FAILED_PRECONDITION,
          `${key.name} is not an ENCRYPT_DECRYPT key.`,
        );
      }
      const v = n === undefined ? undefined : key.versions.get(n);
      if (!v) {
        throw new Status(grpc.status.FAILED_PRECONDITION, `${key.name} has no primary version.`);
      }
      const vName = `${key.name}/cryptoKeyVersions/${v.n}`;
      enabled(vName, v);
      const plaintext = bytes(req.plaintext);
      const aad = bytes(req.additionalAuthenticatedData);
      if (plaintext.length > MAX_BYTES || aad.length > MAX_BYTES) {
        throw new Status(grpc.status.INVALID_ARGUMENT, "The request exceeds 64 KiB.");
      }
      const vp = await inCrc("plaintext", plaintext, req.plaintextCrc32c);
      const va = await inCrc(
        "additional_authenticated_data",
        aad,
        req.additionalAuthenticatedDataCrc32c,
      );
      const nonce = randomBytes(12);
      const header = new Uint8Array([...CT_MAGIC, 0, 0, 0, 0]);
      new DataView(header.buffer).setUint32(4, v.n);
      const c = createCipheriv("aes-256-gcm", v.aesKey!, nonce);
      c.setAAD(Buffer.concat([header, aad]));
      const ct = Buffer.concat([header, nonce, c.update(plaintext), c.final(), c.getAuthTag()]);
      return {
        name: nameOut(vName),
        ciphertext: ct,
        ciphertextCrc32c: await outCrc(ct),
        verifiedPlaintextCrc32c: verifiedFlag(vp),
        verifiedAdditionalAuthenticatedDataCrc32c: verifiedFlag(va),
        protectionLevel: "SOFTWARE",
      };
    },

    async Decrypt(req) {
      const key = keyOf(req.name);
      if (key.purpose !== "ENCRYPT_DECRYPT") {
        throw new Status(
          grpc.status.FAILED_PRECONDITION,
          `${key.name} is not an ENCRYPT_DECRYPT key.`,
        );
      }
      const ct = bytes(req.ciphertext);
      const aad = bytes(req.additionalAuthenticatedData);
      await inCrc("ciphertext", ct, req.ciphertextCrc32c);
      await inCrc("additional_authenticated_data", aad, req.additionalAuthenticatedDataCrc32c);
      const failed = () =>
        new Status(
          grpc.status.INVALID_ARGUMENT,
          "Decryption failed: verify that 'name' refers to the correct CryptoKey.",
        );
      if (ct.length < 8 + 12 + 16 || !CT_MAGIC.every((b, i) => ct[i] === b)) throw failed();
      const n = new DataView(ct.buffer, ct.byteOffset).getUint32(4);
      const v = key.versions.get(n);
      if (!v) throw failed();
      enabled(`${key.name}/cryptoKeyVersions/${n}`, v);
      let plaintext: Buffer;
      try {
        const d = createDecipheriv("aes-256-gcm", v.aesKey!, ct.subarray(8, 20));
        d.setAAD(Buffer.concat([ct.subarray(0, 8), aad]));
        d.setAuthTag(ct.subarray(ct.length - 16));
        plaintext = Buffer.concat([d.update(ct.subarray(20, ct.length - 16)), d.final()]);
      } catch {
        throw failed();
      }
      return {
        plaintext,
        plaintextCrc32c: await outCrc(plaintext),
        usedPrimary: n === key.primary,
        protectionLevel: "SOFTWARE",
      };
    },
  };

  const impl: grpc.UntypedServiceImplementation = {};
  for (const [method, fn] of Object.entries(handlers)) {
    impl[method] = (call: grpc.ServerUnaryCall<Req, unknown>, reply: Reply) => {
      const req = call.request;
      calls.push(`${method} ${String(req.name ?? req.parent ?? "")}`);
      routing.push(String(call.metadata.get("x-goog-request-params")[0] ?? ""));
      Promise.resolve().then(() => fn(req)).then(
        (out) => reply(null, out),
        (e) => {
          const code = e instanceof Status ? e.code : grpc.status.INTERNAL;
          const err = Object.assign(new Error(e instanceof Error ? e.message : "error"), {
            code,
            details: e instanceof Error ? e.message : "error",
            metadata: new grpc.Metadata(),
          });
          reply(err);
        },
      );
    };
  }

  const server = new grpc.Server();
  server.addService(loadKmsService(), impl);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (e, p) => e ? rej(e) : res(p),
    )
  );
  return {
    hostPort: `127.0.0.1:${port}`,
    addr: `http://127.0.0.1:${port}`,
    port,
    calls,
    routing,
    faults,
    setState(versionName, state) {
      parseVersionName(versionName).version.state = state;
    },
    close: () =>
      new Promise<void>((res) => {
        server.tryShutdown(() => res());
      }),
  };
}

/** `deno run -A tests/fakes/gcp_kms/server.ts RING…`: serves until killed, prints the address. */
if (import.meta.main) {
  const d = await startGcpKmsDouble(Deno.args);
  // deno-lint-ignore no-console
  console.log(d.addr);
}
