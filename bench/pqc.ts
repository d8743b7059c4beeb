// deno-lint-ignore-file no-console
/**
 * `deno task bench --suite pqc` (issue 15 item 3): post-quantum operations
 * over the real socket against the same work in process.
 *
 * - `sign`: SigningService.Sign with ML-DSA-65 (32-byte message) on a
 *   software-custody key in the keystore (the seed read, the key pair
 *   expanded, a hedged pure signature; two audited decisions, `sign` and
 *   `use_software_custody`).
 * - `wrap`: AeadService.WrapEnvelope with ML-KEM-768 and ChaCha20-Poly1305
 *   (32-byte plaintext, a DEK) to a software-custody sealing key.
 *
 * Each is measured, at 1 and 16 in flight, three ways in the same run:
 * the agent (`basil agent`, fresh per run, cpu0) from the separate
 * bench/client.ts process (cpu1); the echo on the broker's own transport
 * (bench/h2_echo.ts) with the same request and response sizes (the
 * transport alone; the grpc-js echo_server.ts currently aborts on exit,
 * "free(): invalid pointer", under Deno 2.9.6); and in process
 * (bench/pqc_inproc.ts, cpu0): @noble/post-quantum directly, and
 * lib/crypto/pqc.ts as the broker calls it. Floor and agent alternate
 * within each round. Reported: p50 and ops/s, socket ÷ in-process
 * (noble) and socket − echo, median (min–max) over rounds. Writes
 * bench/results/<timestamp>-pqc.json.
 *
 *   deno task bench --suite pqc [--quick] [--rounds N] [--no-pin]
 * @module
 */

import { create, toBinary } from "@bufbuild/protobuf";
import {
  EnvelopeAlgorithm,
  KemAlgorithm,
  SigningAlgorithm,
  SigningService,
  WrapEnvelopeRequestSchema,
} from "../lib/wire/basil/broker/v1/broker_pb.ts";
import { SignRequestSchema } from "../lib/wire/basil/broker/v1/broker_pb.ts";
import { ROOT } from "../tests/helpers/cli.ts";
import { Fixture } from "../tests/helpers/fixture.ts";
import { rawCall, rawUnary } from "../tests/helpers/rawgrpc.ts";
import type { Agg, BenchEnv, Server } from "./common.ts";
import {
  agg,
  envConfig,
  fmt,
  fmtX,
  loadavg,
  measure,
  roundsLine,
  runInproc,
  standaloneEnv,
  startAgent,
  startScript,
  writeResults,
} from "./common.ts";
import type { Summary } from "./h.ts";

const DSA_KEY = "bench.pq.dsa";
const KEM_KEY = "bench.pq.kem";
const MESSAGE_BYTES = 32;
const PLAINTEXT_BYTES = 32;
const CONCS = [1, 16] as const;

interface Op {
  readonly name: "sign" | "wrap";
  readonly label: string;
  readonly path: string;
  readonly request: Uint8Array;
  /** The in-process series (bench/pqc_inproc.ts) this op is compared with. */
  readonly noble: string;
  readonly lib: string;
}

const OPS: readonly Op[] = [
  {
    name: "sign",
    label: "Sign ML-DSA-65 (32 B)",
    path: "/basil.broker.v1.SigningService/Sign",
    request: toBinary(
      SignRequestSchema,
      create(SignRequestSchema, {
        keyId: DSA_KEY,
        message: new Uint8Array(MESSAGE_BYTES).fill(7),
        algorithm: SigningAlgorithm.ML_DSA_65,
      }),
    ),
    noble: "sign.noble",
    lib: "sign.lib",
  },
  {
    name: "wrap",
    label: "WrapEnvelope ML-KEM-768 (32 B)",
    path: "/basil.broker.v1.AeadService/WrapEnvelope",
    request: toBinary(
      WrapEnvelopeRequestSchema,
      create(WrapEnvelopeRequestSchema, {
        keyId: KEM_KEY,
        kemAlgorithm: KemAlgorithm.ML_KEM_768,
        envelopeAlgorithm: EnvelopeAlgorithm.CHACHA20_POLY1305,
        plaintext: new Uint8Array(PLAINTEXT_BYTES).fill(9),
      }),
    ),
    noble: "wrap.noble",
    lib: "wrap.lib",
  },
];

