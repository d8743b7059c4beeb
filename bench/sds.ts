// deno-lint-ignore-file no-console
/**
 * `deno task bench --suite sds` (issue 15 item 3): the push of a rotation
 * to 100 open Envoy SDS streams against the Workload API's push to 100
 * open FetchX509SVID streams, in the same run.
 *
 * One agent (fresh per run, cpu0) serves both APIs from the X.509-SVID CA
 * of bench/spiffe_setup.ts, labelled as SDS resources `default` (the
 * caller's SVID and key) and `ROOTCA` (the validation context). A separate
 * client process (cpu1) opens the 100 streams over as few connections as
 * the agent's stream limit allows, waits for every first answer, then
 * triggers 1 + `triggers` times a rotation of the CA (RotateSecret: a new
 * CA version, so a re-issued SVID and a changed bundle) and times, from
 * just before the trigger, the arrival of the push on every stream. The
 * first trigger is a warm-up, reported apart.
 *
 * - `sds`: bench/sds_client.ts, StreamSecrets driven as Envoy drives it:
 *   the first DiscoveryRequest names both resources, the request side stays
 *   open, every response is ACKed. `last` is the last stream's first
 *   message after the trigger; `settled` the last message of any stream
 *   once all went quiet (the certificate and the validation context may
 *   come as one response or as two).
 * - `workload`: bench/client.ts `streams`, FetchX509SVID (the SVID and the
 *   bundle in one message per rotation).
 *
 * Reported: median (min–max) over rounds of each round's median over its
 * triggers; the ratio sds ÷ workload of trigger → last stream. Writes
 * bench/results/<timestamp>-sds.json.
 *
 *   deno task bench --suite sds [--quick] [--rounds N] [--no-pin]
 * @module
 */

import { sessionSettings } from "../lib/transport/limits.ts";
import { ROOT } from "../tests/helpers/cli.ts";
import { Fixture } from "../tests/helpers/fixture.ts";
import type { Agg, BenchEnv } from "./common.ts";
import {
  agg,
  CLIENT_CPU,
  DENO_FLAGS,
  envConfig,
  fmt,
  fmtX,
  hex,
  loadavg,
  pinned,
  runClientJson,
  standaloneEnv,
  startAgent,
  writeResults,
} from "./common.ts";
import { median } from "./h.ts";
import {
  FETCH_JWT_PATH,
  FETCH_X509_PATH,
  jwtRequest,
  ROTATE_PATH,
  rotateRequest,
  SPIFFE_MD_ARGS,
  spiffeCatalog,
  spiffePolicy,
  X509_CA,
  x509Request,
} from "./spiffe_setup.ts";

/** Open streams per API. */
const STREAMS = 100;
/** SDS resource names of the CA (its `envoy_sds_*_resource` labels). */
const CERT_RESOURCE = "default";
const VALIDATION_RESOURCE = "ROOTCA";
/** Quiet time between triggers (and to call a push settled), ms. */
const GAP_MS = 300;
/** No group members: only the driver's uid mints. */
const NO_GROUP = 61000;

type Target = "sds" | "workload";

interface PushRound {
  trigger: number;
  trigger_rtt_us: number;
  first_us: number;
  median_us: number;
  last_us: number;
  spread_us: number;
  settled_us?: number;
  msgs_s: number;
  msgs_per_stream_min?: number;
  msgs_per_stream_max?: number;
  push_bytes_min: number;
  push_bytes_max: number;
}

interface PushResult {
  n: number;
  conns: number;
  mode?: string;
  open_ms: number;
  first_bytes_min: number;
  first_bytes_max: number;
  warmup: PushRound;
  rounds: PushRound[];
}

/** spiffeCatalog with the X.509 CA also served as SDS resources. */
function sdsCatalog(): unknown {
  const c = spiffeCatalog("${DB}") as { keys: Record<string, { labels: string[] }> };
  c.keys[X509_CA]!.labels.push(
    `envoy_sds_certificate_resource=${CERT_RESOURCE}`,
    `envoy_sds_validation_context_resource=${VALIDATION_RESOURCE}`,
  );
  return c;
}

