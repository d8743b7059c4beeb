/**
 * The CLI against a live agent, as a user types it: every `get` format and
 * `--out-file`, `set` from stdin/file/hex, `rotate`, `list`, admin JSON,
 * offline and live `explain`, `bundle create|verify|show`, and the demo.
 * Also: INIT_CWD is honoured only under `deno task` (in the project root),
 * `import --check` checks the material's key type first, argv payloads
 * warn, and an unreachable agent is reported as `agent status [Unavailable]`.
 * Also: an unknown key and a denied key are byte-identical on the wire, and
 * every decision writes exactly one audit record.
 */

import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { fromBase64, fromHex } from "../../lib/core/encoding.ts";
import { GetSecretRequestSchema } from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { generateKeyPairSync } from "node:crypto";
import { basil, basilCommand, ROOT } from "../helpers/cli.ts";
import { appPolicy, Fixture } from "../helpers/fixture.ts";
import { rawUnary } from "../helpers/rawgrpc.ts";

const enc = new TextEncoder();

Deno.test("Tier 1 through the CLI: get formats, set sources, rotate, list", async () => {
  const f = await Fixture.create();
  const a = await f.start();
  try {
    const got = await f.cli(["get", "--key-id", "app.db_password"]);
    assert.equal(got.code, 0, got.stderr);
    const m = /^version: 1\nvalue: ([0-9a-f]{48})\n$/.exec(got.stdout);
    assert.ok(m, got.stdout);
    const raw = fromHex(m[1]!);
    assert.ok([...raw].every((b) => b >= 0x21 && b <= 0x7e), "ascii-printable recipe");
    const fmt = async (format: string) =>
      (await f.cli(["get", "--key-id", "app.db_password", "--format", format])).stdoutBytes;
    assert.deepEqual(await fmt("raw"), raw);
    assert.deepEqual(
      (await f.cli(["get", "--key-id", "app.db_password", "--raw"])).stdoutBytes,
      raw,
    );
    assert.equal(new TextDecoder().decode(await fmt("hex")), m[1] + "\n");
    assert.deepEqual(fromBase64(new TextDecoder().decode(await fmt("base64")).trim()), raw);
    assert.match(new TextDecoder().decode(await fmt("base64-url-no-pad")), /^[A-Za-z0-9_-]+\n$/);

    const out = `${f.dir}/fetched.txt`;
    Deno.writeTextFileSync(out, "old", { mode: 0o644 });
    const w = await f.cli(["get", "--key-id", "app.db_password", "--out-file", out]);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout, "");
    assert.deepEqual(Deno.readFileSync(out), raw);
    assert.equal(Deno.statSync(out).mode! & 0o777, 0o600);

    const s1 = await f.cli(["set", "--key-id", "app.api_token", "--value-file", "-"], {
      stdin: "from-stdin",
    });
    assert.equal(s1.stdout, "version: 1\n");
    const vf = `${f.dir}/value.bin`;
    Deno.writeFileSync(vf, enc.encode("from-file\n"), { mode: 0o600 });
    const s2 = await f.cli(["set", "--key-id", "app.api_token", "--value-file", vf]);
    assert.equal(s2.stdout, "version: 2\n");
    const s3 = await f.cli(["set", "--key-id", "app.api_token", "--hex", "-"], {
      stdin: "00ff10\n",
    });
    assert.equal(s3.stdout, "version: 3\n");
    const s4 = await f.cli(["set", "--key-id", "app.api_token", "in-argv"]);
    assert.equal(s4.stdout, "version: 4\n");
    assert.match(s4.stderr, /visible to other processes/);
    const v = async (n: number) =>
      (await f.cli(["get", "--key-id", "app.api_token", "--version", String(n), "--raw"]))
        .stdoutBytes;
    assert.deepEqual(await v(1), enc.encode("from-stdin"));
    assert.deepEqual(await v(2), enc.encode("from-file\n"));
    assert.deepEqual(await v(3), new Uint8Array([0, 255, 16]));
    assert.deepEqual(await v(4), enc.encode("in-argv"));

    const r = await f.cli(["rotate", "--key-id", "app.db_password"]);
    assert.equal(r.stdout, "version: 2\n");
    const after = await f.cli(["get", "--key-id", "app.db_password", "--raw"]);
    assert.notDeepEqual(after.stdoutBytes, raw);
    assert.deepEqual(
      (await f.cli(["get", "--key-id", "app.db_password", "--version", "1", "--raw"])).stdoutBytes,
      raw,
      "versions are kept",
    );
    const noRecipe = await f.cli(["rotate", "--key-id", "app.api_token"]);
    assert.equal(noRecipe.code, 1);
    assert.match(
      noRecipe.stderr,
      /InvalidArgument\/INVALID_REQUEST\]: value key app\.api_token has no generate recipe; rotate via set instead/,
    );
    const ro = await f.cli(["set", "--key-id", "app.readonly", "x"]);
    assert.match(ro.stderr, /PermissionDenied\/UNAUTHORIZED\]: not authorized/);

    const list = await f.cli(["list"]);
    assert.equal(
      list.stdout,
      "app.api_token\tvalue\t-\t4\napp.db_password\tvalue\t-\t2\napp.readonly\tvalue\t-\t1\n",
    );
    assert.equal(
      (await f.cli(["list", "--prefix", "app.r"])).stdout,
      "app.readonly\tvalue\t-\t1\n",
    );
  } finally {
    await a.stop();
    f.cleanup();
  }
});

