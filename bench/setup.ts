/**
 * What the benchmarks call, and the broker built in process.
 *
 * - GetSecret suite: one value key with a 32-byte value, granted to the
 *   calling uid, and the wire bytes of its request. The key name is padded
 *   so that the GetSecret request and response and the echo payload are all
 *   36 bytes on the wire.
 * - Tier 2 suite: three transit keys on the embedded keystore (Ed25519,
 *   ECDSA P-256, AES-256-GCM), created by the agent's reconcile, and the
 *   Sign / Encrypt requests with the response size each one must have.
 *
 * - Transport suite: the GetSecret value key and the Ed25519 signing key on
 *   one keystore, for the agent and for the grpc-js path of
 *   bench/grpcjs_broker.ts.
 * - Vault suite: the same two keys on a backend of kind `vault` (KV v2 and
 *   transit), with the same policy.
 *
 * The in-process broker (real catalog, policy, keystore file, audit file)
 * times "C": what an operation does besides transport.
 * @module
 */

import { create, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { Buffer } from "node:buffer";
import { openAuditFile } from "../lib/audit/sink.ts";
import type { AuditSink } from "../lib/audit/sink.ts";
import { openKeystoreBackend } from "../lib/backends/keystore/mod.ts";
import type { KeystoreBackend } from "../lib/backends/keystore/mod.ts";
import type { BrokerDeps } from "../lib/broker/deps.ts";
import { EventBus } from "../lib/broker/events.ts";
import { GenerationHolder } from "../lib/broker/state.ts";
import { loadCatalog } from "../lib/catalog/load.ts";
import { jsonLogger } from "../lib/core/log.ts";
import type { Logger } from "../lib/core/log.ts";
import { SecretBytes } from "../lib/core/secret.ts";
import { readHostUnixNames } from "../lib/core/unix_names.ts";
import { loadPolicy } from "../lib/policy/load.ts";
import type { PeerIdentity } from "../lib/policy/pdp.ts";
import { aeadService } from "../lib/service/aead_service.ts";
import { secretService } from "../lib/service/secret_service.ts";
import { signingService } from "../lib/service/signing_service.ts";
import type { ServiceBinding } from "../lib/service/types.ts";
import { methodsOf } from "../lib/transport/grpc.ts";
import { NO_MESSAGES } from "../lib/transport/grpc_call.ts";
import type { GrpcCall } from "../lib/transport/grpc_call.ts";
import {
  AeadAlgorithm,
  EncryptRequestSchema,
  EncryptResponseSchema,
  GetSecretRequestSchema,
  SigningAlgorithm,
  SignRequestSchema,
  SignResponseSchema,
} from "../lib/wire/basil/broker/v1/broker_pb.ts";
import { protoBytes } from "./payload.ts";

/** 34 characters, so the request is 2 + 34 = 36 bytes. */
export const BENCH_KEY = "bench.value_" + "0".repeat(22);
/** The value length: response = 2 + 32 + 2 (version varint) = 36 bytes. */
export const VALUE_BYTES = 32;
export const GET_PATH = "/basil.broker.v1.SecretService/GetSecret";
export const ECHO_PATH = "/bench.Echo/Unary";

/** The GetSecret request bytes. */
export function getSecretRequest(): Uint8Array {
  return toBinary(GetSecretRequestSchema, create(GetSecretRequestSchema, { secretId: BENCH_KEY }));
}

/** An echo payload of `n` bytes that is a valid protobuf `Msg{bytes payload = 1}`. */
export function echoPayload(n: number): Uint8Array {
  return protoBytes(n);
}

/** Catalog JSON for the bench key on the embedded keystore at `db`. */
export function benchCatalog(db: string): unknown {
  return {
    schemaVersion: 1,
    backends: {
      db: { kind: "keystore", addr: db, engines: ["kv2"], mintKeyTypes: [] },
    },
    keys: {
      [BENCH_KEY]: {
        class: "value",
        backend: "db",
        path: "bench/value",
        writable: false,
        missing: "generate",
        generate: { format: "ascii-printable", bytes: VALUE_BYTES },
        description: "GetSecret benchmark value (32 bytes)",
      },
    },
  };
}

/** Policy JSON granting `uid` get on `bench.*`. */
export function benchPolicy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { bench: { anyOf: [{ kind: "unix", uid }] } },
    roles: { reader: ["get"] },
    rules: [{ id: "bench-get", subjects: ["bench"], action: ["role:reader"], target: ["bench.*"] }],
  };
}

// ------------------------------------------------------------------ Tier 2

export const SIGN_PATH = "/basil.broker.v1.SigningService/Sign";
export const ENCRYPT_PATH = "/basil.broker.v1.AeadService/Encrypt";

