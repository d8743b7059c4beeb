/**
 * Fuzz: COSE messages (lib/cose). Mutated and random COSE_Sign1,
 * COSE_Encrypt and sealed-invocation bytes (valid samples: the upstream
 * vectors in tests/unit/cose/fixtures/, copied from
 * ../shared/fixtures/upstream/) and random CBOR values go through the
 * strict decoder, the parsers, signature verification and opening. Each
 * gives a value or the module's typed error (`CborError`, `CoseError`),
 * never a stray exception; a mutated message never verifies (Sign1) and
 * never opens to other authenticated content (Encrypt); anything the
 * decoder accepts re-encodes to the same bytes; and every non-canonical
 * encoding of a value (a widened head, an indefinite length, map keys out
 * of order) is rejected.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { fromHex, toHex } from "../../lib/core/encoding.ts";
import {
  CborError,
  type CborMap,
  CborTag,
  type CborValue,
  compareBytes,
  decodeCbor,
  encodeCbor,
} from "../../lib/cose/cbor.ts";
import { decodeSignRequest, decodeSignResponse } from "../../lib/cose/bodies.ts";
import {
  CoseError,
  openEncrypt,
  parseEncrypt,
  parseSign1,
  verifySign1,
} from "../../lib/cose/cose.ts";
import { checkClaims, decodeBody, parseInvocation, type Role } from "../../lib/cose/invocation.ts";
import { ES256, keyHex, SEALED } from "../unit/cose/helpers.ts";
import { fuzz, fuzzBytes, fuzzRuns, mutatedBytes, onlyTyped } from "../helpers/fuzz.ts";

interface Vector {
  readonly name: string;
  readonly role: Role;
  readonly signer: string;
  readonly recipient: string;
  readonly cose_sign1_hex: string;
  readonly body: { readonly plaintext_cbor_hex: string };
}

const VECTORS = SEALED.vectors as Vector[];
const REJECTS = (SEALED.rejects as { cose_sign1_hex: string }[]).map((r) =>
  fromHex(r.cose_sign1_hex)
);
const SEALED_BYTES = VECTORS.map((v) => fromHex(v.cose_sign1_hex));
const ES256_BYTES = fromHex(ES256.cose_sign1_hex);
const ENCRYPTS = SEALED_BYTES.map((b) => parseSign1(b).payload);
const BODIES = VECTORS.map((v) => fromHex(v.body.plaintext_cbor_hex));
const ALL = [...SEALED_BYTES, ...REJECTS, ES256_BYTES, ...ENCRYPTS, ...BODIES];
const TAGS = [18, 96];

const validation = {
  nowUnix: SEALED.validation.now_unix as number,
  audiences: SEALED.validation.allowed_audiences as string[],
  clockSkewSecs: SEALED.validation.max_clock_skew_secs as number,
  maxTtlSecs: SEALED.validation.max_ttl_secs as number,
  defaultTtlSecs: SEALED.validation.default_ttl_secs as number,
};

const same = (a: Uint8Array, b: Uint8Array) => compareBytes(a, b) === 0;

/** Random values of the profile's data model (what the strict decoder accepts). */
const { value: cborValue } = fc.letrec<{ value: CborValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", maxDepth: 4 },
    fc.maxSafeInteger(),
    fc.integer({ min: -30, max: 300 }),
    fc.string({ maxLength: 24, unit: "grapheme" }),
    fc.uint8Array({ maxLength: 40 }),
    fc.constantFrom<CborValue>(true, false, null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.uniqueArray(fc.tuple(fc.integer({ min: -70005, max: 70005 }), tie("value")), {
      maxLength: 4,
      selector: ([k]) => k,
    }).map((es) => new Map(es) as CborMap),
    fc.tuple(fc.constantFrom(...TAGS), tie("value")).map(([t, v]) => new CborTag(t, v)),
  ),
}));

/** Mutated samples, random bytes, and random well-formed CBOR. */
const anyInput = fc.oneof(
  { weight: 4, arbitrary: fuzzBytes(ALL, 512) },
  { weight: 1, arbitrary: cborValue.map(encodeCbor) },
);

Deno.test("fuzz: the strict CBOR decoder accepts only what re-encodes to the same bytes", async () => {
  await fuzz(
    "cose cbor",
    fc.property(anyInput, (bytes) => {
      const v = onlyTyped(() => decodeCbor(bytes, { tags: TAGS }), [CborError]);
      if (v !== undefined) assert.equal(toHex(encodeCbor(v)), toHex(bytes));
    }),
    fuzzRuns(1500),
  );
});

