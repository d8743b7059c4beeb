/**
 * Sealed invocations through the real socket: a workload's sign-request
 * (lib/cose, signed with its own Ed25519 key, sealed to the broker's
 * request-encryption key) goes through InvocationService.Invoke; the sealed
 * sign-response is verified with the broker's response-signing key
 * (GetPublicKey) and opened with AeadService.UnsealCose on the response key;
 * its signature verifies under the target key. Replayed, tampered,
 * wrong-audience, skewed, oversized and unknown-label requests each get
 * their status and reason; the audit names the sealed actor and the socket
 * peer only as presenter.
 */

import assert from "node:assert/strict";
import { ed25519 } from "@noble/curves/ed25519.js";
import { Sign1 } from "@auth0/cose";
import { importJWK } from "jose";
import { toBase64Url } from "../../lib/core/encoding.ts";
import {
  buildSignRequest,
  CborTag,
  decodeCbor,
  decodeSignResponse,
  encodeCbor,
  localSigner,
  parseInvocation,
  STATUS_CODE,
} from "../../lib/cose/mod.ts";
import { checkClaims } from "../../lib/cose/invocation.ts";
import {
  AeadService,
  InvocationService,
  SigningService,
} from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { Fixture } from "../helpers/fixture.ts";
import { AUDIENCE, SEALED_CONFIG, sealedCatalog } from "../helpers/invocation.ts";
import { rawCall } from "../helpers/rawgrpc.ts";

const CLIENT_SEED = new Uint8Array(32).fill(0x11);
const CLIENT_PUB = ed25519.getPublicKey(CLIENT_SEED);

function catalog(): unknown {
  return sealedCatalog({
    "app.other": {
      backend: "db",
      writable: true,
      description: "test key",
      class: "asymmetric",
      keyType: "ed25519",
      path: "app/other",
      missing: "generate",
    },
  });
}

function policy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: {
      operator: { anyOf: [{ kind: "unix", uid }] },
      "client.signing.test": {
        anyOf: [{ kind: "signature-key", algorithm: "ed25519", public: toBase64Url(CLIENT_PUB) }],
      },
    },
    rules: [
      {
        id: "operator",
        subjects: ["operator"],
        action: ["*"],
        target: ["inv.*", "broker.*", "app.*"],
      },
      {
        id: "client-open",
        subjects: ["client.signing.test"],
        action: ["op:decrypt"],
        target: ["inv.request"],
      },
      {
        id: "client-sign",
        subjects: ["client.signing.test"],
        action: ["op:sign"],
        target: ["app.sign"],
      },
    ],
  };
}

