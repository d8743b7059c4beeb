/**
 * Disconnect-storm soak (issue 14): the agent must not crash when clients
 * drop connections. Deno 2.9.4–2.9.6's `node:http2` server aborted the whole
 * process in nghttp2 (`free(): invalid pointer`, a `closed_next` assertion)
 * when a JS client closed an HTTP/2 connection that carried a few hundred
 * calls, almost only when it was the *first* connection to close on a fresh
 * server. The agent no longer serves through `node:http2`, and this test
 * keeps any transport honest against that pattern:
 *
 * 1. a fresh agent; its first connection ever is one grpc-js channel in a
 *    separate process that makes 600 sequential GetSecret calls and closes
 *    (done on four fresh agents in all, one with a bare node:http2 client);
 * 2. then, on the last of them, waves of hundreds of concurrent connections from several client
 *    processes (soak_client.ts), dropped mid-call, mid-stream, after many
 *    calls, with half-written frames, garbage, or at once, plus processes
 *    SIGKILLed with calls and streams in flight;
 * 3. after every phase the agent must answer `basil health`, still be the
 *    same live pid, and have printed no crash signature.
 *
 * No assertion depends on time.
 */

import assert from "node:assert/strict";
import { ROOT } from "../helpers/cli.ts";
import { appPolicy, Fixture, readProc, RunningAgent, valueCatalog } from "../helpers/fixture.ts";

const CLIENT = new URL("./soak_client.ts", import.meta.url).pathname;
const CLIENT_FLAGS = [
  "run",
  "--no-prompt",
  "--quiet",
  "--config",
  `${ROOT}/deno.json`,
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
];
const KEY = "app.db_password";

/** Sequential calls on the first connection to close (the trigger needs ≥ 300). */
const HEAVY_CALLS = 600;
/** Waves; each runs STORM_PROCS × STORM_CONNS connections at once. */
const WAVES = 12;
const STORM_PROCS = 2;
const STORM_CONNS = 140;
/** Every other wave also SIGKILLs a process holding this many busy connections. */
const HOLD_CONNS = 40;
/** Bulk catalog keys, so ListCatalog streams are long enough to be cut mid-stream. */
const BULK_KEYS = 150;

/**
 * What a crashing Deno/nghttp2/V8/glibc prints, plus the agent's own log line
 * for an uncaught JS exception (an agent bug even when the process survives).
 */
const CRASH_SIGNS = [
  "free(): invalid pointer",
  "double free",
  "corrupted",
  "Assertion",
  "assertion",
  "panicked",
  "Segmentation fault",
  "Fatal error",
  "out of memory",
  "uncaught exception",
];

/** Crash signatures found in `text`. */
function crashSigns(text: string): string[] {
  return CRASH_SIGNS.filter((s) => text.includes(s));
}

function soakCatalog(): unknown {
  const c = valueCatalog() as { keys: Record<string, unknown> };
  for (let i = 0; i < BULK_KEYS; i++) {
    c.keys[`app.bulk.k${String(i).padStart(3, "0")}`] = {
      class: "value",
      backend: "db",
      path: `app/bulk/k${i}`,
      writable: true,
      missing: "generate",
      generate: { format: "hex", bytes: 8 },
      description: "Soak filler",
    };
  }
  return c;
}

/** Agents started by this file that may still run (reaped in every `finally`). */
const running = new Set<{ agent: RunningAgent; pid: number | undefined; socket: string }>();

/** Starts a fresh agent and records it for {@linkcode reap}. */
async function startAgent(f: Fixture): Promise<Watch> {
  const agent = RunningAgent.spawn(f);
  const entry = { agent, pid: undefined as number | undefined, socket: f.socket };
  running.add(entry);
  await agent.ready();
  entry.pid = agent.agentPid;
  return new Watch(agent);
}

