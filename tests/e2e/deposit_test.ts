/**
 * Credential deposits end to end, through the real CLI and agent: an
 * ingest key at `create --deposit-key`, `allow`, `deposit` with no unlock
 * secret, the agent overlaying the newest authorized deposit (proved by a
 * keystore that only the deposited DEK opens), bad records ignored without
 * crashing the agent, `show` with and without `--open`, `promote --dry-run`
 * writing nothing and `promote` folding the deposit in.
 */

import assert from "node:assert/strict";
import { decodeBundle, encodeBundle } from "../../lib/seal/format.ts";
import { basil, type BasilOptions } from "../helpers/cli.ts";
import { Fixture, runAgentToExit } from "../helpers/fixture.ts";
import { Signal } from "../helpers/wait.ts";

const enc = new TextEncoder();

async function ok(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await basil(args);
  assert.equal(r.code, 0, `basil ${args.join(" ")}\n${r.stdout}${r.stderr}`);
  return r;
}

async function contributorKey(path: string): Promise<string> {
  await ok(["bundle", "contributor-key", "-i", path, "--new"]);
  return (await ok(["bundle", "contributor-key", "-i", path])).stdout.trim();
}

Deno.test("deposits: the agent overlays the newest authorized deposit; bad records never crash it", async () => {
  const f = await Fixture.create({ audit: false });
  const open = ["--open", `passphrase:file=${f.passphrase}`];
  try {
    // First start creates the keystore under the fixture's DEK; store a value.
    const a1 = await f.start();
    assert.equal((await f.cli(["set", "--key-id", "app.api_token", "v1"])).code, 0);
    await a1.stop();

    // Rotate the sealed DEK to a wrong one: the agent can no longer open the keystore.
    const wrongDek = `${f.dir}/wrong.dek`;
    Deno.writeFileSync(wrongDek, crypto.getRandomValues(new Uint8Array(32)), { mode: 0o600 });
    await ok([
      "bundle",
      "set-backend",
      f.bundle,
      "--backend",
      `id=db,type=db-keystore,path=${f.db},dek-file=${wrongDek}`,
      ...open,
    ]);
    assert.equal((await runAgentToExit(f)).code, 1, "the wrong DEK does not open the keystore");

    // An ingest key and two contributors; only alice may deposit for db.
    const recipient = `${f.dir}/deposit.pub`;
    const dk = await ok(["bundle", "deposit-key", f.bundle, "--out", recipient, ...open]);
    assert.match(
      dk.stdout,
      /^created a deposit ingest key in .*\nwrote deposit recipient to .*deposit\.pub\n$/,
    );
    assert.match(Deno.readTextFileSync(recipient), /^[A-Za-z0-9_-]{43}\n$/);
    const again = await ok([
      "bundle",
      "deposit-key",
      f.bundle,
      "--out",
      `${f.dir}/again.pub`,
      ...open,
    ]);
    assert.equal(
      again.stdout,
      `wrote deposit recipient to ${f.dir}/again.pub\n`,
      "exported, not recreated",
    );
    assert.equal(Deno.readTextFileSync(`${f.dir}/again.pub`), Deno.readTextFileSync(recipient));
    const alice = await contributorKey(`${f.dir}/alice.seed`);
    const mallory = await contributorKey(`${f.dir}/mallory.seed`);
    const al = await ok([
      "bundle",
      "allow",
      f.bundle,
      "--contributor",
      alice,
      "--contributor-id",
      "alice",
      "--backend",
      "db",
      ...open,
    ]);
    assert.equal(al.stdout, "allowed contributor alice for backends db\n");
    await ok([
      "bundle",
      "allow",
      f.bundle,
      "--contributor",
      mallory,
      "--contributor-id",
      "mallory",
      "--backend",
      "other",
      ...open,
    ]);

    // Deposits need no unlock secret: only the recipient and the contributor seed.
    const deposit = (seed: string, id: string, dek: string, extra: string[] = []) =>
      basil([
        "bundle",
        "deposit",
        f.bundle,
        "--backend",
        `id=db,type=db-keystore,path=${f.db},dek-file=${dek}`,
        "-r",
        recipient,
        "-i",
        `${f.dir}/${seed}.seed`,
        "--contributor-id",
        id,
        ...extra,
      ]);
    const d1 = await deposit("alice", "alice", wrongDek);
    assert.equal(d1.stdout, "deposited backend db seq 1\n", d1.stderr);
    const d2 = await deposit("alice", "alice", f.dek);
    assert.equal(d2.stdout, "deposited backend db seq 2\n");
    const m = await deposit("mallory", "mallory", wrongDek);
    assert.equal(
      m.stdout,
      "deposited backend db seq 3\n",
      "anyone can append; the allow-list decides",
    );
    const forged = await deposit("mallory", "alice", wrongDek, ["--seq", "9"]);
    assert.equal(forged.stdout, "deposited backend db seq 9\n");
    // Garbage appended by hand: a record whose sealed credential is random bytes.
    const b = decodeBundle(Deno.readFileSync(f.bundle), f.bundle);
    const junk = {
      ...b.deposits[1]!,
      seq: 10,
      sealed_cred: {
        ...b.deposits[1]!.sealed_cred,
        ciphertext: crypto.getRandomValues(new Uint8Array(64)),
      },
    };
    Deno.writeFileSync(f.bundle, encodeBundle({ ...b, deposits: [...b.deposits, junk] }), {
      mode: 0o600,
    });

    // show without --open: plaintext metadata only.
    const show = await ok(["bundle", "show", f.bundle]);
    assert.match(show.stdout, /\ndeposits: 5\n/);
    assert.match(show.stdout, /\ndeposit: backend=db, contributor=alice, epoch=1, seq=2\n/);
    assert.doesNotMatch(show.stdout, /status=|fingerprint=|ingest-key|contributor alice:/);
    // show --open: authorization status, action and fingerprints.
    const so = await ok(["bundle", "show", f.bundle, ...open]);
    const lines = so.stdout.split("\n").filter((l) => l.startsWith("deposit: "));
    assert.deepEqual(
      lines.map((l) => /status=([a-z-]+), action=([a-z]+)/.exec(l)!.slice(1).join(" ")),
      [
        "superseded replace",
        "effective replace",
        "unauthorized-backend unknown",
        "bad-signature unknown",
        "bad-signature unknown",
      ],
    );
    assert.match(lines[1]!, /, fingerprint=sha256:[A-Za-z0-9_-]{43}$/);
    assert.match(
      so.stdout,
      /\ningest-key: present\ncontributor alice: key=[A-Za-z0-9_-]{43}, backends=db\n/,
    );

    // The agent starts on the deposited DEK and reads the value stored before.
    const a2 = await f.start();
    try {
      const got = await f.cli(["get", "--key-id", "app.api_token", "--format", "raw"]);
      assert.equal(got.stdout, "v1");
      assert.match(a2.stderr, /"credential deposit applied"[^\n]*"backend_id":"db"[^\n]*"seq":2/);
      assert.match(a2.stderr, /"credential deposit ignored"[^\n]*"status":"unauthorized-backend"/);
      assert.match(a2.stderr, /"credential deposit ignored"[^\n]*"status":"bad-signature"/);
    } finally {
      await a2.stop();
    }

    // promote --dry-run writes nothing; promote folds the deposit in and bumps the epoch.
    const before = Deno.readFileSync(f.bundle);
    const dry = await ok(["bundle", "promote", f.bundle, "--dry-run", ...open]);
    assert.match(
      dry.stdout,
      /\nwould promote: backend=db, contributor=alice, epoch=1, seq=2, action=replace, fingerprint=sha256:/,
    );
    assert.match(dry.stdout, /dry run: nothing written; promote would move .* to epoch 2\n$/);
    assert.deepEqual(Deno.readFileSync(f.bundle), before);
    const p = await ok([
      "bundle",
      "promote",
      f.bundle,
      "--backend",
      "db",
      "--contributor",
      "alice",
      ...open,
    ]);
    assert.match(
      p.stdout,
      /\npromoted: backend=db, contributor=alice, epoch=1, seq=2, action=replace/,
    );
    const after = await ok(["bundle", "show", f.bundle, ...open]);
    assert.match(after.stdout, /^bundle: .*\nepoch: 2\nslots: 1\ndeposits: 0\n/);
    const a3 = await f.start();
    try {
      assert.equal(
        (await f.cli(["get", "--key-id", "app.api_token", "--format", "raw"])).stdout,
        "v1",
      );
      assert.doesNotMatch(a3.stderr, /credential deposit/);
    } finally {
      await a3.stop();
    }
  } finally {
    f.cleanup();
  }
});

