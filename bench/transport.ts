// deno-lint-ignore-file no-console
/**
 * The transport suite of `deno task bench` (`--suite transport`, issue 10
 * item 8): the agent on its libnghttp2 transport against the grpc-js server
 * path it replaced, and both against an echo on each transport, by the
 * method of guides/performance.md §4.
 *
 * - Four servers, each run on a FRESH process, interleaved in every round
 *   (A B C D, the order rotated by one each round so none always goes
 *   first):
 *   - `agent`: the real agent, `basil agent -c` through the CLI (it execs
 *     the sandboxed agent in place), catalog of one value key and one
 *     Ed25519 key on the embedded keystore (created by its reconcile in an
 *     unmeasured first start);
 *   - `grpcjs-broker`: the same services over the grpc-js path the agent
 *     used before (bench/grpcjs_broker.ts: SO_PEERCRED, connection
 *     injector), broker built in process with the same catalog and policy;
 *   - `h2-echo`: the echo on the new transport (bench/h2_echo.ts);
 *   - `grpcjs-echo`: the bare grpc-js echo (bench/echo_server.ts).
 * - Operations: GetSecret of a 32-byte value (36 B request and response)
 *   and Sign Ed25519 of 32 bytes; the echoes answer with the operation's
 *   response size (`measure` checks the bytes). 1, 16 and 64 calls in
 *   flight on one connection of the grpc-js client (bench/client.ts, a
 *   separate process), 1 s warm-up + 3 s measured. Servers on cpu0, clients
 *   on cpu1 (`--no-pin`).
 * - C (bench/inproc_transport.ts, once per round, pinned like a server):
 *   the raw operation in the library the broker uses, plus the layers above
 *   it for attribution.
 * - RSS of the whole agent process tree (and, beside it, of the grpc-js
 *   path): idle after 3 s; after 20k sequential calls on one connection
 *   (still connected); after 10k and after 50k short connections of one
 *   call each (bench/conns_client.ts, 16 at a time), each read 2 s after
 *   the last connection closed (the server trims its heap once a second).
 *
 * Goals (per round, then the median (min–max) of the rounds):
 * - p50 at c=1: agent ≤ 0.6 × grpc-js path (issue 10);
 * - R8: agent p50 − (h2-echo p50 + C p50) ≤ 100 µs at c=1;
 * - idle RSS of the whole agent ≤ 100 MiB (it was 226 MiB across launcher
 *   and agent on the grpc-js transport).
 * Informational: the same at c=16 and 64, the RSS growth per connection
 * from 10k to 50k connections (issue 10 item 4's leak bound: 2 KiB).
 *
 * `--diag` adds, at c=1 in every round, the agent exec'ed directly with the
 * launcher's command line minus its `--v8-flags` (what those flags cost),
 * and every server measured with a grpc-go client too (bench/go_client,
 * Debian's grpc 1.33: the servers compared without the grpc-js client's
 * own cost, as R7 asks).
 *
 * Prints tables and writes bench/results/<timestamp>-transport[-diag].json.
 * `--quick`: 1 round of 1 s + 1 s; RSS after 5k calls and 2k + 8k connections.
 * @module
 */

import { ROOT } from "../tests/helpers/cli.ts";
import { Fixture } from "../tests/helpers/fixture.ts";
import type { Agg, BenchEnv, Mem, ProcExec, Server } from "./common.ts";
import {
  agg,
  CLIENT_CPU,
  DENO_FLAGS,
  endLoad,
  envConfig,
  fmt,
  fmtK,
  fmtX,
  gatedSummary,
  hex,
  load,
  loadavg,
  measure,
  pinned,
  procExec,
  roundsLine,
  runInproc,
  sleep,
  startAgent,
  startExec,
  startScript,
  treeMem,
  writeResults,
} from "./common.ts";
import type { Summary } from "./h.ts";
import {
  ECHO_PATH,
  ED25519_OP,
  GET_PATH,
  getSecretRequest,
  tier2Payload,
  tier2Request,
  tier2ResponseBytes,
  transportCatalog,
  transportPolicy,
} from "./setup.ts";