/** Message size for Sign and plaintext size for Encrypt. */
export const SIGN_MESSAGE_BYTES = 32;
export const ENCRYPT_PLAINTEXT_BYTES = 1024;

/** The Tier 2 operations measured. */
export type Tier2OpName = "sign-ed25519" | "sign-p256" | "encrypt-aes-1k";

/** One Tier 2 operation: its key, its request bytes and its response size. */
export interface Tier2Op {
  readonly name: Tier2OpName;
  /** Human label for tables. */
  readonly label: string;
  /** The latency goal of guides/performance.md §4 it is judged by. */
  readonly goal: "R1" | "R2" | "R3";
  readonly keyId: string;
  /** Catalog path on the keystore's transit engine. */
  readonly path: string;
  readonly keyType: "ed25519" | "ecdsa-p256" | "aes-256-gcm";
  /** gRPC method path. */
  readonly rpc: string;
  /** Handler local name in the service binding. */
  readonly method: "sign" | "encrypt";
  /** The library path lib/crypto takes for this key type (module docs). */
  readonly impl: string;
  /** Whether that path runs off the JS thread (then C at 8 in flight feeds R6). */
  readonly offThread: boolean;
}

export const TIER2_OPS: readonly Tier2Op[] = [
  {
    name: "sign-ed25519",
    label: "Sign Ed25519, 32 B",
    goal: "R1",
    keyId: "bench.sig.ed25519",
    path: "bench/sig-ed25519",
    keyType: "ed25519",
    rpc: SIGN_PATH,
    method: "sign",
    impl: "node:crypto sign (sync)",
    offThread: false,
  },
  {
    name: "sign-p256",
    label: "Sign ECDSA P-256, 32 B",
    goal: "R2",
    keyId: "bench.sig.p256",
    path: "bench/sig-p256",
    keyType: "ecdsa-p256",
    rpc: SIGN_PATH,
    method: "sign",
    impl: "@noble/curves p256 (sync, pure JS)",
    offThread: false,
  },
  {
    name: "encrypt-aes-1k",
    label: "Encrypt AES-256-GCM, 1 KiB",
    goal: "R3",
    keyId: "bench.aes",
    path: "bench/aes",
    keyType: "aes-256-gcm",
    rpc: ENCRYPT_PATH,
    method: "encrypt",
    impl: "node:crypto createCipheriv (sync)",
    offThread: false,
  },
];

/** The message (Sign) or plaintext (Encrypt) of an operation: fixed random bytes. */
export function tier2Payload(op: Tier2Op): Uint8Array {
  return crypto.getRandomValues(
    new Uint8Array(op.method === "sign" ? SIGN_MESSAGE_BYTES : ENCRYPT_PLAINTEXT_BYTES),
  );
}

/** The request bytes a client sends for `op`, with `payload` as message/plaintext. */
export function tier2Request(op: Tier2Op, payload: Uint8Array): Uint8Array {
  if (op.method === "sign") {
    return toBinary(
      SignRequestSchema,
      create(SignRequestSchema, {
        keyId: op.keyId,
        message: payload,
        algorithm: op.keyType === "ed25519" ? SigningAlgorithm.ED25519 : SigningAlgorithm.ES256,
      }),
    );
  }
  return toBinary(
    EncryptRequestSchema,
    create(EncryptRequestSchema, {
      keyId: op.keyId,
      algorithm: AeadAlgorithm.AES_256_GCM,
      plaintext: payload,
    }),
  );
}

function size<D extends DescMessage>(schema: D, init: MessageInitShape<D>): number {
  return toBinary(schema, create(schema, init)).length;
}

/** The response size the broker must answer `op` with (key version 1). */
export function tier2ResponseBytes(op: Tier2Op): number {
  if (op.method === "sign") {
    return size(SignResponseSchema, { signature: new Uint8Array(64) });
  }
  return size(EncryptResponseSchema, {
    envelope: {
      alg: AeadAlgorithm.AES_256_GCM,
      keyVersion: 1,
      nonce: new Uint8Array(12),
      ciphertext: new Uint8Array(ENCRYPT_PLAINTEXT_BYTES + 16),
    },
  });
}

/** Catalog JSON: the three transit keys on the embedded keystore at `db`. */
export function tier2Catalog(db: string): unknown {
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: db,
        engines: ["transit", "kv2"],
        mintKeyTypes: ["ed25519", "ecdsa-p256"],
      },
    },
    keys: Object.fromEntries(TIER2_OPS.map((op) => [op.keyId, {
      class: op.method === "sign" ? "asymmetric" : "symmetric",
      keyType: op.keyType,
      backend: "db",
      path: op.path,
      writable: false,
      missing: "generate",
      description: `Tier 2 benchmark key (${op.label})`,
    }])),
  };
}

