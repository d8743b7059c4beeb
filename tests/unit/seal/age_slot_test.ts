/**
 * The age-yubikey slot: X25519 recipients through npm:age-encryption,
 * plugin recipients through the age plugin protocol (a fake
 * `age-plugin-yubikey` run in process), identity files, recipients, bech32
 * and the stanza codec. Interop with the real `age` CLI is in
 * tests/e2e/unlock_test.ts (it needs --allow-run).
 * @module
 */

import assert from "node:assert/strict";
import {
  Decrypter,
  Encrypter,
  generateIdentity,
  identityToRecipient,
  Stanza,
} from "age-encryption";
import { utf8 } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { bech32Decode, bech32DecodeBytes, bech32Encode } from "../../../lib/seal/bech32.ts";
import { createBundle, openBundle } from "../../../lib/seal/bundle.ts";
import type { Slot } from "../../../lib/seal/format.ts";
import {
  AgeMethod,
  ageUnwrap,
  ageWrap,
  defaultPluginIdentity,
  parseAgeRecipient,
  PluginIdentity,
} from "../../../lib/seal/slots/age.ts";
import {
  type PluginConnection,
  type PluginLauncher,
  pluginUnwrap,
  pluginWrap,
} from "../../../lib/seal/slots/age_plugin.ts";
import { parseAgeIdentities, readAgeIdentityFile } from "../../../lib/seal/slots/age_identity.ts";
import { encodeStanza, StanzaReader } from "../../../lib/seal/slots/age_stanza.ts";
import { SlotOpenFailed } from "../../../lib/seal/slots/types.ts";
import { fakeLauncher, fakeRecipient, newFakeYubikey } from "./fake_age_plugin.ts";
import { errorOf, FAST, tempDir, writeFile } from "./helpers.ts";

const randomBytes = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

const HEADER = utf8("header");
const CTX = { headerBytes: HEADER, slotId: 0, argon2: FAST };

function slotOf(material: Awaited<ReturnType<AgeMethod["create"]>>): Slot {
  return {
    slot_id: 0,
    method: "age-yubikey",
    label: "age-yubikey",
    created_unix: 0,
    ...material,
  };
}

async function identityFile(): Promise<{ path: string; recipient: string; text: string }> {
  const text = await generateIdentity();
  const dir = await tempDir();
  const path = writeFile(dir, "id.txt", `# created by a test\n\n${text}\n`);
  return { path, recipient: await identityToRecipient(text), text };
}

Deno.test("bech32: round trip, checksum, case rules", () => {
  const data = randomBytes(32);
  const s = bech32Encode("age", data);
  assert.ok(s.startsWith("age1"));
  assert.deepEqual(bech32Decode(s), { hrp: "age", data });
  assert.deepEqual(bech32Decode(s.toUpperCase())?.data, data);
  assert.equal(bech32Decode(s.slice(0, -1) + (s.endsWith("q") ? "p" : "q")), undefined);
  assert.equal(bech32Decode(s.slice(0, 5) + s.slice(5).toUpperCase()), undefined, "mixed case");
  assert.equal(bech32Decode("nope"), undefined);
  assert.deepEqual(bech32DecodeBytes(utf8(bech32Encode("x-", new Uint8Array()))), {
    hrp: "x-",
    data: new Uint8Array(),
  });
});

Deno.test("age: our X25519 recipient and identity encodings match age-encryption", async () => {
  const text = await generateIdentity();
  const ids = await parseAgeIdentities(utf8(text), "id");
  assert.equal(ids.length, 1);
  const id = ids[0]!;
  assert.ok(id.kind === "x25519");
  assert.equal(id.recipient, await identityToRecipient(text));
});

Deno.test("age: recipients are classified and validated", () => {
  const x = bech32Encode("age", randomBytes(32));
  assert.deepEqual(parseAgeRecipient(x), { kind: "x25519", text: x });
  const yk = bech32Encode("age1yubikey", randomBytes(33));
  assert.deepEqual(parseAgeRecipient(yk), { kind: "plugin", text: yk, plugin: "yubikey" });
  for (
    const bad of [
      "age1",
      "garbage",
      x.toUpperCase(),
      bech32Encode("age", randomBytes(31)),
      bech32Encode("age1pq", randomBytes(32)),
      bech32Encode("nope", randomBytes(32)),
    ]
  ) {
    const e = assert.throws(() => parseAgeRecipient(bad, "--slot: recipient"), InputError);
    void e;
  }
});

