// deno-lint-ignore-file no-console
/**
 * `deno task bench`: the first benchmark (issue 15, method of
 * guides/performance.md §4).
 *
 * - Transport, interleaved A/B: the bare grpc-js echo server (A, the floor
 *   E) and the real agent started through the launcher (B, GetSecret of a
 *   32-byte value), each run on a FRESH server process, at 1 and 16 calls
 *   in flight on one connection, 1 s warm-up + 3 s measured, 3 rounds. The
 *   client is a separate Deno grpc-js process (bench/client.ts) doing the
 *   same work for both; every message is 36 bytes on the wire. Servers are
 *   pinned to cpu0 and clients to cpu1 (`--no-pin` to disable).
 * - C: the broker's own work per GetSecret in process (bench/inproc.ts).
 * - R8 = broker.p50 − (echo.p50 + C.p50), per round, at each concurrency.
 * - R11: idle RSS after 3 s and RSS after 20k sequential calls (client still
 *   connected), agent vs echo server, 3 fresh servers each.
 *
 * - `--diag` adds three servers between echo and agent in every round
 *   (bench/diag_server.ts) to attribute the agent's extra cost.
 *
 * Prints a table and writes bench/results/<timestamp>.json (summaries only,
 * no raw latencies). `--quick`: 1 round of 1 s + 1 s, RSS after 5k calls.
 *
 *   deno task bench [--quick] [--diag] [--rounds N] [--no-pin] [--out file]
 * @module
 */

import { ROOT } from "../tests/helpers/cli.ts";
import { Fixture, readProc } from "../tests/helpers/fixture.ts";
import type { RunningAgent } from "../tests/helpers/fixture.ts";
import type { Summary } from "./h.ts";
import { median } from "./h.ts";
import {
  BENCH_KEY,
  benchCatalog,
  benchPolicy,
  ECHO_PATH,
  echoPayload,
  GET_PATH,
  getSecretRequest,
} from "./setup.ts";

// ------------------------------------------------------------------ options

