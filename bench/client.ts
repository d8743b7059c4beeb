// deno-lint-ignore-file no-console
/**
 * Bench client process (grpc-js, one channel = one connection, identity
 * serializers, pre-encoded request bytes, responses not decoded), so the
 * broker and the echo floor see exactly the same client work.
 *
 *   measure <socket> <path> <reqHex> <conc> <warmMs> <runMs>
 *       c workers on the one channel, back-to-back calls; prints one JSON
 *       summary line (h.ts) including the response size.
 *   load <socket> <path> <reqHex> <conc> <calls>
 *       `calls` calls in all, then prints `{"done":n}` and keeps the
 *       connection open until stdin closes (for RSS sampling).
 *   sustain <socket> <path> <reqHex> <conc> <ms>
 *       c workers for `ms`, back-to-back calls that may fail: counts every
 *       outcome by status (a failure does not stop the run) and prints one
 *       JSON line with the counts, the first few failures, p50/p99/max.
 *   first <socket> <path> <reqHex> <reps> [<warmSocket> <warmPath> <warmReqHex> <warmCalls>]
 *       server-streaming: the time from starting a call to its first
 *       message (then cancelled), for the first call on the fresh
 *       connection and then `reps` more; prints one JSON line. With a warm
 *       target, `warmCalls` streaming calls to it (own connection) first,
 *       so the client's code is warm before the timed calls.
 *   streams <socket> <path> <reqHex> <n> <conns> <triggerPath> <triggerReqHex> <triggers> <gapMs>
 *           [<warmPath> <warmReqHex>]
 *       (with a warm path: 50 unary calls to it first, to warm the client's
 *       unary path.) Opens n server-streaming calls over `conns`
 *       connections and waits for every first message; then 1 + `triggers`
 *       times: sends the unary trigger and times, from just before sending
 *       it, the arrival of the next message on every stream. The first
 *       trigger is reported apart (`warmup`); prints one JSON line.
 *
 * Options anywhere in the arguments: `--md key=value` (repeatable) adds
 * request metadata to every call (e.g. `workload.spiffe.io=true`).
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { benchConc, median } from "./h.ts";

const args = [...Deno.args];
const md = new grpc.Metadata();
for (let i = args.indexOf("--md"); i >= 0; i = args.indexOf("--md")) {
  const kv = args[i + 1] ?? "";
  const eq = kv.indexOf("=");
  if (eq <= 0) {
    console.error(`--md needs key=value, got ${kv}`);
    Deno.exit(2);
  }
  md.add(kv.slice(0, eq), kv.slice(eq + 1));
  args.splice(i, 2);
}
const [mode, sock, path, reqHex, concS, a5, a6, a7, a8, a9, a10, a11] = args;
if (!mode || !sock || !path || reqHex === undefined || !concS) {
  console.error(
    "usage: client.ts measure|load|sustain|first|streams <socket> <path> <reqHex> <n> ...",
  );
  Deno.exit(2);
}
const rpc = path;
const conc = Number(concS);
const req = Buffer.from(reqHex, "hex");
const id = (x: Buffer): Buffer => x;
const target = `unix:${sock}`;
const ready = (c: grpc.Client) =>
  new Promise<void>((resolve, reject) =>
    c.waitForReady(Date.now() + 10_000, (e) => e ? reject(e) : resolve())
  );
const client = new grpc.Client(target, grpc.credentials.createInsecure());
await ready(client);
const unary = (c: grpc.Client, p: string, r: Buffer) =>
  new Promise<Buffer>((resolve, reject) =>
    c.makeUnaryRequest(p, id, id, r, md, (e, v) => e ? reject(e) : resolve(v!))
  );
const call = () => unary(client, rpc, req);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One server-streaming call: µs to its first message and that message's size; then cancelled. */
function firstMessage(
  c: grpc.Client,
  p: string,
  r: Buffer,
): Promise<{ us: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const s = c.makeServerStreamRequest(p, id, id, r, md);
    let done = false;
    s.on("data", (b: Buffer) => {
      if (done) return;
      done = true;
      const us = (performance.now() - t) * 1000;
      s.cancel();
      resolve({ us, bytes: b.length });
    });
    s.on("error", (e: grpc.ServiceError) => {
      if (!done) reject(e);
    });
  });
}

