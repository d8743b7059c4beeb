import assert from "node:assert/strict";
import * as nc from "node:crypto";
import type { AeadEnvelope, ImportItem } from "../../../lib/backends/backend.ts";
import { transitAad } from "../../../lib/backends/keystore/mod.ts";
import type { CatalogKey } from "../../../lib/catalog/schema.ts";
import { BasilError } from "../../../lib/core/errors.ts";
import { concat, fromUtf8, toHex, utf8 } from "../../../lib/core/encoding.ts";
import type { KeyType } from "../../../lib/core/ops.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { normalizeImport, verifyMessage } from "../../../lib/crypto/signing.ts";
import { isCode } from "../crypto/x509_helpers.ts";
import { type KeystoreFixture, withKeystore as withTempKeystore } from "./helpers.ts";

const SIGNING: readonly KeyType[] = [
  "ed25519",
  "ed25519-nkey",
  "ecdsa-p256",
  "ecdsa-p384",
  "ecdsa-p521",
  "rsa-2048",
];
const AEAD = ["aes-256-gcm", "chacha20-poly1305"] as const;

function withKeystore(fn: (f: KeystoreFixture) => Promise<void> | void): Promise<void> {
  return withTempKeystore("basil-transit-", fn);
}

const notFound = isCode("INTERNAL", "key material not found in backend");

/** DECRYPT_FAILED with the fixed message and op, and nothing else. */
function isDecryptFailed(e: unknown): boolean {
  assert.ok(e instanceof BasilError, `expected BasilError, got ${String(e)}`);
  assert.equal(e.code, "DECRYPT_FAILED");
  assert.equal(e.message, "decrypt failed");
  assert.equal(e.op, "decrypt");
  return true;
}

function transitKey(path: string): CatalogKey {
  return {
    name: "test.key",
    class: "asymmetric",
    keyType: "ed25519",
    backend: "ks",
    engine: "transit",
    path,
    publicPath: undefined,
    writable: true,
    missing: "error",
    generate: undefined,
    sealingPin: undefined,
    labels: [],
    labelMap: new Map(),
    description: "test",
  };
}

Deno.test("transit: create, rotate, info and publicKey per version for every type", async () => {
  await withKeystore(async (f) => {
    const t = f.open().transit;
    for (const kt of [...SIGNING, ...AEAD]) {
      const path = `transit/${kt}`;
      assert.equal(await t.info(path), undefined);
      const created = await t.create(path, kt);
      assert.equal(created.version, 1);
      assert.deepEqual(await t.info(path), { keyType: kt, latest: 1, minAvailable: 1 });
      assert.equal(await t.rotate(path, kt), 2);
      assert.equal(await t.rotate(path, kt), 3);
      assert.deepEqual(await t.info(path), { keyType: kt, latest: 3, minAvailable: 1 });
      const pubs = [];
      for (const v of [1, 2, 3]) pubs.push(await t.publicKey(path, kt, v));
      assert.deepEqual(pubs[0], created.publicKey);
      if ((AEAD as readonly string[]).includes(kt)) {
        for (const p of pubs) assert.equal(p.length, 0, "symmetric keys have no public key");
      } else {
        assert.ok(pubs[0]!.length > 0);
        assert.notDeepEqual(pubs[0], pubs[1], "rotation makes fresh material");
        assert.notDeepEqual(pubs[1], pubs[2]);
        if (kt.startsWith("ed25519")) assert.equal(pubs[0]!.length, 32);
        else assert.match(fromUtf8(pubs[0]!), /^-----BEGIN PUBLIC KEY-----\n/);
      }
      await assert.rejects(t.publicKey(path, kt, 4), notFound);
    }
    await assert.rejects(t.rotate("transit/absent", "ed25519"), notFound);
    await assert.rejects(t.publicKey("transit/absent", "ed25519", 1), notFound);
    await assert.rejects(t.create("transit/x", "x25519"), isCode("UNSUPPORTED_ALGORITHM"));
    await assert.rejects(t.create("transit/m", "ml-dsa-65"), isCode("UNSUPPORTED_ALGORITHM"));
    assert.equal(await t.info("transit/x"), undefined, "nothing was written");
  });
});

