/**
 * Unlocking the sealed bundle end to end, through the real agent and CLI.
 *
 * - The fail-closed matrix: a wrong passphrase, a wrong BIP39 phrase, one
 *   corrupted byte at positions across the whole file, truncation, 0644
 *   under strict-bundle-perms and a stale epoch each give exit 1, exactly
 *   one `basil agent:` line with a stable message, no socket and no file
 *   written (the keystore DB and the epoch sidecar neither appear nor
 *   change; the only change allowed is the contract's wipe of a BIP39
 *   phrase file that was read).
 * - Any one configured slot opens; the BIP39 phrase file is wiped.
 * - Anti-rollback through `promote`: a restored older bundle is refused with
 *   a message that says what to do; `bundle verify` never writes the sidecar.
 * - Every credential kind seals from `--backend` and `set-backend` replaces
 *   one without an epoch bump.
 * - age: slot wraps interoperate with the real `age` CLI both ways, and the
 *   plugin path works against a fake `age-plugin-yubikey` (itself checked
 *   against the real `age` CLI).
 * - TPM wiring (swtpm, needs --allow-ffi): `--slot/--open tpm`,
 *   `BASIL_TPM_TCTI`, `[unlock] unlock-tpm` + `tpm-tcti`, promote.
 */

import assert from "node:assert/strict";
import { SecretBytes } from "../../lib/core/secret.ts";
import { generatePhrase, phraseToEntropy } from "../../lib/seal/bip39_phrase.ts";
import { createBundle, openBundle } from "../../lib/seal/bundle.ts";
import { decodeBundle, encodeBundle } from "../../lib/seal/format.ts";
import {
  AgeMethod,
  ageUnwrap,
  ageWrap,
  defaultPluginIdentity,
  parseAgeRecipient,
} from "../../lib/seal/slots/age.ts";
import { spawnPlugin } from "../../lib/seal/slots/age_plugin.ts";
import { Bip39Method } from "../../lib/seal/slots/bip39.ts";
import { PassphraseMethod } from "../../lib/seal/slots/passphrase.ts";
import type { SlotSpec } from "../../lib/seal/slots/types.ts";
import { basil, BASIL_FLAGS, ROOT } from "../helpers/cli.ts";
import { Fixture, runAgentToExit, RunningAgent, TEST_ARGON2 } from "../helpers/fixture.ts";
import { gated, type Need, permission } from "../helpers/peers.ts";
import { Swtpm } from "../helpers/swtpm.ts";
import { findTss2Dir } from "../../lib/seal/slots/tpm.ts";
import {
  loadOpeners,
  loadSlotSpecs,
  parseOpenSpec,
  parseSlotSpec,
} from "../../lib/seal/slot_spec.ts";
import { unlockBundle } from "../../lib/seal/unlock.ts";
import { promoteBundle } from "../../lib/seal/promote.ts";
import { makeDeposit } from "../../lib/seal/deposits/record.ts";
import { contributorPublicKey, newSeed } from "../../lib/seal/deposits/keys.ts";
import { toBase64Url } from "../../lib/core/encoding.ts";
import { x25519Generate } from "../../lib/crypto/x25519_seal.ts";
import {
  fakeKeyHex,
  fakeRecipient,
  type FakeYubikey,
  newFakeYubikey,
} from "../unit/seal/fake_age_plugin.ts";
import { webCryptoAesGcmOpen } from "../helpers/webcrypto.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A phrase of wordlist words whose checksum is wrong: two words of a valid
 * phrase swapped, retried until the checksum (8 bits) no longer matches.
 */
function badChecksumPhrase(): string {
  for (;;) {
    const words = dec.decode(generatePhrase().phrase.expose()).split(" ");
    [words[0], words[1]] = [words[1]!, words[0]!];
    const text = words.join(" ");
    try {
      phraseToEntropy(new TextEncoder().encode(text), "probe").wipe();
    } catch {
      return text;
    }
  }
}

/** Replaces the fixture's bundle with one holding `slots` (fast Argon2) and the fixture's DEK. */
async function sealWith(f: Fixture, slots: SlotSpec[]): Promise<Uint8Array> {
  const bytes = await createBundle({
    slots,
    backends: new Map([["db", {
      type: "DbKeystoreDek",
      dek: SecretBytes.copyOf(Deno.readFileSync(f.dek)),
    }]]),
    argon2: TEST_ARGON2,
  });
  Deno.writeFileSync(f.bundle, bytes, { mode: 0o600 });
  return bytes;
}

