/**
 * NIST ACVP known-answer vectors (tests/fixtures/nist/, FIPS 203 and 204)
 * through lib/crypto/pqc.ts: ML-DSA key generation from the seed ξ,
 * Sign_internal (deterministic and with the given rnd) and Verify_internal
 * (valid and each kind of forgery), ML-KEM key generation from d ‖ z,
 * Encaps with the given m and Decaps (including implicit rejection).
 * The broker's own paths are tied to the same functions: a stored ML-KEM
 * seed is d ‖ z, and pure signing is Sign_internal over FIPS 204's M′.
 */

import assert from "node:assert/strict";
import { ml_dsa44, ml_dsa65, ml_dsa87 } from "@noble/post-quantum/ml-dsa.js";
import { concat, fromHex, toHex, utf8 } from "../../../lib/core/encoding.ts";
import {
  mlDsaPureMessage,
  mlDsaSign,
  mlDsaSignInternal,
  type MlDsaType,
  mlDsaVerify,
  mlDsaVerifyInternal,
  mlKemDecapsulate,
  mlKemEncapsulate,
  type MlKemType,
  openMlKem,
  pqcKeyPair,
  pqcPublicKey,
  sealMlKem,
} from "../../../lib/crypto/pqc.ts";

type Test = { tcId: number } & Record<string, unknown>;
interface Group {
  tgId: number;
  parameterSet: string;
  tests: Test[];
  [field: string]: unknown;
}

function load(name: string): Group[] {
  const url = new URL(`../../fixtures/nist/${name}`, import.meta.url);
  const doc = JSON.parse(Deno.readTextFileSync(url)) as { testGroups: Group[] };
  assert.ok(doc.testGroups.length > 0, `${name} has test groups`);
  return doc.testGroups;
}

/** A hex field of a test or group, decoded; missing fields fail the test. */
function hex(from: Record<string, unknown>, field: string): Uint8Array {
  const v = from[field];
  assert.equal(typeof v, "string", `field ${field} present`);
  return fromHex((v as string).toLowerCase());
}

const dsaType = (g: Group) => g.parameterSet.toLowerCase() as MlDsaType;
const kemType = (g: Group) => g.parameterSet.toLowerCase() as MlKemType;
const eqHex = (got: Uint8Array, want: Uint8Array, what: string) =>
  assert.equal(toHex(got), toHex(want), what);

/** Runs `fn` for every test, counting parameter sets so a thin fixture fails. */
function each(groups: Group[], fn: (g: Group, t: Test) => void): Set<string> {
  const seen = new Set<string>();
  for (const g of groups) {
    for (const t of g.tests) {
      fn(g, t);
      seen.add(g.parameterSet);
    }
  }
  return seen;
}

const ALL_DSA = ["ML-DSA-44", "ML-DSA-65", "ML-DSA-87"];
const ALL_KEM = ["ML-KEM-512", "ML-KEM-768", "ML-KEM-1024"];
const covers = (seen: Set<string>, all: string[]) =>
  assert.deepEqual([...seen].sort(), [...all].sort());

Deno.test("ML-DSA keyGen: the seed ξ gives NIST's pk and sk", () => {
  const seen = each(load("ml-dsa-keygen.json"), (g, t) => {
    const kt = dsaType(g);
    const pair = pqcKeyPair(kt, hex(t, "seed"));
    eqHex(pair.publicKey, hex(t, "pk"), `tc ${t.tcId} pk`);
    eqHex(pair.secretKey, hex(t, "sk"), `tc ${t.tcId} sk`);
    eqHex(pqcPublicKey(kt, hex(t, "seed")), hex(t, "pk"), `tc ${t.tcId} pqcPublicKey`);
  });
  covers(seen, ALL_DSA);
});

Deno.test("ML-DSA sigGen: Sign_internal gives NIST's signature, deterministic and with rnd", () => {
  let deterministic = 0;
  let hedged = 0;
  const seen = each(load("ml-dsa-siggen.json"), (g, t) => {
    const rnd = g.deterministic === true ? new Uint8Array(32) : hex(t, "rnd");
    if (g.deterministic === true) deterministic++;
    else hedged++;
    const sig = mlDsaSignInternal(dsaType(g), hex(t, "sk"), hex(t, "message"), rnd);
    eqHex(sig, hex(t, "signature"), `tc ${t.tcId} signature`);
    // Another rnd gives another signature: the vector pins rnd, not just the key.
    const other = rnd.map((b, i) => (i === 0 ? b ^ 1 : b));
    assert.notEqual(
      toHex(mlDsaSignInternal(dsaType(g), hex(t, "sk"), hex(t, "message"), other)),
      toHex(sig),
    );
  });
  covers(seen, ALL_DSA);
  assert.ok(deterministic >= 3 && hedged >= 3, `${deterministic} deterministic, ${hedged} hedged`);
});

