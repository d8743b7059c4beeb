/**
 * The `<bundle>.epoch` sidecar.
 * @module
 */

import assert from "node:assert/strict";
import { InputError } from "../../../lib/core/errors.ts";
import { fileMode } from "../../../lib/core/fs.ts";
import {
  advanceEpoch,
  checkEpoch,
  epochSidecarPath,
  readEpochSidecar,
} from "../../../lib/seal/epoch.ts";
import { tempDir, writeFile } from "./helpers.ts";

Deno.test("epoch: a missing sidecar is fine and advance creates it as '<n>\\n' mode 0600", async () => {
  const bundle = `${await tempDir()}/b.sealed`;
  assert.equal(epochSidecarPath(bundle), `${bundle}.epoch`);
  assert.equal(readEpochSidecar(bundle), undefined);
  checkEpoch(bundle, 1);
  advanceEpoch(bundle, 1);
  assert.equal(Deno.readTextFileSync(`${bundle}.epoch`), "1\n");
  assert.equal(fileMode(`${bundle}.epoch`), 0o600);
});

Deno.test("epoch: advance raises but never lowers the sidecar", async () => {
  const bundle = `${await tempDir()}/b.sealed`;
  advanceEpoch(bundle, 3);
  advanceEpoch(bundle, 2);
  assert.equal(readEpochSidecar(bundle), 3);
  advanceEpoch(bundle, 5);
  assert.equal(Deno.readTextFileSync(`${bundle}.epoch`), "5\n");
  checkEpoch(bundle, 5);
  checkEpoch(bundle, 6);
});

Deno.test("epoch: an older bundle is refused with advice", async () => {
  const dir = await tempDir();
  const bundle = `${dir}/b.sealed`;
  writeFile(dir, "b.sealed.epoch", "2\n");
  assert.throws(() => checkEpoch(bundle, 1), (e: unknown) => {
    assert.ok(e instanceof InputError);
    assert.equal(e.token, "bundle_stale_epoch");
    assert.equal(
      e.message,
      `bundle ${bundle} has epoch 1 but ${bundle}.epoch records 2: this looks like an older ` +
        `bundle restored over a newer one; use the current bundle, or delete ${bundle}.epoch ` +
        `only if you deliberately rolled back`,
    );
    return true;
  });
});

Deno.test("epoch: surrounding whitespace is tolerated, anything else is a clear error", async () => {
  const dir = await tempDir();
  const bundle = `${dir}/b.sealed`;
  writeFile(dir, "b.sealed.epoch", " 4 \r\n");
  assert.equal(readEpochSidecar(bundle), 4);
  for (const bad of ["", "x\n", "-1\n", "1.5\n", "1 2\n", "99999999999999999999\n", "\u00ff"]) {
    writeFile(dir, "b.sealed.epoch", bad);
    assert.throws(() => checkEpoch(bundle, 1), (e: unknown) => {
      assert.ok(e instanceof InputError && e.token === "bundle_epoch_sidecar");
      assert.match(e.message, /epoch sidecar .* is corrupt \(expected a decimal epoch\)/);
      return true;
    });
  }
  Deno.removeSync(`${dir}/b.sealed.epoch`);
  Deno.mkdirSync(`${dir}/b.sealed.epoch`);
  assert.throws(() => readEpochSidecar(bundle), (e: unknown) => e instanceof InputError);
});