Deno.test("transit: create on an existing key rejects and keeps the key", async () => {
  await withKeystore(async (f) => {
    const t = f.open().transit;
    const first = await t.create("k", "ecdsa-p256");
    await assert.rejects(
      t.create("k", "ecdsa-p256"),
      isCode("INVALID_REQUEST", "key already exists"),
    );
    await assert.rejects(t.create("k", "ed25519"), isCode("INVALID_REQUEST", "key already exists"));
    await t.rotate("k", "ecdsa-p256");
    await t.prune("k", 2);
    await assert.rejects(
      t.create("k", "ecdsa-p256"),
      isCode("INVALID_REQUEST", "key already exists"),
    );
    assert.deepEqual(await t.info("k"), { keyType: "ecdsa-p256", latest: 2, minAvailable: 2 });
    assert.notDeepEqual(await t.publicKey("k", "ecdsa-p256", 2), first.publicKey);
  });
});

Deno.test("transit: sign with v1, rotate, verify under v1 and v2", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    const t = b.transit;
    for (const kt of SIGNING) {
      const path = `sig/${kt}`;
      const { publicKey: pub1 } = await t.create(path, kt);
      const msg = utf8(`sign me with ${kt}`);
      const s1 = await t.sign(path, kt, msg, 1);
      assert.ok(verifyMessage(kt, pub1, msg, s1), "independent check with the v1 public key");
      assert.equal(await t.rotate(path, kt), 2);
      const s2 = await t.sign(path, kt, msg, 2);
      assert.equal(await t.verify(path, kt, msg, s1, 1), true);
      assert.equal(await t.verify(path, kt, msg, s2, 2), true);
      assert.equal(await t.verify(path, kt, msg, s1, 2), false, "v1 signature under v2");
      assert.equal(await t.verify(path, kt, msg, s2, 1), false);
      assert.equal(await t.verify(path, kt, utf8("other"), s1, 1), false);
      assert.equal(await t.verify(path, kt, msg, new Uint8Array(3), 1), false, "garbage → false");
      assert.equal(await t.verify(path, kt, msg, new Uint8Array(0), 2), false);
      await assert.rejects(t.verify(path, kt, msg, s1, 9), notFound);
      await assert.rejects(t.sign(path, kt, msg, 9), notFound);
      await assert.rejects(t.sign(`sig/absent`, kt, msg, 1), notFound);
    }
    // The node:crypto view of an ECDSA signature (raw r‖s).
    const ec = await t.sign("sig/ecdsa-p384", "ecdsa-p384", utf8("m"), 2);
    assert.equal(ec.length, 96);
    const pem = fromUtf8(await t.publicKey("sig/ecdsa-p384", "ecdsa-p384", 2));
    assert.ok(nc.verify("sha384", utf8("m"), { key: pem, dsaEncoding: "ieee-p1363" }, ec));
  });
});

Deno.test("transit: the catalog key type must match the stored one (INTERNAL)", async () => {
  await withKeystore(async (f) => {
    const t = f.open().transit;
    await t.create("k", "ed25519");
    await t.create("s", "aes-256-gcm");
    const mismatch = isCode("INTERNAL");
    await assert.rejects(t.sign("k", "ed25519-nkey", utf8("m"), 1), mismatch);
    await assert.rejects(t.sign("k", "ecdsa-p256", utf8("m"), 1), mismatch);
    await assert.rejects(t.verify("k", "rsa-2048", utf8("m"), new Uint8Array(256), 1), mismatch);
    await assert.rejects(t.publicKey("k", "ecdsa-p256", 1), mismatch);
    await assert.rejects(t.rotate("k", "ecdsa-p256"), mismatch);
    await assert.rejects(t.encrypt("s", "chacha20-poly1305", utf8("p"), undefined, 1), mismatch);
    await assert.rejects(t.sign("s", "aes-256-gcm", utf8("m"), 1), isCode("UNSUPPORTED_ALGORITHM"));
    await assert.rejects(
      t.encrypt("k", "ed25519", utf8("p"), undefined, 1),
      isCode("UNSUPPORTED_ALGORITHM"),
    );
    assert.deepEqual(await t.info("k"), { keyType: "ed25519", latest: 1, minAvailable: 1 });
  });
});

