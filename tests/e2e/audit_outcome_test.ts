/**
 * The audit tells the truth (issue 9, item 4): every RPC of basil.broker.v1
 * and SpiffeWorkloadAPI, driven through the real socket in three cases —
 * allowed and successful, allowed then failing, denied — writes exactly the
 * records the table says (one per decision: one per key for ImportSet, none
 * for the ungated Health and Readiness), and each record's `outcome` is the truth: `allow` only for a
 * success, the failure class for an allowed operation that failed, `deny`
 * for a denial.
 *
 * Three agents share one catalog: S (everything provisioned, the caller
 * granted), F (the SVID issuers never provisioned, same grants) and D (the
 * caller resolves to no subject). The table is checked to cover every
 * method of every service × case, each gap stating why the case cannot
 * happen.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import * as pb from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { SpiffeWorkloadAPI } from "../../lib/wire/spiffe/workload_pb.ts";
import {
  createAccount,
  createCurve,
  createOperator,
  createServer,
  createUser,
} from "@nats-io/nkeys";
import { encodePublicNkey } from "../../lib/nats/nkey.ts";
import { Fixture } from "../helpers/fixture.ts";
import { rawUnary } from "../helpers/rawgrpc.ts";

const TD = "example.org";
const SPIFFE_HEADER = { "workload.spiffe.io": "true" };

type AgentName = "S" | "F" | "D";

function catalog(svidIssuers: "generate" | "warn"): unknown {
  const key = (o: Record<string, unknown>) => ({
    backend: "db",
    writable: true,
    missing: "warn",
    description: "audit table key",
    ...o,
  });
  const signer = (path: string) => key({ class: "asymmetric", keyType: "ed25519", path });
  const nkey = (path: string, role: string) =>
    key({
      class: "asymmetric",
      keyType: "ed25519-nkey",
      path,
      missing: "generate",
      labels: [`nats_type=${role}`],
    });
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: "${DB}",
        engines: ["transit", "kv2", "pki"],
        mintKeyTypes: ["ed25519", "ecdsa-p256", "ed25519-nkey"],
      },
    },
    keys: {
      "app.value": key({
        class: "value",
        path: "app/value",
        missing: "generate",
        generate: { format: "hex", bytes: 16 },
      }),
      "app.plain": key({ class: "value", path: "app/plain" }),
      "app.sig": { ...signer("app/sig"), missing: "generate" },
      "app.imp": signer("app/imp"),
      "app.imp_a": signer("app/imp-a"),
      "app.imp_b": signer("app/imp-b"),
      "app.imp_c": signer("app/imp-c"),
      "app.aes": key({
        class: "symmetric",
        keyType: "aes-256-gcm",
        path: "app/aes",
        missing: "generate",
      }),
      "app.seal": key({
        class: "sealing",
        keyType: "x25519",
        path: "app/seal",
        publicPath: "app/seal-pub",
      }),
      "app.seal_unset": key({
        class: "sealing",
        keyType: "x25519",
        path: "app/seal-unset",
        publicPath: "app/seal-unset-pub",
      }),
      "tls.ca": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        engine: "pki",
        path: "pki/issue/tls",
        missing: "generate",
      }),
      "spiffe.x509_ca": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        engine: "pki",
        path: "pki/issue/spiffe",
        missing: svidIssuers,
        labels: ["svid_kind=x509", `trust_domain=${TD}`],
      }),
      "spiffe.jwt_issuer": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        path: "spiffe/jwt",
        missing: svidIssuers,
        labels: ["svid_kind=jwt", `trust_domain=${TD}`, `spiffe_id=spiffe://${TD}`],
      }),
      "nats.operator": nkey("nats/operator", "O"),
      "nats.account": nkey("nats/account", "A"),
      "nats.xkey": key({
        class: "sealing",
        keyType: "x25519",
        path: "nats/xkey",
        publicPath: "nats/xkey-pub",
      }),
      "spiffe.revocations": key({
        class: "value",
        path: "spiffe/revocations",
        labels: ["revocation_store=jwt-svid"],
      }),
    },
  };
}

function grantedPolicy(uid: number): unknown {
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

function strangerPolicy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { someone: { anyOf: [{ kind: "unix", uid: uid + 1 }] } },
    rules: [{ id: "r", subjects: ["someone"], action: ["*"], target: ["app.*"] }],
  };
}

/** What one call returned. */
interface Outcome {
  code: string;
  messages: Record<string, unknown>[];
}

