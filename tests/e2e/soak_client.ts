// deno-lint-ignore-file no-console
/**
 * Client process for the disconnect-storm soak test (soak_test.ts). Every
 * mode prints one JSON line on stdout when it has something to report.
 *
 *   heavy <socket> <key> <calls>
 *       One grpc-js channel, `calls` sequential GetSecret calls, then
 *       `client.close()`: the exact trigger of the Deno 2.9.4–2.9.6 nghttp2
 *       abort when it is the first connection a fresh server sees close.
 *   heavy-h2 <socket> <key> <calls>
 *       The same over a bare node:http2 session closed with `session.close()`.
 *   storm <socket> <key> <conns> <seed>
 *       `conns` connections at once, each with a behaviour drawn from
 *       {@linkcode BEHAVIOURS} (seeded), most of them ending abruptly.
 *   hold <socket> <key> <conns> <seed>
 *       `conns` connections that keep calls and streams in flight forever;
 *       prints `{"ready":…}` once every one has completed a call. The test
 *       then SIGKILLs the process, so the kernel resets every socket at once.
 *
 * Connections are counted as `connected` only once the socket connected (raw
 * and node:http2) or a call succeeded (grpc-js), so the test can check that
 * the storm really reached the agent.
 * @module
 */

import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import http2 from "node:http2";
import net from "node:net";
import { Signal } from "../helpers/wait.ts";
import {
  GetSecretRequestSchema,
  ListCatalogRequestSchema,
} from "../../lib/wire/basil/broker/v1/broker_pb.ts";

const GET_PATH = "/basil.broker.v1.SecretService/GetSecret";
const LIST_PATH = "/basil.broker.v1.SecretService/ListCatalog";
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const id = (b: Buffer): Buffer => b;

/** Per-behaviour counters. */
interface Tally {
  attempted: number;
  connected: number;
  callsOk: number;
  errors: number;
}

const tallies = new Map<string, Tally>();
function tally(name: string): Tally {
  let t = tallies.get(name);
  if (!t) tallies.set(name, t = { attempted: 0, connected: 0, callsOk: 0, errors: 0 });
  return t;
}

/** mulberry32: a small seeded PRNG so a failing wave can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let rand = prng(1);
const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let socketPath = "";
let getReq = Buffer.alloc(0);
let listReq = Buffer.alloc(0);

// ---------------------------------------------------------------- grpc-js

function grpcClient(): grpc.Client {
  // A local subchannel pool: one connection per Client (the global pool
  // would share one connection between every Client of this process).
  return new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.enable_retries": 0,
  });
}

function unary(c: grpc.Client): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest(
      GET_PATH,
      id,
      id,
      getReq,
      { deadline: Date.now() + 60_000 },
      (e, v) => e ? reject(e) : resolve(v!),
    );
  });
}

function streamAll(c: grpc.Client): Promise<number> {
  return new Promise((resolve, reject) => {
    const call = c.makeServerStreamRequest(LIST_PATH, id, id, listReq, {
      deadline: Date.now() + 60_000,
    });
    let n = 0;
    call.on("data", () => n++);
    call.on("error", reject);
    call.on("end", () => resolve(n));
  });
}

/** `k` sequential calls, then a graceful channel close. */
async function grpcMany(t: Tally, k: number): Promise<void> {
  const c = grpcClient();
  try {
    await unary(c);
    t.connected++;
    t.callsOk++;
    for (let i = 1; i < k; i++) {
      await unary(c);
      t.callsOk++;
    }
  } finally {
    c.close();
  }
}

/** A few calls, then one cancelled mid-call (RST_STREAM) and the channel closed. */
async function grpcCancelUnary(t: Tally): Promise<void> {
  const c = grpcClient();
  try {
    const n = between(1, 5);
    for (let i = 0; i < n; i++) {
      await unary(c);
      if (i === 0) t.connected++;
      t.callsOk++;
    }
    const call = c.makeUnaryRequest(GET_PATH, id, id, getReq, () => {});
    if (rand() < 0.5) await sleep(0);
    call.cancel();
  } finally {
    c.close();
  }
}

