/**
 * The BIP39 slot: 24-word English phrases ↔ 256-bit entropy (checked
 * against @scure/bip39), phrase-file reading, and the Argon2id slot over the
 * entropy (not the phrase, not the BIP39 seed).
 * @module
 */

import assert from "node:assert/strict";
import { entropyToMnemonic, mnemonicToEntropy } from "@scure/bip39";
import { wordlist } from "@scure/bip39/wordlists/english.js";
import { utf8 } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import {
  entropyToPhrase,
  generatePhrase,
  phraseToEntropy,
} from "../../../lib/seal/bip39_phrase.ts";
import { createBundle, openBundle } from "../../../lib/seal/bundle.ts";
import { Bip39Method, readPhraseFile } from "../../../lib/seal/slots/bip39.ts";
import { errorOf, exists, FAST, passMethod, spyKdf, tempDir, writeFile } from "./helpers.ts";

const randomBytes = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

const dec = new TextDecoder();

function invalid(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InputError && e.token === "bip39_phrase_invalid", String(e));
    assert.match(e.message, re);
    return true;
  });
}

Deno.test("bip39: phrases and entropy agree with @scure/bip39", () => {
  for (let i = 0; i < 20; i++) {
    const entropy = randomBytes(32);
    const phrase = entropyToPhrase(entropy);
    assert.equal(dec.decode(phrase.expose()), entropyToMnemonic(entropy, wordlist));
    assert.deepEqual(phraseToEntropy(phrase.expose(), "p").expose(), entropy);
  }
  const { entropy, phrase } = generatePhrase();
  const text = dec.decode(phrase.expose());
  assert.equal(text.split(" ").length, 24);
  assert.deepEqual(mnemonicToEntropy(text, wordlist), entropy.expose());
  // The all-zero vector from the BIP39 test suite.
  assert.equal(
    dec.decode(entropyToPhrase(new Uint8Array(32)).expose()),
    `${"abandon ".repeat(23)}art`,
  );
});

Deno.test("bip39: whitespace is trimmed and collapsed, ASCII case is folded", () => {
  const entropy = randomBytes(32);
  const words = dec.decode(entropyToPhrase(entropy).expose()).split(" ");
  const messy = `\n  ${words.slice(0, 12).join("\t")}\r\n${
    words.slice(12).join("   ").toUpperCase()
  }\n\n`;
  assert.deepEqual(phraseToEntropy(utf8(messy), "p").expose(), entropy);
});

Deno.test("bip39: wrong counts, unknown words and bad checksums are refused by position", () => {
  const words = dec.decode(entropyToPhrase(randomBytes(32)).expose()).split(" ");
  invalid(
    () => phraseToEntropy(utf8(words.slice(0, 12).join(" ")), "f"),
    /^f: expected 24 words, found 12$/,
  );
  invalid(
    () => phraseToEntropy(utf8([...words, "zoo"].join(" ")), "f"),
    /expected 24 words, found 25/,
  );
  invalid(() => phraseToEntropy(utf8(""), "f"), /found 0/);
  const canary = [...words];
  canary[4] = "canaryword";
  invalid(
    () => phraseToEntropy(utf8(canary.join(" ")), "f"),
    /^f: word 5 is not in the BIP39 English list$/,
  );
  const long = [...words];
  long[0] = "a".repeat(40);
  invalid(() => phraseToEntropy(utf8(long.join(" ")), "f"), /word 1 is not in the BIP39/);
  // Swapping two different words breaks the checksum (almost surely; retry otherwise).
  let swapped = [...words];
  for (let i = 1; i < 24; i++) {
    swapped = [...words];
    [swapped[0], swapped[i]] = [swapped[i]!, swapped[0]!];
    if (swapped[0] === words[0]) continue;
    try {
      phraseToEntropy(utf8(swapped.join(" ")), "f");
    } catch (err) {
      assert.ok(err instanceof InputError);
      assert.match(err.message, /^f: checksum mismatch/);
      assert.ok(!err.message.includes(words[0]!));
      return;
    }
  }
  assert.fail("no swap broke the checksum");
});

Deno.test("bip39 slot: Argon2id runs over the 32-byte entropy; a wrong phrase does not open", async () => {
  const { entropy, phrase } = generatePhrase();
  const expected = entropy.expose().slice();
  const spy = spyKdf();
  const seen: Uint8Array[] = [];
  const kdf = (s: Uint8Array, salt: Uint8Array, p: typeof FAST) => {
    seen.push(s.slice());
    return spy.kdf(s, salt, p);
  };
  const file = await createBundle({
    slots: [
      { method: passMethod("pw"), label: "passphrase" },
      { method: new Bip39Method(entropy, { kdf }), label: "break-glass" },
    ],
    backends: new Map(),
    argon2: FAST,
  });
  assert.deepEqual(seen, [expected]);
  const dir = await tempDir();
  const path = writeFile(dir, "phrase.txt", concatNl(phrase.expose()));
  const opened = await openBundle(file, "/b", [new Bip39Method(readPhraseFile(path, "phrase"))]);
  assert.equal(opened.slotId, 1);
  opened.wipe();
  const other = writeFile(dir, "other.txt", generatePhrase().phrase.expose());
  await assert.rejects(
    openBundle(file, "/b", [new Bip39Method(readPhraseFile(other, "phrase"))]),
    /no configured unlock slot opened it \(tried: bip39\)/,
  );
  assert.ok(exists(path) && exists(other), "reading never wipes the file");
});

Deno.test("bip39 phrase files must be 0600 and errors never quote the phrase", async () => {
  const dir = await tempDir();
  const { phrase } = generatePhrase();
  const text = dec.decode(phrase.expose());
  const loose = writeFile(dir, "loose.txt", text, 0o644);
  const e = await errorOf(() => readPhraseFile(loose, "bip39-phrase-file"));
  assert.ok(e instanceof InputError && e.token === "secret_file_mode");
  assert.match(e.message, /^bip39-phrase-file .*loose\.txt: mode is 0644, must be 0600$/);
  const bad = writeFile(dir, "bad.txt", text.split(" ").slice(1).join(" "));
  const b = await errorOf(() => readPhraseFile(bad, "bip39-phrase-file"));
  assert.match(b.message, /^bip39-phrase-file .*bad\.txt: expected 24 words, found 23$/);
  // The exact match above already proves no word of the phrase is quoted.
});

function concatNl(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  out[b.length] = 0x0a;
  return out;
}