const id = (b: Buffer) => b;
const pathOf = (m: DescMethod) => `/${m.parent.typeName}/${m.name}`;
const body = (m: DescMethod, init: unknown) => toBinary(m.input, create(m.input, init as never));

async function unary(socket: string, m: DescMethod, init: unknown, meta: Record<string, string>) {
  const out = await rawUnary(socket, pathOf(m), body(m, init), meta);
  const message = out.response ? fromBinary(m.output, out.response) : undefined;
  return { code: out.code, messages: message ? [message as Record<string, unknown>] : [] };
}

/** A server stream: read `take` messages (or until it ends, fails, or `stop` resolves). */
function serverStream(
  socket: string,
  m: DescMethod,
  init: unknown,
  meta: Record<string, string>,
  take: number,
  stop?: Promise<void>,
): Promise<Outcome> {
  const client = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(meta)) md.set(k, v);
  const call = client.makeServerStreamRequest(
    pathOf(m),
    id,
    id,
    Buffer.from(body(m, init)),
    md,
    { deadline: Date.now() + 60_000 },
  );
  return new Promise((resolve) => {
    const messages: Record<string, unknown>[] = [];
    let done = false;
    const finish = (code: string) => {
      if (done) return;
      done = true;
      call.cancel();
      client.close();
      resolve({ code, messages });
    };
    call.on("data", (b: Buffer) => {
      messages.push(fromBinary(m.output, b) as Record<string, unknown>);
      if (messages.length >= take) finish("OK");
    });
    call.on("error", (e: grpc.ServiceError) => finish(grpc.status[e.code] ?? String(e.code)));
    call.on("end", () => finish("OK"));
    stop?.then(() => finish("OK"));
  });
}

