/**
 * `basil doctor` for an aws-kms catalog (contract §8): `feature_compatibility`
 * says aws-kms is built in, and `capability` fails when the backend declares
 * what KMS cannot provide (an engine other than transit, a `mintKeyTypes`
 * KMS cannot mint). Doctor never reaches AWS.
 */

import assert from "node:assert/strict";
import { basil } from "../helpers/cli.ts";
import { Fixture } from "../helpers/fixture.ts";

interface Check {
  name: string;
  status: string;
  detail: string;
}

async function doctor(f: Fixture, backend: Record<string, unknown>): Promise<Map<string, Check>> {
  Deno.writeTextFileSync(
    f.catalog,
    JSON.stringify({
      schemaVersion: 1,
      backends: { kms: { kind: "aws-kms", addr: "aws-kms:us-east-1", ...backend } },
      keys: {
        "kms.jwt": {
          class: "asymmetric",
          keyType: "ecdsa-p256",
          backend: "kms",
          path: "alias/basil/jwt",
          writable: false,
          missing: "error",
          description: "JWT key in KMS",
        },
      },
    }),
  );
  const r = await basil(["doctor", "-c", f.config, "--json"]);
  const doc = JSON.parse(r.stdout) as { checks: Check[] };
  return new Map(doc.checks.map((c) => [c.name, c]));
}

Deno.test("doctor: aws-kms is built in; its capability declaration must be one KMS honours", async () => {
  const f = await Fixture.create();
  try {
    const good = await doctor(f, { engines: ["transit"], mintKeyTypes: ["ecdsa-p256", "ed25519"] });
    assert.equal(good.get("feature_compatibility")!.status, "ok");
    assert.equal(good.get("capability")!.status, "ok", good.get("capability")!.detail);

    const bad = await doctor(f, { engines: ["transit", "kv2"], mintKeyTypes: ["rsa-2048"] });
    assert.equal(bad.get("feature_compatibility")!.status, "ok");
    const cap = bad.get("capability")!;
    assert.equal(cap.status, "fatal");
    assert.match(cap.detail, /aws-kms provides no engine "kv2"/);
    assert.match(cap.detail, /aws-kms cannot mint "rsa-2048" keys/);
  } finally {
    f.cleanup();
  }
});