/** Policy JSON granting `uid` sign and encrypt on the Tier 2 keys. */
export function tier2Policy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { bench: { anyOf: [{ kind: "unix", uid }] } },
    rules: [
      { id: "bench-sign", subjects: ["bench"], action: ["op:sign"], target: ["bench.sig.*"] },
      { id: "bench-encrypt", subjects: ["bench"], action: ["op:encrypt"], target: ["bench.aes"] },
    ],
  };
}

// ------------------------------------------------------------------ transport suite

/** The Tier 2 operation the transport suite measures beside GetSecret. */
export const ED25519_OP: Tier2Op = TIER2_OPS.find((op) => op.name === "sign-ed25519")!;

/** Catalog JSON: the GetSecret value key and the Ed25519 signing key on one keystore at `db`. */
export function transportCatalog(db: string): unknown {
  const value = benchCatalog(db) as { keys: Record<string, unknown> };
  const sig = tier2Catalog(db) as { keys: Record<string, unknown> };
  return {
    schemaVersion: 1,
    backends: {
      db: { kind: "keystore", addr: db, engines: ["transit", "kv2"], mintKeyTypes: ["ed25519"] },
    },
    keys: { ...value.keys, [ED25519_OP.keyId]: sig.keys[ED25519_OP.keyId] },
  };
}

/** Policy JSON granting `uid` get on the value key and sign on the signing key. */
export function transportPolicy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { bench: { anyOf: [{ kind: "unix", uid }] } },
    rules: [
      { id: "bench-get", subjects: ["bench"], action: ["op:get"], target: [BENCH_KEY] },
      { id: "bench-sign", subjects: ["bench"], action: ["op:sign"], target: [ED25519_OP.keyId] },
    ],
  };
}

// ------------------------------------------------------------------ vault suite

/** Where the vault suite keeps its value (KV v2 at `secret/`) and its signing key (transit). */
export const KV_PATH = "secret/data/bench/value";
export const TRANSIT_KEY = "bench-ed25519";

/** Catalog JSON: the value in KV v2 and the Ed25519 key in transit, on the double at `addr`. */
export function vaultCatalog(addr: string): unknown {
  return {
    schemaVersion: 1,
    backends: {
      bao: {
        kind: "vault",
        addr,
        engines: ["transit", "kv2", "pki"],
        capabilities: ["byok-import", "prehash-sign", "pki-crl", "jwt-auth", "approle-auth"],
        mintKeyTypes: [
          "ed25519",
          "ed25519-nkey",
          "rsa-2048",
          "ecdsa-p256",
          "ecdsa-p384",
          "ecdsa-p521",
        ],
      },
    },
    keys: {
      [BENCH_KEY]: {
        class: "value",
        backend: "bao",
        engine: "kv2",
        path: KV_PATH,
        writable: false,
        missing: "generate",
        generate: { format: "ascii-printable", bytes: VALUE_BYTES },
        description: "GetSecret benchmark value in KV v2 (32 bytes)",
      },
      [ED25519_OP.keyId]: {
        class: "asymmetric",
        keyType: "ed25519",
        backend: "bao",
        engine: "transit",
        path: TRANSIT_KEY,
        writable: false,
        missing: "generate",
        description: "Sign benchmark key in transit (Ed25519)",
      },
    },
  };
}

// ------------------------------------------------------------------ in process

/** A unary method handler called without the transport: request bytes in, response bytes out. */
export type Adapter = (request: Uint8Array) => Promise<Buffer>;

/** The broker's core objects built in process, as lib/daemon.ts builds them. */
export interface Core {
  readonly deps: BrokerDeps;
  readonly backend: KeystoreBackend;
  readonly audit: AuditSink;
  readonly peer: PeerIdentity;
  /**
   * The transport's method of `binding`'s `method` (lib/transport/grpc.ts:
   * decode, handler, encode, deferred cleanups), called as the transport
   * calls it, with this peer and request metadata `md` (header → values),
   * minus HTTP/2 and framing. Like the transport, it hands the method its
   * own copy of the request and zeroes that copy once the method settled.
   */
  adapter(binding: ServiceBinding, method: string, md?: Record<string, string[]>): Adapter;
}

/**
 * The transport's method `method` of `binding` called without HTTP/2, with
 * `peer` and request metadata `md` (see {@linkcode Core.adapter}).
 */
