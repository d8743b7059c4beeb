// deno-lint-ignore-file no-console
/**
 * The GetSecret suite of `deno task bench` (issue 15, method of
 * guides/performance.md §4).
 *
 * - Transport, interleaved A/B: the bare grpc-js echo server (A, the floor
 *   E) and the real agent started through the CLI (B, GetSecret of a
 *   32-byte value), each run on a FRESH server process, at 1 and 16 calls
 *   in flight on one connection, 1 s warm-up + 3 s measured, 3 rounds. The
 *   client is a separate Deno grpc-js process (bench/client.ts) doing the
 *   same work for both; every message is 36 bytes on the wire. Servers are
 *   pinned to cpu0 and clients to cpu1 (`--no-pin` to disable).
 * - C: the broker's own work per GetSecret in process (bench/inproc.ts).
 * - R8 = broker.p50 − (echo.p50 + C.p50), per round, at each concurrency.
 * - R11: idle RSS after 3 s and RSS after 20k sequential calls (client still
 *   connected), the agent's whole process tree vs echo server, 3 fresh
 *   servers each.
 *
 * - `--diag` adds three servers between echo and agent in every round
 *   (bench/diag_server.ts) to attribute the agent's extra cost.
 *
 * Prints a table and writes bench/results/<timestamp>[-diag].json (summaries
 * only, no raw latencies). `--quick`: 1 round of 1 s + 1 s, RSS after 5k calls.
 * @module
 */

import { ROOT } from "../tests/helpers/cli.ts";
import { Fixture } from "../tests/helpers/fixture.ts";
import type { BenchEnv, Mem, Server } from "./common.ts";
import {
  agg,
  endLoad,
  envConfig,
  fmt,
  fmtK,
  fmtX,
  load,
  loadavg,
  measure,
  roundsLine,
  runInproc,
  sleep,
  startAgent,
  startScript,
  treeMem,
  writeResults,
} from "./common.ts";
import type { Summary } from "./h.ts";
import {
  BENCH_KEY,
  benchCatalog,
  benchPolicy,
  ECHO_PATH,
  echoPayload,
  GET_PATH,
  getSecretRequest,
} from "./setup.ts";

const CONCS = [1, 16] as const;
const BYTES = { req: 36, resp: 36 };

type DiagTarget = "echo-injector" | "handler-plain" | "handler-server";
type Target = "echo" | "broker" | DiagTarget;
const DIAG_TARGETS: readonly DiagTarget[] = ["echo-injector", "handler-plain", "handler-server"];

const GET_REQ = getSecretRequest();
const ECHO_REQ = echoPayload(36);

/** The bare echo server, or one of the --diag servers, as a separate process. */
function startTarget(env: BenchEnv, dir: string, target: "echo" | DiagTarget): Promise<Server> {
  const socket = `${dir}/${target}.sock`;
  const script = target === "echo"
    ? [`${ROOT}/bench/echo_server.ts`, socket]
    : ["--allow-sys=uid,gid", `${ROOT}/bench/diag_server.ts`, target, socket];
  const echoLike = target === "echo" || target === "echo-injector";
  return startScript(
    env,
    target,
    script,
    socket,
    echoLike ? ECHO_PATH : GET_PATH,
    echoLike ? ECHO_REQ : GET_REQ,
  );
}

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
  idle: Mem;
  loaded: Mem;
  /** Processes in the server's tree (the agent is one process since it execs). */
  procs: number;
  loadavg: string;
}

