/**
 * What the suites of `deno task bench` share: fresh server processes (the
 * agent started through the CLI, `basil agent -c`, which replaces itself
 * with the sandboxed agent; or a bench script), the separate client
 * process, CPU pinning, /proc readings, the in-process "C" runner and the
 * median (min–max) aggregation and formatting.
 * @module
 */

import { ROOT } from "../tests/helpers/cli.ts";
import { childPids, readProc } from "../tests/helpers/fixture.ts";
import type { Fixture, RunningAgent } from "../tests/helpers/fixture.ts";
import type { Summary } from "./h.ts";
import { median } from "./h.ts";

/** Options every suite takes from the command line. */
export interface BenchEnv {
  /** Servers on cpu0, clients on cpu1 (only when taskset exists). */
  readonly pinned: boolean;
  readonly quick: boolean;
  readonly rounds: number;
  readonly warmMs: number;
  readonly runMs: number;
  /** Measured time of each in-process series. */
  readonly cRunMs: number;
  /** Where to write the JSON (default: bench/results/<stamp>[-suffix].json). */
  readonly out?: string;
  readonly log: (line: string) => void;
}

/**
 * The environment of a suite run on its own (`deno run … bench/<suite>.ts
 * [--quick]`): unpinned, 3 rounds of 1 s + 3 s (1 of 1 s + 1 s with
 * `--quick`), logging to stderr.
 */
export function standaloneEnv(args: readonly string[]): BenchEnv {
  const quick = args.includes("--quick");
  return {
    pinned: false,
    quick,
    rounds: quick ? 1 : 3,
    warmMs: 1000,
    runMs: quick ? 1000 : 3000,
    cRunMs: quick ? 1000 : 2000,
    // deno-lint-ignore no-console
    log: (line) => console.error(line),
  };
}

