/**
 * Tier 2 over the real socket and CLI, checked by independent
 * implementations: signatures by `openssl`, the RFC 8032 vectors after
 * import, ciphertexts by python3-cryptography from the documented formats
 * alone, JWTs by python3-jwt. Plus rotation with grace and retention,
 * all-or-nothing ImportSet, X25519 wrapping, and 10^5 nonces.
 */

import assert from "node:assert/strict";
import { fromHex, toHex } from "../../lib/core/encoding.ts";
import { isKeyName } from "../../lib/core/ops.ts";
import {
  AeadAlgorithm,
  AeadService,
  EnvelopeAlgorithm,
  KemAlgorithm,
  SigningService,
} from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { ROOT } from "../helpers/cli.ts";
import { Fixture } from "../helpers/fixture.ts";
import { needs } from "../helpers/peers.ts";
import { PYTHON } from "../helpers/python.ts";
import { rawCall } from "../helpers/rawgrpc.ts";

const SIGNERS = ["ed25519", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048"] as const;

function catalog(): unknown {
  const key = (extra: Record<string, unknown>, description: string) => ({
    backend: "db",
    writable: true,
    description,
    ...extra,
  });
  const keys: Record<string, unknown> = {};
  for (const kt of SIGNERS) {
    keys[`sig.${kt.replace(/-/g, "_")}`] = key(
      { class: "asymmetric", keyType: kt, path: `sig/${kt}`, missing: "generate" },
      `A ${kt} signing key`,
    );
  }
  keys["sig.imported"] = key({
    class: "asymmetric",
    keyType: "ed25519",
    path: "sig/imported",
    missing: "warn",
  }, "Imported");
  keys["sig.batch_a"] = key({
    class: "asymmetric",
    keyType: "ed25519",
    path: "sig/batch-a",
    missing: "warn",
  }, "Batch A");
  keys["sig.batch_b"] = key({
    class: "asymmetric",
    keyType: "ecdsa-p256",
    path: "sig/batch-b",
    missing: "warn",
  }, "Batch B");
  keys["sym.aes"] = key({
    class: "symmetric",
    keyType: "aes-256-gcm",
    path: "sym/aes",
    missing: "generate",
  }, "AES key");
  keys["sym.chacha"] = key({
    class: "symmetric",
    keyType: "chacha20-poly1305",
    path: "sym/chacha",
    missing: "generate",
  }, "ChaCha key");
  keys["seal.x"] = key({
    class: "sealing",
    keyType: "x25519",
    path: "seal/x",
    publicPath: "seal/x-pub",
    missing: "warn",
  }, "Recipient");
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: "${DB}",
        engines: ["transit", "kv2"],
        mintKeyTypes: [...SIGNERS],
      },
    },
    keys,
  };
}

function policy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid }] } },
    rules: [{
      id: "app-all",
      subjects: ["app"],
      action: ["*"],
      target: ["sig.*", "sym.*", "seal.*"],
    }],
  };
}

const tier2 = (o: { configExtra?: string } = {}) =>
  Fixture.create({ catalog: catalog(), policy, ...o });

/** Runs `fn` against a fresh Tier 2 agent, then stops it and removes the fixture. */
async function withAgent(
  fn: (f: Fixture) => Promise<void>,
  o: { configExtra?: string } = {},
): Promise<void> {
  const f = await tier2(o);
  const a = await f.start();
  try {
    await fn(f);
  } finally {
    await a.stop();
    f.cleanup();
  }
}

/** The envelope `basil encrypt` prints as `name: value` lines. */
interface CliEnvelope {
  readonly algorithm: string;
  readonly version: string;
  readonly nonce: string;
  readonly ciphertext: string;
}

function envelopeOf(stdout: string): CliEnvelope {
  return Object.fromEntries(stdout.trim().split("\n").map((l) => l.split(": ")));
}

/** `basil decrypt` arguments for an envelope printed by `basil encrypt`. */
function decryptArgs(id: string, e: CliEnvelope): string[] {
  return [
    "decrypt",
    "--key-id",
    id,
    "--version",
    e.version,
    "--nonce",
    e.nonce,
    "--ciphertext",
    e.ciphertext,
  ];
}

