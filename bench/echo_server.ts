// deno-lint-ignore-file no-console
/**
 * The floor: a bare grpc-js echo server on a unix socket with identity
 * serializers (guides/perf-examples/grpc_server.mjs). `/bench.Echo/Unary`
 * returns the request bytes. Prints `listening` once bound.
 *
 *   deno run … bench/echo_server.ts <socket>
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { Buffer } from "node:buffer";

const sock = Deno.args[0];
if (!sock) {
  console.error("usage: echo_server.ts <socket>");
  Deno.exit(2);
}
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
    cb(null, call.request),
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
