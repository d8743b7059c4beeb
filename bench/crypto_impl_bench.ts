/**
 * Implementation choice for the keystore's local crypto (lib/crypto): each
 * algorithm is timed through every candidate library, including the cost of
 * turning the stored private bytes into a usable key (the keystore opens the
 * row for every operation and keeps no key object).
 *
 * Run: `deno bench --no-prompt bench/crypto_impl_bench.ts`
 *
 * Groups compare, per algorithm:
 * - `node:crypto` (synchronous, blocks the event loop for the whole op);
 * - `@noble/curves` (pure JS, synchronous);
 * - WebCrypto (async, off the JS thread), at 1 in flight and with 8 in flight
 *   (the figure reported for "x8" is one batch of 8, so divide by 8 for the
 *   per-op cost under load);
 * - and the chosen path through lib/crypto (`lib:` rows);
 * - `*-request-mix` groups: a simulated broker request (300 µs of busy
 *   main-thread work split around the sign, with a turn of the event loop on
 *   each side), 1 at a time and 8 in flight, so a signer that blocks the loop
 *   pays for it and one that runs off-thread gets credit for the overlap.
 *
 * Results (2 vCPU dev box, Deno 2.9.3; avg per iteration; "x8" and "8 in
 * flight" rows are per batch of 8):
 *
 * | op | node:crypto | @noble | WebCrypto | chosen |
 * |---|---|---|---|---|
 * | Ed25519 sign (key from stored bytes) | 39.7 µs | 264 µs | 38.2 µs (async) | node |
 * | Ed25519 verify | 45.7 µs (lib) | 502 µs | – | node |
 * | P-256 sign | 776 µs | 287 µs | 689 µs; x8 3.2 ms | noble |
 * | P-256 request, 1 / 8 in flight | 1.1 / 8.7 ms | 0.59 / 4.8 ms | 0.69 / 5.7 ms | noble |
 * | P-384 sign | 1.8 ms | 453 µs | 1.8 ms; x8 11.5 ms | noble |
 * | P-384 request, 1 / 8 in flight | 2.1 / 16.8 ms | 0.77 / 6.1 ms | 1.8 / 13.6 ms | noble |
 * | P-521 sign | 2.3 ms | 713 µs | 2.4 ms; x8 17.2 ms | noble |
 * | ECDSA verify P-256/384/521 | 505 µs / 1.1 / 1.5 ms | 887 µs / 1.9 / 3.1 ms | – | node |
 * | RSA-2048 sign | 1.4 ms | – | 1.3 ms; x8 9.8 ms | node (sync), WebCrypto (async) |
 * | RSA request, 1 / 8 in flight | 1.8 / 14.4 ms | – | 1.6 / 12.6 ms | WebCrypto (async) |
 * | RSA-2048 verify | 178 µs | – | – | node |
 * | AES-256-GCM seal 1 KiB, key from bytes | 13.2 µs | – | 23.1 µs (import + encrypt) | node |
 * | ChaCha20-Poly1305 seal 1 KiB | 7.6 µs | – | (none) | node |
 * | X25519 sealed box seal / open 1 KiB | 123 / 76 µs | – | – | node |
 * @module
 */

import * as nc from "node:crypto";
import { setImmediate } from "node:timers";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256, p384, p521 } from "@noble/curves/nist.js";
import { aeadOpen, aeadSeal } from "../lib/crypto/aead.ts";
import {
  generateSigningKey,
  signMessage,
  signMessageAsync,
  verifyMessage,
} from "../lib/crypto/signing.ts";
import { openX25519, sealX25519, x25519Generate } from "../lib/crypto/x25519_seal.ts";
import type { KeyType } from "../lib/core/ops.ts";

const MSG = crypto.getRandomValues(new Uint8Array(32));
const KIB = crypto.getRandomValues(new Uint8Array(1024));
const IN_FLIGHT = 8;

type Curve = "P-256" | "P-384" | "P-521";
const NOBLE = { "P-256": p256, "P-384": p384, "P-521": p521 } as const;
const HASH = { "P-256": "sha256", "P-384": "sha384", "P-521": "sha512" } as const;
const WC_HASH = { "P-256": "SHA-256", "P-384": "SHA-384", "P-521": "SHA-512" } as const;
const KEY_TYPE: Record<Curve, KeyType> = {
  "P-256": "ecdsa-p256",
  "P-384": "ecdsa-p384",
  "P-521": "ecdsa-p521",
};

function toBytes(b: ArrayBuffer | Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b instanceof Uint8Array ? b.slice() : b.slice(0));
}