Deno.test("status, health and ready print JSON; ready exits 1 when a required key is missing", async () => {
  const catalog = {
    schemaVersion: 1,
    backends: { db: { kind: "keystore", addr: "${DB}", engines: ["kv2"] } },
    keys: {
      "app.must": {
        class: "value",
        backend: "db",
        path: "app/must",
        writable: true,
        missing: "error",
        description: "Required",
      },
      "app.later": {
        class: "value",
        backend: "db",
        path: "app/later",
        writable: true,
        missing: "warn",
        description: "Optional",
      },
    },
  };
  const f = await Fixture.create({ catalog, configExtra: "no-reconcile = true" });
  const a = await f.start();
  try {
    const st = await f.cli(["status", "--json"]);
    assert.deepEqual(JSON.parse(st.stdout), { backend: "keystore", version: "0.1.0", protocol: 1 });
    const r1 = await f.cli(["ready", "--json"]);
    assert.equal(r1.code, 1);
    assert.deepEqual(JSON.parse(r1.stdout), {
      ready: false,
      reason: "required_key_missing",
      generation: 1,
      keys_total: 2,
      keys_present: 0,
      keys_required_missing: 1,
      keys_optional_missing: 1,
    });
    assert.ok(!r1.stdout.includes("app."), "readiness never names keys");
    const set = await f.cli(["set", "--key-id", "app.must", "--value-file", "-"], { stdin: "x" });
    assert.equal(set.code, 0, set.stderr);
    // The agent caches its readiness report for 2 s and nothing observable marks the expiry,
    // so `ready` is asked again (each answer awaited, no sleep) until it reports ready; only
    // the cached not-ready report may come before. A generous deadline fails loudly.
    let r2 = await f.cli(["ready", "--json"]);
    for (const deadline = Date.now() + 60_000; r2.code !== 0 && Date.now() < deadline;) {
      assert.deepEqual(JSON.parse(r2.stdout), JSON.parse(r1.stdout), "only the cached report");
      r2 = await f.cli(["ready", "--json"]);
    }
    assert.equal(r2.code, 0, r2.stdout);
    assert.equal(JSON.parse(r2.stdout).reason, "ready");
  } finally {
    await a.stop();
    f.cleanup();
  }
});

Deno.test("an unknown key and a denied key are byte-identical on the wire", async () => {
  const f = await Fixture.create();
  const a = await f.start();
  try {
    const call = (id: string) =>
      rawUnary(
        f.socket,
        "/basil.broker.v1.SecretService/GetSecret",
        toBinary(GetSecretRequestSchema, create(GetSecretRequestSchema, { secretId: id })),
      );
    const denied = await call("ops.root_token");
    const unknown = await call("ops.no_such_key");
    assert.equal(denied.code, "PERMISSION_DENIED");
    assert.deepEqual(
      { code: unknown.code, details: unknown.details, bin: unknown.detailsBin },
      { code: denied.code, details: denied.details, bin: denied.detailsBin },
    );
    const reasons = f.auditRecords().filter((r) => r.op === "get").map((r) => r.reason);
    assert.deepEqual(
      reasons.slice(-2),
      ["not_permitted", "unknown_key"],
      "the audit log knows why",
    );
  } finally {
    await a.stop();
    f.cleanup();
  }
});