/** Runs the SDS suite, prints its table and writes its results file. */
export async function runSds(env: BenchEnv, o: { halfClose?: boolean } = {}): Promise<void> {
  const log = env.log;
  const started = new Date();
  const triggers = env.quick ? 2 : 3;
  // The agent's transport serves at most maxConcurrentStreams per connection; the trigger needs room.
  const conns = Math.ceil((STREAMS + 1) / sessionSettings(1).maxConcurrentStreams);
  const f = await Fixture.create({
    catalog: sdsCatalog(),
    policy: (uid: number) => spiffePolicy(uid, NO_GROUP),
  });
  const rotReq = rotateRequest();
  const client = (script: string, args: string[]) =>
    pinned(env, CLIENT_CPU, [Deno.execPath(), ...DENO_FLAGS, `${ROOT}/bench/${script}`, ...args]);
  const args: Record<Target, () => string[]> = {
    sds: () =>
      client("sds_client.ts", [
        ...(o.halfClose ? ["--half-close"] : []),
        f.socket,
        String(STREAMS),
        String(conns),
        ROTATE_PATH,
        hex(rotReq),
        String(triggers),
        String(GAP_MS),
        CERT_RESOURCE,
        VALIDATION_RESOURCE,
      ]),
    workload: () =>
      client("client.ts", [
        ...SPIFFE_MD_ARGS,
        "streams",
        f.socket,
        FETCH_X509_PATH,
        hex(x509Request()),
        String(STREAMS),
        String(conns),
        ROTATE_PATH,
        hex(rotReq),
        String(triggers),
        String(GAP_MS),
        FETCH_JWT_PATH,
        hex(jwtRequest()),
      ]),
  };
  log(
    `basil bench SDS: Deno ${Deno.version.deno}, ${env.rounds} round(s), ${STREAMS} streams ` +
      `on ${conns} connections × ${triggers} CA rotations (+1 warm-up) per run; SDS client ` +
      `${o.halfClose ? "half-closed" : "bidirectional, ACKing"}; ` +
      `${env.pinned ? "servers cpu0 / clients cpu1" : "unpinned"}; load ${loadavg()}`,
  );
  const runs: { target: Target; round: number; load: string; result: PushResult }[] = [];
  try {
    // Unmeasured: reconcile creates the issuers; one rotation, so every later bundle carries
    // two CA versions (grace 1), as after any rotation.
    {
      const a = await startAgent(env, f, "probe", FETCH_X509_PATH, x509Request());
      try {
        await runClientJson(
          client("client.ts", [
            ...SPIFFE_MD_ARGS,
            "streams",
            f.socket,
            FETCH_X509_PATH,
            hex(x509Request()),
            "1",
            "1",
            ROTATE_PATH,
            hex(rotReq),
            "0",
            String(GAP_MS),
          ]),
          "probe rotation",
        );
      } finally {
        await a.stop();
      }
    }
    for (let round = 1; round <= env.rounds; round++) {
      const order: Target[] = round % 2 === 1 ? ["workload", "sds"] : ["sds", "workload"];
      for (const target of order) {
        const a = await startAgent(env, f, target, FETCH_X509_PATH, x509Request());
        const load = loadavg();
        let result: PushResult;
        try {
          result = await runClientJson(args[target](), `${target} N=${STREAMS}`);
        } finally {
          await a.stop();
        }
        runs.push({ target, round, load, result });
        const m = (k: keyof PushRound) => median(result.rounds.map((x) => Number(x[k] ?? NaN)));
        log(
          `round ${round} ${target.padEnd(8)} N=${STREAMS} trigger→last ${
            (m("last_us") / 1000).toFixed(2)
          } ms (first ${(m("first_us") / 1000).toFixed(2)}, median ${
            (m("median_us") / 1000).toFixed(2)
          }${target === "sds" ? `, settled ${(m("settled_us") / 1000).toFixed(2)}` : ""}), ` +
            `${Math.round(m("msgs_s"))} msgs/s, push ${result.rounds[0]?.push_bytes_max} B, ` +
            `open ${result.open_ms} ms (load ${load.split(" ")[0]})`,
        );
      }
    }
  } finally {
    f.cleanup();
  }

  // ---------------------------------------------------------------- report
  const rounds = [...new Set(runs.map((r) => r.round))];
  const perRound = (t: Target, k: keyof PushRound) =>
    rounds.map((round) => {
      const r = runs.find((x) => x.target === t && x.round === round)!.result;
      return median(r.rounds.map((x) => Number(x[k] ?? NaN)));
    });
  const stat = (t: Target, k: keyof PushRound): Agg => agg(perRound(t, k).map((x) => x / 1000));
  const ratio = agg(
    rounds.map((_, i) => perRound("sds", "last_us")[i]! / perRound("workload", "last_us")[i]!),
  );
  const settledRatio = agg(
    rounds.map((_, i) => perRound("sds", "settled_us")[i]! / perRound("workload", "last_us")[i]!),
  );
  const summary = {
    streams: STREAMS,
    conns,
    sds_mode: o.halfClose ? "half-close" : "bidi",
    workload_last_ms: stat("workload", "last_us"),
    workload_first_ms: stat("workload", "first_us"),
    sds_last_ms: stat("sds", "last_us"),
    sds_first_ms: stat("sds", "first_us"),
    sds_settled_ms: stat("sds", "settled_us"),
    sds_msgs_per_stream_max: Math.max(
      ...runs.filter((r) => r.target === "sds").flatMap((r) =>
        r.result.rounds.map((x) => x.msgs_per_stream_max ?? 0)
      ),
    ),
    ratio_last: ratio,
    ratio_settled: settledRatio,
  };
  const lines = [
    "",
    `Rotation push to ${STREAMS} open streams (trigger = RotateSecret of the X.509 CA) — ` +
    `median (min–max) of ${env.rounds} round(s), each the median of ${triggers} rotations; ` +
    `${env.pinned ? "server cpu0, client cpu1" : "unpinned"}`,
    `Workload API FetchX509SVID  trigger→first ${fmt(summary.workload_first_ms, 2)} ms, ` +
    `trigger→last ${fmt(summary.workload_last_ms, 2)} ms`,
    `Envoy SDS StreamSecrets     trigger→first ${fmt(summary.sds_first_ms, 2)} ms, ` +
    `trigger→last ${fmt(summary.sds_last_ms, 2)} ms, settled ${
      fmt(summary.sds_settled_ms, 2)
    } ms ` +
    `(≤ ${summary.sds_msgs_per_stream_max} message(s) per stream per rotation)`,
    `SDS ÷ Workload API: trigger→last ${fmtX(ratio)}, settled ${fmtX(settledRatio)}`,
  ];
  for (const l of lines) console.log(l);
  const file = writeResults(env, started, "-sds", {
    config: { ...envConfig(env), streams: STREAMS, conns, triggers, gapMs: GAP_MS },
    summary,
    runs,
  });
  log(`results: ${file}`);
}

if (import.meta.main) {
  await runSds(standaloneEnv(Deno.args), { halfClose: Deno.args.includes("--half-close") });
}
