/**
 * 1Password end to end: a real agent whose bundle was made with
 * `basil bundle create --backend id=op,type=1password,...` serves values
 * from the fake `op` (tests/fakes/op) through the socket and CLI; the
 * service-account token (a canary) reaches `op` only in its environment:
 * never its argv, the agent's environment or command line, or any output.
 * And the sandbox: after start the agent can run exactly that `op`.
 */

import assert from "node:assert/strict";
import { basil, ROOT } from "../helpers/cli.ts";
import { Fixture, readProc } from "../helpers/fixture.ts";
import { type FakeOp, installFakeOp } from "../fakes/op/fake_op.ts";

const toHex = (s: string) =>
  [...new TextEncoder().encode(s)].map((b) => b.toString(16).padStart(2, "0")).join("");

const TOKEN = `ops_CANARY${crypto.randomUUID().replaceAll("-", "")}`;

function opCatalog(): unknown {
  return {
    schemaVersion: 1,
    backends: { op: { kind: "keystore", addr: "onepassword+token://Private", engines: ["kv2"] } },
    keys: {
      "app.db_password": {
        class: "value",
        backend: "op",
        path: "db/password",
        writable: true,
        missing: "generate",
        generate: { format: "ascii-printable", bytes: 24 },
        description: "Generated into 1Password at start",
      },
      "app.api_token": {
        class: "value",
        backend: "op",
        path: "api/token",
        writable: true,
        missing: "warn",
        description: "Set by the operator",
      },
    },
  };
}

/** A fixture whose bundle holds only the 1Password credential, made by the CLI. */
async function opFixture(): Promise<Fixture> {
  const f = await Fixture.create({ catalog: opCatalog() });
  Deno.removeSync(f.bundle);
  // The token-carrying URI comes from an owner-only file, never argv.
  const uriFile = `${f.dir}/op-uri`;
  Deno.writeTextFileSync(uriFile, `onepassword+token://${TOKEN}@Private\n`, { mode: 0o600 });
  const c = await basil([
    "bundle",
    "create",
    f.bundle,
    "--slot",
    `passphrase:file=${f.passphrase}`,
    "--backend",
    `id=op,type=1password,provider-uri-file=${uriFile},project=shop,profile=prod`,
  ]);
  assert.equal(c.code, 0, c.stderr);
  assert.ok(!(c.stdout + c.stderr).includes(TOKEN));
  return f;
}

/** Runs `fn` with the fake's bin directory first on PATH (the launcher resolves `op` there). */
async function withOpOnPath<T>(fake: FakeOp, fn: () => Promise<T>): Promise<T> {
  const old = Deno.env.get("PATH") ?? "";
  Deno.env.set("PATH", `${fake.binDir}:${old}`);
  try {
    return await fn();
  } finally {
    Deno.env.set("PATH", old);
  }
}

Deno.test("1password: an agent serves values from op; the token stays out of argv, env and output", async () => {
  const fake = await installFakeOp({ tokens: [TOKEN] });
  const f = await opFixture();
  try {
    const a = await withOpOnPath(fake, () => f.start());
    try {
      // Reconcile generated app.db_password into 1Password before bind.
      const [gen] = await fake.items() as { title: string; tags: string[] }[];
      assert.equal(gen!.title, "basil/shop/prod/db/password");
      assert.deepEqual(gen!.tags, ["automated", "shop"]);
      const got = await f.cli(["get", "--key-id", "app.db_password"]);
      assert.equal(got.code, 0, got.stderr);
      assert.match(got.stdout, /^version: 1\nvalue: [0-9a-f]{48}\n$/);

      assert.notEqual((await f.cli(["get", "--key-id", "app.api_token"])).code, 0, "absent");
      const value = `tok-${crypto.randomUUID()}`;
      const set = await f.cli(["set", "--key-id", "app.api_token", "--value-file", "-"], {
        stdin: value,
      });
      assert.equal(set.code, 0, set.stderr);
      const back = await f.cli(["get", "--key-id", "app.api_token", "--raw"]);
      assert.equal(back.code, 0, back.stderr);
      assert.equal(back.stdout, value);
      const set2 = await f.cli(["set", "--key-id", "app.api_token", "--value-file", "-"], {
        stdin: "second",
      });
      assert.equal(set2.code, 0, set2.stderr);
      const second = await f.cli(["get", "--key-id", "app.api_token"]);
      assert.equal(second.stdout, `version: 2\nvalue: ${toHex("second")}\n`);

      // An op failure reaches the caller as the opaque backend error, without op's words.
      await fake.configure({ fail: "unreachable" });
      const down = await f.cli(["get", "--key-id", "app.api_token"]);
      assert.notEqual(down.code, 0);
      assert.doesNotMatch(down.stdout + down.stderr, /1password\.com|dial tcp|\[ERROR\]/);
      await fake.configure({ fail: null });

      // The canary: nowhere but op's own environment.
      const calls = await fake.calls();
      assert.ok(calls.length >= 5);
      for (const c of calls) {
        assert.ok(!c.argv.join("\0").includes(TOKEN), `token in op argv: ${c.argv.join(" ")}`);
        assert.ok(!c.argv.join("\0").includes(value), "a value in op argv");
        assert.equal(c.auth, "token", "op got the token in its environment");
        assert.deepEqual(
          c.env.filter((n) => !["OP_SERVICE_ACCOUNT_TOKEN", "PWD", "LC_CTYPE"].includes(n)),
          [],
          `op's environment is only the token: ${c.env.join(",")}`,
        );
      }
      const dec = new TextDecoder();
      const environ = dec.decode(readProc(`/proc/${a.agentPid}/environ`));
      assert.ok(!environ.includes(TOKEN), "not in the agent's environment");
      assert.ok(!environ.includes("OP_SERVICE_ACCOUNT_TOKEN"));
      assert.ok(!dec.decode(readProc(`/proc/${a.agentPid}/cmdline`)).includes(TOKEN));
      const { stderr } = await a.stop();
      assert.ok(!stderr.includes(TOKEN), "not in the agent's log");
      assert.ok(!Deno.readTextFileSync(f.audit).includes(TOKEN));
    } finally {
      await a.stop();
    }
  } finally {
    f.cleanup();
    await fake.close();
  }
});

