/**
 * The aws-kms backend's request encoding, captured from the SDK's own
 * serialized HTTP request (a build-step middleware answers in place of KMS).
 * This covers what moto cannot: ECC_NIST_EDWARDS25519 keys (moto refuses
 * them) and ECDSA's MessageType=DIGEST (moto ignores it). Also the key
 * references, the AAD encryption context, the type map and error mapping.
 */

import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, sign as nodeSign } from "node:crypto";
import { KMSClient } from "@aws-sdk/client-kms";
import { awsError, decryptError } from "../../../lib/backends/aws_kms/errors.ts";
import { generatedAlias, keyRef, versionOf } from "../../../lib/backends/aws_kms/refs.ts";
import { aadContext, createKmsTransit } from "../../../lib/backends/aws_kms/transit.ts";
import { kmsKeyType } from "../../../lib/backends/aws_kms/types.ts";
import { awsNetHosts, parseAwsKmsAddr } from "../../../lib/backends/aws_kms/access.ts";
import { BasilError } from "../../../lib/core/errors.ts";
import { nullLogger } from "../../../lib/core/log.ts";
import { verifyMessage } from "../../../lib/crypto/signing.ts";

interface Captured {
  action: string;
  body: Record<string, unknown>;
}

const ARN = "arn:aws:kms:us-east-1:111122223333:key/1111abcd-12ab-34cd-56ef-1234567890ab";

/** A KMS client whose requests are captured after serialization and answered by `answer`. */
function capturingClient(
  answer: (action: string, body: Record<string, unknown>) => Record<string, unknown>,
): { client: KMSClient; seen: Captured[] } {
  const seen: Captured[] = [];
  const client = new KMSClient({
    region: "us-east-1",
    endpoint: "https://kms.us-east-1.amazonaws.com",
    credentials: { accessKeyId: "AKID", secretAccessKey: "secret" },
    defaultUserAgentProvider: () => Promise.resolve([["basil-test"]]),
  });
  client.middlewareStack.add(
    (_next, _ctx) => (args) => {
      const req = args.request as { headers: Record<string, string>; body: string | Uint8Array };
      const action = req.headers["x-amz-target"]!.replace("TrentService.", "");
      const text = typeof req.body === "string" ? req.body : new TextDecoder().decode(req.body);
      const body = JSON.parse(text) as Record<string, unknown>;
      seen.push({ action, body });
      return Promise.resolve({ output: answer(action, body) as never, response: {} });
    },
    { step: "build", name: "capture", priority: "low" },
  );
  return { client, seen };
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const bytes = (s: unknown) => new Uint8Array(Buffer.from(String(s), "base64"));

Deno.test("ed25519: CreateKey ECC_NIST_EDWARDS25519, Sign ED25519_SHA_512 over the raw message", async () => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  let created = false;
  const meta = () => ({
    KeyMetadata: {
      KeyId: "1111abcd-12ab-34cd-56ef-1234567890ab",
      Arn: ARN,
      KeySpec: "ECC_NIST_EDWARDS25519",
      KeyUsage: "SIGN_VERIFY",
      Description: "Basil key, version 1: sig.ed",
    },
  });
  const { client, seen } = capturingClient((action, body) => {
    switch (action) {
      case "DescribeKey":
        if (!created) throw Object.assign(new Error("no"), notFoundError());
        return meta();
      case "CreateKey":
        created = true;
        return meta();
      case "CreateAlias":
        return {};
      case "GetPublicKey":
        return { KeyId: ARN, PublicKey: spki };
      case "Sign":
        return {
          KeyId: ARN,
          Signature: new Uint8Array(nodeSign(null, bytes(body.Message), privateKey)),
        };
      default:
        throw new Error(action);
    }
  });
  const t = createKmsTransit(client, nullLogger);
  const created1 = await t.create("sig.ed", "ed25519");
  assert.equal(created1.publicKey.length, 32);
  const msg = new TextEncoder().encode("raw message");
  const sig = await t.sign("sig.ed", "ed25519", msg, 1);
  assert.ok(verifyMessage("ed25519", created1.publicKey, msg, sig));
  const create = seen.find((s) => s.action === "CreateKey")!;
  assert.deepEqual(
    { spec: create.body.KeySpec, usage: create.body.KeyUsage },
    { spec: "ECC_NIST_EDWARDS25519", usage: "SIGN_VERIFY" },
  );
  const alias = seen.find((s) => s.action === "CreateAlias")!;
  assert.equal(alias.body.AliasName, generatedAlias("sig.ed"));
  assert.equal(alias.body.TargetKeyId, ARN);
  const s = seen.find((x) => x.action === "Sign")!;
  assert.equal(s.body.SigningAlgorithm, "ED25519_SHA_512");
  assert.equal(s.body.MessageType, "RAW");
  assert.equal(s.body.Message, b64(msg));
  await assert.rejects(
    t.sign("sig.ed", "ed25519", new Uint8Array(4097), 1),
    (e) => e instanceof BasilError && e.code === "PAYLOAD_TOO_LARGE",
  );
  client.destroy();
});