Deno.test("transit: encrypt with v2, decrypt; pruned v1 envelope fails DECRYPT_FAILED", async () => {
  await withKeystore(async (f) => {
    const t = f.open().transit;
    for (const kt of AEAD) {
      const path = `enc/${kt}`;
      await t.create(path, kt);
      const aad = utf8("row-17");
      const e1 = await t.encrypt(path, kt, utf8("old secret"), aad, 1);
      assert.equal(e1.version, 1);
      await t.rotate(path, kt);
      const e2 = await t.encrypt(path, kt, utf8("new secret"), aad, 2);
      assert.equal(e2.version, 2);
      assert.equal(e2.nonce.length, 12);
      assert.equal(e2.ciphertext.length, "new secret".length + 16);
      assert.equal(fromUtf8(await t.decrypt(path, kt, e2, aad)), "new secret");
      assert.equal(fromUtf8(await t.decrypt(path, kt, e1, aad)), "old secret");
      const noAad = await t.encrypt(path, kt, utf8("x"), undefined, 2);
      assert.equal(fromUtf8(await t.decrypt(path, kt, noAad, new Uint8Array(0))), "x");
      await t.prune(path, 2);
      assert.deepEqual(await t.info(path), { keyType: kt, latest: 2, minAvailable: 2 });
      await assert.rejects(t.decrypt(path, kt, e1, aad), isDecryptFailed);
      assert.equal(fromUtf8(await t.decrypt(path, kt, e2, aad)), "new secret");
    }
  });
});

Deno.test("transit: every decrypt failure is DECRYPT_FAILED and nothing else", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    const t = b.transit;
    await t.create("d", "chacha20-poly1305");
    await t.create("sig", "ed25519");
    const aad = utf8("ctx");
    const env = await t.encrypt("d", "chacha20-poly1305", utf8("payload"), aad, 1);
    const flip = (bytes: Uint8Array, at: number) => {
      const out = bytes.slice();
      out[at] = out[at]! ^ 1;
      return out;
    };
    const bad: [string, AeadEnvelope, Uint8Array | undefined, KeyType, string][] = [
      ["nonce 11 bytes", { ...env, nonce: env.nonce.subarray(1) }, aad, "chacha20-poly1305", "d"],
      ["nonce 24 bytes", { ...env, nonce: new Uint8Array(24) }, aad, "chacha20-poly1305", "d"],
      ["nonce flipped", { ...env, nonce: flip(env.nonce, 0) }, aad, "chacha20-poly1305", "d"],
      [
        "tag flipped",
        { ...env, ciphertext: flip(env.ciphertext, env.ciphertext.length - 1) },
        aad,
        "chacha20-poly1305",
        "d",
      ],
      [
        "body flipped",
        { ...env, ciphertext: flip(env.ciphertext, 0) },
        aad,
        "chacha20-poly1305",
        "d",
      ],
      [
        "too short",
        { ...env, ciphertext: env.ciphertext.subarray(0, 15) },
        aad,
        "chacha20-poly1305",
        "d",
      ],
      ["aad mismatch", env, utf8("cty"), "chacha20-poly1305", "d"],
      ["aad missing", env, undefined, "chacha20-poly1305", "d"],
      ["unknown version", { ...env, version: 7 }, aad, "chacha20-poly1305", "d"],
      ["version 0", { ...env, version: 0 }, aad, "chacha20-poly1305", "d"],
      ["version 2^32", { ...env, version: 2 ** 32 }, aad, "chacha20-poly1305", "d"],
      ["fractional version", { ...env, version: 1.5 }, aad, "chacha20-poly1305", "d"],
      ["wrong algorithm", env, aad, "aes-256-gcm", "d"],
      ["signing key", env, aad, "ed25519", "sig"],
      ["absent key", env, aad, "chacha20-poly1305", "nothing"],
    ];
    for (const [name, e, a, kt, path] of bad) {
      await assert.rejects(t.decrypt(path, kt, e, a), isDecryptFailed, name);
    }
    // Even a closed store answers DECRYPT_FAILED on the decrypt path.
    b.close();
    await assert.rejects(t.decrypt("d", "chacha20-poly1305", env, aad), isDecryptFailed);
  });
});

