/**
 * Post-quantum keys over the real socket (@grpc/grpc-js client): ML-DSA-65
 * NewKey/Sign/Verify/GetPublicKey with signatures checked by liboqs (WASM),
 * ML-KEM-768 Wrap/Unwrap with the shared secret checked by liboqs, the
 * `use_software_custody` gate (never implied by `*`), PQC import refused,
 * RotateSecret on ML-DSA (a new seed version; the old one verifies inside the
 * grace window) and its refusal on ML-KEM, and the audit records of each decision.
 */

import assert from "node:assert/strict";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { createMLDSA65, createMLKEM768 } from "@oqs/liboqs-js";
import { concat, utf8 } from "../../lib/core/encoding.ts";
import {
  AeadService,
  EnvelopeAlgorithm,
  KemAlgorithm,
  KeyType,
  SecretService,
  SigningAlgorithm,
  SigningService,
} from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { Fixture } from "../helpers/fixture.ts";
import { rawCall } from "../helpers/rawgrpc.ts";

function catalog(): unknown {
  const key = (extra: Record<string, unknown>) => ({
    backend: "db",
    writable: true,
    description: "post-quantum",
    missing: "warn",
    ...extra,
  });
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: "${DB}",
        engines: ["transit", "kv2"],
        mintKeyTypes: ["ed25519", "ml-dsa-65"],
      },
    },
    keys: {
      "pq.dsa": key({ class: "asymmetric", keyType: "ml-dsa-65", path: "pq/dsa" }),
      "pq.kem": key({
        class: "sealing",
        keyType: "ml-kem-768",
        path: "pq/kem",
        publicPath: "pq/kem-pub",
      }),
      "pq.nocustody": key({ class: "asymmetric", keyType: "ml-dsa-65", path: "pq/nocustody" }),
    },
  };
}

function policy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid }] } },
    rules: [
      { id: "app-all", subjects: ["app"], action: ["*"], target: ["pq.*"] },
      {
        id: "app-custody",
        subjects: ["app"],
        action: ["op:use_software_custody"],
        target: ["pq.dsa", "pq.kem"],
      },
    ],
  };
}

const message = utf8("release v1.0.0");
/** Asserts equal bytes (grpc-js decodes into Buffers). */
const same = (a: Uint8Array | undefined, b: Uint8Array, what: string) =>
  assert.deepEqual(Uint8Array.from(a ?? []), Uint8Array.from(b), what);