/** A call to connect, then ListCatalog cancelled on its first message. */
async function grpcCancelStream(t: Tally): Promise<void> {
  const c = grpcClient();
  try {
    await unary(c);
    t.connected++;
    t.callsOk++;
    await new Promise<void>((resolve) => {
      const call = c.makeServerStreamRequest(LIST_PATH, id, id, listReq);
      call.on("data", () => {
        call.cancel();
        resolve();
      });
      call.on("error", () => resolve());
      call.on("end", () => resolve());
    });
  } finally {
    c.close();
  }
}

/** Several calls and streams in flight, then the channel closed without waiting. */
async function grpcCloseInflight(t: Tally): Promise<void> {
  const c = grpcClient();
  const pending: Promise<unknown>[] = [];
  try {
    await unary(c);
    t.connected++;
    t.callsOk++;
    for (let i = between(2, 8); i > 0; i--) {
      pending.push(rand() < 0.5 ? unary(c) : streamAll(c));
    }
  } finally {
    c.close();
  }
  const done = await Promise.allSettled(pending);
  t.callsOk += done.filter((d) => d.status === "fulfilled").length;
}

// ------------------------------------------------------------ node:http2

function grpcFrame(msg: Buffer): Buffer {
  const b = Buffer.alloc(5 + msg.length);
  b.writeUInt32BE(msg.length, 1);
  msg.copy(b, 5);
  return b;
}

function h2Session(t: Tally): Promise<{ s: http2.ClientHttp2Session; sock: net.Socket }> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    sock.on("error", () => {});
    const s = http2.connect("http://localhost", { createConnection: () => sock });
    s.on("error", () => {});
    s.once("connect", () => {
      t.connected++;
      resolve({ s, sock });
    });
    sock.once("close", () => reject(new Error("socket closed before connect")));
  });
}

function h2Call(s: http2.ClientHttp2Session, path: string, body: Buffer): http2.ClientHttp2Stream {
  const st = s.request({
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
  });
  st.on("error", () => {});
  st.end(grpcFrame(body));
  return st;
}

function h2Unary(s: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve, reject) => {
    const st = h2Call(s, GET_PATH, getReq);
    let status: string | undefined;
    st.on("trailers", (h) => (status = String(h["grpc-status"])));
    st.on("data", () => {});
    st.on("end", () => status === "0" ? resolve() : reject(new Error(`grpc-status ${status}`)));
    st.on("error", reject);
  });
}

/** `k` calls over node:http2, then the socket destroyed with a call in flight. */
async function h2DestroyMidCall(t: Tally, k: number): Promise<void> {
  const { s, sock } = await h2Session(t);
  try {
    for (let i = 0; i < k; i++) {
      await h2Unary(s);
      t.callsOk++;
    }
    h2Call(s, GET_PATH, getReq);
    if (rand() < 0.5) await sleep(0);
  } finally {
    sock.destroy();
    s.destroy();
  }
}

/** ListCatalog over node:http2, the socket destroyed on the first DATA frame. */
async function h2DestroyMidStream(t: Tally): Promise<void> {
  const { s, sock } = await h2Session(t);
  await new Promise<void>((resolve) => {
    const st = h2Call(s, LIST_PATH, listReq);
    st.on("data", () => {
      sock.destroy();
      resolve();
    });
    st.on("close", () => resolve());
  });
  sock.destroy();
  s.destroy();
}

/** `k` calls over node:http2, then a graceful session close (GOAWAY). */
async function h2GracefulClose(t: Tally, k: number): Promise<void> {
  const { s } = await h2Session(t);
  try {
    for (let i = 0; i < k; i++) {
      await h2Unary(s);
      t.callsOk++;
    }
  } finally {
    await new Promise<void>((r) => s.close(() => r()));
  }
}

// ------------------------------------------------------------ raw frames

function frame(type: number, flags: number, stream: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream & 0x7fffffff, 5);
  b.set(payload, 9);
  return b;
}

/** HPACK: literal header field without indexing, new name, no Huffman. */
function hpackLiteral(name: string, value: string): Buffer {
  const n = Buffer.from(name, "latin1");
  const v = Buffer.from(value, "latin1");
  if (n.length > 126 || v.length > 126) throw new RangeError("header too long for this encoder");
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v]);
}

