// deno-lint-ignore-file no-console
/**
 * The unlock suite of `deno task bench` (`--suite unlock`): the time from
 * start to socket bound with each kind of unlock slot, and how much of it
 * Argon2id takes, against floors measured in the same run
 * (guides/performance.md §2.6, §2.7, §4 R12).
 *
 * - One workdir per slot kind (tests/helpers/fixture.ts: catalog of four
 *   value keys on the embedded keystore, policy, config), its bundle
 *   re-created by the real CLI `basil bundle create --force` with ONLY
 *   that slot, so production parameters are used:
 *   - `passphrase` (Argon2id m = 64 MiB, t = 3, p = 1 over the passphrase);
 *   - `bip39` (the same Argon2id over a generated phrase's entropy; the
 *     agent wipes the phrase file, so it is rewritten before each start);
 *   - `age` through the plugin path (`[unlock] age-yubikey = true`: the
 *     agent has no setting for an X25519 identity file) with the fake
 *     `age-plugin-yubikey` of tests/unit/seal/fake_age_plugin.ts, which is
 *     itself a `deno run` process (a real plugin is a native binary plus
 *     the token's PIV operation and touch);
 *   - `tpm` (sealed to PCR 7 of a throwaway swtpm, `unlock-tpm` +
 *     `tpm-tcti`; a hardware TPM is slower than swtpm).
 *   Each is checked to have the expected slot and costs, and started once
 *   unmeasured (reconcile creates the keystore; caches warm).
 * - Per round, in fresh processes: `deno run` hello (no imports), hello +
 *   `import "@grpc/grpc-js"` (R12's ready-to-serve floor), the first
 *   hash-wasm Argon2id call with production costs (bench/argon2_first.ts,
 *   R12's unlock floor); one start of the agent per slot (order rotated
 *   each round): wall time from spawning `basil agent -c` (the launcher,
 *   which replaces itself with the sandboxed agent through execve) to its `"agent listening"`
 *   line (logged right after the bind; a connect is made to confirm), and
 *   from the agent's log timestamps the split spawn → "unlock slot opened"
 *   → "agent listening"; then unlock alone per slot in a fresh process
 *   (bench/unlock_inproc.ts, `unlockBundle` as the agent calls it), plus,
 *   informational, the age slot opened with an X25519 identity file.
 * - Attribution, per round: the agent started alone with the command line
 *   and environment the launcher exec'ed it with (captured from
 *   /proc/PID/cmdline and environ in the unmeasured pass, minus
 *   `--parent-pid`), the import of lib/daemon.ts's module graph
 *   in a fresh process (bench/import_probe.ts), and the launcher up to its
 *   plan (`basil agent -c … --print-permissions`, spawn to exit).
 * - Unpinned (start-up uses several threads). N ≥ 5 rounds (2 with
 *   `--quick`).
 * - R12: ready-to-serve ≤ 2 × hello+grpc-js, with the fastest slot's
 *   start → socket as "before unlock"; unlock (in-process, first call) ≤
 *   1.15 × the Argon2id first call, for the two Argon2id slots. Per round
 *   ratios, then the median (min–max).
 * @module
 */

import { generatePhrase } from "../lib/seal/bip39_phrase.ts";
import { decodeBundle } from "../lib/seal/format.ts";
import type { UnlockSettings } from "../lib/seal/unlock.ts";
import { basil, basilCommand, ROOT } from "../tests/helpers/cli.ts";
import { Fixture } from "../tests/helpers/fixture.ts";
import { Swtpm } from "../tests/helpers/swtpm.ts";
import { fakeKeyHex, fakeRecipient, newFakeYubikey } from "../tests/unit/seal/fake_age_plugin.ts";
import type { BenchEnv, ProcExec } from "./common.ts";
import { agg, fmt, fmtX, gatedSummary, lines, loadavg, procExec, writeResults } from "./common.ts";
import type { Agg } from "./common.ts";
import { median } from "./h.ts";

const GOAL = { ready: 2, unlock: 1.15 } as const;
const PRODUCTION = { m_cost_kib: 65536, t_cost: 3, p_cost: 1 } as const;
const q = JSON.stringify;
const dec = new TextDecoder();

type SlotKind = "passphrase" | "bip39" | "age" | "tpm";
const SLOT_KINDS: readonly SlotKind[] = ["passphrase", "bip39", "age", "tpm"];
const KDF_SLOTS: readonly SlotKind[] = ["passphrase", "bip39"];