const CONCS = [1, 16, 64] as const;
const TARGETS = ["agent", "grpcjs-broker", "h2-echo", "grpcjs-echo"] as const;
type Target = typeof TARGETS[number];
/** --diag: the agent exec'ed directly with the launcher's command line minus its --v8-flags. */
type DiagTarget = Target | "agent-default-v8";
const DIAG_TARGETS: readonly DiagTarget[] = [...TARGETS, "agent-default-v8"];
type Client = "grpc-js" | "grpc-go";
type OpName = "getsecret" | "sign-ed25519";
/** The goals: issue 10 item 8 and guides/performance.md R8. */
const GOAL = { vsGrpcJs: 0.6, r8_us: 100, idleMiB: 100, leakKiB: 2 } as const;
const dec = new TextDecoder();

/** One operation's wire: its method, request bytes and the sizes every server must answer with. */
interface Wire {
  readonly op: OpName;
  readonly label: string;
  readonly rpc: string;
  readonly request: Uint8Array;
  readonly bytes: { req: number; resp: number };
}

interface RunRecord extends Summary {
  op: OpName;
  target: DiagTarget;
  client: Client;
  conc: number;
  round: number;
  loadavg_before: string;
  loadavg_after: string;
}

/** What a short-connection client reports (bench/conns_client.ts). */
interface ConnsReport {
  n: number;
  ok: number;
  failed: number;
  ms: number;
  conns_s: number;
  errors: Record<string, number>;
}

interface RssRecord {
  target: "agent" | "grpcjs-broker";
  rep: number;
  procs: number;
  idle: Mem;
  after_calls: Mem;
  after_conns_warm: Mem;
  after_conns: Mem;
  conns: ConnsReport[];
  loadavg: string;
}

/** Runs `n` short connections of one call each against `s`, `parallel` at a time. */
async function shortConnections(
  env: BenchEnv,
  s: Server,
  respBytes: number,
  n: number,
  parallel = 16,
): Promise<ConnsReport> {
  const [cmd, ...args] = pinned(env, CLIENT_CPU, [
    Deno.execPath(),
    ...DENO_FLAGS,
    `${ROOT}/bench/conns_client.ts`,
    s.socket,
    s.path,
    hex(s.request),
    String(respBytes),
    String(n),
    String(parallel),
  ]);
  const o = await new Deno.Command(cmd!, { args, cwd: ROOT, stdin: "null" }).output();
  if (!o.success) throw new Error(`conns client failed: ${dec.decode(o.stderr)}`);
  return JSON.parse(dec.decode(o.stdout).trim().split("\n").pop()!);
}

/**
 * Builds bench/go_client (grpc-go from Debian's packages, GOPATH mode, as
 * tests/helpers/echo.ts builds the test client) into `dir`; undefined when
 * Go or the packages are missing.
 */
async function buildGoClient(dir: string): Promise<string | undefined> {
  try {
    Deno.mkdirSync(`${dir}/go/src`, { recursive: true });
    Deno.symlinkSync(`${ROOT}/bench/go_client`, `${dir}/go/src/benchclient`);
    const out = await new Deno.Command("go", {
      args: ["build", "-o", `${dir}/go_client`, "benchclient"],
      env: {
        GO111MODULE: "off",
        GOPATH: `${dir}/go:/usr/share/gocode`,
        GOCACHE: `${dir}/go/cache`,
        GOFLAGS: "",
      },
      stdout: "null",
      stderr: "piped",
    }).output();
    return out.success ? `${dir}/go_client` : undefined;
  } catch {
    return undefined;
  }
}

/** bench/client.ts `measure`, with the grpc-go client; checks the wire sizes the same way. */
async function measureGo(
  env: BenchEnv,
  bin: string,
  s: Server,
  conc: number,
  bytes: { req: number; resp: number },
): Promise<Summary> {
  const [cmd, ...args] = pinned(env, CLIENT_CPU, [
    bin,
    "measure",
    s.socket,
    s.path,
    hex(s.request),
    String(conc),
    String(env.warmMs),
    String(env.runMs),
  ]);
  const o = await new Deno.Command(cmd!, { args, stdin: "null" }).output();
  if (!o.success) throw new Error(`go client failed (${s.target}): ${dec.decode(o.stderr)}`);
  const r: Summary = JSON.parse(dec.decode(o.stdout).trim().split("\n").pop()!);
  if (r.req_bytes !== bytes.req || r.resp_bytes !== bytes.resp) {
    throw new Error(
      `${s.target}: ${r.req_bytes}/${r.resp_bytes} B, not ${bytes.req}/${bytes.resp}`,
    );
  }
  return r;
}

