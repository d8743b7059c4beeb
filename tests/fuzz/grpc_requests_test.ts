/**
 * Fuzz: every request message of every RPC the agent serves, through the
 * real socket (issue 16; quality bar S17). The methods come from the
 * generated file descriptors (basil.broker.v1, SpiffeWorkloadAPI, Envoy
 * SDS), so a new RPC is fuzzed without touching this file.
 *
 * Per method: random bytes, messages built from the request schema with
 * values that mean something to this agent (catalog key names, SPIFFE IDs,
 * key types, NATS public keys, so many calls get past authorization into
 * the handler), and those messages with byte-level edits. Properties:
 * - every answer is a gRPC status from the documented set (never UNKNOWN,
 *   UNAVAILABLE or DATA_LOSS; INTERNAL only where the contract's status
 *   table puts it for a caller: key material not found in the backend, a
 *   catalog key never provisioned or a version that is not stored, checked
 *   against the agent's logged detail);
 * - after each method's batch the agent is still up and Health answers OK;
 * - at the end the agent logged no fatal error, no INTERNAL request
 *   failure other than the documented one (an unexpected exception in a
 *   handler is logged as "unexpected <class>"), and the audit log is
 *   intact (`basil audit verify`).
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { create, toBinary } from "@bufbuild/protobuf";
import type { DescField, DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";
import { ScalarType } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { createAccount, createOperator, createUser } from "@nats-io/nkeys";
import fc from "fast-check";
import {
  file_basil_broker_v1_broker,
  HealthRequestSchema,
} from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { file_envoy_service_secret_v3_sds } from "../../lib/wire/envoy/service/secret/v3/sds_pb.ts";
import { file_spiffe_workload } from "../../lib/wire/spiffe/workload_pb.ts";
import { KEY_NOT_FOUND_MESSAGE } from "../../lib/core/errors.ts";
import { basil } from "../helpers/cli.ts";
import { Fixture } from "../helpers/fixture.ts";
import type { RunningAgent } from "../helpers/fixture.ts";
import { fuzz, fuzzRuns, withEdits } from "../helpers/fuzz.ts";

const TD = "example.org";

/** Every service of the protos the agent serves. */
const SERVICES: readonly DescService[] = [
  file_basil_broker_v1_broker,
  file_spiffe_workload,
  file_envoy_service_secret_v3_sds,
].flatMap((f) => f.services);

/** Statuses a request may be answered with (bad input included). */
const DOCUMENTED = new Set([
  "OK",
  "INVALID_ARGUMENT",
  "PERMISSION_DENIED",
  "UNAUTHENTICATED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "FAILED_PRECONDITION",
  "RESOURCE_EXHAUSTED",
  "UNIMPLEMENTED",
  "OUT_OF_RANGE",
  "INTERNAL", // only as KEY_NOT_FOUND_MESSAGE: contract §4.4, key material not found
]);

/**
 * Agent log lines of a fatal error or of a request failing with an
 * exception that is not a `BasilError` (lib/transport/status.ts logs those
 * as "unexpected <class>"): a handler bug, whatever status it became.
 */