Deno.test("age: the default plugin identity is AGE-PLUGIN-YUBIKEY-1 with no data", () => {
  const id = defaultPluginIdentity("yubikey");
  assert.ok(id.kind === "plugin");
  assert.match(id.text, /^AGE-PLUGIN-YUBIKEY-1[0-9A-Z]{6}$/);
  assert.deepEqual(bech32Decode(id.text), { hrp: "age-plugin-yubikey-", data: new Uint8Array() });
});

Deno.test("age slot: X25519 wrap opens with the identity file, not with another", async () => {
  const a = await identityFile();
  const b = await identityFile();
  const kek = randomBytes(32);
  const creator = new AgeMethod({ recipient: parseAgeRecipient(a.recipient) });
  const material = await creator.create(kek, CTX);
  assert.deepEqual(material.params, { kind: "age-yubikey", recipient: a.recipient });
  assert.equal(material.wrap.nonce.length, 0, "age slots carry an empty nonce");
  const slot = slotOf(material);
  const opener = new AgeMethod({ identities: await readAgeIdentityFile(a.path) });
  assert.deepEqual(await opener.open(slot, utf8("another header: not bound")), kek);
  const other = new AgeMethod({ identities: await readAgeIdentityFile(b.path) });
  await assert.rejects(other.open(slot, HEADER), SlotOpenFailed);
  // The wrap is a standard age file: age-encryption decrypts it with the identity text.
  const d = new Decrypter();
  d.addIdentity(a.text);
  assert.deepEqual(await d.decrypt(material.wrap.ciphertext), kek);
  // A flipped byte anywhere fails closed.
  for (const i of [0, 40, material.wrap.ciphertext.length - 1]) {
    const bad = material.wrap.ciphertext.slice();
    bad[i]! ^= 1;
    await assert.rejects(
      opener.open({ ...slot, wrap: { ...slot.wrap, ciphertext: bad } }, HEADER),
      SlotOpenFailed,
    );
  }
});

Deno.test("age slot: a file age-encryption wrote to the recipient opens (same format as `age -r`)", async () => {
  const a = await identityFile();
  const e = new Encrypter();
  e.addRecipient(a.recipient);
  const kek = randomBytes(32);
  const slot = slotOf({
    params: { kind: "age-yubikey", recipient: a.recipient },
    wrap: { nonce: new Uint8Array(), ciphertext: await e.encrypt(kek) },
  });
  const opener = new AgeMethod({ identities: await readAgeIdentityFile(a.path) });
  assert.deepEqual(await opener.open(slot, HEADER), kek);
  // A plaintext of the wrong length is refused as unusable.
  const e2 = new Encrypter();
  e2.addRecipient(a.recipient);
  const short = slotOf({
    ...slot,
    wrap: { nonce: new Uint8Array(), ciphertext: await e2.encrypt(randomBytes(16)) },
  });
  const err = await errorOf(() => opener.open(short, HEADER));
  assert.ok(err instanceof InputError && err.token === "slot_params");
});

