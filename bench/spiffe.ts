// deno-lint-ignore-file no-console
/**
 * The SPIFFE suite of `deno task bench` (`--suite spiffe`): the Workload API
 * over the broker socket against floors measured in the same run
 * (guides/performance.md §4, goals R4, R5, R10).
 *
 * - C (bench/inproc_spiffe.ts, one process per round, pinned like a
 *   server): `mintJwtSvid` (C for R4) and `pki.issue` on the keystore pki
 *   engine (C_x509 for R5), plus the layers above them.
 * - FetchJWTSVID (ES256 issuer, one audience), interleaved A/B at 1 and 16
 *   in flight: the bare grpc-js echo answering with the JWTSVIDResponse's
 *   size (A, E) and the agent (B), each a FRESH server; the same client
 *   (bench/client.ts) sends the same request bytes and the
 *   `workload.spiffe.io` header to both; sizes are checked.
 *   R4: p50 ≤ 1.5 × (E.p50 + C.p50), judged at c=1 (c=16 informational).
 * - Time to the first FetchX509SVID response, per round one fresh echo
 *   (`/bench.Echo/Stream`, one message of the X509SVIDResponse's size) and
 *   one fresh agent, both warmed (the driver's own SVID, then two
 *   unmeasured new identities). A NEW identity needs a new caller uid (the
 *   SPIFFE ID is templated from the kernel-attested uid; the policy grants
 *   a group whose members are listed in `config.memberships`), so each
 *   sample is a client process run through `setpriv` as a uid never seen
 *   before; it connects, then times call 1 (for the agent: issuance, P-256
 *   leaf keygen + CA signature) and 5 more on the same connection (the SVID
 *   is cached). The same uid then runs against the echo, so both see the
 *   same client. Two client variants per sample: `warm-client` first makes
 *   50 streaming calls to the echo on another connection (its code is warm,
 *   as E is everywhere else), `cold-client` is a fresh process as is (what
 *   a new workload sees). R5: first p50 ≤ 1.3 × (E_first.p50 + C_x509.p50),
 *   gated on the warm client.
 * - Rotation push: N (1, 100, 500) FetchX509SVID streams from one client
 *   process, on as few connections as the agent's stream limit allows
 *   (lib/transport/limits.ts: 100 concurrent streams per connection; the
 *   trigger call needs a slot on the first one): 1, 2 and 6 connections,
 *   the same for the echo; once each has its SVID, the client sends the trigger and
 *   times, from just before sending it, the arrival of the pushed message
 *   on every stream. Agent trigger: RotateSecret of the X.509 CA (exactly
 *   the call `basil rotate --key-id spiffe.x509_ca` makes, sent by the same
 *   client so one clock covers trigger and arrivals): CA keygen + self-sign
 *   + store, event, re-issue of the one SVID all streams share, a push per
 *   stream. Floor: `/bench.Echo/Push` writing one message of the pushed
 *   size to every open `/bench.Echo/Stream`. Before the streams, 50 unary
 *   calls warm the client's unary path (FetchJWTSVID / `/bench.Echo/Unary`);
 *   each run makes 1 + 3 triggers (1 + 2 with `--quick`) 300 ms apart, the
 *   first reported apart as the cold figure. msgs/s = N ÷ (trigger → last
 *   arrival); R10: msgs/s ≥ 0.5 × the echo's, at each N. The push fan-out
 *   alone, (N − 1) ÷ (first → last arrival), is printed as well.
 *
 * Servers on cpu0, clients on cpu1 unless `--no-pin`. Writes
 * bench/results/<timestamp>-spiffe.json.
 * @module
 */

import { sessionSettings } from "../lib/transport/limits.ts";
import { ROOT } from "../tests/helpers/cli.ts";
import { Fixture } from "../tests/helpers/fixture.ts";
import type { BenchEnv, Server } from "./common.ts";
import {
  agg,
  CLIENT_CPU,
  DENO_FLAGS,
  envConfig,
  fmt,
  fmtK,
  fmtX,
  gatedSummary,
  hex,
  loadavg,
  measure,
  pinned,
  runClientJson,
  runInproc,
  startAgent,
  startScript,
  writeResults,
} from "./common.ts";
import type { Agg } from "./common.ts";
import type { Summary } from "./h.ts";
import { median } from "./h.ts";
import {
  FETCH_JWT_PATH,
  FETCH_X509_PATH,
  jwtRequest,
  ROTATE_PATH,
  rotateRequest,
  rotateResponseBytes,
  SPIFFE_MD_ARGS,
  spiffeCatalog,
  spiffePolicy,
  x509Request,
} from "./spiffe_setup.ts";

