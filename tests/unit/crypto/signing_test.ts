import assert from "node:assert/strict";
import * as nc from "node:crypto";
import { BasilError } from "../../../lib/core/errors.ts";
import { fromUtf8, toHex, utf8 } from "../../../lib/core/encoding.ts";
import type { KeyType } from "../../../lib/core/ops.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { rawPrivateToPkcs8 } from "../../../lib/crypto/key_formats.ts";
import {
  generateSigningKey,
  normalizeImport,
  type PrivateKeyMaterial,
  publicKeyOf,
  publicKeyToSpkiDer,
  signatureLength,
  signMessage,
  signMessageAsync,
  verifyMessage,
} from "../../../lib/crypto/signing.ts";
import {
  assertRejectedWithoutCanary,
  CURVE_ORDER,
  flipS,
  hex,
  type KeyPair,
  nodePair,
  pkcs8Of,
} from "./helpers.ts";

// RFC 8032 §7.1 (TEST 1, 2, 3, 1024, SHA(abc)).
const RFC8032 = [
  {
    name: "TEST 1",
    seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    pub: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    msg: "",
    sig:
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    name: "TEST 2",
    seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    pub: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    msg: "72",
    sig:
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    name: "TEST 3",
    seed: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    pub: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    msg: "af82",
    sig:
      "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
  {
    name: "TEST 1024",
    seed: "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
    pub: "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
    msg: [
      "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1",
      "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d",
      "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a",
      "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e",
      "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10",
      "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1",
      "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d",
      "502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270",
      "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b",
      "eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba",
      "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b",
      "e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7",
      "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d",
      "cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df",
      "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7",
      "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4",
      "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09",
      "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f",
      "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161",
      "0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d",
      "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca",
      "c60c905c15fc910840b94c00a0b9d0",
    ].join(""),
    sig:
      "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
  },
  {
    name: "TEST SHA(abc)",
    seed: "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
    pub: "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
    msg: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" +
      "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    sig:
      "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
  },
];

const ASYMMETRIC: readonly KeyType[] = [
  "ed25519",
  "ed25519-nkey",
  "ecdsa-p256",
  "ecdsa-p384",
  "ecdsa-p521",
  "rsa-2048",
];

const ECDSA = [
  { keyType: "ecdsa-p256", curve: "P-256", hash: "sha256", sigLen: 64 },
  { keyType: "ecdsa-p384", curve: "P-384", hash: "sha384", sigLen: 96 },
  { keyType: "ecdsa-p521", curve: "P-521", hash: "sha512", sigLen: 132 },
] as const;

function seedMaterial(seed: Uint8Array): PrivateKeyMaterial {
  return { kind: "ed25519-seed", seed: SecretBytes.copyOf(seed) };
}

function pkcs8Material(der: Uint8Array | SecretBytes): PrivateKeyMaterial {
  return { kind: "pkcs8", der: der instanceof SecretBytes ? der : SecretBytes.copyOf(der) };
}

function flip(bytes: Uint8Array, at = 0): Uint8Array {
  const out = bytes.slice();
  out[at] = out[at]! ^ 1;
  return out;
}

/** node:crypto verification with the SPKI PEM (independent of lib/crypto's verify). */
function nodeVerifies(
  keyType: KeyType,
  publicKey: Uint8Array,
  message: Uint8Array,
  sig: Uint8Array,
): boolean {
  if (keyType === "ed25519" || keyType === "ed25519-nkey") {
    const key = nc.createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(publicKey).toString("base64url") },
      format: "jwk",
    });
    return nc.verify(null, message, key, sig);
  }
  const key = nc.createPublicKey(fromUtf8(publicKey));
  const e = ECDSA.find((x) => x.keyType === keyType);
  return e
    ? nc.verify(e.hash, message, { key, dsaEncoding: "ieee-p1363" }, sig)
    : nc.verify("sha256", message, key, sig);
}