Deno.test("age identity files: comments, plugin identities, errors by line, mode 0600", async () => {
  const dir = await tempDir();
  const x = await generateIdentity();
  const yk = defaultPluginIdentity("yubikey");
  assert.ok(yk.kind === "plugin");
  const ids = await parseAgeIdentities(utf8(`# c\n  ${x}  \r\n\n${yk.text}\n`), "f");
  assert.deepEqual(ids.map((i) => i.kind), ["x25519", "plugin"]);
  const second = ids[1]!;
  assert.equal(second.kind === "plugin" && second.plugin, "yubikey");
  const canary = x.slice(0, -3) + "QQQ";
  for (
    const [content, re] of [
      [`${x}\nAGE-SECRET-KEY-1NOPE\n`, /f: line 2 is not a valid AGE-SECRET-KEY-1 identity/],
      [`hello\n`, /f: line 1 is not an age identity/],
      [`# only comments\n`, /f: holds no age identity/],
      [`${canary}\n`, /f: line 1 is not a valid/],
    ] as const
  ) {
    const e = await errorOf(() => parseAgeIdentities(utf8(content), "f"));
    assert.ok(e instanceof InputError && e.token === "age_identity_invalid", String(e));
    assert.match(e.message, re);
    assert.ok(!e.message.includes("AGE-SECRET-KEY-1Q") && !e.message.includes(canary));
  }
  const loose = writeFile(dir, "loose.txt", x, 0o644);
  const e = await errorOf(() => readAgeIdentityFile(loose));
  assert.ok(e instanceof InputError && e.token === "secret_file_mode");
  assert.match(e.message, /age identity file .*loose\.txt: mode is 0644, must be 0600/);
});

Deno.test("age plugin: a yubikey recipient wraps and opens through the plugin protocol", async () => {
  const token = newFakeYubikey();
  const calls: string[] = [];
  const messages: string[] = [];
  const plugin = {
    launcher: fakeLauncher(token, calls),
    callbacks: { message: (m: string) => void messages.push(m) },
  };
  const kek = randomBytes(32);
  const material = await new AgeMethod({
    recipient: parseAgeRecipient(fakeRecipient(token)),
    plugin,
  })
    .create(kek, CTX);
  assert.deepEqual(calls, ["age-plugin-yubikey recipient-v1"]);
  const slot = slotOf(material);
  const opener = new AgeMethod({ identities: [defaultPluginIdentity("yubikey")], plugin });
  assert.deepEqual(await opener.open(slot, HEADER), kek);
  assert.deepEqual(calls.at(-1), "age-plugin-yubikey identity-v1");
  assert.deepEqual(messages, ["touch your fake YubiKey"]);
  // Another token finds nothing: no file key, no error → the slot does not open.
  const other = { launcher: fakeLauncher(newFakeYubikey()) };
  await assert.rejects(
    new AgeMethod({ identities: [defaultPluginIdentity("yubikey")], plugin: other }).open(
      slot,
      HEADER,
    ),
    SlotOpenFailed,
  );
});

Deno.test("age plugin: PIN requests go to the callback; no UI or a wrong PIN fails closed", async () => {
  const token = newFakeYubikey({ pin: "123456" });
  const launcher = fakeLauncher(token);
  const kek = randomBytes(32);
  const slot = slotOf(
    await new AgeMethod({
      recipient: parseAgeRecipient(fakeRecipient(token)),
      plugin: { launcher },
    })
      .create(kek, CTX),
  );
  const ids = [defaultPluginIdentity("yubikey")];
  const withPin = (pin?: string) =>
    new AgeMethod({
      identities: ids,
      plugin: {
        launcher,
        callbacks: {
          requestSecret: () =>
            Promise.resolve(pin === undefined ? undefined : new SecretBytes(utf8(pin))),
        },
      },
    });
  assert.deepEqual(await withPin("123456").open(slot, HEADER), kek);
  for (const pin of [undefined, "000000"]) {
    const e = await errorOf(() => withPin(pin).open(slot, HEADER));
    assert.ok(e instanceof InputError && e.token === "age_plugin_failed", String(e));
    assert.match(
      e.message,
      /age-plugin-yubikey could not unwrap the slot: wrong PIN or no PIN given/,
    );
    assert.ok(!e.message.includes("000000"));
  }
});