Deno.test("ML-DSA-65 and ML-KEM-768 in software custody over the socket, cross-checked by liboqs", async () => {
  const f = await Fixture.create({ catalog: catalog(), policy });
  const agent = await f.start();
  try {
    // ML-DSA-65: NewKey, GetPublicKey, Sign, Verify.
    const nk = await rawCall(f.socket, SigningService.method.newKey, {
      keyId: "pq.dsa",
      keyType: KeyType.ML_DSA_65,
    });
    assert.equal(nk.code, "OK", JSON.stringify(nk));
    const pub = Uint8Array.from(nk.message!.publicKey);
    assert.equal(pub.length, 1952);
    const again = await rawCall(f.socket, SigningService.method.newKey, { keyId: "pq.dsa" });
    same(again.message?.publicKey, pub, "NewKey on an existing key answers its key");
    const gp = await rawCall(f.socket, SigningService.method.getPublicKey, { keyId: "pq.dsa" });
    assert.equal(gp.code, "OK", JSON.stringify(gp));
    same(gp.message!.publicKey, pub, "GetPublicKey answers NewKey's key");
    assert.equal(gp.message!.keyType, KeyType.ML_DSA_65);
    assert.equal(gp.message!.version, 1);
    const s = await rawCall(f.socket, SigningService.method.sign, {
      keyId: "pq.dsa",
      message,
      algorithm: SigningAlgorithm.ML_DSA_65,
    });
    assert.equal(s.code, "OK", JSON.stringify(s));
    const sig = Uint8Array.from(s.message!.signature);
    assert.equal(sig.length, 3309);
    const oqsSig = await createMLDSA65();
    assert.equal(oqsSig.verify(message, sig, pub), true, "liboqs verifies the broker's signature");
    assert.equal(oqsSig.verify(utf8("other"), sig, pub), false);
    const verify = async (signature: Uint8Array) =>
      (await rawCall(f.socket, SigningService.method.verify, {
        keyId: "pq.dsa",
        message,
        signature,
        algorithm: SigningAlgorithm.ML_DSA_65,
      })).message?.valid;
    assert.equal(await verify(sig), true);
    assert.equal(await verify(sig.map((b, i) => (i === 7 ? b ^ 1 : b))), false);
    // A liboqs key's signature does not verify under the broker's key.
    const foreign = oqsSig.generateKeyPair();
    assert.equal(await verify(oqsSig.sign(message, foreign.secretKey)), false);

    // ML-KEM-768: NewKey, Wrap, Unwrap; liboqs decapsulates the broker's envelope.
    const kk = await rawCall(f.socket, SigningService.method.newKey, { keyId: "pq.kem" });
    assert.equal(kk.code, "OK", JSON.stringify(kk));
    const kemPub = Uint8Array.from(kk.message!.publicKey);
    assert.equal(kemPub.length, 1184);
    const kgp = await rawCall(f.socket, SigningService.method.getPublicKey, { keyId: "pq.kem" });
    same(kgp.message?.publicKey, kemPub, "GetPublicKey answers the ML-KEM public key");
    const aad = new Uint8Array([1, 2, 3]);
    const w = await rawCall(f.socket, AeadService.method.wrapEnvelope, {
      keyId: "pq.kem",
      kemAlgorithm: KemAlgorithm.ML_KEM_768,
      envelopeAlgorithm: EnvelopeAlgorithm.CHACHA20_POLY1305,
      plaintext: utf8("dek-material"),
      aad,
    });
    assert.equal(w.code, "OK", JSON.stringify(w));
    const env = w.message!.envelope!;
    assert.equal(env.kemAlgorithm, KemAlgorithm.ML_KEM_768);
    assert.equal(env.encapsulatedKey.length, 1088);
    const unwrap = (envelope: typeof env) =>
      rawCall(f.socket, AeadService.method.unwrapEnvelope, { keyId: "pq.kem", envelope, aad });
    const u = await unwrap(env);
    assert.equal(u.code, "OK", JSON.stringify(u));
    assert.equal(new TextDecoder().decode(u.message!.plaintext), "dek-material");
    // liboqs: encapsulate to the broker's public key, seal by the documented layout, broker opens.
    const oqsKem = await createMLKEM768();
    const { ciphertext, sharedSecret } = oqsKem.encapsulate(kemPub);
    const info = concat(
      utf8("basil-ml-kem-seal-v1"),
      utf8("ml-kem-768"),
      new Uint8Array([0]),
      ciphertext,
      kemPub,
    );
    const nonce = crypto.getRandomValues(new Uint8Array(12));
    const byHand = chacha20poly1305(hkdf(sha256, sharedSecret, undefined, info, 32), nonce, aad)
      .encrypt(utf8("sealed by liboqs"));
    const u2 = await unwrap({ ...env, encapsulatedKey: ciphertext, nonce, ciphertext: byHand });
    assert.equal(new TextDecoder().decode(u2.message!.plaintext), "sealed by liboqs");
    // Every failure is the same DECRYPT_FAILED.
    for (
      const bad of [
        { ...env, encapsulatedKey: env.encapsulatedKey.map((b, i) => (i === 0 ? b ^ 1 : b)) },
        { ...env, kemAlgorithm: KemAlgorithm.X25519 },
        { ...env, kemAlgorithm: KemAlgorithm.ML_KEM_1024 },
        { ...env, keyVersion: 2 },
      ]
    ) {
      const r = await unwrap(bad);
      assert.equal(r.reason, "DECRYPT_FAILED", JSON.stringify(r));
      assert.equal(r.details, "decrypt failed");
    }
    const wrongKem = await rawCall(f.socket, AeadService.method.wrapEnvelope, {
      keyId: "pq.kem",
      kemAlgorithm: KemAlgorithm.X25519,
      envelopeAlgorithm: EnvelopeAlgorithm.CHACHA20_POLY1305,
      plaintext: utf8("x"),
    });
    assert.equal(wrongKem.code, "INVALID_ARGUMENT", JSON.stringify(wrongKem));

    // `*` grants new_key on pq.nocustody but never use_software_custody.
    const denied = await rawCall(f.socket, SigningService.method.newKey, {
      keyId: "pq.nocustody",
    });
    assert.equal(denied.code, "PERMISSION_DENIED", JSON.stringify(denied));
    assert.equal(denied.reason, "UNAUTHORIZED");
    const signDenied = await rawCall(f.socket, SigningService.method.sign, {
      keyId: "pq.nocustody",
      message,
      algorithm: SigningAlgorithm.ML_DSA_65,
    });
    assert.equal(signDenied.code, "PERMISSION_DENIED");
    // PQC import is refused.
    const imp = await rawCall(f.socket, SigningService.method.import, {
      keyId: "pq.dsa",
      keyType: KeyType.ML_DSA_65,
      material: { material: { case: "pkcs8Der", value: new Uint8Array(40) } },
    });
    assert.equal(imp.code, "INVALID_ARGUMENT", JSON.stringify(imp));
    assert.match(imp.details, /post-quantum keys cannot be imported/);
    oqsSig.destroy?.();
    oqsKem.destroy?.();
  } finally {
    await agent.stop();
  }
  try {
    const recs = f.auditRecords();
    const find = (op: string, target: string, decision: string) =>
      recs.filter((r) => r.op === op && r.target_id === target && r.decision === decision);
    assert.ok(find("new_key", "pq.dsa", "allow").length >= 1, JSON.stringify(recs.slice(0, 3)));
    assert.ok(find("use_software_custody", "pq.dsa", "allow").length >= 4);
    assert.ok(find("use_software_custody", "pq.kem", "allow").length >= 3);
    assert.ok(find("sign", "pq.dsa", "allow").length === 1);
    assert.equal(find("use_software_custody", "pq.nocustody", "deny").length, 2);
    // The op's own grant was allowed; the custody grant is what denied it.
    assert.equal(find("new_key", "pq.nocustody", "allow").length, 1);
  } finally {
    f.cleanup();
  }
});