Deno.test("signing: RFC 8032 Ed25519 vectors through seed and PKCS#8 import", async () => {
  assert.equal(
    toHex(new Uint8Array(nc.createHash("sha512").update("abc").digest())),
    RFC8032[4]!.msg,
    'TEST SHA(abc) signs SHA-512("abc")',
  );
  assert.equal(hex(RFC8032[3]!.msg).length, 1023);
  for (const v of RFC8032) {
    const seed = hex(v.seed);
    for (
      const material of [seedMaterial(seed), pkcs8Material(rawPrivateToPkcs8("ed25519", seed))]
    ) {
      const pair = normalizeImport("ed25519", material);
      assert.equal(toHex(pair.publicKey), v.pub, `${v.name} public key`);
      assert.equal(toHex(pair.privateKey.expose()), v.seed, `${v.name} stored form is the seed`);
      const sig = signMessage("ed25519", pair.privateKey.expose(), hex(v.msg));
      assert.equal(toHex(sig), v.sig, `${v.name} signature`);
      const sigAsync = await signMessageAsync("ed25519", pair.privateKey.expose(), hex(v.msg));
      assert.equal(toHex(sigAsync), v.sig);
      assert.equal(verifyMessage("ed25519", hex(v.pub), hex(v.msg), hex(v.sig)), true);
      assert.equal(verifyMessage("ed25519-nkey", hex(v.pub), hex(v.msg), hex(v.sig)), true);
      assert.equal(toHex(publicKeyOf("ed25519", pair.privateKey.expose())), v.pub);
      assert.equal(material.kind === "pkcs8" ? material.der.wiped : material.seed.wiped, false);
      pair.privateKey.wipe();
    }
  }
});

Deno.test("signing: Ed25519 verify rejects tampering, wrong keys and bad lengths", () => {
  const v = RFC8032[1]!;
  const [pub, msg, sig] = [hex(v.pub), hex(v.msg), hex(v.sig)];
  assert.equal(verifyMessage("ed25519", pub, flip(msg), sig), false);
  assert.equal(verifyMessage("ed25519", pub, msg, flip(sig, 5)), false);
  assert.equal(verifyMessage("ed25519", pub, msg, flip(sig, 63)), false);
  assert.equal(verifyMessage("ed25519", hex(RFC8032[0]!.pub), msg, sig), false);
  for (const bad of [0, 1, 63, 65, 128]) {
    assert.equal(verifyMessage("ed25519", pub, msg, new Uint8Array(bad)), false, `${bad}-byte sig`);
  }
  for (const badPub of [new Uint8Array(0), pub.subarray(1), new Uint8Array(33), utf8("junk")]) {
    assert.equal(verifyMessage("ed25519", badPub, msg, sig), false);
  }
  // An S not reduced below the group order is refused (no malleability).
  const order = 2n ** 252n + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!);
  let unreduced = s + order;
  const malleable = sig.slice();
  for (let i = 32; i < 64; i++) {
    malleable[i] = Number(unreduced & 0xffn);
    unreduced >>= 8n;
  }
  assert.equal(verifyMessage("ed25519", pub, msg, malleable), false);
});