function unexpectedFailures(stderr: string): string[] {
  return stderr.split("\n").filter((l) => /fatal|"detail":"unexpected /.test(l));
}

function catalog(): unknown {
  const key = (o: Record<string, unknown>) => ({
    backend: "db",
    writable: true,
    missing: "generate",
    description: "fuzz key",
    ...o,
  });
  const nkey = (path: string, role: string) =>
    key({
      class: "asymmetric",
      keyType: "ed25519-nkey",
      path,
      labels: [`nats_type=${role}`],
    });
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: "${DB}",
        engines: ["transit", "kv2", "pki"],
        mintKeyTypes: ["ed25519", "ecdsa-p256", "ed25519-nkey", "x25519"],
      },
    },
    keys: {
      "app.value": key({
        class: "value",
        path: "app/value",
        generate: { format: "hex", bytes: 16 },
      }),
      "app.plain": key({ class: "value", path: "app/plain", missing: "warn" }),
      "app.sig": key({ class: "asymmetric", keyType: "ed25519", path: "app/sig" }),
      "app.p256": key({ class: "asymmetric", keyType: "ecdsa-p256", path: "app/p256" }),
      "app.imp": key({ class: "asymmetric", keyType: "ed25519", path: "app/imp", missing: "warn" }),
      "app.aes": key({ class: "symmetric", keyType: "aes-256-gcm", path: "app/aes" }),
      "app.seal": key({
        class: "sealing",
        keyType: "x25519",
        path: "app/seal",
        publicPath: "app/seal-pub",
        missing: "warn",
      }),
      "tls.ca": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        engine: "pki",
        path: "pki/issue/tls",
      }),
      "spiffe.x509_ca": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        engine: "pki",
        path: "pki/issue/spiffe",
        labels: ["svid_kind=x509", `trust_domain=${TD}`],
      }),
      "spiffe.jwt_issuer": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        path: "spiffe/jwt",
        labels: ["svid_kind=jwt", `trust_domain=${TD}`, `spiffe_id=spiffe://${TD}`],
      }),
      "spiffe.revocations": key({
        class: "value",
        path: "spiffe/revocations",
        missing: "warn",
        labels: ["revocation_store=jwt-svid"],
      }),
      "nats.operator": nkey("nats/operator", "O"),
      "nats.account": nkey("nats/account", "A"),
      "nats.xkey": key({
        class: "sealing",
        keyType: "x25519",
        path: "nats/xkey",
        publicPath: "nats/xkey-pub",
        missing: "warn",
      }),
    },
  };
}

function policy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid }] } },
    rules: [
      {
        id: "keys",
        subjects: ["app"],
        action: ["*"],
        target: ["app.*", "tls.*", "spiffe.*", "nats.*"],
      },
      {
        id: "admin",
        subjects: ["app"],
        action: ["op:explain", "op:watch", "op:revoke", "op:reload"],
        target: ["broker.*"],
      },
    ],
    config: { names: { users: { [String(uid)]: "app" } } },
  };
}

// ---- requests built from the schema ----

const KEY_NAMES = Object.keys((catalog() as { keys: object }).keys);
const STRINGS = [
  ...KEY_NAMES,
  "app.*",
  "broker.reload",
  `spiffe://${TD}/app`,
  `spiffe://${TD}`,
  TD,
  "ed25519",
  "ecdsa-p256",
  "aes-256-gcm",
  "x25519",
  "ed25519-nkey",
  "EdDSA",
  "ES256",
  "get",
  "sign",
  "app",
  "default",
  "ROOTCA",
  "localhost",
  createUser().getPublicKey(),
  createAccount().getPublicKey(),
  createOperator().getPublicKey(),
  "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
  "",
];

const stringArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...STRINGS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);
const bytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.constant(new TextEncoder().encode("hello")),
  fc.uint8Array({ minLength: 32, maxLength: 32 }),
);
const I64 = fc.oneof(fc.bigInt(-1000n, 1000n), fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n));
const U64 = fc.oneof(fc.bigInt(0n, 100_000n), fc.bigInt(0n, 2n ** 64n - 1n));

function scalarArb(t: ScalarType): fc.Arbitrary<unknown> {
  switch (t) {
    case ScalarType.STRING:
      return stringArb;
    case ScalarType.BYTES:
      return bytesArb;
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.double({ noNaN: true });
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return I64;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return U64;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.oneof(fc.nat(1000), fc.integer({ min: 0, max: 0xffffffff }));
    default:
      return fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.integer());
  }
}

