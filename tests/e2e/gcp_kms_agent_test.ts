/**
 * A real agent with a gcp-kms backend, driven through the socket by the
 * `basil` CLI, against the Cloud KMS double (tests/fakes/gcp_kms): the
 * bundle is made by `basil bundle create --backend
 * id=gcp,type=gcp-kms,project=…,location=…,key-ring=…`, reconcile creates the
 * `missing: generate` keys (pinned signing versions, a symmetric key), and
 * sign / verify / encrypt / decrypt / get-public-key run through the agent.
 * Every result is checked with the official `@google-cloud/kms` client
 * against the double (public keys, decrypting the agent's ciphertexts) and
 * node:crypto. Also: the sandbox grants the one endpoint and no Google
 * variable; corrupted answers and Cloud KMS refusals reach the caller only
 * as the opaque errors; a sealed service-account key that is not one stops
 * the start with a message naming the field.
 */

import assert from "node:assert/strict";
import { verify as nodeVerify } from "node:crypto";
import { credentials } from "@grpc/grpc-js";
import { KeyManagementServiceClient } from "@google-cloud/kms";
import { fromHex, toHex } from "../../lib/core/encoding.ts";
import { pemToSpkiDer, spkiDerToPem } from "../../lib/crypto/key_formats.ts";
import { GCP_SDK_ENV } from "../../lib/backends/gcp_kms/access.ts";
import { basil } from "../helpers/cli.ts";
import { Fixture, readProc, runAgentToExit, RunningAgent } from "../helpers/fixture.ts";
import { startGcpKmsDouble } from "../fakes/gcp_kms/server.ts";

Deno.env.set("METADATA_SERVER_DETECTION", "none");

const RING = "projects/basil-e2e/locations/global/keyRings/agent";

function catalog(addr: string): unknown {
  return {
    schemaVersion: 1,
    backends: {
      gcp: {
        kind: "gcp-kms",
        addr,
        engines: ["transit"],
        mintKeyTypes: ["ed25519", "ecdsa-p256"],
      },
    },
    keys: {
      "gcp.release": {
        class: "asymmetric",
        keyType: "ed25519",
        backend: "gcp",
        path: "release-signer/cryptoKeyVersions/1",
        writable: true,
        missing: "generate",
        description: "Release signing key held in Cloud KMS",
      },
      "gcp.jwt": {
        class: "asymmetric",
        keyType: "ecdsa-p256",
        backend: "gcp",
        path: "cryptoKeys/jwt/cryptoKeyVersions/1",
        writable: true,
        missing: "generate",
        description: "JWT signing key held in Cloud KMS",
      },
      "gcp.aead": {
        class: "symmetric",
        keyType: "aes-256-gcm",
        backend: "gcp",
        path: "payload",
        writable: true,
        missing: "generate",
        description: "Envelope key held in Cloud KMS",
      },
      "gcp.pre": {
        class: "asymmetric",
        keyType: "ecdsa-p384",
        backend: "gcp",
        path: `${RING}/cryptoKeys/ops/cryptoKeyVersions/2`,
        writable: false,
        missing: "error",
        description: "Provisioned out of band with gcloud kms keys create",
      },
    },
  };
}

function policy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid }] } },
    roles: {
      signer: ["sign", "verify", "get_public_key", "new_key"],
      cryptor: ["encrypt", "decrypt"],
    },
    rules: [{
      id: "gcp",
      subjects: ["app"],
      action: ["role:signer", "role:cryptor"],
      target: ["gcp.*"],
    }],
  };
}

function fields(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout.trim().split("\n").map((l) => l.split(": ") as [string, string]),
  );
}

const GCP_SPEC = "id=gcp,type=gcp-kms,project=basil-e2e,location=global,key-ring=agent";

