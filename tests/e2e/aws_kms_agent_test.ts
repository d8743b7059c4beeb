/**
 * A real agent with an aws-kms backend against a real KMS peer (moto_server):
 * the bundle is made by `basil bundle create --backend id=kms,type=aws-kms,…`,
 * reconcile provisions the `missing: generate` keys (DescribeKey, CreateKey,
 * CreateAlias, GetPublicKey), and the CLI drives sign / verify / encrypt /
 * decrypt / new-key / rotate through the socket. moto's own request log gives
 * the KMS actions the agent called, compared with seed 004's two IAM
 * policies. The sandbox flags grant exactly the AWS variables, files and the
 * one KMS host.
 *
 * moto ignores MessageType=DIGEST (it hashes the digest it is sent): the
 * signature the agent returns is therefore checked locally as a signature of
 * SHA-256(message), which also proves the agent sent exactly that digest.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  GetPublicKeyCommand,
  KMSClient,
  ListAliasesCommand,
} from "@aws-sdk/client-kms";
import { generatedAlias } from "../../lib/backends/aws_kms/refs.ts";
import { AWS_SDK_ENV } from "../../lib/backends/aws_kms/access.ts";
import { fromHex, toHex } from "../../lib/core/encoding.ts";
import { spkiDerToPem } from "../../lib/crypto/key_formats.ts";
import { verifyMessage } from "../../lib/crypto/signing.ts";
import { basil } from "../helpers/cli.ts";
import { Fixture, readProc, RunningAgent } from "../helpers/fixture.ts";
import { MOTO, Moto, MOTO_ENV } from "../helpers/moto.ts";
import { gated } from "../helpers/peers.ts";

/** Seed 004 "Runtime policy": the six actions the broker may call. */
const RUNTIME_POLICY = ["Decrypt", "DescribeKey", "Encrypt", "GetPublicKey", "Sign", "Verify"];
/** Seed 004 "Provisioner policy". */
const PROVISIONER_POLICY = ["CreateAlias", "CreateKey", "DescribeKey", "GetPublicKey"];

function catalog(endpoint: string): unknown {
  return {
    schemaVersion: 1,
    backends: {
      kms: {
        kind: "aws-kms",
        addr: `aws-kms:us-east-1,endpoint=${endpoint}`,
        engines: ["transit"],
        mintKeyTypes: ["ecdsa-p256"],
      },
    },
    keys: {
      "kms.jwt": {
        class: "asymmetric",
        keyType: "ecdsa-p256",
        backend: "kms",
        path: "jwt.signing.primary",
        writable: true,
        missing: "generate",
        description: "JWT signing key held in AWS KMS",
      },
      "kms.aead": {
        class: "symmetric",
        keyType: "aes-256-gcm",
        backend: "kms",
        path: "payload.aead",
        writable: true,
        missing: "generate",
        description: "Envelope AEAD key held in AWS KMS",
      },
      "kms.pre": {
        class: "asymmetric",
        keyType: "ecdsa-p384",
        backend: "kms",
        path: "alias/basil/ops-preprovisioned",
        writable: false,
        missing: "error",
        description: "Provisioned out of band with aws kms create-key",
      },
    },
  };
}

function policy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid }] } },
    roles: {
      signer: ["sign", "verify", "get_public_key"],
      cryptor: ["encrypt", "decrypt"],
      operator: ["new_key", "rotate"],
    },
    rules: [{
      id: "kms",
      subjects: ["app"],
      action: ["role:signer", "role:cryptor", "role:operator"],
      target: ["kms.*"],
    }],
  };
}

function fields(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout.trim().split("\n").map((l) => l.split(": ") as [string, string]),
  );
}

