/**
 * Issue 9, findings 1 and 2, reproduced as an attacker would, over the real
 * socket with the independent python3-grpcio client
 * (tests/fixtures/py/rpc_client.py): a workload granted everything on the
 * SPIFFE issuers (`mint` is what its own SVIDs need) can no longer forge a
 * JWT-SVID for another identity through MintJwt, nor get a TLS leaf from
 * the X.509-SVID CA through IssueCertificate; its own SVIDs still work.
 * Plus IssueCertificate's TTL cap and SAN checks through the CLI.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { ROOT } from "../helpers/cli.ts";
import { Fixture } from "../helpers/fixture.ts";
import { needs } from "../helpers/peers.ts";
import { PYTHON, pythonStubs } from "../helpers/python.ts";

const TD = "example.org";
const HEADER = { "workload.spiffe.io": "true" };

function catalog(): unknown {
  const key = (o: Record<string, unknown>) => ({
    backend: "db",
    writable: true,
    missing: "generate",
    ...o,
  });
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: "${DB}",
        engines: ["transit", "kv2", "pki"],
        mintKeyTypes: ["ed25519", "ecdsa-p256"],
      },
    },
    keys: {
      "spiffe.x509_ca": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        engine: "pki",
        path: "pki/issue/spiffe",
        labels: ["svid_kind=x509", `trust_domain=${TD}`],
        description: "X.509-SVID CA",
      }),
      "spiffe.jwt_issuer": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        path: "spiffe/jwt",
        labels: ["svid_kind=jwt", `trust_domain=${TD}`, `spiffe_id=spiffe://${TD}`],
        description: "JWT-SVID issuer",
      }),
      "tls.ca": key({
        class: "asymmetric",
        keyType: "ecdsa-p256",
        engine: "pki",
        path: "pki/issue/web",
        description: "TLS CA for IssueCertificate",
      }),
    },
  };
}

/** The workload holds every grant on the issuers, as generously as a policy can. */
function policy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { workload: { anyOf: [{ kind: "unix", uid }] } },
    rules: [
      { id: "issuers", subjects: ["workload"], action: ["*"], target: ["spiffe.*"] },
      { id: "tls", subjects: ["workload"], action: ["op:mint"], target: ["tls.ca"] },
    ],
  };
}

/** One call's outcome as rpc_client.py prints it. */
interface PyOutcome {
  code: string;
  details: string;
  reason: string | null;
  op: string | null;
  has_details_bin: boolean;
  responses: Record<string, unknown>[];
}

