/**
 * Agent start-up unlock: order of checks, perms, epoch, wiping, errors.
 * @module
 */

import assert from "node:assert/strict";
import { utf8 } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { createBundle } from "../../../lib/seal/bundle.ts";
import { type BackendCred, wipeCreds } from "../../../lib/seal/creds.ts";
import { unlockBundle, type UnlockSettings } from "../../../lib/seal/unlock.ts";
import {
  CANARY,
  errorOf,
  exists,
  FAST,
  passMethod,
  RecordingLogger,
  spyKdf,
  tempDir,
  writeFile,
} from "./helpers.ts";

interface Fixture {
  dir: string;
  bundle: string;
  pass: string;
  settings: UnlockSettings;
}

async function fixture(opts: { mode?: number; passContent?: string } = {}): Promise<Fixture> {
  const dir = await tempDir();
  const file = await createBundle({
    slots: [{ method: passMethod(CANARY.passphrase), label: "passphrase" }],
    backends: new Map<string, BackendCred>([
      ["bao", { type: "VaultToken", token: new SecretBytes(utf8(CANARY.token)) }],
    ]),
    argon2: FAST,
  });
  const bundle = writeFile(dir, "bundle.sealed", file, opts.mode ?? 0o600);
  const pass = writeFile(dir, "pass", opts.passContent ?? `${CANARY.passphrase}\n`);
  const settings: UnlockSettings = {
    passphraseFile: pass,
    passphraseNoWipe: false,
    ageYubikey: false,
    unlockTpm: false,
    strictBundlePerms: false,
  };
  return { dir, bundle, pass, settings };
}

Deno.test("unlock: opens, returns creds, creates the sidecar, wipes the passphrase file", async () => {
  const f = await fixture();
  // A hard link keeps the inode reachable, so the zeroing is observable.
  Deno.linkSync(f.pass, `${f.dir}/pass-link`);
  const logger = new RecordingLogger();
  const creds = await unlockBundle({ bundlePath: f.bundle, unlock: f.settings, logger });
  const c = creds.get("bao");
  assert.ok(c?.type === "VaultToken");
  assert.equal(new TextDecoder().decode(c.token.expose()), CANARY.token);
  wipeCreds(creds);
  assert.equal(Deno.readTextFileSync(`${f.bundle}.epoch`), "1\n");
  assert.ok(!exists(f.pass), "passphrase file removed");
  const left = Deno.readFileSync(`${f.dir}/pass-link`);
  assert.equal(left.length, CANARY.passphrase.length + 1);
  assert.ok(left.every((b) => b === 0), "content zeroed before unlink");
  assert.ok(!logger.text().includes(CANARY.passphrase));
});

Deno.test("unlock: no-wipe keeps the passphrase file", async () => {
  const f = await fixture();
  const creds = await unlockBundle({
    bundlePath: f.bundle,
    unlock: { ...f.settings, passphraseNoWipe: true },
    logger: new RecordingLogger(),
  });
  assert.equal(creds.size, 1);
  assert.equal(Deno.readTextFileSync(f.pass), `${CANARY.passphrase}\n`);
});

Deno.test("unlock: strict perms refuse a 0644 bundle before anything else", async () => {
  const f = await fixture({ mode: 0o644 });
  const spy = spyKdf();
  const e = await errorOf(() =>
    unlockBundle({
      bundlePath: f.bundle,
      unlock: { ...f.settings, strictBundlePerms: true },
      logger: new RecordingLogger(),
      kdf: spy.kdf,
    })
  );
  assert.ok(e instanceof InputError);
  assert.equal(e.token, "bundle_perms");
  assert.equal(e.message, `bundle ${f.bundle}: mode is 0644, must be 0600 (strict-bundle-perms)`);
  assert.equal(spy.calls(), 0);
  assert.ok(exists(f.pass), "passphrase file untouched");
  assert.ok(!exists(`${f.bundle}.epoch`));
});

Deno.test("unlock: non-strict perms warn and continue", async () => {
  const f = await fixture({ mode: 0o640 });
  const logger = new RecordingLogger();
  const creds = await unlockBundle({ bundlePath: f.bundle, unlock: f.settings, logger });
  assert.equal(creds.size, 1);
  const warn = logger.lines.find((l) => l.level === "warn" && /not 0600/.test(l.message));
  assert.ok(warn, logger.text());
  assert.deepEqual(warn.fields, { path: f.bundle, mode: "0640" });
});