function b64urlDecode(s: string): Uint8Array {
  const b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - s.length % 4) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

/** Runs `op` IN_FLIGHT times concurrently. */
function batch(op: () => Promise<unknown>): Promise<unknown[]> {
  return Promise.all(Array.from({ length: IN_FLIGHT }, op));
}

/** Busy main-thread work, standing in for a request's transport and handler cost. */
function spin(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end) { /* busy */ }
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Main-thread work per simulated request, split before and after the sign. */
const REQUEST_WORK_US = 300;

/**
 * One simulated broker request: half the main-thread work, a turn of the
 * event loop, the sign, another turn, the other half.
 */
async function request(sign: () => unknown): Promise<void> {
  spin(REQUEST_WORK_US / 2);
  await yieldToLoop();
  await sign();
  await yieldToLoop();
  spin(REQUEST_WORK_US / 2);
}

/**
 * Adds the request-mix group for a signer: 1 request at a time (latency) and
 * IN_FLIGHT concurrent requests per iteration (throughput: divide by 8).
 */
function mixGroup(group: string, signers: Record<string, () => unknown>): void {
  let first = true;
  for (const [name, sign] of Object.entries(signers)) {
    Deno.bench(`${name}: 1 request (300 µs work + sign)`, { group, baseline: first }, async () => {
      await request(sign);
    });
    first = false;
    Deno.bench(`${name}: ${IN_FLIGHT} requests in flight`, { group }, async () => {
      await batch(() => request(sign));
    });
  }
}

// ---------------------------------------------------------------- Ed25519

const edNode = nc.generateKeyPairSync("ed25519");
const edPkcs8 = toBytes(edNode.privateKey.export({ format: "der", type: "pkcs8" }));
const edSeed = edPkcs8.slice(16);
const edPubRaw = b64urlDecode(edNode.publicKey.export({ format: "jwk" }).x!);
const edNodeSig = nc.sign(null, MSG, edNode.privateKey);
const edWcKey = await crypto.subtle.importKey("pkcs8", edPkcs8, "Ed25519", false, ["sign"]);
const edLib = generateSigningKey("ed25519");
const edLibSig = signMessage("ed25519", edLib.privateKey.expose(), MSG);

Deno.bench("node:crypto ed25519 sign (import seed + sign)", {
  group: "ed25519-sign",
  baseline: true,
}, () => {
  const k = nc.createPrivateKey({ key: Buffer.from(edPkcs8), format: "der", type: "pkcs8" });
  nc.sign(null, MSG, k);
});
Deno.bench("node:crypto ed25519 sign (cached KeyObject)", { group: "ed25519-sign" }, () => {
  nc.sign(null, MSG, edNode.privateKey);
});
Deno.bench("noble ed25519 sign", { group: "ed25519-sign" }, () => {
  ed25519.sign(MSG, edSeed);
});
Deno.bench("webcrypto ed25519 sign (import + sign)", { group: "ed25519-sign" }, async () => {
  const k = await crypto.subtle.importKey("pkcs8", edPkcs8, "Ed25519", false, ["sign"]);
  await crypto.subtle.sign("Ed25519", k, MSG);
});
Deno.bench("webcrypto ed25519 sign (cached key)", { group: "ed25519-sign" }, async () => {
  await crypto.subtle.sign("Ed25519", edWcKey, MSG);
});
Deno.bench("lib: signMessage ed25519", { group: "ed25519-sign" }, () => {
  signMessage("ed25519", edLib.privateKey.expose(), MSG);
});

Deno.bench("node:crypto ed25519 verify (import raw + verify)", {
  group: "ed25519-verify",
  baseline: true,
}, () => {
  const k = nc.createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: edNode.publicKey.export({ format: "jwk" }).x! },
    format: "jwk",
  });
  nc.verify(null, MSG, k, edNodeSig);
});
Deno.bench("noble ed25519 verify", { group: "ed25519-verify" }, () => {
  ed25519.verify(edNodeSig, MSG, edPubRaw);
});
Deno.bench("lib: verifyMessage ed25519", { group: "ed25519-verify" }, () => {
  verifyMessage("ed25519", edLib.publicKey, MSG, edLibSig);
});

// ---------------------------------------------------------------- ECDSA