async function run(cmd: string, args: string[], stdin?: Uint8Array) {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const o = await child.output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout),
    err: new TextDecoder().decode(o.stderr),
  };
}

/** ECDSA raw r‖s → DER for openssl. */
function rsToDer(sig: Uint8Array): Uint8Array {
  const half = sig.length / 2;
  const int = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    let v = b.slice(i);
    if (v[0]! & 0x80) v = new Uint8Array([0, ...v]);
    return new Uint8Array([0x02, ...len(v.length), ...v]);
  };
  const len = (n: number) => (n < 128 ? [n] : n < 256 ? [0x81, n] : [0x82, n >> 8, n & 255]);
  const body = new Uint8Array([...int(sig.slice(0, half)), ...int(sig.slice(half))]);
  return new Uint8Array([0x30, ...len(body.length), ...body]);
}

function ed25519Pem(raw: Uint8Array): string {
  const der = new Uint8Array([...fromHex("302a300506032b6570032100"), ...raw]);
  return `-----BEGIN PUBLIC KEY-----\n${
    btoa(String.fromCharCode(...der))
  }\n-----END PUBLIC KEY-----\n`;
}

Deno.test({
  name: "every signing key type: signatures verify with openssl",
  ...needs("openssl"),
  async fn() {
    await withAgent(async (f) => {
      const msg = new TextEncoder().encode(`release v1.0.0 ${crypto.randomUUID()}`);
      Deno.writeFileSync(`${f.dir}/msg`, msg);
      for (const kt of SIGNERS) {
        const id = `sig.${kt.replace(/-/g, "_")}`;
        const s = await f.cli(["sign", "--key-id", id, "--message-file", `${f.dir}/msg`]);
        assert.equal(s.code, 0, s.stderr);
        const sig = fromHex(s.stdout.trim());
        const len = {
          ed25519: 64,
          "ecdsa-p256": 64,
          "ecdsa-p384": 96,
          "ecdsa-p521": 132,
          "rsa-2048": 256,
        }[kt];
        assert.equal(sig.length, len, kt);
        const v = await f.cli([
          "verify",
          "--key-id",
          id,
          "--signature",
          toHex(sig),
          "--message-file",
          `${f.dir}/msg`,
        ]);
        assert.equal(v.stdout, "true\n", kt);
        const bad = await f.cli(["verify", "--key-id", id, "--signature", toHex(sig), "tampered"]);
        assert.equal(bad.stdout, "false\n");
        assert.equal(bad.code, 1);
        // The public key, then openssl.
        const pk = await rawPublicKey(f, id);
        const pem = kt === "ed25519" ? ed25519Pem(pk) : new TextDecoder().decode(pk);
        assert.match(pem, /^-----BEGIN PUBLIC KEY-----/);
        Deno.writeTextFileSync(`${f.dir}/pub.pem`, pem);
        let o;
        if (kt === "ed25519") {
          Deno.writeFileSync(`${f.dir}/sig`, sig);
          o = await run("openssl", [
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            `${f.dir}/pub.pem`,
            "-rawin",
            "-in",
            `${f.dir}/msg`,
            "-sigfile",
            `${f.dir}/sig`,
          ]);
        } else {
          Deno.writeFileSync(`${f.dir}/sig`, kt === "rsa-2048" ? sig : rsToDer(sig));
          const hash = {
            "ecdsa-p256": "-sha256",
            "ecdsa-p384": "-sha384",
            "ecdsa-p521": "-sha512",
            "rsa-2048": "-sha256",
          }[kt];
          o = await run("openssl", [
            "dgst",
            hash,
            "-verify",
            `${f.dir}/pub.pem`,
            "-signature",
            `${f.dir}/sig`,
            `${f.dir}/msg`,
          ]);
        }
        assert.equal(o.code, 0, `${kt}: ${o.out}${o.err}`);
        assert.match(o.out, /Verified OK|Signature Verified Successfully/, kt);
      }
    });
  },
});

async function rawPublicKey(f: Fixture, id: string): Promise<Uint8Array> {
  const r = await rawCall(f.socket, SigningService.method.getPublicKey, { keyId: id });
  assert.equal(r.code, "OK", JSON.stringify(r));
  return r.message!.publicKey;
}