Deno.test("signing: generated keys have the documented forms for every type", () => {
  for (const keyType of ASYMMETRIC) {
    const pair = generateSigningKey(keyType);
    try {
      const priv = pair.privateKey.expose();
      assert.ok(priv.some((b) => b !== 0), `${keyType} private form is not zero`);
      if (keyType.startsWith("ed25519")) {
        assert.equal(priv.length, 32);
        assert.equal(pair.publicKey.length, 32);
        assert.deepEqual(publicKeyOf(keyType, priv), pair.publicKey);
      } else {
        const key = nc.createPrivateKey({ key: Buffer.from(priv), format: "der", type: "pkcs8" });
        const pem = fromUtf8(pair.publicKey);
        assert.match(
          pem,
          /^-----BEGIN PUBLIC KEY-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END PUBLIC KEY-----\n$/,
        );
        assert.equal(pem, nc.createPublicKey(key).export({ format: "pem", type: "spki" }));
        assert.deepEqual(
          publicKeyToSpkiDer(keyType, pair.publicKey),
          new Uint8Array(nc.createPublicKey(key).export({ format: "der", type: "spki" })),
        );
      }
      assert.deepEqual(publicKeyOf(keyType, priv), pair.publicKey);
    } finally {
      pair.privateKey.wipe();
    }
  }
  // Two generations differ.
  const a = generateSigningKey("ecdsa-p256");
  const b = generateSigningKey("ecdsa-p256");
  assert.notDeepEqual(a.publicKey, b.publicKey);
});

Deno.test("signing: ECDSA raw r‖s, fixed lengths, node:crypto cross-checks both ways", async () => {
  for (const e of ECDSA) {
    const pair = generateSigningKey(e.keyType);
    const priv = pair.privateKey.expose();
    const msg = utf8(`message for ${e.keyType}`);
    assert.equal(signatureLength(e.keyType), e.sigLen);
    for (let i = 0; i < 8; i++) {
      const sig = i % 2 === 0
        ? signMessage(e.keyType, priv, msg)
        : await signMessageAsync(e.keyType, priv, msg);
      assert.equal(sig.length, e.sigLen, `${e.keyType} r‖s length`);
      assert.equal(verifyMessage(e.keyType, pair.publicKey, msg, sig), true);
      assert.equal(nodeVerifies(e.keyType, pair.publicKey, msg, sig), true, "node verifies ours");
    }
    // node:crypto signs with the stored PKCS#8; lib verify accepts it.
    const nodeKey = nc.createPrivateKey({ key: Buffer.from(priv), format: "der", type: "pkcs8" });
    const nodeSig = new Uint8Array(
      nc.sign(e.hash, msg, { key: nodeKey, dsaEncoding: "ieee-p1363" }),
    );
    assert.equal(verifyMessage(e.keyType, pair.publicKey, msg, nodeSig), true, "we verify node's");
    // Both S forms are valid ECDSA (OpenSSL and Vault may produce high S).
    const other = flipS(nodeSig, CURVE_ORDER[e.curve]);
    assert.equal(verifyMessage(e.keyType, pair.publicKey, msg, other), true, "high/low S");
    assert.equal(nodeVerifies(e.keyType, pair.publicKey, msg, other), true);

    const sig = signMessage(e.keyType, priv, msg);
    assert.equal(verifyMessage(e.keyType, pair.publicKey, flip(msg), sig), false, "message");
    assert.equal(verifyMessage(e.keyType, pair.publicKey, msg, flip(sig, 3)), false, "r");
    assert.equal(verifyMessage(e.keyType, pair.publicKey, msg, flip(sig, e.sigLen - 1)), false);
    const wrong = generateSigningKey(e.keyType);
    assert.equal(verifyMessage(e.keyType, wrong.publicKey, msg, sig), false, "wrong key");
    for (const len of [0, 1, e.sigLen - 1, e.sigLen + 1, 2 * e.sigLen, 72]) {
      const bad = len <= sig.length ? sig.subarray(0, len) : new Uint8Array(len).fill(7);
      assert.equal(verifyMessage(e.keyType, pair.publicKey, msg, bad), false, `${len} bytes`);
    }
    // DER-encoded signatures are not accepted where r‖s is expected.
    const der = new Uint8Array(nc.sign(e.hash, msg, nodeKey));
    assert.equal(verifyMessage(e.keyType, pair.publicKey, msg, der), false, "DER form");
    // r = 0 or s = 0 never verifies.
    assert.equal(
      verifyMessage(e.keyType, pair.publicKey, msg, new Uint8Array(e.sigLen)),
      false,
    );
    const zeroS = sig.slice();
    zeroS.fill(0, e.sigLen / 2);
    assert.equal(verifyMessage(e.keyType, pair.publicKey, msg, zeroS), false);
    // The public key of another curve, or garbage, is "not valid", not an exception.
    const otherCurve = ECDSA.find((x) => x.keyType !== e.keyType)!;
    const foreign = generateSigningKey(otherCurve.keyType);
    assert.equal(verifyMessage(e.keyType, foreign.publicKey, msg, sig), false);
    assert.equal(
      verifyMessage(
        e.keyType,
        utf8("-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n"),
        msg,
        sig,
      ),
      false,
    );
    assert.equal(verifyMessage(e.keyType, new Uint8Array(65), msg, sig), false);
    pair.privateKey.wipe();
  }
});