function fieldArb(f: DescField, depth: number): fc.Arbitrary<unknown> | undefined {
  switch (f.fieldKind) {
    case "scalar":
      return scalarArb(f.scalar);
    case "enum":
      return fc.oneof(fc.constantFrom(...f.enum.values.map((v) => v.number)), fc.integer());
    case "message":
      return depth > 3 ? undefined : messageInit(f.message, depth + 1);
    case "list": {
      const el = f.listKind === "scalar"
        ? scalarArb(f.scalar)
        : f.listKind === "enum"
        ? fc.constantFrom(...f.enum.values.map((v) => v.number))
        : depth > 3
        ? undefined
        : messageInit(f.message, depth + 1);
      return el && fc.array(el, { maxLength: 3 });
    }
    case "map": {
      if (f.mapKey !== ScalarType.STRING) return undefined;
      const v = f.mapKind === "scalar"
        ? scalarArb(f.scalar)
        : f.mapKind === "enum"
        ? fc.constantFrom(...f.enum.values.map((x) => x.number))
        : depth > 3
        ? undefined
        : messageInit(f.message, depth + 1);
      return v && fc.dictionary(stringArb, v, { maxKeys: 3 });
    }
  }
}

/** An init object for `desc`: each field present or not, oneofs with one case. */
function messageInit(desc: DescMessage, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const parts: fc.Arbitrary<[string, unknown] | undefined>[] = [];
  for (const m of desc.members) {
    if (m.kind === "oneof") {
      const cases = m.fields.flatMap((f) => {
        const a = fieldArb(f, depth);
        return a ? [a.map((value) => ({ case: f.localName, value }))] : [];
      });
      if (cases.length > 0) {
        parts.push(fc.option(fc.oneof(...cases).map((v) => [m.localName, v] as [string, unknown]), {
          nil: undefined,
        }));
      }
      continue;
    }
    const a = fieldArb(m, depth);
    if (a) {
      parts.push(fc.option(a.map((v) => [m.localName, v] as [string, unknown]), {
        nil: undefined,
        freq: 4,
      }));
    }
  }
  return fc.tuple(...parts).map((kvs) =>
    Object.fromEntries(kvs.filter((kv): kv is [string, unknown] => kv !== undefined))
  );
}

function requestBytes(m: DescMethod): fc.Arbitrary<Uint8Array> {
  const valid = messageInit(m.input).map((init) => {
    try {
      return toBinary(m.input, create(m.input, init as never));
    } catch {
      return new Uint8Array(); // an init the runtime refuses: send the empty message
    }
  });
  return fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
    { weight: 3, arbitrary: valid },
    { weight: 3, arbitrary: withEdits(valid) },
  );
}

// ---- calls ----

const pathOf = (m: DescMethod) => `/${m.parent.typeName}/${m.name}`;
const id = (b: Buffer) => b;

/**
 * One call; resolves with the status name, or "OPEN" for a server stream
 * that sent a message or settled its audit record and stays open (then
 * cancelled by the client).
 */
function call(
  client: grpc.Client,
  f: Fixture,
  m: DescMethod,
  body: Uint8Array,
  header: boolean,
): Promise<string> {
  const md = new grpc.Metadata();
  if (header) md.set("workload.spiffe.io", "true");
  const options = { deadline: Date.now() + 60_000 };
  if (m.methodKind === "unary") {
    return new Promise((resolve) => {
      client.makeUnaryRequest(pathOf(m), id, id, Buffer.from(body), md, options, (err) => {
        resolve(err ? codeOf(err) : "OK");
      });
    });
  }
  const before = auditSize(f);
  const stream = client.makeServerStreamRequest(pathOf(m), id, id, Buffer.from(body), md, options);
  return new Promise((resolve) => {
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (code: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.cancel();
      resolve(code);
    };
    stream.on("data", () => finish("OPEN"));
    stream.on("error", (e: grpc.ServiceError) => finish(codeOf(e)));
    stream.on("end", () => finish("OK"));
    stream.on("status", (s: grpc.StatusObject) => finish(codeOf(s)));
    // A silent stream (Watch) is open once its decision is audited: watch for the record.
    const poll = () => {
      if (done) return;
      if (auditSize(f) > before) {
        // The record of a failing stream precedes its status: give the status one turn.
        timer = setTimeout(() => finish("OPEN"), 200);
        return;
      }
      timer = setTimeout(poll, 10);
    };
    poll();
  });
}

