/**
 * `--slot` / `--open` parsing (contract §5) and the passphrase file reader.
 * @module
 */

import assert from "node:assert/strict";
import { InputError } from "../../../lib/core/errors.ts";
import {
  loadSlotMethod,
  loadSlotSpecs,
  parseOpenSpec,
  parseSlotSpec,
  readPassphraseFile,
} from "../../../lib/seal/slot_spec.ts";
import { bech32Encode } from "../../../lib/seal/bech32.ts";
import { CANARY, tempDir, writeFile } from "./helpers.ts";

const YK = bech32Encode("age1yubikey", new Uint8Array(33).fill(2));

function fails(fn: () => unknown, token: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InputError, String(e));
    assert.equal(e.token, token, e.message);
    assert.match(e.message, re);
    assert.ok(!e.message.includes(CANARY.passphrase));
    return true;
  });
}

Deno.test("slot spec: passphrase with default and explicit label", () => {
  assert.deepEqual(parseSlotSpec("passphrase:file=/run/p"), {
    kind: "passphrase",
    file: "/run/p",
    label: "passphrase",
  });
  assert.deepEqual(parseSlotSpec("passphrase:file=/run/p,label=primary"), {
    kind: "passphrase",
    file: "/run/p",
    label: "primary",
  });
  assert.deepEqual(
    parseOpenSpec("passphrase:file=/run/p"),
    parseSlotSpec("passphrase:file=/run/p"),
  );
});

Deno.test("slot spec: the other methods parse with their default labels", () => {
  assert.deepEqual(parseSlotSpec("bip39"), { kind: "bip39", label: "break-glass" });
  assert.deepEqual(parseSlotSpec("bip39:file=/p"), {
    kind: "bip39",
    file: "/p",
    label: "break-glass",
  });
  assert.deepEqual(parseSlotSpec(`age-yubikey:recipient=${YK}`), {
    kind: "age-yubikey",
    recipient: YK,
    label: "age-yubikey",
  });
  assert.deepEqual(parseOpenSpec("age-yubikey"), { kind: "age-yubikey", label: "age-yubikey" });
  assert.deepEqual(parseOpenSpec("age-yubikey:identity=/id"), {
    kind: "age-yubikey",
    identity: "/id",
    label: "age-yubikey",
  });
  assert.deepEqual(parseSlotSpec("tpm"), {
    kind: "tpm",
    pcrs: [0, 2, 4, 7],
    bank: "sha256",
    label: "tpm",
  });
  assert.deepEqual(parseSlotSpec("tpm:pcrs=0,7,bank=sha256,label=host"), {
    kind: "tpm",
    pcrs: [0, 7],
    bank: "sha256",
    label: "host",
  });
});

Deno.test("slot spec: malformed specs are refused", () => {
  const t = "slot_spec_invalid";
  fails(() => parseSlotSpec("passphrase"), t, /--slot: a passphrase slot requires field "file"/);
  fails(() => parseSlotSpec("passphrase:file=/p,file=/q"), t, /duplicate field "file"/);
  fails(
    () => parseSlotSpec("passphrase:file=/p,lable=x"),
    t,
    /unknown field "lable" for a passphrase slot/,
  );
  fails(() => parseSlotSpec("passphrase:file="), t, /field "file" must not be empty/);
  fails(() => parseSlotSpec("passphrase:file=/p,x"), t, /expected key=value/);
  fails(() => parseSlotSpec("yubikey"), t, /--slot: unknown slot type/);
  fails(() => parseSlotSpec(""), t, /unknown slot type/);
  fails(() => parseSlotSpec("tpm:pcrs=0,99"), t, /PCR indices 0-23/);
  fails(() => parseSlotSpec("tpm:pcrs=0,,2"), t, /empty list item/);
  fails(() => parseOpenSpec("bip39"), t, /--open: bip39 requires file=PATH/);
  fails(() => parseSlotSpec("age-yubikey"), t, /an age-yubikey slot requires field "recipient"/);
  fails(
    () => parseSlotSpec(`age-yubikey:recipient=${YK},identity=/i`),
    t,
    /unknown field "identity"/,
  );
  fails(
    () => parseOpenSpec(`age-yubikey:recipient=${YK}`),
    t,
    /unknown field "recipient" for a age-yubikey opener/,
  );
  fails(
    () => parseSlotSpec("age-yubikey:recipient=age1nope"),
    "age_recipient_invalid",
    /--slot: recipient: not a valid age recipient/,
  );
  fails(
    () => parseOpenSpec("passphrase:path=/p"),
    t,
    /--open: a passphrase slot requires field "file"/,
  );
});

Deno.test("slot spec: every method builds; bip39 without a file generates a phrase", async () => {
  const dir = await tempDir();
  const p = writeFile(dir, "p", CANARY.passphrase, 0o644); // mode not checked for passphrase files
  const m = await loadSlotMethod(parseSlotSpec(`passphrase:file=${p}`));
  assert.equal(m.method.method, "passphrase");
  m.method.dispose();
  const loaded = await loadSlotSpecs([
    parseSlotSpec(`passphrase:file=${p},label=a`),
    parseSlotSpec("bip39"),
    parseSlotSpec(`age-yubikey:recipient=${YK}`),
  ]);
  assert.deepEqual(loaded.slots.map((s) => [s.method.method, s.label]), [
    ["passphrase", "a"],
    ["bip39", "break-glass"],
    ["age-yubikey", "age-yubikey"],
  ]);
  assert.equal(loaded.phrases.length, 1);
  assert.equal(new TextDecoder().decode(loaded.phrases[0]!.expose()).split(" ").length, 24);
  loaded.dispose();
  assert.ok(loaded.phrases[0]!.wiped);
  const phrase = writeFile(dir, "phrase", "abandon ".repeat(23) + "art\n");
  const b = await loadSlotMethod(parseOpenSpec(`bip39:file=${phrase}`));
  assert.equal(b.method.method, "bip39");
  assert.equal(b.generatedPhrase, undefined);
  const yk = await loadSlotMethod(parseOpenSpec("age-yubikey"));
  assert.equal(yk.method.method, "age-yubikey");
  // The TPM method is wired (it touches the TPM only when used; see tpm_test.ts).
  const tpm = await loadSlotMethod(parseSlotSpec("tpm:pcrs=7,0"), {
    tpm: { libDir: `${dir}/libs` },
  });
  assert.equal(tpm.method.method, "tpm");
  tpm.method.dispose();
});

Deno.test("slot spec: passphrase bytes are the file minus one LF then one CR", async () => {
  const dir = await tempDir();
  const cases: [string, string][] = [
    ["pw\n", "pw"],
    ["pw\r\n", "pw"],
    ["pw\n\n", "pw\n"],
    ["  pw  ", "  pw  "],
    ["pw\r", "pw"],
  ];
  for (const [content, expected] of cases) {
    const f = writeFile(dir, "p", content);
    assert.equal(new TextDecoder().decode(readPassphraseFile(f, "x").expose()), expected);
  }
  fails(
    () => readPassphraseFile(writeFile(dir, "e", "\r\n"), "unlock-passphrase-file"),
    "passphrase_empty",
    /unlock-passphrase-file .*: is empty/,
  );
  fails(
    () => readPassphraseFile(`${dir}/nope`, "passphrase file"),
    "secret_file_unreadable",
    /no such file/,
  );
});