Deno.test("signing: RSA-2048 RS256 is deterministic and matches node:crypto and WebCrypto", async () => {
  const pair = generateSigningKey("rsa-2048");
  const priv = pair.privateKey.expose();
  const msg = utf8("rs256 message");
  const sig = signMessage("rsa-2048", priv, msg);
  assert.equal(sig.length, 256);
  assert.deepEqual(await signMessageAsync("rsa-2048", priv, msg), sig, "WebCrypto path");
  const nodeKey = nc.createPrivateKey({ key: Buffer.from(priv), format: "der", type: "pkcs8" });
  assert.deepEqual(new Uint8Array(nc.sign("sha256", msg, nodeKey)), sig, "PKCS#1 v1.5 SHA-256");
  assert.equal(verifyMessage("rsa-2048", pair.publicKey, msg, sig), true);
  assert.equal(nodeVerifies("rsa-2048", pair.publicKey, msg, sig), true);
  assert.equal(verifyMessage("rsa-2048", pair.publicKey, flip(msg), sig), false);
  assert.equal(verifyMessage("rsa-2048", pair.publicKey, msg, flip(sig, 100)), false);
  assert.equal(
    verifyMessage("rsa-2048", generateSigningKey("rsa-2048").publicKey, msg, sig),
    false,
  );
  for (const len of [0, 255, 257, 512]) {
    assert.equal(verifyMessage("rsa-2048", pair.publicKey, msg, new Uint8Array(len)), false);
  }
  // PSS signatures of the same key are not RS256.
  const pss = new Uint8Array(
    nc.sign("sha256", msg, { key: nodeKey, padding: nc.constants.RSA_PKCS1_PSS_PADDING }),
  );
  assert.equal(verifyMessage("rsa-2048", pair.publicKey, msg, pss), false);
  pair.privateKey.wipe();
});

Deno.test("signing: import keeps PKCS#8 keys and re-encodes them canonically", () => {
  for (const e of ECDSA) {
    const { privateKey, publicKey } = nodePair("ec", { namedCurve: e.curve });
    const der = pkcs8Of(privateKey);
    const pair = normalizeImport(e.keyType, pkcs8Material(der));
    assert.equal(fromUtf8(pair.publicKey), publicKey.export({ format: "pem", type: "spki" }));
    assert.deepEqual(pair.privateKey.expose(), der.expose());
    assert.equal(der.wiped, false, "material is not consumed");
    const sig = signMessage(e.keyType, pair.privateKey.expose(), utf8("x"));
    assert.ok(nc.verify(e.hash, utf8("x"), { key: publicKey, dsaEncoding: "ieee-p1363" }, sig));
  }
  const rsa = nodePair("rsa", { modulusLength: 2048 });
  const pair = normalizeImport("rsa-2048", pkcs8Material(pkcs8Of(rsa.privateKey)));
  assert.equal(fromUtf8(pair.publicKey), rsa.publicKey.export({ format: "pem", type: "spki" }));
  const ed = nodePair("ed25519");
  const edPair = normalizeImport("ed25519-nkey", pkcs8Material(pkcs8Of(ed.privateKey)));
  assert.equal(edPair.privateKey.length, 32);
  assert.deepEqual(
    edPair.publicKey,
    new Uint8Array(ed.publicKey.export({ format: "der", type: "spki" })).subarray(12),
  );
});