Deno.test("rotating ML-DSA over the socket and the CLI: new seed version, the old one verifies inside the grace window; ML-KEM rotate refused by name", async () => {
  const f = await Fixture.create({ catalog: catalog(), policy });
  const agent = await f.start();
  try {
    const pub1 = Uint8Array.from(
      (await rawCall(f.socket, SigningService.method.newKey, { keyId: "pq.dsa" })).message!
        .publicKey,
    );
    const signNow = async () => {
      const s = await rawCall(f.socket, SigningService.method.sign, {
        keyId: "pq.dsa",
        message,
        algorithm: SigningAlgorithm.ML_DSA_65,
      });
      assert.equal(s.code, "OK", JSON.stringify(s));
      return Uint8Array.from(s.message!.signature);
    };
    const verify = async (signature: Uint8Array) =>
      (await rawCall(f.socket, SigningService.method.verify, {
        keyId: "pq.dsa",
        message,
        signature,
        algorithm: SigningAlgorithm.ML_DSA_65,
      })).message?.valid;
    const publicKey = async (version?: number) => {
      const r = await rawCall(f.socket, SigningService.method.getPublicKey, {
        keyId: "pq.dsa",
        version,
      });
      assert.equal(r.code, "OK", JSON.stringify(r));
      return { key: Uint8Array.from(r.message!.publicKey), version: r.message!.version };
    };
    const sig1 = await signNow();

    // RotateSecret over the socket: version 2, a different key.
    const rot = await rawCall(f.socket, SecretService.method.rotateSecret, { secretId: "pq.dsa" });
    assert.equal(rot.code, "OK", JSON.stringify(rot));
    assert.equal(rot.message!.version, 2);
    const latest = await publicKey();
    assert.equal(latest.version, 2);
    assert.notDeepEqual(latest.key, pub1);
    same((await publicKey(1)).key, pub1, "version 1 is still served");
    const sig2 = await signNow();
    const oqs = await createMLDSA65();
    assert.equal(oqs.verify(message, sig2, latest.key), true, "Sign uses the new version");
    assert.equal(oqs.verify(message, sig2, pub1), false);
    assert.equal(await verify(sig1), true, "v1 inside the grace window (1 version)");
    assert.equal(await verify(sig2), true);

    // `basil rotate` (the CLI): version 3; v1 falls out of the window, v2 stays.
    const cli = await f.cli(["rotate", "--key-id", "pq.dsa"]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout.trim(), "version: 3");
    assert.equal(await verify(sig1), false, "v1 is outside the grace window now");
    assert.equal(await verify(sig2), true);
    assert.equal(oqs.verify(message, await signNow(), (await publicKey(3)).key), true);
    oqs.destroy?.();

    // ML-KEM sealing keys are kv2-held crypto keys: refused, naming the key type and why.
    await rawCall(f.socket, SigningService.method.newKey, { keyId: "pq.kem" });
    const kem = await rawCall(f.socket, SecretService.method.rotateSecret, { secretId: "pq.kem" });
    assert.equal(kem.code, "INVALID_ARGUMENT", JSON.stringify(kem));
    assert.equal(kem.reason, "INVALID_REQUEST");
    assert.match(kem.details, /ml-kem-768 sealing key pq\.kem cannot be rotated/);
    const kemCli = await f.cli(["rotate", "--key-id", "pq.kem"]);
    assert.notEqual(kemCli.code, 0);
    assert.match(kemCli.stderr, /cannot be rotated/);
    // Without use_software_custody, rotate is the generic denial.
    const denied = await rawCall(f.socket, SecretService.method.rotateSecret, {
      secretId: "pq.nocustody",
    });
    assert.equal(denied.code, "PERMISSION_DENIED", JSON.stringify(denied));
    assert.equal(denied.reason, "UNAUTHORIZED");
  } finally {
    await agent.stop();
  }
  try {
    const recs = f.auditRecords();
    const count = (op: string, target: string, decision: string) =>
      recs.filter((r) => r.op === op && r.target_id === target && r.decision === decision).length;
    assert.equal(count("rotate", "pq.dsa", "allow"), 2);
    assert.equal(count("use_software_custody", "pq.nocustody", "deny"), 1);
    assert.equal(count("rotate", "pq.nocustody", "allow"), 1, "the op's own grant was allowed");
  } finally {
    f.cleanup();
  }
});