Deno.test({
  name: "gcp-kms agent: bundle create, provision, sign/verify/encrypt/decrypt via the double",
  async fn(t) {
    const d = await startGcpKmsDouble([RING]);
    const official = new KeyManagementServiceClient({
      apiEndpoint: "127.0.0.1",
      port: d.port,
      sslCreds: credentials.createInsecure(),
    });
    let f: Fixture | undefined;
    let a: RunningAgent | undefined;
    try {
      // Out of band, like `gcloud kms keys create` + `gcloud kms keys versions create`.
      await official.createCryptoKey({
        parent: RING,
        cryptoKeyId: "ops",
        cryptoKey: {
          purpose: "ASYMMETRIC_SIGN",
          versionTemplate: { algorithm: "EC_SIGN_P384_SHA384" },
        },
      });
      await official.createCryptoKeyVersion({ parent: `${RING}/cryptoKeys/ops` });

      f = await Fixture.create({ catalog: catalog(d.addr), policy });
      const made = await basil([
        "bundle",
        "create",
        f.bundle,
        "--force",
        "--slot",
        `passphrase:file=${f.passphrase}`,
        "--backend",
        GCP_SPEC,
      ]);
      assert.equal(made.code, 0, made.stderr);
      const shown = await basil([
        "bundle",
        "show",
        f.bundle,
        "--open",
        `passphrase:file=${f.passphrase}`,
      ]);
      assert.match(shown.stdout, /backend gcp: kind=gcp-kms/, shown.stderr);

      a = await f.start();
      const agent = a;
      const fx = f;

      await t.step("start-up reconcile creates the missing keys in Cloud KMS", () => {
        // ops was created by the test; release-signer, jwt and payload by reconcile.
        assert.equal(d.calls.filter((c) => c === `CreateCryptoKey ${RING}`).length, 4);
        assert.ok(
          d.calls.includes(`GetPublicKey ${RING}/cryptoKeys/release-signer/cryptoKeyVersions/1`),
        );
        assert.ok(d.calls.includes(`GetCryptoKey ${RING}/cryptoKeys/payload`));
        assert.ok(d.calls.includes(`GetPublicKey ${RING}/cryptoKeys/ops/cryptoKeyVersions/2`));
        assert.doesNotMatch(agent.stderr, /MetadataLookup|metadata/i);
      });

      await t.step(
        "the sandbox grants the one endpoint and only the client libraries' variables",
        () => {
          const argv = new TextDecoder().decode(readProc(`/proc/${agent.agentPid}/cmdline`))
            .split("\0");
          const flag = (k: string) =>
            (argv.find((x) => x.startsWith(`--allow-${k}=`)) ?? "=").split("=")[1]!.split(",")
              .filter((x) => x !== "");
          assert.deepEqual(flag("net").sort(), [d.hostPort, `unix:${fx.socket}`].sort());
          // The client libraries' own variables only: no ADC variable or file
          // (a plaintext loopback endpoint sends no tokens), none forwarded.
          assert.deepEqual(flag("env").sort(), [...GCP_SDK_ENV].sort());
          assert.ok(
            !flag("read").some((x) =>
              x.includes("gcloud") || x.endsWith(".json") && !x.includes(fx.dir)
            ),
          );
          const environ = new TextDecoder().decode(readProc(`/proc/${agent.agentPid}/environ`));
          assert.doesNotMatch(environ, /GOOGLE_|METADATA_SERVER/);
          assert.ok(!argv.some((x) => x === "--allow-net" || x === "--allow-env" || x === "-A"));
        },
      );

      const pem = async (name: string) => (await official.getPublicKey({ name }))[0].pem!;

      await t.step("sign and verify: Ed25519, P-256 and a pinned version 2 of P-384", async () => {
        const msg = "hello cloud kms";
        const cases = [
          ["gcp.release", `${RING}/cryptoKeys/release-signer/cryptoKeyVersions/1`, null, 128],
          ["gcp.jwt", `${RING}/cryptoKeys/jwt/cryptoKeyVersions/1`, "sha256", 128],
          ["gcp.pre", `${RING}/cryptoKeys/ops/cryptoKeyVersions/2`, "sha384", 192],
        ] as const;
        for (const [key, version, hash, hexLen] of cases) {
          const r = await fx.cli(["sign", "--key-id", key, msg]);
          assert.equal(r.code, 0, r.stderr);
          const sig = r.stdout.trim();
          assert.equal(sig.length, hexLen, key);
          const keyPem = await pem(version);
          const ok = hash === null
            ? nodeVerify(null, new TextEncoder().encode(msg), keyPem, fromHex(sig))
            : nodeVerify(
              hash,
              new TextEncoder().encode(msg),
              { key: keyPem, dsaEncoding: "ieee-p1363" },
              fromHex(sig),
            );
          assert.ok(ok, `${key}: Cloud KMS's public key verifies the agent's signature`);
          const v = await fx.cli(["verify", "--key-id", key, "--signature", sig, msg]);
          assert.equal(v.stdout, "true\n", v.stderr);
          const bad = await fx.cli(["verify", "--key-id", key, "--signature", sig, "other"]);
          assert.equal(bad.stdout, "false\n", bad.stderr);
        }
        // new-key on an existing key answers with its public key, creating nothing.
        const creates = d.calls.filter((c) => c.startsWith("Create")).length;
        const nk = await fx.cli(["new-key", "--key-id", "gcp.jwt"]);
        assert.equal(nk.code, 0, nk.stderr);
        const want = pemToSpkiDer(
          new TextEncoder().encode(await pem(`${RING}/cryptoKeys/jwt/cryptoKeyVersions/1`)),
        )!;
        assert.equal(fields(nk.stdout).public_key, toHex(spkiDerToPem(want)));
        assert.equal(d.calls.filter((c) => c.startsWith("Create")).length, creates);
      });

      await t.step(
        "encrypt and decrypt with AAD; Cloud KMS itself decrypts the envelope",
        async () => {
          const e = await fx.cli([
            "encrypt",
            "--key-id",
            "gcp.aead",
            "--aad-hex",
            "0102",
            "secret",
          ]);
          assert.equal(e.code, 0, e.stderr);
          const env = fields(e.stdout);
          assert.equal(env.version, "1");
          assert.equal(env.nonce ?? "", "");
          const [plain] = await official.decrypt({
            name: `${RING}/cryptoKeys/payload`,
            ciphertext: fromHex(env.ciphertext!),
            additionalAuthenticatedData: fromHex("0102"),
          });
          assert.equal(new TextDecoder().decode(plain.plaintext as Uint8Array), "secret");
          const dec = (aad: string) =>
            fx.cli([
              "decrypt",
              "--key-id",
              "gcp.aead",
              "--version",
              env.version!,
              "--nonce",
              "",
              "--ciphertext",
              env.ciphertext!,
              "--aad-hex",
              aad,
              "--format",
              "raw",
            ]);
          assert.equal((await dec("0102")).stdout, "secret");
          const wrong = await dec("0103");
          assert.equal(wrong.code, 1);
          assert.match(wrong.stderr, /\[InvalidArgument\/DECRYPT_FAILED\]: decrypt failed$/m);
          assert.ok(d.calls.some((c) => c === `Encrypt ${RING}/cryptoKeys/payload`));
        },
      );

      await t.step(
        "corrupted answers and refusals reach the caller only as opaque errors",
        async () => {
          d.faults.badResponseCrc = true;
          const r = await fx.cli(["sign", "--key-id", "gcp.release", "m"]);
          d.faults.badResponseCrc = false;
          assert.equal(r.code, 1);
          assert.match(r.stderr, /BACKEND_ERROR\]: backend operation failed/);
          assert.doesNotMatch(r.stderr, /checksum|crc|projects\/|google/i);

          // The public key is cached; Cloud KMS refuses to sign (FAILED_PRECONDITION).
          d.setState(`${RING}/cryptoKeys/ops/cryptoKeyVersions/2`, "DISABLED");
          const dis = await fx.cli(["sign", "--key-id", "gcp.pre", "m"]);
          assert.equal(dis.code, 1);
          assert.match(dis.stderr, /BACKEND_ERROR\]: backend operation failed/);
          assert.doesNotMatch(dis.stderr, /PRECONDITION|DISABLED|enabled|projects\//i);
        },
      );
    } finally {
      await a?.stop();
      f?.cleanup();
      await official.close();
      await d.close();
    }
  },
});

Deno.test("gcp-kms agent: a sealed key-file that is not a service-account key stops the start", async () => {
  const d = await startGcpKmsDouble([RING]);
  let f: Fixture | undefined;
  try {
    f = await Fixture.create({ catalog: catalog(d.addr), policy });
    const keyFile = `${f.dir}/sa.json`;
    Deno.writeTextFileSync(
      keyFile,
      JSON.stringify({ type: "external_account", credential_source: { file: "/etc/shadow" } }),
      { mode: 0o600 },
    );
    const made = await basil([
      "bundle",
      "create",
      f.bundle,
      "--force",
      "--slot",
      `passphrase:file=${f.passphrase}`,
      "--backend",
      `${GCP_SPEC},key-file=${keyFile}`,
    ]);
    assert.equal(made.code, 0, made.stderr);
    const { code, stderr } = await runAgentToExit(f);
    assert.notEqual(code, 0);
    assert.match(
      stderr,
      /backend gcp: the sealed service-account JSON must be a service-account key/,
    );
    assert.doesNotMatch(stderr, /shadow|external_account/);
    assert.equal(d.calls.length, 0, "nothing reached Cloud KMS");
  } finally {
    f?.cleanup();
    await d.close();
  }
});