const GOAL = { r4: 1.5, r5: 1.3, r10: 0.5 } as const;
const JWT_CONCS = [1, 16] as const;
const STREAM_NS = [1, 100, 500] as const;
/**
 * Connections for `n` streams plus the trigger call: the agent's transport
 * serves at most `maxConcurrentStreams` streams per connection (grpc-js
 * queues any call beyond it, so a trigger sent on a full connection would
 * never leave).
 */
function streamConnections(n: number): number {
  return Math.ceil((n + 1) / sessionSettings(1).maxConcurrentStreams);
}
/** Group of the per-sample client uids (policy memberships; setpriv needs no /etc/group entry). */
const WORKLOAD_GID = 61000;
/** First per-sample uid; each sample takes the next one (at most MAX_UIDS in a run). */
const FIRST_UID = 61001;
const MAX_UIDS = 1000;
/** Cached-SVID calls after the first, per sample. */
const AGAIN = 5;
/** Size tolerance between the agent's X.509 responses and the echo's fixed one (DER ECDSA varies). */
const SIZE_SLACK = 16;

type Target = "echo" | "broker";
/** A new-identity sample's client: fresh process as is, or its code warmed on the echo first. */
type Variant = "cold-client" | "warm-client";
const VARIANTS: readonly Variant[] = ["warm-client", "cold-client"];

interface FirstSample {
  warm_calls: number;
  first_us: number;
  first_bytes: number;
  again_us: number[];
  again_bytes: number[];
  req_bytes: number;
}

interface StreamRound {
  trigger: number;
  trigger_rtt_us: number;
  first_us: number;
  median_us: number;
  last_us: number;
  spread_us: number;
  msgs_s: number;
  push_bytes_min: number;
  push_bytes_max: number;
}

interface StreamsResult {
  n: number;
  conns: number;
  open_ms: number;
  first_bytes_min: number;
  first_bytes_max: number;
  extra_messages: number;
  /** The first trigger of the run (cold code on both sides), not in `rounds`. */
  warmup: StreamRound;
  rounds: StreamRound[];
}