Deno.test(gated([MOTO], {
  name: "aws-kms agent: bundle create, provision, sign/verify/encrypt/decrypt/rotate via moto",
  async fn(t) {
    const moto = await Moto.start();
    const saved = Object.fromEntries(Object.keys(MOTO_ENV).map((k) => [k, Deno.env.get(k)]));
    for (const [k, v] of Object.entries(MOTO_ENV)) Deno.env.set(k, v);
    const sdk = new KMSClient({ region: "us-east-1", endpoint: moto.url });
    let f: Fixture | undefined;
    let a: RunningAgent | undefined;
    try {
      // Out of band, like `aws kms create-key` + `create-alias`.
      const pre = await sdk.send(
        new CreateKeyCommand({ KeySpec: "ECC_NIST_P384", KeyUsage: "SIGN_VERIFY" }),
      );
      await sdk.send(
        new CreateAliasCommand({
          AliasName: "alias/basil/ops-preprovisioned",
          TargetKeyId: pre.KeyMetadata!.KeyId!,
        }),
      );
      f = await Fixture.create({ catalog: catalog(moto.url), policy });
      const made = await basil([
        "bundle",
        "create",
        f.bundle,
        "--force",
        "--slot",
        `passphrase:file=${f.passphrase}`,
        "--backend",
        "id=kms,type=aws-kms,region=us-east-1",
      ]);
      assert.equal(made.code, 0, made.stderr);

      moto.clearRecording();
      a = await f.start();
      const agent = a;
      const fx = f;

      await t.step("start-up reconcile provisions with the provisioner policy only", async () => {
        const seen = [...moto.actions()].sort();
        assert.deepEqual(seen, PROVISIONER_POLICY);
        const aliases = (await sdk.send(new ListAliasesCommand({}))).Aliases!.map((x) =>
          x.AliasName
        );
        for (const p of ["jwt.signing.primary", "payload.aead"]) {
          assert.ok(aliases.includes(generatedAlias(p)), `alias for ${p}`);
        }
        assert.match(
          generatedAlias("jwt.signing.primary"),
          /^alias\/basil\/jwt-signing-primary-[A-Za-z0-9_-]{12}$/,
        );
      });

      await t.step("the sandbox grants exactly the AWS variables, files and one KMS host", () => {
        const argv = new TextDecoder().decode(readProc(`/proc/${agent.agentPid}/cmdline`))
          .split("\0");
        const flag = (k: string) =>
          (argv.find((x) => x.startsWith(`--allow-${k}=`)) ?? "").split("=")[1]!.split(",");
        const port = new URL(moto.url).port;
        // Static keys in the environment: no IMDS, no STS.
        assert.deepEqual(flag("net").sort(), [`127.0.0.1:${port}`, `unix:${fx.socket}`].sort());
        assert.deepEqual(flag("env").sort(), [...AWS_SDK_ENV].sort());
        const home = Deno.env.get("HOME");
        if (home) {
          const read = flag("read");
          assert.ok(
            read.includes(`${home}/.aws/config`) && read.includes(`${home}/.aws/credentials`),
          );
        }
        assert.ok(!argv.some((x) => x === "--allow-net" || x === "--allow-env" || x === "-A"));
        const environ = new TextDecoder().decode(readProc(`/proc/${agent.agentPid}/environ`));
        const names = environ.split("\0").filter((x) => x !== "").map((x) =>
          x.slice(0, x.indexOf("="))
        );
        for (const n of names) {
          assert.ok(
            AWS_SDK_ENV.includes(n) ||
              [
                "DENO_DIR",
                "DENO_NO_UPDATE_CHECK",
                "XDG_CACHE_HOME",
                "PATH",
                "DENO_NODE_SHIM_ACTIVE",
              ].includes(n),
            `unexpected agent variable ${n}`,
          );
        }
        assert.ok(names.includes("AWS_ACCESS_KEY_ID"), "the chain's static keys were forwarded");
      });

      await t.step(
        "runtime: sign, verify, encrypt, decrypt, public key within the runtime policy",
        async () => {
          moto.clearRecording();
          const msg = "hello kms";
          const sig = (await fx.cli(["sign", "--key-id", "kms.jwt", msg])).stdout.trim();
          assert.match(sig, /^[0-9a-f]{128}$/);
          const ok = await fx.cli(["verify", "--key-id", "kms.jwt", "--signature", sig, msg]);
          assert.equal(ok.stdout, "true\n", ok.stderr);
          const bad = await fx.cli(["verify", "--key-id", "kms.jwt", "--signature", sig, "other"]);
          assert.equal(bad.stdout, "false\n", bad.stderr);

          // new-key on an existing key answers with its public key (GetPublicKey).
          const nk = await fx.cli(["new-key", "--key-id", "kms.jwt"]);
          assert.equal(nk.code, 0, nk.stderr);
          const motoPub = await sdk.send(
            new GetPublicKeyCommand({ KeyId: generatedAlias("jwt.signing.primary") }),
          );
          assert.equal(
            fields(nk.stdout).public_key,
            toHex(spkiDerToPem(motoPub.PublicKey!)),
            "the agent returns KMS's key",
          );
          // moto signed SHA-256(message) as if it were the message: so the agent sent DIGEST bytes.
          const digest = createHash("sha256").update(msg).digest();
          assert.ok(
            verifyMessage("ecdsa-p256", spkiDerToPem(motoPub.PublicKey!), digest, fromHex(sig)),
          );
          const sigReq = moto.requests().find((r) => r.action === "Sign")!;
          assert.equal(sigReq.body.MessageType, "DIGEST");
          assert.equal(sigReq.body.SigningAlgorithm, "ECDSA_SHA_256");
          assert.equal(sigReq.body.Message, digest.toString("base64"));

          const pre = await fx.cli(["sign", "--key-id", "kms.pre", "x"]);
          assert.match(pre.stdout.trim(), /^[0-9a-f]{192}$/, pre.stderr);

          const enc = fields(
            (await fx.cli(["encrypt", "--key-id", "kms.aead", "--aad-hex", "0102", "secret"]))
              .stdout,
          );
          assert.equal(enc.version, "1");
          assert.equal(enc.nonce ?? "", "");
          const dec = (aad: string) =>
            fx.cli([
              "decrypt",
              "--key-id",
              "kms.aead",
              "--version",
              enc.version!,
              "--nonce",
              "",
              "--ciphertext",
              enc.ciphertext!,
              "--aad-hex",
              aad,
              "--format",
              "raw",
            ]);
          assert.equal((await dec("0102")).stdout, "secret");
          const wrong = await dec("0103");
          assert.equal(wrong.code, 1);
          assert.match(wrong.stderr, /\[InvalidArgument\/DECRYPT_FAILED\]: decrypt failed$/m);
          const encReq = moto.requests().find((r) => r.action === "Encrypt")!;
          assert.deepEqual(encReq.body.EncryptionContext, { "basil:aad": "AQI" });

          const big = await fx.cli(["encrypt", "--key-id", "kms.aead", "x".repeat(4097)]);
          assert.equal(big.code, 1);
          assert.doesNotMatch(big.stderr, /moto|amazonaws|Exception/);
          assert.deepEqual([...moto.actions()].sort(), RUNTIME_POLICY);
        },
      );

      await t.step("rotate is a new key plus an alias swap; version 1 stays usable", async () => {
        const sig1 = (await fx.cli(["sign", "--key-id", "kms.jwt", "m"])).stdout.trim();
        moto.clearRecording();
        const r = await fx.cli(["rotate", "--key-id", "kms.jwt"]);
        assert.equal(r.stdout, "version: 2\n", r.stderr);
        assert.deepEqual(
          [...moto.actions()].sort(),
          ["CreateAlias", "CreateKey", "DescribeKey", "UpdateAlias"],
        );
        const v1 = await fx.cli(["verify", "--key-id", "kms.jwt", "--signature", sig1, "m"]);
        assert.equal(v1.stdout, "true\n", v1.stderr);
        const sig2 = (await fx.cli(["sign", "--key-id", "kms.jwt", "m"])).stdout.trim();
        const v2 = await fx.cli(["verify", "--key-id", "kms.jwt", "--signature", sig2, "m"]);
        assert.equal(v2.stdout, "true\n");
        assert.notEqual(sig1, sig2);
      });

      await t.step("nothing from AWS reaches the caller", async () => {
        await moto.reset(); // every key gone: KMS answers NotFoundException
        const r = await fx.cli(["sign", "--key-id", "kms.jwt", "m"]);
        assert.equal(r.code, 1);
        assert.doesNotMatch(r.stderr, /NotFound|Exception|arn:|alias\/|moto/i);
        const logged = agent.stderr;
        assert.match(logged, /NotFoundException|absent/);
      });
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) Deno.env.delete(k);
        else Deno.env.set(k, v);
      }
      await a?.stop();
      f?.cleanup();
      sdk.destroy();
      await moto.stop();
    }
  },
}));