Deno.test("signing: import rejects wrong lengths, types, curves and sizes without leaking bytes", () => {
  const canary = utf8("CANARY-KEY-BYTES-0123456789abcdef"); // 33 bytes
  const seed32 = canary.subarray(0, 32);
  assertRejectedWithoutCanary(
    () => normalizeImport("ed25519", seedMaterial(canary)),
    canary,
    /seed must be 32 bytes/,
  );
  assertRejectedWithoutCanary(
    () => normalizeImport("ed25519", seedMaterial(canary.subarray(0, 31))),
    canary,
    /seed must be 32 bytes/,
  );
  assertRejectedWithoutCanary(
    () => normalizeImport("ecdsa-p256", seedMaterial(seed32)),
    seed32,
    /only accepted for Ed25519/,
  );
  assertRejectedWithoutCanary(
    () => normalizeImport("rsa-2048", seedMaterial(seed32)),
    seed32,
  );
  // Garbage, empty, and a seed where PKCS#8 is expected.
  for (
    const junk of [canary, new Uint8Array(0), rawPrivateToPkcs8("ed25519", seed32).subarray(0, 40)]
  ) {
    assertRejectedWithoutCanary(
      () => normalizeImport("ecdsa-p256", pkcs8Material(junk)),
      canary,
      /not a valid PKCS#8/,
    );
  }
  const cases: { keyType: KeyType; pair: KeyPair; pattern: RegExp }[] = [
    {
      keyType: "ecdsa-p256",
      pair: nodePair("ec", { namedCurve: "P-384" }),
      pattern: /not an ECDSA P-256 key/,
    },
    {
      keyType: "ecdsa-p384",
      pair: nodePair("ec", { namedCurve: "P-256" }),
      pattern: /not an ECDSA P-384 key/,
    },
    {
      keyType: "ecdsa-p521",
      pair: nodePair("ec", { namedCurve: "P-384" }),
      pattern: /not an ECDSA P-521 key/,
    },
    {
      keyType: "ecdsa-p256",
      pair: nodePair("ec", { namedCurve: "secp256k1" }),
      pattern: /not an ECDSA P-256 key/,
    },
    { keyType: "ecdsa-p256", pair: nodePair("ed25519"), pattern: /not an ECDSA P-256 key/ },
    {
      keyType: "ecdsa-p256",
      pair: nodePair("rsa", { modulusLength: 2048 }),
      pattern: /not an ECDSA/,
    },
    {
      keyType: "ed25519",
      pair: nodePair("ec", { namedCurve: "P-256" }),
      pattern: /not an Ed25519 key/,
    },
    { keyType: "ed25519", pair: nodePair("x25519"), pattern: /not an Ed25519 key/ },
    { keyType: "ed25519", pair: nodePair("ed448"), pattern: /not an Ed25519 key/ },
    { keyType: "rsa-2048", pair: nodePair("ed25519"), pattern: /not an RSA/ },
    {
      keyType: "rsa-2048",
      pair: nodePair("dsa", { modulusLength: 1024, divisorLength: 160 }),
      pattern: /not an RSA/,
    },
    {
      keyType: "rsa-2048",
      pair: nodePair("rsa", { modulusLength: 1024 }),
      pattern: /2048-bit modulus/,
    },
    {
      keyType: "rsa-2048",
      pair: nodePair("rsa", { modulusLength: 3072 }),
      pattern: /2048-bit modulus/,
    },
    {
      keyType: "rsa-2048",
      pair: nodePair("rsa", { modulusLength: 2048, publicExponent: 3 }),
      pattern: /exponent/,
    },
  ];
  for (const c of cases) {
    const der = pkcs8Of(c.pair.privateKey);
    // The canary here is the key's own private bytes (the tail of the DER).
    assertRejectedWithoutCanary(
      () => normalizeImport(c.keyType, pkcs8Material(der)),
      der.expose().subarray(der.length - 24),
      c.pattern,
    );
  }
  assert.throws(
    () => normalizeImport("aes-256-gcm", seedMaterial(seed32)),
    (e: unknown) => e instanceof BasilError && e.code === "UNSUPPORTED_ALGORITHM",
  );
});