Deno.test("each decision writes exactly one audit record, 0600", async () => {
  const f = await Fixture.create();
  const a = await f.start();
  try {
    const before = f.auditRecords().length;
    const ops: string[][] = [
      ["get", "--key-id", "app.db_password"],
      ["get", "--key-id", "ops.root_token"],
      ["set", "--key-id", "app.api_token", "x"],
      ["rotate", "--key-id", "app.db_password"],
      ["list"],
      ["status"],
    ];
    for (const op of ops) await f.cli(op);
    const recs = f.auditRecords().slice(before);
    assert.equal(recs.length, ops.length);
    assert.deepEqual(recs.map((r) => [r.op, r.decision]), [
      ["get", "allow"],
      ["get", "deny"],
      ["set", "allow"],
      ["rotate", "allow"],
      ["list", "allow"],
      ["status", "allow"],
    ]);
    for (const r of recs) {
      assert.equal(r.event_kind, "basil.audit.authz");
      assert.equal(r.event_version, 2);
      assert.match(r.occurred_at as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    assert.equal(Deno.statSync(f.audit).mode! & 0o777, 0o600);
  } finally {
    await a.stop();
    f.cleanup();
  }
});

Deno.test("explain: offline text and JSON, --effective, and --live with an explicit grant", async () => {
  const policy = (uid: number) => {
    const p = appPolicy(uid) as { rules: unknown[] };
    p.rules.push({
      id: "app-explains",
      subjects: ["app"],
      action: ["op:explain"],
      target: ["broker.explain"],
    });
    return p;
  };
  const f = await Fixture.create({ policy });
  try {
    const allow = await f.cli([
      "explain",
      "-c",
      f.config,
      "--subject",
      "app",
      "--op",
      "get",
      "--key",
      "app.db_password",
    ]);
    assert.equal(allow.code, 0);
    assert.equal(
      allow.stdout,
      "ALLOW  subject app  get  app.db_password  (via subject:app)\n    matched subject app by rule app-values (action role:reader, target app.*)\n",
    );
    const deny = await f.cli([
      "explain",
      "--catalog",
      f.catalog,
      "--policy",
      f.policy,
      "--subject",
      "app",
      "--op",
      "set",
      "--key",
      "app.readonly",
      "--json",
    ]);
    assert.equal(deny.code, 0, "deny exits 0");
    assert.deepEqual(JSON.parse(deny.stdout), {
      subject: "app",
      op: "set",
      key: "app.readonly",
      decision: "deny",
      matched_rule: null,
      reason: "not_writable",
    });
    const eff = await f.cli([
      "explain",
      "-c",
      f.config,
      "--subject",
      "app",
      "--effective",
      "--json",
    ]);
    const rows = JSON.parse(eff.stdout).effective as { key: string; op: string }[];
    assert.deepEqual(
      rows.map((r) => `${r.key}:${r.op}`),
      [
        "app.api_token:get",
        "app.api_token:list",
        "app.api_token:rotate",
        "app.api_token:set",
        "app.db_password:get",
        "app.db_password:list",
        "app.db_password:rotate",
        "app.db_password:set",
        "app.readonly:get",
        "app.readonly:list",
      ],
    );
    const a = await f.start();
    try {
      const live = await f.cli([
        "explain",
        "--live",
        "--subject",
        "app",
        "--op",
        "get",
        "--key",
        "ops.root_token",
        "--json",
      ]);
      assert.equal(live.code, 0, live.stderr);
      assert.equal(JSON.parse(live.stdout).reason, "not_permitted");
      const offline = await f.cli([
        "explain",
        "-c",
        f.config,
        "--subject",
        "app",
        "--op",
        "get",
        "--key",
        "ops.root_token",
        "--json",
      ]);
      assert.deepEqual(JSON.parse(live.stdout), JSON.parse(offline.stdout));
    } finally {
      await a.stop();
    }
  } finally {
    f.cleanup();
  }
});

Deno.test("live explain needs an explicit op:explain grant", async () => {
  const f = await Fixture.create();
  const a = await f.start();
  try {
    const r = await f.cli([
      "explain",
      "--live",
      "--subject",
      "app",
      "--op",
      "get",
      "--key",
      "app.db_password",
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /PermissionDenied\/UNAUTHORIZED/);
    const rec = f.auditRecords().at(-1)!;
    assert.equal(rec.target_id, "broker.explain");
    assert.equal(rec.decision, "deny");
  } finally {
    await a.stop();
    f.cleanup();
  }
});

Deno.test("bundle create, verify and show through the CLI (production Argon2id)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-bundle-" });
  try {
    Deno.writeTextFileSync(`${dir}/pass`, "correct horse battery staple\n", { mode: 0o600 });
    Deno.writeTextFileSync(`${dir}/wrong`, "incorrect\n", { mode: 0o600 });
    Deno.writeFileSync(`${dir}/dek`, crypto.getRandomValues(new Uint8Array(32)), { mode: 0o600 });
    const b = `${dir}/bundle.sealed`;
    const c = await basil([
      "bundle",
      "create",
      b,
      "--slot",
      `passphrase:file=${dir}/pass`,
      "--backend",
      `id=local,type=db-keystore,path=${dir}/ks.db,dek-file=${dir}/dek`,
    ]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout, `wrote sealed bundle to ${b}\n`);
    assert.equal(Deno.statSync(b).mode! & 0o777, 0o600);
    const again = await basil(["bundle", "create", b, "--slot", `passphrase:file=${dir}/pass`]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists/);
    const v = await basil(["bundle", "verify", b, "--open", `passphrase:file=${dir}/pass`]);
    assert.equal(v.stdout, "bundle unlock verified\n");
    const bad = await basil(["bundle", "verify", b, "--open", `passphrase:file=${dir}/wrong`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /no configured unlock slot opened it/);
    const show = await basil(["bundle", "show", b]);
    assert.match(
      show.stdout,
      /^bundle: .*\nepoch: 1\nslots: 1\ndeposits: 0\nslot 0: method=passphrase, label=passphrase\n$/,
    );
    const open = await basil(["bundle", "show", b, "--open", `passphrase:file=${dir}/pass`]);
    assert.match(open.stdout, /backend local: kind=db-keystore-dek\n$/);
    const loose = `${dir}/loose`;
    Deno.writeFileSync(loose, crypto.getRandomValues(new Uint8Array(32)), { mode: 0o644 });
    Deno.chmodSync(loose, 0o644);
    const l = await basil([
      "bundle",
      "create",
      `${dir}/b2`,
      "--slot",
      `passphrase:file=${dir}/pass`,
      "--backend",
      `id=x,type=db-keystore,path=/x,dek-file=${loose}`,
    ]);
    assert.equal(l.code, 1);
    assert.match(l.stderr, /mode is 0644, must be 0600/);
    // The passphrase slot really uses the production Argon2id costs.
    const body = new TextDecoder().decode(Deno.readFileSync(b).slice(11));
    assert.match(body, /"m_cost_kib":65536,"t_cost":3,"p_cost":1/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("basil demo runs end to end and can be rerun", async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-demo-e2e-" });
  try {
    for (let i = 0; i < 2; i++) {
      const r = await basil(["demo", "--dir", `${dir}/demo`]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /healthy and ready on /);
      assert.match(
        r.stdout,
        /\$ printf 'release v1\.0\.0' \| basil sign --key-id demo\.signing_key -\n {2}[0-9a-f]{128}\n/,
      );
      assert.match(r.stdout, /\| basil verify [^\n]*\n {2}true\n/);
      assert.ok(!r.stdout.includes("visible to other local users"), "the tour uses stdin");
      assert.match(
        r.stdout,
        /\$ basil get --key-id demo\.signing_key[^\n]*\n {2}Error: agent status \[PermissionDenied\/UNAUTHORIZED\]/,
      );
      assert.match(
        r.stdout,
        /DENY {3}subject current-user {2}get {2}demo\.signing_key {2}\(not_permitted\)/,
      );
      assert.match(r.stdout, /ALLOW {2}subject current-user {2}sign {2}demo\.signing_key/);
      assert.match(r.stdout, /algorithm: aes256-gcm\n {2}version: 1\n {2}nonce: [0-9a-f]{24}\n/);
      assert.match(r.stdout, /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+\n {2}expires_at: /);
      assert.match(r.stdout, /"op":"rotate"/);
      assert.match(r.stdout, /Try it yourself/);
    }
    assert.equal(Deno.statSync(`${dir}/demo`).mode! & 0o777, 0o700);
    const other = `${dir}/precious`;
    Deno.mkdirSync(other);
    Deno.writeTextFileSync(`${other}/keep.txt`, "mine");
    const refused = await basil(["demo", "--dir", other]);
    assert.equal(refused.code, 1);
    assert.equal(Deno.readTextFileSync(`${other}/keep.txt`), "mine");
    // Even an empty directory of the user's is never marked (a later rerun would wipe it).
    const empty = `${dir}/empty`;
    Deno.mkdirSync(empty, { mode: 0o755 });
    const refusedEmpty = await basil(["demo", "--dir", empty]);
    assert.equal(refusedEmpty.code, 1);
    assert.match(refusedEmpty.stderr, /already exists and was not created by basil demo/);
    assert.deepEqual([...Deno.readDirSync(empty)], [], "nothing written, no marker");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("INIT_CWD: a stray value is ignored outside the project root, honoured in it", async () => {
  const f = await Fixture.create();
  const stray = await Deno.makeTempDir({ prefix: "basil-stray-initcwd-" });
  try {
    // `-c basil-agent.toml` is relative: it only exists in the fixture's dir.
    const args = ["agent", "-c", "basil-agent.toml", "--print-permissions"];
    // npm (or a shell) left INIT_CWD behind; the user runs basil in f.dir.
    const own = await basil(args, { cwd: f.dir, env: { INIT_CWD: stray } });
    assert.equal(own.code, 0, own.stderr);
    assert.match(own.stdout, new RegExp(`--allow-net=unix:${f.socket}`));
    // `deno task basil` runs cli.ts in the project root with INIT_CWD = the caller's dir.
    const task = await basil(args, { cwd: ROOT, env: { INIT_CWD: f.dir } });
    assert.equal(task.code, 0, task.stderr);
    assert.equal(task.stdout, own.stdout);
    // In the root INIT_CWD is honoured whoever set it: that is the deno task case,
    // and the proof that the first run really ignored it.
    const wrong = await basil(args, { cwd: ROOT, env: { INIT_CWD: stray } });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /basil-agent\.toml/);
  } finally {
    f.cleanup();
    Deno.removeSync(stray, { recursive: true });
  }
});

Deno.test("a closed stdout ends the CLI quietly: list | true, list | head -1", async () => {
  const f = await Fixture.create();
  const a = await f.start();
  try {
    const cmd = basilCommand(["--socket", f.socket, "list"]).map((x) => `'${x}'`).join(" ");
    // `true` exits at once, so every write of the CLI meets a closed pipe (EPIPE).
    for (const reader of ["true", "head -1"]) {
      const o = await new Deno.Command("bash", {
        args: ["-c", `set -o pipefail; ${cmd} | ${reader}`],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(o.stderr);
      assert.equal(err, "", `${reader}: ${err}`);
      assert.equal(o.code, 0, reader);
    }
  } finally {
    await a.stop();
    f.cleanup();
  }
});

Deno.test("an unreachable agent is reported as agent status [Unavailable]", async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-nosock-" });
  try {
    const r = await basil(["--socket", `${dir}/none.sock`, "status"]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `^Error: agent status \\[Unavailable\\]: cannot reach the agent at ${dir}/none\\.sock`,
      ),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("encrypt, sign and verify warn about an argv payload, not about a file or stdin", async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-argvwarn-" });
  try {
    const sock = ["--socket", `${dir}/none.sock`];
    Deno.writeTextFileSync(`${dir}/p`, "secret", { mode: 0o600 });
    const cases: [string[], RegExp | undefined, string?][] = [
      [["encrypt", "--key-id", "k", "s3cret-canary"], /a plaintext .*--plaintext-file/],
      [["sign", "--key-id", "k", "s3cret-canary"], /a message .*--message-file/],
      [["verify", "--key-id", "k", "--signature", "00", "s3cret-canary"], /a message/],
      [["encrypt", "--key-id", "k", "--plaintext-file", `${dir}/p`], undefined],
      [["encrypt", "--key-id", "k", "-"], undefined, "from-stdin"],
      [["sign", "--key-id", "k", "--message-file", "-"], undefined, "from-stdin"],
    ];
    for (const [args, warn, stdin] of cases) {
      const r = await basil([...sock, ...args], stdin === undefined ? {} : { stdin });
      assert.equal(r.code, 1, "no agent: the call itself fails");
      const warnings = r.stderr.split("\n").filter((l) => l.startsWith("warning:"));
      if (warn) {
        assert.equal(warnings.length, 1, r.stderr);
        assert.match(warnings[0]!, /visible to other local users \(ps, \/proc/);
        assert.match(warnings[0]!, warn);
        assert.match(warnings[0]!, /or - for stdin/);
        assert.ok(!r.stderr.includes("s3cret-canary"));
      } else {
        assert.deepEqual(warnings, [], `${args.join(" ")}: ${r.stderr}`);
      }
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

function signingCatalog(): unknown {
  const key = (keyType: string, path: string) => ({
    class: "asymmetric",
    keyType,
    backend: "db",
    path,
    writable: true,
    missing: "warn",
    description: `Imported ${keyType}`,
  });
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: "${DB}",
        engines: ["transit", "kv2"],
        mintKeyTypes: ["ed25519", "ecdsa-p256"],
      },
    },
    keys: { "sig.ed": key("ed25519", "sig/ed"), "sig.p256": key("ecdsa-p256", "sig/p256") },
  };
}

function signingPolicy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid }] } },
    rules: [{ id: "app-sig", subjects: ["app"], action: ["*"], target: ["sig.*"] }],
  };
}

Deno.test("import --check: the material's key type must match the catalog keyType or --key-type", async () => {
  const f = await Fixture.create({ catalog: signingCatalog(), policy: signingPolicy });
  const a = await f.start();
  try {
    const p256 = `${f.dir}/p256.der`;
    const der = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey
      .export({ format: "der", type: "pkcs8" });
    Deno.writeFileSync(p256, new Uint8Array(der), { mode: 0o600 });
    const seed = `${f.dir}/seed`;
    Deno.writeFileSync(seed, crypto.getRandomValues(new Uint8Array(32)), { mode: 0o600 });

    // P-256 material for the Ed25519 catalog key: refused locally, before anything is sent.
    const wrong = await f.cli(["import", "--key-id", "sig.ed", "--pkcs8-file", p256, "--check"]);
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.stderr,
      /^Error: check failed: the key material is an ECDSA P-256 key, but the catalog keyType of sig\.ed is ed25519/,
    );
    // A seed with an explicit --key-type of another family: the error names --key-type.
    const flag = await f.cli([
      "import",
      "--key-id",
      "sig.p256",
      "--key-type",
      "ecdsa-p256",
      "--seed-file",
      seed,
      "--check",
    ]);
    assert.equal(flag.code, 1);
    assert.match(flag.stderr, /the key material is an Ed25519 seed, but --key-type is ecdsa-p256/);
    const listed = await f.cli(["list", "--prefix", "sig."]);
    assert.equal(
      listed.stdout,
      "sig.ed\tsigning\ted25519\t0\nsig.p256\tsigning\tecdsa-p256\t0\n",
      "nothing was imported",
    );
    assert.ok(!f.auditRecords().some((r) => r.op === "import"), "the agent was never asked");

    // The matching material passes, checked under the catalog's keyType (not an
    // ed25519 guess) with no --key-type given.
    const ok = await f.cli(["import", "--key-id", "sig.p256", "--pkcs8-file", p256, "--check"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^key_id: sig\.p256\npublic_key: [0-9a-f]+\ncheck: ok\n$/);
    const okEd = await f.cli(["import", "--key-id", "sig.ed", "--seed-file", seed, "--check"]);
    assert.equal(okEd.code, 0, okEd.stderr);
    assert.match(okEd.stdout, /check: ok\n$/);
  } finally {
    await a.stop();
    f.cleanup();
  }
});