/** Runs the transport suite, prints its tables and writes its results file. */
export async function runTransport(env: BenchEnv, o: { diag: boolean }): Promise<void> {
  const log = env.log;
  const CFG = env.quick
    ? { rssReps: 1, rssCalls: 5000, connsWarm: 2000, conns: 10000, idleMs: 3000, settleMs: 2000 }
    : { rssReps: 3, rssCalls: 20000, connsWarm: 10000, conns: 50000, idleMs: 3000, settleMs: 2000 };
  const started = new Date();
  const f = await Fixture.create({ catalog: transportCatalog("${DB}"), policy: transportPolicy });
  const scratch = await Deno.makeTempDir({ prefix: "basil-bench-transport-" });
  const getReq = getSecretRequest();
  const signReq = tier2Request(ED25519_OP, tier2Payload(ED25519_OP));
  const wires: Wire[] = [
    {
      op: "getsecret",
      label: "GetSecret, 32 B value",
      rpc: GET_PATH,
      request: getReq,
      bytes: { req: getReq.length, resp: 36 },
    },
    {
      op: "sign-ed25519",
      label: "Sign Ed25519, 32 B",
      rpc: ED25519_OP.rpc,
      request: signReq,
      bytes: { req: signReq.length, resp: tier2ResponseBytes(ED25519_OP) },
    },
  ];
  const runs: RunRecord[] = [];
  const cRuns: Summary[][] = [];
  const rss: RssRecord[] = [];
  let agentV8Flags: string[] = [];

  let agentExec: ProcExec | undefined;
  const fresh = (w: Wire, t: DiagTarget): Promise<Server> => {
    if (t === "agent") return startAgent(env, f, t, w.rpc, w.request);
    if (t === "agent-default-v8") {
      const exec = {
        argv: agentExec!.argv.filter((a) => !a.startsWith("--v8-flags")),
        env: agentExec!.env,
      };
      return startExec(env, exec, t, f.socket, w.rpc, w.request);
    }
    const socket = `${scratch}/${t}.sock`;
    const resp = w.bytes.resp === w.bytes.req ? [] : [String(w.bytes.resp)];
    switch (t) {
      case "grpcjs-broker":
        return startScript(
          env,
          t,
          ["--allow-sys=uid,gid", `${ROOT}/bench/grpcjs_broker.ts`, socket],
          socket,
          w.rpc,
          w.request,
        );
      case "h2-echo":
        return startScript(
          env,
          t,
          [`${ROOT}/bench/h2_echo.ts`, socket, ...resp],
          socket,
          ECHO_PATH,
          w.request,
        );
      case "grpcjs-echo":
        return startScript(
          env,
          t,
          [`${ROOT}/bench/echo_server.ts`, socket, ...resp],
          socket,
          ECHO_PATH,
          w.request,
        );
    }
  };

  log(
    `basil bench transport: Deno ${Deno.version.deno}, ${env.rounds} round(s), ${env.warmMs} ms ` +
      `warm-up + ${env.runMs} ms per run, c ∈ {${CONCS.join(", ")}}, ` +
      `${env.pinned ? "servers cpu0 / clients cpu1" : "unpinned"}; load ${loadavg()}`,
  );
  for (const w of wires) {
    log(`  ${w.label}: request ${w.bytes.req} B, response ${w.bytes.resp} B (${w.rpc})`);
  }

  try {
    // The first start runs reconcile, which creates the value and the key; not measured.
    const first = await startAgent(env, f, "agent", wires[0]!.rpc, wires[0]!.request);
    agentExec = procExec(first.pid);
    agentV8Flags = agentExec.argv.filter((a) => a.startsWith("--v8-flags"));
    await first.stop();
    const goBin = o.diag ? await buildGoClient(scratch) : undefined;
    if (o.diag) {
      log(
        `  --diag: grpc-go client ${goBin ?? "unavailable"}; agent-default-v8 = the agent without ${
          agentV8Flags.join(" ") || "(none)"
        }`,
      );
    }
    log(
      `  the agent runs with ${
        agentV8Flags.join(" ") || "no --v8-flags"
      }; the other servers with none`,
    );
    for (let round = 1; round <= env.rounds; round++) {
      const c = await runInproc(env, "inproc_transport.ts");
      cRuns.push(c);
      for (const w of wires) {
        const s = (n: string) => c.find((r) => r.name === `${w.op}:${n}`)!;
        log(
          `round ${round} C ${w.op.padEnd(13)} p50 ${s("C").p50_us} µs; broker ` +
            `${s("broker").p50_us} µs; adapter ${s("adapter").p50_us} µs`,
        );
      }
      const order = TARGETS.map((_, i) => TARGETS[(i + round - 1) % TARGETS.length]!);
      for (const w of wires) {
        for (const conc of CONCS) {
          for (const target of order) {
            const s = await fresh(w, target);
            const before = loadavg();
            let r: Summary;
            try {
              r = await measure(env, s, conc, w.bytes);
            } finally {
              await s.stop();
            }
            runs.push({
              ...r,
              op: w.op,
              target,
              client: "grpc-js",
              conc,
              round,
              loadavg_before: before,
              loadavg_after: loadavg(),
            });
            log(
              `round ${round} ${w.op.padEnd(13)} c=${String(conc).padEnd(2)} ${
                target.padEnd(13)
              } p50 ${r.p50_us} µs, p99 ${r.p99_us} µs, ${r.ops_s} ops/s ` +
                `(load ${before.split(" ")[0]})`,
            );
          }
          if (!o.diag || conc !== 1) continue;
          // --diag at c=1: the agent without its V8 flags, and every server with grpc-go.
          const plan: [DiagTarget, Client][] = [
            ["agent-default-v8", "grpc-js"],
            ...(goBin ? DIAG_TARGETS.map((t) => [t, "grpc-go"] as [DiagTarget, Client]) : []),
          ];
          const rotated = plan.map((_, i) => plan[(i + round - 1) % plan.length]!);
          for (const [target, client] of rotated) {
            const s = await fresh(w, target);
            const before = loadavg();
            let r: Summary;
            try {
              r = client === "grpc-go"
                ? await measureGo(env, goBin!, s, conc, w.bytes)
                : await measure(env, s, conc, w.bytes);
            } finally {
              await s.stop();
            }
            runs.push({
              ...r,
              op: w.op,
              target,
              client,
              conc,
              round,
              loadavg_before: before,
              loadavg_after: loadavg(),
            });
            log(
              `round ${round} ${w.op.padEnd(13)} c=1  ${
                target.padEnd(16)
              } ${client} p50 ${r.p50_us} ` +
                `µs, p99 ${r.p99_us} µs (load ${before.split(" ")[0]})`,
            );
          }
        }
      }
    }

    // RSS: GetSecret, the agent's whole process tree and the grpc-js path beside it.
    const w = wires[0]!;
    for (let rep = 1; rep <= CFG.rssReps; rep++) {
      for (const target of ["agent", "grpcjs-broker"] as const) {
        const s = await fresh(w, target);
        try {
          await sleep(CFG.idleMs);
          const { procs, ...idle } = treeMem(s.pid);
          const la = loadavg();
          const client = await load(env, s, CFG.rssCalls);
          let afterCalls: Mem;
          try {
            afterCalls = treeMem(s.pid);
          } finally {
            await endLoad(client);
          }
          const warm = await shortConnections(env, s, w.bytes.resp, CFG.connsWarm);
          await sleep(CFG.settleMs);
          const afterWarm = treeMem(s.pid);
          const rest = await shortConnections(env, s, w.bytes.resp, CFG.conns - CFG.connsWarm);
          await sleep(CFG.settleMs);
          const afterConns = treeMem(s.pid);
          const strip = ({ rss, anon, hwm }: Mem): Mem => ({ rss, anon, hwm });
          rss.push({
            target,
            rep,
            procs,
            idle,
            after_calls: strip(afterCalls),
            after_conns_warm: strip(afterWarm),
            after_conns: strip(afterConns),
            conns: [warm, rest],
            loadavg: la,
          });
          log(
            `rss ${target.padEnd(13)} rep ${rep}: idle ${idle.rss} MiB (${procs} process(es), ` +
              `anon ${idle.anon}), after ${CFG.rssCalls} calls ${afterCalls.rss}, after ` +
              `${CFG.connsWarm} connections ${afterWarm.rss}, after ${CFG.conns} ${afterConns.rss} ` +
              `MiB (peak ${afterConns.hwm}); connections ok ${warm.ok + rest.ok}/${CFG.conns} at ` +
              `${rest.conns_s}/s`,
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

  const rounds = [...new Set(runs.map((r) => r.round))];
  const one = (op: OpName, t: DiagTarget, c: number, round: number, client: Client = "grpc-js") =>
    runs.find((r) =>
      r.op === op && r.target === t && r.conc === c && r.round === round && r.client === client
    )!;
  const cOf = (op: OpName, series: string) =>
    cRuns.map((rs) => rs.find((r) => r.name === `${op}:${series}`)!);

  const summary = wires.map((w) => {
    const C = cOf(w.op, "C");
    const inproc = Object.fromEntries(
      ["C", "broker", "adapter", "adapter.after-idle"].map((n) => [n, {
        p50: agg(cOf(w.op, n).map((r) => r.p50_us)),
        p99: agg(cOf(w.op, n).map((r) => r.p99_us)),
      }]),
    );
    const byConc = CONCS.map((conc) => {
      const per = rounds.map((round, i) => {
        const x = Object.fromEntries(TARGETS.map((t) => [t, one(w.op, t, conc, round)])) as Record<
          Target,
          RunRecord
        >;
        return {
          x,
          vsGrpcJs: x.agent.p50_us / x["grpcjs-broker"].p50_us,
          r8: x.agent.p50_us - (x["h2-echo"].p50_us + C[i]!.p50_us),
          echoRatio: x["h2-echo"].p50_us / x["grpcjs-echo"].p50_us,
          opsVsGrpcJs: x.agent.ops_s / x["grpcjs-broker"].ops_s,
          grpcjsR8: x["grpcjs-broker"].p50_us - (x["grpcjs-echo"].p50_us + C[i]!.p50_us),
        };
      });
      const A = (fn: (p: typeof per[number]) => number) => agg(per.map(fn));
      const series = Object.fromEntries(TARGETS.map((t) => [t, {
        p50: A((p) => p.x[t].p50_us),
        p99: A((p) => p.x[t].p99_us),
        ops: A((p) => p.x[t].ops_s),
      }])) as Record<Target, { p50: Agg; p99: Agg; ops: Agg }>;
      return {
        conc,
        series,
        agent_over_grpcjs_p50: A((p) => p.vsGrpcJs),
        agent_over_grpcjs_ops: A((p) => p.opsVsGrpcJs),
        r8_us: A((p) => p.r8),
        grpcjs_r8_us: A((p) => p.grpcjsR8),
        h2_echo_over_grpcjs_echo_p50: A((p) => p.echoRatio),
      };
    });
    return { op: w.op, label: w.label, bytes: w.bytes, inproc, byConc };
  });

  const rssOf = (t: RssRecord["target"]) => {
    const rs = rss.filter((r) => r.target === t);
    const kib = (r: RssRecord) =>
      (r.after_conns.rss - r.after_conns_warm.rss) * 1024 / (CFG.conns - CFG.connsWarm);
    return {
      procs: agg(rs.map((r) => r.procs)),
      idle: agg(rs.map((r) => r.idle.rss)),
      idle_anon: agg(rs.map((r) => r.idle.anon)),
      after_calls: agg(rs.map((r) => r.after_calls.rss)),
      after_conns_warm: agg(rs.map((r) => r.after_conns_warm.rss)),
      after_conns: agg(rs.map((r) => r.after_conns.rss)),
      after_conns_hwm: agg(rs.map((r) => r.after_conns.hwm)),
      growth_kib_per_conn: agg(rs.map(kib)),
      conns_s: agg(rs.map((r) => r.conns[1]!.conns_s)),
      conns_failed: rs.reduce((a, r) => a + r.conns[0]!.failed + r.conns[1]!.failed, 0),
      conns_errors: rs.flatMap((r) => r.conns.map((c) => c.errors)).filter((e) =>
        Object.keys(e).length > 0
      ),
    };
  };
  const rssSummary = { agent: rssOf("agent"), "grpcjs-broker": rssOf("grpcjs-broker") };

  type Verdict = { goal: string; what: string; gate: boolean; pass: boolean };
  const verdicts: Verdict[] = [];
  const mark = (v: Verdict) => {
    verdicts.push(v);
    return `${v.pass ? "PASS" : "MISS"}${v.gate ? "" : " (informational)"}`;
  };

  const out: string[] = [];
  out.push("");
  out.push(
    `Transport: the agent (libnghttp2 via FFI, started by basil agent) vs the grpc-js path, ` +
      `and an echo on each — unix socket, Deno ${Deno.version.deno}, grpc-js client, one ` +
      `connection, fresh server per run;`,
  );
  out.push(roundsLine(env) + "; target order rotated each round");
  out.push(
    `The agent runs with ${agentV8Flags.join(" ") || "no --v8-flags"} (its launcher's choice); ` +
      "the grpc-js path and both echoes with Deno's defaults.",
  );
  out.push("");
  out.push(
    "| operation | c | agent p50 / p99 µs | grpc-js path p50 / p99 µs | h2 echo p50 / p99 µs | " +
      "grpc-js echo p50 / p99 µs | agent ops/s | grpc-js path ops/s | h2 echo ops/s | grpc-js echo ops/s |",
  );
  out.push("|---|---|---|---|---|---|---|---|---|---|");
  for (const s of summary) {
    for (const t of s.byConc) {
      const pp = (x: { p50: Agg; p99: Agg }) => `${fmt(x.p50)} / ${x.p99.med.toFixed(0)}`;
      out.push(
        `| ${s.label} | ${t.conc} | ${pp(t.series.agent)} | ${pp(t.series["grpcjs-broker"])} | ${
          pp(t.series["h2-echo"])
        } | ${pp(t.series["grpcjs-echo"])} | ${fmtK(t.series.agent.ops)} | ${
          fmtK(t.series["grpcjs-broker"].ops)
        } | ${fmtK(t.series["h2-echo"].ops)} | ${fmtK(t.series["grpcjs-echo"].ops)} |`,
      );
    }
  }
  out.push("");
  out.push(
    "In process (µs p50, single thread): C = the raw operation (GetSecret: keystore read + " +
      "AES-GCM open; Sign: node:crypto Ed25519 with the key in hand); broker = lib/broker in " +
      "one audited request; adapter = the transport's method without HTTP/2:",
  );
  out.push("");
  out.push("| operation | C | broker | adapter | adapter after 1 ms idle |");
  out.push("|---|---|---|---|---|");
  for (const s of summary) {
    const p = s.inproc;
    out.push(
      `| ${s.label} | ${fmt(p["C"]!.p50, 1)} | ${fmt(p["broker"]!.p50, 1)} | ${
        fmt(p["adapter"]!.p50, 1)
      } | ${fmt(p["adapter.after-idle"]!.p50, 1)} |`,
    );
  }
  const a = rssSummary.agent;
  const g = rssSummary["grpcjs-broker"];
  out.push("");
  out.push(
    `| RSS MiB (${CFG.rssReps} fresh servers, whole process tree) | processes | idle ${
      CFG.idleMs / 1000
    } s | idle anon | after ${CFG.rssCalls / 1000}k calls | after ${
      CFG.connsWarm / 1000
    }k connections | after ${CFG.conns / 1000}k connections | peak | growth ${
      CFG.connsWarm / 1000
    }k→${CFG.conns / 1000}k KiB/conn | connections/s |`,
  );
  out.push("|---|---|---|---|---|---|---|---|---|---|");
  for (const [name, r] of [["agent (libnghttp2)", a], ["grpc-js path", g]] as const) {
    out.push(
      `| ${name} | ${r.procs.med} | ${fmt(r.idle, 1)} | ${fmt(r.idle_anon, 1)} | ${
        fmt(r.after_calls, 1)
      } | ${fmt(r.after_conns_warm, 1)} | ${fmt(r.after_conns, 1)} | ${
        fmt(r.after_conns_hwm, 1)
      } | ${fmt(r.growth_kib_per_conn, 2)} | ${fmtK(r.conns_s)} |`,
    );
  }
  out.push(
    `Short connections that failed: agent ${a.conns_failed}, grpc-js path ${g.conns_failed}` +
      (a.conns_errors.length + g.conns_errors.length > 0
        ? ` (${JSON.stringify({ agent: a.conns_errors, grpcjs: g.conns_errors })})`
        : ""),
  );
  out.push("");
  out.push("| goal | operation | c | measured | bound | ratio or excess | verdict |");
  out.push("|---|---|---|---|---|---|---|");
  for (const s of summary) {
    for (const t of s.byConc) {
      const gate = t.conc === 1;
      const v = mark({
        goal: "p50 vs grpc-js",
        what: `${s.op} c=${t.conc}`,
        gate,
        pass: t.agent_over_grpcjs_p50.med <= GOAL.vsGrpcJs,
      });
      out.push(
        `| agent p50 ≤ ${GOAL.vsGrpcJs}× grpc-js path | ${s.label} | ${t.conc} | ${
          fmt(t.series.agent.p50)
        } µs | ${GOAL.vsGrpcJs} × ${fmt(t.series["grpcjs-broker"].p50)} µs | ${
          fmtX(t.agent_over_grpcjs_p50)
        } | ${v} |`,
      );
    }
    for (const t of s.byConc) {
      const gate = t.conc === 1;
      const v = mark({
        goal: "R8",
        what: `${s.op} c=${t.conc}`,
        gate,
        pass: t.r8_us.med <= GOAL.r8_us,
      });
      out.push(
        `| R8 agent − (h2 echo + C) ≤ ${GOAL.r8_us} µs | ${s.label} | ${t.conc} | ${
          fmt(t.series.agent.p50)
        } µs | ${fmt(t.series["h2-echo"].p50)} + ${fmt(s.inproc["C"]!.p50, 1)} µs | ${
          fmt(t.r8_us)
        } µs | ${v} |`,
      );
    }
  }
  {
    const v = mark({
      goal: "idle RSS",
      what: "whole agent",
      gate: true,
      pass: a.idle.med <= GOAL.idleMiB,
    });
    out.push(
      `| idle RSS of the whole agent ≤ ${GOAL.idleMiB} MiB | – | – | ${
        fmt(a.idle, 1)
      } MiB (${a.procs.med} process) | ${GOAL.idleMiB} MiB | grpc-js path ${
        fmt(g.idle, 1)
      } MiB | ${v} |`,
    );
    const leak = mark({
      goal: "leak",
      what: "growth per connection",
      gate: false,
      pass: a.growth_kib_per_conn.med <= GOAL.leakKiB && a.conns_failed === 0,
    });
    out.push(
      `| RSS growth per connection after warm-up ≤ ${GOAL.leakKiB} KiB, no failed connection | – | – | ${
        fmt(a.growth_kib_per_conn, 2)
      } KiB, ${a.conns_failed} failed | ${GOAL.leakKiB} KiB | grpc-js path ${
        fmt(g.growth_kib_per_conn, 2)
      } KiB | ${leak} |`,
    );
  }
  out.push("");
  out.push("Attribution at c=1 (medians):");
  for (const s of summary) {
    const t1 = s.byConc[0]!;
    const inside = s.inproc["adapter"]!.p50.med - s.inproc["C"]!.p50.med;
    out.push(
      `  ${s.label}: R8 ${t1.r8_us.med.toFixed(0)} µs = in-process broker work (adapter − C) ` +
        `${inside.toFixed(0)} µs + rest ${(t1.r8_us.med - inside).toFixed(0)} µs; the same ` +
        `excess on the grpc-js path (over its own echo) ${t1.grpcjs_r8_us.med.toFixed(0)} µs; ` +
        `h2 echo ÷ grpc-js echo p50 ${fmtX(t1.h2_echo_over_grpcjs_echo_p50)}`,
    );
  }
  /** --diag at c=1: per round, then the median (min–max). */
  const diag = o.diag
    ? wires.map((w) => {
      const C = cOf(w.op, "C");
      const has = (t: DiagTarget, client: Client) =>
        rounds.every((round) => one(w.op, t, 1, round, client) !== undefined);
      const series = Object.fromEntries(
        ([["agent-default-v8", "grpc-js"], ...DIAG_TARGETS.map((t) => [t, "grpc-go"])] as [
          DiagTarget,
          Client,
        ][]).filter(([t, c]) => has(t, c)).map(([t, c]) => {
          const rs = rounds.map((round) => one(w.op, t, 1, round, c));
          return [`${t} (${c})`, {
            p50: agg(rs.map((r) => r.p50_us)),
            p99: agg(rs.map((r) => r.p99_us)),
          }];
        }),
      );
      const per = (fn: (round: number, i: number) => number) => agg(rounds.map(fn));
      const p50 = (t: DiagTarget, c: Client) => (round: number) => one(w.op, t, 1, round, c).p50_us;
      const go = has("agent", "grpc-go");
      return {
        op: w.op,
        label: w.label,
        series,
        v8_flags_cost_us: per((r) =>
          p50("agent", "grpc-js")(r) - p50("agent-default-v8", "grpc-js")(r)
        ),
        ...(go
          ? {
            go_agent_over_grpcjs_path: per((r) =>
              p50("agent", "grpc-go")(r) / p50("grpcjs-broker", "grpc-go")(r)
            ),
            go_r8_us: per((r, i) =>
              p50("agent", "grpc-go")(r) - (p50("h2-echo", "grpc-go")(r) + C[i]!.p50_us)
            ),
            go_h2_echo_over_grpcjs_echo: per((r) =>
              p50("h2-echo", "grpc-go")(r) / p50("grpcjs-echo", "grpc-go")(r)
            ),
            go_v8_flags_cost_us: per((r) =>
              p50("agent", "grpc-go")(r) - p50("agent-default-v8", "grpc-go")(r)
            ),
            go_default_v8_over_grpcjs_path: per((r) =>
              p50("agent-default-v8", "grpc-go")(r) / p50("grpcjs-broker", "grpc-go")(r)
            ),
          }
          : {}),
      };
    })
    : undefined;
  if (diag) {
    out.push("");
    out.push(
      "--diag at c=1: the agent exec'ed without its --v8-flags (agent-default-v8), and every " +
        "server with a grpc-go client (Debian's grpc 1.33, bench/go_client) instead of grpc-js:",
    );
    out.push("");
    out.push("| operation | series (client) | p50 µs | p99 µs |");
    out.push("|---|---|---|---|");
    for (const d of diag) {
      for (const [name, x] of Object.entries(d.series)) {
        out.push(`| ${d.label} | ${name} | ${fmt(x.p50)} | ${x.p99.med.toFixed(0)} |`);
      }
    }
    out.push("");
    for (const d of diag) {
      out.push(
        `  ${d.label}: the agent's V8 flags cost ${fmt(d.v8_flags_cost_us)} µs at c=1 (grpc-js ` +
          `client)` +
          (d.go_agent_over_grpcjs_path
            ? `, ${fmt(d.go_v8_flags_cost_us!)} µs (grpc-go); with grpc-go: agent ÷ grpc-js ` +
              `path ${fmtX(d.go_agent_over_grpcjs_path)} (without the V8 flags ${
                fmtX(d.go_default_v8_over_grpcjs_path!)
              }), R8 ${fmt(d.go_r8_us!)} µs, h2 echo ÷ grpc-js echo ${
                fmtX(d.go_h2_echo_over_grpcjs_echo!)
              }`
            : ""),
      );
    }
  }
  out.push("", gatedSummary(verdicts, (v) => `${v.goal} ${v.what}`));
  console.log(out.join("\n"));

  const file = writeResults(env, started, o.diag ? "-transport-diag" : "-transport", {
    suite: "transport",
    config: {
      ...envConfig(env),
      ...CFG,
      diag: o.diag,
      concs: CONCS,
      targets: TARGETS,
      goals: GOAL,
      agent_v8_flags: agentV8Flags,
      ops: wires.map((w) => ({ op: w.op, rpc: w.rpc, bytes: w.bytes })),
    },
    summary: { ops: summary, rss: rssSummary, diag },
    verdicts,
    runs,
    c_runs: cRuns,
    rss_runs: rss,
  });
  console.log(`\nresults: ${file}`);
}
