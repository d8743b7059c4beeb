/**
 * Editing a bundle without a reseal: add-slot (same KEK, payload bytes
 * untouched, id max+1), remove-slot (never the last, never leaving the
 * operator without a slot they opened), and payload edits (same header).
 * @module
 */

import assert from "node:assert/strict";
import { fromUtf8, utf8 } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { generatePhrase } from "../../../lib/seal/bip39_phrase.ts";
import { createBundle, openBundle } from "../../../lib/seal/bundle.ts";
import type { BackendCred } from "../../../lib/seal/creds.ts";
import { addSlot, editPayload, removeSlot } from "../../../lib/seal/edit.ts";
import { decodeBundle } from "../../../lib/seal/format.ts";
import { Bip39Method } from "../../../lib/seal/slots/bip39.ts";
import { CANARY, errorOf, FAST, passMethod } from "./helpers.ts";

const FILE = "/b.sealed";

async function twoSlots(): Promise<Uint8Array> {
  return await createBundle({
    slots: [
      { method: passMethod("one"), label: "one" },
      { method: passMethod("two"), label: "two" },
    ],
    backends: new Map<string, BackendCred>([
      ["bao", { type: "VaultToken", token: new SecretBytes(utf8(CANARY.token)) }],
    ]),
    argon2: FAST,
  });
}

Deno.test("add-slot: wraps the same KEK as slot max+1 and leaves header and payload as they were", async () => {
  const before = decodeBundle(await twoSlots(), FILE);
  const { entropy } = generatePhrase();
  const keep = entropy.expose().slice();
  const { bytes, slotId } = await addSlot(before, FILE, [passMethod("two")], {
    method: new Bip39Method(entropy),
    label: "break-glass",
  }, { argon2: FAST, now: () => 42 });
  assert.equal(slotId, 2);
  const after = decodeBundle(bytes, FILE);
  assert.deepEqual(after.headerBytes, before.headerBytes);
  assert.deepEqual(after.payload, before.payload);
  assert.deepEqual(after.slots.slice(0, 2), before.slots);
  assert.deepEqual(
    {
      id: after.slots[2]!.slot_id,
      m: after.slots[2]!.method,
      l: after.slots[2]!.label,
      t: after.slots[2]!.created_unix,
    },
    { id: 2, m: "bip39", l: "break-glass", t: 42 },
  );
  const opened = await openBundle(after, FILE, [new Bip39Method(new SecretBytes(keep))]);
  assert.equal(opened.slotId, 2);
  opened.wipe();
  // After removing slot 1, the next id is still max+1 (3), never a reused id.
  const removed = decodeBundle(await removeSlot(after, FILE, [passMethod("one")], 1), FILE);
  const again = await addSlot(removed, FILE, [passMethod("one")], {
    method: passMethod("three"),
    label: "3",
  }, {
    argon2: FAST,
  });
  assert.equal(again.slotId, 3);
  // A wrong opener is refused before anything is created.
  const e = await errorOf(() =>
    addSlot(before, FILE, [passMethod("nope")], { method: passMethod("x"), label: "x" }, {
      argon2: FAST,
    })
  );
  assert.ok(e instanceof InputError && e.token === "bundle_locked");
});

Deno.test("remove-slot: never the last slot, and only with an opener for a slot that stays", async () => {
  const b = decodeBundle(await twoSlots(), FILE);
  const self = await errorOf(() => removeSlot(b, FILE, [passMethod("one")], 0));
  assert.ok(self instanceof InputError && self.token === "bundle_locked");
  assert.match(
    self.message,
    /remove-slot needs an --open method for a slot that stays \(slot 0 itself does not count\)/,
  );
  const bytes = await removeSlot(b, FILE, [passMethod("two"), passMethod("one")], 0);
  const one = decodeBundle(bytes, FILE);
  assert.deepEqual(one.slots.map((s) => s.slot_id), [1]);
  assert.deepEqual(one.headerBytes, b.headerBytes);
  assert.deepEqual(one.payload, b.payload);
  await assert.rejects(
    openBundle(one, FILE, [passMethod("one")]),
    /no configured unlock slot opened it/,
  );
  const last = await errorOf(() => removeSlot(one, FILE, [passMethod("two")], 1));
  assert.ok(last instanceof InputError && last.token === "bundle_last_slot");
  assert.match(
    last.message,
    /slot 1 is the last slot and cannot be removed; add another slot first/,
  );
  const unknown = await errorOf(() => removeSlot(b, FILE, [passMethod("one")], 9));
  assert.ok(unknown instanceof InputError && unknown.token === "bundle_slot_unknown");
  assert.match(unknown.message, /has no slot 9 \(slots: 0, 1\)/);
});

Deno.test("payload edits re-encrypt under the same header; slots and deposits are kept", async () => {
  const b = decodeBundle(await twoSlots(), FILE);
  const { bytes, result } = await editPayload(b, FILE, [passMethod("one")], (p) => {
    p.backends.set("db", {
      type: "DbKeystoreDek",
      dek: new SecretBytes(new Uint8Array(32).fill(1)),
    });
    return p.backends.size;
  });
  assert.equal(result, 2);
  const after = decodeBundle(bytes, FILE);
  assert.deepEqual(after.headerBytes, b.headerBytes);
  assert.deepEqual(after.slots, b.slots);
  assert.notDeepEqual(after.payload.nonce, b.payload.nonce);
  const opened = await openBundle(after, FILE, [passMethod("two")]);
  assert.deepEqual([...opened.backends.keys()].sort(), ["bao", "db"]);
  opened.wipe();
  assert.ok(!fromUtf8(bytes).includes(CANARY.token));
});