Deno.test("transit: the AEAD AAD layout matches a direct node:crypto decrypt", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    const t = b.transit;
    for (const [kt, algByte] of [["chacha20-poly1305", 1], ["aes-256-gcm", 2]] as const) {
      const path = `layout/${kt}`;
      await t.create(path, kt);
      await t.rotate(path, kt);
      await t.rotate(path, kt);
      const caller = utf8("caller aad");
      const pt = utf8("layout check");
      for (const aad of [caller, undefined]) {
        const env = await t.encrypt(path, kt, pt, aad, 3);
        const expectedAad = concat(
          utf8("basil-keystore-aead-v1"),
          new Uint8Array([algByte]),
          new Uint8Array([3, 0, 0, 0]), // u32 LE version 3
          aad ?? new Uint8Array(0),
        );
        assert.deepEqual(transitAad(kt, 3, aad), expectedAad);
        const stored = b.store.read("key", path, 3)!;
        try {
          assert.equal(stored.secret.length, 32);
          const split = env.ciphertext.length - 16;
          const d = nc.createDecipheriv(kt, stored.secret.expose(), env.nonce, {
            authTagLength: 16,
          } as nc.CipherGCMOptions);
          (d as nc.DecipherGCM).setAAD(expectedAad, { plaintextLength: split });
          (d as nc.DecipherGCM).setAuthTag(env.ciphertext.subarray(split));
          const out = Buffer.concat([d.update(env.ciphertext.subarray(0, split)), d.final()]);
          assert.equal(out.toString(), "layout check");
          // The same bytes under version 2's AAD do not open.
          const d2 = nc.createDecipheriv(kt, stored.secret.expose(), env.nonce, {
            authTagLength: 16,
          } as nc.CipherGCMOptions) as nc.DecipherGCM;
          d2.setAAD(transitAad(kt, 2, aad), { plaintextLength: split });
          d2.setAuthTag(env.ciphertext.subarray(split));
          d2.update(env.ciphertext.subarray(0, split));
          assert.throws(() => d2.final());
        } finally {
          stored.secret.wipe();
        }
      }
    }
  });
});

Deno.test("transit: 100,000 encryptions under one key never repeat a nonce", async () => {
  await withKeystore(async (f) => {
    const t = f.open().transit;
    await t.create("n", "aes-256-gcm");
    const seen = new Set<string>();
    const pt = new Uint8Array(1);
    for (let i = 0; i < 100_000; i++) {
      const env = await t.encrypt("n", "aes-256-gcm", pt, undefined, 1);
      seen.add(toHex(env.nonce));
    }
    assert.equal(seen.size, 100_000);
  });
});

