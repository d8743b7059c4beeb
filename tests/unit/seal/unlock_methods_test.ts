/**
 * Agent unlock with every configured method: the BIP39 phrase file is
 * always wiped once read; any one slot opens; the age-yubikey plugin path
 * (the agent cannot answer a PIN request); deposits are overlaid and bad
 * ones only logged.
 * @module
 */

import assert from "node:assert/strict";
import { fromUtf8 } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { generatePhrase } from "../../../lib/seal/bip39_phrase.ts";
import { createBundle } from "../../../lib/seal/bundle.ts";
import { type BackendCred, wipeCreds } from "../../../lib/seal/creds.ts";
import { encodeBundle } from "../../../lib/seal/format.ts";
import { AgeMethod, parseAgeRecipient } from "../../../lib/seal/slots/age.ts";
import { Bip39Method } from "../../../lib/seal/slots/bip39.ts";
import { unlockBundle, type UnlockSettings } from "../../../lib/seal/unlock.ts";
import { record, token, withDeposits, world } from "./deposit_helpers.ts";
import { fakeLauncher, fakeRecipient, newFakeYubikey } from "./fake_age_plugin.ts";
import {
  CANARY,
  errorOf,
  exists,
  FAST,
  passMethod,
  RecordingLogger,
  tempDir,
  writeFile,
} from "./helpers.ts";

const NONE: UnlockSettings = {
  passphraseNoWipe: false,
  ageYubikey: false,
  unlockTpm: false,
  strictBundlePerms: true,
};

async function bip39Bundle(): Promise<{ dir: string; bundle: string; phrase: Uint8Array }> {
  const { entropy, phrase } = generatePhrase();
  const file = await createBundle({
    slots: [
      { method: passMethod(CANARY.passphrase), label: "passphrase" },
      { method: new Bip39Method(entropy), label: "break-glass" },
    ],
    backends: new Map<string, BackendCred>([["bao", token(CANARY.token)]]),
    argon2: FAST,
  });
  const dir = await tempDir();
  return { dir, bundle: writeFile(dir, "b.sealed", file), phrase: phrase.expose().slice() };
}

Deno.test("unlock: a BIP39 phrase file opens its slot and is always wiped", async () => {
  const b = await bip39Bundle();
  const phraseFile = writeFile(b.dir, "phrase", b.phrase);
  const logger = new RecordingLogger();
  const creds = await unlockBundle({
    bundlePath: b.bundle,
    unlock: { ...NONE, bip39PhraseFile: phraseFile },
    logger,
  });
  assert.equal(fromUtf8((creds.get("bao") as { token: SecretBytes }).token.expose()), CANARY.token);
  wipeCreds(creds);
  assert.ok(!exists(phraseFile), "wiped after a successful read");
  assert.ok(
    logger.lines.some((l) => l.message === "unlock slot opened" && l.fields.method === "bip39"),
  );
  // A valid but wrong phrase: locked, and the file is still wiped.
  const wrong = writeFile(b.dir, "wrong", generatePhrase().phrase.expose());
  const e = await errorOf(() =>
    unlockBundle({ bundlePath: b.bundle, unlock: { ...NONE, bip39PhraseFile: wrong }, logger })
  );
  assert.ok(e instanceof InputError && e.token === "bundle_locked");
  assert.match(e.message, /no configured unlock slot opened it \(tried: bip39\)/);
  assert.ok(!exists(wrong));
  // An invalid phrase (bad word): refused, and wiped too (it was read).
  const words = fromUtf8(b.phrase).split(" ");
  words[3] = "notaword";
  const invalid = writeFile(b.dir, "invalid", words.join(" "));
  const i = await errorOf(() =>
    unlockBundle({ bundlePath: b.bundle, unlock: { ...NONE, bip39PhraseFile: invalid }, logger })
  );
  assert.ok(i instanceof InputError && i.token === "bip39_phrase_invalid");
  assert.match(i.message, /^bip39-phrase-file .*invalid: word 4 is not in the BIP39 English list$/);
  assert.ok(!exists(invalid));
  // A 0644 phrase file is refused unread, and left in place.
  const loose = writeFile(b.dir, "loose", b.phrase, 0o644);
  const l = await errorOf(() =>
    unlockBundle({ bundlePath: b.bundle, unlock: { ...NONE, bip39PhraseFile: loose }, logger })
  );
  assert.ok(l instanceof InputError && l.token === "secret_file_mode");
  assert.ok(exists(loose));
  // Single BIP39 words are ordinary English ("slot", "open"): look for any run of
  // three consecutive phrase words, and the phrase itself.
  const all = fromUtf8(b.phrase).split(" ");
  const log = logger.text();
  assert.ok(!log.includes(all.join(" ")));
  for (let k = 0; k + 3 <= all.length; k++) {
    assert.ok(
      !log.includes(all.slice(k, k + 3).join(" ")),
      `phrase words ${k + 1}-${k + 3} in the log`,
    );
  }
});