const argv = [...Deno.args];
const flag = (name: string) => {
  const i = argv.indexOf(name);
  if (i >= 0) argv.splice(i, 1);
  return i >= 0;
};
const option = (name: string) => {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const QUICK = flag("--quick");
const DIAG = flag("--diag");
const PIN = !flag("--no-pin");
const roundsOpt = option("--rounds");
const OUT = option("--out");
if (argv.length > 0) {
  console.error(`unknown arguments: ${argv.join(" ")}`);
  console.error("usage: deno task bench [--quick] [--diag] [--rounds N] [--no-pin] [--out file]");
  Deno.exit(2);
}

const CFG = QUICK
  ? { rounds: 1, warmMs: 1000, runMs: 1000, cRunMs: 1000, rssReps: 1, rssCalls: 5000, idleMs: 3000 }
  : {
    rounds: 3,
    warmMs: 1000,
    runMs: 3000,
    cRunMs: 2000,
    rssReps: 3,
    rssCalls: 20000,
    idleMs: 3000,
  };
if (roundsOpt !== undefined) CFG.rounds = Math.max(1, Number(roundsOpt));
const CONCS = [1, 16] as const;

const HAS_TASKSET = (() => {
  try {
    return new Deno.Command("taskset", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();
const PINNED = PIN && HAS_TASKSET;
const SERVER_CPU = "0";
const CLIENT_CPU = "1";

const DENO_FLAGS = [
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
const dec = new TextDecoder();

// ------------------------------------------------------------------ helpers

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function loadavg(): string {
  return dec.decode(readProc("/proc/loadavg")).trim();
}

/** VmRSS, RssAnon, VmHWM of a pid in MiB. */
function memOf(pid: number): { rss: number; anon: number; hwm: number } {
  const s = dec.decode(readProc(`/proc/${pid}/status`));
  const mib = (k: string) => {
    const m = new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s);
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
  };
  return { rss: mib("VmRSS"), anon: mib("RssAnon"), hwm: mib("VmHWM") };
}

function alive(pid: number): boolean {
  try {
    readProc(`/proc/${pid}/stat`);
    return true;
  } catch {
    return false;
  }
}

function pin(pid: number, cpu: string): void {
  if (!PINNED) return;
  const o = new Deno.Command("taskset", { args: ["-a", "-p", "-c", cpu, String(pid)] })
    .outputSync();
  if (!o.success) throw new Error(`taskset failed for ${pid}: ${dec.decode(o.stderr)}`);
}

/** Command line prefix that pins a new process to `cpu`. */
function pinned(cpu: string, cmd: string[]): string[] {
  return PINNED ? ["taskset", "-c", cpu, ...cmd] : cmd;
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** Reads a child's stdout line by line. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
  if (buf !== "") yield buf;
}

// ------------------------------------------------------------------ servers

type DiagTarget = "echo-injector" | "handler-plain" | "handler-server";
type Target = "echo" | "broker" | DiagTarget;
const DIAG_TARGETS: readonly DiagTarget[] = ["echo-injector", "handler-plain", "handler-server"];
/** Interleaving order inside one (round, c): floor first, agent last. */
const TARGETS: readonly Target[] = DIAG ? ["echo", ...DIAG_TARGETS, "broker"] : ["echo", "broker"];

/** A fresh server process: the agent via the launcher, or the bare echo server. */
interface Server {
  readonly target: Target;
  readonly socket: string;
  readonly path: string;
  readonly request: Uint8Array;
  /** The process that serves (for the agent: the sandboxed child, not the launcher). */
  readonly pid: number;
  /** The agent's launcher pid (its RSS is reported separately). */
  readonly launcherPid?: number;
  stop(): Promise<void>;
}

const GET_REQ = getSecretRequest();
const ECHO_REQ = echoPayload(36);

async function startBroker(f: Fixture): Promise<Server> {
  const a: RunningAgent = await f.start();
  const pid = a.agentPid;
  if (pid === undefined) throw new Error("no agent pid under the launcher");
  pin(a.child.pid, SERVER_CPU);
  pin(pid, SERVER_CPU);
  return {
    target: "broker",
    socket: f.socket,
    path: GET_PATH,
    request: GET_REQ,
    pid,
    launcherPid: a.child.pid,
    async stop() {
      if (!alive(pid)) {
        throw new Error(`agent ${pid} died during the run:\n${a.stderr.slice(-2000)}`);
      }
      const { code, stderr } = await a.stop();
      if (code !== 0) throw new Error(`agent exited ${code}:\n${stderr.slice(-2000)}`);
    },
  };
}

/** The bare echo server, or one of the --diag servers, as a separate process. */
async function startScript(dir: string, target: "echo" | DiagTarget): Promise<Server> {
  const socket = `${dir}/${target}.sock`;
  const script = target === "echo"
    ? [`${ROOT}/bench/echo_server.ts`, socket]
    : ["--allow-sys=uid,gid", `${ROOT}/bench/diag_server.ts`, target, socket];
  const child = new Deno.Command(Deno.execPath(), {
    args: [...DENO_FLAGS, ...script],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errText = new Response(child.stderr).text();
  const out = lines(child.stdout);
  const first = await out.next();
  if (first.done || !first.value.startsWith("listening")) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`${target} server did not start: ${await errText}`);
  }
  const drained = (async () => {
    for await (const _ of out) { /* drain */ }
  })();
  pin(child.pid, SERVER_CPU);
  const echoLike = target === "echo" || target === "echo-injector";
  return {
    target,
    socket,
    path: echoLike ? ECHO_PATH : GET_PATH,
    request: echoLike ? ECHO_REQ : GET_REQ,
    pid: child.pid,
    async stop() {
      if (!alive(child.pid)) {
        throw new Error(`${target} server died during the run: ${await errText}`);
      }
      child.kill("SIGTERM");
      const st = await child.status;
      await drained;
      if (st.code !== 0) throw new Error(`${target} server exited ${st.code}: ${await errText}`);
    },
  };
}

function clientCommand(args: string[], stdin: "null" | "piped" = "null"): Deno.Command {
  const [cmd, ...rest] = pinned(CLIENT_CPU, [
    Deno.execPath(),
    ...DENO_FLAGS,
    `${ROOT}/bench/client.ts`,
    ...args,
  ]);
  return new Deno.Command(cmd!, { args: rest, cwd: ROOT, stdin, stdout: "piped", stderr: "piped" });
}

async function measure(s: Server, conc: number): Promise<Summary> {
  const o = await clientCommand([
    "measure",
    s.socket,
    s.path,
    hex(s.request),
    String(conc),
    String(CFG.warmMs),
    String(CFG.runMs),
  ]).output();
  if (!o.success) throw new Error(`client failed (${s.target} c=${conc}): ${dec.decode(o.stderr)}`);
  const r: Summary = JSON.parse(dec.decode(o.stdout).trim().split("\n").pop()!);
  // Same bytes on the wire for both targets, or the comparison means nothing.
  if (r.req_bytes !== 36 || r.resp_bytes !== 36) {
    throw new Error(`${s.target}: request/response are ${r.req_bytes}/${r.resp_bytes} B, not 36`);
  }
  return r;
}

/** A load client that has made its calls and still holds its connection. */
interface LoadClient {
  child: Deno.ChildProcess;
  out: AsyncGenerator<string>;
  err: Promise<string>;
}

/** Runs `calls` sequential calls; resolves once done, with the connection still open. */
async function load(s: Server, calls: number): Promise<LoadClient> {
  const child = clientCommand(
    ["load", s.socket, s.path, hex(s.request), "1", String(calls)],
    "piped",
  ).spawn();
  const c: LoadClient = { child, out: lines(child.stdout), err: new Response(child.stderr).text() };
  const line = await c.out.next();
  if (line.done) throw new Error(`load client failed: ${await c.err}`);
  const done = JSON.parse(line.value).done;
  if (done !== calls) throw new Error(`load client made ${done} calls, not ${calls}`);
  return c;
}

/** Lets a load client close its connection and exit. */
async function endLoad(c: LoadClient): Promise<void> {
  try {
    await c.child.stdin.close();
  } catch { /* already closed */ }
  for await (const _ of c.out) { /* drain */ }
  await c.child.status;
  await c.err;
}

// ------------------------------------------------------------------ run

interface RunRecord extends Summary {
  target: Target;
  conc: number;
  round: number;
  loadavg_before: string;
  loadavg_after: string;
}

interface RssRecord {
  target: Target;
  rep: number;
  idle: { rss: number; anon: number; hwm: number };
  loaded: { rss: number; anon: number; hwm: number };
  launcher_idle?: { rss: number; anon: number; hwm: number };
  loadavg: string;
}

const started = new Date();
const f = await Fixture.create({ catalog: benchCatalog("${DB}"), policy: benchPolicy });
const scratch = await Deno.makeTempDir({ prefix: "basil-bench-" });
const runs: RunRecord[] = [];
const rss: RssRecord[] = [];
const cRuns: Summary[][] = [];

async function fresh(t: Target): Promise<Server> {
  return t === "broker" ? await startBroker(f) : await startScript(scratch, t);
}

const log = (s: string) => console.error(s);
log(
  `basil bench: Deno ${Deno.version.deno}, ${CFG.rounds} round(s), ${CFG.warmMs} ms warm-up + ` +
    `${CFG.runMs} ms per run, ${PINNED ? "servers cpu0 / clients cpu1" : "unpinned"}; ` +
    `load ${loadavg()}`,
);

try {
  for (let round = 1; round <= CFG.rounds; round++) {
    // C, in process, pinned like a server.
    const [cmd, ...rest] = pinned(SERVER_CPU, [
      Deno.execPath(),
      "run",
      "--no-prompt",
      "--quiet",
      "--config",
      `${ROOT}/deno.json`,
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys=uid,gid",
      `${ROOT}/bench/inproc.ts`,
      String(CFG.cRunMs),
    ]);
    const c = await new Deno.Command(cmd!, { args: rest, cwd: ROOT, stdin: "null" }).output();
    if (!c.success) throw new Error(`inproc failed: ${dec.decode(c.stderr)}`);
    cRuns.push(dec.decode(c.stdout).trim().split("\n").map((l) => JSON.parse(l)));

    for (const conc of CONCS) {
      for (const target of TARGETS) {
        const s = await fresh(target);
        const before = loadavg();
        let r: Summary;
        try {
          r = await measure(s, conc);
        } finally {
          await s.stop();
        }
        const rec: RunRecord = {
          ...r,
          target,
          conc,
          round,
          loadavg_before: before,
          loadavg_after: loadavg(),
        };
        runs.push(rec);
        log(
          `round ${round} c=${conc} ${target.padEnd(14)} p50 ${r.p50_us} µs, p99 ${r.p99_us} µs, ` +
            `${r.ops_s} ops/s (load ${before.split(" ")[0]})`,
        );
      }
    }
  }

  for (let rep = 1; rep <= CFG.rssReps; rep++) {
    for (const target of ["echo", "broker"] as const) {
      const s = await fresh(target);
      try {
        await sleep(CFG.idleMs);
        const idle = memOf(s.pid);
        const launcher = s.launcherPid === undefined ? undefined : memOf(s.launcherPid);
        const la = loadavg();
        const client = await load(s, CFG.rssCalls);
        let loaded;
        try {
          loaded = memOf(s.pid);
        } finally {
          await endLoad(client);
        }
        rss.push({ target, rep, idle, loaded, launcher_idle: launcher, loadavg: la });
        log(
          `rss ${target.padEnd(6)} rep ${rep}: idle ${idle.rss} MiB (anon ${idle.anon}), after ` +
            `${CFG.rssCalls} calls ${loaded.rss} MiB (peak ${loaded.hwm})` +
            (launcher ? `; launcher idle ${launcher.rss} MiB` : ""),
        );
      } finally {
        await s.stop();
      }
    }
  }
} finally {
  f.cleanup();
  Deno.removeSync(scratch, { recursive: true });
}

// ------------------------------------------------------------------ report

interface Agg {
  med: number;
  min: number;
  max: number;
}
const agg = (xs: number[]): Agg => ({
  med: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
});
const pick = (t: Target, c: number) => runs.filter((r) => r.target === t && r.conc === c);
const byRound = (t: Target, c: number, round: number) =>
  runs.find((r) => r.target === t && r.conc === c && r.round === round)!;

const cSeries = (name: string) => cRuns.map((rs) => rs.find((r) => r.name === name)!);
const C = {
  idle_p50: agg(cSeries("C.adapter.after-idle").map((r) => r.p50_us)),
  p50: agg(cSeries("C.adapter").map((r) => r.p50_us)),
  p99: agg(cSeries("C.adapter").map((r) => r.p99_us)),
  ops: agg(cSeries("C.adapter").map((r) => r.ops_s)),
  parts: Object.fromEntries(
    ["C.broker", "authorize+audit", "decide", "keystore.read+open"].map((n) => [
      n,
      agg(cSeries(n).map((r) => r.p50_us)),
    ]),
  ),
};

const stats = (rs: RunRecord[]) => ({
  p50: agg(rs.map((r) => r.p50_us)),
  p99: agg(rs.map((r) => r.p99_us)),
  ops: agg(rs.map((r) => r.ops_s)),
});

const transport = CONCS.map((conc) => {
  const e = pick("echo", conc);
  const b = pick("broker", conc);
  const rounds = [...new Set(runs.map((r) => r.round))];
  const diag = Object.fromEntries(
    TARGETS.filter((t) => t !== "echo" && t !== "broker").map((t) => {
      const p50Ratio = agg(
        rounds.map((round) => byRound(t, conc, round).p50_us / byRound("echo", conc, round).p50_us),
      );
      const opsRatio = agg(
        rounds.map((round) => byRound(t, conc, round).ops_s / byRound("echo", conc, round).ops_s),
      );
      return [t, { ...stats(pick(t, conc)), ratio: { p50: p50Ratio, ops: opsRatio } }];
    }),
  );
  const r8 = rounds.map((round, i) =>
    byRound("broker", conc, round).p50_us -
    (byRound("echo", conc, round).p50_us + cSeries("C.adapter")[i]!.p50_us)
  );
  const r8Idle = rounds.map((round, i) =>
    byRound("broker", conc, round).p50_us -
    (byRound("echo", conc, round).p50_us + cSeries("C.adapter.after-idle")[i]!.p50_us)
  );
  const pairRatio = (k: "p50_us" | "p99_us" | "ops_s") =>
    agg(rounds.map((round) => byRound("broker", conc, round)[k] / byRound("echo", conc, round)[k]));
  return {
    conc,
    echo: {
      p50: agg(e.map((r) => r.p50_us)),
      p99: agg(e.map((r) => r.p99_us)),
      ops: agg(e.map((r) => r.ops_s)),
    },
    broker: {
      p50: agg(b.map((r) => r.p50_us)),
      p99: agg(b.map((r) => r.p99_us)),
      ops: agg(b.map((r) => r.ops_s)),
    },
    ratio: { p50: pairRatio("p50_us"), p99: pairRatio("p99_us"), ops: pairRatio("ops_s") },
    r8_us: agg(r8),
    r8_after_idle_us: agg(r8Idle),
    diag,
  };
});

const rssAgg = (t: Target) => {
  const rs = rss.filter((r) => r.target === t);
  return {
    idle: agg(rs.map((r) => r.idle.rss)),
    idle_anon: agg(rs.map((r) => r.idle.anon)),
    loaded: agg(rs.map((r) => r.loaded.rss)),
    loaded_hwm: agg(rs.map((r) => r.loaded.hwm)),
  };
};
const rssEcho = rssAgg("echo");
const rssBroker = rssAgg("broker");
const launcherIdle = agg(
  rss.filter((r) => r.launcher_idle).map((r) => r.launcher_idle!.rss),
);
const R11 = {
  idle_ratio: rssBroker.idle.med / rssEcho.idle.med,
  idle_goal: 1.5,
  loaded_ratio: rssBroker.loaded.med / rssEcho.loaded.med,
  loaded_goal: 1.25,
};

const fmt = (a: Agg, d = 0) => `${a.med.toFixed(d)} (${a.min.toFixed(d)}–${a.max.toFixed(d)})`;
const fmtK = (a: Agg) =>
  `${(a.med / 1000).toFixed(2)}k (${(a.min / 1000).toFixed(2)}–${(a.max / 1000).toFixed(2)}k)`;
const fmtX = (a: Agg) => `${a.med.toFixed(2)}× (${a.min.toFixed(2)}–${a.max.toFixed(2)})`;

const out: string[] = [];
out.push("");
out.push(
  `GetSecret (agent via launcher) vs bare grpc-js echo — unix socket, Deno ${Deno.version.deno}, ` +
    `36 B request and response, one connection, fresh server per run;`,
);
out.push(
  `median (min–max) of ${CFG.rounds} interleaved round(s) of ${CFG.warmMs / 1000} s warm-up + ` +
    `${CFG.runMs / 1000} s; ${PINNED ? "server cpu0, client cpu1" : "unpinned"}${
      QUICK ? "; --quick" : ""
    }`,
);
out.push("");
out.push("| c | series | p50 µs | p99 µs | ops/s |");
out.push("|---|---|---|---|---|");
for (const t of transport) {
  out.push(
    `| ${t.conc} | echo (E) | ${fmt(t.echo.p50)} | ${fmt(t.echo.p99)} | ${fmtK(t.echo.ops)} |`,
  );
  out.push(
    `| ${t.conc} | GetSecret | ${fmt(t.broker.p50)} | ${fmt(t.broker.p99)} | ${
      fmtK(t.broker.ops)
    } |`,
  );
  out.push(
    `| ${t.conc} | GetSecret ÷ echo | ${fmtX(t.ratio.p50)} | ${fmtX(t.ratio.p99)} | ${
      fmtX(t.ratio.ops)
    } |`,
  );
  for (const [name, d] of Object.entries(t.diag)) {
    out.push(
      `| ${t.conc} | diag ${name} | ${fmt(d.p50)} = ${fmtX(d.ratio.p50)} E | ${fmt(d.p99)} | ${
        fmtK(d.ops)
      } = ${fmtX(d.ratio.ops)} E |`,
    );
  }
}
out.push("");
out.push(
  `C (broker work without transport, in process): p50 ${fmt(C.p50, 1)} µs, p99 ${
    fmt(C.p99, 1)
  } µs; parts p50: ` +
    Object.entries(C.parts).map(([k, v]) => `${k} ${v.med.toFixed(1)}`).join(", ") + " µs",
);
out.push(
  `C after 1 ms idle (each call after a sleep, as a c=1 server sees it): p50 ${
    fmt(C.idle_p50, 1)
  } µs`,
);
for (const t of transport) {
  out.push(
    `R8 at c=${t.conc}: broker.p50 − (E.p50 + C.p50) = ${fmt(t.r8_us)} µs (goal ≤ 100 µs${
      t.conc === 1 ? "" : "; at c>1 p50 includes queueing"
    }) → ${t.r8_us.med <= 100 ? "MET" : "NOT MET"}`,
  );
}
out.push(
  `R8 with C after idle, c=1 (informational): ${fmt(transport[0]!.r8_after_idle_us)} µs`,
);
out.push("");
out.push(
  `| RSS MiB (${CFG.rssReps} fresh servers) | idle ${CFG.idleMs / 1000} s | idle anon | after ${
    CFG.rssCalls / 1000
  }k calls | peak (VmHWM) |`,
);
out.push("|---|---|---|---|---|");
out.push(
  `| echo server | ${fmt(rssEcho.idle)} | ${fmt(rssEcho.idle_anon)} | ${fmt(rssEcho.loaded)} | ${
    fmt(rssEcho.loaded_hwm)
  } |`,
);
out.push(
  `| agent | ${fmt(rssBroker.idle)} | ${fmt(rssBroker.idle_anon)} | ${fmt(rssBroker.loaded)} | ${
    fmt(rssBroker.loaded_hwm)
  } |`,
);
out.push(`| (agent's launcher process) | ${fmt(launcherIdle)} | | | |`);
out.push(
  `R11: idle ${R11.idle_ratio.toFixed(2)}× (goal ≤ ${R11.idle_goal}) → ${
    R11.idle_ratio <= R11.idle_goal ? "MET" : "NOT MET"
  }; loaded ${R11.loaded_ratio.toFixed(2)}× (goal ≤ ${R11.loaded_goal}) → ${
    R11.loaded_ratio <= R11.loaded_goal ? "MET" : "NOT MET"
  }`,
);
console.log(out.join("\n"));

const stamp = started.toISOString().replace(/:/g, "-").replace(/\..*$/, "");
const file = OUT ?? `${ROOT}/bench/results/${stamp}${QUICK ? "-quick" : ""}.json`;
const git = new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"], cwd: ROOT })
  .outputSync();
Deno.mkdirSync(file.slice(0, file.lastIndexOf("/")), { recursive: true });
Deno.writeTextFileSync(
  file,
  JSON.stringify(
    {
      started: started.toISOString(),
      deno: Deno.version,
      git: git.success ? dec.decode(git.stdout).trim() : undefined,
      config: {
        ...CFG,
        quick: QUICK,
        diag: DIAG,
        pinned: PINNED,
        concs: CONCS,
        key: BENCH_KEY,
        bytes: 36,
      },
      summary: { transport, C, rss: { echo: rssEcho, broker: rssBroker, launcherIdle }, R11 },
      runs,
      c_runs: cRuns,
      rss_runs: rss,
    },
    null,
    2,
  ) + "\n",
);
console.log(`\nresults: ${file}`);