Deno.test("transit: importKeys stores all entries or none", async () => {
  await withKeystore(async (f) => {
    const t = f.open().transit;
    const seed = SecretBytes.copyOf(
      Uint8Array.from(
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60".match(/../g)!,
        (h) => parseInt(h, 16),
      ),
    );
    const ec = nc.generateKeyPairSync("ec", { namedCurve: "P-256" });
    const ecDer = SecretBytes.copyOf(
      new Uint8Array(ec.privateKey.export({ format: "der", type: "pkcs8" })),
    );
    const p384 = nc.generateKeyPairSync("ec", { namedCurve: "P-384" });
    const wrongCurve = SecretBytes.copyOf(
      new Uint8Array(p384.privateKey.export({ format: "der", type: "pkcs8" })),
    );
    const good: ImportItem = {
      path: "imp/ed",
      keyType: "ed25519",
      material: { kind: "ed25519-seed", seed },
    };
    const good2: ImportItem = {
      path: "imp/ec",
      keyType: "ecdsa-p256",
      material: { kind: "pkcs8", der: ecDer },
    };
    // One bad entry (wrong curve) → nothing stored.
    await assert.rejects(
      t.importKeys([good, good2, {
        path: "imp/bad",
        keyType: "ecdsa-p256",
        material: { kind: "pkcs8", der: wrongCurve },
      }]),
      (e: unknown) =>
        isCode("INVALID_REQUEST")(e) &&
        /^import entry 3: invalid key material/.test((e as Error).message),
    );
    // Seed for a non-Ed25519 type, unsupported type, duplicate path.
    await assert.rejects(
      t.importKeys([good, {
        path: "imp/x",
        keyType: "ecdsa-p256",
        material: { kind: "ed25519-seed", seed },
      }]),
      isCode("INVALID_REQUEST"),
    );
    await assert.rejects(
      t.importKeys([good, {
        path: "imp/x",
        keyType: "aes-256-gcm",
        material: { kind: "ed25519-seed", seed },
      }]),
      isCode("INVALID_REQUEST"),
    );
    await assert.rejects(
      t.importKeys([good, { ...good2, path: "imp/ed" }]),
      isCode("INVALID_REQUEST"),
    );
    for (const p of ["imp/ed", "imp/ec", "imp/bad", "imp/x"]) {
      assert.equal(await t.info(p), undefined, p);
    }
    assert.equal(seed.wiped, false, "the caller's material is not consumed");

    // An existing path → nothing stored.
    await t.create("imp/taken", "ed25519");
    await assert.rejects(
      t.importKeys([good, { ...good2, path: "imp/taken" }]),
      isCode("INVALID_REQUEST", "import entry 2: key already exists"),
    );
    assert.equal(await t.info("imp/ed"), undefined);

    // All good → all stored as version 1, and they sign in place.
    const out = await t.importKeys([good, good2]);
    assert.deepEqual(out.map((o) => o.version), [1, 1]);
    assert.equal(
      toHex(out[0]!.publicKey),
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    );
    assert.equal(fromUtf8(out[1]!.publicKey), ec.publicKey.export({ format: "pem", type: "spki" }));
    assert.deepEqual(await t.info("imp/ec"), { keyType: "ecdsa-p256", latest: 1, minAvailable: 1 });
    // RFC 8032 TEST 1: the empty message.
    assert.equal(
      toHex(await t.sign("imp/ed", "ed25519", new Uint8Array(0), 1)),
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
    const sig = await t.sign("imp/ec", "ecdsa-p256", utf8("m"), 1);
    assert.ok(
      nc.verify("sha256", utf8("m"), { key: ec.publicKey, dsaEncoding: "ieee-p1363" }, sig),
    );
    await assert.rejects(t.importKeys([good]), isCode("INVALID_REQUEST", "key already exists"));
    // A single bad import names no entry number.
    await assert.rejects(
      t.importKeys([{
        path: "imp/one",
        keyType: "ed25519",
        material: { kind: "ed25519-seed", seed: SecretBytes.copyOf(new Uint8Array(31)) },
      }]),
      isCode("INVALID_REQUEST", "invalid key material: an Ed25519 seed must be 32 bytes"),
    );
    const normalized = normalizeImport("ed25519", good.material);
    assert.deepEqual(normalized.publicKey, out[0]!.publicKey);
  });
});

Deno.test("transit: prune deletes below the minimum but never the latest", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    const t = b.transit;
    await t.create("p", "ed25519");
    for (let i = 0; i < 4; i++) await t.rotate("p", "ed25519");
    // Public parts are cached once read; pruning must evict them too.
    const s2 = await t.sign("p", "ed25519", utf8("m"), 2);
    assert.equal(await t.verify("p", "ed25519", utf8("m"), s2, 2), true);
    await t.publicKey("p", "ed25519", 2);
    await t.prune("p", 3);
    assert.deepEqual(await t.info("p"), { keyType: "ed25519", latest: 5, minAvailable: 3 });
    await assert.rejects(t.publicKey("p", "ed25519", 2), notFound);
    await assert.rejects(t.verify("p", "ed25519", utf8("m"), s2, 2), notFound);
    await t.prune("p", 1);
    assert.deepEqual(await t.info("p"), { keyType: "ed25519", latest: 5, minAvailable: 3 });
    await t.prune("p", 100);
    assert.deepEqual(await t.info("p"), { keyType: "ed25519", latest: 5, minAvailable: 5 });
    assert.equal((await t.sign("p", "ed25519", utf8("m"), 5)).length, 64);
    await t.prune("absent", 3);
    assert.equal(await t.rotate("p", "ed25519"), 6);
    // kv values are a separate namespace and are never pruned by transit.
    await b.kv.write("p", utf8("value"));
    await t.prune("p", 7);
    assert.equal((await b.kv.read("p"))?.version, 1);
  });
});