export function methodAdapter(
  binding: ServiceBinding,
  method: string,
  peer: PeerIdentity,
  logger: Logger,
  md: Record<string, string[]> = {},
): Adapter {
  const desc = binding.service.methods.find((m) => m.localName === method);
  if (desc === undefined) throw new Error(`no method ${method} in ${binding.service.typeName}`);
  const path = `/${binding.service.typeName}/${desc.name}`;
  const served = methodsOf([binding], logger).get(path);
  if (served === undefined || served.streaming) throw new Error(`no unary handler ${path}`);
  const live = new AbortController().signal;
  return async (request: Uint8Array) => {
    const own = new Uint8Array(request); // a copy (Buffer#slice would be a view)
    const call: GrpcCall = {
      path,
      request: own,
      messages: NO_MESSAGES,
      peer,
      signal: live,
      metadata: (k) => md[k] ?? [],
      setHeader: () => {},
      setTrailer: () => {},
      send: () => Promise.reject(new Error("unary call")),
    };
    try {
      const out = (await served.serve(call))!;
      return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    } finally {
      own.fill(0);
    }
  };
}

/** Builds catalog, policy, keystore (fresh DEK) and audit file in `dir`, as lib/daemon.ts does. */
export function buildCore(
  dir: string,
  catalogJson: (db: string) => unknown,
  policyJson: (uid: number) => unknown,
): Core {
  const db = `${dir}/keystore.db`;
  const { catalog } = loadCatalog(JSON.stringify(catalogJson(db)), `${dir}/catalog.json`);
  const uid = Deno.uid()!;
  const gid = Deno.gid()!;
  const names = readHostUnixNames();
  const policy = loadPolicy(JSON.stringify(policyJson(uid)), `${dir}/policy.json`, { names });
  const logger = jsonLogger({ write: () => {} });
  const dek = SecretBytes.copyOf(crypto.getRandomValues(new Uint8Array(32)));
  const backend = openKeystoreBackend({ name: "db", dbPath: db, dek, logger });
  dek.wipe();
  const audit = openAuditFile(`${dir}/audit.jsonl`, logger);
  const deps: BrokerDeps = {
    state: new GenerationHolder({ id: 1, catalog, policy }),
    backends: new Map([["db", backend]]),
    audit,
    events: new EventBus(),
    logger,
    limits: { maxPayloadSize: 65536, maxEncryptSize: 65536, graceVersions: 1 },
    hostUserName: (u) => names.userOf(u),
    now: () => new Date(),
  };
  const peer: PeerIdentity = { uid, gid, pid: Deno.pid };
  const adapter = (binding: ServiceBinding, method: string, md?: Record<string, string[]>) =>
    methodAdapter(binding, method, peer, logger, md);
  return { deps, backend, audit, peer, adapter };
}

/** The broker built in process, as lib/daemon.ts builds it. */
export interface InProcessBroker {
  readonly deps: BrokerDeps;
  readonly backend: KeystoreBackend;
  readonly audit: AuditSink;
  readonly peer: PeerIdentity;
  /** The service's GetSecret as the transport calls it, minus HTTP/2. */
  readonly adapterGetSecret: Adapter;
  close(): void;
}

/** Builds catalog, policy, a keystore file holding the value, and an audit file in `dir`. */
export async function inProcessBroker(dir: string): Promise<InProcessBroker> {
  const core = buildCore(dir, benchCatalog, benchPolicy);
  const value = new Uint8Array(VALUE_BYTES).fill(0x41);
  await core.backend.kv.write("bench/value", value);
  const { deps, backend, audit, peer } = core;
  return {
    deps,
    backend,
    audit,
    peer,
    adapterGetSecret: core.adapter(secretService(deps), "getSecret"),
    close() {
      backend.close();
      audit.close();
    },
  };
}

/** The Tier 2 broker in process: the three keys created, and the Sign / Encrypt handlers. */
export interface InProcessTier2 {
  readonly deps: BrokerDeps;
  readonly backend: KeystoreBackend;
  readonly peer: PeerIdentity;
  /** The transport's method of an operation, minus HTTP/2. */
  adapter(op: Tier2Op): Adapter;
  close(): void;
}

/** Builds the Tier 2 catalog, policy and keystore in `dir` and creates each key (version 1). */
export async function inProcessTier2(dir: string): Promise<InProcessTier2> {
  const core = buildCore(dir, tier2Catalog, tier2Policy);
  for (const op of TIER2_OPS) await core.backend.transit.create(op.path, op.keyType);
  const bindings = { sign: signingService(core.deps), encrypt: aeadService(core.deps) };
  return {
    deps: core.deps,
    backend: core.backend,
    peer: core.peer,
    adapter: (op) => core.adapter(bindings[op.method], op.method),
    close() {
      core.backend.close();
      core.audit.close();
    },
  };
}

/** The transport suite's broker in process: the value written, the Ed25519 key created. */
export async function inProcessTransport(dir: string): Promise<Core> {
  const core = buildCore(dir, transportCatalog, transportPolicy);
  await core.backend.kv.write("bench/value", new Uint8Array(VALUE_BYTES).fill(0x41));
  await core.backend.transit.create(ED25519_OP.path, ED25519_OP.keyType);
  return core;
}
