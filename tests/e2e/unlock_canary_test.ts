/**
 * Unlock secrets never leak. Canary passphrases, a BIP39 phrase (and its
 * entropy), a DEK, a Vault token and an AppRole secret_id go through every
 * bundle command (create, add-slot, set-backend, deposit-key, allow,
 * deposit, show, promote, verify) and an agent start; then every CLI
 * stdout/stderr, the agent's stderr, the bundle, its sidecar, the audit log,
 * the keystore files, and the argv and environment of the launcher and the
 * agent are searched for them in raw, hex and base64 forms. The one allowed
 * appearance is the BIP39 banner of `bundle create`, exactly once.
 */

import assert from "node:assert/strict";
import { mnemonicToEntropy } from "@scure/bip39";
import { wordlist } from "@scure/bip39/wordlists/english.js";
import { basil } from "../helpers/cli.ts";
import { Fixture, readProc, runAgentToExit } from "../helpers/fixture.ts";
import { assertNoCanary, countBytes, readIfExists } from "../helpers/canary.ts";

const enc = new TextEncoder();

Deno.test("unlock canaries (passphrases, BIP39 phrase, DEK, Vault token, secret_id) appear in no output", async () => {
  const tag = crypto.randomUUID().replaceAll("-", "");
  const passphrase = enc.encode(`CANARY-PASS-${tag}`);
  const passphrase2 = enc.encode(`CANARY-PASS2-${tag}`);
  const dek = new Uint8Array(32);
  dek.set(enc.encode("CANARYDEK-"));
  dek.set(crypto.getRandomValues(new Uint8Array(21)), 10);
  dek[31] = 0x41;
  const vaultToken = enc.encode(`CANARY-VTOKEN-${tag}`);
  const secretId = enc.encode(`CANARY-SECRETID-${tag}`);

  const f = await Fixture.create({ unlockExtra: "" }, { passphrase, dek });
  const file = (name: string, bytes: Uint8Array) => {
    const p = `${f.dir}/${name}`;
    Deno.writeFileSync(p, bytes, { mode: 0o600 });
    return p;
  };
  const pass2 = file("pass2.txt", passphrase2);
  const tokenFile = file("vault.token", vaultToken);
  const sidFile = file("approle.secret-id", secretId);
  const outputs: [string, Uint8Array][] = [];
  const run = async (args: string[]) => {
    const r = await basil(args);
    assert.equal(r.code, 0, `basil ${args.join(" ")}\n${r.stdout}${r.stderr}`);
    outputs.push([`stdout of basil ${args.join(" ")}`, r.stdoutBytes]);
    outputs.push([`stderr of basil ${args.join(" ")}`, enc.encode(r.stderr)]);
    return r;
  };
  try {
    const created = await basil([
      "bundle",
      "create",
      f.bundle,
      "--force",
      "--slot",
      `passphrase:file=${f.passphrase}`,
      "--slot",
      "bip39",
      "--backend",
      `id=db,type=db-keystore,path=${f.db},dek-file=${f.dek}`,
      "--backend",
      `id=bao,type=openbao,addr=https://bao.example,token-file=${tokenFile}`,
      "--deposit-key",
      `${f.dir}/deposit.pub`,
    ]);
    assert.equal(created.code, 0, created.stderr);
    const m = /\n\n {2}([a-z]+(?: [a-z]+){23})\n\n/.exec(created.stdout);
    assert.ok(m, created.stdout);
    assert.match(created.stdout, /it will never be shown again/);
    const phrase = enc.encode(m[1]!);
    const entropy = mnemonicToEntropy(m[1]!, wordlist);
    // The banner is the phrase's one appearance, exactly once.
    assert.equal(countBytes(created.stdoutBytes, phrase), 1);
    assertNoCanary("bundle create stdout (entropy)", created.stdoutBytes, { entropy });
    assertNoCanary("bundle create stderr", enc.encode(created.stderr), { phrase, entropy });
    const canaries = { passphrase, passphrase2, dek, vaultToken, secretId, phrase, entropy };
    assertNoCanary(
      "bundle create stdout (others)",
      created.stdoutBytes,
      { passphrase, passphrase2, dek, vaultToken, secretId },
    );
    const phraseFile = file("phrase.txt", phrase);
    const open = (spec: string) => ["--open", spec];
    const P = open(`passphrase:file=${f.passphrase}`);
    const PH = open(`bip39:file=${phraseFile}`);
    const P2 = open(`passphrase:file=${pass2}`);

    await run([
      "bundle",
      "add-slot",
      f.bundle,
      "--slot",
      `passphrase:file=${pass2},label=second`,
      ...PH,
    ]);
    await run([
      "bundle",
      "set-backend",
      f.bundle,
      "--backend",
      `id=bao,type=openbao,addr=https://bao.example,role-id=role-1,secret-id-file=${sidFile}`,
      ...P2,
    ]);
    await run(["bundle", "contributor-key", "-i", `${f.dir}/c.seed`, "--new"]);
    const pub = (await run(["bundle", "contributor-key", "-i", `${f.dir}/c.seed`])).stdout.trim();
    await run([
      "bundle",
      "allow",
      f.bundle,
      "--contributor",
      pub,
      "--contributor-id",
      "ops",
      "--backend",
      "bao",
      ...P,
    ]);
    await run([
      "bundle",
      "deposit",
      f.bundle,
      "--backend",
      `id=bao,type=vault,token-file=${tokenFile}`,
      "-r",
      `${f.dir}/deposit.pub`,
      "-i",
      `${f.dir}/c.seed`,
      "--contributor-id",
      "ops",
    ]);
    await run(["bundle", "deposit-key", f.bundle, "--out", `${f.dir}/deposit2.pub`, ...PH]);
    await run(["bundle", "show", f.bundle]);
    await run(["bundle", "show", f.bundle, ...P]);
    await run(["bundle", "promote", f.bundle, "--dry-run", ...P2]);
    await run(["bundle", "promote", f.bundle, ...P, ...PH, ...P2]);
    await run(["bundle", "verify", f.bundle, ...PH]);
    assert.ok(Deno.statSync(phraseFile).isFile, "operator commands never wipe the phrase file");

    // The agent, with the passphrase and a (wiped) copy of the phrase.
    const agentPhrase = file("agent-phrase.txt", phrase);
    f.writeConfig({ unlockExtra: `bip39-phrase-file = ${JSON.stringify(agentPhrase)}` });
    const a = await f.start();
    try {
      assert.equal((await f.cli(["get", "--key-id", "app.db_password"])).code, 0);
      for (const pid of [a.child.pid, a.agentPid!]) {
        outputs.push([`/proc/${pid}/cmdline`, readProc(`/proc/${pid}/cmdline`)]);
        outputs.push([`/proc/${pid}/environ`, readProc(`/proc/${pid}/environ`)]);
      }
    } finally {
      const { stderr } = await a.stop();
      outputs.push(["agent stderr", enc.encode(stderr)]);
    }
    assert.throws(
      () => Deno.lstatSync(agentPhrase),
      Deno.errors.NotFound,
      "the agent wiped its phrase file",
    );

    // A failed start with a wrong phrase leaks neither phrase.
    const wrong = enc.encode(
      "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon " +
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art",
    );
    Deno.writeFileSync(f.passphrase, enc.encode("wrong passphrase"), { mode: 0o600 });
    const wrongFile = file("wrong-phrase.txt", wrong);
    f.writeConfig({ unlockExtra: `bip39-phrase-file = ${JSON.stringify(wrongFile)}` });
    const failed = await runAgentToExit(f);
    assert.equal(failed.code, 1);
    outputs.push(["failed agent stderr", enc.encode(failed.stderr)]);
    assertNoCanary("failed agent stderr (wrong phrase)", enc.encode(failed.stderr), { wrong });

    for (
      const p of [
        f.bundle,
        `${f.bundle}.epoch`,
        f.audit,
        f.db,
        `${f.db}-wal`,
        `${f.db}-shm`,
        `${f.dir}/deposit.pub`,
        `${f.dir}/deposit2.pub`,
      ]
    ) {
      outputs.push([p, readIfExists(p)]);
    }
    assert.ok(outputs.length > 30);
    for (const [where, bytes] of outputs) assertNoCanary(where, bytes, canaries);
  } finally {
    f.cleanup();
  }
});