Deno.test("ML-DSA `missing: generate` creates the seed at start; `missing: error` sees an existing key", async () => {
  const withMissing = (missing: string) => {
    const c = catalog() as { keys: Record<string, Record<string, unknown>> };
    c.keys["pq.dsa"]!.missing = missing;
    c.keys["pq.dsa"]!.labels = ["pqc_storage_key=pq/seeds/dsa"];
    return c;
  };
  const f = await Fixture.create({ catalog: withMissing("generate"), policy });
  try {
    const agent = await f.start();
    let pub: Uint8Array;
    try {
      // Generated before bind: GetPublicKey answers version 1 without any NewKey.
      const gp = await rawCall(f.socket, SigningService.method.getPublicKey, { keyId: "pq.dsa" });
      assert.equal(gp.code, "OK", JSON.stringify(gp));
      assert.equal(gp.message!.version, 1);
      pub = Uint8Array.from(gp.message!.publicKey);
      const s = await rawCall(f.socket, SigningService.method.sign, {
        keyId: "pq.dsa",
        message,
        algorithm: SigningAlgorithm.ML_DSA_65,
      });
      const oqs = await createMLDSA65();
      assert.equal(oqs.verify(message, Uint8Array.from(s.message!.signature), pub), true);
      oqs.destroy?.();
    } finally {
      await agent.stop();
    }
    // The same database with `missing: error`: the key is present, the agent starts, same key.
    Deno.writeTextFileSync(
      f.catalog,
      JSON.stringify(withMissing("error")).replaceAll("${DB}", f.db),
    );
    const again = await f.start();
    try {
      const gp = await rawCall(f.socket, SigningService.method.getPublicKey, { keyId: "pq.dsa" });
      same(gp.message?.publicKey, pub, "reconcile kept the generated key");
    } finally {
      await again.stop();
    }
  } finally {
    f.cleanup();
  }
});