Deno.test("unlock: a stale epoch is refused before any KDF work or passphrase read", async () => {
  const f = await fixture();
  writeFile(f.dir, "bundle.sealed.epoch", "2\n");
  const spy = spyKdf();
  const e = await errorOf(() =>
    unlockBundle({
      bundlePath: f.bundle,
      unlock: f.settings,
      logger: new RecordingLogger(),
      kdf: spy.kdf,
    })
  );
  assert.ok(e instanceof InputError && e.token === "bundle_stale_epoch", e.message);
  assert.match(e.message, /has epoch 1 but .*\.epoch records 2/);
  assert.equal(spy.calls(), 0, "no Argon2 work");
  assert.equal(
    Deno.readTextFileSync(f.pass),
    `${CANARY.passphrase}\n`,
    "passphrase not read or wiped",
  );
  assert.equal(Deno.readTextFileSync(`${f.bundle}.epoch`), "2\n");
});

Deno.test("unlock: a lower sidecar is advanced; an equal one is kept", async () => {
  const f = await fixture();
  writeFile(f.dir, "bundle.sealed.epoch", "0\n");
  const spy = spyKdf();
  await unlockBundle({
    bundlePath: f.bundle,
    unlock: { ...f.settings, passphraseNoWipe: true },
    logger: new RecordingLogger(),
    kdf: spy.kdf,
  });
  assert.equal(spy.calls(), 1);
  assert.equal(Deno.readTextFileSync(`${f.bundle}.epoch`), "1\n");
  const before = Deno.statSync(`${f.bundle}.epoch`).ino;
  await unlockBundle({
    bundlePath: f.bundle,
    unlock: { ...f.settings, passphraseNoWipe: true },
    logger: new RecordingLogger(),
  });
  assert.equal(Deno.statSync(`${f.bundle}.epoch`).ino, before, "not rewritten");
});

Deno.test("unlock: a wrong passphrase fails closed as bundle_locked (file still wiped after read)", async () => {
  const f = await fixture({ passContent: "not the passphrase\n" });
  const e = await errorOf(() =>
    unlockBundle({ bundlePath: f.bundle, unlock: f.settings, logger: new RecordingLogger() })
  );
  assert.ok(e instanceof InputError);
  assert.equal(e.token, "bundle_locked");
  assert.equal(
    e.message,
    `bundle ${f.bundle}: no configured unlock slot opened it (tried: passphrase)`,
  );
  assert.ok(!exists(`${f.bundle}.epoch`), "sidecar not advanced on failure");
  assert.ok(!exists(f.pass));
});

Deno.test("unlock: configuration errors fail closed before touching files", async () => {
  const f = await fixture();
  const base = { ...f.settings };
  const run = (u: UnlockSettings): Promise<Error> =>
    errorOf(() => unlockBundle({ bundlePath: f.bundle, unlock: u, logger: new RecordingLogger() }));
  const none = await run({ ...base, passphraseFile: undefined });
  assert.ok(none instanceof InputError && none.token === "unlock_not_configured");
  assert.match(
    none.message,
    /^\[unlock\]: no unlock method configured; set unlock-passphrase-file, bip39-phrase-file, age-yubikey or unlock-tpm$/,
  );
  assert.ok(exists(f.pass) && !exists(`${f.bundle}.epoch`));
});

Deno.test("unlock: missing or corrupt bundle and missing passphrase file are clear errors", async () => {
  const f = await fixture();
  const run = (bundlePath: string, u = f.settings): Promise<Error> =>
    errorOf(() => unlockBundle({ bundlePath, unlock: u, logger: new RecordingLogger() }));
  const missing = await run(`${f.dir}/nope.sealed`);
  assert.ok(missing instanceof InputError && missing.token === "bundle_unreadable");
  assert.equal(missing.message, `bundle ${f.dir}/nope.sealed: cannot read: no such file`);
  const junk = writeFile(f.dir, "junk.sealed", "BASILBDL");
  const corrupt = await run(junk);
  assert.ok(corrupt instanceof InputError && corrupt.token === "bundle_corrupt");
  const noPass = await run(f.bundle, { ...f.settings, passphraseFile: `${f.dir}/gone` });
  assert.ok(noPass instanceof InputError && noPass.token === "secret_file_unreadable");
  assert.equal(noPass.message, `unlock-passphrase-file ${f.dir}/gone: cannot read: no such file`);
});

// Make the wipe fail even as root: the passphrase file sits outside the
// only path this test may write, so Deno's sandbox refuses the zeroing.
const wipeCase = await fixture();
const wipePass = writeFile(await tempDir(), "pass", `${CANARY.passphrase}\n`);

Deno.test({
  name: "unlock: a failed wipe only warns",
  permissions: { read: true, write: [wipeCase.dir] },
  fn: async () => {
    const logger = new RecordingLogger();
    const creds = await unlockBundle({
      bundlePath: wipeCase.bundle,
      unlock: { ...wipeCase.settings, passphraseFile: wipePass },
      logger,
    });
    assert.equal(creds.size, 1);
    wipeCreds(creds);
    assert.ok(logger.lines.some((l) => l.level === "warn" && /wipe failed/.test(l.message)));
    assert.ok(exists(wipePass), "the file the wipe could not touch is still there");
    assert.ok(!logger.text().includes(CANARY.passphrase));
  },
});
