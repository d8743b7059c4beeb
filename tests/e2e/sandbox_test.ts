/**
 * The agent's sandbox, as a second wall behind its own checks:
 *
 * 1. `basil agent` becomes the agent (one process, no launcher left): its
 *    live flags, read from /proc/<pid>/cmdline, grant only what its config
 *    names, no environment, and ffi for the start only; it starts from an
 *    emptied environment, so a secret in the launcher's never reaches it.
 * 2. Code running inside the agent's own process after start-up (the agent
 *    started exactly as main.ts starts it, with the live agent's flags and
 *    arguments, then probes) cannot load a library, make a pointer or a
 *    callback, read or write the wiped unlock file, read the bundle, touch a
 *    file outside the sandbox, run a program, read the environment or open a
 *    TCP connection; it can still read its catalog (hot reload), and it
 *    keeps serving.
 */

import assert from "node:assert/strict";
import { ROOT } from "../helpers/cli.ts";
import { childPids, Fixture, readProc, RunningAgent } from "../helpers/fixture.ts";
import { RUNTIME_ENV } from "../../lib/sandbox/launch.ts";

/** The Deno flags and the agent's own arguments of a live agent process. */
function liveCommandLine(pid: number): { flags: string[]; args: string[] } {
  const argv = new TextDecoder().decode(readProc(`/proc/${pid}/cmdline`)).split("\0")
    .filter((x) => x !== "");
  const run = argv.indexOf("run");
  const main = argv.findIndex((a) => a.endsWith("/main.ts"));
  assert.ok(run >= 0 && main > run, `unexpected agent argv: ${argv.join(" ")}`);
  return { flags: argv.slice(run + 1, main), args: argv.slice(main + 1) };
}

Deno.test("basil agent becomes the agent: one process, flags exactly what its config names", async () => {
  const f = await Fixture.create();
  const a = await f.start();
  try {
    const pid = a.agentPid;
    assert.deepEqual(childPids(pid), [], "no second process: the launcher exec'ed the agent");
    const { flags, args } = liveCommandLine(pid);
    assert.ok(flags.includes("--no-prompt"));
    const allows = flags.filter((x) => x.startsWith("--allow") || x === "-A");
    for (const x of allows) {
      assert.match(x, /^(--allow-(read|write|net)=.+|--allow-ffi)$/, `unexpected flag ${x}`);
    }
    const get = (kind: string) =>
      (allows.find((x) => x.startsWith(`--allow-${kind}=`)) ?? "").split("=")[1]!.split(",");
    assert.deepEqual(get("net"), [`unix:${f.socket}`]);
    const read = new Set(get("read"));
    for (const p of [f.config, f.catalog, f.policy, f.bundle, f.passphrase, f.db, f.audit]) {
      assert.ok(read.has(p), `read ${p}`);
    }
    assert.ok(!read.has(f.dek), "the DEK file is sealed in the bundle; the agent never reads it");
    assert.ok(![...read].some((p) => p === f.dir || p === "/" || p === "/tmp"), "no directories");
    const write = new Set(get("write"));
    for (const p of [f.config, f.catalog, f.policy, f.bundle, f.passphrase]) {
      assert.ok(!write.has(p), `write ${p}`);
    }
    // The libraries it opens before revoking ffi, by exact path.
    const arg = (k: string) => args[args.indexOf(k) + 1]!;
    assert.match(arg("--libc"), /^\/.*libc\.so\.6$/);
    assert.match(arg("--libnghttp2"), /^\/.*libnghttp2\.so\.14$/);
  } finally {
    await a.stop();
    f.cleanup();
  }
});

Deno.test("the agent process gets only Deno's own environment, never the launcher's secrets", async () => {
  const f = await Fixture.create();
  const canary = `canary-${crypto.randomUUID()}`;
  const set: Record<string, string> = { BASIL_CANARY_SECRET: canary, VAULT_TOKEN: canary };
  const saved = Object.fromEntries(Object.keys(set).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(set)) Deno.env.set(k, v);
  let a: RunningAgent | undefined;
  try {
    a = RunningAgent.spawn(f);
    await a.ready();
    const environ = new TextDecoder().decode(readProc(`/proc/${a.agentPid}/environ`));
    assert.ok(!environ.includes(canary), "the canary is not in the agent's environment");
    const names = environ.split("\0").filter((x) => x !== "").map((x) =>
      x.slice(0, x.indexOf("="))
    );
    // Deno itself may add its own (e.g. a node-compat PATH entry); nothing from the launcher else.
    const allowed = new Set([...RUNTIME_ENV, "PATH", "DENO_NODE_SHIM_ACTIVE"]);
    for (const n of names) assert.ok(allowed.has(n), `unexpected agent variable ${n}`);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
    await a?.stop();
    f.cleanup();
  }
});

Deno.test("inside the agent after start-up: no dlopen, no pointers, no unlock file, no bundle, no outside", async () => {
  const passphrase = new TextEncoder().encode(crypto.randomUUID());
  const f = await Fixture.create({ wipePassphrase: true }, { passphrase });
  const outsideDir = await Deno.makeTempDir({ prefix: "basil-outside-" });
  try {
    // The live agent's exact command line (it wipes the passphrase file as it starts).
    const live = await f.start();
    const { flags, args } = liveCommandLine(live.agentPid);
    assert.deepEqual(flags.filter((x) => x === "--allow-ffi"), ["--allow-ffi"]);
    await live.stop();
    assert.throws(() => Deno.statSync(f.passphrase), Deno.errors.NotFound, "wiped at start");

    // The same agent again, with probes in its own process once it serves.
    Deno.writeFileSync(f.passphrase, passphrase, { mode: 0o600 });
    Deno.writeTextFileSync(`${outsideDir}/secret.txt`, "outside-canary");
    const probe = {
      libc: args[args.indexOf("--libc") + 1],
      wipedUnlockFile: f.passphrase,
      bundle: f.bundle,
      outside: `${outsideDir}/secret.txt`,
      writeOutside: `${f.dir}/not-granted.txt`,
      catalog: f.catalog,
    };
    const child = new Deno.Command("deno", {
      args: [
        "run",
        ...flags,
        `${ROOT}/tests/fixtures/sandbox/agent_probe.ts`,
        JSON.stringify(probe),
        "--",
        ...args,
      ],
      cwd: "/",
      clearEnv: true,
      env: { PATH: Deno.env.get("PATH") ?? "" },
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
    const r = JSON.parse(text.trim()) as Record<string, string>;
    for (
      const k of [
        "dlopen_libc",
        "unsafe_pointer",
        "unsafe_callback",
        "read_wiped_unlock_file",
        "write_wiped_unlock_file",
        "read_bundle",
        "read_outside",
        "write_outside",
        "list_root",
        "run_program",
        "env_home",
        "net_tcp",
      ]
    ) assert.equal(r[k], "denied", `${k}: ${JSON.stringify(r)}`);
    assert.equal(r.read_catalog, "allowed", "the catalog stays readable (hot reload)");
    assert.ok(!text.includes("outside-canary"));
    // And it serves: a real CLI call through the socket.
    const h = await f.cli(["health", "--json"]);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(JSON.parse(h.stdout).alive, true);
    child.kill("SIGTERM");
    await lines.cancel();
    const st = await child.status;
    assert.equal(st.code, 0, await stderr);
  } finally {
    f.cleanup();
    Deno.removeSync(outsideDir, { recursive: true });
  }
});
