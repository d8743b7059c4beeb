// deno-lint-ignore-file no-console
/**
 * The SDS bench client (bench/sds.ts), a separate process on grpc-js:
 * opens `n` Envoy SDS `StreamSecrets` calls over `conns` connections, as
 * Envoy drives them: the first DiscoveryRequest names the resources, the
 * client keeps its side open and ACKs every response (version_info and
 * nonce echoed). `--half-close` ends the request side after the first
 * request instead (no ACKs), for a server that serves the call as a server
 * stream. Waits for every first response; then 1 + `triggers` times sends
 * the unary trigger (RotateSecret of the X.509 CA) and times, from just
 * before sending it, the first message after the trigger on every stream
 * (`last_us`: the last stream's), and, once nothing more arrived for
 * `gapMs`, the last message of any stream (`settled_us`: a rotation may be
 * pushed as one response or as several). The first trigger is reported
 * apart (`warmup`); prints one JSON line shaped like bench/client.ts
 * `streams`.
 *
 *   deno run … bench/sds_client.ts [--half-close] <socket> <n> <conns> <triggerPath>
 *       <triggerReqHex> <triggers> <gapMs> <resource>…
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Buffer } from "node:buffer";
import {
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from "../lib/wire/envoy/service/discovery/v3/discovery_pb.ts";
import { median } from "./h.ts";

/** StreamSecrets' gRPC path. */
export const STREAM_SECRETS_PATH = "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets";
/** The type_url of an SDS Secret. */
export const SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

