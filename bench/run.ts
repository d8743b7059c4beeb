// deno-lint-ignore-file no-console
/**
 * `deno task bench`: the broker against floors measured in the same run
 * (method of guides/performance.md §4). The suites, all by default:
 *
 * - `getsecret` (bench/getsecret.ts): GetSecret vs the bare grpc-js echo at
 *   1 and 16 in flight, C in process, R8, and RSS (R11); `--diag` adds
 *   three servers between echo and agent to attribute the difference.
 *   Writes bench/results/<timestamp>[-diag].json.
 * - `tier2` (bench/tier2.ts): Sign Ed25519, Sign ECDSA P-256 (32 B) and
 *   Encrypt AES-256-GCM (1 KiB) vs an echo of the same wire sizes at 1, 16
 *   and 64 in flight, C through the same library calls, goals R1, R2, R3,
 *   R6, R8; `--diag` adds the Tier 2 handlers on plain grpc-js and behind
 *   BrokerServer, and times the handler inside the server at c=1. Writes
 *   bench/results/<timestamp>-tier2[-diag].json.
 * - `spiffe` (bench/spiffe.ts): FetchJWTSVID vs echo at 1 and 16 in flight
 *   (R4), the time to the first FetchX509SVID response for new and cached
 *   identities (R5), and the rotation push to 1, 100 and 500 open streams
 *   vs a streaming echo (R10). Writes bench/results/<timestamp>-spiffe.json.
 * - `unlock` (bench/unlock.ts): start → socket bound through the launcher
 *   with a bundle of one slot each (passphrase, BIP39, age plugin, TPM on
 *   swtpm), against `deno run` hello + grpc-js and the first hash-wasm
 *   Argon2id call in a fresh process (R12), N ≥ 5 starts each; unpinned.
 *   Writes bench/results/<timestamp>-unlock.json.
 * - `transport` (bench/transport.ts): GetSecret and Sign Ed25519 at 1, 16
 *   and 64 in flight on the agent (libnghttp2), the same services on the
 *   grpc-js path it replaced (bench/grpcjs_broker.ts), the echo on each
 *   transport; RSS of the whole agent idle, after 20k calls and after 50k
 *   short connections (issue 10). Writes
 *   bench/results/<timestamp>-transport.json.
 * - `vault` (bench/vault.ts): Sign Ed25519 and GetSecret through an agent
 *   whose catalog uses the vault backend against the double in
 *   tests/fakes/vault, with the double's own HTTP round trip as the floor;
 *   and AppRole token renewal and re-login under sustained load (issue 11).
 *   Writes bench/results/<timestamp>-vault.json.
 * - `nats` (bench/nats.ts): MintNatsUser and a sealed Invoke round trip on
 *   the socket (one kept-open connection per server) vs the echo floor and
 *   the same work in process, and the NATS bridge's added latency over a
 *   direct NATS request-reply (issue 14); unpinned, 1 in flight. Writes
 *   bench/results/<timestamp>-nats.json.
 * - `pqc` (bench/pqc.ts): Sign ML-DSA-65 and WrapEnvelope ML-KEM-768 on
 *   software-custody keys at 1 and 16 in flight, against the echo of the
 *   same sizes and the same work in process (@noble/post-quantum directly,
 *   and lib/crypto/pqc.ts) measured in the same run (issue 15). Writes
 *   bench/results/<timestamp>-pqc.json.
 * - `sds` (bench/sds.ts): a CA rotation pushed to 100 open Envoy SDS
 *   StreamSecrets streams (bidirectional, ACKed, bench/sds_client.ts)
 *   against the same rotation pushed to 100 Workload API FetchX509SVID
 *   streams, in the same run (issue 15). Writes
 *   bench/results/<timestamp>-sds.json.
 * - `durability` (bench/durability.ts): SetSecret and GetSecret under each
 *   `audit-fsync` policy against the echo floor, SQLite commits under
 *   synchronous FULL/NORMAL/OFF and atomic file replacement with and
 *   without the directory fsync against one fdatasync, in the same run
 *   (issue 16; docs/durability.md). Writes
 *   bench/results/<timestamp>-durability.json.
 *
 * Every transport run uses a fresh server (the agent through `basil agent`,
 * or the echo) and a separate client process; floor and agent alternate
 * within each round (A B A B A B over 3 rounds). 1 s warm-up + 3 s measured;
 * `--quick`: 1 round of 1 s + 1 s. Servers on cpu0 and clients on cpu1
 * unless `--no-pin`.
 *
 *   deno task bench [--suite all|getsecret|tier2|spiffe|unlock|transport|vault|nats|pqc|sds|durability] [--quick] [--diag] [--rounds N]
 *                   [--no-pin] [--out file]
 *
 * `--out` names the results file and needs a single suite.
 * @module
 */

import type { BenchEnv } from "./common.ts";
import { floorAborts, hasTaskset } from "./common.ts";
import { runDurability } from "./durability.ts";
import { runGetSecret } from "./getsecret.ts";
import { runNats } from "./nats.ts";
import { runPqc } from "./pqc.ts";
import { runSds } from "./sds.ts";
import { runSpiffe } from "./spiffe.ts";
import { runTier2 } from "./tier2.ts";
import { runTransport } from "./transport.ts";
import { runUnlock } from "./unlock.ts";
import { runVault } from "./vault.ts";

const SUITES = [
  "all",
  "getsecret",
  "tier2",
  "spiffe",
  "unlock",
  "transport",
  "vault",
  "nats",
  "pqc",
  "sds",
  "durability",
];
const USAGE = `usage: deno task bench [--suite ${SUITES.join("|")}] [--quick] [--diag] ` +
  "[--rounds N] [--no-pin] [--out file]";

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
const quick = flag("--quick");
const diag = flag("--diag");
const pin = !flag("--no-pin");
const roundsOpt = option("--rounds");
const out = option("--out");
const suite = option("--suite") ?? "all";
const fail = (msg: string): never => {
  console.error(msg);
  console.error(USAGE);
  Deno.exit(2);
};
if (argv.length > 0) fail(`unknown arguments: ${argv.join(" ")}`);
if (!SUITES.includes(suite)) fail(`unknown suite ${suite}`);
if (out !== undefined && suite === "all") fail("--out needs a single --suite");

const env: BenchEnv = {
  pinned: pin && hasTaskset(),
  quick,
  rounds: roundsOpt !== undefined ? Math.max(1, Number(roundsOpt)) : quick ? 1 : 3,
  warmMs: 1000,
  runMs: quick ? 1000 : 3000,
  cRunMs: quick ? 1000 : 2000,
  out,
  log: (s) => console.error(s),
};

if (suite === "all" || suite === "getsecret") await runGetSecret(env, { diag });
if (suite === "all" || suite === "tier2") await runTier2(env, { diag });
if (suite === "all" || suite === "spiffe") await runSpiffe(env);
if (suite === "all" || suite === "unlock") await runUnlock(env);
if (suite === "all" || suite === "transport") await runTransport(env, { diag });
if (suite === "all" || suite === "vault") await runVault(env, { diag });
if (suite === "all" || suite === "nats") await runNats(env);
if (suite === "all" || suite === "pqc") await runPqc(env);
if (suite === "all" || suite === "sds") await runSds(env);
if (suite === "all" || suite === "durability") await runDurability(env);
if (floorAborts.count > 0) {
  console.log(
    `note: the grpc-js echo floor aborted ${floorAborts.count} time(s) when its client closed ` +
      `(Deno ${Deno.version.deno} node:http2, guides/performance.md §0.1), each after its run's ` +
      "measurements were complete; the agent does not use node:http2.",
  );
}
