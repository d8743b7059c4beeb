/**
 * Interop with the `openssl` CLI (OpenSSL 3): signatures made here verify
 * there and the other way round; keys OpenSSL generates import here.
 * Needs `--allow-run` and openssl: without them each test reports itself
 * ignored with the reason (and fails in CI).
 */

import assert from "node:assert/strict";
import { concat, fromHex, fromUtf8, utf8 } from "../../../lib/core/encoding.ts";
import type { KeyType } from "../../../lib/core/ops.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import {
  generateSigningKey,
  normalizeImport,
  signMessage,
  signMessageAsync,
  verifyMessage,
} from "../../../lib/crypto/signing.ts";
import { gated } from "../../helpers/peers.ts";
import { derToP1363, openssl, OPENSSL_ORACLE, p1363ToDer } from "./helpers.ts";

const CASES: readonly { keyType: KeyType; digest?: string; genpkey: string[]; half?: number }[] = [
  { keyType: "ed25519", genpkey: ["-algorithm", "ed25519"] },
  {
    keyType: "ecdsa-p256",
    digest: "-sha256",
    half: 32,
    genpkey: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
  },
  {
    keyType: "ecdsa-p384",
    digest: "-sha384",
    half: 48,
    genpkey: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
  },
  {
    keyType: "ecdsa-p521",
    digest: "-sha512",
    half: 66,
    genpkey: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
  },
  {
    keyType: "rsa-2048",
    digest: "-sha256",
    genpkey: ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
  },
];

async function inTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "basil-openssl-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `openssl` verifies `sig` of `msg` under the public form `pub`. */
async function opensslVerifies(
  dir: string,
  c: (typeof CASES)[number],
  pub: Uint8Array,
  msg: Uint8Array,
  sig: Uint8Array,
): Promise<boolean> {
  const pubPem = c.keyType === "ed25519" ? await edRawToPem(dir, pub) : fromUtf8(pub);
  await Deno.writeTextFile(`${dir}/pub.pem`, pubPem);
  await Deno.writeFile(`${dir}/msg`, msg);
  if (c.keyType === "ed25519") {
    await Deno.writeFile(`${dir}/sig`, sig);
    const r = await openssl(
      [
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "pub.pem",
        "-rawin",
        "-in",
        "msg",
        "-sigfile",
        "sig",
      ],
      dir,
    );
    return r.ok && r.out.includes("Signature Verified Successfully");
  }
  await Deno.writeFile(`${dir}/sig`, c.half ? p1363ToDer(sig) : sig);
  const r = await openssl(
    ["dgst", c.digest!, "-verify", "pub.pem", "-signature", "sig", "msg"],
    dir,
  );
  return r.ok && r.out.includes("Verified OK");
}

/** Raw Ed25519 public key → PEM via the fixed SPKI prefix, checked by openssl. */
async function edRawToPem(dir: string, raw: Uint8Array): Promise<string> {
  // Spelled out here, independently of lib/crypto/key_formats.ts.
  const spki = concat(fromHex("302a300506032b6570032100"), raw);
  await Deno.writeFile(`${dir}/pub.der`, spki);
  const r = await openssl(["pkey", "-pubin", "-inform", "DER", "-in", "pub.der"], dir);
  assert.ok(r.ok, r.out);
  return r.out;
}

Deno.test(gated(OPENSSL_ORACLE, {
  name: "signing/openssl: our signatures verify with openssl; tampering does not",
  fn: async () => {
    await inTemp(async (dir) => {
      for (const c of CASES) {
        const pair = generateSigningKey(c.keyType);
        const msg = utf8(`openssl interop for ${c.keyType}`);
        for (
          const sig of [
            signMessage(c.keyType, pair.privateKey.expose(), msg),
            await signMessageAsync(c.keyType, pair.privateKey.expose(), msg),
          ]
        ) {
          assert.ok(
            await opensslVerifies(dir, c, pair.publicKey, msg, sig),
            `${c.keyType} verifies`,
          );
          const bad = msg.slice();
          bad[0] = bad[0]! ^ 1;
          assert.equal(await opensslVerifies(dir, c, pair.publicKey, bad, sig), false, "tampered");
        }
        pair.privateKey.wipe();
      }
    });
  },
}));

