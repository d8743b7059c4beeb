/**
 * A seeded mutation loop over the fixture messages and random CBOR: the
 * strict decoder and the sealed-invocation parser either accept or throw
 * their typed errors, never anything else; anything the decoder accepts
 * re-encodes to the same bytes. Bounded; the seed is printed on failure
 * (set COSE_FUZZ_SEED to replay one).
 */

import assert from "node:assert/strict";
import { fromHex, toHex } from "../../../lib/core/encoding.ts";
import { CborError, decodeCbor, encodeCbor } from "../../../lib/cose/cbor.ts";
import { CoseError } from "../../../lib/cose/cose.ts";
import { parseInvocation } from "../../../lib/cose/invocation.ts";
import { SEALED } from "./helpers.ts";

/** xorshift32: small and reproducible. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function mutate(src: Uint8Array, next: () => number): Uint8Array {
  const b = Array.from(src);
  const n = 1 + (next() % 4);
  for (let i = 0; i < n; i++) {
    const at = next() % Math.max(1, b.length);
    switch (next() % 5) {
      case 0:
        b[at] = next() & 0xff;
        break;
      case 1:
        b[at] = b[at]! ^ (1 << (next() % 8));
        break;
      case 2:
        b.splice(at, 1);
        break;
      case 3:
        b.splice(at, 0, next() & 0xff);
        break;
      default:
        b.length = at;
    }
  }
  return Uint8Array.from(b);
}

function randomBytes(next: () => number): Uint8Array {
  return Uint8Array.from({ length: next() % 64 }, () => next() & 0xff);
}

Deno.test("fuzz: mutated messages and random CBOR never crash the decoders", () => {
  const seed = Number(Deno.env.get("COSE_FUZZ_SEED") ?? (Date.now() & 0x7fffffff));
  const next = rng(seed);
  const seeds = SEALED.vectors.map((v: { cose_sign1_hex: string }) => fromHex(v.cose_sign1_hex));
  let input: Uint8Array = new Uint8Array(0);
  try {
    for (let i = 0; i < 3000; i++) {
      input = i % 3 === 0 ? randomBytes(next) : mutate(seeds[next() % seeds.length]!, next);
      try {
        const v = decodeCbor(input, { tags: [18, 96] });
        assert.equal(toHex(encodeCbor(v)), toHex(input), "accepted input must re-encode equal");
      } catch (e) {
        if (!(e instanceof CborError)) throw e;
      }
      try {
        parseInvocation(input, i % 2 === 0 ? "request" : "response");
      } catch (e) {
        if (!(e instanceof CoseError)) throw e;
      }
    }
  } catch (e) {
    throw new Error(`fuzz failed with COSE_FUZZ_SEED=${seed} on input ${toHex(input)}`, {
      cause: e,
    });
  }
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