/** Stops an agent cleanly (SIGTERM) and forgets it. */
async function stopAgent(w: Watch): Promise<{ code: number; stderr: string }> {
  const r = await w.agent.stop();
  for (const e of running) if (e.agent === w.agent) running.delete(e);
  return r;
}

/** Whether `pid` is still one of our agents (its command line names our socket). */
function isOurAgent(pid: number, socket: string): boolean {
  try {
    return new TextDecoder().decode(readProc(`/proc/${pid}/cmdline`)).includes(socket);
  } catch {
    return false;
  }
}

/**
 * Stops every agent this file started that is still around, even after a
 * failed assertion: SIGTERM to the launcher, SIGKILL after a grace period,
 * and SIGKILL to the agent pid itself in case the launcher is already gone
 * (the agent outlives its launcher).
 */
async function reap(): Promise<void> {
  for (const e of running) {
    running.delete(e);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      e.agent.child.kill("SIGTERM");
    } catch { /* launcher gone */ }
    await Promise.race([
      e.agent.exited(),
      new Promise<void>((r) => {
        timer = setTimeout(() => {
          try {
            e.agent.child.kill("SIGKILL");
          } catch { /* gone */ }
          r();
        }, 10_000);
      }),
    ]);
    clearTimeout(timer);
    await e.agent.exited();
    if (e.pid !== undefined && isOurAgent(e.pid, e.socket)) {
      try {
        Deno.kill(e.pid, "SIGKILL");
      } catch { /* gone, as it should be */ }
    }
  }
}

/** Liveness of one agent process, tracked by the pid recorded at start. */
class Watch {
  readonly agent: RunningAgent;
  readonly pid: number;
  #launcherExit: Deno.CommandStatus | undefined;