Deno.test("unlock: with several methods configured, any one slot opens the bundle", async () => {
  const b = await bip39Bundle();
  const phraseFile = writeFile(b.dir, "phrase", b.phrase);
  const wrongPass = writeFile(b.dir, "pass", "wrong-passphrase");
  const creds = await unlockBundle({
    bundlePath: b.bundle,
    unlock: {
      ...NONE,
      passphraseFile: wrongPass,
      passphraseNoWipe: true,
      bip39PhraseFile: phraseFile,
    },
    logger: new RecordingLogger(),
  });
  assert.ok(creds.has("bao"));
  wipeCreds(creds);
  assert.ok(exists(wrongPass) && !exists(phraseFile));
});

Deno.test("unlock: age-yubikey uses the plugin's default identity; a PIN request fails closed", async () => {
  const tokenKey = newFakeYubikey();
  const launcher = fakeLauncher(tokenKey);
  const file = await createBundle({
    slots: [{
      method: new AgeMethod({
        recipient: parseAgeRecipient(fakeRecipient(tokenKey)),
        plugin: { launcher },
      }),
      label: "yk",
    }],
    backends: new Map<string, BackendCred>([["bao", token(CANARY.token)]]),
    argon2: FAST,
  });
  const dir = await tempDir();
  const bundle = writeFile(dir, "b.sealed", file);
  const logger = new RecordingLogger();
  const creds = await unlockBundle({
    bundlePath: bundle,
    unlock: { ...NONE, ageYubikey: true },
    logger,
    agePlugin: { launcher },
  });
  assert.ok(creds.has("bao"));
  wipeCreds(creds);
  assert.ok(
    logger.lines.some((l) =>
      l.message === "age plugin message" && l.fields.message === "touch your fake YubiKey"
    ),
  );
  const pinned = fakeLauncher({ ...tokenKey, pin: "123456" });
  const e = await errorOf(() =>
    unlockBundle({
      bundlePath: bundle,
      unlock: { ...NONE, ageYubikey: true },
      logger,
      agePlugin: { launcher: pinned },
    })
  );
  assert.ok(e instanceof InputError && e.token === "bundle_locked", String(e));
  assert.match(
    e.message,
    /slot 0: age-plugin-yubikey could not unwrap the slot: wrong PIN or no PIN given/,
  );
  assert.ok(
    logger.lines.some((l) =>
      l.message.startsWith("age plugin asked for a PIN; the agent cannot prompt")
    ),
  );
});

Deno.test("unlock: the effective deposit overlays its backend; bad records are logged, never fatal", async () => {
  const w = await world();
  const dir = await tempDir();
  const bundle = writeFile(
    dir,
    "b.sealed",
    encodeBundle(withDeposits(w, [
      record(w, w.alice, "bao", 1, token("rotated-1")),
      record(w, w.alice, "bao", 2, token("rotated-2")),
      record(w, w.bob, "gcp1", 1, token("not-allowed")),
      record(w, w.alice, "gcp1", 1, token("gcp"), { epoch: 9 }),
    ])),
  );
  const pass = writeFile(dir, "pass", CANARY.passphrase);
  const logger = new RecordingLogger();
  const creds = await unlockBundle({
    bundlePath: bundle,
    unlock: { ...NONE, passphraseFile: pass, passphraseNoWipe: true },
    logger,
  });
  assert.deepEqual([...creds.keys()].sort(), ["bao"]);
  assert.equal(fromUtf8((creds.get("bao") as { token: SecretBytes }).token.expose()), "rotated-2");
  wipeCreds(creds);
  const byStatus = logger.lines.filter((l) => l.message.startsWith("credential deposit"))
    .map((l) => [l.message, l.fields.status]);
  assert.deepEqual(byStatus, [
    ["credential deposit superseded", "superseded"],
    ["credential deposit applied", "effective"],
    ["credential deposit ignored", "unauthorized-backend"],
    ["credential deposit ignored", "stale-epoch"],
  ]);
  for (const secret of [CANARY.token, "rotated-2", "not-allowed", CANARY.passphrase]) {
    assert.ok(!logger.text().includes(secret));
  }
  assert.ok(!new TextDecoder().decode(Deno.readFileSync(bundle)).includes("rotated"));
});