Deno.test("sealed invocation: Invoke end to end through the socket", async () => {
  const f = await Fixture.create({ catalog: catalog(), policy, configExtra: SEALED_CONFIG });
  const agent = await f.start();
  try {
    for (const id of ["inv.request", "inv.response"]) {
      const nk = await f.cli(["new-key", "--key-id", id]);
      assert.equal(nk.code, 0, nk.stderr);
    }
    const pub = async (keyId: string) => {
      const r = await rawCall(f.socket, SigningService.method.getPublicKey, { keyId });
      assert.equal(r.code, "OK", JSON.stringify(r));
      return r.message!.publicKey;
    };
    const requestPub = await pub("inv.request");
    const brokerPub = await pub("broker.signing");
    const appPub = await pub("app.sign");
    const now = Math.floor(Date.now() / 1000);
    const build = (
      o: { keyId?: string; audience?: string; issuedAt?: number; message?: Uint8Array } = {},
    ) =>
      buildSignRequest({
        signer: localSigner("EdDSA", CLIENT_SEED),
        senderKeyId: "client.signing.test",
        recipientPublicKey: requestPub,
        recipientKeyId: "inv.request",
        audience: o.audience ?? AUDIENCE,
        responseKeyId: "inv.response",
        responseSubject: "svc-a.replies",
        body: {
          keyId: o.keyId ?? "app.sign",
          message: o.message ?? new TextEncoder().encode("payload"),
          algorithm: 1,
        },
        issuedAt: o.issuedAt ?? now,
      });
    const invoke = (message: Uint8Array) =>
      rawCall(f.socket, InvocationService.method.invoke, { message });
    const open = async (response: Uint8Array) => {
      // The independent peer verifies the broker's outer signature too.
      const jwk = { kty: "OKP", crv: "Ed25519", x: toBase64Url(brokerPub) };
      await Sign1.decode(response).verify(await importJWK(jwk, "EdDSA"));
      const p = parseInvocation(response, "response");
      assert.equal(p.kid, "broker.signing");
      p.verifySignature(brokerPub);
      checkClaims(p.header, "response", {
        nowUnix: now,
        audiences: [],
        clockSkewSecs: 30,
        maxTtlSecs: 300,
      });
      const inner = (decodeCbor(response, { tags: [18, 96] }) as CborTag).value as Uint8Array[];
      const u = await rawCall(f.socket, AeadService.method.unsealCose, {
        keyId: "inv.response",
        coseEncrypt: inner[2]!,
      });
      assert.equal(u.code, "OK", JSON.stringify(u));
      return { header: p.header, body: decodeSignResponse(u.message!.plaintext) };
    };

    // The happy path.
    const req = await build();
    const ok = await invoke(req.bytes);
    assert.equal(ok.code, "OK", JSON.stringify(ok));
    assert.equal(ok.message!.responseSubject, "svc-a.replies");
    const r = await open(ok.message!.message);
    assert.deepEqual(r.header.inReplyTo, req.cti);
    assert.equal(r.body.status.code, STATUS_CODE.OK);
    assert.ok(ed25519.verify(r.body.signature!, new TextEncoder().encode("payload"), appPub));

    // Replay of the same bytes.
    const replay = await invoke(req.bytes);
    assert.equal(replay.code, "INVALID_ARGUMENT");
    assert.equal(replay.reason, "INVALID_REQUEST");
    assert.match(replay.details, /claims-replay/);

    // Tampered signature: no oracle (same as an unknown sender).
    const tampered = (await build()).bytes;
    tampered[tampered.length - 1]! ^= 1;
    const t = await invoke(tampered);
    assert.equal(t.code, "PERMISSION_DENIED");
    assert.equal(t.reason, "UNAUTHORIZED");
    assert.equal(t.details, "not authorized");

    // Wrong audience, skewed iat.
    const aud = await invoke((await build({ audience: "basil://other" })).bytes);
    assert.equal(aud.code, "INVALID_ARGUMENT");
    assert.match(aud.details, /claims-audience/);
    const skew = await invoke((await build({ issuedAt: now + 3600 })).bytes);
    assert.equal(skew.code, "INVALID_ARGUMENT");
    assert.match(skew.details, /claims-not-yet-valid/);
    const old = await invoke((await build({ issuedAt: now - 3600 })).bytes);
    assert.match(old.details, /claims-expired/);

    // Oversized.
    const big = await invoke(new Uint8Array(1024 * 1024 + 1));
    assert.equal(big.code, "RESOURCE_EXHAUSTED");
    assert.equal(big.reason, "PAYLOAD_TOO_LARGE");

    // An unknown label in the outer protected header (re-signed, so only the label is wrong).
    const good = (decodeCbor((await build()).bytes, { tags: [18, 96] }) as CborTag)
      .value as Uint8Array[];
    const protectedMap = new Map<number, import("../../lib/cose/cbor.ts").CborValue>([
      [1, -8],
      [4, new TextEncoder().encode("client.signing.test")],
      [99, 1],
    ]);
    const protectedBytes = encodeCbor(protectedMap);
    const tbs = encodeCbor(["Signature1", protectedBytes, new Uint8Array(0), good[2]!]);
    const unknown = encodeCbor(
      new CborTag(18, [protectedBytes, new Map(), good[2]!, ed25519.sign(tbs, CLIENT_SEED)]),
    );
    const u = await invoke(unknown);
    assert.equal(u.code, "INVALID_ARGUMENT");
    assert.match(u.details, /decode-unknown-label/);

    // A key the actor may not sign with: a sealed DENIED response, no oracle.
    const denied = await invoke((await build({ keyId: "app.other" })).bytes);
    assert.equal(denied.code, "OK", JSON.stringify(denied));
    const d = await open(denied.message!.message);
    assert.equal(d.body.status.code, STATUS_CODE.DENIED);
    assert.equal(d.body.status.reason, "UNAUTHORIZED");
    assert.equal(d.body.signature, undefined);
    const missing = await open(
      (await invoke((await build({ keyId: "app.nope" })).bytes)).message!.message,
    );
    assert.deepEqual(missing.body.status, d.body.status);

    // The audit: the sealed actor, the socket peer as presenter only.
    const recs = f.auditRecords().filter((x) => x.op === "sign" && x.target_id === "app.sign");
    assert.ok(recs.length >= 1);
    assert.equal(recs[0]!.actor_id, "client.signing.test");
    assert.deepEqual(recs[0]!.authenticated_by, ["signature-key:client.signing.test"]);
    assert.equal(recs[0]!.presenter_kind, "unix_peercred");
  } finally {
    await agent.stop();
    f.cleanup();
  }
});