Deno.test("fuzz: COSE parsers give a value or a CoseError", async () => {
  await fuzz(
    "cose parse",
    fc.property(anyInput, (bytes) => {
      onlyTyped(() => parseSign1(bytes), [CoseError]);
      onlyTyped(() => parseEncrypt(bytes), [CoseError]);
      onlyTyped(() => parseInvocation(bytes, "request"), [CoseError]);
      onlyTyped(() => parseInvocation(bytes, "response"), [CoseError]);
      onlyTyped(() => decodeBody(bytes), [CoseError]);
      onlyTyped(() => decodeSignRequest(bytes), [CoseError]);
      onlyTyped(() => decodeSignResponse(bytes), [CoseError]);
    }),
    fuzzRuns(1000),
  );
});

/** Parses, verifies, checks claims and opens as the fixtures test does. */
function accept(v: Vector, bytes: Uint8Array): Uint8Array {
  const p = parseInvocation(bytes, v.role);
  p.verifySignature(keyHex(v.signer, "public_hex"));
  checkClaims(p.header, v.role, validation);
  return openEncrypt(p.encrypt, keyHex(v.recipient, "private_hex"));
}

Deno.test("fuzz: a mutated sealed invocation is never accepted", async () => {
  for (const v of VECTORS) {
    assert.equal(toHex(accept(v, fromHex(v.cose_sign1_hex))), v.body.plaintext_cbor_hex);
  }
  await fuzz(
    "cose sealed invocation",
    fc.property(
      fc.nat(VECTORS.length - 1).chain((i) =>
        fc.tuple(fc.constant(i), mutatedBytes([SEALED_BYTES[i]!]))
      ),
      ([i, bytes]) => {
        if (same(bytes, SEALED_BYTES[i]!)) return;
        const out = onlyTyped(() => accept(VECTORS[i]!, bytes), [CoseError]);
        assert.equal(out, undefined, `mutated ${VECTORS[i]!.name} was accepted`);
      },
    ),
    fuzzRuns(600),
  );
});

Deno.test("fuzz: a mutated COSE_Sign1 (ES256) never verifies", async () => {
  const pub = fromHex(ES256.key.public_sec1_hex);
  verifySign1(parseSign1(ES256_BYTES), "ES256", pub);
  await fuzz(
    "cose sign1",
    fc.property(mutatedBytes([ES256_BYTES]), (bytes) => {
      if (same(bytes, ES256_BYTES)) return;
      const ok = onlyTyped(() => {
        verifySign1(parseSign1(bytes), "ES256", pub);
        return true;
      }, [CoseError]);
      assert.equal(ok, undefined, "a mutated COSE_Sign1 verified");
    }),
    fuzzRuns(400),
  );
});

Deno.test("fuzz: a mutated COSE_Encrypt never opens to other authenticated content", async () => {
  const originals = ENCRYPTS.map((b) => parseEncrypt(b));
  await fuzz(
    "cose encrypt",
    fc.property(
      fc.nat(ENCRYPTS.length - 1).chain((i) =>
        fc.tuple(fc.constant(i), mutatedBytes([ENCRYPTS[i]!]))
      ),
      ([i, bytes]) => {
        const v = VECTORS[i]!;
        const key = keyHex(v.recipient, "private_hex");
        const opened = onlyTyped(() => {
          const e = parseEncrypt(bytes);
          return { e, plain: openEncrypt(e, key) };
        }, [CoseError]);
        if (opened === undefined) return;
        // Only the recipient kid (an unprotected hint, RFC 9052 §3) may differ.
        const o = originals[i]!;
        const { e, plain } = opened;
        assert.equal(toHex(plain), v.body.plaintext_cbor_hex);
        for (const k of ["protectedBytes", "nonce", "ciphertext", "ephemeralPublicKey"] as const) {
          assert.ok(same(e[k], o[k]), `a COSE_Encrypt with another ${k} opened`);
        }
        assert.ok(same(e.recipientProtectedBytes, o.recipientProtectedBytes));
      },
    ),
    fuzzRuns(600),
  );
});

Deno.test("COSE_Encrypt: a non-canonical X25519 ephemeral key is rejected (regression)", () => {
  const bytes = ENCRYPTS[0]!;
  const x = parseEncrypt(bytes).ephemeralPublicKey;
  let at = -1;
  for (let k = 0; k + 32 <= bytes.length && at < 0; k++) {
    if (same(bytes.subarray(k, k + 32), x)) at = k;
  }
  assert.ok(at >= 0);
  // The top bit set names the same point (X25519 masks it), as does u >= p.
  const highBit = bytes.slice();
  highBit[at + 31]! ^= 0x80;
  const uEqualsP = bytes.slice();
  uEqualsP.set([0xed, ...new Array(30).fill(0xff), 0x7f], at);
  for (const b of [highBit, uEqualsP]) {
    assert.throws(() => parseEncrypt(b), (e: unknown) => {
      assert.ok(e instanceof CoseError);
      assert.equal(e.reason, "decode-malformed");
      return true;
    });
  }
  const below = bytes.slice();
  below.set([0xec, ...new Array(30).fill(0xff), 0x7f], at);
  parseEncrypt(below); // p - 1 is canonical (it does not open: another point)
});