/** The status name; an INTERNAL other than the documented one carries its message. */
function codeOf(s: { code: grpc.status; details: string }): string {
  const name = grpc.status[s.code] ?? String(s.code);
  return s.code === grpc.status.INTERNAL && s.details !== KEY_NOT_FOUND_MESSAGE
    ? `${name} (${s.details})`
    : name;
}

function auditSize(f: Fixture): number {
  try {
    return Deno.statSync(f.audit).size;
  } catch {
    return 0;
  }
}

async function healthy(client: grpc.Client, a: RunningAgent): Promise<void> {
  const health = SERVICES.flatMap((s) => s.methods).find((m) => m.input === HealthRequestSchema)!;
  const code = await call(
    client,
    a.fixture,
    health,
    toBinary(HealthRequestSchema, create(HealthRequestSchema)),
    false,
  );
  assert.equal(code, "OK", `Health after the batch: ${code}\n${a.stderr}`);
}

Deno.test({
  name: "fuzz: every RPC answers random and mutated requests with a documented status",
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  const f = await Fixture.create({ catalog: catalog(), policy: policy });
  const a = await f.start();
  let exited = false;
  a.child.status.then(() => (exited = true));
  // One connection per RPC: every open stream the fuzz leaves is cancelled (RST_STREAM), and
  // the agent ends a connection whose peer resets more than 1000 streams at once plus 33/s
  // (CVE-2023-44487 defence, lib/transport/limits.ts), which the long budget would reach on a
  // single connection shared by every RPC.
  const connect = () =>
    new grpc.Client(`unix:${f.socket}`, grpc.credentials.createInsecure(), {
      "grpc.max_send_message_length": -1,
      "grpc.max_receive_message_length": -1,
    });
  let client = connect();
  const seen = new Map<string, Map<string, number>>();
  try {
    const methods = SERVICES.flatMap((s) => s.methods);
    assert.ok(methods.length >= 42, `only ${methods.length} RPCs found`);
    for (const m of methods) {
      client.close();
      client = connect();
      await t.step(pathOf(m), async () => {
        const counts = new Map<string, number>();
        seen.set(pathOf(m), counts);
        await fuzz(
          pathOf(m),
          fc.asyncProperty(requestBytes(m), fc.boolean(), async (body, header) => {
            const once = () =>
              call(client, f, m, body, header || m.parent.name === "SpiffeWorkloadAPI");
            let code = await once();
            // Deno's node:http2 client, under grpc-js, now and then reports a fresh server
            // stream closed with RST_STREAM(CANCEL) ("Call cancelled") that the agent never
            // sent (its own resets are logged as abuse, and none is): the input is tried once
            // more, and a second CANCELLED fails the property.
            if (code === "CANCELLED" && m.methodKind !== "unary") code = await once();
            counts.set(code, (counts.get(code) ?? 0) + 1);
            assert.ok(!exited, `the agent exited:\n${a.stderr}`);
            assert.ok(code === "OPEN" || DOCUMENTED.has(code), `${pathOf(m)} answered ${code}`);
          }),
          fuzzRuns(25, 0.05),
        );
        await healthy(client, a);
        assert.deepEqual(unexpectedFailures(a.stderr), [], "unexpected failures so far");
      });
    }
    // Handlers reached past the first checks: some calls of the broker succeed.
    const oks = [...seen.values()].reduce(
      (s, c) => s + (c.get("OK") ?? 0) + (c.get("OPEN") ?? 0),
      0,
    );
    assert.ok(oks > methods.length, `only ${oks} calls succeeded: the fuzz stays at the gates`);
  } finally {
    client.close();
    const { code, stderr } = await a.stop();
    const internal = unexpectedFailures(stderr);
    const verify = await basil(["audit", "verify", f.audit]);
    f.cleanup();
    assert.equal(code, 0, stderr);
    assert.deepEqual(internal, [], "INTERNAL failures or a fatal error in the agent log");
    assert.equal(verify.code, 0, `audit verify: ${verify.stdout}${verify.stderr}`);
  }
});