/** One ML-DSA-65 signing key and one ML-KEM-768 sealing key on the keystore. */
function pqcCatalog(): unknown {
  const key = (extra: Record<string, unknown>) => ({
    backend: "db",
    writable: true,
    missing: "warn",
    description: "post-quantum benchmark key",
    ...extra,
  });
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: "${DB}",
        engines: ["transit", "kv2"],
        mintKeyTypes: ["ml-dsa-65"],
      },
    },
    keys: {
      [DSA_KEY]: key({ class: "asymmetric", keyType: "ml-dsa-65", path: "bench/pq-dsa" }),
      [KEM_KEY]: key({
        class: "sealing",
        keyType: "ml-kem-768",
        path: "bench/pq-kem",
        publicPath: "bench/pq-kem-pub",
      }),
    },
  };
}

/** `uid` may create, sign and wrap, with the explicit software-custody grant. */
function pqcPolicy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { bench: { anyOf: [{ kind: "unix", uid }] } },
    rules: [{
      id: "bench-pq",
      subjects: ["bench"],
      action: ["op:new_key", "op:sign", "op:encrypt", "op:use_software_custody"],
      target: ["bench.pq.*"],
    }],
  };
}

type Target = "echo" | "broker";
interface Run {
  op: Op["name"];
  conc: number;
  round: number;
  target: Target;
  load: string;
  summary: Summary;
}

