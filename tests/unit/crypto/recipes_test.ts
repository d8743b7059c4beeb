import assert from "node:assert/strict";
import { identityToRecipient } from "age-encryption";
import { generateValue } from "../../../lib/crypto/recipes.ts";
import { BasilError } from "../../../lib/core/errors.ts";
import { fromBase64, fromUtf8, toBase64 } from "../../../lib/core/encoding.ts";
import type { GenerateRecipe } from "../../../lib/catalog/schema.ts";

async function text(recipe: GenerateRecipe): Promise<string> {
  const v = await generateValue(recipe);
  try {
    return fromUtf8(v.expose());
  } finally {
    v.wipe();
  }
}

Deno.test("ascii-printable: length and 94-character alphabet", async () => {
  for (const bytes of [1, 2, 32, 1000, 65536]) {
    const v = await generateValue({ format: "ascii-printable", bytes });
    assert.equal(v.length, bytes);
    for (const b of v.expose()) assert.ok(b >= 0x21 && b <= 0x7e, `byte ${b} out of range`);
    v.wipe();
  }
});

Deno.test("ascii-printable: uses all 94 characters, roughly uniformly", async () => {
  const counts = new Array<number>(128).fill(0);
  const samples = 200;
  const perSample = 1000;
  for (let s = 0; s < samples; s++) {
    const v = await generateValue({ format: "ascii-printable", bytes: perSample });
    for (const b of v.expose()) counts[b]! += 1;
    v.wipe();
  }
  const expected = (samples * perSample) / 94;
  let chi2 = 0;
  for (let c = 0x21; c <= 0x7e; c++) {
    assert.ok(counts[c]! > 0, `character ${String.fromCharCode(c)} never drawn`);
    chi2 += (counts[c]! - expected) ** 2 / expected;
  }
  // 93 degrees of freedom: mean 93, sd ~13.6; 200 is a ~1e-9 false alarm.
  assert.ok(chi2 < 200, `chi-square ${chi2.toFixed(1)} too large`);
});

Deno.test("base64: padded standard base64 of `bytes` random bytes", async () => {
  for (const bytes of [1, 2, 3, 4, 5, 32, 65536]) {
    const t = await text({ format: "base64", bytes });
    assert.equal(t.length, Math.ceil(bytes / 3) * 4);
    assert.match(t, /^[A-Za-z0-9+/]*={0,2}$/);
    const raw = fromBase64(t);
    assert.equal(raw.length, bytes);
    assert.equal(toBase64(raw), t);
  }
});

Deno.test("hex: lowercase, 2*bytes long", async () => {
  for (const bytes of [1, 16, 65536]) {
    const t = await text({ format: "hex", bytes });
    assert.equal(t.length, 2 * bytes);
    assert.match(t, /^[0-9a-f]+$/);
  }
});

Deno.test("values differ between calls", async () => {
  for (const format of ["ascii-printable", "base64", "hex"] as const) {
    assert.notEqual(await text({ format, bytes: 32 }), await text({ format, bytes: 32 }));
  }
});

Deno.test("age-x25519: a valid age identity", async () => {
  const id = await text({ format: "age-x25519" });
  assert.match(id, /^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
  assert.match(await identityToRecipient(id), /^age1[0-9a-z]{58}$/);
  assert.notEqual(id, await text({ format: "age-x25519" }));
});

Deno.test("TLS recipes are unsupported", async () => {
  const recipes: GenerateRecipe[] = [
    { format: "self-signed-tls", commonName: "example" },
    { format: "self-signed-tls-pair-of", pairOf: "a.b" },
  ];
  for (const recipe of recipes) {
    await assert.rejects(() => generateValue(recipe), (e: unknown) => {
      assert.ok(e instanceof BasilError);
      assert.equal(e.code, "UNSUPPORTED");
      assert.equal(e.message, `generate format ${recipe.format} is not supported by this build`);
      return true;
    });
  }
});

Deno.test("out-of-range bytes are refused", async () => {
  for (const bytes of [0, -1, 1.5, 65537, Number.NaN]) {
    await assert.rejects(
      () => generateValue({ format: "hex", bytes }),
      (e: unknown) => e instanceof BasilError && e.code === "INVALID_ARGUMENT",
    );
  }
});
