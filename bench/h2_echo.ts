// deno-lint-ignore-file no-console
/**
 * An echo service on the broker's own transport (lib/transport, libnghttp2
 * via FFI), with the same surface as the grpc-js floor in echo_server.ts, so
 * the benchmark can compare the two and subtract the transport from the
 * broker. The transport tests use its extra methods:
 *
 * - `/bench.Echo/Unary`: the request bytes (or `responseBytes` fixed bytes);
 *   request metadata `x-echo-*` comes back as response headers and trailers.
 * - `/bench.Echo/Stream`: sends `streamBytes` (default: the request) and
 *   stays open until the client cancels; `/bench.Echo/Push` then writes to
 *   every open Stream.
 * - `/bench.Echo/Many`: a request of a u32 BE count N and a u32 BE size S
 *   sends N messages of S bytes, honouring flow control.
 * - `/bench.Echo/Fail`: fails with the status code named by request byte 0,
 *   message "echo failure", and details `google.rpc.Status` holding one
 *   `Any{type.googleapis.com/bench.Echo, <request bytes>}`.
 * - `/bench.Echo/Wait`: never answers; ends when cancelled or at the deadline.
 * - `/bench.Echo/Delay`: answers the request after the u32 BE milliseconds it starts with.
 * - `/bench.Echo/Open`: the number of Stream calls open right now (u32 BE).
 * - `/bench.Echo/Peer`: the caller's kernel uid as decimal text.
 *
 *   deno run --allow-ffi --allow-read --allow-write bench/h2_echo.ts <socket> [responseBytes] [streamBytes] [pushBytes]
 * @module
 */

import { create, toBinary } from "@bufbuild/protobuf";
import { findLibrary, LIBC_CANDIDATES, LIBNGHTTP2_CANDIDATES } from "../ffi/_dlopen.ts";
import { Libc } from "../ffi/libc.ts";
import { Nghttp2 } from "../ffi/nghttp2.ts";
import { nullLogger } from "../lib/core/log.ts";
import type { GrpcCall, GrpcMethod } from "../lib/transport/grpc_call.ts";
import { GRPC_STATUS, StatusError } from "../lib/transport/grpc_wire.ts";
import type { GrpcStatusCode } from "../lib/transport/grpc_wire.ts";
import { ENGINE_LIMITS } from "../lib/transport/limits.ts";
import { BrokerServer } from "../lib/transport/server.ts";
import { StatusSchema } from "../lib/wire/google/rpc/status_pb.ts";
import { protoBytes } from "./payload.ts";

/** Options of {@linkcode echoMethods}. */
export interface EchoOptions {
  readonly responseBytes?: number;
  readonly streamBytes?: number;
  readonly pushBytes?: number;
}