/** Rewrites the config's `[unlock]` table (it is the last table the fixture writes). */
function setUnlock(f: Fixture, lines: string[]): void {
  const text = Deno.readTextFileSync(f.config);
  Deno.writeTextFileSync(
    f.config,
    `${text.slice(0, text.indexOf("[unlock]"))}[unlock]\n${lines.join("\n")}\n`,
  );
}

const q = JSON.stringify;
const passFile = (f: Fixture) => new SecretBytes(Deno.readFileSync(f.passphrase));

/** name → size and mtime of every file in the workdir. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of Deno.readDirSync(dir)) {
    const st = Deno.statSync(`${dir}/${e.name}`);
    out.set(e.name, `${st.size}:${st.mtime?.getTime()}`);
  }
  return out;
}

async function assertFailsClosed(
  f: Fixture,
  expected: RegExp,
  o: { wiped?: string[] } = {},
): Promise<string> {
  const before = snapshot(f.dir);
  const r = await runAgentToExit(f);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("basil agent:"));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, expected);
  assert.throws(() => Deno.lstatSync(f.socket), Deno.errors.NotFound, "no socket");
  const after = snapshot(f.dir);
  for (const name of o.wiped ?? []) {
    assert.ok(before.has(name) && !after.has(name), `${name} is wiped once read`);
    before.delete(name);
  }
  assert.deepEqual(after, before, "no file written, created or removed");
  return lines[0]!;
}

Deno.test("fail closed: wrong passphrase", async () => {
  const f = await Fixture.create();
  try {
    Deno.writeFileSync(f.passphrase, enc.encode("not the passphrase"), { mode: 0o600 });
    await assertFailsClosed(
      f,
      /^basil agent: bundle .*bundle\.sealed: no configured unlock slot opened it \(tried: passphrase\)$/,
    );
  } finally {
    f.cleanup();
  }
});

Deno.test("fail closed: wrong BIP39 phrase (the phrase file is wiped once read)", async () => {
  const f = await Fixture.create();
  try {
    await sealWith(f, [{
      method: new Bip39Method(generatePhrase().entropy),
      label: "break-glass",
    }]);
    const phrase = `${f.dir}/phrase.txt`;
    Deno.writeFileSync(phrase, generatePhrase().phrase.expose(), { mode: 0o600 });
    setUnlock(f, [`bip39-phrase-file = ${q(phrase)}`]);
    await assertFailsClosed(
      f,
      /^basil agent: bundle .*: no configured unlock slot opened it \(tried: bip39\)$/,
      {
        wiped: ["phrase.txt"],
      },
    );
    // An invalid phrase (bad checksum) is refused with a clear reason, and wiped too.
    Deno.writeTextFileSync(phrase, badChecksumPhrase(), { mode: 0o600 });
    const line = await runAgentToExit(f);
    assert.equal(line.code, 1);
    assert.match(
      line.stderr,
      /basil agent: bip39-phrase-file .*phrase\.txt: (checksum mismatch|word)/,
    );
  } finally {
    f.cleanup();
  }
});

Deno.test("fail closed: one corrupted byte at positions across the whole file", async () => {
  const f = await Fixture.create();
  try {
    const good = Deno.readFileSync(f.bundle);
    const text = dec.decode(good);
    const at = (needle: string, skip = 0) => {
      const i = text.indexOf(needle);
      assert.ok(i >= 0, needle);
      return i + needle.length + skip;
    };
    const ct = at(`"payload":{"nonce":"`) + 16 + `","ciphertext":"`.length;
    const positions: [string, number][] = [
      ["magic", 0],
      ["format_version", 10],
      ["header_b64", at(`"header_b64":"`, 7)],
      ["header epoch", at(`"epoch":`)],
      ["slot method", at(`"method":"`, 2)],
      ["slot salt", at(`"salt":"`, 5)],
      ["slot argon2 cost", at(`"m_cost_kib":`)],
      ["slot wrap nonce", at(`"wrap":{"nonce":"`, 3)],
      ["slot wrap ciphertext", at(`"wrap":{"nonce":"`) + 16 + `","ciphertext":"`.length + 10],
      ["payload nonce", at(`"payload":{"nonce":"`, 1)],
      ["payload ciphertext", ct + 20],
      ["payload tag (last base64 char)", at(`"deposits"`) - 4],
      ["last byte", good.length - 1],
    ];
    for (const [name, pos] of positions) {
      const bad = good.slice();
      bad[pos]! ^= 0x01;
      Deno.writeFileSync(f.bundle, bad, { mode: 0o600 });
      const line = await assertFailsClosed(
        f,
        /^basil agent: bundle .*bundle\.sealed: (corrupt or truncated|corrupt or tampered|unsupported format_version|no configured unlock slot opened it)/,
      ).catch((e) => {
        throw new Error(`${name} (byte ${pos}): ${e.message}`);
      });
      assert.ok(!line.includes(dec.decode(Deno.readFileSync(f.passphrase))), name);
    }
  } finally {
    f.cleanup();
  }
});

Deno.test("fail closed: a truncated file", async () => {
  const f = await Fixture.create();
  try {
    const good = Deno.readFileSync(f.bundle);
    for (const len of [0, 5, 10, 11, 100, good.length - 1]) {
      Deno.writeFileSync(f.bundle, good.slice(0, len), { mode: 0o600 });
      await assertFailsClosed(f, /^basil agent: bundle .*bundle\.sealed: corrupt or truncated/);
    }
  } finally {
    f.cleanup();
  }
});

Deno.test("fail closed: 0644 under strict-bundle-perms", async () => {
  const f = await Fixture.create({ unlockExtra: "strict-bundle-perms = true" });
  try {
    Deno.chmodSync(f.bundle, 0o644);
    await assertFailsClosed(
      f,
      /^basil agent: bundle .*bundle\.sealed: mode is 0644, must be 0600 \(strict-bundle-perms\)$/,
    );
  } finally {
    f.cleanup();
  }
});

Deno.test("fail closed: a stale epoch (the sidecar is not touched)", async () => {
  const f = await Fixture.create();
  try {
    Deno.writeTextFileSync(`${f.bundle}.epoch`, "5\n", { mode: 0o600 });
    await assertFailsClosed(
      f,
      /^basil agent: bundle .*bundle\.sealed has epoch 1 but .*bundle\.sealed\.epoch records 5: this looks like an older bundle restored over a newer one; use the current bundle, or delete .* only if you deliberately rolled back$/,
    );
    assert.equal(Deno.readTextFileSync(`${f.bundle}.epoch`), "5\n");
  } finally {
    f.cleanup();
  }
});

Deno.test("any one slot opens: a wrong passphrase plus the right BIP39 phrase starts the agent", async () => {
  const f = await Fixture.create();
  try {
    const { entropy, phrase } = generatePhrase();
    await sealWith(f, [
      { method: new PassphraseMethod(passFile(f)), label: "passphrase" },
      { method: new Bip39Method(entropy), label: "break-glass" },
    ]);
    Deno.writeFileSync(f.passphrase, enc.encode("wrong"), { mode: 0o600 });
    const pf = `${f.dir}/phrase.txt`;
    Deno.writeFileSync(pf, phrase.expose(), { mode: 0o600 });
    setUnlock(f, [
      `unlock-passphrase-file = ${q(f.passphrase)}`,
      "unlock-passphrase-no-wipe = true",
      `bip39-phrase-file = ${q(pf)}`,
    ]);
    const a = await f.start();
    try {
      assert.match(a.stderr, /"unlock slot opened"[^\n]*"method":"bip39"/);
      assert.throws(() => Deno.lstatSync(pf), Deno.errors.NotFound, "the phrase file is wiped");
      assert.ok(Deno.statSync(f.passphrase).isFile, "no-wipe keeps the passphrase file");
      assert.equal((await f.cli(["get", "--key-id", "app.db_password"])).code, 0);
    } finally {
      await a.stop();
    }
  } finally {
    f.cleanup();
  }
});

Deno.test("anti-rollback: promote bumps the epoch; a restored older bundle is refused", async () => {
  const f = await Fixture.create();
  const open = ["--open", `passphrase:file=${f.passphrase}`];
  const ok = async (args: string[]) => {
    const r = await basil(args);
    assert.equal(r.code, 0, `${args.join(" ")}\n${r.stdout}${r.stderr}`);
    return r;
  };
  try {
    // verify never writes the sidecar.
    await ok(["bundle", "verify", f.bundle, ...open]);
    assert.throws(() => Deno.lstatSync(`${f.bundle}.epoch`), Deno.errors.NotFound);
    const first = await f.start();
    await first.stop();
    assert.equal(Deno.readTextFileSync(`${f.bundle}.epoch`), "1\n");
    const backup = Deno.readFileSync(f.bundle);
    // A deposit to promote (the same DEK, so the keystore still opens).
    await ok(["bundle", "deposit-key", f.bundle, "--out", `${f.dir}/dep.pub`, ...open]);
    await ok(["bundle", "contributor-key", "-i", `${f.dir}/ops.seed`, "--new"]);
    const pub = (await ok(["bundle", "contributor-key", "-i", `${f.dir}/ops.seed`])).stdout.trim();
    await ok([
      "bundle",
      "allow",
      f.bundle,
      "--contributor",
      pub,
      "--contributor-id",
      "ops",
      "--backend",
      "db",
      ...open,
    ]);
    await ok([
      "bundle",
      "deposit",
      f.bundle,
      "--backend",
      `id=db,type=db-keystore,path=${f.db},dek-file=${f.dek}`,
      "-r",
      `${f.dir}/dep.pub`,
      "-i",
      `${f.dir}/ops.seed`,
      "--contributor-id",
      "ops",
    ]);
    const p = await ok(["bundle", "promote", f.bundle, ...open]);
    assert.match(p.stdout, /is now at epoch 2\n/);
    assert.equal(Deno.readTextFileSync(`${f.bundle}.epoch`), "2\n");
    const second = await f.start();
    await second.stop();

    Deno.writeFileSync(f.bundle, backup, { mode: 0o600 });
    await assertFailsClosed(
      f,
      /has epoch 1 but .*\.epoch records 2: this looks like an older bundle restored over a newer one; use the current bundle/,
    );
    const v = await basil(["bundle", "verify", f.bundle, ...open]);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /has epoch 1 but .* records 2/);
    const pr = await basil(["bundle", "promote", f.bundle, ...open]);
    assert.equal(pr.code, 1, "promote refuses to launder a rolled-back bundle");
    assert.equal(Deno.readTextFileSync(`${f.bundle}.epoch`), "2\n");
  } finally {
    f.cleanup();
  }
});

Deno.test("every credential kind: --backend specs seal, show --open lists them, set-backend replaces one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-kinds-" });
  try {
    const w = (name: string, content: string | Uint8Array) => {
      const p = `${dir}/${name}`;
      Deno.writeFileSync(p, typeof content === "string" ? enc.encode(content) : content, {
        mode: 0o600,
      });
      return p;
    };
    const pass = w("pass", "kinds pass");
    const specs = [
      `id=tok,type=openbao,addr=https://bao.example,token-file=${w("tok", "s.token\n")}`,
      `id=app,type=vault,role-id=role-1,secret-id-file=${w("sid", "secret-id")}`,
      `id=svid,type=openbao,spiffe-id=spiffe://example.org/basil,spiffe-key-file=${
        w("key.pem", "-----BEGIN PRIVATE KEY-----\nx\n")
      }`,
      `id=db,type=db-keystore,path=${dir}/ks.db,dek-file=${
        w("dek", crypto.getRandomValues(new Uint8Array(32)))
      }`,
      "id=op,type=1password,provider-uri=op://vault,project=p,profile=default",
      "id=aws,type=aws-kms,region=eu-west-1,profile=ops",
      `id=gcp,type=gcp-kms,project=p,location=global,key-ring=r,key-file=${w("sa.json", "{}")}`,
    ];
    const b = `${dir}/b.sealed`;
    const c = await basil([
      "bundle",
      "create",
      b,
      "--slot",
      `passphrase:file=${pass}`,
      ...specs.flatMap((x) => ["--backend", x]),
    ]);
    assert.equal(c.code, 0, c.stderr);
    const open = ["--open", `passphrase:file=${pass}`];
    const show = await basil(["bundle", "show", b, ...open]);
    assert.match(
      show.stdout,
      /\nbackend app: kind=vault-approle\nbackend aws: kind=aws-kms\nbackend db: kind=db-keystore-dek\nbackend gcp: kind=gcp-kms\nbackend op: kind=onepassword\nbackend svid: kind=spiffe-signer\nbackend tok: kind=vault-token\n$/,
    );
    const before = decodeBundle(Deno.readFileSync(b), b);
    const sb = await basil([
      "bundle",
      "set-backend",
      b,
      "--backend",
      "id=tok,type=aws-kms,region=us-east-1",
      ...open,
    ]);
    assert.equal(sb.stdout, `replaced backend tok in ${b}\n`, sb.stderr);
    const after = decodeBundle(Deno.readFileSync(b), b);
    assert.deepEqual(after.headerBytes, before.headerBytes, "no epoch bump");
    assert.match(
      (await basil(["bundle", "show", b, ...open])).stdout,
      /\nbackend tok: kind=aws-kms\n$/,
    );
    Deno.chmodSync(`${dir}/sid`, 0o640);
    const loose = await basil(["bundle", "set-backend", b, "--backend", specs[1]!, ...open]);
    assert.equal(loose.code, 1);
    assert.match(loose.stderr, /secret-id-file .*sid: mode is 0640, must be 0600/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

// ---- age ------------------------------------------------------------------

function run(
  cmd: string,
  args: string[],
  o: { stdin?: Uint8Array; env?: Record<string, string> } = {},
) {
  const child = new Deno.Command(cmd, {
    args,
    stdin: o.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    ...(o.env ? { env: o.env } : {}),
  }).spawn();
  if (o.stdin) {
    const w = child.stdin.getWriter();
    w.write(o.stdin).then(() => w.close());
  }
  return child.output();
}

async function ageKeygen(dir: string): Promise<{ identity: string; recipient: string }> {
  const identity = `${dir}/age-id.txt`;
  const r = await run("age-keygen", ["-o", identity]);
  assert.equal(r.code, 0, dec.decode(r.stderr));
  Deno.chmodSync(identity, 0o600);
  const recipient = /age1[0-9a-z]+/.exec(Deno.readTextFileSync(identity))![0];
  return { identity, recipient };
}

Deno.test(gated(["age", "age-keygen"], {
  name: "age slot interop with the real age CLI, both ways",
  fn: async () => {
    const f = await Fixture.create();
    try {
      const { identity, recipient } = await ageKeygen(f.dir);
      const bytes = await sealWith(f, [
        { method: new PassphraseMethod(passFile(f)), label: "passphrase" },
        { method: new AgeMethod({ recipient: parseAgeRecipient(recipient) }), label: "age" },
      ]);
      const b = decodeBundle(bytes, f.bundle);
      // (a) our wrap is a standard age file: `age -d -i` yields the KEK, which opens the payload.
      Deno.writeFileSync(`${f.dir}/wrap.age`, b.slots[1]!.wrap.ciphertext);
      const d = await run("age", ["-d", "-i", identity, `${f.dir}/wrap.age`]);
      assert.equal(d.code, 0, dec.decode(d.stderr));
      const kek = d.stdout;
      assert.equal(kek.length, 32);
      assert.ok(
        await webCryptoAesGcmOpen(kek, b.payload.nonce, b.headerBytes, b.payload.ciphertext),
      );
      // (b) a file `age -r` encrypted opens through our decrypt path (via the real CLI).
      const e = await run("age", ["-r", recipient], { stdin: kek });
      assert.equal(e.code, 0, dec.decode(e.stderr));
      const swapped = {
        ...b,
        slots: [b.slots[0]!, {
          ...b.slots[1]!,
          wrap: { nonce: new Uint8Array(), ciphertext: e.stdout },
        }],
      };
      Deno.writeFileSync(f.bundle, encodeBundle(swapped), { mode: 0o600 });
      const v = await basil([
        "bundle",
        "verify",
        f.bundle,
        "--open",
        `age-yubikey:identity=${identity}`,
      ]);
      assert.equal(v.code, 0, v.stderr);
      assert.equal(v.stdout, "bundle unlock verified\n");
      const show = await basil([
        "bundle",
        "show",
        f.bundle,
        "--open",
        `age-yubikey:identity=${identity}`,
      ]);
      assert.match(
        show.stdout,
        /slot 1: method=age-yubikey, label=age\n[^]*backend db: kind=db-keystore-dek\n$/,
      );
      // A wrong identity fails closed; a 0644 identity file is refused.
      const wrongDir = await Deno.makeTempDir();
      try {
        const w = await ageKeygen(wrongDir);
        const bad = await basil([
          "bundle",
          "verify",
          f.bundle,
          "--open",
          `age-yubikey:identity=${w.identity}`,
        ]);
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /no configured unlock slot opened it \(tried: age-yubikey\)/);
        Deno.chmodSync(w.identity, 0o644);
        const loose = await basil([
          "bundle",
          "verify",
          f.bundle,
          "--open",
          `age-yubikey:identity=${w.identity}`,
        ]);
        assert.match(loose.stderr, /age identity file .*: mode is 0644, must be 0600/);
      } finally {
        Deno.removeSync(wrongDir, { recursive: true });
      }
    } finally {
      f.cleanup();
    }
  },
}));

/** A bin dir holding a fake `age-plugin-yubikey` process for `token`. */
function fakePluginBin(dir: string, token: FakeYubikey): { bin: string; identity: string } {
  const bin = `${dir}/bin`;
  Deno.mkdirSync(bin, { recursive: true });
  const keyFile = `${dir}/fake-yubikey.hex`;
  Deno.writeTextFileSync(keyFile, fakeKeyHex(token), { mode: 0o600 });
  const pin = token.pin === undefined ? "" : `FAKE_AGE_PLUGIN_PIN=${q(token.pin)} `;
  Deno.writeTextFileSync(
    `${bin}/age-plugin-yubikey`,
    `#!/bin/sh\nFAKE_AGE_PLUGIN_KEY=${q(keyFile)} ${pin}exec ${
      q(Deno.execPath())
    } run --quiet --no-prompt ` +
      `--cached-only --allow-read --allow-env --config ${q(`${ROOT}/deno.json`)} ` +
      `${q(`${ROOT}/tests/unit/seal/fake_age_plugin.ts`)} "$@"\n`,
    { mode: 0o755 },
  );
  const identity = `${dir}/yubikey-identity.txt`;
  const id = defaultPluginIdentity("yubikey");
  Deno.writeTextFileSync(identity, `${id.kind === "plugin" ? id.text : ""}\n`, { mode: 0o600 });
  return { bin, identity };
}