if (mode === "measure") {
  const first = await call();
  const r = await benchConc(rpc, call, conc, {
    warmMs: Number(a5 ?? 1000),
    runMs: Number(a6 ?? 3000),
    extra: { req_bytes: req.length, resp_bytes: first.length },
  });
  console.log(JSON.stringify(r));
  client.close();
} else if (mode === "sustain") {
  const until = performance.now() + Number(a5 ?? 30_000);
  const byCode: Record<string, number> = {};
  const failures: { at_ms: number; code: string; details: string }[] = [];
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, async () => {
    while (performance.now() < until) {
      const s = performance.now();
      let code = "OK";
      try {
        await call();
      } catch (e) {
        const err = e as grpc.ServiceError;
        code = grpc.status[err.code] ?? String(err.code);
        if (failures.length < 5) {
          failures.push({ at_ms: Math.round(s - t0), code, details: String(err.details) });
        }
      }
      lat.push(performance.now() - s);
      byCode[code] = (byCode[code] ?? 0) + 1;
    }
  }));
  const elapsed = performance.now() - t0;
  lat.sort((x, y) => x - y);
  const q = (p: number) =>
    +(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! * 1000)
      .toFixed(1);
  console.log(JSON.stringify({
    n: lat.length,
    ok: byCode["OK"] ?? 0,
    failed: lat.length - (byCode["OK"] ?? 0),
    by_code: byCode,
    failures,
    ops_s: Math.round(lat.length / (elapsed / 1000)),
    p50_us: q(0.5),
    p99_us: q(0.99),
    max_us: +(lat[lat.length - 1]! * 1000).toFixed(1),
    ms: Math.round(elapsed),
  }));
  client.close();
} else if (mode === "load") {
  await call();
  const total = Number(a5 ?? 20000);
  let issued = 1;
  await Promise.all(Array.from({ length: conc }, async () => {
    while (issued < total) {
      issued++;
      await call();
    }
  }));
  console.log(JSON.stringify({ done: issued }));
  // Hold the connection until the driver has sampled the server.
  for await (const _ of Deno.stdin.readable) { /* until EOF */ }
  client.close();
} else if (mode === "first") {
  const [warmSock, warmPath, warmHex, warmCalls] = [a5, a6, a7, Number(a8 ?? 50)];
  if (warmSock !== undefined) {
    // Warm the client's streaming path on another connection (to another server). A distinct
    // channel option keeps grpc-js from sharing the subchannel (connection).
    const w = new grpc.Client(`unix:${warmSock}`, grpc.credentials.createInsecure(), {
      "bench.connection": 0,
    });
    await ready(w);
    const warmReq = Buffer.from(warmHex ?? "", "hex");
    for (let i = 0; i < warmCalls; i++) await firstMessage(w, warmPath!, warmReq);
    w.close();
  }
  const first = await firstMessage(client, rpc, req);
  const again: { us: number; bytes: number }[] = [];
  for (let i = 0; i < conc; i++) again.push(await firstMessage(client, rpc, req));
  console.log(JSON.stringify({
    first_us: +first.us.toFixed(1),
    first_bytes: first.bytes,
    again_us: again.map((x) => +x.us.toFixed(1)),
    again_bytes: again.map((x) => x.bytes),
    req_bytes: req.length,
    warm_calls: warmSock === undefined ? 0 : warmCalls,
  }));
  client.close();
} else if (mode === "streams") {
  const n = conc;
  const conns = Math.max(1, Number(a5 ?? 1));
  const triggerPath = a6!;
  const triggerReq = Buffer.from(a7 ?? "", "hex");
  const triggers = Number(a8 ?? 1);
  const gapMs = Number(a9 ?? 300);
  if (a10 !== undefined) {
    const warmReq = Buffer.from(a11 ?? "", "hex");
    for (let i = 0; i < 50; i++) await unary(client, a10, warmReq);
  }
  // Connection 0 is `client`; the others get their own subchannel (own connection) through a
  // distinct channel option.
  const clients = [client];
  for (let i = 1; i < conns; i++) {
    const c = new grpc.Client(target, grpc.credentials.createInsecure(), {
      "bench.connection": i + 1,
    });
    await ready(c);
    clients.push(c);
  }
  /** Arrival times (ms, performance.now) per stream, per message, and message sizes. */
  const arrivals: number[][] = Array.from({ length: n }, () => []);
  const sizes: number[][] = Array.from({ length: n }, () => []);
  let level = 1;
  let reached = 0;
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  const streams: grpc.ClientReadableStream<Buffer>[] = [];
  const tOpen = performance.now();
  for (let i = 0; i < n; i++) {
    const s = clients[i % conns]!.makeServerStreamRequest(rpc, id, id, req, md);
    s.on("data", (b: Buffer) => {
      arrivals[i]!.push(performance.now());
      sizes[i]!.push(b.length);
      if (arrivals[i]!.length === level && ++reached === n) wake?.();
    });
    s.on("error", (e: grpc.ServiceError) => {
      if (e.code !== grpc.status.CANCELLED) {
        failure = e;
        wake?.();
      }
    });
    streams.push(s);
  }
  const untilAll = (timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${reached}/${n} streams reached message ${level}`)),
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
  await untilAll(60_000);
  const openMs = Math.max(...arrivals.map((a) => a[0]!)) - tOpen;
  const firstBytes = sizes.map((s) => s[0]!);
  const rounds: Record<string, number>[] = [];
  for (let k = 1; k <= triggers + 1; k++) {
    await sleep(gapMs);
    level = k + 1;
    reached = arrivals.filter((a) => a.length >= level).length;
    if (reached > 0) throw new Error(`${reached} streams got message ${level} before trigger ${k}`);
    const t0 = performance.now();
    const rtt = unary(client, triggerPath, triggerReq).then(() => performance.now() - t0);
    await untilAll(60_000);
    const rttMs = await rtt;
    const at = arrivals.map((a) => a[k]! - t0);
    const first = Math.min(...at);
    const last = Math.max(...at);
    const pushed = sizes.map((s) => s[k]!);
    rounds.push({
      trigger: k,
      trigger_rtt_us: +(rttMs * 1000).toFixed(1),
      first_us: +(first * 1000).toFixed(1),
      median_us: +(median(at) * 1000).toFixed(1),
      last_us: +(last * 1000).toFixed(1),
      spread_us: +((last - first) * 1000).toFixed(1),
      msgs_s: Math.round(n / (last / 1000)),
      push_bytes_min: Math.min(...pushed),
      push_bytes_max: Math.max(...pushed),
    });
  }
  for (const s of streams) s.cancel();
  console.log(JSON.stringify({
    n,
    conns,
    open_ms: +openMs.toFixed(1),
    first_bytes_min: Math.min(...firstBytes),
    first_bytes_max: Math.max(...firstBytes),
    extra_messages: arrivals.filter((a) => a.length > triggers + 2).length,
    warmup: rounds[0],
    rounds: rounds.slice(1),
  }));
  for (const c of clients) c.close();
} else {
  console.error(`unknown mode ${mode}`);
  Deno.exit(2);
}