function callHeaders(stream: number, path: string): Buffer {
  const block = Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http (static table)
    hpackLiteral(":path", path),
    hpackLiteral(":authority", "localhost"),
    hpackLiteral("content-type", "application/grpc"),
    hpackLiteral("te", "trailers"),
  ]);
  return frame(0x1, 0x4, stream, block); // HEADERS, END_HEADERS
}

const SETTINGS = frame(0x4, 0, 0, new Uint8Array(0));

function rawConnect(t: Tally): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    sock.on("error", (e) => reject(e));
    sock.on("data", () => {});
    sock.once("connect", () => {
      t.connected++;
      resolve(sock);
    });
  });
}

/** Ends the socket abruptly: destroy, optionally after a zero-delay tick. */
async function rawDrop(sock: net.Socket, linger: boolean): Promise<void> {
  if (linger) await sleep(between(0, 3));
  sock.destroy();
}

/** Preface + SETTINGS + a call's HEADERS, then half a DATA frame, then destroy. */
async function rawHalfData(t: Tally): Promise<void> {
  const sock = await rawConnect(t);
  const data = frame(0x0, 0x1, 1, grpcFrame(getReq));
  const cut = between(1, data.length - 1);
  sock.write(Buffer.concat([PREFACE, SETTINGS, callHeaders(1, GET_PATH), data.subarray(0, cut)]));
  await rawDrop(sock, rand() < 0.5);
}

/** Preface + SETTINGS + half a HEADERS frame, then destroy. */
async function rawHalfHeaders(t: Tally): Promise<void> {
  const sock = await rawConnect(t);
  const h = callHeaders(1, LIST_PATH);
  sock.write(Buffer.concat([PREFACE, SETTINGS, h.subarray(0, between(1, h.length - 1))]));
  await rawDrop(sock, rand() < 0.5);
}

/** A frame header that promises more bytes than ever come (16 KiB). */
async function rawShortFrame(t: Tally): Promise<void> {
  const sock = await rawConnect(t);
  const hdr = frame(0x0, 0, 1, new Uint8Array(0));
  hdr.writeUIntBE(16384, 0, 3);
  sock.write(
    Buffer.concat([PREFACE, SETTINGS, callHeaders(1, GET_PATH), hdr, Buffer.alloc(100, 1)]),
  );
  await rawDrop(sock, true);
}

/** Several full calls written at once, then destroy before reading answers. */
async function rawBurstReset(t: Tally): Promise<void> {
  const sock = await rawConnect(t);
  const parts: Buffer[] = [PREFACE, SETTINGS];
  for (let i = 0, sid = 1; i < between(1, 20); i++, sid += 2) {
    parts.push(callHeaders(sid, GET_PATH), frame(0x0, 0x1, sid, grpcFrame(getReq)));
  }
  sock.write(Buffer.concat(parts));
  await rawDrop(sock, rand() < 0.7);
}

/** Half of the connection preface, then destroy. */
async function rawHalfPreface(t: Tally): Promise<void> {
  const sock = await rawConnect(t);
  sock.write(PREFACE.subarray(0, between(1, PREFACE.length - 1)));
  await rawDrop(sock, rand() < 0.5);
}

/** Random garbage (sometimes after a valid preface), then destroy or end. */
async function rawGarbage(t: Tally): Promise<void> {
  const sock = await rawConnect(t);
  const junk = Buffer.alloc(between(1, 4096));
  for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(rand() * 256);
  sock.write(rand() < 0.5 ? Buffer.concat([PREFACE, junk]) : junk);
  if (rand() < 0.5) sock.end();
  await rawDrop(sock, true);
}

/** Connect and close at once. */
async function rawConnectClose(t: Tally): Promise<void> {
  const sock = await rawConnect(t);
  if (rand() < 0.5) sock.end();
  sock.destroy();
}

// ----------------------------------------------------------- behaviours

