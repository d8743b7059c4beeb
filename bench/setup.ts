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
import { SecretBytes } from "../lib/core/secret.ts";
import { readHostUnixNames } from "../lib/core/unix_names.ts";
import { loadPolicy } from "../lib/policy/load.ts";
import type { PeerIdentity } from "../lib/policy/pdp.ts";
import { aeadService } from "../lib/service/aead_service.ts";
import { secretService } from "../lib/service/secret_service.ts";
import { signingService } from "../lib/service/signing_service.ts";
import type { ServiceBinding } from "../lib/service/types.ts";
import { encodePeer, toGrpcService } from "../lib/transport/grpc.ts";
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

// ------------------------------------------------------------------ in process

/** A grpc-js unary handler called without the transport. */
export type Adapter = (request: Buffer) => Promise<Buffer>;

/** The broker's core objects built in process, as lib/daemon.ts builds them. */
export interface Core {
  readonly deps: BrokerDeps;
  readonly backend: KeystoreBackend;
  readonly audit: AuditSink;
  readonly peer: PeerIdentity;
  /**
   * The grpc-js handler of `binding`'s `method`, as the transport calls it,
   * with this peer and request metadata `md` (header → values).
   */
  adapter(binding: ServiceBinding, method: string, md?: Record<string, string[]>): Adapter;
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
  const peerString = encodePeer(peer);
  const adapter = (
    binding: ServiceBinding,
    method: string,
    md: Record<string, string[]> = {},
  ): Adapter => {
    const impl = toGrpcService(binding, logger).implementation[method] as unknown as (
      call: unknown,
      cb: (e: unknown, v?: Buffer) => void,
    ) => void;
    if (typeof impl !== "function") throw new Error(`no handler ${method}`);
    return (request: Buffer) =>
      new Promise<Buffer>((resolve, reject) => {
        const call = {
          request,
          getPeer: () => peerString,
          metadata: { get: (k: string) => md[k] ?? [] },
          once: () => call,
        };
        impl(call, (e, v) => e ? reject(e) : resolve(v!));
      });
  };
  return { deps, backend, audit, peer, adapter };
}

/** The broker built in process, as lib/daemon.ts builds it. */
export interface InProcessBroker {
  readonly deps: BrokerDeps;
  readonly backend: KeystoreBackend;
  readonly audit: AuditSink;
  readonly peer: PeerIdentity;
  /** The service's GetSecret as grpc-js calls it, minus the transport. */
  readonly adapterGetSecret: (request: Buffer) => Promise<Buffer>;
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
  /** The grpc-js handler of an operation, minus the transport. */
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