/** A workdir whose bundle has one slot of `kind`. */
interface Rig {
  readonly kind: SlotKind;
  readonly f: Fixture;
  /** Extra environment for the agent (and the in-process unlock). */
  readonly env: Record<string, string>;
  /** The `[unlock]` settings of its config, for the in-process unlock. */
  readonly unlock: UnlockSettings;
  /** The slot as the bundle records it. */
  readonly slot: Record<string, unknown>;
  /** Restores what an unlock consumes (the BIP39 phrase file). */
  readonly before: () => void;
}

/** One start of the agent: through the launcher, or the agent process alone. */
interface StartSample {
  kind: SlotKind;
  round: number;
  via: "launcher" | "agent-alone";
  /** Spawn of the launcher → the `"agent listening"` line (ms). */
  start_to_socket_ms: number;
  /** Spawn → the confirming connect returned (ms). */
  connect_ms: number;
  /** From the agent's log timestamps (ms resolution): spawn → "unlock slot opened". */
  spawn_to_unlocked_ms: number;
  /** "unlock slot opened" → "agent listening" (log timestamps). */
  unlocked_to_listening_ms: number;
  method: string;
  load: string;
}

/** One unlock in a fresh process. */
interface InprocSample {
  kind: SlotKind | "age-x25519";
  round: number;
  import_ms: number;
  unlock_ms: number;
  wall_ms: number;
  method: string;
}

/** Rewrites the config's `[unlock]` table (the fixture writes it last). */
function setUnlock(f: Fixture, unlockLines: string[]): void {
  const text = Deno.readTextFileSync(f.config);
  Deno.writeTextFileSync(
    f.config,
    `${text.slice(0, text.indexOf("[unlock]"))}[unlock]\n${unlockLines.join("\n")}\n`,
  );
}

const baseUnlock: UnlockSettings = {
  passphraseNoWipe: true,
  ageYubikey: false,
  unlockTpm: false,
  strictBundlePerms: false,
};

/** `basil bundle create --force` of `f`'s bundle with one `--slot` and the keystore DEK. */
async function createBundle(f: Fixture, slot: string, env: Record<string, string> = {}) {
  const r = await basil([
    "bundle",
    "create",
    f.bundle,
    "--force",
    "--slot",
    slot,
    "--backend",
    `id=db,type=db-keystore,path=${f.db},dek-file=${f.dek}`,
  ], { env });
  if (r.code !== 0) throw new Error(`bundle create --slot ${slot}: ${r.stderr}`);
  const b = decodeBundle(Deno.readFileSync(f.bundle), f.bundle);
  if (b.slots.length !== 1) throw new Error(`bundle has ${b.slots.length} slots`);
  const s = b.slots[0]!;
  const p = s.params as Record<string, unknown>;
  return {
    method: s.method,
    label: s.label,
    ...(p.argon2 ? { argon2: p.argon2 } : {}),
    ...(p.kind === "tpm" ? { pcrs: p.pcrs } : {}),
    ...(p.kind === "age-yubikey" ? { recipient: p.recipient } : {}),
  };
}

/** A bin dir holding a fake `age-plugin-yubikey` (as tests/e2e/unlock_test.ts). */
function fakePluginBin(dir: string): { bin: string; recipient: string } {
  const token = newFakeYubikey();
  const bin = `${dir}/bin`;
  Deno.mkdirSync(bin, { recursive: true });
  const keyFile = `${dir}/fake-yubikey.hex`;
  Deno.writeTextFileSync(keyFile, fakeKeyHex(token), { mode: 0o600 });
  Deno.writeTextFileSync(
    `${bin}/age-plugin-yubikey`,
    `#!/bin/sh\nFAKE_AGE_PLUGIN_KEY=${q(keyFile)} exec ${q(Deno.execPath())} run --quiet ` +
      `--no-prompt --cached-only --allow-read --allow-env --config ${q(`${ROOT}/deno.json`)} ` +
      `${q(`${ROOT}/tests/unit/seal/fake_age_plugin.ts`)} "$@"\n`,
    { mode: 0o755 },
  );
  return { bin, recipient: fakeRecipient(token) };
}

