/**
 * What the GetSecret benchmark reads: one value key with a 32-byte value,
 * granted to the calling uid, and the wire bytes of its request. The key
 * name is padded so that the GetSecret request and response and the echo
 * payload are all 36 bytes on the wire.
 *
 * Also builds the broker in process (real catalog, policy, keystore file,
 * audit file), to time "C": everything GetSecret does besides transport.
 * @module
 */

import { create, toBinary } from "@bufbuild/protobuf";
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
import { secretService } from "../lib/service/secret_service.ts";
import { encodePeer, toGrpcService } from "../lib/transport/grpc.ts";
import { GetSecretRequestSchema } from "../lib/wire/basil/broker/v1/broker_pb.ts";

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
  if (n < 3 || n > 129) throw new RangeError("echo payload must be 3..129 bytes");
  const b = new Uint8Array(n).fill(7);
  b[0] = 0x0a;
  b[1] = n - 2;
  return b;
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
  const db = `${dir}/keystore.db`;
  const { catalog } = loadCatalog(JSON.stringify(benchCatalog(db)), `${dir}/catalog.json`);
  const uid = Deno.uid()!;
  const gid = Deno.gid()!;
  const names = readHostUnixNames();
  const policy = loadPolicy(JSON.stringify(benchPolicy(uid)), `${dir}/policy.json`, { names });
  const logger = jsonLogger({ write: () => {} });
  const dek = SecretBytes.copyOf(crypto.getRandomValues(new Uint8Array(32)));
  const backend = openKeystoreBackend({ name: "db", dbPath: db, dek, logger });
  dek.wipe();
  const value = new Uint8Array(VALUE_BYTES).fill(0x41);
  await backend.kv.write("bench/value", value);
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
  const svc = toGrpcService(secretService(deps), logger);
  const impl = svc.implementation.getSecret as (
    call: unknown,
    cb: (e: unknown, v?: Buffer) => void,
  ) => void;
  const peerString = encodePeer(peer);
  const adapterGetSecret = (request: Buffer) =>
    new Promise<Buffer>((resolve, reject) => {
      const call = {
        request,
        getPeer: () => peerString,
        metadata: { get: () => [] },
        once: () => call,
      };
      impl(call, (e, v) => e ? reject(e) : resolve(v!));
    });
  return {
    deps,
    backend,
    audit,
    peer,
    adapterGetSecret,
    close() {
      backend.close();
      audit.close();
    },
  };
}