Deno.test("ML-DSA sigVer: Verify_internal accepts NIST's valid signatures and rejects each forgery", () => {
  const reasons = new Set<string>();
  const seen = each(load("ml-dsa-sigver.json"), (g, t) => {
    let ok: boolean;
    try {
      ok = mlDsaVerifyInternal(dsaType(g), hex(g, "pk"), hex(t, "message"), hex(t, "signature"));
    } catch {
      ok = false;
    }
    assert.equal(ok, t.testPassed, `tc ${t.tcId} (${t.reason})`);
    reasons.add(String(t.reason));
  });
  covers(seen, ALL_DSA);
  assert.deepEqual([...reasons].sort(), [
    "modify message",
    "modify signature",
    "no modification",
    "too many hints",
    "z too large",
  ]);
});

Deno.test("pure ML-DSA signing is Sign_internal over M′ = 0 ‖ 0 ‖ M, as FIPS 204 and noble define it", () => {
  const noble = { "ml-dsa-44": ml_dsa44, "ml-dsa-65": ml_dsa65, "ml-dsa-87": ml_dsa87 } as const;
  const message = utf8("release v1.0.0");
  each(load("ml-dsa-keygen.json"), (g, t) => {
    const kt = dsaType(g);
    const seed = hex(t, "seed");
    const pk = hex(t, "pk");
    const det = mlDsaSignInternal(kt, hex(t, "sk"), mlDsaPureMessage(message), new Uint8Array(32));
    eqHex(det, noble[kt].sign(message, hex(t, "sk"), { extraEntropy: false }), `tc ${t.tcId}`);
    // The broker's hedged path: verifies as pure ML-DSA (ours and noble's).
    const sig = mlDsaSign(kt, seed, message);
    assert.equal(mlDsaVerify(kt, pk, message, sig), true);
    assert.equal(noble[kt].verify(sig, message, pk), true);
    assert.equal(mlDsaVerify(kt, pk, utf8("release v1.0.1"), sig), false);
    // A context-bearing signature is not a pure, empty-context one.
    const withCtx = noble[kt].sign(message, hex(t, "sk"), { context: utf8("ctx") });
    assert.equal(mlDsaVerify(kt, pk, message, withCtx), false);
  });
});

Deno.test("ML-KEM keyGen: d ‖ z gives NIST's ek and dk, and is the broker's stored seed", () => {
  const seen = each(load("ml-kem-keygen.json"), (g, t) => {
    const kt = kemType(g);
    const seed = concat(hex(t, "d"), hex(t, "z"));
    const pair = pqcKeyPair(kt, seed);
    eqHex(pair.publicKey, hex(t, "ek"), `tc ${t.tcId} ek`);
    eqHex(pair.secretKey, hex(t, "dk"), `tc ${t.tcId} dk`);
    // The sealed-envelope path opens with the same seed a sealer used ek for.
    const box = sealMlKem(kt, hex(t, "ek"), utf8(`tc ${t.tcId}`));
    assert.equal(new TextDecoder().decode(openMlKem(kt, seed, box)), `tc ${t.tcId}`);
  });
  covers(seen, ALL_KEM);
});

Deno.test("ML-KEM encapsulation with NIST's m gives its c and K; Decaps recovers K", () => {
  const groups = load("ml-kem-encapdecap.json").filter((g) => g.function === "encapsulation");
  const seen = each(groups, (g, t) => {
    const kt = kemType(g);
    const { cipherText, sharedSecret } = mlKemEncapsulate(kt, hex(t, "ek"), hex(t, "m"));
    eqHex(cipherText, hex(t, "c"), `tc ${t.tcId} c`);
    eqHex(sharedSecret, hex(t, "k"), `tc ${t.tcId} k`);
    eqHex(mlKemDecapsulate(kt, hex(t, "dk"), cipherText), hex(t, "k"), `tc ${t.tcId} decaps`);
  });
  covers(seen, ALL_KEM);
});

Deno.test("ML-KEM decapsulation gives NIST's K, the implicit rejection value for a modified c", () => {
  const groups = load("ml-kem-encapdecap.json").filter((g) => g.function === "decapsulation");
  let rejected = 0;
  const seen = each(groups, (g, t) => {
    if (t.reason === "modify ciphertext") rejected++;
    const k = mlKemDecapsulate(kemType(g), hex(g, "dk"), hex(t, "c"));
    eqHex(k, hex(t, "k"), `tc ${t.tcId} (${t.reason})`);
  });
  covers(seen, ALL_KEM);
  assert.ok(rejected >= 3, `${rejected} implicit rejections`);
});