Deno.test("1password: the launcher refuses to start without an op on PATH", async () => {
  const fake = await installFakeOp({ tokens: [TOKEN] });
  const f = await opFixture();
  try {
    // A PATH holding deno (the launcher needs it) but no op.
    const denoDir = Deno.execPath().replace(/\/[^/]+$/, "");
    const res = await basil(["agent", "-c", f.config], { env: { PATH: denoDir } });
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /no executable `op` on PATH/);
  } finally {
    f.cleanup();
    await fake.close();
  }
});

/** The Deno flags and the agent's own arguments of a live agent process. */
function liveCommandLine(pid: number): { flags: string[]; args: string[] } {
  const argv = new TextDecoder().decode(readProc(`/proc/${pid}/cmdline`)).split("\0")
    .filter((x) => x !== "");
  const run = argv.indexOf("run");
  const main = argv.findIndex((a) => a.endsWith("/main.ts"));
  assert.ok(run >= 0 && main > run, `unexpected agent argv: ${argv.join(" ")}`);
  return { flags: argv.slice(run + 1, main), args: argv.slice(main + 1) };
}

Deno.test("1password sandbox: after start the agent runs exactly the resolved op, nothing else", async () => {
  const fake = await installFakeOp({ tokens: [TOKEN] });
  const f = await opFixture();
  const copyDir = `${fake.dir}/elsewhere`;
  Deno.mkdirSync(copyDir);
  Deno.copyFileSync(fake.opPath, `${copyDir}/op`);
  Deno.chmodSync(`${copyDir}/op`, 0o755);
  try {
    const live = await withOpOnPath(fake, () => f.start());
    const { flags, args } = liveCommandLine(live.agentPid);
    await live.stop();
    assert.deepEqual(flags.filter((x) => x.startsWith("--allow-run")), [
      `--allow-run=${fake.opPath}`,
    ]);
    const child = new Deno.Command("deno", {
      args: [
        "run",
        ...flags,
        `${ROOT}/tests/fakes/op/agent_op_probe.ts`,
        JSON.stringify({ op: fake.opPath, copy: `${copyDir}/op` }),
        "--",
        ...args,
      ],
      cwd: "/",
      clearEnv: true,
      env: { PATH: `${fake.binDir}:${Deno.env.get("PATH") ?? ""}` },
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) break;
      text += value;
    }
    child.kill("SIGTERM");
    await lines.cancel();
    const st = await child.status;
    const err = await stderr;
    assert.ok(text.includes("{"), err);
    const r = JSON.parse(text.trim()) as Record<string, string>;
    assert.deepEqual(r, {
      run_op_by_name: "allowed",
      run_op_by_path: "allowed",
      run_op_copy: "denied",
      run_sh: "denied",
      run_deno: "denied",
    });
    assert.equal(st.code, 0, err);
  } finally {
    f.cleanup();
    await fake.close();
  }
});