/** Behaviour name, weight, body. */
const BEHAVIOURS: [string, number, (t: Tally) => Promise<void>][] = [
  ["grpc-many-heavy", 3, (t) => grpcMany(t, between(300, 400))],
  ["grpc-many-light", 8, (t) => grpcMany(t, between(2, 60))],
  ["grpc-cancel-unary", 12, grpcCancelUnary],
  ["grpc-cancel-stream", 10, grpcCancelStream],
  ["grpc-close-inflight", 8, grpcCloseInflight],
  ["h2-destroy-mid-call", 10, (t) => h2DestroyMidCall(t, rand() < 0.1 ? 300 : between(0, 30))],
  ["h2-destroy-mid-stream", 8, h2DestroyMidStream],
  ["h2-graceful-close", 3, (t) => h2GracefulClose(t, between(1, 100))],
  ["raw-half-data", 8, rawHalfData],
  ["raw-half-headers", 6, rawHalfHeaders],
  ["raw-short-frame", 4, rawShortFrame],
  ["raw-burst-reset", 6, rawBurstReset],
  ["raw-half-preface", 4, rawHalfPreface],
  ["raw-garbage", 6, rawGarbage],
  ["raw-connect-close", 6, rawConnectClose],
];
const TOTAL_WEIGHT = BEHAVIOURS.reduce((s, b) => s + b[1], 0);

function pick(): [string, (t: Tally) => Promise<void>] {
  let r = rand() * TOTAL_WEIGHT;
  for (const [name, w, fn] of BEHAVIOURS) {
    if ((r -= w) < 0) return [name, fn];
  }
  const last = BEHAVIOURS[BEHAVIOURS.length - 1]!;
  return [last[0], last[2]];
}

async function storm(conns: number): Promise<void> {
  await Promise.all(Array.from({ length: conns }, async () => {
    const [name, fn] = pick();
    const t = tally(name);
    t.attempted++;
    try {
      await fn(t);
    } catch {
      t.errors++;
    }
  }));
}

/** Keeps unary calls and streams going on `conns` connections until killed. */
async function hold(conns: number): Promise<void> {
  let ready = 0;
  const t = tally("hold");
  const settled = new Signal();
  const one = async (i: number) => {
    t.attempted++;
    if (i % 3 === 2) {
      const { s } = await h2Session(t);
      let first = true;
      for (;;) {
        await h2Unary(s);
        t.callsOk++;
        if (first) (first = false, ready++, settled.changed());
      }
    }
    const c = grpcClient();
    await unary(c);
    t.connected++;
    ready++;
    settled.changed();
    for (;;) {
      // Several calls and a stream in flight at every moment.
      await Promise.all([unary(c), unary(c), i % 2 === 0 ? streamAll(c) : unary(c)]);
      t.callsOk += 3;
    }
  };
  for (let i = 0; i < conns; i++) {
    one(i).catch(() => (t.errors++, settled.changed()));
  }
  // Woken by each connection that becomes ready or fails; the deadline only guards a hang.
  await settled.until(() => ready + t.errors >= conns, "ready or failed connections", 600_000);
  console.log(JSON.stringify({ ready, errors: t.errors }));
}

// ----------------------------------------------------------------- main

const [mode, sock, key, nS, seedS] = Deno.args;
if (!mode || !sock || !key || !nS) {
  console.error("usage: soak_client.ts heavy|storm|hold <socket> <key> <n> [seed]");
  Deno.exit(2);
}
socketPath = sock;
rand = prng(Number(seedS ?? 1));
getReq = Buffer.from(
  toBinary(GetSecretRequestSchema, create(GetSecretRequestSchema, { secretId: key })),
);
listReq = Buffer.from(toBinary(ListCatalogRequestSchema, create(ListCatalogRequestSchema, {})));
const n = Number(nS);

if (mode === "heavy") {
  const c = grpcClient();
  let ok = 0;
  for (let i = 0; i < n; i++) {
    await unary(c);
    ok++;
  }
  c.close();
  console.log(JSON.stringify({ heavy: ok }));
} else if (mode === "heavy-h2") {
  const t = tally("heavy-h2");
  await h2GracefulClose(t, n);
  console.log(JSON.stringify({ heavy: t.callsOk }));
} else if (mode === "storm") {
  await storm(n);
  console.log(JSON.stringify(Object.fromEntries(tallies)));
  // Pending raw sockets and half-closed sessions must not hold the process.
  Deno.exit(0);
} else if (mode === "hold") {
  await hold(n);
  await new Promise(() => {}); // until SIGKILL
} else {
  console.error(`unknown mode ${mode}`);
  Deno.exit(2);
}