for (
  const [kt, spec, alg, hash, size] of [
    ["ecdsa-p256", "ECC_NIST_P256", "ECDSA_SHA_256", "sha256", 32],
    ["ecdsa-p384", "ECC_NIST_P384", "ECDSA_SHA_384", "sha384", 48],
    ["ecdsa-p521", "ECC_NIST_P521", "ECDSA_SHA_512", "sha512", 66],
  ] as const
) {
  Deno.test(`${kt}: Sign and Verify send DIGEST of ${hash}(message), DER ↔ raw r‖s`, async () => {
    const curve = { 32: "prime256v1", 48: "secp384r1", 66: "secp521r1" }[size];
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: curve });
    const msg = new TextEncoder().encode("message longer than nothing".repeat(300)); // > 4 KiB
    const { client, seen } = capturingClient((action, body) => {
      if (action === "DescribeKey") {
        return { KeyMetadata: { KeyId: "k", Arn: ARN, KeySpec: spec, KeyUsage: "SIGN_VERIFY" } };
      }
      if (action === "Sign") {
        // KMS in DIGEST mode signs the digest as is: the same signature as over msg.
        assert.deepEqual(
          bytes(body.Message),
          new Uint8Array(createHash(hash).update(msg).digest()),
        );
        const der = nodeSign(hash, msg, { key: privateKey, dsaEncoding: "der" });
        return { KeyId: ARN, Signature: new Uint8Array(der) };
      }
      if (action === "Verify") return { KeyId: ARN, SignatureValid: true };
      throw new Error(action);
    });
    const t = createKmsTransit(client, nullLogger);
    const sig = await t.sign("alias/basil/x", kt, msg, 1);
    assert.equal(sig.length, size * 2, "raw r‖s");
    const digest = createHash(hash).update(msg).digest();
    const s = seen.find((x) => x.action === "Sign")!;
    assert.deepEqual(
      { t: s.body.MessageType, a: s.body.SigningAlgorithm, m: s.body.Message, k: s.body.KeyId },
      { t: "DIGEST", a: alg, m: digest.toString("base64"), k: "alias/basil/x" },
    );
    assert.equal(await t.verify("alias/basil/x", kt, msg, sig, 1), true);
    const v = seen.find((x) => x.action === "Verify")!;
    assert.equal(v.body.MessageType, "DIGEST");
    assert.equal(v.body.Message, digest.toString("base64"));
    assert.equal(bytes(v.body.Signature)[0], 0x30, "DER to KMS");
    assert.equal(await t.verify("alias/basil/x", kt, msg, sig.subarray(1), 1), false);
    client.destroy();
  });
}

Deno.test("refused key types are never substituted", () => {
  for (const kt of ["rsa-2048", "chacha20-poly1305", "x25519", "ml-dsa-65", "ml-kem-768"]) {
    assert.throws(
      () => kmsKeyType(kt as never),
      (e) => e instanceof BasilError && e.code === "UNSUPPORTED_ALGORITHM",
    );
  }
});