/** Runs the PQC suite, prints its table and writes its results file. */
export async function runPqc(env: BenchEnv): Promise<void> {
  const log = env.log;
  const started = new Date();
  const f = await Fixture.create({ catalog: pqcCatalog(), policy: pqcPolicy });
  const scratch = await Deno.makeTempDir({ prefix: "basil-bench-pqc-" });
  const echoSock = `${scratch}/echo.sock`;
  const respBytes: Record<string, number> = {};
  const runs: Run[] = [];
  const inproc: Summary[][] = [];
  log(
    `basil bench PQC: Deno ${Deno.version.deno}, ${env.rounds} round(s), ${env.warmMs} ms ` +
      `warm-up + ${env.runMs} ms per run, c ∈ {${CONCS.join(", ")}}; ` +
      `${env.pinned ? "servers cpu0 / clients cpu1" : "unpinned"}; load ${loadavg()}`,
  );
  try {
    // Unmeasured: create both keys, and the response size of each op (the floor echoes it).
    {
      const a = await startAgent(env, f, "broker", OPS[0]!.path, OPS[0]!.request);
      try {
        for (const keyId of [DSA_KEY, KEM_KEY]) {
          const r = await rawCall(f.socket, SigningService.method.newKey, { keyId });
          if (r.code !== "OK") throw new Error(`NewKey ${keyId}: ${JSON.stringify(r)}`);
        }
        for (const op of OPS) {
          const r = await rawUnary(f.socket, op.path, op.request);
          if (r.code !== "OK") throw new Error(`${op.name}: ${JSON.stringify(r)}`);
          respBytes[op.name] = r.response!.length;
        }
      } finally {
        await a.stop();
      }
    }
    const server = (t: Target, op: Op): Promise<Server> =>
      t === "broker" ? startAgent(env, f, "broker", op.path, op.request) : startScript(
        env,
        "echo",
        [`${ROOT}/bench/h2_echo.ts`, echoSock, String(respBytes[op.name])],
        echoSock,
        "/bench.Echo/Unary",
        op.request,
      );
    for (let round = 1; round <= env.rounds; round++) {
      inproc.push(
        await runInproc(env, "pqc_inproc.ts", [String(MESSAGE_BYTES), String(PLAINTEXT_BYTES)]),
      );
      const order: Target[] = round % 2 === 1 ? ["echo", "broker"] : ["broker", "echo"];
      for (const op of OPS) {
        for (const conc of CONCS) {
          for (const target of order) {
            const s = await server(target, op);
            const load = loadavg();
            let summary: Summary;
            try {
              summary = await measure(env, s, conc, {
                req: op.request.length,
                resp: respBytes[op.name]!,
              });
            } finally {
              await s.stop();
            }
            runs.push({ op: op.name, conc, round, target, load, summary });
            log(
              `round ${round} ${op.name} c=${String(conc).padEnd(2)} ${target.padEnd(6)} ` +
                `p50 ${summary.p50_us.toFixed(0)} µs, ${summary.ops_s} ops/s ` +
                `(load ${load.split(" ")[0]})`,
            );
          }
        }
      }
    }
  } finally {
    f.cleanup();
    Deno.removeSync(scratch, { recursive: true });
  }

  // ---------------------------------------------------------------- report
  const rounds = [...new Set(runs.map((r) => r.round))];
  const one = (op: string, conc: number, t: Target, round: number) =>
    runs.find((r) => r.op === op && r.conc === conc && r.target === t && r.round === round)!
      .summary;
  const series = (name: string) => inproc.map((rs) => rs.find((r) => r.name === name)!);
  const rows = OPS.flatMap((op) =>
    CONCS.map((conc) => {
      const per = rounds.map((round, i) => {
        const b = one(op.name, conc, "broker", round);
        const e = one(op.name, conc, "echo", round);
        const noble = series(op.noble)[i]!;
        return {
          broker_p50: b.p50_us,
          broker_ops: b.ops_s,
          echo_p50: e.p50_us,
          noble_p50: noble.p50_us,
          noble_ops: noble.ops_s,
          lib_p50: series(op.lib)[i]!.p50_us,
          // c=1: latency ratio; c=16: the agent's throughput against one in-process thread's.
          ratio: conc === 1 ? b.p50_us / noble.p50_us : noble.ops_s / b.ops_s,
          over_echo: b.p50_us - e.p50_us,
        };
      });
      const a = (k: keyof typeof per[number]): Agg => agg(per.map((p) => p[k]));
      return {
        op: op.name,
        label: op.label,
        conc,
        req_bytes: op.request.length,
        resp_bytes: respBytes[op.name],
        broker_p50_us: a("broker_p50"),
        broker_ops_s: a("broker_ops"),
        echo_p50_us: a("echo_p50"),
        noble_p50_us: a("noble_p50"),
        noble_ops_s: a("noble_ops"),
        lib_p50_us: a("lib_p50"),
        ratio: a("ratio"),
        broker_minus_echo_us: a("over_echo"),
      };
    })
  );
  const lines = [
    "",
    `PQC over the socket vs in process — ${roundsLine(env)}`,
    "op                               c   agent p50 µs        agent ops/s      echo p50 µs     " +
    "noble p50 µs      lib p50 µs        ratio",
    ...rows.map((r) =>
      `${r.label.padEnd(32)} ${String(r.conc).padEnd(3)} ${fmt(r.broker_p50_us).padEnd(19)} ${
        fmt(r.broker_ops_s).padEnd(16)
      } ${fmt(r.echo_p50_us).padEnd(15)} ${fmt(r.noble_p50_us).padEnd(17)} ${
        fmt(r.lib_p50_us).padEnd(17)
      } ${fmtX(r.ratio)}`
    ),
    "ratio: c=1 agent p50 ÷ noble p50 (latency over the socket vs the same work in process); " +
    "c=16: noble ops/s (one thread, in process) ÷ agent ops/s.",
    "noble = @noble/post-quantum (+ @noble HKDF/ChaCha for wrap) with the key in hand; lib = " +
    "lib/crypto/pqc.ts as the broker calls it (ML-DSA: key pair expanded from the seed per sign).",
  ];
  for (const l of lines) console.log(l);
  const file = writeResults(env, started, "-pqc", {
    config: { ...envConfig(env), concs: CONCS, messageBytes: MESSAGE_BYTES },
    rows,
    inproc,
    runs,
  });
  log(`results: ${file}`);
}

if (import.meta.main) await runPqc(standaloneEnv(Deno.args));