async function makeRig(kind: SlotKind, tpm: Swtpm | undefined): Promise<Rig> {
  const f = await Fixture.create();
  const unlock = (extra: Partial<UnlockSettings>): UnlockSettings => ({ ...baseUnlock, ...extra });
  switch (kind) {
    case "passphrase": {
      const slot = await createBundle(f, `passphrase:file=${f.passphrase}`);
      return {
        kind,
        f,
        env: {},
        unlock: unlock({ passphraseFile: f.passphrase }),
        slot,
        before: () => {},
      };
    }
    case "bip39": {
      const phraseFile = `${f.dir}/phrase.txt`;
      const { entropy, phrase } = generatePhrase();
      entropy.wipe();
      const bytes = phrase.expose().slice();
      phrase.wipe();
      const write = () => Deno.writeFileSync(phraseFile, bytes, { mode: 0o600 });
      write();
      const slot = await createBundle(f, `bip39:file=${phraseFile}`);
      setUnlock(f, [`bip39-phrase-file = ${q(phraseFile)}`]);
      return {
        kind,
        f,
        env: {},
        unlock: unlock({ bip39PhraseFile: phraseFile }),
        slot,
        before: write,
      };
    }
    case "age": {
      const { bin, recipient } = fakePluginBin(f.dir);
      const env = { PATH: `${bin}:${Deno.env.get("PATH") ?? ""}` };
      const slot = await createBundle(f, `age-yubikey:recipient=${recipient}`, env);
      setUnlock(f, ["age-yubikey = true"]);
      return { kind, f, env, unlock: unlock({ ageYubikey: true }), slot, before: () => {} };
    }
    case "tpm": {
      if (!tpm) throw new Error("no swtpm");
      const env = { TSS2_LOG: "all+none" };
      const slot = await createBundle(f, "tpm:pcrs=7", { ...env, BASIL_TPM_TCTI: tpm.tcti });
      setUnlock(f, ["unlock-tpm = true", `tpm-tcti = ${q(tpm.tcti)}`]);
      return {
        kind,
        f,
        env,
        unlock: unlock({ unlockTpm: true, tpmTcti: tpm.tcti }),
        slot,
        before: () => {},
      };
    }
  }
}

/** The agent as the launcher exec'ed it: its command line and its whole environment. */
type AgentExec = ProcExec;

/**
 * Spawns `basil agent -c` (or, with `alone`, that command line and
 * environment: the agent without the launcher), times it to the `"agent
 * listening"` line, confirms with a connect, stops it. With `capture`, also
 * returns what the launcher exec'ed (read from /proc), minus `--parent-pid`.
 */
async function timedStart(
  rig: Rig,
  round: number,
  o: { alone?: AgentExec; capture?: boolean } = {},
): Promise<StartSample & { agentExec?: AgentExec }> {
  rig.before();
  const load = loadavg();
  const [cmd, ...args] = o.alone?.argv ?? basilCommand(["agent", "-c", rig.f.config]);
  const wall0 = performance.timeOrigin + performance.now();
  const t0 = performance.now();
  const child = new Deno.Command(cmd!, {
    args,
    cwd: ROOT,
    ...(o.alone ? { clearEnv: true, env: { ...o.alone.env } } : {
      env: { NO_COLOR: "1", ...rig.env },
    }),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = lines(child.stderr);
  let text = "";
  const logTs = new Map<string, number>();
  let method = "";
  let listenAt: number | undefined;
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    for (;;) {
      const r = await reader.next();
      if (r.done) break;
      const at = performance.now();
      text += r.value + "\n";
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(r.value);
      } catch {
        continue;
      }
      const msg = String(j.msg);
      if (!logTs.has(msg)) logTs.set(msg, Date.parse(String(j.ts)));
      if (msg === "unlock slot opened") method = String(j.method);
      if (msg === "agent listening") {
        listenAt = at;
        break;
      }
    }
    if (listenAt === undefined) {
      throw new Error(`${rig.kind}: the agent exited before listening:\n${text}`);
    }
    const conn = await Deno.connect({ transport: "unix", path: rig.f.socket });
    const connectAt = performance.now();
    conn.close();
    let agentExec: AgentExec | undefined;
    if (o.capture) {
      // The launcher exec'ed the agent in place: same pid, the agent's argv and environment.
      const { argv, env } = procExec(child.pid);
      agentExec = {
        argv: argv.filter((a, i) => a !== "--parent-pid" && argv[i - 1] !== "--parent-pid"),
        env,
      };
    }
    const drained = (async () => {
      for (;;) {
        const r = await reader.next();
        if (r.done) return;
        text += r.value + "\n";
      }
    })();
    // Not timed. A SIGTERM within a few ms of "agent listening" can kill the agent process
    // before its signal listeners take effect (exit 143, no "agent stopping"): let it settle.
    await new Promise((r) => setTimeout(r, 50));
    child.kill("SIGTERM");
    const st = await child.status;
    await drained;
    if (st.code !== 0) throw new Error(`${rig.kind}: agent exited ${st.code}:\n${text}`);
    const unlocked = logTs.get("unlock slot opened")!;
    const listening = logTs.get("agent listening")!;
    return {
      kind: rig.kind,
      round,
      via: o.alone ? "agent-alone" : "launcher",
      ...(agentExec ? { agentExec } : {}),
      start_to_socket_ms: +(listenAt - t0).toFixed(2),
      connect_ms: +(connectAt - t0).toFixed(2),
      spawn_to_unlocked_ms: +(unlocked - wall0).toFixed(1),
      unlocked_to_listening_ms: listening - unlocked,
      method,
      load,
    };
  } finally {
    clearTimeout(timer);
  }
}