Deno.test("RFC 8032 Ed25519 vectors after import (TEST 1, 2, 3)", async () => {
  const vectors = [
    [
      "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
      "",
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ],
    [
      "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
      "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
      "72",
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ],
    [
      "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
      "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
      "af82",
      "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ],
  ];
  for (const [seed, pub, msg, sig] of vectors) {
    await withAgent(async (f) => {
      Deno.writeFileSync(`${f.dir}/seed`, fromHex(seed!), { mode: 0o600 });
      const imp = await f.cli([
        "import",
        "--key-id",
        "sig.imported",
        "--seed-file",
        `${f.dir}/seed`,
        "--check",
      ]);
      assert.equal(imp.code, 0, imp.stderr);
      assert.equal(imp.stdout, `key_id: sig.imported\npublic_key: ${pub}\ncheck: ok\n`);
      Deno.writeFileSync(`${f.dir}/msg`, fromHex(msg!));
      const s = await f.cli(["sign", "--key-id", "sig.imported", "--message-file", `${f.dir}/msg`]);
      assert.equal(s.stdout.trim(), sig);
    });
  }
});

async function encryptRaw(
  f: Fixture,
  id: string,
  alg: AeadAlgorithm,
  plaintext: Uint8Array,
  aad?: Uint8Array,
) {
  const r = await rawCall(f.socket, AeadService.method.encrypt, {
    keyId: id,
    algorithm: alg,
    plaintext,
    aad,
  });
  assert.equal(r.code, "OK", JSON.stringify(r));
  return r.message!.envelope!;
}

Deno.test({
  name: "ciphertexts decrypt with python3-cryptography from the documented formats",
  ...needs("/usr/bin/python3"),
  async fn() {
    await withAgent(async (f) => {
      for (
        const [id, alg, kt] of [["sym.aes", "aes256-gcm", "aes-256-gcm"], [
          "sym.chacha",
          "chacha20-poly1305",
          "chacha20-poly1305",
        ]]
      ) {
        const e = await f.cli([
          "encrypt",
          "--key-id",
          id!,
          "--algorithm",
          alg!,
          "--aad-hex",
          "0102",
          "backup-2026-07-07.tar",
        ]);
        assert.equal(e.code, 0, e.stderr);
        const fields = envelopeOf(e.stdout);
        assert.equal(fields.algorithm, alg);
        assert.equal(fields.nonce.length, 24);
        const decrypt = [...decryptArgs(id!, fields), "--algorithm", alg!];
        const d = await f.cli([...decrypt, "--aad-hex", "0102", "--format", "raw"]);
        assert.equal(d.stdout, "backup-2026-07-07.tar");
        const wrongAad = await f.cli(decrypt);
        assert.equal(wrongAad.code, 1);
        assert.match(wrongAad.stderr, /InvalidArgument\/DECRYPT_FAILED\]: decrypt failed/);
        const py = await run(PYTHON, [
          `${ROOT}/tests/fixtures/py/keystore_decrypt.py`,
          f.db,
          f.dek,
          id!.replace(".", "/"),
          kt!,
          fields.version,
          fields.nonce,
          fields.ciphertext,
          "0102",
        ]);
        assert.equal(py.code, 0, py.err);
        assert.equal(new TextDecoder().decode(fromHex(py.out.trim())), "backup-2026-07-07.tar");
      }
    });
  },
});