  constructor(agent: RunningAgent) {
    this.agent = agent;
    const pid = agent.agentPid;
    assert.ok(pid !== undefined && pid > 0, "no agent pid under the launcher");
    this.pid = pid;
    agent.child.status.then((s) => (this.#launcherExit = s));
  }

  /** Process state letter from /proc/<pid>/stat, or undefined when gone. */
  state(): string | undefined {
    try {
      const stat = new TextDecoder().decode(readProc(`/proc/${this.pid}/stat`));
      return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    } catch {
      return undefined;
    }
  }

  /** Every reason to believe the agent died or was replaced; empty when alive. */
  async problems(): Promise<string[]> {
    const out: string[] = [];
    const st = this.state();
    if (st === undefined) out.push(`agent pid ${this.pid} is gone`);
    else if (st === "Z" || st === "X") out.push(`agent pid ${this.pid} is dead (state ${st})`);
    const now = this.agent.agentPid;
    if (now !== this.pid) out.push(`launcher's child is ${now ?? "none"}, not ${this.pid}`);
    if (this.#launcherExit) {
      out.push(
        `launcher exited code=${this.#launcherExit.code} signal=${this.#launcherExit.signal}`,
      );
    }
    for (const s of crashSigns(this.agent.stderr)) out.push(`agent stderr contains "${s}"`);
    const h = await this.agent.fixture.cli(["health", "--json"]);
    let alive = false;
    try {
      alive = h.code === 0 && JSON.parse(h.stdout).alive === true;
    } catch { /* not JSON */ }
    if (!alive) out.push(`health failed (exit ${h.code}): ${h.stderr.trim()}`);
    return out;
  }

  async assertAlive(when: string): Promise<void> {
    const p = await this.problems();
    assert.deepEqual(
      p,
      [],
      `${when}: agent not alive:\n${p.join("\n")}\n--- stderr tail:\n${
        this.agent.stderr.slice(-2000)
      }`,
    );
  }

  /** Open file descriptors of the agent (via `ls`: Deno gates /proc behind --allow-all). */
  fds(): number {
    const o = new Deno.Command("ls", { args: ["-1", `/proc/${this.pid}/fd`] }).outputSync();
    assert.equal(o.code, 0, `cannot list /proc/${this.pid}/fd`);
    return new TextDecoder().decode(o.stdout).split("\n").filter((l) => l !== "").length;
  }

  /** VmRSS / VmHWM in MiB. */
  rss(): { rss: number; hwm: number } {
    const s = new TextDecoder().decode(readProc(`/proc/${this.pid}/status`));
    const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? NaN);
    return { rss: Math.round(kib("VmRSS") / 1024), hwm: Math.round(kib("VmHWM") / 1024) };
  }
}

function clientCommand(args: string[]): Deno.Command {
  return new Deno.Command("deno", {
    args: [...CLIENT_FLAGS, CLIENT, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

interface Tally {
  attempted: number;
  connected: number;
  callsOk: number;
  errors: number;
}

/** Runs a storm process to its end; returns its per-behaviour tallies. */
async function runStorm(socket: string, seed: number): Promise<Record<string, Tally>> {
  const out = await clientCommand(["storm", socket, KEY, String(STORM_CONNS), String(seed)])
    .output();
  const dec = new TextDecoder();
  assert.equal(out.code, 0, `storm client ${seed} failed:\n${dec.decode(out.stderr)}`);
  const line = dec.decode(out.stdout).trim().split("\n").pop() ?? "";
  return JSON.parse(line);
}

/**
 * Starts a process that keeps calls and streams in flight on HOLD_CONNS
 * connections, waits until every connection is busy, then SIGKILLs it so the
 * kernel resets all of its sockets at once. Returns how many were busy.
 */
async function runHoldAndKill(socket: string, seed: number): Promise<number> {
  const child = clientCommand(["hold", socket, KEY, String(HOLD_CONNS), String(seed)]).spawn();
  const errText = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let ready = 0;
  try {
    while (!buf.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
    }
    if (buf.includes("\n")) ready = JSON.parse(buf.split("\n")[0]!).ready;
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await reader.cancel();
  }
  const st = await child.status;
  const err = await errText;
  assert.equal(st.signal, "SIGKILL", `hold client ${seed} ended on its own:\n${err}`);
  return ready;
}

/**
 * Phase 1 on a fresh agent: its first connection ever makes HEAVY_CALLS calls
 * and closes (`mode` "heavy" = grpc-js channel, "heavy-h2" = bare node:http2).
 */
async function heavyFirstClose(f: Fixture, mode: "heavy" | "heavy-h2"): Promise<Watch> {
  const w = await startAgent(f);
  const heavy = await clientCommand([mode, f.socket, KEY, String(HEAVY_CALLS)]).output();
  const dec = new TextDecoder();
  assert.equal(heavy.code, 0, `${mode} client failed:\n${dec.decode(heavy.stderr)}`);
  assert.deepEqual(JSON.parse(dec.decode(heavy.stdout)), { heavy: HEAVY_CALLS });
  await w.assertAlive(`after the ${mode} first close`);
  return w;
}

Deno.test("fresh agents survive a heavy first connection closing", async () => {
  // On Deno 2.9.6 with the node:http2 server a heavy first close killed 21 of 26 fresh agents (53
  // of 55 fresh servers in performance.md), so a few fresh agents make a miss
  // unlikely; the storm test below adds one more.
  const f = await Fixture.create();
  try {
    for (const mode of ["heavy", "heavy-h2", "heavy"] as const) {
      const w = await heavyFirstClose(f, mode);
      const { code, stderr } = await stopAgent(w);
      assert.deepEqual(crashSigns(stderr), []);
      assert.equal(code, 0, stderr.slice(-2000));
    }
  } finally {
    await reap();
    f.cleanup();
  }
});

Deno.test("the agent survives a heavy first close and a disconnect storm", async () => {
  const f = await Fixture.create({ catalog: soakCatalog(), policy: appPolicy });
  try {
    const w = await heavyFirstClose(f, "heavy");
    const fdsBefore = w.fds();

    // Phase 2: waves of abrupt disconnects.
    const totals: Record<string, Tally> = {};
    let held = 0;
    for (let wave = 0; wave < WAVES; wave++) {
      const jobs: Promise<unknown>[] = [];
      for (let p = 0; p < STORM_PROCS; p++) {
        const seed = 1000 * (wave + 1) + p;
        jobs.push(
          runStorm(f.socket, seed).then((r) => {
            for (const [k, t] of Object.entries(r)) {
              const acc = totals[k] ??= { attempted: 0, connected: 0, callsOk: 0, errors: 0 };
              acc.attempted += t.attempted;
              acc.connected += t.connected;
              acc.callsOk += t.callsOk;
              acc.errors += t.errors;
            }
          }),
        );
      }
      if (wave % 2 === 0) {
        jobs.push(runHoldAndKill(f.socket, 77 + wave).then((n) => (held += n)));
      }
      await Promise.all(jobs);
      await w.assertAlive(`after wave ${wave + 1}/${WAVES}`);
    }

    const connected = Object.values(totals).reduce((s, t) => s + t.connected, 0) + held;
    const calls = Object.values(totals).reduce((s, t) => s + t.callsOk, 0);
    // Most connections must really have reached the agent for the soak to mean anything.
    assert.ok(
      connected >= 3000,
      `only ${connected} connections reached the agent: ${JSON.stringify(totals)}`,
    );
    // Every kind of drop was exercised.
    for (const [k, t] of Object.entries(totals)) {
      assert.ok(t.connected > 0, `behaviour ${k} never connected: ${JSON.stringify(t)}`);
    }

    // Dropped connections are released: the fd count comes back (polled, no timing assertion).
    let fds = w.fds();
    for (let i = 0; i < 100 && fds > fdsBefore + 4; i++) {
      await new Promise((r) => setTimeout(r, 100));
      fds = w.fds();
    }
    assert.ok(fds <= fdsBefore + 4, `agent holds ${fds} fds, ${fdsBefore} before the storm`);

    const mem = w.rss();
    await w.assertAlive("after the storm");
    const got = await f.cli(["get", "--key-id", KEY, "--raw"]);
    assert.equal(got.code, 0, got.stderr);

    const { code, stderr } = await stopAgent(w);
    assert.deepEqual(crashSigns(stderr), []);
    assert.equal(code, 0, stderr.slice(-2000));
    const errorLines = stderr.split("\n").filter((l) => l.includes('"level":"error"'));
    // deno-lint-ignore no-console
    console.log(
      `soak: ${connected} connections reached the agent (${held} SIGKILLed busy), ` +
        `${calls + HEAVY_CALLS} calls; agent fds ${fdsBefore}→${fds}, ` +
        `${errorLines.length} error log lines${
          errorLines.length ? ` (first: ${errorLines[0]})` : ""
        }, ` +
        `RSS ${mem.rss} MiB (peak ${mem.hwm}); per behaviour: ${JSON.stringify(totals)}`,
    );
  } finally {
    await reap();
    f.cleanup();
  }
});

Deno.test("the soak's liveness check reports a killed agent", async () => {
  assert.deepEqual(crashSigns('{"level":"info","msg":"agent listening"}'), []);
  assert.deepEqual(crashSigns("free(): invalid pointer\n"), ["free(): invalid pointer"]);
  const f = await Fixture.create();
  try {
    const w = await startAgent(f);
    const a = w.agent;
    assert.deepEqual(await w.problems(), []);
    Deno.kill(w.pid, "SIGKILL");
    const { code } = await a.exited();
    assert.notEqual(code, 0);
    const p = await w.problems();
    assert.ok(p.some((x) => x.includes(`agent pid ${w.pid} is`)), p.join("\n"));
    assert.ok(p.some((x) => x.startsWith("launcher exited")), p.join("\n"));
    assert.ok(p.some((x) => x.startsWith("health failed")), p.join("\n"));
    await assert.rejects(() => w.assertAlive("after SIGKILL"), /agent not alive/);
  } finally {
    await reap();
    f.cleanup();
  }
});