Deno.test(gated(["age"], {
  name:
    "age plugin: the fake plugin satisfies the real age CLI, and our client interoperates with it",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "basil-age-plugin-" });
    try {
      const token = newFakeYubikey();
      const { bin, identity } = fakePluginBin(dir, token);
      const env = { PATH: `${bin}:${Deno.env.get("PATH")}` };
      const recipient = fakeRecipient(token);
      const kek = crypto.getRandomValues(new Uint8Array(32));
      // The real age CLI drives the fake plugin both ways.
      const e = await run("age", ["-r", recipient], { stdin: kek, env });
      assert.equal(e.code, 0, dec.decode(e.stderr));
      const d = await run("age", ["-d", "-i", identity], { stdin: e.stdout, env });
      assert.equal(d.code, 0, dec.decode(d.stderr));
      assert.deepEqual(d.stdout, kek);
      // Our identity-v1 client opens what age wrote through the plugin...
      const launcher = (b: string, sm: string) => spawnPlugin(`${bin}/${b}`, sm);
      assert.deepEqual(
        await ageUnwrap(e.stdout, [defaultPluginIdentity("yubikey")], { launcher }),
        kek,
      );
      // ...and what our recipient-v1 client wrote opens with `age -d` through the plugin.
      const ours = await ageWrap(kek, parseAgeRecipient(recipient), { launcher });
      const d2 = await run("age", ["-d", "-i", identity], { stdin: ours, env });
      assert.equal(d2.code, 0, dec.decode(d2.stderr));
      assert.deepEqual(d2.stdout, kek);
      // Another token cannot open it.
      const other = fakePluginBin(`${dir}/other`, newFakeYubikey());
      const bad = await ageUnwrap(ours, [defaultPluginIdentity("yubikey")], {
        launcher: (b, sm) => spawnPlugin(`${other.bin}/${b}`, sm),
      });
      assert.equal(bad, undefined);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
}));