/** Runs the SPIFFE suite, prints its tables and writes its results file. */
export async function runSpiffe(env: BenchEnv): Promise<void> {
  const log = env.log;
  const started = new Date();
  const samples = env.quick ? 3 : 5;
  const triggers = env.quick ? 2 : 3;
  const f = await Fixture.create({
    catalog: spiffeCatalog("${DB}"),
    policy: (uid: number) =>
      spiffePolicy(
        uid,
        WORKLOAD_GID,
        Array.from({ length: MAX_UIDS }, (_, i) => FIRST_UID + i),
      ),
    socketMode: "0666",
  });
  const scratch = await Deno.makeTempDir({ prefix: "basil-bench-spiffe-" });
  Deno.chmodSync(scratch, 0o711);
  const denoDirs = `${scratch}/denodir`;
  Deno.mkdirSync(denoDirs);
  Deno.chmodSync(denoDirs, 0o1777);
  const echoSock = `${scratch}/echo.sock`;
  const jwtReq = jwtRequest();
  const x509Req = x509Request();
  const rotReq = rotateRequest();
  let nextUid = FIRST_UID;

  /** The client as `uid` in WORKLOAD_GID (its own DENO_DIR: it cannot read root's). */
  const asUid = (uid: number, args: string[]): string[] =>
    pinned(env, CLIENT_CPU, [
      "setpriv",
      `--reuid=${uid}`,
      `--regid=${WORKLOAD_GID}`,
      "--clear-groups",
      "env",
      `DENO_DIR=${denoDirs}/${uid}`,
      "HOME=/nonexistent",
      Deno.execPath(),
      ...DENO_FLAGS,
      `${ROOT}/bench/client.ts`,
      ...args,
    ]);
  /** The client as the driver's uid (granted rotate). */
  const asMe = (args: string[]): string[] =>
    pinned(env, CLIENT_CPU, [Deno.execPath(), ...DENO_FLAGS, `${ROOT}/bench/client.ts`, ...args]);
  /** `first` client arguments; `warm`: 50 streaming calls to the echo first (client code warm). */
  const firstArgs = (s: Server, reps: number, warm?: Server) => [
    ...SPIFFE_MD_ARGS,
    "first",
    s.socket,
    s.path,
    hex(s.request),
    String(reps),
    ...(warm ? [warm.socket, warm.path, hex(warm.request), "50"] : []),
  ];
  const streamsArgs = (s: Server, n: number, trigger: string, count: number) => [
    ...SPIFFE_MD_ARGS,
    "streams",
    s.socket,
    s.path,
    hex(s.request),
    String(n),
    String(streamConnections(n)),
    trigger,
    hex(rotReq),
    String(count),
    "300",
    // Warms the client's unary path first (a harmless unary call of each server).
    ...(trigger === ROTATE_PATH
      ? [FETCH_JWT_PATH, hex(jwtReq)]
      : ["/bench.Echo/Unary", hex(jwtReq)]),
  ];
  const echo = (resp: number, stream?: number, push?: number): Promise<Server> =>
    startScript(
      env,
      "echo",
      [
        `${ROOT}/bench/echo_server.ts`,
        echoSock,
        String(resp),
        ...(stream === undefined ? [] : [String(stream), String(push ?? stream)]),
      ],
      echoSock,
      stream === undefined ? "/bench.Echo/Unary" : "/bench.Echo/Stream",
      stream === undefined ? jwtReq : x509Req,
    );
  const agent = (path: string, request: Uint8Array) => startAgent(env, f, "broker", path, request);

  log(
    `basil bench SPIFFE: Deno ${Deno.version.deno}, ${env.rounds} round(s), ${env.warmMs} ms ` +
      `warm-up + ${env.runMs} ms per JWT run, c ∈ {${JWT_CONCS.join(", ")}}, ` +
      `${samples} new identities per round, N ∈ {${STREAM_NS.join(", ")}} streams × ${triggers} ` +
      `rotations; ${env.pinned ? "servers cpu0 / clients cpu1" : "unpinned"}; load ${loadavg()}`,
  );

  const cRuns: Summary[][] = [];
  const jwtRuns: (Summary & { target: Target; conc: number; round: number; load: string })[] = [];
  const firstRuns: {
    target: Target;
    variant: Variant;
    round: number;
    uid: number;
    sample: FirstSample;
  }[] = [];
  const streamRuns: {
    target: Target;
    n: number;
    round: number;
    load: string;
    result: StreamsResult;
  }[] = [];
  const sizes = { jwtResp: 0, x509First: 0, x509Push: 0 };

  try {
    // Unmeasured: reconcile creates both issuers; one CA rotation, so every
    // later trust bundle carries two CA versions (grace 1), as after any
    // rotation; then the response sizes the floors must match.
    {
      const a = await agent(FETCH_X509_PATH, x509Req);
      try {
        const r = await runClientJson<StreamsResult>(
          asMe(streamsArgs(a, 1, ROTATE_PATH, 1)),
          "probe rotation",
        );
        sizes.x509Push = r.warmup.push_bytes_max;
      } finally {
        await a.stop();
      }
    }
    {
      const a = await agent(FETCH_X509_PATH, x509Req);
      try {
        const r = await runClientJson<FirstSample>(asMe(firstArgs(a, 1)), "probe first");
        sizes.x509First = r.first_bytes;
        const j = await runClientJson<Summary>(
          asMe([
            ...SPIFFE_MD_ARGS,
            "measure",
            a.socket,
            FETCH_JWT_PATH,
            hex(jwtReq),
            "1",
            "0",
            "100",
          ]),
          "probe jwt",
        );
        sizes.jwtResp = j.resp_bytes as number;
      } finally {
        await a.stop();
      }
    }
    log(
      `  FetchJWTSVID: request ${jwtReq.length} B, response ${sizes.jwtResp} B; ` +
        `FetchX509SVID: request ${x509Req.length} B, first response ${sizes.x509First} B, ` +
        `pushed after a CA rotation ${sizes.x509Push} B; RotateSecret: request ${rotReq.length} B, ` +
        `response ${rotateResponseBytes()} B`,
    );

    for (let round = 1; round <= env.rounds; round++) {
      const c = await runInproc(env, "inproc_spiffe.ts");
      cRuns.push(c);
      const s = (n: string) => c.find((r) => r.name === n)!;
      log(
        `round ${round} C jwt:C p50 ${s("jwt:C").p50_us} µs (sign ${s("jwt:sign").p50_us}); ` +
          `x509:C p50 ${s("x509:C").p50_us} µs (keygen ${s("x509:keygen").p50_us})`,
      );

      // FetchJWTSVID, echo then agent per c.
      for (const conc of JWT_CONCS) {
        for (const target of ["echo", "broker"] as const) {
          const srv = target === "echo"
            ? await echo(sizes.jwtResp)
            : await agent(FETCH_JWT_PATH, jwtReq);
          const load = loadavg();
          let r: Summary;
          try {
            r = await measure(env, srv, conc, { req: jwtReq.length, resp: sizes.jwtResp }, [
              ...SPIFFE_MD_ARGS,
            ]);
          } finally {
            await srv.stop();
          }
          jwtRuns.push({ ...r, target, conc, round, load });
          log(
            `round ${round} jwt c=${String(conc).padEnd(2)} ${
              target.padEnd(6)
            } p50 ${r.p50_us} µs, ` +
              `p99 ${r.p99_us} µs, ${r.ops_s} ops/s (load ${load.split(" ")[0]})`,
          );
        }
      }

      // First FetchX509SVID response: new identities, then cached.
      {
        const e = await echo(2, sizes.x509First, sizes.x509Push);
        const a = await agent(FETCH_X509_PATH, x509Req);
        try {
          // Warm both servers' streaming paths: the driver's own SVID, then two
          // unmeasured new identities (the agent's issuance path).
          for (const srv of [e, a]) await runClientJson(asMe(firstArgs(srv, AGAIN)), "warm-up");
          for (let i = 0; i < 2; i++) {
            const uid = nextUid++;
            for (const srv of [e, a]) {
              await runClientJson(asUid(uid, firstArgs(srv, 1, e)), "warm-up");
            }
          }
          for (let i = 0; i < samples; i++) {
            for (const variant of VARIANTS) {
              const uid = nextUid++;
              if (uid >= FIRST_UID + MAX_UIDS) throw new Error("out of sample uids");
              for (const srv of [e, a]) {
                const target: Target = srv === e ? "echo" : "broker";
                const cmd = asUid(
                  uid,
                  firstArgs(srv, AGAIN, variant === "warm-client" ? e : undefined),
                );
                const sample = await runClientJson<FirstSample>(cmd, `first ${target} uid ${uid}`);
                firstRuns.push({ target, variant, round, uid, sample });
                log(
                  `round ${round} x509 first ${variant} ${target.padEnd(6)} uid ${uid}: first ${
                    (sample.first_us / 1000).toFixed(2)
                  } ms (${sample.first_bytes} B), cached p50 ${
                    (median(sample.again_us) / 1000).toFixed(2)
                  } ms`,
                );
              }
            }
          }
        } finally {
          await a.stop();
          await e.stop();
        }
      }

      // Rotation push to N open streams.
      for (const n of STREAM_NS) {
        for (const target of ["echo", "broker"] as const) {
          const srv = target === "echo"
            ? await echo(rotateResponseBytes(), sizes.x509First, sizes.x509Push)
            : await agent(FETCH_X509_PATH, x509Req);
          const load = loadavg();
          let result: StreamsResult;
          try {
            result = await runClientJson<StreamsResult>(
              asMe(
                streamsArgs(
                  srv,
                  n,
                  target === "echo" ? "/bench.Echo/Push" : ROTATE_PATH,
                  triggers,
                ),
              ),
              `streams ${target} N=${n}`,
            );
          } finally {
            await srv.stop();
          }
          streamRuns.push({ target, n, round, load, result });
          const m = (k: keyof StreamRound) => median(result.rounds.map((x) => x[k]));
          log(
            `round ${round} push N=${String(n).padEnd(3)} ${target.padEnd(6)} trigger→last ${
              (m("last_us") / 1000).toFixed(2)
            } ms (first ${(m("first_us") / 1000).toFixed(2)}, spread ${
              (m("spread_us") / 1000).toFixed(2)
            }), ${Math.round(m("msgs_s"))} msgs/s, open ${result.open_ms} ms ` +
              `(load ${load.split(" ")[0]})`,
          );
        }
      }
    }
  } finally {
    f.cleanup();
    Deno.removeSync(scratch, { recursive: true });
  }

  // ---------------------------------------------------------------- report

  const rounds = [...new Set(jwtRuns.map((r) => r.round))];
  const cOf = (name: string) => cRuns.map((rs) => rs.find((r) => r.name === name)!);
  const cSeries = [
    "jwt:sign",
    "jwt:C",
    "jwt:api",
    "jwt:adapter",
    "x509:keygen",
    "x509:C",
    "x509:new-identity",
    "x509:cached",
    "x509:rotate-ca",
    "x509:rotation.cold",
  ];
  const inproc = Object.fromEntries(cSeries.map((n) => [n, {
    p50: agg(cOf(n).map((r) => r.p50_us)),
    p99: agg(cOf(n).map((r) => r.p99_us)),
    ops: agg(cOf(n).map((r) => r.ops_s)),
  }]));

  // R4
  const jwtOne = (t: Target, c: number, round: number) =>
    jwtRuns.find((r) => r.target === t && r.conc === c && r.round === round)!;
  const jwt = JWT_CONCS.map((conc) => {
    const per = rounds.map((round, i) => {
      const e = jwtOne("echo", conc, round);
      const b = jwtOne("broker", conc, round);
      const c = cOf("jwt:C")[i]!;
      return {
        e,
        b,
        bound: GOAL.r4 * (e.p50_us + c.p50_us),
        ratio: b.p50_us / (e.p50_us + c.p50_us),
        added: b.p50_us - (e.p50_us + c.p50_us),
      };
    });
    const A = (fn: (x: typeof per[number]) => number) => agg(per.map(fn));
    return {
      conc,
      echo: { p50: A((x) => x.e.p50_us), p99: A((x) => x.e.p99_us), ops: A((x) => x.e.ops_s) },
      broker: { p50: A((x) => x.b.p50_us), p99: A((x) => x.b.p99_us), ops: A((x) => x.b.ops_s) },
      bound_us: A((x) => x.bound),
      ratio: A((x) => x.ratio),
      added_us: A((x) => x.added),
    };
  });

  // R5, per client variant
  const firstOf = (variant: Variant) => {
    const per = rounds.map((round, i) => {
      const pick = (t: Target) =>
        firstRuns.filter((r) => r.target === t && r.round === round && r.variant === variant);
      const e = pick("echo");
      const b = pick("broker");
      const eFirst = median(e.map((r) => r.sample.first_us));
      const bFirst = median(b.map((r) => r.sample.first_us));
      const eAgain = median(e.flatMap((r) => r.sample.again_us));
      const bAgain = median(b.flatMap((r) => r.sample.again_us));
      const c = cOf("x509:C")[i]!;
      return {
        eFirst,
        bFirst,
        eAgain,
        bAgain,
        bound: GOAL.r5 * (eFirst + c.p50_us),
        ratio: bFirst / (eFirst + c.p50_us),
        added: bFirst - (eFirst + c.p50_us),
        cachedOverEcho: bAgain / eAgain,
      };
    });
    const FA = (fn: (x: typeof per[number]) => number) => agg(per.map(fn));
    const all = (t: Target) =>
      firstRuns.filter((r) => r.target === t && r.variant === variant).map((r) => r.sample);
    return {
      variant,
      samples_per_round: samples,
      echo_first_us: FA((x) => x.eFirst),
      broker_first_us: FA((x) => x.bFirst),
      echo_cached_us: FA((x) => x.eAgain),
      broker_cached_us: FA((x) => x.bAgain),
      bound_us: FA((x) => x.bound),
      ratio: FA((x) => x.ratio),
      added_us: FA((x) => x.added),
      cached_over_echo: FA((x) => x.cachedOverEcho),
      all_broker_first_us: agg(all("broker").map((x) => x.first_us)),
      all_echo_first_us: agg(all("echo").map((x) => x.first_us)),
      broker_first_bytes: agg(all("broker").map((x) => x.first_bytes)),
      echo_first_bytes: sizes.x509First,
    };
  };
  const x509FirstBy = Object.fromEntries(VARIANTS.map((v) => [v, firstOf(v)])) as Record<
    Variant,
    ReturnType<typeof firstOf>
  >;
  const x509First = x509FirstBy["warm-client"];
  const sizeOk = VARIANTS.every((v) => {
    const b = x509FirstBy[v].broker_first_bytes;
    return Math.abs(b.max - sizes.x509First) <= SIZE_SLACK &&
      Math.abs(b.min - sizes.x509First) <= SIZE_SLACK;
  });

  // R10
  const streamOne = (t: Target, n: number, round: number) =>
    streamRuns.find((r) => r.target === t && r.n === n && r.round === round)!.result;
  const med = (r: StreamsResult, k: keyof StreamRound) => median(r.rounds.map((x) => x[k]));
  const fanout = (r: StreamsResult) =>
    r.n > 1 ? median(r.rounds.map((x) => (r.n - 1) / (x.spread_us / 1e6))) : NaN;
  const push = STREAM_NS.map((n) => {
    const per = rounds.map((round) => {
      const e = streamOne("echo", n, round);
      const b = streamOne("broker", n, round);
      return { e, b, ratio: med(b, "msgs_s") / med(e, "msgs_s"), fan: fanout(b) / fanout(e) };
    });
    const A = (fn: (x: typeof per[number]) => number) => agg(per.map(fn));
    const side = (k: "e" | "b") => ({
      msgs_s: A((x) => med(x[k], "msgs_s")),
      last_us: A((x) => med(x[k], "last_us")),
      first_us: A((x) => med(x[k], "first_us")),
      spread_us: A((x) => med(x[k], "spread_us")),
      trigger_rtt_us: A((x) => med(x[k], "trigger_rtt_us")),
      fanout_msgs_s: A((x) => fanout(x[k])),
      open_ms: A((x) => x[k].open_ms),
      /** The run's first trigger (cold code), trigger → last arrival. */
      warmup_last_us: A((x) => x[k].warmup.last_us),
      push_bytes: agg(per.map((x) => x[k].rounds[0]!.push_bytes_max)),
      extra_messages: per.reduce((a, x) => a + x[k].extra_messages, 0),
    });
    return {
      n,
      echo: side("e"),
      broker: side("b"),
      ratio: A((x) => x.ratio),
      fanout_ratio: A((x) => x.fan),
    };
  });

  // ---------------------------------------------------------------- print

  type Verdict = { goal: string; what: string; gate: boolean; pass: boolean };
  const verdicts: Verdict[] = [];
  const mark = (v: Verdict) => {
    verdicts.push(v);
    return `${v.pass ? "PASS" : "MISS"}${v.gate ? "" : " (informational)"}`;
  };
  const ms = (a: Agg, d = 2) =>
    `${(a.med / 1000).toFixed(d)} (${(a.min / 1000).toFixed(d)}–${(a.max / 1000).toFixed(d)})`;
  const out: string[] = [];
  out.push("");
  out.push(
    `SPIFFE Workload API (agent via basil agent) vs bare grpc-js echo floors — unix socket, Deno ${Deno.version.deno}, ` +
      `fresh server per run; median (min–max) over ${env.rounds} interleaved round(s); ` +
      `${env.pinned ? "server cpu0, client cpu1" : "unpinned"}${env.quick ? "; --quick" : ""}`,
  );
  out.push("");
  out.push("In process (single thread, µs):");
  out.push("");
  out.push("| series | p50 | p99 | ops/s |");
  out.push("|---|---|---|---|");
  for (const n of cSeries) {
    const x = inproc[n]!;
    out.push(`| ${n} | ${fmt(x.p50, 1)} | ${fmt(x.p99, 1)} | ${fmtK(x.ops)} |`);
  }
  out.push("");
  out.push(
    `FetchJWTSVID (ES256, audience "db"; request ${jwtReq.length} B, response ${sizes.jwtResp} B), ` +
      `${env.warmMs / 1000} s warm-up + ${env.runMs / 1000} s per run:`,
  );
  out.push("");
  out.push(
    "| c | echo p50 µs | echo p99 µs | echo ops/s | broker p50 µs | broker p99 µs | broker ops/s | C p50 µs |",
  );
  out.push("|---|---|---|---|---|---|---|---|");
  for (const t of jwt) {
    out.push(
      `| ${t.conc} | ${fmt(t.echo.p50)} | ${fmt(t.echo.p99)} | ${fmtK(t.echo.ops)} | ${
        fmt(t.broker.p50)
      } | ${fmt(t.broker.p99)} | ${fmtK(t.broker.ops)} | ${fmt(inproc["jwt:C"]!.p50, 1)} |`,
    );
  }
  out.push("");
  out.push(
    `Time to the first FetchX509SVID response (ms; per round ${samples} new uids per client ` +
      `variant, each then ${AGAIN} cached calls on its connection; response ${sizes.x509First} B ` +
      `echo, ${fmt(x509First.broker_first_bytes)} B agent; warm client = 50 streaming calls to ` +
      `the echo on another connection first, cold client = a fresh process as is):`,
  );
  out.push("");
  out.push("| client | call | echo | broker | broker ÷ echo | C_x509 (pki.issue) p50 |");
  out.push("|---|---|---|---|---|---|");
  for (const v of VARIANTS) {
    const x = x509FirstBy[v];
    out.push(
      `| ${v} | first call: new identity (median per round) | ${ms(x.echo_first_us)} | ${
        ms(x.broker_first_us)
      } | ${(x.broker_first_us.med / x.echo_first_us.med).toFixed(2)}× | ${
        ms(inproc["x509:C"]!.p50, 3)
      } |`,
    );
    out.push(
      `| ${v} | first call, every sample | ${ms(x.all_echo_first_us)} | ${
        ms(x.all_broker_first_us)
      } | | |`,
    );
    out.push(
      `| ${v} | later calls: cached SVID | ${ms(x.echo_cached_us)} | ${ms(x.broker_cached_us)} | ${
        fmtX(x.cached_over_echo)
      } | – |`,
    );
  }
  out.push("");
  out.push(
    `Rotation push (1 + ${triggers} triggers per run, 300 ms apart, the first reported apart; ` +
      `pushed message ${sizes.x509Push} B; ms from just before the trigger is sent; one client ` +
      `process, ${STREAM_NS.map((n) => `N=${n} on ${streamConnections(n)}`).join(", ")} ` +
      `connection(s)):`,
  );
  out.push("");
  out.push(
    "| N | target | trigger → last ms | trigger → first ms | spread ms | trigger RTT ms | msgs/s | " +
      "fan-out msgs/s | open N ms | 1st trigger (cold) → last ms |",
  );
  out.push("|---|---|---|---|---|---|---|---|---|---|");
  for (const p of push) {
    for (const [name, x] of [["echo", p.echo], ["broker", p.broker]] as const) {
      out.push(
        `| ${p.n} | ${name} | ${ms(x.last_us)} | ${ms(x.first_us)} | ${ms(x.spread_us)} | ${
          ms(x.trigger_rtt_us)
        } | ${fmtK(x.msgs_s)} | ${p.n > 1 ? fmtK(x.fanout_msgs_s) : "–"} | ${fmt(x.open_ms, 1)} | ${
          ms(x.warmup_last_us)
        } |`,
      );
    }
  }
  out.push("");
  out.push("| goal | case | measured | bound | ratio | verdict |");
  out.push("|---|---|---|---|---|---|");
  for (const t of jwt) {
    const v = mark({
      goal: "R4",
      what: `FetchJWTSVID c=${t.conc}`,
      gate: t.conc === 1,
      pass: t.ratio.med <= GOAL.r4,
    });
    out.push(
      `| R4 p50 ≤ ${GOAL.r4}×(E+C) | FetchJWTSVID c=${t.conc} | ${fmt(t.broker.p50)} µs | ${
        fmt(t.bound_us)
      } µs | ${fmtX(t.ratio)} | ${v} |`,
    );
  }
  for (const variant of VARIANTS) {
    const x = x509FirstBy[variant];
    const v = mark({
      goal: "R5",
      what: `first FetchX509SVID, new identity, ${variant}`,
      gate: variant === "warm-client",
      pass: x.ratio.med <= GOAL.r5,
    });
    out.push(
      `| R5 p50 ≤ ${GOAL.r5}×(E+C_x509) | first FetchX509SVID, new identity, ${variant} | ${
        fmt(x.broker_first_us)
      } µs | ${fmt(x.bound_us)} µs | ${fmtX(x.ratio)} | ${v} |`,
    );
  }
  for (const p of push) {
    const v = mark({
      goal: "R10",
      what: `rotation push N=${p.n}`,
      gate: true,
      pass: p.ratio.med >= GOAL.r10,
    });
    out.push(
      `| R10 msgs/s ≥ ${GOAL.r10}× echo | rotation push N=${p.n} | ${
        fmtK(p.broker.msgs_s)
      } | ${GOAL.r10} × ${fmtK(p.echo.msgs_s)} | ${fmtX(p.ratio)} | ${v} |`,
    );
  }
  for (const p of push.filter((p) => p.n > 1)) {
    const v = mark({
      goal: "R10 fan-out",
      what: `push fan-out only N=${p.n}`,
      gate: false,
      pass: p.fanout_ratio.med >= GOAL.r10,
    });
    out.push(
      `| fan-out (N−1)/spread ≥ ${GOAL.r10}× echo | N=${p.n} | ${
        fmtK(p.broker.fanout_msgs_s)
      } | ${GOAL.r10} × ${fmtK(p.echo.fanout_msgs_s)} | ${fmtX(p.fanout_ratio)} | ${v} |`,
    );
  }
  out.push("");
  out.push("Attribution (medians):");
  const j1 = jwt[0]!;
  out.push(
    `  FetchJWTSVID c=1: broker ${j1.broker.p50.med.toFixed(0)} µs = echo ${
      j1.echo.p50.med.toFixed(0)
    } + C ${inproc["jwt:C"]!.p50.med.toFixed(0)} (of which the ES256 signature ${
      inproc["jwt:sign"]!.p50.med.toFixed(0)
    }) + rest ${j1.added_us.med.toFixed(0)} µs; in process the handler costs ${
      inproc["jwt:adapter"]!.p50.med.toFixed(0)
    } µs (api ${inproc["jwt:api"]!.p50.med.toFixed(0)})`,
  );
  out.push(
    `  first FetchX509SVID, warm client: broker ${
      (x509First.broker_first_us.med / 1000).toFixed(2)
    } ms = echo ${(x509First.echo_first_us.med / 1000).toFixed(2)} + C_x509 ${
      (inproc["x509:C"]!.p50.med / 1000).toFixed(2)
    } (leaf keygen ${
      (inproc["x509:keygen"]!.p50.med / 1000).toFixed(2)
    }; source.subscribe of a new ` +
      `identity ${(inproc["x509:new-identity"]!.p50.med / 1000).toFixed(2)}) + rest ${
        (x509First.added_us.med / 1000).toFixed(2)
      } ms${
        sizeOk ? "" : `; WARNING: agent response sizes differ from the echo's by > ${SIZE_SLACK} B`
      }`,
  );
  for (const p of push) {
    out.push(
      `  rotation push N=${p.n}: broker trigger → last ${
        (p.broker.last_us.med / 1000).toFixed(2)
      } ms vs echo ${(p.echo.last_us.med / 1000).toFixed(2)}; trigger → first ${
        (p.broker.first_us.med / 1000).toFixed(2)
      } vs ${(p.echo.first_us.med / 1000).toFixed(2)} (in process, hot loop: CA rotation ${
        (inproc["x509:rotate-ca"]!.p50.med / 1000).toFixed(2)
      } + re-issue ${(inproc["x509:new-identity"]!.p50.med / 1000).toFixed(2)} ms; the first ` +
        `rotations of a process, rotation + issue: ${
          (inproc["x509:rotation.cold"]!.p50.med / 1000).toFixed(2)
        } ms); spread ${(p.broker.spread_us.med / 1000).toFixed(2)} vs ${
          (p.echo.spread_us.med / 1000).toFixed(2)
        } ms`,
    );
  }
  out.push("", gatedSummary(verdicts, (v) => `${v.goal} ${v.what}`));

  console.log(out.join("\n"));

  const file = writeResults(env, started, "-spiffe", {
    suite: "spiffe",
    config: {
      ...envConfig(env),
      jwt_concs: JWT_CONCS,
      stream_ns: STREAM_NS,
      new_identities_per_round: samples,
      cached_calls_per_sample: AGAIN,
      triggers_per_run: triggers,
      goals: GOAL,
      sizes: {
        jwt_request: jwtReq.length,
        jwt_response: sizes.jwtResp,
        x509_request: x509Req.length,
        x509_first_response: sizes.x509First,
        x509_pushed: sizes.x509Push,
        rotate_request: rotReq.length,
        rotate_response: rotateResponseBytes(),
      },
    },
    summary: { inproc, jwt, x509_first: x509FirstBy, push },
    verdicts,
    jwt_runs: jwtRuns,
    first_runs: firstRuns,
    stream_runs: streamRuns,
    c_runs: cRuns,
  });
  console.log(`\nresults: ${file}`);
}
