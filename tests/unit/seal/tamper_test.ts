/**
 * Every single-byte corruption of a bundle, exhaustively: it either fails
 * closed with an `InputError`, or it lies inside the only bytes the
 * upstream format leaves unauthenticated (a slot's `label` and
 * `created_unix`, operator metadata), and then the bundle still opens to the
 * very same credentials. Every truncation fails closed.
 * @module
 */

import assert from "node:assert/strict";
import { fromUtf8, utf8 } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { createBundle, openBundle } from "../../../lib/seal/bundle.ts";
import { CANARY, FAST, passMethod } from "./helpers.ts";

const FILE = "/b.sealed";

async function small(): Promise<Uint8Array> {
  return await createBundle({
    slots: [{ method: passMethod(CANARY.passphrase), label: "pp" }],
    backends: new Map([["bao", { type: "VaultToken", token: new SecretBytes(utf8("t")) }]]),
    argon2: FAST,
    now: () => 1_750_000_000,
  });
}

/** Byte ranges of the slot's `label` value and its `created_unix` digits. */
function unauthenticated(bytes: Uint8Array): [number, number][] {
  const text = fromUtf8(bytes);
  const slots = text.indexOf(`"slots":[`);
  const range = (key: string, re: RegExp): [number, number] => {
    const start = text.indexOf(key, slots) + key.length;
    return [start, start + re.exec(text.slice(start))![0].length];
  };
  return [range(`"label":"`, /^[^"]*/), range(`"created_unix":`, /^\d+/)];
}

Deno.test("tamper: every single-byte flip fails closed or only touches a slot label/created_unix", async () => {
  const good = await small();
  const meta = unauthenticated(good);
  assert.equal(meta.length, 2);
  let failed = 0;
  let metaOpened = 0;
  for (let i = 0; i < good.length; i++) {
    const bad = good.slice();
    bad[i]! ^= 0x01;
    try {
      const opened = await openBundle(bad, FILE, [passMethod(CANARY.passphrase)]);
      const inMeta = meta.some(([s, e]) => i >= s && i < e);
      assert.ok(
        inMeta,
        `flipping byte ${i} (${JSON.stringify(String.fromCharCode(good[i]!))}) still opened`,
      );
      const cred = opened.backends.get("bao");
      assert.ok(cred?.type === "VaultToken" && fromUtf8(cred.token.expose()) === "t");
      opened.wipe();
      metaOpened++;
    } catch (e) {
      assert.ok(e instanceof InputError, `byte ${i}: ${String(e)}`);
      assert.ok(
        ["bundle_corrupt", "bundle_unsupported", "bundle_locked"].includes(e.token),
        `byte ${i}: ${e.token}`,
      );
      assert.ok(!e.message.includes(CANARY.passphrase));
      failed++;
    }
  }
  assert.equal(failed + metaOpened, good.length);
  assert.ok(metaOpened <= meta.reduce((n, [s, e]) => n + e - s, 0));
});

Deno.test("tamper: every truncation fails closed", async () => {
  const good = await small();
  for (let len = 0; len < good.length; len++) {
    await assert.rejects(
      openBundle(good.slice(0, len), FILE, [passMethod(CANARY.passphrase)]),
      (e: unknown) => {
        assert.ok(
          e instanceof InputError && e.token === "bundle_corrupt",
          `length ${len}: ${String(e)}`,
        );
        return true;
      },
    );
  }
});
