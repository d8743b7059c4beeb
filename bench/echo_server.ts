// deno-lint-ignore-file no-console
/**
 * The floor: a bare grpc-js echo server on a unix socket with identity
 * serializers (guides/perf-examples/grpc_server.mjs). `/bench.Echo/Unary`
 * returns the request bytes, or, when a response size is given, one fixed
 * `Msg{bytes payload}` of that many bytes (for operations whose response is
 * not the size of their request: Sign, Encrypt). Prints `listening` once
 * bound.
 *
 *   deno run … bench/echo_server.ts <socket> [responseBytes]
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { protoBytes } from "./payload.ts";

const [sock, respArg] = Deno.args;
if (!sock) {
  console.error("usage: echo_server.ts <socket> [responseBytes]");
  Deno.exit(2);
}
const fixed = respArg === undefined ? undefined : Buffer.from(protoBytes(Number(respArg)));
const id = (x: Buffer): Buffer => x;
const server = new grpc.Server();
server.addService({
  unary: {
    path: "/bench.Echo/Unary",
    requestStream: false,
    responseStream: false,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  },
}, {
  unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
    cb(null, fixed ?? call.request),
});
try {
  Deno.removeSync(sock);
} catch { /* absent */ }
server.bindAsync(`unix:${sock}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  console.log("listening", sock);
});
const stop = () => server.tryShutdown(() => Deno.exit(0));
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