Deno.test("10^5 encryptions under one key over the socket: no repeated nonce", async () => {
  await withAgent(async (f) => {
    const seen = new Set<string>();
    const total = 100_000;
    let next = 0;
    const pt = new Uint8Array(16);
    const worker = async () => {
      while (next < total) {
        next++;
        const env = await encryptRaw(f, "sym.aes", AeadAlgorithm.AES_256_GCM, pt);
        seen.add(toHex(env.nonce));
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    assert.equal(seen.size, next);
    assert.ok(next >= total);
  });
});

Deno.test("no oracle: every flipped byte of envelope and AAD gives the identical error", async () => {
  await withAgent(async (f) => {
    const aad = new Uint8Array([1, 2, 3, 4]);
    const env = await encryptRaw(
      f,
      "sym.aes",
      AeadAlgorithm.AES_256_GCM,
      new TextEncoder().encode("secret payload"),
      aad,
    );
    const call = (keyId: string, e: typeof env, ad?: Uint8Array) =>
      rawCall(f.socket, AeadService.method.decrypt, { keyId, envelope: e, aad: ad });
    const ok = await call("sym.aes", env, aad);
    assert.equal(ok.code, "OK");
    const variants: [string, typeof env, Uint8Array | undefined][] = [];
    const flip = (b: Uint8Array, i: number) => {
      const c = b.slice();
      c[i]! ^= 0x01;
      return c;
    };
    for (let i = 0; i < env.nonce.length; i++) {
      variants.push([`nonce[${i}]`, { ...env, nonce: flip(env.nonce, i) }, aad]);
    }
    for (let i = 0; i < env.ciphertext.length; i++) {
      variants.push([`ct[${i}]`, { ...env, ciphertext: flip(env.ciphertext, i) }, aad]);
    }
    for (let i = 0; i < aad.length; i++) variants.push([`aad[${i}]`, env, flip(aad, i)]);
    variants.push(["no aad", env, undefined]);
    variants.push(["version+1", { ...env, keyVersion: env.keyVersion + 1 }, aad]);
    variants.push(["version 0", { ...env, keyVersion: 0 }, aad]);
    variants.push(["alg chacha", { ...env, alg: AeadAlgorithm.CHACHA20_POLY1305 }, aad]);
    variants.push(["alg unspecified", { ...env, alg: AeadAlgorithm.UNSPECIFIED }, aad]);
    variants.push(["alg unknown", { ...env, alg: 9 as AeadAlgorithm }, aad]);
    variants.push(["short nonce", { ...env, nonce: env.nonce.slice(1) }, aad]);
    variants.push(["truncated ct", { ...env, ciphertext: env.ciphertext.slice(0, 5) }, aad]);
    variants.push(["empty ct", { ...env, ciphertext: new Uint8Array() }, aad]);
    const first = await call("sym.aes", variants[0]![1], variants[0]![2]);
    assert.equal(first.code, "INVALID_ARGUMENT");
    assert.equal(first.reason, "DECRYPT_FAILED");
    assert.equal(first.details, "decrypt failed");
    for (const [name, e, ad] of variants) {
      const r = await call("sym.aes", e, ad);
      assert.deepEqual([r.code, r.details, r.detailsBin], [
        first.code,
        first.details,
        first.detailsBin,
      ], name);
    }
    // Key id flips: never a decrypt oracle; an unknown key looks like a denied one.
    // A flip that leaves no valid key name (say "sym/aes") is refused before any
    // decision, identically, whatever the catalog holds.
    const unknown = await call("sym.zzz", env, aad);
    assert.equal(unknown.code, "PERMISSION_DENIED");
    const malformed = await call("sym/zzz", env, aad);
    assert.deepEqual([malformed.code, malformed.details], [
      "INVALID_ARGUMENT",
      "key_id is not a valid key name",
    ]);
    const id = new TextEncoder().encode("sym.aes");
    for (let i = 0; i < id.length; i++) {
      const flipped = new TextDecoder().decode(flip(id, i));
      const r = await call(flipped, env, aad);
      const want = isKeyName(flipped) ? unknown : malformed;
      assert.deepEqual([r.code, r.details, r.detailsBin], [
        want.code,
        want.details,
        want.detailsBin,
      ], flipped);
    }
  });
});

Deno.test("rotation: verify and decrypt accept the grace window; pruned versions fail opaquely", async () => {
  for (const grace of [1, 0]) {
    await withAgent(async (f) => {
      const s1 = (await f.cli(["sign", "--key-id", "sig.ed25519", "m"])).stdout.trim();
      const e1 = envelopeOf((await f.cli(["encrypt", "--key-id", "sym.aes", "p"])).stdout);
      assert.equal((await f.cli(["rotate", "--key-id", "sig.ed25519"])).stdout, "version: 2\n");
      assert.equal((await f.cli(["rotate", "--key-id", "sym.aes"])).stdout, "version: 2\n");
      const v = await f.cli(["verify", "--key-id", "sig.ed25519", "--signature", s1, "m"]);
      assert.equal(v.stdout, grace === 1 ? "true\n" : "false\n", `grace ${grace}`);
      const d = await f.cli([...decryptArgs("sym.aes", e1), "--format", "raw"]);
      if (grace === 1) assert.equal(d.stdout, "p");
      else assert.match(d.stderr, /DECRYPT_FAILED\]: decrypt failed/);
      const e2 = (await f.cli(["encrypt", "--key-id", "sym.aes", "p"])).stdout;
      assert.match(e2, /^algorithm: aes256-gcm\nversion: 2\n/);
    }, { configExtra: `grace-versions = ${grace}` });
  }
  // retain-versions = 1 with a sweep: version 1 is pruned (retain must cover
  // the grace window, so grace-versions is 0 here).
  const f = await tier2({
    configExtra: "grace-versions = 0\nretain-versions = 1\nretention-sweep-secs = 1",
  });
  let a = await f.start();
  try {
    const e1 = envelopeOf((await f.cli(["encrypt", "--key-id", "sym.aes", "p"])).stdout);
    await f.cli(["rotate", "--key-id", "sym.aes"]);
    await a.stop();
    a = await f.start(); // the sweep runs at start, then every second
    const d = await f.cli(decryptArgs("sym.aes", e1));
    assert.equal(d.code, 1);
    assert.match(d.stderr, /\[InvalidArgument\/DECRYPT_FAILED\]: decrypt failed$/m);
    const list = await f.cli(["list", "--prefix", "sym.aes"]);
    assert.equal(list.stdout, "sym.aes\tencryption\t-\t2\n");
  } finally {
    await a.stop();
    f.cleanup();
  }
});

Deno.test({
  name: "MintJwt: EdDSA, ES256, ES384, RS256 verify with python3-jwt; reserved claims protected",
  ...needs("/usr/bin/python3"),
  async fn() {
    await withAgent(async (f) => {
      const algs: [string, string][] = [["sig.ed25519", "EdDSA"], ["sig.ecdsa_p256", "ES256"], [
        "sig.ecdsa_p384",
        "ES384",
      ], ["sig.rsa_2048", "RS256"]];
      for (const [id, alg] of algs) {
        const m = await f.cli([
          "mint-jwt",
          "--key-id",
          id,
          "--sub",
          "deploy-bot",
          "--ttl-secs",
          "120",
          "--claims-json",
          '{"aud":"ci","role":"deployer"}',
        ]);
        assert.equal(m.code, 0, m.stderr);
        const [token, exp] = m.stdout.trim().split("\n");
        assert.match(exp!, /^expires_at: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        Deno.writeFileSync(`${f.dir}/pub`, await rawPublicKey(f, id));
        const py = await run(PYTHON, [
          "-c",
          `import sys; sys.argv=['x', '${alg}', '${f.dir}/pub', '${token}']; exec(open('${ROOT}/tests/fixtures/py/jwt_verify.py').read().replace('jwt.decode(token, key=key, algorithms=[alg], ', 'jwt.decode(token, key=key, algorithms=[alg], audience="ci", '))`,
        ]);
        assert.equal(py.code, 0, `${alg}: ${py.err}`);
        const { claims, header } = JSON.parse(py.out);
        assert.equal(header.alg, alg);
        assert.equal(header.typ, "JWT");
        assert.equal(claims.iss, id);
        assert.equal(claims.sub, "deploy-bot");
        assert.equal(claims.role, "deployer");
        assert.equal(claims.exp - claims.iat, 120);
        assert.match(claims.jti, /^[A-Za-z0-9_-]{43}$/);
      }
      const def = await f.cli(["mint-jwt", "--key-id", "sig.ed25519", "--sub", "x"]);
      const payload = JSON.parse(
        atob(def.stdout.split("\n")[0]!.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/")),
      );
      assert.equal(payload.exp - payload.iat, 300, "minted tokens always expire");
      for (const claim of ["iss", "sub", "exp", "iat", "nbf", "jti"]) {
        const r = await f.cli([
          "mint-jwt",
          "--key-id",
          "sig.ed25519",
          "--sub",
          "x",
          "--claims-json",
          `{"${claim}":1}`,
        ]);
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          new RegExp(`InvalidArgument/INVALID_REQUEST\\]: claim "${claim}" is reserved`),
        );
      }
      const p521 = await f.cli(["mint-jwt", "--key-id", "sig.ecdsa_p521", "--sub", "x"]);
      assert.match(p521.stderr, /Unimplemented\/UNSUPPORTED_ALGORITHM/);
    });
  },
});

Deno.test("ImportSet is all or nothing; X25519 wrap/unwrap round trips", async () => {
  await withAgent(async (f) => {
    Deno.writeFileSync(`${f.dir}/seed`, crypto.getRandomValues(new Uint8Array(32)), {
      mode: 0o600,
    });
    Deno.writeFileSync(`${f.dir}/bad.der`, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), {
      mode: 0o600,
    });
    Deno.writeTextFileSync(
      `${f.dir}/set.json`,
      JSON.stringify([
        { key_id: "sig.batch_a", key_type: "ed25519", seed_file: `${f.dir}/seed` },
        { key_id: "sig.batch_b", key_type: "ecdsa-p256", pkcs8_file: `${f.dir}/bad.der` },
      ]),
    );
    const bad = await f.cli(["import-set", "--file", `${f.dir}/set.json`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /INVALID_REQUEST/);
    const listed = await f.cli(["list", "--prefix", "sig.batch"]);
    assert.equal(
      listed.stdout,
      "sig.batch_a\tsigning\ted25519\t0\nsig.batch_b\tsigning\tecdsa-p256\t0\n",
      "none created",
    );
    // A good set creates both.
    // openssl writes EC keys as SEC1 unless asked for PKCS#8.
    const pem = await run("openssl", [
      "genpkey",
      "-algorithm",
      "EC",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
    ]);
    const pk = await run("openssl", [
      "pkcs8",
      "-topk8",
      "-nocrypt",
      "-outform",
      "DER",
      "-out",
      `${f.dir}/p256.der`,
    ], new TextEncoder().encode(pem.out));
    assert.equal(pk.code, 0, pk.err);
    {
      Deno.chmodSync(`${f.dir}/p256.der`, 0o600);
      Deno.writeTextFileSync(
        `${f.dir}/set.json`,
        JSON.stringify([
          { key_id: "sig.batch_a", key_type: "ed25519", seed_file: `${f.dir}/seed` },
          { key_id: "sig.batch_b", key_type: "ecdsa-p256", pkcs8_file: `${f.dir}/p256.der` },
        ]),
      );
      const good = await f.cli(["import-set", "--file", `${f.dir}/set.json`, "--check"]);
      assert.equal(good.code, 0, good.stderr);
      assert.equal(good.stdout.match(/check: ok/g)?.length, 2);
    }
    // X25519 sealing: new-key, then wrap and unwrap over the wire.
    const nk = await f.cli(["new-key", "--key-id", "seal.x"]);
    assert.equal(nk.code, 0, nk.stderr);
    const w = await rawCall(f.socket, AeadService.method.wrapEnvelope, {
      keyId: "seal.x",
      kemAlgorithm: KemAlgorithm.X25519,
      envelopeAlgorithm: EnvelopeAlgorithm.CHACHA20_POLY1305,
      plaintext: new TextEncoder().encode("dek-material"),
      aad: new Uint8Array([9]),
    });
    assert.equal(w.code, "OK", JSON.stringify(w));
    const env = w.message!.envelope!;
    assert.equal(env.encapsulatedKey.length, 32);
    const unwrap = (envelope: typeof env) =>
      rawCall(f.socket, AeadService.method.unwrapEnvelope, {
        keyId: "seal.x",
        envelope,
        aad: new Uint8Array([9]),
      });
    const u = await unwrap(env);
    assert.equal(new TextDecoder().decode(u.message!.plaintext), "dek-material");
    const tampered = await unwrap({
      ...env,
      encapsulatedKey: env.encapsulatedKey.map((b, i) => (i === 0 ? b ^ 1 : b)),
    });
    assert.equal(tampered.reason, "DECRYPT_FAILED");
    assert.equal(tampered.details, "decrypt failed");
  });
});