Deno.test("deposits: GCP service-account fingerprints, 0600 inputs, clear refusals", async () => {
  const f = await Fixture.create({ audit: false });
  const open = ["--open", `passphrase:file=${f.passphrase}`];
  try {
    const b2 = `${f.dir}/b2.sealed`;
    const c = await ok([
      "bundle",
      "create",
      b2,
      "--slot",
      `passphrase:file=${f.passphrase}`,
      "--backend",
      `id=db,type=db-keystore,path=${f.db},dek-file=${f.dek}`,
      "--deposit-key",
      `${f.dir}/dep.pub`,
    ]);
    assert.equal(
      c.stdout,
      `wrote sealed bundle to ${b2}\nwrote deposit recipient to ${f.dir}/dep.pub\n`,
    );
    const o2 = ["--open", `passphrase:file=${f.passphrase}`];
    const admin = await contributorKey(`${f.dir}/admin.seed`);
    await ok([
      "bundle",
      "allow",
      b2,
      "--contributor",
      admin,
      "--backend",
      "gcp1",
      "--backend",
      "gcp2",
      ...o2,
    ]);
    const sa = `${f.dir}/sa.json`;
    Deno.writeFileSync(
      sa,
      enc.encode(JSON.stringify({
        type: "service_account",
        project_id: "proj-7",
        private_key_id: "kid-123",
        private_key: "-----BEGIN PRIVATE KEY-----\nSECRET-SA-KEY\n-----END PRIVATE KEY-----\n",
        client_email: "basil@proj-7.iam.gserviceaccount.com",
      })),
      { mode: 0o600 },
    );
    const dep = (spec: string) =>
      basil([
        "bundle",
        "deposit",
        b2,
        "--backend",
        spec,
        "-r",
        `${f.dir}/dep.pub`,
        "-i",
        `${f.dir}/admin.seed`,
      ]);
    const d = await dep(
      `id=gcp1,type=gcp-kms,project=proj-7,location=global,key-ring=ring,key-file=${sa}`,
    );
    assert.equal(d.code, 0, d.stderr);
    const aws = await dep("id=gcp2,type=aws-kms,region=eu-west-1");
    assert.equal(aws.code, 0, aws.stderr);
    const so = await ok(["bundle", "show", b2, ...o2]);
    assert.match(
      so.stdout,
      new RegExp(
        `deposit: backend=gcp1, contributor=${admin}, epoch=1, seq=1, status=effective, action=new, fingerprint=gcp-sa:proj-7:basil@proj-7\\.iam\\.gserviceaccount\\.com:kid-123\\n`,
      ),
    );
    assert.match(
      so.stdout,
      /deposit: backend=gcp2, [^\n]*status=effective, action=new, fingerprint=sha256:/,
    );
    assert.doesNotMatch(so.stdout + so.stderr, /SECRET-SA-KEY/);
    assert.doesNotMatch(new TextDecoder().decode(Deno.readFileSync(b2)), /SECRET-SA-KEY|proj-7/);

    // Refusals: loose credential and seed files, a bad recipient, a bad contributor token.
    Deno.chmodSync(sa, 0o644);
    const loose = await dep(`id=gcp1,type=gcp-kms,project=p,location=l,key-ring=r,key-file=${sa}`);
    assert.equal(loose.code, 1);
    assert.match(loose.stderr, /key-file .*sa\.json: mode is 0644, must be 0600/);
    Deno.chmodSync(`${f.dir}/admin.seed`, 0o644);
    const seed = await dep("id=gcp2,type=aws-kms,region=x");
    assert.match(seed.stderr, /identity seed file .*admin\.seed: mode is 0644, must be 0600/);
    Deno.chmodSync(`${f.dir}/admin.seed`, 0o600);
    Deno.writeTextFileSync(`${f.dir}/bad.pub`, "nope\n");
    const badR = await basil([
      "bundle",
      "deposit",
      b2,
      "--backend",
      "id=x,type=aws-kms,region=r",
      "-r",
      `${f.dir}/bad.pub`,
      "-i",
      `${f.dir}/admin.seed`,
    ]);
    assert.match(
      badR.stderr,
      /recipient file .*bad\.pub: expected a base64url \(no padding\) 32-byte key/,
    );
    const badC = await basil([
      "bundle",
      "allow",
      b2,
      "--contributor",
      "short",
      "--backend",
      "x",
      ...o2,
    ]);
    assert.equal(badC.code, 1);
    assert.match(badC.stderr, /--contributor: expected a base64url/);
    // promote with a slot it cannot open is refused and writes nothing.
    await ok(["bundle", "add-slot", b2, "--slot", `passphrase:file=${f.dek}`, ...o2]);
    const bytes = Deno.readFileSync(b2);
    const pr = await basil(["bundle", "promote", b2, ...open]);
    assert.equal(pr.code, 1);
    assert.match(
      pr.stderr,
      /promote rewraps every slot, but slot 1 \(method=passphrase, label=passphrase\) did not open/,
    );
    assert.deepEqual(Deno.readFileSync(b2), bytes);
    const all = await ok(["bundle", "promote", b2, ...open, "--open", `passphrase:file=${f.dek}`]);
    assert.match(all.stdout, /promoted 2 deposit\(s\); .* is now at epoch 2\n$/);
  } finally {
    f.cleanup();
  }
});

