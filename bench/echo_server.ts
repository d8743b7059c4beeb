// deno-lint-ignore-file no-console
/**
 * The floor: a bare grpc-js echo server on a unix socket with identity
 * serializers (guides/perf-examples/grpc_server.mjs). Prints `listening`
 * once bound; the socket is made 0666 so clients of other uids can connect.
 *
 * - `/bench.Echo/Unary` returns the request bytes, or, when a response size
 *   is given, one fixed `Msg{bytes payload}` of that many bytes (for
 *   operations whose response is not the size of their request: Sign,
 *   Encrypt).
 * - `/bench.Echo/Stream` (server-streaming) sends one fixed message of
 *   `streamBytes` at once (default: the request bytes) and stays open until
 *   the client cancels; the floor for the first FetchX509SVID response.
 * - `/bench.Echo/Push` (unary) answers like Unary, then writes one fixed
 *   message of `pushBytes` (default `streamBytes`) to every open Stream:
 *   the floor for a rotation pushed to N watchers.
 *
 *   deno run … bench/echo_server.ts <socket> [responseBytes] [streamBytes] [pushBytes]
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { protoBytes } from "./payload.ts";

const [sock, respArg, streamArg, pushArg] = Deno.args;
if (!sock) {
  console.error("usage: echo_server.ts <socket> [responseBytes] [streamBytes] [pushBytes]");
  Deno.exit(2);
}
const sized = (arg: string | undefined) =>
  arg === undefined || arg === "" ? undefined : Buffer.from(protoBytes(Number(arg)));
const fixed = sized(respArg);
const streamMsg = sized(streamArg);
const pushMsg = sized(pushArg) ?? streamMsg;
const id = (x: Buffer): Buffer => x;
const method = (path: string, responseStream: boolean) => ({
  path,
  requestStream: false,
  responseStream,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
});
const open = new Set<grpc.ServerWritableStream<Buffer, Buffer>>();
const server = new grpc.Server();
server.addService({
  unary: method("/bench.Echo/Unary", false),
  stream: method("/bench.Echo/Stream", true),
  push: method("/bench.Echo/Push", false),
}, {
  unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
    cb(null, fixed ?? call.request),
  stream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
    open.add(call);
    const gone = () => open.delete(call);
    call.on("cancelled", gone);
    call.on("error", gone);
    call.write(streamMsg ?? call.request);
  },
  push: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    cb(null, fixed ?? call.request);
    const msg = pushMsg ?? call.request;
    for (const s of open) s.write(msg);
  },
});
try {
  Deno.removeSync(sock);
} catch { /* absent */ }
server.bindAsync(`unix:${sock}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  Deno.chmodSync(sock, 0o666);
  console.log("listening", sock);
});
const stop = () => {
  for (const s of open) s.end();
  server.tryShutdown(() => Deno.exit(0));
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
