/**
 * What both suites of `deno task bench` share: fresh server processes (the
 * agent through the launcher, or a bench script), the separate client
 * process, CPU pinning, /proc readings, the in-process "C" runner and the
 * median (min–max) aggregation and formatting.
 * @module
 */

import { ROOT } from "../tests/helpers/cli.ts";
import { readProc } from "../tests/helpers/fixture.ts";
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

function alive(pid: number): boolean {
  try {
    readProc(`/proc/${pid}/stat`);
    return true;
  } catch {
    return false;
  }
}

function pin(env: BenchEnv, pid: number, cpu: string): void {
  if (!env.pinned) return;
  const o = new Deno.Command("taskset", { args: ["-a", "-p", "-c", cpu, String(pid)] })
    .outputSync();
  if (!o.success) throw new Error(`taskset failed for ${pid}: ${dec.decode(o.stderr)}`);
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

/** A fresh server process: the agent via the launcher, or a bench script. */
export interface Server {
  readonly target: string;
  readonly socket: string;
  /** The gRPC method the client calls, and the request bytes it sends. */
  readonly path: string;
  readonly request: Uint8Array;
  /** The process that serves (for the agent: the sandboxed child, not the launcher). */
  readonly pid: number;
  /** The agent's launcher pid (its RSS is reported separately). */
  readonly launcherPid?: number;
  stop(): Promise<void>;
}

/** Starts the agent of `f` through the launcher (`basil agent -c`), pinned like a server. */
export async function startAgent(
  env: BenchEnv,
  f: Fixture,
  target: string,
  path: string,
  request: Uint8Array,
): Promise<Server> {
  const a: RunningAgent = await f.start();
  const pid = a.agentPid;
  if (pid === undefined) throw new Error("no agent pid under the launcher");
  pin(env, a.child.pid, SERVER_CPU);
  pin(env, pid, SERVER_CPU);
  return {
    target,
    socket: f.socket,
    path,
    request,
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
        throw new Error(`${target} server died during the run: ${await errText}`);
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

/** Runs an in-process "C" script pinned like a server; one Summary per output line. */
export async function runInproc(env: BenchEnv, script: string): Promise<Summary[]> {
  const [cmd, ...rest] = pinned(env, SERVER_CPU, [
    Deno.execPath(),
    ...DENO_FLAGS,
    "--allow-sys=uid,gid",
    `${ROOT}/bench/${script}`,
    String(env.cRunMs),
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