/** Runs `calls` in one python3-grpcio process (tests/fixtures/py/rpc_client.py). */
async function py(socket: string, calls: unknown[]): Promise<PyOutcome[]> {
  const gen = await pythonStubs();
  const out = await new Deno.Command(PYTHON, {
    args: [`${ROOT}/tests/fixtures/py/rpc_client.py`, gen, socket, JSON.stringify(calls)],
    env: { HOME: "/nonexistent" },
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (out.code !== 0 || text === "") {
    throw new Error(`rpc_client.py failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(text);
}

const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());

/** The records the agent wrote since `from`, as [op, target, decision, outcome, reason]. */
function recordsSince(f: Fixture, from: number): string[][] {
  return f.auditRecords().slice(from).map((r) =>
    [r.op, r.target_id, r.decision, r.outcome, r.reason] as string[]
  );
}

Deno.test({
  name: "finding 1: MintJwt cannot forge a JWT-SVID; the workload's own SVIDs still work",
  ...needs(PYTHON, "protoc"),
  async fn() {
    const uid = Deno.uid()!;
    const me = `spiffe://${TD}/${uid}`;
    const admin = `spiffe://${TD}/admin`;
    const f = await Fixture.create({ catalog: catalog(), policy });
    const a = await f.start();
    try {
      const before = f.auditRecords().length;
      const [forge, unknownKey, own, asAdmin] = await py(f.socket, [
        {
          method: "basil.broker.v1.MintingService/MintJwt",
          request: {
            key_id: "spiffe.jwt_issuer",
            subject: admin,
            ttl: "86400s",
            extra_claims_json: btoa('{"aud":"vault"}'),
          },
        },
        {
          method: "basil.broker.v1.MintingService/MintJwt",
          request: { key_id: "spiffe.no_such_key", subject: admin, ttl: "86400s" },
        },
        {
          method: "SpiffeWorkloadAPI/FetchJWTSVID",
          request: { audience: ["vault"] },
          meta: HEADER,
        },
        {
          method: "SpiffeWorkloadAPI/FetchJWTSVID",
          request: { audience: ["vault"], spiffe_id: admin },
          meta: HEADER,
        },
      ]);
      // The forgery is refused with the generic denial, byte-identical to an unknown key's.
      assert.deepEqual(
        [forge!.code, forge!.details, forge!.reason, forge!.op],
        ["PERMISSION_DENIED", "not authorized", "UNAUTHORIZED", "mint"],
      );
      assert.deepEqual({ ...forge, responses: [] }, { ...unknownKey, responses: [] });
      assert.equal(asAdmin!.code, "PERMISSION_DENIED");

      // The legitimate path still works, for the caller's own attested identity only.
      assert.equal(own!.code, "OK", JSON.stringify(own));
      const svid = (own!.responses[0]!.svids as { spiffe_id: string; svid: string }[])[0]!;
      assert.equal(svid.spiffe_id, me);
      assert.equal(claimsOf(svid.svid).sub, me);

      // A token for another identity cannot be obtained: rewriting `sub` breaks the signature.
      const [h, , s] = svid.svid.split(".");
      const forged = `${h}.${
        Buffer.from(JSON.stringify({ ...claimsOf(svid.svid), sub: admin })).toString("base64url")
      }.${s}`;
      const [ok, tampered, unknownIssuer] = await py(f.socket, [
        {
          method: "SpiffeWorkloadAPI/ValidateJWTSVID",
          request: { audience: "vault", svid: svid.svid },
          meta: HEADER,
        },
        {
          method: "SpiffeWorkloadAPI/ValidateJWTSVID",
          request: { audience: "vault", svid: forged },
          meta: HEADER,
        },
        {
          method: "SpiffeWorkloadAPI/ValidateJWTSVID",
          request: {
            audience: "vault",
            svid: `${h}.${
              Buffer.from(JSON.stringify({ ...claimsOf(svid.svid), iss: "spiffe://evil" }))
                .toString("base64url")
            }.${s}`,
          },
          meta: HEADER,
        },
      ]);
      assert.equal(ok!.code, "OK", JSON.stringify(ok));
      assert.equal(ok!.responses[0]!.spiffe_id, me);
      assert.deepEqual([tampered!.code, tampered!.details], [
        "INVALID_ARGUMENT",
        "invalid JWT-SVID: bad signature",
      ]);
      // An issuer the agent does not know says nothing about issuers.
      assert.deepEqual([unknownIssuer!.code, unknownIssuer!.details], [
        "PERMISSION_DENIED",
        "not authorized",
      ]);
      assert.equal(unknownIssuer!.has_details_bin, false);

      assert.deepEqual(recordsSince(f, before), [
        ["mint", "spiffe.jwt_issuer", "deny", "deny", "issuer_protocol_only"],
        ["mint", "spiffe.no_such_key", "deny", "deny", "unknown_key"],
        ["mint", "spiffe.jwt_issuer", "allow", "allow", "subject:workload"],
        ["mint", "spiffe.jwt_issuer", "deny", "deny", "spiffe_id_mismatch"],
        ["validate", "spiffe.jwt_issuer", "allow", "allow", "subject:workload"],
        ["validate", "spiffe.jwt_issuer", "allow", "validation_failed", "subject:workload"],
        ["validate", "spiffe.jwt_svid", "deny", "deny", "unknown_issuer"],
      ]);
    } finally {
      await a.stop();
      f.cleanup();
    }
  },
});

Deno.test({
  name: "finding 2: no TLS leaf from the X.509-SVID CA, no raw signature from an issuer",
  ...needs(PYTHON, "protoc"),
  async fn() {
    const f = await Fixture.create({ catalog: catalog(), policy });
    const a = await f.start();
    try {
      const tenYears = `${10 * 365 * 86400}s`;
      const before = f.auditRecords().length;
      const [fromSvidCa, rawSign, fromTlsCa, own] = await py(f.socket, [
        {
          method: "basil.broker.v1.MintingService/IssueCertificate",
          request: {
            issuer_key_id: "spiffe.x509_ca",
            common_name: "vault.example.org",
            dns_sans: ["vault.example.org"],
            ttl: tenYears,
          },
        },
        {
          method: "basil.broker.v1.SigningService/Sign",
          request: { key_id: "spiffe.jwt_issuer", message: btoa("anything") },
        },
        {
          method: "basil.broker.v1.MintingService/IssueCertificate",
          request: {
            issuer_key_id: "tls.ca",
            common_name: "vault.example.org",
            dns_sans: ["vault.example.org"],
            ttl: tenYears,
          },
        },
        { method: "SpiffeWorkloadAPI/FetchX509SVID", request: {}, meta: HEADER },
      ]);
      assert.deepEqual(
        [fromSvidCa!.code, fromSvidCa!.details, fromSvidCa!.reason],
        ["PERMISSION_DENIED", "not authorized", "UNAUTHORIZED"],
      );
      assert.deepEqual(fromSvidCa!.responses, []);
      assert.deepEqual([rawSign!.code, rawSign!.details], ["PERMISSION_DENIED", "not authorized"]);
      // The ordinary TLS CA refuses the lifetime, naming the field.
      assert.equal(fromTlsCa!.code, "INVALID_ARGUMENT");
      assert.match(fromTlsCa!.details, /^ttl exceeds the 86400-second maximum/);
      // The workload's own X.509-SVID is unaffected.
      assert.equal(own!.code, "OK", JSON.stringify(own));
      const svids = own!.responses[0]!.svids as { spiffe_id: string }[];
      assert.equal(svids[0]!.spiffe_id, `spiffe://${TD}/${Deno.uid()}`);
      assert.deepEqual(recordsSince(f, before), [
        ["mint", "spiffe.x509_ca", "deny", "deny", "issuer_protocol_only"],
        ["sign", "spiffe.jwt_issuer", "deny", "deny", "issuer_raw_sign"],
        ["mint", "tls.ca", "allow", "invalid_request", "subject:workload"],
        ["mint", "spiffe.x509_ca", "allow", "allow", "subject:workload"],
      ]);
    } finally {
      await a.stop();
      f.cleanup();
    }
  },
});

Deno.test({
  name: "IssueCertificate through the CLI: TTL cap from the config, SAN syntax, no URI SAN",
  ...needs("openssl"),
  async fn() {
    const f = await Fixture.create({
      catalog: catalog(),
      policy,
      configExtra: "max-cert-ttl-secs = 7200",
    });
    const a = await f.start();
    const issue = (extra: string[]) =>
      f.cli([
        "issue-cert",
        "--key-id",
        "tls.ca",
        "--common-name",
        "web.internal",
        ...extra,
        "--cert-file",
        `${f.dir}/web.pem`,
        "--key-file",
        `${f.dir}/web.key`,
      ]);
    try {
      const long = await issue(["--ttl-secs", "86400"]);
      assert.equal(long.code, 1);
      assert.match(long.stderr, /InvalidArgument.*ttl exceeds the 7200-second maximum/);
      const badDns = await issue([
        "--ttl-secs",
        "60",
        "--dns-san",
        "ok.internal",
        "--dns-san",
        "a..b",
      ]);
      assert.equal(badDns.code, 1);
      assert.match(badDns.stderr, /InvalidArgument.*dns_sans\[1\] is not a valid DNS name/);
      const badIp = await issue(["--ttl-secs", "60", "--ip-san", "10.0.0.256"]);
      assert.match(badIp.stderr, /InvalidArgument.*ip_sans\[0\] is not an IP address/);
      const badCn = await f.cli([
        "issue-cert",
        "--key-id",
        "tls.ca",
        "--common-name",
        "x".repeat(65),
        "--ttl-secs",
        "60",
      ]);
      assert.match(badCn.stderr, /InvalidArgument.*common_name must be at most 64 bytes/);
      const good = await issue(["--ttl-secs", "7200", "--dns-san", "*.web.internal"]);
      assert.equal(good.code, 0, good.stderr);
      const leaf = Deno.readTextFileSync(`${f.dir}/web.pem`).split(
        /(?=-----BEGIN CERTIFICATE-----)/,
      )[0]!;
      Deno.writeTextFileSync(`${f.dir}/leaf.pem`, leaf);
      const text = new TextDecoder().decode(
        (await new Deno.Command("openssl", {
          args: ["x509", "-noout", "-text", "-in", `${f.dir}/leaf.pem`],
        }).output()).stdout,
      );
      assert.match(text, /DNS:\*\.web\.internal/);
      assert.doesNotMatch(text, /URI:/);
      const outcomes = f.auditRecords().filter((r) => r.target_id === "tls.ca").map((r) =>
        r.outcome
      );
      assert.deepEqual(outcomes, [
        "invalid_request",
        "invalid_request",
        "invalid_request",
        "invalid_request",
        "allow",
      ]);
    } finally {
      await a.stop();
      f.cleanup();
    }
  },
});
