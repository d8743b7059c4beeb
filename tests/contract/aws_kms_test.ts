/**
 * The backend contract suite against the aws-kms backend and a real KMS
 * peer, moto_server (tests/helpers/moto.ts): P-256/P-384/P-521
 * sign/verify/public key, SYMMETRIC_DEFAULT encrypt/decrypt with AAD as
 * encryption context, create (CreateKey + CreateAlias), rotate (alias swap)
 * and the DescribeKey existence probe.
 *
 * moto ignores `MessageType=DIGEST` (it hashes the digest again), so this
 * suite runs the backend with `ecdsaMessageType: "RAW"`; the agent's DIGEST
 * encoding is covered by tests/unit/backends/aws_kms_encoding_test.ts and
 * tests/e2e/aws_kms_agent_test.ts. moto refuses ECC_NIST_EDWARDS25519, so
 * Ed25519 is covered by the encoding test only.
 */

import { openAwsKmsBackend } from "../../lib/backends/aws_kms/mod.ts";
import { nullLogger } from "../../lib/core/log.ts";
import { gated, missingNeeds } from "../helpers/peers.ts";
import { MOTO, Moto, MOTO_ENV } from "../helpers/moto.ts";
import { backendContract } from "./backend_contract.ts";

if (missingNeeds([MOTO]).length > 0) {
  Deno.test(gated([MOTO], { name: "[aws-kms (moto)] backend contract", fn() {} }));
} else {
  // The SDK's default chain finds these static keys (moto accepts any).
  for (const [k, v] of Object.entries(MOTO_ENV)) Deno.env.set(k, v);
  // One moto for the file, started before any test (so no test owns it).
  const moto = await Moto.start();
  globalThis.addEventListener("unload", () => moto.stop());
  backendContract("aws-kms (moto)", {
    signing: ["ecdsa-p256", "ecdsa-p384", "ecdsa-p521"],
    aead: ["aes-256-gcm"],
    importTypes: [],
    prune: false,
  }, () => {
    const backend = openAwsKmsBackend({
      name: "kms",
      addr: `aws-kms:us-east-1,endpoint=${moto.url}`,
      cred: { type: "AwsKms", region: "us-east-1" },
      logger: nullLogger,
      env: (n) => MOTO_ENV[n],
      ecdsaMessageType: "RAW",
    });
    return Promise.resolve({ backend, close: () => Promise.resolve(backend.close()) });
  });
}