Deno.test("signing: an EC PKCS#8 whose embedded public key is another key's is refused", () => {
  const a = nodePair("ec", { namedCurve: "P-256" });
  const b = nodePair("ec", { namedCurve: "P-256" });
  const der = pkcs8Of(a.privateKey).expose();
  const otherPoint = new Uint8Array(b.publicKey.export({ format: "der", type: "spki" })).subarray(
    -65,
  );
  // Node exports `… a1 44 03 42 00 ‖ 04‖X‖Y` at the end: replace the point.
  assert.deepEqual([...der.subarray(-70, -65)], [0xa1, 0x44, 0x03, 0x42, 0x00]);
  const forged = der.slice();
  forged.set(otherPoint, der.length - 65);
  assertRejectedWithoutCanary(
    () => normalizeImport("ecdsa-p256", pkcs8Material(forged)),
    der.subarray(36, 68),
  );
});

Deno.test("signing: signMessage refuses stored forms of the wrong type as INTERNAL", async () => {
  const ed = generateSigningKey("ed25519");
  const ec = generateSigningKey("ecdsa-p256");
  const rsa = generateSigningKey("rsa-2048");
  const internal = (e: unknown) =>
    e instanceof BasilError && e.code === "INTERNAL" && !/[0-9a-f]{16}/.test(e.detail ?? "");
  assert.throws(() => signMessage("ecdsa-p256", ed.privateKey.expose(), utf8("m")), internal);
  assert.throws(() => signMessage("ecdsa-p384", ec.privateKey.expose(), utf8("m")), internal);
  assert.throws(() => signMessage("ed25519", ec.privateKey.expose(), utf8("m")), internal);
  assert.throws(() => signMessage("rsa-2048", ec.privateKey.expose(), utf8("m")), internal);
  assert.throws(() => signMessage("ecdsa-p256", rsa.privateKey.expose(), utf8("m")), internal);
  await assert.rejects(signMessageAsync("rsa-2048", ec.privateKey.expose(), utf8("m")), internal);
  assert.throws(
    () => signMessage("x25519", ed.privateKey.expose(), utf8("m")),
    (e: unknown) => e instanceof BasilError && e.code === "UNSUPPORTED_ALGORITHM",
  );
  assert.throws(
    () => verifyMessage("aes-256-gcm", ed.publicKey, utf8("m"), new Uint8Array(64)),
    (e: unknown) => e instanceof BasilError && e.code === "UNSUPPORTED_ALGORITHM",
  );
});

Deno.test("signing: publicKeyToSpkiDer for raw Ed25519 and PEM keys", () => {
  const ed = generateSigningKey("ed25519");
  const spki = publicKeyToSpkiDer("ed25519", ed.publicKey);
  assert.equal(spki.length, 44);
  const key = nc.createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  assert.equal(key.asymmetricKeyType, "ed25519");
  assert.throws(
    () => publicKeyToSpkiDer("ecdsa-p256", ed.publicKey),
    (e: unknown) => e instanceof BasilError && e.code === "INVALID_REQUEST",
  );
  assert.throws(
    () => publicKeyToSpkiDer("ecdsa-p384", generateSigningKey("ecdsa-p256").publicKey),
    (e: unknown) => e instanceof BasilError && e.code === "INVALID_REQUEST",
  );
  assert.throws(() => publicKeyToSpkiDer("ed25519", new Uint8Array(31)));
});