const args = [...Deno.args];
const halfAt = args.indexOf("--half-close");
const halfClose = halfAt >= 0;
if (halfClose) args.splice(halfAt, 1);
const [sock, nS, connsS, triggerPath, triggerHex, triggersS, gapS, ...resources] = args;
if (!sock || !nS || !connsS || !triggerPath || triggerHex === undefined || resources.length === 0) {
  console.error(
    "usage: sds_client.ts [--half-close] <socket> <n> <conns> <triggerPath> <triggerReqHex> " +
      "<triggers> <gapMs> <resource>…",
  );
  Deno.exit(2);
}
const n = Number(nS);
const conns = Math.max(1, Number(connsS));
const triggers = Number(triggersS ?? 1);
const gapMs = Number(gapS ?? 300);
const triggerReq = Buffer.from(triggerHex, "hex");
const id = (x: Buffer): Buffer => x;
const target = `unix:${sock}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ready = (c: grpc.Client) =>
  new Promise<void>((resolve, reject) =>
    c.waitForReady(Date.now() + 10_000, (e) => e ? reject(e) : resolve())
  );
const request = (versionInfo = "", responseNonce = "") =>
  Buffer.from(toBinary(
    DiscoveryRequestSchema,
    create(DiscoveryRequestSchema, {
      versionInfo,
      resourceNames: resources,
      typeUrl: SECRET_TYPE,
      responseNonce,
    }),
  ));

// Connection i > 0 gets its own subchannel (own connection) through a distinct channel option.
const clients: grpc.Client[] = [];
for (let i = 0; i < conns; i++) {
  const c = new grpc.Client(target, grpc.credentials.createInsecure(), {
    "bench.connection": i + 1,
  });
  await ready(c);
  clients.push(c);
}
const unary = (c: grpc.Client, p: string, r: Buffer) =>
  new Promise<Buffer>((resolve, reject) =>
    c.makeUnaryRequest(p, id, id, r, new grpc.Metadata(), (e, v) => e ? reject(e) : resolve(v!))
  );

/** Arrival times (ms, performance.now) and sizes per stream, per message. */
const arrivals: number[][] = Array.from({ length: n }, () => []);
const sizes: number[][] = Array.from({ length: n }, () => []);
/** Per stream: messages before the current trigger; a stream has "reached" when it has more. */
let marks: number[] = Array.from({ length: n }, () => 0);
let reached = 0;
let wake: (() => void) | undefined;
let failure: Error | undefined;
const calls: grpc.ClientDuplexStream<Buffer, Buffer>[] = [];
const tOpen = performance.now();
for (let i = 0; i < n; i++) {
  const s = clients[i % conns]!.makeBidiStreamRequest(
    STREAM_SECRETS_PATH,
    id,
    id,
    new grpc.Metadata(),
  );
  s.on("data", (b: Buffer) => {
    arrivals[i]!.push(performance.now());
    sizes[i]!.push(b.length);
    if (arrivals[i]!.length === marks[i]! + 1 && ++reached === n) wake?.();
    if (!halfClose) {
      const r = fromBinary(DiscoveryResponseSchema, b);
      s.write(request(r.versionInfo, r.nonce)); // the ACK Envoy sends
    }
  });
  s.on("error", (e: grpc.ServiceError) => {
    if (e.code !== grpc.status.CANCELLED) {
      failure = e;
      wake?.();
    }
  });
  s.write(request());
  if (halfClose) s.end();
  calls.push(s);
}

const untilAll = (timeoutMs: number) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`only ${reached}/${n} streams got a message`)),
      timeoutMs,
    );
    const check = () => {
      if (failure) {
        clearTimeout(timer);
        reject(failure);
      } else if (reached === n) {
        clearTimeout(timer);
        resolve();
      }
    };
    wake = check;
    check();
  });
/** Waits until no stream got a message for `ms`. */
async function quiet(ms: number): Promise<void> {
  const total = () => arrivals.reduce((s, a) => s + a.length, 0);
  for (let before = -1; before !== total();) {
    before = total();
    await sleep(ms);
  }
}

await untilAll(60_000);
await quiet(gapMs);
const openMs = Math.max(...arrivals.map((a) => a[0]!)) - tOpen;
const firstBytes = sizes.map((s) => s[0]!);
const firstCount = arrivals.map((a) => a.length);
const rounds: Record<string, number>[] = [];
for (let k = 1; k <= triggers + 1; k++) {
  marks = arrivals.map((a) => a.length);
  reached = 0;
  const t0 = performance.now();
  const rtt = unary(clients[0]!, triggerPath, triggerReq).then(() => performance.now() - t0);
  await untilAll(60_000);
  const rttMs = await rtt;
  await quiet(gapMs);
  const at = arrivals.map((a, i) => a[marks[i]!]! - t0);
  const settled = Math.max(...arrivals.map((a) => a[a.length - 1]!)) - t0;
  const counts = arrivals.map((a, i) => a.length - marks[i]!);
  const pushed = sizes.flatMap((s, i) => s.slice(marks[i]!));
  const last = Math.max(...at);
  const first = Math.min(...at);
  rounds.push({
    trigger: k,
    trigger_rtt_us: +(rttMs * 1000).toFixed(1),
    first_us: +(first * 1000).toFixed(1),
    median_us: +(median(at) * 1000).toFixed(1),
    last_us: +(last * 1000).toFixed(1),
    spread_us: +((last - first) * 1000).toFixed(1),
    settled_us: +(settled * 1000).toFixed(1),
    msgs_s: Math.round(n / (last / 1000)),
    msgs_per_stream_min: Math.min(...counts),
    msgs_per_stream_max: Math.max(...counts),
    push_bytes_min: Math.min(...pushed),
    push_bytes_max: Math.max(...pushed),
  });
}
for (const s of calls) s.cancel();
console.log(JSON.stringify({
  n,
  conns,
  mode: halfClose ? "half-close" : "bidi",
  open_ms: +openMs.toFixed(1),
  first_messages_min: Math.min(...firstCount),
  first_messages_max: Math.max(...firstCount),
  first_bytes_min: Math.min(...firstBytes),
  first_bytes_max: Math.max(...firstBytes),
  warmup: rounds[0],
  rounds: rounds.slice(1),
}));
for (const c of clients) c.close();
