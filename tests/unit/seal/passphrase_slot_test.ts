/**
 * The passphrase slot in isolation: wrap/unwrap, AAD binding, cost checks.
 * @module
 */

import assert from "node:assert/strict";
import { concat, u32be } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import type { Slot } from "../../../lib/seal/format.ts";
import { argon2idKdf } from "../../../lib/seal/kdf.ts";
import { SlotOpenFailed, wrapAad } from "../../../lib/seal/slots/types.ts";
import { FAST, passMethod, spyKdf } from "./helpers.ts";
import { webCryptoAesGcmOpen } from "../../helpers/webcrypto.ts";

const HEADER = new TextEncoder().encode('{"format_version":1}');
const KEK = new Uint8Array(32).fill(0x5a);

async function slotFor(pass: string, slotId = 3): Promise<Slot> {
  const m = passMethod(pass);
  const { params, wrap } = await m.create(KEK, { headerBytes: HEADER, slotId, argon2: FAST });
  return {
    slot_id: slotId,
    method: "passphrase",
    label: "passphrase",
    created_unix: 0,
    params,
    wrap,
  };
}

Deno.test("passphrase slot: create then open recovers the KEK", async () => {
  const slot = await slotFor("right");
  assert.ok(slot.params.kind === "passphrase");
  assert.equal(slot.params.salt.length, 16);
  assert.deepEqual(slot.params.argon2, FAST);
  assert.equal(slot.wrap.nonce.length, 12);
  assert.equal(slot.wrap.ciphertext.length, 48);
  assert.deepEqual(await passMethod("right").open(slot, HEADER), KEK);
});

Deno.test("passphrase slot: the wrap is AES-256-GCM under Argon2id(pass, salt), AAD header‖u32be(id)", async () => {
  const slot = await slotFor("right", 0x01020304);
  assert.ok(slot.params.kind === "passphrase");
  const key = await argon2idKdf(new TextEncoder().encode("right"), slot.params.salt, FAST);
  const aad = concat(HEADER, u32be(0x01020304));
  assert.deepEqual(wrapAad(HEADER, 0x01020304), aad);
  assert.deepEqual(await webCryptoAesGcmOpen(key, slot.wrap.nonce, aad, slot.wrap.ciphertext), KEK);
});

Deno.test("passphrase slot: wrong passphrase, other slot id or other header all fail alike", async () => {
  const slot = await slotFor("right");
  const isFail = (e: unknown): boolean =>
    e instanceof SlotOpenFailed && e.message === "slot did not open";
  await assert.rejects(passMethod("wrong").open(slot, HEADER), isFail);
  await assert.rejects(passMethod("right").open({ ...slot, slot_id: 4 }, HEADER), isFail);
  await assert.rejects(passMethod("right").open(slot, new Uint8Array([...HEADER, 0x20])), isFail);
});

Deno.test("passphrase slot: out-of-band costs are refused before the KDF runs", async () => {
  const slot = await slotFor("right");
  assert.ok(slot.params.kind === "passphrase");
  const spy = spyKdf();
  for (
    const argon2 of [
      { m_cost_kib: 2_097_152, t_cost: 3, p_cost: 1 },
      { m_cost_kib: 64, t_cost: 100, p_cost: 1 },
      { m_cost_kib: 64, t_cost: 1, p_cost: 65 },
    ]
  ) {
    const bad: Slot = { ...slot, params: { ...slot.params, argon2 } };
    await assert.rejects(
      passMethod("right", spy.kdf).open(bad, HEADER),
      (e: unknown) => e instanceof InputError && e.token === "bundle_kdf_params",
    );
  }
  await assert.rejects(
    passMethod("right", spy.kdf).create(KEK, {
      headerBytes: HEADER,
      slotId: 0,
      argon2: { m_cost_kib: 4, t_cost: 1, p_cost: 1 },
    }),
    /m_cost_kib 4 is outside/,
  );
  assert.equal(spy.calls(), 0);
});

Deno.test("passphrase slot: a bad nonce length or foreign params are structural errors", async () => {
  const slot = await slotFor("right");
  await assert.rejects(
    passMethod("right").open({ ...slot, wrap: { ...slot.wrap, nonce: new Uint8Array(0) } }, HEADER),
    (e: unknown) => e instanceof InputError && /wrap nonce must be 12 bytes/.test(e.message),
  );
  await assert.rejects(
    passMethod("right").open({ ...slot, params: { kind: "age-yubikey", recipient: "r" } }, HEADER),
    (e: unknown) => e instanceof InputError && /expected passphrase params/.test(e.message),
  );
});

Deno.test("passphrase slot: empty passphrase refused, dispose wipes", () => {
  assert.throws(
    () => passMethod(""),
    (e: unknown) => e instanceof InputError && e.token === "passphrase_empty",
  );
  const m = passMethod("x");
  m.dispose();
  return assert.rejects(m.create(KEK, { headerBytes: HEADER, slotId: 0, argon2: FAST }), TypeError);
});