Deno.test("age plugin: plugin errors and a missing plugin are clear InputErrors", async () => {
  const token = newFakeYubikey();
  const kek = randomBytes(32);
  const slot = slotOf(
    await new AgeMethod({
      recipient: parseAgeRecipient(fakeRecipient(token)),
      plugin: { launcher: fakeLauncher(token) },
    })
      .create(kek, CTX),
  );
  const failing = fakeLauncher({ ...token, failWith: "no YubiKey\x07 found" });
  const e = await errorOf(() =>
    new AgeMethod({ identities: [defaultPluginIdentity("yubikey")], plugin: { launcher: failing } })
      .open(slot, HEADER)
  );
  assert.ok(e instanceof InputError);
  assert.equal(e.message, "age-plugin-yubikey could not unwrap the slot: no YubiKey found");
  const missing = () => {
    throw new InputError("age_plugin_missing", "age-plugin-yubikey was not found on PATH");
  };
  const m = await errorOf(() =>
    new AgeMethod({ identities: [defaultPluginIdentity("yubikey")], plugin: { launcher: missing } })
      .open(slot, HEADER)
  );
  assert.ok(m instanceof InputError && m.token === "age_plugin_missing");
  // The plugin is not started for a file with only X25519 stanzas.
  const a = await identityFile();
  const calls: string[] = [];
  const xfile = await ageWrap(kek, parseAgeRecipient(a.recipient));
  assert.equal(
    await ageUnwrap(xfile, [defaultPluginIdentity("yubikey")], {
      launcher: fakeLauncher(token, calls),
    }),
    undefined,
  );
  assert.deepEqual(calls, []);
});

Deno.test("age plugin: a bundle with a plugin slot opens through openBundle", async () => {
  const token = newFakeYubikey();
  const plugin = { launcher: fakeLauncher(token) };
  const file = await createBundle({
    slots: [{
      method: new AgeMethod({ recipient: parseAgeRecipient(fakeRecipient(token)), plugin }),
      label: "yk",
    }],
    backends: new Map(),
    argon2: FAST,
  });
  const opened = await openBundle(file, "/b", [
    new AgeMethod({ identities: [defaultPluginIdentity("yubikey")], plugin }),
  ]);
  assert.equal(opened.slotId, 0);
  opened.wipe();
});

Deno.test("age stanzas: bodies of every length round trip; malformed input is refused", async () => {
  for (const n of [0, 1, 47, 48, 49, 96, 200]) {
    const body = randomBytes(n);
    const bytes = encodeStanza(["cmd", "a", "b"], body);
    const lines = new TextDecoder().decode(bytes).split("\n");
    assert.ok(lines.slice(1, -2).every((l) => l.length === 64));
    assert.ok(lines.at(-2)!.length < 64, "the last body line is short");
    const r = new StanzaReader(ReadableStream.from([bytes.subarray(0, 3), bytes.subarray(3)]));
    assert.deepEqual(await r.next(), { args: ["cmd", "a", "b"], body });
    assert.equal(await r.next(), undefined);
  }
  for (const bad of ["nope\n\n", "-> x\nAB=\n", "-> x\n", "-> x  y\n\n", "-> x\nA-_A\n"]) {
    const r = new StanzaReader(ReadableStream.from([utf8(bad)]));
    await assert.rejects(r.next(), /malformed age plugin stanza/);
  }
});

/**
 * A plugin that plays `script` on its stdout and hands every buffer the
 * client writes to `onWrite` (the client's own buffer, not a copy), which may
 * reject to simulate a broken pipe.
 */
function scriptedLauncher(
  script: string,
  onWrite: (b: Uint8Array) => Promise<void> = () => Promise.resolve(),
): PluginLauncher {
  return (): PluginConnection => ({
    stdout: ReadableStream.from([utf8(script)]),
    write: onWrite,
    close: () => Promise.resolve(),
    kill() {},
  });
}

const zeroed = (b: Uint8Array) => b.every((x) => x === 0);

Deno.test("age plugin: phase-1 buffers (one holds the file key) are wiped when a write fails", async () => {
  const written: Uint8Array[] = [];
  const launcher = scriptedLauncher("", (b) => {
    written.push(b);
    // add-recipient goes through; wrap-file-key hits a broken pipe.
    return written.length === 1 ? Promise.resolve() : Promise.reject(new Error("EPIPE"));
  });
  const token = newFakeYubikey();
  const e = await errorOf(() =>
    pluginWrap("yubikey", fakeRecipient(token), randomBytes(16), { launcher })
  );
  assert.ok(e instanceof InputError && e.token === "age_plugin_failed", String(e));
  assert.equal(written.length, 2);
  assert.match(new TextDecoder().decode(written[1]!.subarray(0, 3)), /^\0\0\0$/);
  assert.ok(written.every(zeroed), "every phase-1 buffer is wiped, sent or not");
});