for (const curve of ["P-256", "P-384", "P-521"] as const) {
  const kp = nc.generateKeyPairSync("ec", { namedCurve: curve });
  const pkcs8 = toBytes(kp.privateKey.export({ format: "der", type: "pkcs8" }));
  const scalar = b64urlDecode(kp.privateKey.export({ format: "jwk" }).d!);
  const pubPem = kp.publicKey.export({ format: "pem", type: "spki" }) as string;
  const pubRaw = NOBLE[curve].getPublicKey(scalar, false);
  const sig = nc.sign(HASH[curve], MSG, { key: kp.privateKey, dsaEncoding: "ieee-p1363" });
  const wcAlg = { name: "ECDSA", namedCurve: curve };
  const wcSign = { name: "ECDSA", hash: WC_HASH[curve] };
  const wcKey = await crypto.subtle.importKey("pkcs8", pkcs8, wcAlg, false, ["sign"]);
  const group = `ecdsa-${curve}-sign`;
  const lib = generateSigningKey(KEY_TYPE[curve]);
  const libSig = signMessage(KEY_TYPE[curve], lib.privateKey.expose(), MSG);
  const wcImportSign = async () => {
    const k = await crypto.subtle.importKey("pkcs8", pkcs8, wcAlg, false, ["sign"]);
    return crypto.subtle.sign(wcSign, k, MSG);
  };

  Deno.bench(`node:crypto ${curve} sign (import pkcs8 + sign)`, { group, baseline: true }, () => {
    const k = nc.createPrivateKey({ key: Buffer.from(pkcs8), format: "der", type: "pkcs8" });
    nc.sign(HASH[curve], MSG, { key: k, dsaEncoding: "ieee-p1363" });
  });
  Deno.bench(`node:crypto ${curve} sign (cached KeyObject)`, { group }, () => {
    nc.sign(HASH[curve], MSG, { key: kp.privateKey, dsaEncoding: "ieee-p1363" });
  });
  Deno.bench(`noble ${curve} sign (raw scalar, prehash)`, { group }, () => {
    NOBLE[curve].sign(MSG, scalar, { prehash: true });
  });
  Deno.bench(`webcrypto ${curve} sign (import + sign) x1`, { group }, async () => {
    await wcImportSign();
  });
  Deno.bench(`webcrypto ${curve} sign (cached key) x1`, { group }, async () => {
    await crypto.subtle.sign(wcSign, wcKey, MSG);
  });
  Deno.bench(`webcrypto ${curve} sign (import + sign) x${IN_FLIGHT} in flight`, {
    group,
  }, async () => {
    await batch(wcImportSign);
  });
  Deno.bench(`lib: signMessage ${KEY_TYPE[curve]}`, { group }, () => {
    signMessage(KEY_TYPE[curve], lib.privateKey.expose(), MSG);
  });

  if (curve !== "P-521") {
    mixGroup(`ecdsa-${curve}-request-mix`, {
      [`noble ${curve}`]: () =>
        NOBLE[curve].sign(MSG, scalar, { prehash: true, extraEntropy: true }),
      [`webcrypto ${curve}`]: wcImportSign,
      [`node:crypto ${curve}`]: () => {
        const k = nc.createPrivateKey({ key: Buffer.from(pkcs8), format: "der", type: "pkcs8" });
        return nc.sign(HASH[curve], MSG, { key: k, dsaEncoding: "ieee-p1363" });
      },
    });
  }

  const vgroup = `ecdsa-${curve}-verify`;
  Deno.bench(`node:crypto ${curve} verify (import PEM + verify)`, {
    group: vgroup,
    baseline: true,
  }, () => {
    const k = nc.createPublicKey(pubPem);
    nc.verify(HASH[curve], MSG, { key: k, dsaEncoding: "ieee-p1363" }, sig);
  });
  Deno.bench(`noble ${curve} verify`, { group: vgroup }, () => {
    NOBLE[curve].verify(sig, MSG, pubRaw, { prehash: true, lowS: false });
  });
  Deno.bench(`lib: verifyMessage ${KEY_TYPE[curve]}`, { group: vgroup }, () => {
    verifyMessage(KEY_TYPE[curve], lib.publicKey, MSG, libSig);
  });
}

// ---------------------------------------------------------------- RSA-2048

const rsa = nc.generateKeyPairSync("rsa", { modulusLength: 2048 });
const rsaPkcs8 = toBytes(rsa.privateKey.export({ format: "der", type: "pkcs8" }));
const rsaPem = rsa.publicKey.export({ format: "pem", type: "spki" }) as string;
const rsaSig = nc.sign("sha256", MSG, rsa.privateKey);
const rsaWcAlg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
const rsaWcImportSign = async () => {
  const k = await crypto.subtle.importKey("pkcs8", rsaPkcs8, rsaWcAlg, false, ["sign"]);
  return crypto.subtle.sign("RSASSA-PKCS1-v1_5", k, MSG);
};
const rsaLib = generateSigningKey("rsa-2048");
const rsaLibSig = signMessage("rsa-2048", rsaLib.privateKey.expose(), MSG);

