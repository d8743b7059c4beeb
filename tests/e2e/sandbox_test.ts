/**
 * The agent runs under a Deno permission set derived from its config. This
 * test reads the live agent's real flags from /proc/<pid>/cmdline, checks
 * they are all scoped, then runs a probe under exactly those flags: files,
 * sockets, environment, programs and libraries outside them are denied.
 * The agent process also starts from an emptied environment: a secret in the
 * launcher's environment never reaches it.
 */

import assert from "node:assert/strict";
import { ROOT } from "../helpers/cli.ts";
import { Fixture, readProc, RunningAgent } from "../helpers/fixture.ts";
import { GRPC_ENV } from "../../lib/sandbox/permissions.ts";
import { RUNTIME_ENV } from "../../lib/sandbox/launch.ts";

function agentFlags(pid: number): { flags: string[]; args: string[] } {
  const argv = new TextDecoder().decode(readProc(`/proc/${pid}/cmdline`)).split("\0")
    .filter((x) => x !== "");
  const run = argv.indexOf("run");
  const main = argv.findIndex((a) => a.endsWith("/main.ts"));
  assert.ok(run >= 0 && main > run, `unexpected agent argv: ${argv.join(" ")}`);
  const flags = argv.slice(run + 1, main);
  const c = flags.indexOf("--config");
  if (c >= 0) flags.splice(c, 2);
  return { flags, args: argv.slice(main + 1) };
}

Deno.test("the running agent's permissions are exactly what its config names", async () => {
  const f = await Fixture.create();
  const outsideDir = await Deno.makeTempDir({ prefix: "basil-outside-" });
  const outside = `${outsideDir}/secret.txt`;
  Deno.writeTextFileSync(outside, "outside-canary");
  const a = await f.start();
  try {
    const pid = a.agentPid;
    assert.ok(pid, "agent pid");
    const { flags } = agentFlags(pid!);
    const allows = flags.filter((x) => x.startsWith("--allow") || x === "-A");
    assert.ok(flags.includes("--no-prompt"));
    for (const x of allows) {
      assert.match(x, /^--allow-(read|write|net|ffi|env)=./, `broad flag ${x}`);
    }
    const get = (kind: string) =>
      (allows.find((x) => x.startsWith(`--allow-${kind}=`)) ?? "").split("=")[1]!.split(",");
    assert.deepEqual(get("net"), [`unix:${f.socket}`]);
    assert.equal(get("ffi").length, 1);
    assert.match(get("ffi")[0]!, /libc\.so\.6$/);
    const read = new Set(get("read"));
    for (
      const p of [f.config, f.catalog, f.policy, f.bundle, f.passphrase, f.db, f.audit, f.socket]
    ) {
      assert.ok(read.has(p), `read ${p}`);
    }
    assert.ok(!read.has(f.dek), "the DEK file is sealed in the bundle; the agent never reads it");
    assert.ok(![...read].some((p) => p === f.dir || p === "/" || p === "/tmp"), "no directories");
    const write = new Set(get("write"));
    for (const p of [f.config, f.catalog, f.policy, f.bundle]) {
      assert.ok(!write.has(p), `write ${p}`);
    }
    // The fixture sets unlock-passphrase-no-wipe: the agent never wipes, so never writes, it.
    assert.ok(!write.has(f.passphrase), "no write on a passphrase file it does not wipe");

    const probe = await new Deno.Command("deno", {
      args: [
        "run",
        "--quiet",
        "--config",
        `${ROOT}/deno.json`,
        ...flags.filter((x) => x !== "--quiet"),
        `${ROOT}/tests/fixtures/sandbox/probe.ts`,
        f.catalog,
        outside,
        `${f.dir}/not-granted.txt`,
      ],
      env: { HOME: "/root" },
    }).output();
    const text = new TextDecoder().decode(probe.stdout);
    assert.equal(probe.code, 0, new TextDecoder().decode(probe.stderr));
    const r = JSON.parse(text);
    assert.equal(r.read_allowed, "allowed");
    for (
      const k of [
        "read_outside",
        "read_shadow",
        "read_dir_listing",
        "write_outside",
        "env_home",
        "net_tcp",
        "run_sh",
        "ffi_other_lib",
        "sys_hostname",
      ]
    ) assert.equal(r[k], "denied", k);
    assert.match(r.agent_reader, /outside the agent's sandbox/);
    assert.ok(!text.includes("outside-canary"));
  } finally {
    await a.stop();
    f.cleanup();
    Deno.removeSync(outsideDir, { recursive: true });
  }
});

Deno.test("the agent process gets only its allowed environment, never the launcher's secrets", async () => {
  const f = await Fixture.create();
  const canary = `canary-${crypto.randomUUID()}`;
  // The launcher inherits these (RunningAgent.spawn does not clear the environment).
  const set: Record<string, string> = {
    BASIL_CANARY_SECRET: canary,
    VAULT_TOKEN: canary,
    GRPC_VERBOSITY: "ERROR",
  };
  const saved = Object.fromEntries(Object.keys(set).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(set)) Deno.env.set(k, v);
  let a: RunningAgent | undefined;
  try {
    a = RunningAgent.spawn(f);
    await a.ready();
    const launcherEnv = new TextDecoder().decode(readProc(`/proc/${a.child.pid}/environ`));
    assert.ok(launcherEnv.includes(canary), "the launcher itself did inherit the canary");
    const pid = a.agentPid;
    assert.ok(pid, "agent pid");
    const environ = new TextDecoder().decode(readProc(`/proc/${pid}/environ`));
    assert.ok(!environ.includes(canary), "the canary is not in the agent's environment");
    const names = environ.split("\0").filter((x) => x !== "").map((x) =>
      x.slice(0, x.indexOf("="))
    );
    assert.ok(names.includes("GRPC_VERBOSITY"), `an allowed variable is passed: ${names}`);
    // Deno itself may add its own (e.g. a node-compat PATH entry); nothing from the launcher else.
    const allowed = new Set([...GRPC_ENV, ...RUNTIME_ENV, "PATH", "DENO_NODE_SHIM_ACTIVE"]);
    for (const n of names) assert.ok(allowed.has(n), `unexpected agent variable ${n}`);
    assert.ok(!names.includes("HOME") && !names.includes("VAULT_TOKEN"));
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
    await a?.stop();
    f.cleanup();
  }
});