Deno.test("transit: exists() reports transit keys; swapped or edited rows fail to open", async () => {
  await withKeystore(async (f) => {
    const b = f.open();
    const t = b.transit;
    assert.equal(await b.exists(transitKey("a")), false);
    await t.create("a", "ed25519");
    await t.create("c", "ed25519");
    assert.equal(await b.exists(transitKey("a")), true);
    const sigBefore = await t.sign("a", "ed25519", utf8("m"), 1);
    const db = f.rawDb();
    const blob = (path: string) =>
      db.prepare("SELECT sealed FROM entries WHERE kind = 'key' AND path = ?").get(path)
        ?.sealed as Uint8Array;
    const [a, c] = [blob("a"), blob("c")];
    const set = db.prepare("UPDATE entries SET sealed = ? WHERE kind = 'key' AND path = ?");
    set.run(c, "a");
    set.run(a, "c");
    const failsToOpen = (e: unknown) =>
      isCode("INTERNAL")(e) && /failed authentication/.test((e as BasilError).detail ?? "");
    await assert.rejects(t.sign("a", "ed25519", utf8("m"), 1), failsToOpen);
    await assert.rejects(t.publicKey("c", "ed25519", 1), failsToOpen);
    // info() is metadata only (it opens no key); every use of the swapped key fails.
    assert.equal((await t.info("a"))?.latest, 1);
    await assert.rejects(t.verify("a", "ed25519", utf8("m"), sigBefore, 1), failsToOpen);
    set.run(a, "a");
    set.run(c, "c");
    assert.equal(await t.verify("a", "ed25519", utf8("m"), sigBefore, 1), true);
    // Editing the key type or the public key breaks the row's AAD.
    db.exec("UPDATE entries SET key_type = 'ed25519-nkey' WHERE path = 'a'");
    await assert.rejects(t.sign("a", "ed25519-nkey", utf8("m"), 1), failsToOpen);
    db.exec("UPDATE entries SET key_type = 'ed25519' WHERE path = 'a'");
    const pubA = await t.publicKey("a", "ed25519", 1);
    const other = await t.publicKey("c", "ed25519", 1);
    db.prepare("UPDATE entries SET public = ? WHERE path = 'a'").run(other);
    // A running store keeps the public key it authenticated, never the edited bytes;
    // a fresh one refuses the row.
    assert.equal(await t.verify("a", "ed25519", utf8("m"), sigBefore, 1), true);
    assert.deepEqual(await t.publicKey("a", "ed25519", 1), pubA);
    const fresh = f.open().transit;
    await assert.rejects(fresh.verify("a", "ed25519", utf8("m"), sigBefore, 1), failsToOpen);
    await assert.rejects(fresh.publicKey("a", "ed25519", 1), failsToOpen);
    db.close();
  });
});