/** Whether `basil` (deno.json's task flags) may run the age plugin. */
const CLI_MAY_RUN_PLUGIN = BASIL_FLAGS.some((flag) =>
  flag === "--allow-run" ||
  (flag.startsWith("--allow-run=") && flag.slice(12).split(",").includes("age-plugin-yubikey"))
);

async function pluginFixture(): Promise<{ f: Fixture; bin: string; path: string }> {
  const f = await Fixture.create();
  const token = newFakeYubikey();
  const { bin } = fakePluginBin(f.dir, token);
  const launcher = (b: string, sm: string) => spawnPlugin(`${bin}/${b}`, sm);
  await sealWith(f, [
    {
      method: new AgeMethod({
        recipient: parseAgeRecipient(fakeRecipient(token)),
        plugin: { launcher },
      }),
      label: "yk",
    },
  ]);
  return { f, bin, path: `${bin}:${Deno.env.get("PATH") ?? ""}` };
}

Deno.test("age-yubikey through the plugin: `bundle verify --open age-yubikey`", async () => {
  assert.ok(CLI_MAY_RUN_PLUGIN, "deno.json's basil task may run age-plugin-yubikey");
  const { f, path } = await pluginFixture();
  try {
    const v = await basil(["bundle", "verify", f.bundle, "--open", "age-yubikey"], {
      env: { PATH: path },
    });
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout, "bundle unlock verified\n");
    assert.match(v.stderr, /age plugin: touch your fake YubiKey/);
  } finally {
    f.cleanup();
  }
});