Deno.test("key references: alias, ARN, key id, logical name", () => {
  assert.deepEqual(keyRef("alias/basil/jwt"), {
    kind: "alias",
    id: "alias/basil/jwt",
    generated: false,
  });
  assert.equal(keyRef(ARN).kind, "arn");
  assert.equal(keyRef("1111abcd-12ab-34cd-56ef-1234567890ab").kind, "key-id");
  assert.equal(keyRef("mrk-1234abcd12ab34cd56ef1234567890ab").kind, "key-id");
  const g = keyRef("jwt.signing.primary");
  const hash = Buffer.from(createHash("sha256").update("jwt.signing.primary").digest())
    .toString("base64url").slice(0, 12);
  assert.deepEqual(g, {
    kind: "alias",
    id: `alias/basil/jwt-signing-primary-${hash}`,
    generated: true,
  });
  assert.notEqual(generatedAlias("a/b"), generatedAlias("a.b"), "the hash tells them apart");
  assert.match(generatedAlias("!!!"), /^alias\/basil\/key-[A-Za-z0-9_-]{12}$/);
  assert.equal(versionOf("Basil key, version 3: x"), 3);
  assert.equal(versionOf("Basil jwt signing key"), 1);
});

Deno.test("AAD is the encryption context {basil:aad: base64url(aad)}", () => {
  assert.equal(aadContext(undefined), undefined);
  assert.equal(aadContext(new Uint8Array(0)), undefined);
  assert.deepEqual(aadContext(new Uint8Array([1, 2, 0xfb, 0xff])), { "basil:aad": "AQL7_w" });
});

Deno.test("AWS failures become opaque broker errors", () => {
  const fault = (name: string, status: number, fault = "client") =>
    Object.assign(new Error(`secret detail from ${name}`), {
      name,
      $fault: fault,
      $metadata: { httpStatusCode: status },
    });
  const a = awsError("sign k", fault("AccessDeniedException", 400));
  assert.equal(a.code, "BACKEND_ERROR");
  assert.equal(a.message, "backend operation failed");
  assert.match(a.detail!, /AccessDeniedException \(HTTP 400\): secret detail/);
  assert.equal(awsError("x", fault("ThrottlingException", 400)).code, "BACKEND_UNAVAILABLE");
  assert.equal(
    awsError("x", fault("KMSInternalException", 500, "server")).code,
    "BACKEND_UNAVAILABLE",
  );
  assert.equal(awsError("x", new Error("connect ECONNREFUSED")).code, "BACKEND_UNAVAILABLE");
  for (const n of ["InvalidCiphertextException", "IncorrectKeyException"]) {
    const d = decryptError("decrypt k", fault(n, 400));
    assert.equal(d.code, "DECRYPT_FAILED");
    assert.equal(d.message, "decrypt failed");
  }
  assert.equal(decryptError("x", fault("AccessDeniedException", 400)).code, "BACKEND_ERROR");
});

Deno.test("sandbox hosts: the endpoint, STS only for web identity, IMDS only without keys", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  const addr = parseAwsKmsAddr("aws-kms:eu-west-1");
  assert.deepEqual(awsNetHosts(addr, env({ AWS_ACCESS_KEY_ID: "a" })), [
    "kms.eu-west-1.amazonaws.com:443",
  ]);
  assert.deepEqual(awsNetHosts(addr, env({})), [
    "kms.eu-west-1.amazonaws.com:443",
    "169.254.169.254:80",
  ]);
  assert.deepEqual(awsNetHosts(addr, env({ AWS_EC2_METADATA_DISABLED: "true" })), [
    "kms.eu-west-1.amazonaws.com:443",
  ]);
  assert.deepEqual(awsNetHosts(addr, env({ AWS_WEB_IDENTITY_TOKEN_FILE: "/var/run/t" })), [
    "kms.eu-west-1.amazonaws.com:443",
    "sts.eu-west-1.amazonaws.com:443",
  ]);
  assert.deepEqual(
    awsNetHosts(
      parseAwsKmsAddr("aws-kms:us-east-1,endpoint=https://vpce-1.kms.us-east-1.vpce.amazonaws.com"),
      env({ AWS_ACCESS_KEY_ID: "a" }),
    ),
    ["vpce-1.kms.us-east-1.vpce.amazonaws.com:443"],
  );
  assert.deepEqual(
    awsNetHosts(
      parseAwsKmsAddr("kms label"),
      env({ AWS_ACCESS_KEY_ID: "a", AWS_ENDPOINT_URL_KMS: "http://127.0.0.1:4566" }),
    ),
    ["127.0.0.1:4566"],
  );
});

function notFoundError() {
  return { name: "NotFoundException", $fault: "client", $metadata: { httpStatusCode: 400 } };
}