/** The echo methods, by path. */
export function echoMethods(o: EchoOptions = {}): Map<string, GrpcMethod> {
  const sized = (n: number | undefined) => n === undefined ? undefined : protoBytes(n);
  const fixed = sized(o.responseBytes);
  const streamMsg = sized(o.streamBytes);
  const pushMsg = sized(o.pushBytes) ?? streamMsg;
  const open = new Set<GrpcCall>();
  const echoMeta = (call: GrpcCall) => {
    for (const name of ["x-echo-a", "x-echo-b"]) {
      for (const v of call.metadata(name)) {
        call.setHeader(name, v);
        call.setTrailer(`${name}-trailer`, v);
      }
    }
  };
  const aborted = (call: GrpcCall) =>
    new Promise<void>((r) => {
      if (call.signal.aborted) r();
      else call.signal.addEventListener("abort", () => r(), { once: true });
    });
  const m = (streaming: boolean, serve: GrpcMethod["serve"]): GrpcMethod => ({ streaming, serve });
  return new Map([
    [
      "/bench.Echo/Unary",
      m(false, (call) => {
        echoMeta(call);
        return Promise.resolve((fixed ?? call.request).slice());
      }),
    ],
    [
      "/bench.Echo/Stream",
      m(true, async (call) => {
        open.add(call);
        try {
          await call.send((streamMsg ?? call.request).slice());
          await aborted(call);
        } finally {
          open.delete(call);
        }
      }),
    ],
    [
      "/bench.Echo/Push",
      m(false, (call) => {
        const msg = pushMsg ?? call.request;
        for (const s of open) s.send(msg.slice()).catch(() => {});
        return Promise.resolve((fixed ?? call.request).slice());
      }),
    ],
    [
      "/bench.Echo/Many",
      m(true, async (call) => {
        const v = new DataView(call.request.buffer, call.request.byteOffset, call.request.length);
        const count = call.request.length >= 8 ? v.getUint32(0) : 0;
        const size = call.request.length >= 8 ? v.getUint32(4) : 0;
        for (let i = 0; i < count; i++) await call.send(new Uint8Array(size).fill(0x61));
      }),
    ],
    [
      "/bench.Echo/Fail",
      m(false, (call) => {
        const code = (call.request[0] ?? GRPC_STATUS.UNKNOWN) as GrpcStatusCode;
        const details = create(StatusSchema, {
          code,
          message: "echo failure",
          details: [{ typeUrl: "type.googleapis.com/bench.Echo", value: call.request.slice() }],
        });
        throw new StatusError(code, "echo failure", toBinary(StatusSchema, details));
      }),
    ],
    [
      "/bench.Echo/Wait",
      m(false, async (call) => {
        await aborted(call);
        return new Uint8Array();
      }),
    ],
    [
      "/bench.Echo/Delay",
      m(false, async (call) => {
        const ms = call.request.length >= 4
          ? new DataView(call.request.buffer, call.request.byteOffset).getUint32(0)
          : 0;
        await new Promise((r) => setTimeout(r, ms));
        return call.request.slice();
      }),
    ],
    [
      "/bench.Echo/Open",
      m(false, () => {
        const out = new Uint8Array(4);
        new DataView(out.buffer).setUint32(0, open.size);
        return Promise.resolve(out);
      }),
    ],
    [
      "/bench.Echo/Peer",
      m(
        false,
        (call) => Promise.resolve(new TextEncoder().encode(String(call.peer?.uid ?? "none"))),
      ),
    ],
  ]);
}

/** Starts the echo server on `socket` (mode 0666); resolves when listening. */
export async function startEchoServer(socket: string, o: EchoOptions = {}): Promise<BrokerServer> {
  const libcPath = findLibrary(LIBC_CANDIDATES)!;
  const libc = new Libc(libcPath);
  const engine = Nghttp2.open(
    { nghttp2: findLibrary(LIBNGHTTP2_CANDIDATES)!, libc: libcPath },
    ENGINE_LIMITS,
  );
  return await BrokerServer.start({
    socket,
    mode: 0o666,
    gid: undefined,
    services: [],
    methods: echoMethods(o),
    engine,
    readPeer: (fd) => libc.peerCredentials(fd),
    trimMemory: () => libc.trimHeap(),
    umask: (m) => libc.umask(m),
    logger: nullLogger,
    maxReceiveBytes: 4 * 1024 * 1024,
  });
}

if (import.meta.main) {
  const [sock, resp, stream, push] = Deno.args;
  if (!sock) {
    console.error("usage: h2_echo.ts <socket> [responseBytes] [streamBytes] [pushBytes]");
    Deno.exit(2);
  }
  const n = (x: string | undefined) => x === undefined || x === "" ? undefined : Number(x);
  const server = await startEchoServer(sock, {
    ...(n(resp) === undefined ? {} : { responseBytes: n(resp)! }),
    ...(n(stream) === undefined ? {} : { streamBytes: n(stream)! }),
    ...(n(push) === undefined ? {} : { pushBytes: n(push)! }),
  });
  console.log("listening", sock);
  const stop = () => server.stop().then(() => Deno.exit(0));
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
