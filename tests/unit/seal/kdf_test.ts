/**
 * Argon2id costs band, production profile and known-answer vectors.
 * @module
 */

import assert from "node:assert/strict";
import { toHex, utf8 } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import {
  ARGON2_BAND,
  argon2idKdf,
  checkArgon2Params,
  PRODUCTION_ARGON2,
  SALT_LEN,
} from "../../../lib/seal/kdf.ts";

Deno.test("kdf: production profile is m=65536 KiB, t=3, p=1 with a 16-byte salt", () => {
  assert.deepEqual({ ...PRODUCTION_ARGON2 }, { m_cost_kib: 65536, t_cost: 3, p_cost: 1 });
  assert.equal(SALT_LEN, 16);
  assert.deepEqual(ARGON2_BAND.m_cost_kib, [8, 1_048_576]);
  assert.deepEqual(ARGON2_BAND.t_cost, [1, 64]);
  assert.deepEqual(ARGON2_BAND.p_cost, [1, 64]);
});

Deno.test("kdf: the accepted band is inclusive and everything outside is refused", () => {
  for (
    const ok of [
      { m_cost_kib: 8, t_cost: 1, p_cost: 1 },
      { m_cost_kib: 1_048_576, t_cost: 64, p_cost: 64 },
      PRODUCTION_ARGON2,
    ]
  ) checkArgon2Params(ok);
  const bad: [Record<string, number>, RegExp][] = [
    [{ m_cost_kib: 7, t_cost: 1, p_cost: 1 }, /m_cost_kib 7 is outside 8\.\.=1048576/],
    [{ m_cost_kib: 1_048_577, t_cost: 1, p_cost: 1 }, /m_cost_kib 1048577 is outside/],
    [{ m_cost_kib: 64, t_cost: 0, p_cost: 1 }, /t_cost 0 is outside 1\.\.=64/],
    [{ m_cost_kib: 64, t_cost: 65, p_cost: 1 }, /t_cost 65/],
    [{ m_cost_kib: 64, t_cost: 1, p_cost: 0 }, /p_cost 0/],
    [{ m_cost_kib: 1024, t_cost: 1, p_cost: 65 }, /p_cost 65/],
    [{ m_cost_kib: 64, t_cost: 1.5, p_cost: 1 }, /t_cost 1.5/],
    [{ m_cost_kib: 64, t_cost: 1, p_cost: 9 }, /below 8 × p_cost \(72\)/],
  ];
  for (const [p, re] of bad) {
    assert.throws(
      () => checkArgon2Params(p as never),
      (e: unknown) =>
        e instanceof InputError && e.token === "bundle_kdf_params" && re.test(e.message),
    );
  }
});

Deno.test("kdf: out-of-band costs are refused before any allocation", async () => {
  // 4 GiB would be allocated if the band were not checked first.
  await assert.rejects(
    argon2idKdf(utf8("pw"), new Uint8Array(16), { m_cost_kib: 4_194_304, t_cost: 1, p_cost: 1 }),
    (e: unknown) => e instanceof InputError && e.token === "bundle_kdf_params",
  );
  await assert.rejects(
    argon2idKdf(utf8("pw"), new Uint8Array(4), { m_cost_kib: 64, t_cost: 1, p_cost: 1 }),
    /salt must be at least 8 bytes/,
  );
});

Deno.test("kdf: Argon2id v0x13 matches the reference known-answer vector", async () => {
  // phc-winner-argon2 test.c: Argon2id, t=2, m=2^16, p=1, "password", "somesalt".
  const out = await argon2idKdf(utf8("password"), utf8("somesalt"), {
    m_cost_kib: 65536,
    t_cost: 2,
    p_cost: 1,
  });
  assert.equal(toHex(out), "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7");
});

Deno.test("kdf: output is 32 bytes, deterministic, and depends on every input", async () => {
  const p = { m_cost_kib: 64, t_cost: 1, p_cost: 1 };
  const salt = new Uint8Array(16).fill(9);
  const a = await argon2idKdf(utf8("pw"), salt, p);
  assert.equal(a.length, 32);
  assert.deepEqual(await argon2idKdf(utf8("pw"), salt, p), a);
  assert.notDeepEqual(await argon2idKdf(utf8("pw2"), salt, p), a);
  assert.notDeepEqual(await argon2idKdf(utf8("pw"), new Uint8Array(16).fill(8), p), a);
  assert.notDeepEqual(await argon2idKdf(utf8("pw"), salt, { ...p, t_cost: 2 }), a);
  assert.notDeepEqual(await argon2idKdf(utf8("pw"), salt, { ...p, m_cost_kib: 72 }), a);
  assert.notDeepEqual(await argon2idKdf(utf8("pw"), salt, { ...p, m_cost_kib: 64, p_cost: 2 }), a);
});