/** Runs the GetSecret suite, prints its table and writes its results file. */
export async function runGetSecret(env: BenchEnv, o: { diag: boolean }): Promise<void> {
  const CFG = env.quick
    ? { rssReps: 1, rssCalls: 5000, idleMs: 3000 }
    : { rssReps: 3, rssCalls: 20000, idleMs: 3000 };
  /** Interleaving order inside one (round, c): floor first, agent last. */
  const TARGETS: readonly Target[] = o.diag
    ? ["echo", ...DIAG_TARGETS, "broker"]
    : ["echo", "broker"];
  const log = env.log;

  const started = new Date();
  const f = await Fixture.create({ catalog: benchCatalog("${DB}"), policy: benchPolicy });
  const scratch = await Deno.makeTempDir({ prefix: "basil-bench-" });
  const runs: RunRecord[] = [];
  const rss: RssRecord[] = [];
  const cRuns: Summary[][] = [];

  const fresh = (t: Target): Promise<Server> =>
    t === "broker" ? startAgent(env, f, "broker", GET_PATH, GET_REQ) : startTarget(env, scratch, t);

  log(
    `basil bench GetSecret: Deno ${Deno.version.deno}, ${env.rounds} round(s), ${env.warmMs} ms ` +
      `warm-up + ${env.runMs} ms per run, ` +
      `${env.pinned ? "servers cpu0 / clients cpu1" : "unpinned"}; load ${loadavg()}`,
  );

  try {
    for (let round = 1; round <= env.rounds; round++) {
      // C, in process, pinned like a server.
      cRuns.push(await runInproc(env, "inproc.ts"));

      for (const conc of CONCS) {
        for (const target of TARGETS) {
          const s = await fresh(target);
          const before = loadavg();
          let r: Summary;
          try {
            r = await measure(env, s, conc, BYTES);
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
            `round ${round} c=${conc} ${target.padEnd(14)} p50 ${r.p50_us} µs, p99 ${r.p99_us} ` +
              `µs, ${r.ops_s} ops/s (load ${before.split(" ")[0]})`,
          );
        }
      }
    }

    for (let rep = 1; rep <= CFG.rssReps; rep++) {
      for (const target of ["echo", "broker"] as const) {
        const s = await fresh(target);
        try {
          await sleep(CFG.idleMs);
          const { procs, ...idle } = treeMem(s.pid);
          const la = loadavg();
          const client = await load(env, s, CFG.rssCalls);
          let loaded: Mem;
          try {
            const { procs: _, ...m } = treeMem(s.pid);
            loaded = m;
          } finally {
            await endLoad(client);
          }
          rss.push({ target, rep, idle, loaded, procs, loadavg: la });
          log(
            `rss ${target.padEnd(6)} rep ${rep}: idle ${idle.rss} MiB (anon ${idle.anon}, ` +
              `${procs} process(es)), after ${CFG.rssCalls} calls ${loaded.rss} MiB ` +
              `(peak ${loaded.hwm})`,
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

  // ---------------------------------------------------------------- report

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
          rounds.map((round) =>
            byRound(t, conc, round).p50_us / byRound("echo", conc, round).p50_us
          ),
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
      agg(
        rounds.map((round) => byRound("broker", conc, round)[k] / byRound("echo", conc, round)[k]),
      );
    return {
      conc,
      echo: stats(e),
      broker: stats(b),
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
  const R11 = {
    idle_ratio: rssBroker.idle.med / rssEcho.idle.med,
    idle_goal: 1.5,
    loaded_ratio: rssBroker.loaded.med / rssEcho.loaded.med,
    loaded_goal: 1.25,
  };

  const out: string[] = [];
  out.push("");
  out.push(
    `GetSecret (agent via basil agent) vs bare grpc-js echo — unix socket, Deno ${Deno.version.deno}, ` +
      `36 B request and response, one connection, fresh server per run;`,
  );
  out.push(roundsLine(env));
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
  out.push(
    `R11: idle ${R11.idle_ratio.toFixed(2)}× (goal ≤ ${R11.idle_goal}) → ${
      R11.idle_ratio <= R11.idle_goal ? "MET" : "NOT MET"
    }; loaded ${R11.loaded_ratio.toFixed(2)}× (goal ≤ ${R11.loaded_goal}) → ${
      R11.loaded_ratio <= R11.loaded_goal ? "MET" : "NOT MET"
    }`,
  );
  console.log(out.join("\n"));

  const file = writeResults(env, started, o.diag ? "-diag" : "", {
    config: {
      ...envConfig(env),
      ...CFG,
      diag: o.diag,
      concs: CONCS,
      key: BENCH_KEY,
      bytes: 36,
    },
    summary: { transport, C, rss: { echo: rssEcho, broker: rssBroker }, R11 },
    runs,
    c_runs: cRuns,
    rss_runs: rss,
  });
  console.log(`\nresults: ${file}`);
}