/** Resolves once the agent has written `n` records after `from` (waits for the event itself). */
async function recordsWritten(f: Fixture, from: number, n: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (f.auditRecords().length < from + n) {
    if (Date.now() > deadline) throw new Error("the expected audit record was never written");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The agents and what earlier calls produced (envelopes, tokens). */
interface World {
  readonly agents: Record<AgentName, Fixture>;
  call(agent: AgentName, m: DescMethod, init: unknown): Promise<Outcome>;
}

/** One case: where, what, and the exact code and records to expect. */
interface Case {
  readonly agent: AgentName;
  /** The request, possibly prepared by earlier calls (their records are not counted). */
  readonly request: (w: World) => Promise<unknown> | unknown;
  readonly code: string;
  /** [decision, outcome] of each record the call writes, in order. */
  readonly records: readonly (readonly [string, string])[];
  /** Streams: messages to read before cancelling (default: until the stream ends). */
  readonly take?: number;
  /** Streams that may stay silent: cancel once the record is written. */
  readonly untilRecorded?: boolean;
}

/** A case that cannot happen, and why. */
interface NotApplicable {
  readonly na: string;
}

type Row = Record<"success" | "failure" | "deny", Case | NotApplicable>;

const ALLOW = [["allow", "allow"]] as const;
const DENY = [["deny", "deny"]] as const;
const failed = (outcome: string) => [["allow", outcome]] as const;
const denied = (request: Case["request"], code = "PERMISSION_DENIED"): Case => ({
  agent: "D",
  request,
  code,
  records: DENY,
});

const seed = (n: number) => ({
  material: { material: { case: "ed25519Seed", value: new Uint8Array(32).fill(n) } },
});
const future = () => BigInt(Math.floor(Date.now() / 1000) + 600);

async function jwtSvid(w: World): Promise<string> {
  const got = await w.call("S", SpiffeWorkloadAPI.method.fetchJWTSVID, { audience: ["db"] });
  return (got.messages[0] as { svids: { svid: string }[] }).svids[0]!.svid;
}

async function envelope(w: World) {
  const got = await w.call("S", pb.AeadService.method.encrypt, {
    keyId: "app.aes",
    algorithm: pb.AeadAlgorithm.AES_256_GCM,
    plaintext: new Uint8Array([1, 2, 3]),
  });
  return (got.messages[0] as { envelope: pb.CiphertextEnvelope }).envelope;
}

async function sealed(w: World) {
  await w.call("S", pb.SigningService.method.newKey, { keyId: "app.seal" });
  const got = await w.call("S", pb.AeadService.method.wrapEnvelope, {
    keyId: "app.seal",
    kemAlgorithm: pb.KemAlgorithm.X25519,
    envelopeAlgorithm: pb.EnvelopeAlgorithm.CHACHA20_POLY1305,
    plaintext: new Uint8Array([4, 5, 6]),
  });
  return (got.messages[0] as { envelope: pb.KemEnvelope }).envelope;
}

/** The curve key made, and its public half as an `X…` NKey. */
async function xkey(w: World): Promise<string> {
  await w.call("S", pb.SigningService.method.newKey, { keyId: "nats.xkey" });
  const got = await w.call("S", pb.SigningService.method.getPublicKey, { keyId: "nats.xkey" });
  return encodePublicNkey("X", (got.messages[0] as { publicKey: Uint8Array }).publicKey);
}

async function userJwt(w: World): Promise<string> {
  const got = await w.call("S", pb.NatsService.method.mintNatsUser, {
    keyId: "nats.account",
    subjectUserNkey: createUser().getPublicKey(),
    name: "u",
  });
  return (got.messages[0] as { token: string }).token;
}

const utf8 = (t: string) => new TextEncoder().encode(t);

/** A mint RPC's row: success with a fresh subject NKey, failure with a malformed one. */
const mintRow = (keyId: string, field: string, subject: () => string): Row => ({
  success: {
    agent: "S",
    request: () => ({ keyId, [field]: subject(), name: "n" }),
    code: "OK",
    records: ALLOW,
  },
  failure: {
    agent: "S",
    request: () => ({ keyId, [field]: "not-an-nkey", name: "n" }),
    code: "INVALID_ARGUMENT",
    records: failed("invalid_request"),
  },
  deny: denied(() => ({ keyId, [field]: subject(), name: "n" })),
});

/** The table: service type name → method name → cases. */
const TABLE: Record<string, Record<string, Row>> = {
  "basil.broker.v1.SecretService": {
    GetSecret: {
      success: {
        agent: "S",
        request: () => ({ secretId: "app.value" }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: () => ({ secretId: "app.plain" }), // never set: no material
        code: "INTERNAL",
        records: failed("internal_error"),
      },
      deny: denied(() => ({ secretId: "app.value" })),
    },
    SetSecret: {
      success: {
        agent: "S",
        request: () => ({ secretId: "app.value", value: new Uint8Array([7]) }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: () => ({ secretId: "app.sig", value: new Uint8Array([7]) }),
        code: "INVALID_ARGUMENT",
        records: failed("invalid_request"),
      },
      deny: denied(() => ({ secretId: "app.value", value: new Uint8Array([7]) })),
    },
    RotateSecret: {
      success: {
        agent: "S",
        request: () => ({ secretId: "app.value" }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: () => ({ secretId: "app.plain" }), // no generate recipe
        code: "INVALID_ARGUMENT",
        records: failed("invalid_request"),
      },
      deny: denied(() => ({ secretId: "app.value" })),
    },
    ListCatalog: {
      success: { agent: "S", request: () => ({ prefix: "app." }), code: "OK", records: ALLOW },
      failure: { na: "listing reads only metadata; backend errors show as version 0" },
      // An unresolved caller gets an empty stream, and a denial record.
      deny: { agent: "D", request: () => ({}), code: "OK", records: DENY },
    },
  },
  "basil.broker.v1.SigningService": {
    NewKey: {
      success: { agent: "S", request: () => ({ keyId: "app.sig" }), code: "OK", records: ALLOW },
      failure: {
        agent: "S",
        request: () => ({ keyId: "app.sig", keyType: pb.KeyType.ECDSA_P256 }),
        code: "INVALID_ARGUMENT",
        records: failed("invalid_request"),
      },
      deny: denied(() => ({ keyId: "app.sig" })),
    },
    Import: {
      success: {
        agent: "S",
        request: () => ({ keyId: "app.imp", ...seed(1) }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: () => ({ keyId: "app.sig", ...seed(2) }), // already exists
        code: "INVALID_ARGUMENT",
        records: failed("invalid_request"),
      },
      deny: denied(() => ({ keyId: "app.imp", ...seed(1) })),
    },
    ImportSet: {
      success: {
        agent: "S",
        request: () => ({
          entries: [{ keyId: "app.imp_a", ...seed(3) }, { keyId: "app.imp_b", ...seed(4) }],
        }),
        code: "OK",
        records: [["allow", "allow"], ["allow", "allow"]],
      },
      failure: {
        agent: "S",
        request: () => ({
          entries: [{ keyId: "app.imp_c", ...seed(5) }, { keyId: "app.sig", ...seed(6) }],
        }),
        code: "INVALID_ARGUMENT",
        records: [["allow", "invalid_request"], ["allow", "invalid_request"]],
      },
      deny: {
        agent: "D",
        request: () => ({
          entries: [{ keyId: "app.imp_a", ...seed(3) }, { keyId: "app.imp_b", ...seed(4) }],
        }),
        code: "PERMISSION_DENIED",
        records: [["deny", "deny"], ["deny", "deny"]],
      },
    },
    Sign: {
      success: {
        agent: "S",
        request: () => ({ keyId: "app.sig", message: new Uint8Array([1]) }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: () => ({ keyId: "app.value", message: new Uint8Array([1]) }),
        code: "INVALID_ARGUMENT",
        records: failed("invalid_request"),
      },
      deny: denied(() => ({ keyId: "app.sig", message: new Uint8Array([1]) })),
    },
    Verify: {
      success: {
        agent: "S",
        request: () => ({
          keyId: "app.sig",
          message: new Uint8Array([1]),
          signature: new Uint8Array(64),
        }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: () => ({
          keyId: "app.aes",
          message: new Uint8Array([1]),
          signature: new Uint8Array(64),
        }),
        code: "INVALID_ARGUMENT",
        records: failed("invalid_request"),
      },
      deny: denied(() => ({ keyId: "app.sig", message: new Uint8Array([1]) })),
    },
    GetPublicKey: {
      success: { agent: "S", request: () => ({ keyId: "app.sig" }), code: "OK", records: ALLOW },
      failure: {
        agent: "S",
        request: () => ({ keyId: "app.sig", version: 99 }),
        code: "INTERNAL",
        records: failed("internal_error"),
      },
      deny: denied(() => ({ keyId: "app.sig" })),
    },
  },
  "basil.broker.v1.AeadService": {
    Encrypt: {
      success: {
        agent: "S",
        request: () => ({
          keyId: "app.aes",
          algorithm: pb.AeadAlgorithm.AES_256_GCM,
          plaintext: new Uint8Array([1]),
        }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: () => ({
          keyId: "app.aes",
          algorithm: pb.AeadAlgorithm.CHACHA20_POLY1305,
          plaintext: new Uint8Array([1]),
        }),
        code: "INVALID_ARGUMENT",
        records: failed("invalid_request"),
      },
      deny: denied(() => ({ keyId: "app.aes", algorithm: pb.AeadAlgorithm.AES_256_GCM })),
    },
    Decrypt: {
      success: {
        agent: "S",
        request: async (w) => ({ keyId: "app.aes", envelope: await envelope(w) }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: async (w) => {
          const e = await envelope(w);
          e.ciphertext[0]! ^= 1;
          return { keyId: "app.aes", envelope: e };
        },
        code: "INVALID_ARGUMENT",
        records: failed("decrypt_failed"),
      },
      deny: denied(() => ({
        keyId: "app.aes",
        envelope: {
          alg: pb.AeadAlgorithm.AES_256_GCM,
          keyVersion: 1,
          ciphertext: new Uint8Array(20),
        },
      })),
    },
    WrapEnvelope: {
      success: {
        agent: "S",
        request: async (w) => {
          await w.call("S", pb.SigningService.method.newKey, { keyId: "app.seal" });
          return {
            keyId: "app.seal",
            kemAlgorithm: pb.KemAlgorithm.X25519,
            envelopeAlgorithm: pb.EnvelopeAlgorithm.CHACHA20_POLY1305,
            plaintext: new Uint8Array([1]),
          };
        },
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: () => ({
          keyId: "app.seal_unset",
          kemAlgorithm: pb.KemAlgorithm.X25519,
          envelopeAlgorithm: pb.EnvelopeAlgorithm.CHACHA20_POLY1305,
          plaintext: new Uint8Array([1]),
        }),
        code: "INTERNAL",
        records: failed("internal_error"),
      },
      deny: denied(() => ({
        keyId: "app.seal",
        kemAlgorithm: pb.KemAlgorithm.X25519,
        envelopeAlgorithm: pb.EnvelopeAlgorithm.CHACHA20_POLY1305,
      })),
    },
    UnwrapEnvelope: {
      success: {
        agent: "S",
        request: async (w) => ({ keyId: "app.seal", envelope: await sealed(w) }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: async (w) => {
          const e = await sealed(w);
          e.ciphertext[0]! ^= 1;
          return { keyId: "app.seal", envelope: e };
        },
        code: "INVALID_ARGUMENT",
        records: failed("decrypt_failed"),
      },
      deny: denied(() => ({
        keyId: "app.seal",
        envelope: { kemAlgorithm: pb.KemAlgorithm.X25519 },
      })),
    },
    UnsealCose: {
      success: {
        na: "opening needs a COSE_Encrypt sealed to app.seal (tests/e2e/invocation_test.ts)",
      },
      failure: {
        agent: "S",
        request: () => ({ keyId: "app.seal", coseEncrypt: new Uint8Array([0xa0]) }),
        code: "INVALID_ARGUMENT",
        records: failed("decrypt_failed"),
      },
      deny: denied(() => ({ keyId: "app.seal", coseEncrypt: new Uint8Array([0xa0]) })),
    },
  },
  "basil.broker.v1.MintingService": {
    MintJwt: {
      success: {
        agent: "S",
        request: () => ({ keyId: "app.sig", subject: "bot" }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: () => ({ keyId: "app.sig" }), // no subject
        code: "INVALID_ARGUMENT",
        records: failed("invalid_request"),
      },
      deny: denied(() => ({ keyId: "app.sig", subject: "bot" })),
    },
    IssueCertificate: {
      success: {
        agent: "S",
        request: () => ({
          issuerKeyId: "tls.ca",
          commonName: "web.internal",
          ttl: { seconds: 3600n },
        }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: () => ({
          issuerKeyId: "tls.ca",
          commonName: "web.internal",
          ttl: { seconds: 86401n },
        }),
        code: "INVALID_ARGUMENT",
        records: failed("invalid_request"),
      },
      deny: denied(() => ({ issuerKeyId: "tls.ca", commonName: "w", ttl: { seconds: 60n } })),
    },
  },
  "basil.broker.v1.AdminService": {
    Status: {
      success: { agent: "S", request: () => ({}), code: "OK", records: ALLOW },
      failure: { na: "Status reads no backend once the caller resolves" },
      deny: denied(() => ({})),
    },
    Health: {
      success: { agent: "S", request: () => ({}), code: "OK", records: [] },
      failure: { na: "Health is ungated liveness; it cannot fail while the agent answers" },
      deny: { agent: "D", request: () => ({}), code: "OK", records: [] }, // ungated: no decision
    },
    Readiness: {
      success: { agent: "S", request: () => ({}), code: "OK", records: [] },
      failure: { na: "Readiness is ungated; a backend problem is its answer, not a failure" },
      deny: { agent: "D", request: () => ({}), code: "OK", records: [] },
    },
    Watch: {
      success: { agent: "S", request: () => ({}), code: "OK", records: ALLOW, untilRecorded: true },
      failure: {
        agent: "S",
        request: () => ({ kinds: [99] }),
        code: "INVALID_ARGUMENT",
        records: failed("invalid_request"),
      },
      deny: denied(() => ({})),
    },
    Reload: {
      success: {
        na: "an applied reload also writes its basil.audit.reload line: tests/e2e/reload_test.ts",
      },
      failure: {
        na: "a rejected reload is an OK answer (applied=false, audited): tests/e2e/reload_test.ts",
      },
      deny: denied(() => ({})),
    },
    Explain: {
      success: {
        agent: "S",
        request: () => ({ subject: "app", op: "get", key: "app.value" }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: () => ({ subject: "app", op: "bogus", key: "app.value" }),
        code: "INVALID_ARGUMENT",
        records: failed("invalid_request"),
      },
      deny: denied(() => ({ subject: "app", op: "get", key: "app.value" })),
    },
    Revoke: {
      success: {
        agent: "S",
        request: () => ({ trustDomain: TD, jti: "j-1", expiresAtUnix: future() }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: () => ({ trustDomain: `spiffe://${TD}`, jti: "j-1", expiresAtUnix: future() }),
        code: "INVALID_ARGUMENT",
        records: failed("invalid_request"),
      },
      deny: denied(() => ({ trustDomain: TD, jti: "j-1", expiresAtUnix: future() })),
    },
  },
  "basil.broker.v1.NatsService": {
    MintNatsUser: mintRow("nats.account", "subjectUserNkey", () => createUser().getPublicKey()),
    MintNatsAccount: mintRow(
      "nats.operator",
      "subjectAccountNkey",
      () => createAccount().getPublicKey(),
    ),
    MintNatsOperator: mintRow(
      "nats.operator",
      "subjectOperatorNkey",
      () => createOperator().getPublicKey(),
    ),
    MintNatsSigner: mintRow("nats.operator", "subjectNkey", () => createOperator().getPublicKey()),
    MintNatsServer: mintRow(
      "nats.operator",
      "subjectServerNkey",
      () => createServer().getPublicKey(),
    ),
    MintNatsCurve: mintRow("nats.operator", "subjectCurveNkey", () => createCurve().getPublicKey()),
    EncryptNatsCurve: {
      success: {
        agent: "S",
        request: async (w) => {
          await xkey(w);
          return {
            keyId: "nats.xkey",
            recipientPublicXkey: createCurve().getPublicKey(),
            plaintext: utf8("hi"),
          };
        },
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: async (w) => {
          await xkey(w);
          return {
            keyId: "nats.xkey",
            recipientPublicXkey: createUser().getPublicKey(), // not an X key
            plaintext: utf8("hi"),
          };
        },
        code: "INVALID_ARGUMENT",
        records: failed("invalid_request"),
      },
      deny: denied(() => ({
        keyId: "nats.xkey",
        recipientPublicXkey: createCurve().getPublicKey(),
        plaintext: utf8("hi"),
      })),
    },
    DecryptNatsCurve: {
      success: {
        agent: "S",
        request: async (w) => {
          const ours = await xkey(w);
          const peer = createCurve();
          return {
            keyId: "nats.xkey",
            senderPublicXkey: peer.getPublicKey(),
            ciphertext: peer.seal(utf8("hi"), ours),
          };
        },
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: async (w) => {
          await xkey(w);
          return {
            keyId: "nats.xkey",
            senderPublicXkey: createCurve().getPublicKey(),
            ciphertext: utf8("xkv1 but not a box"),
          };
        },
        code: "INVALID_ARGUMENT",
        records: failed("decrypt_failed"),
      },
      deny: denied(() => ({
        keyId: "nats.xkey",
        senderPublicXkey: createCurve().getPublicKey(),
        ciphertext: utf8("xkv1"),
      })),
    },
    SignNatsJwt: {
      success: {
        agent: "S",
        request: () => ({
          keyId: "nats.account",
          claimsJson: utf8(
            JSON.stringify({ sub: createUser().getPublicKey(), nats: { type: "user" } }),
          ),
        }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: () => ({
          keyId: "nats.account",
          claimsJson: utf8(JSON.stringify({ sub: "not-an-nkey", nats: { type: "user" } })),
        }),
        code: "INVALID_ARGUMENT",
        records: failed("invalid_request"),
      },
      deny: denied(() => ({
        keyId: "nats.account",
        claimsJson: utf8(
          JSON.stringify({ sub: createUser().getPublicKey(), nats: { type: "user" } }),
        ),
      })),
    },
    ValidateNatsJwt: {
      success: {
        agent: "S",
        request: async (w) => ({
          jwt: await userJwt(w),
          allowedSigners: [{ signer: { case: "keyId", value: "nats.account" } }],
        }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        na: "every token gets a verdict (valid, or invalid with its reason), not an error: " +
          "tests/e2e/nats_peers_test.ts checks each reason",
      },
      deny: denied(() => ({
        jwt: "a.b.c",
        allowedSigners: [{ signer: { case: "keyId", value: "nats.account" } }],
      })),
    },
  },
  "basil.broker.v1.InvocationService": {
    Invoke: (() => {
      // Disabled in this agent: refused before any decision, so no record.
      const c: Case = { agent: "S", request: () => ({}), code: "FAILED_PRECONDITION", records: [] };
      return {
        success: { na: "sealed invocation is disabled here (tests/e2e/invocation_test.ts)" },
        failure: c,
        deny: { ...c, agent: "D" },
      };
    })(),
  },
  SpiffeWorkloadAPI: {
    FetchX509SVID: {
      success: { agent: "S", request: () => ({}), code: "OK", records: ALLOW, take: 1 },
      failure: {
        agent: "F",
        request: () => ({}),
        code: "INTERNAL",
        records: failed("internal_error"),
      },
      deny: denied(() => ({})),
    },
    FetchX509Bundles: {
      success: { agent: "S", request: () => ({}), code: "OK", records: ALLOW, take: 1 },
      failure: {
        agent: "F",
        request: () => ({}),
        code: "FAILED_PRECONDITION",
        records: failed("failed_precondition"),
      },
      deny: denied(() => ({})),
    },
    FetchJWTSVID: {
      success: { agent: "S", request: () => ({ audience: ["db"] }), code: "OK", records: ALLOW },
      failure: {
        agent: "F",
        request: () => ({ audience: ["db"] }),
        code: "INTERNAL",
        records: failed("internal_error"),
      },
      deny: denied(() => ({ audience: ["db"] })),
    },
    FetchJWTBundles: {
      success: { agent: "S", request: () => ({}), code: "OK", records: ALLOW, take: 1 },
      failure: { na: "an issuer without material is left out of the JWKS, not an error" },
      deny: denied(() => ({})),
    },
    ValidateJWTSVID: {
      success: {
        agent: "S",
        request: async (w) => ({ audience: "db", svid: await jwtSvid(w) }),
        code: "OK",
        records: ALLOW,
      },
      failure: {
        agent: "S",
        request: async (w) => ({ audience: "someone-else", svid: await jwtSvid(w) }),
        code: "INVALID_ARGUMENT",
        records: failed("validation_failed"),
      },
      deny: denied(async (w) => ({ audience: "db", svid: await jwtSvid(w) })),
    },
  },
};

const SERVICES: readonly DescService[] = [
  pb.SecretService,
  pb.SigningService,
  pb.AeadService,
  pb.MintingService,
  pb.AdminService,
  pb.NatsService,
  pb.InvocationService,
  SpiffeWorkloadAPI,
];

Deno.test("the table covers every RPC of basil.broker.v1 and SpiffeWorkloadAPI in every case", () => {
  const want = SERVICES.flatMap((s) => s.methods.map((m) => `${s.typeName}/${m.name}`)).sort();
  const have = Object.entries(TABLE).flatMap(([s, rows]) =>
    Object.keys(rows).map((m) => `${s}/${m}`)
  )
    .sort();
  assert.deepEqual(have, want);
  let applicable = 0;
  for (const rows of Object.values(TABLE)) {
    for (const row of Object.values(rows)) {
      for (const c of Object.values(row)) if (!("na" in c)) applicable++;
    }
  }
  assert.ok(applicable >= 90, `${applicable} applicable cases`);
});

Deno.test("every RPC × {allow+success, allow+failure, deny}: record count and outcome are the truth", async (t) => {
  const uid = Deno.uid()!;
  const fixtures = await Promise.all([
    Fixture.create({ catalog: catalog("generate"), policy: grantedPolicy }),
    Fixture.create({ catalog: catalog("warn"), policy: grantedPolicy }),
    Fixture.create({ catalog: catalog("generate"), policy: strangerPolicy(uid) }),
  ]);
  const agents: Record<AgentName, Fixture> = { S: fixtures[0], F: fixtures[1], D: fixtures[2] };
  const running = await Promise.all(fixtures.map((f) => f.start()));
  const call = (agent: AgentName, m: DescMethod, init: unknown, c?: Case): Promise<Outcome> => {
    const f = agents[agent];
    const meta = m.parent === SpiffeWorkloadAPI ? SPIFFE_HEADER : {};
    if (m.methodKind !== "server_streaming") return unary(f.socket, m, init, meta);
    const from = f.auditRecords().length;
    const stop = c?.untilRecorded ? recordsWritten(f, from, c.records.length) : undefined;
    return serverStream(f.socket, m, init, meta, c?.take ?? Infinity, stop);
  };
  const world: World = { agents, call: (a, m, init) => call(a, m, init) };
  try {
    for (const service of SERVICES) {
      for (const m of service.methods) {
        const row = TABLE[service.typeName]![m.name]!;
        for (const [name, c] of Object.entries(row)) {
          if ("na" in c) continue;
          await t.step(`${m.name} ${name}`, async () => {
            const init = await c.request(world);
            const f = agents[c.agent];
            const before = f.auditRecords().length;
            const out = await call(c.agent, m, init, c);
            const records = f.auditRecords().slice(before);
            const where = `${service.typeName}/${m.name} ${name} on ${c.agent}`;
            assert.equal(out.code, c.code, where);
            assert.deepEqual(
              records.map((r) => [r.decision, r.outcome]),
              c.records.map((r) => [...r]),
              `${where}: ${JSON.stringify(records)}`,
            );
          });
        }
      }
    }
  } finally {
    await Promise.all(running.map((a) => a.stop()));
    for (const f of fixtures) f.cleanup();
  }
});