// ---- non-canonical encodings ----

/**
 * Encodes `v` as the deterministic encoder does, except where `choices`
 * say to deviate: a head one size wider than minimal, an indefinite
 * length, or a map's keys in descending order. Returns the bytes and
 * whether any deviation was made.
 */
function looseEncode(v: CborValue, choices: readonly number[]): [Uint8Array, boolean] {
  const out: number[] = [];
  let at = 0;
  let deviated = false;
  const next = () => choices[at++] ?? 0;
  const head = (major: number, n: number) => {
    const min = n < 24 ? n : n < 0x100 ? 24 : n < 0x10000 ? 25 : n < 0x100000000 ? 26 : 27;
    let ai = min;
    if (next() % 5 === 1 && min < 27) {
      ai = min < 24 ? 24 : min + 1;
      deviated = true;
    }
    out.push((major << 5) | ai);
    const len = ai < 24 ? 0 : 1 << (ai - 24);
    const big = BigInt(n);
    for (let i = len - 1; i >= 0; i--) out.push(Number((big >> BigInt(8 * i)) & 0xffn));
  };
  const indefinite = (major: number) => {
    if (next() % 5 !== 2) return false;
    out.push((major << 5) | 31);
    deviated = true;
    return true;
  };
  const write = (x: CborValue): void => {
    if (typeof x === "number") {
      if (x >= 0) head(0, x);
      else head(1, -1 - x);
    } else if (typeof x === "string" || x instanceof Uint8Array) {
      const bytes = typeof x === "string" ? new TextEncoder().encode(x) : x;
      const major = typeof x === "string" ? 3 : 2;
      const chunked = indefinite(major);
      head(major, bytes.length);
      out.push(...bytes);
      if (chunked) out.push(0xff);
    } else if (x === false || x === true || x === null) {
      out.push(x === false ? 0xf4 : x === true ? 0xf5 : 0xf6);
    } else if (Array.isArray(x)) {
      const open = indefinite(4);
      if (!open) head(4, x.length);
      x.forEach(write);
      if (open) out.push(0xff);
    } else if (x instanceof Map) {
      const entries = [...x].sort(([a], [b]) => compareBytes(encodeCbor(a), encodeCbor(b)));
      if (entries.length >= 2 && next() % 5 === 3) {
        entries.reverse();
        deviated = true;
      }
      const open = indefinite(5);
      if (!open) head(5, entries.length);
      for (const [k, val] of entries) write(k), write(val);
      if (open) out.push(0xff);
    } else {
      head(6, x.tag);
      write(x.value);
    }
  };
  write(v);
  return [Uint8Array.from(out), deviated];
}

Deno.test("fuzz: every non-canonical encoding is rejected by the strict decoder", async () => {
  const sampleValues = ALL.flatMap((b) => {
    try {
      return [decodeCbor(b, { tags: TAGS })];
    } catch {
      return []; // the fixture's rejects
    }
  });
  await fuzz(
    "cose noncanonical",
    fc.property(
      fc.oneof(cborValue, fc.constantFrom(...sampleValues)),
      fc.array(fc.nat(), { maxLength: 48 }),
      (v, choices) => {
        const [bytes, deviated] = looseEncode(v, choices);
        if (!deviated) {
          assert.equal(toHex(bytes), toHex(encodeCbor(v)));
          decodeCbor(bytes, { tags: TAGS });
          return;
        }
        assert.throws(() => decodeCbor(bytes, { tags: TAGS }), (e: unknown) => {
          assert.ok(e instanceof CborError, String(e));
          assert.notEqual(e.failure, "wrong-tag");
          return true;
        });
      },
    ),
    fuzzRuns(1000),
  );
});

Deno.test("strict decoder: non-canonical encodings are rejected", () => {
  const cases: [string, string][] = [
    ["1817", "noncanonical"], // 23 in two bytes
    ["5f4100ff", "noncanonical"], // indefinite bstr
    ["a20100010a", "malformed"], // duplicate key
    ["a2020001f6", "noncanonical"], // keys out of order
    ["a1616101", "malformed"], // text key
    ["f93c00", "malformed"], // float
    ["f7", "malformed"], // undefined
    ["c101", "wrong-tag"], // tag not allowed
    ["0000", "malformed"], // trailing bytes
    ["62c328", "malformed"], // invalid UTF-8
    ["9b0000000100000000", "malformed"], // array longer than the input
    ["9b00000000ffffffff", "noncanonical"], // 8-byte head for a 4-byte value
  ];
  for (const [hex, failure] of cases) {
    assert.throws(() => decodeCbor(fromHex(hex)), (e: unknown) => {
      assert.ok(e instanceof CborError, hex);
      assert.equal(e.failure, failure, hex);
      return true;
    });
  }
});