Deno.test("bundle edits hold <bundle>.lock: concurrent deposits all land; a held lock makes an editor wait", async () => {
  const f = await Fixture.create({ audit: false });
  const open = ["--open", `passphrase:file=${f.passphrase}`];
  try {
    const recipient = `${f.dir}/deposit.pub`;
    await ok(["bundle", "deposit-key", f.bundle, "--out", recipient, ...open]);
    const alice = await contributorKey(`${f.dir}/alice.seed`);
    const ids = ["b1", "b2", "b3", "b4", "b5", "b6"];
    await ok([
      "bundle",
      "allow",
      f.bundle,
      "--contributor",
      alice,
      "--contributor-id",
      "alice",
      ...ids.flatMap((id) => ["--backend", id]),
      ...open,
    ]);
    assert.equal(Deno.statSync(`${f.bundle}.lock`).mode! & 0o777, 0o600);
    const deposit = (id: string, o: BasilOptions = {}) =>
      basil([
        "bundle",
        "deposit",
        f.bundle,
        "--backend",
        `id=${id},type=db-keystore,path=${f.db},dek-file=${f.dek}`,
        "-r",
        recipient,
        "-i",
        `${f.dir}/alice.seed`,
        "--contributor-id",
        "alice",
      ], o);
    const backendsOf = () =>
      decodeBundle(Deno.readFileSync(f.bundle), f.bundle).deposits.map((d) => d.backend_id)
        .sort();

    // Five editors at once: each reads, appends and writes the whole file.
    // Without the lock most of them would overwrite each other's deposit.
    const runs = await Promise.all(ids.slice(0, 5).map((id) => deposit(id)));
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(backendsOf(), ids.slice(0, 5));

    // While another process holds the lock, an editor does not write. The editor says on
    // stderr when it is blocked waiting for the lock: that line is the event waited for.
    const before = Deno.readFileSync(f.bundle);
    const lock = Deno.openSync(`${f.bundle}.lock`, { read: true, write: true });
    let pending: ReturnType<typeof deposit> | undefined;
    try {
      lock.lockSync(true);
      let stderr = "";
      let ended = false;
      const progressed = new Signal();
      pending = deposit("b6", { onStderr: (t) => (stderr = t, progressed.changed()) })
        .finally(() => (ended = true, progressed.changed()));
      await progressed.until(() => stderr.includes("waiting for") || ended, "lock-wait notice");
      assert.ok(!ended, `the editor ended while the lock was held: ${stderr}`);
      assert.match(stderr, /another basil bundle command is editing/);
      assert.deepEqual(Deno.readFileSync(f.bundle), before, "no write while the lock is held");
    } finally {
      lock.close();
    }
    const last = await pending!;
    assert.equal(last.code, 0, last.stderr);
    assert.deepEqual(backendsOf(), ids);
  } finally {
    f.cleanup();
  }
});