/** Runs a client command to completion and parses the JSON of its last stdout line. */
export async function runClientJson<T>(cmd: readonly string[], what: string): Promise<T> {
  const [c, ...rest] = cmd;
  const o = await new Deno.Command(c!, {
    args: rest,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!o.success) throw new Error(`${what}: client failed: ${dec.decode(o.stderr)}`);
  return JSON.parse(dec.decode(o.stdout).trim().split("\n").pop()!);
}

export const SERVER_CPU = "0";
export const CLIENT_CPU = "1";

/** Whether `taskset` can be run here. */
export function hasTaskset(): boolean {
  try {
    return new Deno.Command("taskset", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

export const DENO_FLAGS: readonly string[] = [
  "run",
  "--no-prompt",
  "--quiet",
  "--config",
  `${ROOT}/deno.json`,
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-ffi",
];
const dec = new TextDecoder();

// ------------------------------------------------------------------ helpers

export const sleep = (ms: number): Promise<void> => new Promise<void>((r) => setTimeout(r, ms));

/** /proc/loadavg, trimmed. */
export function loadavg(): string {
  return dec.decode(readProc("/proc/loadavg")).trim();
}

/** Resident memory of a process, MiB. */
export interface Mem {
  rss: number;
  anon: number;
  hwm: number;
}

/** VmRSS, RssAnon, VmHWM of a pid in MiB. */
export function memOf(pid: number): Mem {
  const s = dec.decode(readProc(`/proc/${pid}/status`));
  const mib = (k: string) => {
    const m = new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s);
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
  };
  return { rss: mib("VmRSS"), anon: mib("RssAnon"), hwm: mib("VmHWM") };
}

/** A process and all its descendants (pids). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...childPids(out[i]!));
  return out;
}

/** Memory of a whole process tree: the sums of VmRSS, RssAnon and VmHWM, MiB; `procs` counted. */
export function treeMem(pid: number): Mem & { procs: number } {
  const sum: Mem & { procs: number } = { rss: 0, anon: 0, hwm: 0, procs: 0 };
  for (const p of processTree(pid)) {
    let m: Mem;
    try {
      m = memOf(p);
    } catch {
      continue; // exited meanwhile
    }
    sum.rss += m.rss;
    sum.anon += m.anon;
    sum.hwm += m.hwm;
    sum.procs++;
  }
  const r = (x: number) => Math.round(x * 10) / 10;
  return { rss: r(sum.rss), anon: r(sum.anon), hwm: r(sum.hwm), procs: sum.procs };
}

function alive(pid: number): boolean {
  try {
    readProc(`/proc/${pid}/stat`);
    return true;
  } catch {
    return false;
  }
}

/** Pins every thread of `pid` to `cpu` (when pinning is on). */
export function pin(env: BenchEnv, pid: number, cpu: string): void {
  if (!env.pinned) return;
  const o = new Deno.Command("taskset", { args: ["-a", "-p", "-c", cpu, String(pid)] })
    .outputSync();
  if (!o.success) throw new Error(`taskset failed for ${pid}: ${dec.decode(o.stderr)}`);
}

/** A process's command line and whole environment, as exec'ed (from /proc). */
export interface ProcExec {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** Reads `pid`'s command line and environment (the agent after the launcher exec'ed it). */
export function procExec(pid: number): ProcExec {
  const nul = (f: string) =>
    dec.decode(readProc(`/proc/${pid}/${f}`)).split("\0").filter((a) => a !== "");
  const env = Object.fromEntries(
    nul("environ").map((kv) => {
      const eq = kv.indexOf("=");
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    }),
  );
  return { argv: nul("cmdline"), env };
}

/**
 * Starts an agent from a captured command line and environment (no
 * launcher), pinned like a server; resolves once it logs `agent listening`.
 */
export async function startExec(
  env: BenchEnv,
  exec: ProcExec,
  target: string,
  socket: string,
  path: string,
  request: Uint8Array,
): Promise<Server> {
  const [cmd, ...args] = exec.argv;
  const child = new Deno.Command(cmd!, {
    args,
    cwd: ROOT,
    clearEnv: true,
    env: { ...exec.env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const out = lines(child.stderr);
  let text = "";
  for (;;) {
    const r = await out.next();
    if (r.done) {
      await child.status;
      throw new Error(`${target} exited before listening:\n${text}`);
    }
    text += r.value + "\n";
    if (r.value.includes('"agent listening"')) break;
  }
  const drained = (async () => {
    for await (const l of out) text += l + "\n";
  })();
  pin(env, child.pid, SERVER_CPU);
  return {
    target,
    socket,
    path,
    request,
    pid: child.pid,
    stderr: () => text,
    async stop() {
      if (!alive(child.pid)) {
        throw new Error(`${target} died during the run:\n${text.slice(-2000)}`);
      }
      child.kill("SIGTERM");
      const st = await child.status;
      await drained;
      if (st.code !== 0) throw new Error(`${target} exited ${st.code}:\n${text.slice(-2000)}`);
    },
  };
}

/** Command line prefix that pins a new process to `cpu`. */
export function pinned(env: BenchEnv, cpu: string, cmd: string[]): string[] {
  return env.pinned ? ["taskset", "-c", cpu, ...cmd] : cmd;
}

export function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** Reads a child's stdout line by line. */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
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

/** A fresh server process: the agent, or a bench script. */
export interface Server {
  readonly target: string;
  readonly socket: string;
  /** The gRPC method the client calls, and the request bytes it sends. */
  readonly path: string;
  readonly request: Uint8Array;
  /**
   * The process that serves. For the agent it is the process `basil agent`
   * was started as: the launcher exec'ed the sandboxed agent in place.
   */
  readonly pid: number;
  /** What the server wrote to stderr so far (the agent's JSON log lines). */
  stderr?(): string;
  stop(): Promise<void>;
}

/**
 * Starts the agent of `f` through the CLI (`basil agent -c`, which execs the
 * sandboxed agent in the same process), pinned like a server.
 */
export async function startAgent(
  env: BenchEnv,
  f: Fixture,
  target: string,
  path: string,
  request: Uint8Array,
): Promise<Server> {
  const a: RunningAgent = await f.start();
  const pid = a.agentPid;
  pin(env, pid, SERVER_CPU);
  return {
    target,
    socket: f.socket,
    path,
    request,
    pid,
    stderr: () => a.stderr,
    async stop() {
      if (!alive(pid)) {
        throw new Error(`agent ${pid} died during the run:\n${a.stderr.slice(-2000)}`);
      }
      const { code, stderr } = await a.stop();
      if (code !== 0) throw new Error(`agent exited ${code}:\n${stderr.slice(-2000)}`);
    },
  };
}

/**
 * Deno 2.9.4-2.9.6 `node:http2` servers abort when a client closes a
 * connection that carried a few hundred streams (guides/performance.md
 * §0.1: `free(): invalid pointer`, or nghttp2's `find_stream_on_goaway_func`
 * assertion). The agent does not use `node:http2`; the grpc-js echo floor
 * does, so its abort after a completed run is counted, not fatal.
 */
const NODE_HTTP2_ABORT = /free\(\): invalid pointer|find_stream_on_goaway_func/;

/** How many grpc-js floor servers aborted at client close in this process. */
export const floorAborts: { count: number } = { count: 0 };

/**
 * Starts a bench script as a server (`deno run … <script args>`, socket
 * included in `args`); it must print `listening` once bound.
 */
export async function startScript(
  env: BenchEnv,
  target: string,
  args: string[],
  socket: string,
  path: string,
  request: Uint8Array,
): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...DENO_FLAGS, ...args],
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
  pin(env, child.pid, SERVER_CPU);
  return {
    target,
    socket,
    path,
    request,
    pid: child.pid,
    async stop() {
      if (!alive(child.pid)) {
        const text = await errText;
        if (args.some((a) => a.endsWith("/echo_server.ts")) && NODE_HTTP2_ABORT.test(text)) {
          // The client finished (measure() returned): only the teardown aborted.
          floorAborts.count++; // bench/run.ts reports the count
          await drained;
          return;
        }
        throw new Error(`${target} server died during the run: ${text}`);
      }
      child.kill("SIGTERM");
      const st = await child.status;
      await drained;
      if (st.code !== 0) throw new Error(`${target} server exited ${st.code}: ${await errText}`);
    },
  };
}

// ------------------------------------------------------------------ client

/** The bench client (bench/client.ts) as a separate process, pinned to cpu1. */
export function clientCommand(
  env: BenchEnv,
  args: string[],
  stdin: "null" | "piped" = "null",
): Deno.Command {
  const [cmd, ...rest] = pinned(env, CLIENT_CPU, [
    Deno.execPath(),
    ...DENO_FLAGS,
    `${ROOT}/bench/client.ts`,
    ...args,
  ]);
  return new Deno.Command(cmd!, { args: rest, cwd: ROOT, stdin, stdout: "piped", stderr: "piped" });
}

/**
 * c workers on one connection to `s`, warm-up then measured (env). Throws
 * unless the request and response are exactly `bytes` on the wire: the
 * floor and the operation must move the same bytes. `clientArgs` go before
 * the mode (e.g. `--md key=value`).
 */
export async function measure(
  env: BenchEnv,
  s: Server,
  conc: number,
  bytes: { req: number; resp: number },
  clientArgs: readonly string[] = [],
): Promise<Summary> {
  const o = await clientCommand(env, [
    ...clientArgs,
    "measure",
    s.socket,
    s.path,
    hex(s.request),
    String(conc),
    String(env.warmMs),
    String(env.runMs),
  ]).output();
  if (!o.success) throw new Error(`client failed (${s.target} c=${conc}): ${dec.decode(o.stderr)}`);
  const r: Summary = JSON.parse(dec.decode(o.stdout).trim().split("\n").pop()!);
  if (r.req_bytes !== bytes.req || r.resp_bytes !== bytes.resp) {
    throw new Error(
      `${s.target}: request/response are ${r.req_bytes}/${r.resp_bytes} B, ` +
        `not ${bytes.req}/${bytes.resp}`,
    );
  }
  return r;
}

/** A load client (bench/client.ts `load`) that has made its calls and still holds its connection. */
export interface LoadClient {
  child: Deno.ChildProcess;
  out: AsyncGenerator<string>;
  err: Promise<string>;
}

/** Runs `calls` sequential calls; resolves once done, with the connection still open. */
export async function load(env: BenchEnv, s: Server, calls: number): Promise<LoadClient> {
  const child = clientCommand(
    env,
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
export async function endLoad(c: LoadClient): Promise<void> {
  try {
    await c.child.stdin.close();
  } catch { /* already closed */ }
  for await (const _ of c.out) { /* drain */ }
  await c.child.status;
  await c.err;
}

/**
 * Runs an in-process "C" script pinned like a server (`<script> <cRunMs>
 * [extra…]`); one Summary per output line.
 */
export async function runInproc(
  env: BenchEnv,
  script: string,
  extra: readonly string[] = [],
): Promise<Summary[]> {
  const [cmd, ...rest] = pinned(env, SERVER_CPU, [
    Deno.execPath(),
    ...DENO_FLAGS,
    "--allow-sys=uid,gid",
    `${ROOT}/bench/${script}`,
    String(env.cRunMs),
    ...extra,
  ]);
  const c = await new Deno.Command(cmd!, { args: rest, cwd: ROOT, stdin: "null" }).output();
  if (!c.success) throw new Error(`${script} failed: ${dec.decode(c.stderr)}`);
  return dec.decode(c.stdout).trim().split("\n").map((l) => JSON.parse(l));
}

// ------------------------------------------------------------------ report

/** Median and range over runs. */
export interface Agg {
  med: number;
  min: number;
  max: number;
}

export const agg = (xs: number[]): Agg => ({
  med: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
});

export const fmt = (a: Agg, d = 0): string =>
  `${a.med.toFixed(d)} (${a.min.toFixed(d)}–${a.max.toFixed(d)})`;
export const fmtK = (a: Agg): string =>
  `${(a.med / 1000).toFixed(2)}k (${(a.min / 1000).toFixed(2)}–${(a.max / 1000).toFixed(2)}k)`;
export const fmtX = (a: Agg): string =>
  `${a.med.toFixed(2)}× (${a.min.toFixed(2)}–${a.max.toFixed(2)})`;

/** The report line on how the figures were taken (rounds, timing, pinning). */
export function roundsLine(env: BenchEnv): string {
  return `median (min–max) of ${env.rounds} interleaved round(s) of ${env.warmMs / 1000} s ` +
    `warm-up + ${env.runMs / 1000} s; ${env.pinned ? "server cpu0, client cpu1" : "unpinned"}${
      env.quick ? "; --quick" : ""
    }`;
}

/** The run settings every results file records under `config`. */
export function envConfig(env: BenchEnv): Record<string, unknown> {
  return {
    rounds: env.rounds,
    warmMs: env.warmMs,
    runMs: env.runMs,
    cRunMs: env.cRunMs,
    quick: env.quick,
    pinned: env.pinned,
  };
}

/** A goal verdict; only gated ones count toward the summary line. */
export interface GoalVerdict {
  readonly gate: boolean;
  readonly pass: boolean;
}

/** `Gated goals: N PASS, M MISS (names of the misses)`; `name` labels a verdict. */
export function gatedSummary<V extends GoalVerdict>(verdicts: V[], name: (v: V) => string): string {
  const gated = verdicts.filter((v) => v.gate);
  const missed = gated.filter((v) => !v.pass);
  return `Gated goals: ${gated.length - missed.length} PASS, ${missed.length} MISS (${
    missed.map(name).join(", ") || "none"
  })`;
}

/** Writes a results file (default bench/results/<stamp>[-quick][-suffix].json); returns its path. */
export function writeResults(
  env: BenchEnv,
  started: Date,
  suffix: string,
  body: Record<string, unknown>,
): string {
  const stamp = started.toISOString().replace(/:/g, "-").replace(/\..*$/, "");
  const file = env.out ??
    `${ROOT}/bench/results/${stamp}${env.quick ? "-quick" : ""}${suffix}.json`;
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
        ...body,
      },
      null,
      2,
    ) + "\n",
  );
  return file;
}
