/**
 * The `bundle create --from` plan parser: tables map onto the `--slot` and
 * `--backend` grammar (lists for pcrs, integers as text), and every error
 * names the file and the table without echoing a value.
 */

import assert from "node:assert/strict";
import { InputError } from "../../../lib/core/errors.ts";
import { parseBundlePlan } from "../../../lib/seal/bundle_toml.ts";
import { parseSlotSpec } from "../../../lib/seal/slot_spec.ts";

Deno.test("bundle plan: slots parse like --slot, pcrs as a list or a string", () => {
  const plan = parseBundlePlan(
    `[[slot]]
type = "tpm"
pcrs = [7, 0, 2]
bank = "sha256"

[[slot]]
type = "tpm"
pcrs = "0,2,7"

[[slot]]
type = "bip39"
file = "/run/phrase"

[[backend]]
id = "aws"
type = "aws-kms"
region = "eu-west-1"
`,
    "plan.toml",
  );
  assert.deepEqual(plan.slots[0], parseSlotSpec("tpm:pcrs=0,2,7,bank=sha256"));
  assert.deepEqual(plan.slots[1], plan.slots[0]);
  assert.deepEqual(plan.slots[2], parseSlotSpec("bip39:file=/run/phrase"));
  assert.equal(plan.backends.length, 1);
  assert.equal(plan.backends[0]!.take("region"), "eu-west-1");
});

Deno.test("bundle plan: errors name the file and the table, never a value", () => {
  const cases: [string, RegExp][] = [
    [
      '[[slot]]\ntype = "tpm"\npcrs = [0, "x"]\n',
      /^p\.toml: slot\[0\]: field "pcrs" must be a string$/,
    ],
    [
      '[[slot]]\ntype = "passphrase"\nfile = ""\n',
      /^p\.toml: slot\[0\]: field "file" must not be empty$/,
    ],
    [
      '[[slot]]\ntype = "passphrase"\nFile = "x"\n',
      /^p\.toml: slot\[0\]: field names use lowercase/,
    ],
    [
      '[[slot]]\ntype = "passphrase"\n',
      /^p\.toml: slot\[0\]: a passphrase slot requires field "file"$/,
    ],
    [
      '[[slot]]\ntype = "passphrase"\nfile = "f"\n[[backend]]\nid = 3\ntype = [1]\n',
      /^p\.toml: backend\[0\]: field "type" must be a string$/,
    ],
    ['[slot]\ntype = "passphrase"\n', /^p\.toml: slot: must be an array of tables/],
    ['[[slot]]\ntype = "passphrase"\nfile = "hunter2\n', /^p\.toml: not valid TOML at line 3/],
  ];
  for (const [text, want] of cases) {
    assert.throws(
      () => parseBundlePlan(text, "p.toml"),
      (e: unknown) => e instanceof InputError && want.test(e.message) && !/hunter2/.test(e.message),
      text,
    );
  }
});