Deno.test("age-yubikey through the plugin: the agent starts with `age-yubikey = true`", async () => {
  const { f, path } = await pluginFixture();
  const oldPath = Deno.env.get("PATH") ?? "";
  try {
    setUnlock(f, ["age-yubikey = true"]);
    Deno.env.set("PATH", path); // the agent inherits it and finds the fake plugin
    const a = RunningAgent.spawn(f);
    try {
      await a.ready();
    } finally {
      await a.stop();
    }
    assert.match(a.stderr, /"unlock slot opened"[^\n]*"method":"age-yubikey"/);
    assert.match(a.stderr, /"age plugin message"[^\n]*touch your fake YubiKey/);
  } finally {
    Deno.env.set("PATH", oldPath);
    f.cleanup();
  }
});

// ---- TPM wiring (the slot itself is tested in tpm_slot_test.ts) -------------

const TPM_LIB_DIR = findTss2Dir();
const TPM_NEEDS: Need[] = [
  "swtpm",
  {
    met: TPM_LIB_DIR !== undefined,
    what: "the libtss2 runtime libraries (libtss2-esys.so.0, ...)",
  },
  permission("ffi"),
];

Deno.test(gated(TPM_NEEDS, {
  name:
    "tpm wiring: --slot/--open tpm, unlockBundle with unlockTpm, promote keeps the PCR selection",
  fn: async () => {
    Deno.env.set("TSS2_LOG", "all+none");
    await using tpm = await Swtpm.start();
    const dir = await Deno.makeTempDir({ prefix: "basil-tpm-wiring-" });
    try {
      const opts = { tpm: { tcti: tpm.tcti } };
      const ingest = x25519Generate();
      const seed = newSeed().expose();
      const opsToken = toBase64Url(contributorPublicKey(seed));
      const pass = `${dir}/pass`;
      Deno.writeTextFileSync(pass, "tpm wiring pass", { mode: 0o600 });
      const loaded = await loadSlotSpecs([
        parseSlotSpec(`passphrase:file=${pass}`),
        parseSlotSpec("tpm:pcrs=7,0"),
      ], opts);
      const bytes = await createBundle({
        slots: loaded.slots,
        backends: new Map(),
        argon2: TEST_ARGON2,
        deposit: {
          contributors: new Map([["ops", { public_key: opsToken, allowed_backend_ids: ["db"] }]]),
          ingestPrivateKey: ingest.privateKey,
        },
      });
      loaded.dispose();
      const b = decodeBundle(bytes, `${dir}/b`);
      const t = b.slots[1]!;
      assert.ok(t.params.kind === "tpm");
      assert.deepEqual(t.params.pcrs, { bank: "sha256", pcrs: [0, 7] });
      const openers = await loadOpeners([parseOpenSpec("tpm")], opts);
      const opened = await openBundle(b, `${dir}/b`, openers);
      assert.equal(opened.slotId, 1);
      opened.wipe();
      // Unlock at start through the agent's code path.
      Deno.writeFileSync(`${dir}/b`, bytes, { mode: 0o600 });
      const creds = await unlockBundle({
        bundlePath: `${dir}/b`,
        unlock: {
          passphraseNoWipe: true,
          ageYubikey: false,
          unlockTpm: true,
          strictBundlePerms: true,
          tpmTcti: tpm.tcti,
        },
        logger: { log: () => {} },
        tpm: { libDir: TPM_LIB_DIR! },
      });
      assert.equal(creds.size, 0);
      // promote rewraps the TPM slot with its own PCR selection; it needs the TPM opener.
      const rec = makeDeposit(
        {
          bundleId: b.header.bundle_id,
          epoch: 1,
          backendId: "db",
          seq: 1,
          contributorKeyId: "ops",
        },
        { type: "AwsKms", region: "eu-west-1" },
        ingest.publicKey,
        seed,
      );
      const withDep = { ...b, deposits: [rec] };
      const passOnly = await loadOpeners([parseOpenSpec(`passphrase:file=${pass}`)]);
      await assert.rejects(
        promoteBundle(withDep, `${dir}/b`, passOnly, {}, { tpm: { tcti: tpm.tcti } }),
        /slot 1 \(method=tpm, label=tpm\) did not open/,
      );
      const r = await promoteBundle(withDep, `${dir}/b`, [...passOnly, ...openers], {}, {
        tpm: { tcti: tpm.tcti },
      });
      const after = decodeBundle(r.bytes!, `${dir}/b`);
      assert.equal(after.header.epoch, 2);
      const t2 = after.slots[1]!;
      assert.ok(t2.params.kind === "tpm");
      assert.deepEqual(t2.params.pcrs, { bank: "sha256", pcrs: [0, 7] });
      assert.notDeepEqual(t2.params.private, t.params.private);
      const reopened = await openBundle(after, `${dir}/b`, openers);
      assert.equal(reopened.slotId, 1);
      assert.equal(reopened.backends.get("db")?.type, "AwsKms");
      reopened.wipe();
      for (const m of [...openers, ...passOnly]) m.dispose();
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
}));

Deno.test(gated(TPM_NEEDS, {
  name: "tpm wiring: CLI create/verify with BASIL_TPM_TCTI; the agent starts with unlock-tpm",
  fn: async () => {
    Deno.env.set("TSS2_LOG", "all+none");
    await using tpm = await Swtpm.start();
    const f = await Fixture.create();
    try {
      const env = { BASIL_TPM_TCTI: tpm.tcti, TSS2_LOG: "all+none" };
      const c = await basil([
        "bundle",
        "create",
        f.bundle,
        "--force",
        "--slot",
        "tpm:pcrs=7",
        "--backend",
        `id=db,type=db-keystore,path=${f.db},dek-file=${f.dek}`,
      ], { env });
      assert.equal(c.code, 0, c.stderr);
      const v = await basil(["bundle", "verify", f.bundle, "--open", "tpm"], { env });
      assert.equal(v.stdout, "bundle unlock verified\n", v.stderr);
      setUnlock(f, [
        "unlock-tpm = true",
        `tpm-tcti = ${q(tpm.tcti)}`,
        "strict-bundle-perms = true",
      ]);
      const a = await f.start();
      try {
        assert.match(a.stderr, /"unlock slot opened"[^\n]*"method":"tpm"/);
        assert.equal((await f.cli(["get", "--key-id", "app.db_password"])).code, 0);
      } finally {
        await a.stop();
      }
      // Another TPM (a fresh swtpm) cannot open it: fail closed, one clear line.
      await using other = await Swtpm.start();
      setUnlock(f, ["unlock-tpm = true", `tpm-tcti = ${q(other.tcti)}`]);
      await assertFailsClosed(
        f,
        /^basil agent: bundle .*: no configured unlock slot opened it \(tried: tpm\); slot 0: tpm: /,
      );
    } finally {
      f.cleanup();
    }
  },
}));