Deno.bench("node:crypto rsa-2048 sign (import pkcs8 + sign)", {
  group: "rsa-sign",
  baseline: true,
}, () => {
  const k = nc.createPrivateKey({ key: Buffer.from(rsaPkcs8), format: "der", type: "pkcs8" });
  nc.sign("sha256", MSG, k);
});
Deno.bench("node:crypto rsa-2048 sign (cached KeyObject)", { group: "rsa-sign" }, () => {
  nc.sign("sha256", MSG, rsa.privateKey);
});
Deno.bench("webcrypto rsa-2048 sign (import + sign) x1", { group: "rsa-sign" }, async () => {
  await rsaWcImportSign();
});
Deno.bench(`webcrypto rsa-2048 sign (import + sign) x${IN_FLIGHT} in flight`, {
  group: "rsa-sign",
}, async () => {
  await batch(rsaWcImportSign);
});
Deno.bench("lib: signMessage rsa-2048", { group: "rsa-sign" }, () => {
  signMessage("rsa-2048", rsaLib.privateKey.expose(), MSG);
});
Deno.bench("lib: signMessageAsync rsa-2048 (WebCrypto)", { group: "rsa-sign" }, async () => {
  await signMessageAsync("rsa-2048", rsaLib.privateKey.expose(), MSG);
});
mixGroup("rsa-request-mix", {
  "node:crypto rsa-2048": () => {
    const k = nc.createPrivateKey({ key: Buffer.from(rsaPkcs8), format: "der", type: "pkcs8" });
    return nc.sign("sha256", MSG, k);
  },
  "webcrypto rsa-2048": rsaWcImportSign,
});

Deno.bench("node:crypto rsa-2048 verify (import PEM + verify)", {
  group: "rsa-verify",
  baseline: true,
}, () => {
  nc.verify("sha256", MSG, nc.createPublicKey(rsaPem), rsaSig);
});
Deno.bench("lib: verifyMessage rsa-2048", { group: "rsa-verify" }, () => {
  verifyMessage("rsa-2048", rsaLib.publicKey, MSG, rsaLibSig);
});

// ---------------------------------------------------------------- AEAD 1 KiB

const aeadKey = crypto.getRandomValues(new Uint8Array(32));
const aesWcKey = await crypto.subtle.importKey("raw", aeadKey, "AES-GCM", false, ["encrypt"]);
const aad = new Uint8Array(32);
const sealedAes = aeadSeal("aes-256-gcm", aeadKey, KIB, aad);
const sealedChacha = aeadSeal("chacha20-poly1305", aeadKey, KIB, aad);

Deno.bench("node:crypto aes-256-gcm seal 1 KiB (lib aead.ts)", {
  group: "aead",
  baseline: true,
}, () => {
  aeadSeal("aes-256-gcm", aeadKey, KIB, aad);
});
Deno.bench("node:crypto chacha20-poly1305 seal 1 KiB (lib aead.ts)", { group: "aead" }, () => {
  aeadSeal("chacha20-poly1305", aeadKey, KIB, aad);
});
Deno.bench("webcrypto aes-256-gcm encrypt 1 KiB (import + encrypt)", {
  group: "aead",
}, async () => {
  const k = await crypto.subtle.importKey("raw", aeadKey, "AES-GCM", false, ["encrypt"]);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, k, KIB);
});
Deno.bench("webcrypto aes-256-gcm encrypt 1 KiB (cached key)", { group: "aead" }, async () => {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, aesWcKey, KIB);
});
Deno.bench("node:crypto aes-256-gcm open 1 KiB (lib aead.ts)", { group: "aead" }, () => {
  aeadOpen("aes-256-gcm", aeadKey, sealedAes, aad).fill(0);
});
Deno.bench("node:crypto chacha20-poly1305 open 1 KiB (lib aead.ts)", { group: "aead" }, () => {
  aeadOpen("chacha20-poly1305", aeadKey, sealedChacha, aad).fill(0);
});

// ---------------------------------------------------------------- X25519 sealed box

const xRecipient = x25519Generate();
const xSealed = sealX25519(xRecipient.publicKey, KIB);

Deno.bench("lib: sealX25519 1 KiB (node:crypto)", { group: "x25519", baseline: true }, () => {
  sealX25519(xRecipient.publicKey, KIB);
});
Deno.bench("lib: openX25519 1 KiB (node:crypto)", { group: "x25519" }, () => {
  openX25519(xRecipient.privateKey.expose(), xRecipient.publicKey, xSealed).fill(0);
});