const FLOOR_FLAGS = ["run", "--no-prompt", "--quiet", "--config", `${ROOT}/deno.json`];

/** Runs `deno <args>` to exit; wall ms from spawn to exit and the last stdout line. */
async function timedRun(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ wall_ms: number; last: string }> {
  const t0 = performance.now();
  const o = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wall = performance.now() - t0;
  if (!o.success) throw new Error(`deno ${args.join(" ")}: ${dec.decode(o.stderr)}`);
  return { wall_ms: +wall.toFixed(2), last: dec.decode(o.stdout).trim().split("\n").pop() ?? "" };
}

async function unlockInproc(
  mode: "unlock" | "open-x25519",
  input: unknown,
  env: Record<string, string>,
): Promise<{ import_ms: number; unlock_ms: number; method: string; wall_ms: number }> {
  const r = await timedRun([
    ...FLOOR_FLAGS,
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-ffi",
    "--allow-run",
    "--allow-sys",
    `${ROOT}/bench/unlock_inproc.ts`,
    mode,
    JSON.stringify(input),
  ], env);
  return { ...JSON.parse(r.last), wall_ms: r.wall_ms };
}

/** Runs the unlock suite, prints its tables and writes its results file. */
export async function runUnlock(env: BenchEnv): Promise<void> {
  const log = env.log;
  const started = new Date();
  const rounds = env.quick ? 2 : Math.max(5, env.rounds);
  log(
    `basil bench unlock: Deno ${Deno.version.deno}, ${rounds} round(s) of fresh processes, ` +
      `unpinned; load ${loadavg()}`,
  );
  Deno.env.set("TSS2_LOG", "all+none");
  let tpm: Swtpm | undefined;
  let tpmError: string | undefined;
  try {
    tpm = await Swtpm.start();
  } catch (e) {
    tpmError = e instanceof Error ? e.message : String(e);
  }
  const rigs: Rig[] = [];
  const skipped: Record<string, string> = {};
  const x25519: { f?: Fixture; identity?: string; error?: string } = {};
  const starts: StartSample[] = [];
  const inproc: InprocSample[] = [];
  const floors: {
    round: number;
    hello_ms: number;
    hello_grpc_ms: number;
    argon2: { import_ms: number; first_ms: number; second_ms: number; wall_ms: number };
    /** Fresh process: `await import("lib/daemon.ts")` alone, and that process spawn → exit. */
    daemon_import_ms: number;
    daemon_import_wall_ms: number;
    /** `basil agent -c … --print-permissions`: the launcher up to its plan, spawn → exit. */
    launcher_plan_ms: number;
    load: string;
  }[] = [];
  try {
    for (const kind of SLOT_KINDS) {
      if (kind === "tpm" && !tpm) {
        skipped[kind] = `swtpm did not start: ${tpmError}`;
        continue;
      }
      try {
        const rig = await makeRig(kind, tpm);
        rigs.push(rig);
        log(`  ${kind}: bundle slot ${JSON.stringify(rig.slot)}`);
        const a2 = rig.slot.argon2 as typeof PRODUCTION | undefined;
        if (
          KDF_SLOTS.includes(kind) &&
          (a2?.m_cost_kib !== PRODUCTION.m_cost_kib || a2?.t_cost !== PRODUCTION.t_cost ||
            a2?.p_cost !== PRODUCTION.p_cost)
        ) {
          throw new Error(`${kind}: the CLI did not use the production Argon2 costs`);
        }
      } catch (e) {
        skipped[kind] = e instanceof Error ? e.message : String(e);
        log(`  ${kind}: SKIPPED: ${skipped[kind]}`);
      }
    }
    // Informational: the age slot opened with an X25519 identity file (age-keygen).
    try {
      const f = await Fixture.create();
      const identity = `${f.dir}/age-id.txt`;
      const k = await new Deno.Command("age-keygen", { args: ["-o", identity], stderr: "piped" })
        .output();
      if (!k.success) throw new Error(`age-keygen: ${dec.decode(k.stderr)}`);
      Deno.chmodSync(identity, 0o600);
      const recipient = /age1[0-9a-z]+/.exec(Deno.readTextFileSync(identity))![0];
      await createBundle(f, `age-yubikey:recipient=${recipient}`);
      x25519.f = f;
      x25519.identity = identity;
    } catch (e) {
      x25519.error = e instanceof Error ? e.message : String(e);
      log(`  age-x25519 (in process): SKIPPED: ${x25519.error}`);
    }

    const floorRound = async (round: number) => {
      const load = loadavg();
      const hello = await timedRun([...FLOOR_FLAGS, `${ROOT}/bench/hello.ts`]);
      const grpc = await timedRun([
        ...FLOOR_FLAGS,
        "--allow-read",
        "--allow-env",
        `${ROOT}/bench/hello_grpc.ts`,
      ]);
      const a = await timedRun([
        ...FLOOR_FLAGS,
        "--allow-read",
        "--allow-env",
        `${ROOT}/bench/argon2_first.ts`,
      ]);
      const argon2 = { ...JSON.parse(a.last), wall_ms: a.wall_ms };
      // Attribution: the agent's module graph alone, and the launcher up to its plan.
      const imp = await timedRun([
        ...FLOOR_FLAGS,
        "--allow-read",
        "--allow-env",
        "--allow-ffi",
        "--allow-sys",
        `${ROOT}/bench/import_probe.ts`,
      ]);
      const plan = await timedRun(
        basilCommand(["agent", "-c", rigs[0]!.f.config, "--print-permissions"]).slice(1),
        { NO_COLOR: "1", ...rigs[0]!.env },
      );
      return {
        round,
        hello_ms: hello.wall_ms,
        hello_grpc_ms: grpc.wall_ms,
        argon2,
        daemon_import_ms: JSON.parse(imp.last).import_ms as number,
        daemon_import_wall_ms: imp.wall_ms,
        launcher_plan_ms: plan.wall_ms,
        load,
      };
    };
    const inprocRound = async (round: number) => {
      for (const rig of rigs) {
        rig.before();
        const r = await unlockInproc("unlock", {
          bundlePath: rig.f.bundle,
          unlock: rig.unlock,
        }, rig.env);
        inproc.push({ kind: rig.kind, round, ...r });
      }
      if (x25519.f) {
        const r = await unlockInproc("open-x25519", {
          bundlePath: x25519.f.bundle,
          identity: x25519.identity,
        }, {});
        inproc.push({ kind: "age-x25519", round, ...r });
      }
    };

    // Unmeasured pass: keystores created by reconcile, sidecars, Deno caches.
    await floorRound(0);
    /** The agent's own command line and environment per slot, as the launcher execs it. */
    const agentExec = new Map<SlotKind, AgentExec>();
    for (const rig of rigs) {
      agentExec.set(rig.kind, (await timedStart(rig, 0, { capture: true })).agentExec!);
      await timedStart(rig, 0, { alone: agentExec.get(rig.kind)! });
    }
    await inprocRound(0);
    inproc.length = 0;

    for (let round = 1; round <= rounds; round++) {
      const fl = await floorRound(round);
      floors.push(fl);
      log(
        `round ${round} floors: hello ${fl.hello_ms} ms, hello+grpc-js ${fl.hello_grpc_ms} ms, ` +
          `Argon2id first call ${fl.argon2.first_ms} ms (import ${fl.argon2.import_ms}, ` +
          `second ${fl.argon2.second_ms}) (load ${fl.load.split(" ")[0]})`,
      );
      const order = rigs.map((_, i) => rigs[(i + round) % rigs.length]!);
      for (const rig of order) {
        const s = await timedStart(rig, round);
        starts.push(s);
        log(
          `round ${round} start ${rig.kind.padEnd(10)} → socket ${s.start_to_socket_ms} ms ` +
            `(spawn → unlocked ${s.spawn_to_unlocked_ms}, unlocked → listening ` +
            `${s.unlocked_to_listening_ms}; opened by ${s.method}) (load ${s.load.split(" ")[0]})`,
        );
        if (s.method !== rig.slot.method) {
          throw new Error(`${rig.kind}: opened by ${s.method}, not ${rig.slot.method}`);
        }
      }
      for (const rig of order) {
        const s = await timedStart(rig, round, { alone: agentExec.get(rig.kind)! });
        starts.push(s);
        log(
          `round ${round} agent alone ${rig.kind.padEnd(10)} → socket ${s.start_to_socket_ms} ms ` +
            `(spawn → unlocked ${s.spawn_to_unlocked_ms}) (load ${s.load.split(" ")[0]})`,
        );
      }
      log(
        `round ${round} attribution: import lib/daemon.ts ${fl.daemon_import_ms} ms ` +
          `(process ${fl.daemon_import_wall_ms}), launcher to its plan ${fl.launcher_plan_ms} ms`,
      );
      await inprocRound(round);
      log(
        `round ${round} unlock in process: ` +
          inproc.filter((x) => x.round === round).map((x) =>
            `${x.kind} ${x.unlock_ms} ms (import ${x.import_ms})`
          ).join(", "),
      );
    }
  } finally {
    for (const rig of rigs) rig.f.cleanup();
    x25519.f?.cleanup();
    await tpm?.stop();
  }

  // ---------------------------------------------------------------- report

  const rs = floors.map((f) => f.round);
  const startOf = (k: SlotKind, r: number, via: StartSample["via"] = "launcher") =>
    starts.find((s) => s.kind === k && s.round === r && s.via === via);
  const inprocOf = (k: string, r: number) => inproc.find((s) => s.kind === k && s.round === r);
  const kinds = rigs.map((r) => r.kind);
  const floorAgg = {
    hello_ms: agg(floors.map((f) => f.hello_ms)),
    hello_grpc_ms: agg(floors.map((f) => f.hello_grpc_ms)),
    daemon_import_ms: agg(floors.map((f) => f.daemon_import_ms)),
    daemon_import_wall_ms: agg(floors.map((f) => f.daemon_import_wall_ms)),
    launcher_plan_ms: agg(floors.map((f) => f.launcher_plan_ms)),
    argon2_first_ms: agg(floors.map((f) => f.argon2.first_ms)),
    argon2_import_ms: agg(floors.map((f) => f.argon2.import_ms)),
    argon2_second_ms: agg(floors.map((f) => f.argon2.second_ms)),
    argon2_wall_ms: agg(floors.map((f) => f.argon2.wall_ms)),
  };
  const slotMed = (k: SlotKind) =>
    median(
      starts.filter((s) => s.kind === k && s.via === "launcher").map((s) => s.start_to_socket_ms),
    );
  const nonKdf = kinds.filter((k) => !KDF_SLOTS.includes(k));
  /** The fastest slot by median start → socket ("before unlock" for R12). */
  const fastest = [...kinds].sort((a, b) => slotMed(a) - slotMed(b))[0];
  const fastestNonKdf = [...nonKdf].sort((a, b) => slotMed(a) - slotMed(b))[0];
  const perSlot = Object.fromEntries(kinds.map((k) => {
    const ss = starts.filter((s) => s.kind === k && s.via === "launcher");
    const alone = starts.filter((s) => s.kind === k && s.via === "agent-alone");
    const ip = inproc.filter((s) => s.kind === k);
    const isKdf = KDF_SLOTS.includes(k);
    const A = (fn: (r: number) => number) => agg(rs.map(fn).filter((x) => Number.isFinite(x)));
    return [k, {
      slot: rigs.find((r) => r.kind === k)!.slot,
      start_to_socket_ms: agg(ss.map((s) => s.start_to_socket_ms)),
      connect_ms: agg(ss.map((s) => s.connect_ms)),
      spawn_to_unlocked_ms: agg(ss.map((s) => s.spawn_to_unlocked_ms)),
      unlocked_to_listening_ms: agg(ss.map((s) => s.unlocked_to_listening_ms)),
      inproc_unlock_ms: agg(ip.map((s) => s.unlock_ms)),
      inproc_import_ms: agg(ip.map((s) => s.import_ms)),
      /** The agent process alone (its own command line, no launcher): spawn → listening. */
      agent_alone_ms: agg(alone.map((s) => s.start_to_socket_ms)),
      agent_alone_spawn_to_unlocked_ms: agg(alone.map((s) => s.spawn_to_unlocked_ms)),
      /** Through the launcher minus alone, same round: what the launcher adds. */
      launcher_adds_ms: A((r) =>
        startOf(k, r)!.start_to_socket_ms - startOf(k, r, "agent-alone")!.start_to_socket_ms
      ),
      /** The agent alone minus its unlock (same round): the agent's own boot and serve set-up. */
      agent_alone_without_unlock_ms: A((r) =>
        startOf(k, r, "agent-alone")!.start_to_socket_ms - inprocOf(k, r)!.unlock_ms
      ),
      /** start → socket minus the same round's in-process unlock: the rest of start-up. */
      without_unlock_ms: A((r) => startOf(k, r)!.start_to_socket_ms - inprocOf(k, r)!.unlock_ms),
      /** Argon2id share, way 1: minus the fastest non-Argon2 slot of the same round. */
      kdf_share_vs_slot_ms: isKdf && fastestNonKdf
        ? A((r) =>
          startOf(k, r)!.start_to_socket_ms - startOf(fastestNonKdf, r)!.start_to_socket_ms
        )
        : undefined,
      /** Argon2id share, way 2: the floor's first call as a fraction of start → socket. */
      kdf_share_floor_pct: isKdf
        ? A((r) =>
          100 * floors.find((f) => f.round === r)!.argon2.first_ms /
          startOf(k, r)!.start_to_socket_ms
        )
        : undefined,
      /** In-process unlock ÷ the Argon2id first call of the same round (R12 unlock). */
      unlock_over_argon2: A((r) =>
        inprocOf(k, r)!.unlock_ms / floors.find((f) => f.round === r)!.argon2.first_ms
      ),
      /** start → socket ÷ hello+grpc-js of the same round. */
      start_over_hello_grpc: A((r) =>
        startOf(k, r)!.start_to_socket_ms / floors.find((f) => f.round === r)!.hello_grpc_ms
      ),
      without_unlock_over_hello_grpc: A((r) =>
        (startOf(k, r)!.start_to_socket_ms - inprocOf(k, r)!.unlock_ms) /
        floors.find((f) => f.round === r)!.hello_grpc_ms
      ),
    }];
  }));
  const x25519Agg = inproc.some((s) => s.kind === "age-x25519")
    ? {
      unlock_ms: agg(inproc.filter((s) => s.kind === "age-x25519").map((s) => s.unlock_ms)),
      import_ms: agg(inproc.filter((s) => s.kind === "age-x25519").map((s) => s.import_ms)),
    }
    : undefined;

  type Verdict = { goal: string; what: string; gate: boolean; pass: boolean };
  const verdicts: Verdict[] = [];
  const mark = (v: Verdict) => {
    verdicts.push(v);
    return `${v.pass ? "PASS" : "MISS"}${v.gate ? "" : " (informational)"}`;
  };
  const f1 = (a: Agg | undefined) => a ? fmt(a, 1) : "–";
  const out: string[] = [];
  out.push("");
  out.push(
    `Agent start-up through the launcher (\`basil agent -c\`), one slot per bundle — Deno ${Deno.version.deno}, ` +
      `median (min–max) of ${rounds} round(s), fresh processes, unpinned${
        env.quick ? "; --quick" : ""
      }`,
  );
  out.push("");
  out.push("Floors (ms; fresh `deno run` each, wall from spawn to exit unless marked):");
  out.push("");
  out.push("| floor | ms |");
  out.push("|---|---|");
  out.push(`| hello, no imports | ${fmt(floorAgg.hello_ms, 1)} |`);
  out.push(
    `| hello + import @grpc/grpc-js (R12 ready floor) | ${fmt(floorAgg.hello_grpc_ms, 1)} |`,
  );
  out.push(
    `| hash-wasm Argon2id m=64 MiB t=3 p=1, first call in the process (R12 unlock floor) | ${
      fmt(floorAgg.argon2_first_ms, 1)
    } |`,
  );
  out.push(`| … its dynamic import of hash-wasm | ${fmt(floorAgg.argon2_import_ms, 1)} |`);
  out.push(`| … a second call in the same process | ${fmt(floorAgg.argon2_second_ms, 1)} |`);
  out.push(`| … the whole process, spawn to exit | ${fmt(floorAgg.argon2_wall_ms, 1)} |`);
  out.push(
    `| attribution: \`await import("lib/daemon.ts")\` in a fresh process (the agent's module graph) | ${
      fmt(floorAgg.daemon_import_ms, 1)
    } |`,
  );
  out.push(`| … that process, spawn to exit | ${fmt(floorAgg.daemon_import_wall_ms, 1)} |`);
  out.push(
    `| attribution: the launcher to its plan (\`basil agent -c … --print-permissions\`, spawn to exit) | ${
      fmt(floorAgg.launcher_plan_ms, 1)
    } |`,
  );
  out.push("");
  out.push(
    "Per slot (ms). start → socket: spawn of the launcher to the agent's `agent listening` line " +
      "(bound); split by the agent's log timestamps (1 ms resolution); unlock in process: " +
      "`unlockBundle` alone in a fresh process:",
  );
  out.push("");
  out.push(
    "| slot | start → socket | spawn → unlocked (log) | unlocked → listening (log) | unlock in process | " +
      "start → socket − unlock | Argon2id share: − fastest non-Argon2 slot | Argon2id floor ÷ start → socket |",
  );
  out.push("|---|---|---|---|---|---|---|---|");
  for (const k of kinds) {
    const p = perSlot[k]!;
    out.push(
      `| ${k} | ${fmt(p.start_to_socket_ms, 1)} | ${fmt(p.spawn_to_unlocked_ms, 0)} | ${
        fmt(p.unlocked_to_listening_ms, 0)
      } | ${fmt(p.inproc_unlock_ms, 1)} | ${fmt(p.without_unlock_ms, 1)} | ${
        f1(p.kdf_share_vs_slot_ms)
      } | ${p.kdf_share_floor_pct ? `${fmt(p.kdf_share_floor_pct, 0)} %` : "–"} |`,
    );
  }
  if (x25519Agg) {
    out.push(
      `| age, X25519 identity file (in process only; the agent cannot be configured for it) | – | – | – | ${
        fmt(x25519Agg.unlock_ms, 1)
      } | – | – | – |`,
    );
  }
  for (const [k, why] of Object.entries(skipped)) {
    out.push(`| ${k} | SKIPPED: ${why} | | | | | | |`);
  }
  out.push("");
  out.push(
    "Where start-up goes (ms): the agent started alone with the command line and environment " +
      "the launcher exec'ed (read from /proc, minus --parent-pid), vs through the launcher:",
  );
  out.push("");
  out.push(
    "| slot | through the launcher | agent alone | launcher adds | agent alone − unlock in process |",
  );
  out.push("|---|---|---|---|---|");
  for (const k of kinds) {
    const p = perSlot[k]!;
    out.push(
      `| ${k} | ${fmt(p.start_to_socket_ms, 1)} | ${fmt(p.agent_alone_ms, 1)} | ${
        fmt(p.launcher_adds_ms, 1)
      } | ${fmt(p.agent_alone_without_unlock_ms, 1)} |`,
    );
  }
  out.push("");
  out.push("| goal | case | measured | bound | ratio | verdict |");
  out.push("|---|---|---|---|---|---|");
  if (fastest) {
    const p = perSlot[fastest]!;
    const v = mark({
      goal: "R12 ready",
      what: `fastest slot (${fastest}) start → socket`,
      gate: true,
      pass: p.start_over_hello_grpc.med <= GOAL.ready,
    });
    out.push(
      `| R12 ready-to-serve ≤ ${GOAL.ready}× hello+grpc-js | fastest slot (${fastest}) start → socket | ${
        fmt(p.start_to_socket_ms, 1)
      } ms | ${GOAL.ready} × ${fmt(floorAgg.hello_grpc_ms, 1)} ms | ${
        fmtX(p.start_over_hello_grpc)
      } | ${v} |`,
    );
  }
  for (const k of kinds) {
    const p = perSlot[k]!;
    const v = mark({
      goal: "R12 ready",
      what: `${k}: start → socket − unlock`,
      gate: false,
      pass: p.without_unlock_over_hello_grpc.med <= GOAL.ready,
    });
    out.push(
      `| R12 ready-to-serve ≤ ${GOAL.ready}× hello+grpc-js | ${k}: start → socket − unlock in process | ${
        fmt(p.without_unlock_ms, 1)
      } ms | ${GOAL.ready} × ${fmt(floorAgg.hello_grpc_ms, 1)} ms | ${
        fmtX(p.without_unlock_over_hello_grpc)
      } | ${v} |`,
    );
  }
  for (const k of kinds.filter((k) => KDF_SLOTS.includes(k))) {
    const p = perSlot[k]!;
    const v = mark({
      goal: "R12 unlock",
      what: `${k} unlock in process`,
      gate: true,
      pass: p.unlock_over_argon2.med <= GOAL.unlock,
    });
    out.push(
      `| R12 unlock ≤ ${GOAL.unlock}× Argon2id first call | ${k}: unlock in process | ${
        fmt(p.inproc_unlock_ms, 1)
      } ms | ${GOAL.unlock} × ${fmt(floorAgg.argon2_first_ms, 1)} ms | ${
        fmtX(p.unlock_over_argon2)
      } | ${v} |`,
    );
  }
  out.push("", gatedSummary(verdicts, (v) => `${v.goal} ${v.what}`));

  console.log(out.join("\n"));

  const file = writeResults(env, started, "-unlock", {
    suite: "unlock",
    config: {
      rounds,
      quick: env.quick,
      pinned: false,
      goals: GOAL,
      production_argon2: PRODUCTION,
      slots: Object.fromEntries(rigs.map((r) => [r.kind, r.slot])),
      skipped,
      age_x25519: x25519.error ?? "in process only",
    },
    summary: { floors: floorAgg, per_slot: perSlot, fastest, age_x25519: x25519Agg },
    verdicts,
    floors,
    starts,
    inproc,
  });
  console.log(`\nresults: ${file}`);
}