Deno.test(gated(OPENSSL_ORACLE, {
  name: "signing/openssl: openssl keys import; openssl signatures verify here",
  fn: async () => {
    await inTemp(async (dir) => {
      for (const c of CASES) {
        const gen = await openssl(["genpkey", ...c.genpkey, "-out", "key.pem"], dir);
        assert.ok(gen.ok, gen.out);
        if (c.keyType !== "ed25519") {
          // The type-specific DER (SEC1 / PKCS#1) is not PKCS#8: refused.
          const legacy = await openssl(
            ["pkey", "-in", "key.pem", "-traditional", "-outform", "DER", "-out", "legacy.der"],
            dir,
          );
          assert.ok(legacy.ok, legacy.out);
          const legacyDer = SecretBytes.copyOf(await Deno.readFile(`${dir}/legacy.der`));
          assert.throws(
            () => normalizeImport(c.keyType, { kind: "pkcs8", der: legacyDer }),
            /not a valid PKCS#8/,
          );
        }
        const p8 = await openssl(
          ["pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out", "key.der"],
          dir,
        );
        assert.ok(p8.ok, p8.out);
        const der = SecretBytes.copyOf(await Deno.readFile(`${dir}/key.der`));
        const pair = normalizeImport(c.keyType, { kind: "pkcs8", der });
        der.wipe();
        const msg = utf8(`signed by openssl, ${c.keyType}`);
        await Deno.writeFile(`${dir}/msg`, msg);
        const args = c.keyType === "ed25519"
          ? [
            "pkeyutl",
            "-sign",
            "-inkey",
            "key.der",
            "-keyform",
            "DER",
            "-rawin",
            "-in",
            "msg",
            "-out",
            "sig",
          ]
          : ["dgst", c.digest!, "-sign", "key.der", "-keyform", "DER", "-out", "sig", "msg"];
        const signed = await openssl(args, dir);
        assert.ok(signed.ok, signed.out);
        const raw = await Deno.readFile(`${dir}/sig`);
        const sig = c.half ? derToP1363(raw, c.half) : raw;
        assert.ok(verifyMessage(c.keyType, pair.publicKey, msg, sig), `${c.keyType} openssl sig`);
        // Our signature with the imported key verifies under openssl's own public key.
        const pub = await openssl(["pkey", "-in", "key.der", "-inform", "DER", "-pubout"], dir);
        const ours = signMessage(c.keyType, pair.privateKey.expose(), msg);
        if (c.keyType !== "ed25519") assert.equal(fromUtf8(pair.publicKey), pub.out);
        assert.ok(await opensslVerifies(dir, c, pair.publicKey, msg, ours));
        pair.privateKey.wipe();
      }
    });
  },
}));

Deno.test(gated(OPENSSL_ORACLE, {
  name: "signing/openssl: RSA-PSS and RSA-3072 keys from openssl are refused",
  fn: async () => {
    await inTemp(async (dir) => {
      for (
        const [args, pattern] of [
          [
            // Deno's node:crypto does not parse RSA-PSS PKCS#8; refused either way.
            ["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"],
            /not an RSA \(PKCS#1\) key|not a valid PKCS#8/,
          ],
          [["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"], /2048-bit modulus/],
        ] as const
      ) {
        const gen = await openssl(["genpkey", ...args, "-out", "k.pem"], dir);
        assert.ok(gen.ok, gen.out);
        const p8 = await openssl(
          ["pkcs8", "-topk8", "-nocrypt", "-in", "k.pem", "-outform", "DER", "-out", "k.der"],
          dir,
        );
        assert.ok(p8.ok, p8.out);
        const der = SecretBytes.copyOf(await Deno.readFile(`${dir}/k.der`));
        assert.throws(
          () => normalizeImport("rsa-2048", { kind: "pkcs8", der }),
          (e: unknown) => e instanceof Error && pattern.test(e.message),
        );
      }
    });
  },
}));