Deno.test("age plugin: a PIN reply is wiped even when writing it fails", async () => {
  const written: Uint8Array[] = [];
  let pin: SecretBytes | undefined;
  const launcher = scriptedLauncher("-> request-secret\nUElO\n", (b) => {
    written.push(b);
    // Phase 1 (two stanzas and done) goes through; the reply does not.
    return written.length <= 3 ? Promise.resolve() : Promise.reject(new Error("EPIPE"));
  });
  const stanzas = [{ args: ["piv-p256", "abc", "def"], body: randomBytes(32) }];
  const e = await errorOf(() =>
    pluginUnwrap("yubikey", [defaultPluginIdentity("yubikey").text], stanzas, {
      launcher,
      callbacks: { requestSecret: () => Promise.resolve(pin = new SecretBytes(utf8("123456"))) },
    })
  );
  assert.ok(e instanceof InputError && e.token === "age_plugin_failed", String(e));
  assert.equal(written.length, 4, "phase 1, done, then the PIN reply");
  assert.ok(pin?.wiped, "the callback's PIN is wiped");
  assert.ok(zeroed(written[3]!), "the encoded reply (base64 of the PIN) is wiped");
});

Deno.test("age plugin: a plugin's error arguments are sanitized before they reach a message", async () => {
  const launcher = scriptedLauncher("-> error internal \x1b[2J\x1b]0;pwned\x07boom\n\n-> done\n\n");
  const stanzas = [{ args: ["piv-p256", "abc", "def"], body: randomBytes(32) }];
  const e = await errorOf(() =>
    pluginUnwrap("yubikey", [defaultPluginIdentity("yubikey").text], stanzas, { launcher })
  );
  assert.ok(e instanceof InputError && e.token === "age_plugin_failed", String(e));
  const controls = [...e.message].filter((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  assert.deepEqual(controls, [], JSON.stringify(e.message));
  assert.match(e.message, /could not unwrap the slot: internal \[2J \]0;pwned boom$/);
});

Deno.test("age plugin: the identity keeps the file keys it returned and wipes them", async () => {
  const token = newFakeYubikey();
  const launcher = fakeLauncher(token);
  const fileKey = randomBytes(16);
  const wire = await pluginWrap("yubikey", fakeRecipient(token), fileKey.slice(), { launcher });
  const id = new PluginIdentity("yubikey", [defaultPluginIdentity("yubikey").text], { launcher });
  const got = await id.unwrapFileKey(wire.map((w) => new Stanza([...w.args], w.body)));
  assert.ok(got !== null);
  assert.deepEqual(got, fileKey);
  id.wipe();
  assert.ok(zeroed(got), "the returned file key is wiped once decrypt is done with it");
  // ageUnwrap still returns the plaintext: the wipe happens after decrypt used the key.
  const kek = randomBytes(32);
  const file = await ageWrap(kek, parseAgeRecipient(fakeRecipient(token)), { launcher });
  assert.deepEqual(await ageUnwrap(file, [defaultPluginIdentity("yubikey")], { launcher }), kek);
});

Deno.test("age stanzas: the 4 KiB line cap holds when the newline arrives in the same chunk", async () => {
  for (const line of [`-> ${"a".repeat(5000)}`, "-> x", `-> x\n${"A".repeat(5000)}`]) {
    const whole = new StanzaReader(ReadableStream.from([utf8(`${line}\n\n`)]));
    const split = new StanzaReader(
      ReadableStream.from([utf8(line.slice(0, 4500)), utf8(`${line.slice(4500)}\n\n`)]),
    );
    if (line === "-> x") {
      assert.deepEqual(await whole.next(), { args: ["x"], body: new Uint8Array() });
      continue;
    }
    await assert.rejects(whole.next(), /line too long/);
    await assert.rejects(split.next(), /line too long|body line too long/);
  }
});
